"""mmfas' own thin analysis tools (issue 16): get_flops.py, print_config.py
and browse_dataset.py run on the tiny demo configs, in mmfas' scope (where
mmpretrain's versions cannot build mmfas' models and datasets)."""
import glob
import importlib.util
import os.path as osp

import cv2
import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FLIP_IT = osp.join(REPO, 'configs', 'flip', 'flip-it_tiny_demo.py')
FLIP_MCL = osp.join(REPO, 'configs', 'flip', 'flip-mcl_tiny_demo.py')


def _load(name, rel):
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, rel))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_get_flops(capsys):
    tool = _load('get_flops', 'tools/analysis_tools/get_flops.py')
    res = tool.main([FLIP_IT])
    out = capsys.readouterr().out
    assert 'Input shape: (3, 224, 224)' in out
    assert 'Counted: FLIPIT.forward(mode="tensor") -> logits' in out
    # every parameter of the model is counted, text tower included
    from mmfas.apis import init_model
    model = init_model(FLIP_IT)
    assert res['params'] == sum(p.numel() for p in model.parameters())
    # the text tower is not run per image: the FLOPs are the vision
    # tower's plus the similarity to two cached class embeddings
    import torch
    from mmengine.analysis import get_model_complexity_info
    vision = get_model_complexity_info(
        model.backbone.clip.visual, inputs=(torch.zeros(1, 3, 224, 224), ),
        show_table=False, show_arch=False)['flops']
    assert vision <= res['flops'] < vision * 1.01
    assert tool.main([FLIP_IT, '--shape', '224', '224'])['flops'] == \
        res['flops']
    with pytest.raises(ValueError, match='--shape'):
        tool.main([FLIP_IT, '--shape', '1', '2', '3'])


def test_print_config(capsys):
    tool = _load('print_config', 'tools/misc/print_config.py')
    cfg = tool.main([FLIP_IT, '--cfg-options', 'train_cfg.max_iters=7'])
    out = capsys.readouterr().out
    assert 'max_iters=7' in out
    # the data recipe's normalisation is in the model, as tools build it
    assert cfg.model.data_preprocessor.mean == cfg.data_preprocessor.mean
    assert "type='FLIPIT'" in out
    # mmfas' override check: a variable a base already used is refused
    from mmfas.utils.config import StaleConfigVariableError
    with pytest.raises(StaleConfigVariableError, match='data_root'):
        tool.main([FLIP_IT, '--cfg-options', 'data_root=elsewhere'])


def test_browse_dataset(tmp_path, monkeypatch, capsys):
    from mmfas.datasets.demo_data import make_demo_dataset
    make_demo_dataset(str(tmp_path / 'data' / 'demo'), num_subjects=3,
                      frames_per_video=1, num_workers=0)
    monkeypatch.chdir(tmp_path)  # the demo configs' data_root is relative
    tool = _load('browse_dataset', 'tools/misc/browse_dataset.py')
    out_dir = tmp_path / 'browse'
    written = tool.main([FLIP_MCL, '--output-dir', str(out_dir),
                         '--show-number', '3', '--mode', 'concat'])
    assert len(written) == 3
    assert sorted(glob.glob(str(out_dir / '*.png'))) == sorted(written)
    assert osp.basename(written[0]).startswith('00000_live_none_DemoA')
    img = cv2.imread(written[0])
    # original + FLIP-MCL's three 224 px views (plain, two SimCLR views)
    assert img.shape[0] == 224 and img.shape[1] > 3 * 224
    test = tool.main([FLIP_IT, '--output-dir', str(tmp_path / 'test'),
                      '--phase', 'test', '--show-number', '2'])
    assert [cv2.imread(p).shape for p in test] == [(224, 224, 3)] * 2
    assert 'ConcatDataset' in capsys.readouterr().out
