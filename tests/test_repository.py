"""Repository habits: documentation references resolve, a bare ``pytest`` at
the root collects the CPU suite only, the CUDA tests skip with a reason."""
import configparser
import glob
import importlib.util
import os.path as osp
import re

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCANNED = ('mmfas', 'tools', 'configs', 'docs', 'tests', 'tests_gpu')
DOC_REF = re.compile(r'(?<![\w./-])docs/[\w./-]+?\.md')
MD_LINK = re.compile(r'\]\(([^)#\s]+\.md)(?:#[^)]*)?\)')


def _files():
    out = [osp.join(REPO, 'README.md')]
    for top in SCANNED:
        for ext in ('py', 'md', 'sh', 'yml'):
            out += glob.glob(osp.join(REPO, top, '**', f'*.{ext}'),
                             recursive=True)
    return sorted(f for f in out if osp.abspath(f) != osp.abspath(__file__))


def test_documentation_references_resolve():
    """Every ``docs/...md`` a file names exists in the repository, every
    relative Markdown link resolves, and nothing points at documents outside
    it (``shared/docs``, a bare ``methods.md``)."""
    bad = []
    for path in _files():
        rel = osp.relpath(path, REPO)
        with open(path, encoding='utf-8') as f:
            text = f.read()
        for ref in DOC_REF.findall(text):
            if not osp.isfile(osp.join(REPO, ref)):
                bad.append(f'{rel}: {ref} does not exist')
        if path.endswith('.md'):
            for link in MD_LINK.findall(text):
                if '://' not in link and not osp.isfile(
                        osp.join(osp.dirname(path), link)):
                    bad.append(f'{rel}: link {link} does not resolve')
        for outside in re.findall(r'shared/docs|(?<![\w/])methods\.md',
                                  text):
            bad.append(f'{rel}: names {outside}, not in the repository')
    assert not bad, '\n'.join(bad)


def test_bare_pytest_collects_the_cpu_suite():
    cfg = configparser.ConfigParser()
    cfg.read(osp.join(REPO, 'setup.cfg'))
    assert cfg.get('tool:pytest', 'testpaths').split() == ['tests']


def test_cuda_tests_skip_with_a_reason_without_cuda():
    """Importing tests_gpu/test_cuda.py works on any machine (it used to
    assert CUDA at import, failing collection); its tests skip without a
    device, saying why."""
    spec = importlib.util.spec_from_file_location(
        'tests_gpu_test_cuda', osp.join(REPO, 'tests_gpu', 'test_cuda.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    marks = module.pytestmark
    marks = marks if isinstance(marks, list) else [marks]
    skip = [m for m in marks if m.name == 'skipif']
    assert len(skip) == 1
    assert skip[0].args[0] == (not torch.cuda.is_available())
    assert 'CUDA' in skip[0].kwargs['reason']
