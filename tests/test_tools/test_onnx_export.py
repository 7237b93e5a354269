"""tools/deployment/pytorch2onnx.py (issue 16, "export and weights"): the
inference path (image -> liveness score through the score rule) exports to
ONNX with a dynamic batch axis, FLIP-IT's class text features folded in as
constants, and onnxruntime matches PyTorch on random and real images."""
import glob
import importlib.util
import os.path as osp
import sys

import numpy as np
import pytest
import torch

pytest.importorskip('onnx', reason='optional extra: pip install onnx')
pytest.importorskip('onnxruntime',
                    reason='optional extra: pip install onnxruntime')

import onnx  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FLIP_IT = osp.join(REPO, 'configs', 'flip', 'flip-it_tiny_demo.py')
FLIP_V = osp.join(REPO, 'configs', 'flip', 'flip-v_tiny_demo.py')


def _load(name, rel):
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, rel))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


p2o = _load('pytorch2onnx', 'tools/deployment/pytorch2onnx.py')
export_tool = _load('export_deploy_checkpoint',
                    'tools/misc/export_deploy_checkpoint.py')


@pytest.fixture(scope='module')
def faces(tmp_path_factory):
    """A few synthetic demo face crops (real images through the test
    pipeline)."""
    from mmfas.datasets.demo_data import make_demo_dataset
    root = tmp_path_factory.mktemp('onnx_faces')
    make_demo_dataset(str(root), num_subjects=3, frames_per_video=1,
                      domains=['DemoD'], attack_types=['print'],
                      num_workers=0)
    paths = sorted(glob.glob(str(root / 'DemoD' / '**' / '*.jpg'),
                             recursive=True)) or sorted(
                                 glob.glob(str(root / '**' / '*.png'),
                                           recursive=True))
    assert len(paths) >= 3
    return paths[:3]


def _tiny_checkpoint(config, path, seed=0):
    """A tiny model's weights (the demo config's tiny CLIP, random)."""
    from mmfas.apis import init_model
    torch.manual_seed(seed)
    model = init_model(config)
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=1)), path)
    return path


def test_flip_it_export_parity_and_folded_text(faces, tmp_path, capsys):
    ckpt = _tiny_checkpoint(FLIP_IT, str(tmp_path / 'flip_it.pth'))
    # a deployment checkpoint: its threshold rides in the ONNX metadata
    deploy = str(tmp_path / 'deploy.pth')
    export_tool.export(FLIP_IT, ckpt, 0.375, deploy)
    out = str(tmp_path / 'flip_it.onnx')
    res = p2o.main([FLIP_IT, deploy, '--out', out, '--images', *faces])
    printed = capsys.readouterr().out
    assert 'parity check passed' in printed
    assert 'random x3: max abs diff' in printed
    assert f'real x{len(faces)}: max abs diff' in printed
    assert set(res['diffs']) == {'random x1', 'random x3',
                                 f'real x{len(faces)}'}
    assert max(res['diffs'].values()) <= 1e-4
    assert res['input_shape'] == (3, 224, 224)
    assert 'templates.class_embeddings' in res['folded']
    proto = onnx.load(out)
    # the text tower (token embedding 49408 x 64) is not in the graph
    sizes = [int(np.prod(t.dims)) for t in proto.graph.initializer]
    assert max(sizes) < 49408 * 64
    # dynamic batch axis; metadata says how to use the output
    dim0 = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param == 'batch'
    meta = {p.key: p.value for p in proto.metadata_props}
    assert float(meta['fas_threshold']) == 0.375
    assert meta['classes'] == 'spoof,live' and meta['score_kind'] == 'logits'
    # the ONNX score is the score inference_model reports (score rule)
    from mmfas.apis import inference_model, init_model
    model = init_model(FLIP_IT, deploy)
    real = p2o.real_inputs(model, faces)
    got = p2o.onnx_scores(out, real)
    want = [r['live_score'] for r in inference_model(model, faces)]
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_flip_v_export_and_tolerance_failure(faces, tmp_path, monkeypatch,
                                             capsys):
    ckpt = _tiny_checkpoint(FLIP_V, str(tmp_path / 'flip_v.pth'))
    out = str(tmp_path / 'flip_v.onnx')
    res = p2o.main([FLIP_V, ckpt, '--out', out, '--images', faces[0]])
    assert res['folded'] == []  # FLIP-V has no text features
    assert max(res['diffs'].values()) <= 1e-4
    # a broken runtime result fails the check (exit code 1)
    real_scores = p2o.onnx_scores
    monkeypatch.setattr(p2o, 'onnx_scores',
                        lambda path, x: real_scores(path, x) + 0.01)
    with pytest.raises(SystemExit) as exc:
        p2o.main([FLIP_V, ckpt, '--out', out, '--images', faces[0]])
    assert exc.value.code == 1
    assert 'FAILED: max abs diff' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        p2o.parse_args([FLIP_V, ckpt, '--out', out, '--tolerance', '-1'])


def test_missing_onnx_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)
    with pytest.raises(ImportError, match='pip install onnx onnxruntime'):
        p2o.require_onnx()
