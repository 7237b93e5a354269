"""Every command-line flag of the tools (and the converter / protocol CLIs
they wrap) has help text."""
import ast
import glob
import os.path as osp

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_every_flag_has_help():
    files = glob.glob(osp.join(REPO, 'tools', '**', '*.py'), recursive=True)
    files += glob.glob(osp.join(REPO, 'mmfas', '**', '*.py'), recursive=True)
    missing = []
    for path in sorted(files):
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(
                    node.func, ast.Attribute) and \
                    node.func.attr == 'add_argument' and not any(
                        k.arg == 'help' for k in node.keywords):
                flags = [a.value for a in node.args
                         if isinstance(a, ast.Constant)]
                missing.append(
                    f'{osp.relpath(path, REPO)}:{node.lineno} {flags}')
    assert not missing, 'flags without help:\n' + '\n'.join(missing)
