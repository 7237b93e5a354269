"""A child config (or ``--cfg-options``) that sets a top-level variable its
base already used when it was parsed is refused, naming the key, the file and
the fields to set instead; the data recipe's preprocessor reaches the model
on every path."""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmfas.models.data_preprocessors import CLIP_MEAN, IMAGENET_MEAN
from mmfas.testing import tiny_backbone_cfg
from mmfas.utils import (StaleConfigVariableError, check_config_overrides,
                         load_config, merge_data_preprocessor)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FLIP = osp.join(REPO, 'configs', 'flip')


def _child(tmp_path, text, base='flip-it_tiny_demo.py', name='child.py'):
    path = tmp_path / name
    path.write_text(f"_base_ = ['{osp.join(FLIP, base)}']\n" + text)
    return str(path)


def test_child_redefining_a_consumed_variable_is_refused(tmp_path):
    path = _child(tmp_path, "target = 'DemoC'\n")
    with pytest.raises(StaleConfigVariableError) as e:
        load_config(path)
    msg = str(e.value)
    assert 'child.py:2 sets `target`' in msg
    assert 'demo_abc2d.py' in msg and '`test_dataloader`' in msg


def test_data_root_of_a_protocol_config(tmp_path):
    path = _child(tmp_path, "data_root = '/mnt/fas'\n",
                  base='flip-v_vitb16_icm2o.py')
    with pytest.raises(StaleConfigVariableError, match='fas_protocol.py') \
            as e:
        check_config_overrides(path)
    # the fields to set instead, where the old value ended up
    assert 'train_dataloader.dataset.data_root' in str(e.value)
    assert 'test_dataloader.dataset.data_root' in str(e.value)


def test_cfg_options_on_a_consumed_variable_are_refused():
    config = osp.join(FLIP, 'flip-it_tiny_demo.py')
    with pytest.raises(StaleConfigVariableError,
                       match=r'--cfg-options data_root=\.\.\. changes '
                       'nothing.*val_dataloader.dataset.data_root'):
        load_config(config, {'data_root': '/elsewhere'})
    # ordinary options pass
    load_config(config, {'model.backbone.pretrained': None,
                         'train_dataloader.dataset.data_root': '/x'})


def test_the_documented_ways_still_work(tmp_path):
    # 1. set the fields themselves
    path = _child(tmp_path, "train_dataloader = dict(dataset=dict("
                  "data_root='/mnt/demo'))\n")
    assert load_config(path).train_dataloader.dataset.data_root == \
        '/mnt/demo'
    # 2. redefine the variable and rebuild what uses it in the child
    path = _child(tmp_path, "sources = ['DemoA', 'DemoB']\n"
                  "train_dataloader = dict(dataset=dict(ann_file=[\n"
                  "    f'{d}/annotations/all.jsonl' for d in sources]))\n",
                  name='child2.py')
    cfg = load_config(path)
    assert cfg.train_dataloader.dataset.ann_file == [
        'DemoA/annotations/all.jsonl', 'DemoB/annotations/all.jsonl']
    # 3. a variable no base used (the 10-shot example sets
    #    num_train_domains, which the protocol bases only declare)
    load_config(osp.join(FLIP, 'flip-it_vitb16_oci2m_10shot_seed1.py'))


def test_base_variable_references_count_as_uses(tmp_path):
    # flip-it_tiny_demo.py reads {{_base_.tiny_clip_backbone}}
    path = _child(tmp_path, 'tiny_clip_backbone = dict(type="X")\n')
    with pytest.raises(StaleConfigVariableError,
                       match='`tiny_clip_backbone`.*flip-it_tiny_demo.py'):
        check_config_overrides(path)


def test_tools_train_refuses_it(tmp_path):
    path = _child(tmp_path, "target = 'DemoC'\n")
    res = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), path,
         '--work-dir', str(tmp_path / 'w')],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert res.returncode != 0
    assert 'StaleConfigVariableError' in res.stderr
    assert 'sets `target`' in res.stderr
    assert not (tmp_path / 'w').exists()


def test_data_preprocessor_comes_from_the_data_recipe():
    legacy = merge_data_preprocessor(load_config(
        osp.join(FLIP, 'flip-v_vitb16_icm2o_legacy.py')))
    assert tuple(legacy.model.data_preprocessor.mean) == IMAGENET_MEAN
    clean = merge_data_preprocessor(load_config(
        osp.join(FLIP, 'flip-v_vitb16_icm2o.py')))
    assert tuple(clean.model.data_preprocessor.mean) == CLIP_MEAN
    # a partial override on the model keeps the rest of the recipe's
    clean.model.data_preprocessor = dict(to_rgb=False)
    merge_data_preprocessor(clean)
    assert clean.model.data_preprocessor.to_rgb is False
    assert clean.model.data_preprocessor.type == 'FASDataPreprocessor'
    assert tuple(clean.model.data_preprocessor.mean) == CLIP_MEAN


def test_init_model_uses_the_legacy_normalisation():
    from mmfas.apis import init_model
    model = init_model(osp.join(FLIP, 'flip-v_vitb16_icm2o_legacy.py'),
                       cfg_options={'model.backbone': dict(
                           tiny_backbone_cfg(), _delete_=True)})
    assert torch.allclose(model.data_preprocessor.mean.flatten(),
                          torch.tensor(IMAGENET_MEAN))
