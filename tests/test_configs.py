"""Every shipped config parses, passes the override check, names registered
components, and its balanced batch, threshold policy and normalisation match
its protocol; every distinct model config builds; the generated matrix is up
to date (``make_protocol_configs.py --check``)."""
import functools
import glob
import importlib.util
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
from mmengine.config import Config

from mmfas.models.data_preprocessors import CLIP_MEAN, IMAGENET_MEAN
from mmfas.registry import DATASETS, METRICS, MODELS, TRANSFORMS
from mmfas.utils import (load_config, merge_data_preprocessor,
                         register_all_modules)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
GENERATOR = osp.join(REPO, 'tools', 'misc', 'make_protocol_configs.py')
CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', '*', '*.py')))
CONFIGS = [c for c in CONFIGS if '_base_' not in c]

register_all_modules()


def _generator():
    spec = importlib.util.spec_from_file_location('make_protocol_configs',
                                                  GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _generator()


#: generated method config (folder/name) -> its protocol (dataset base)
GENERATED = {f'{m.folder}/{gen.config_name(m, p)}': p for m in gen.METHODS
             for p in gen.protocols() if gen.applies(m, p)}


@functools.lru_cache(maxsize=None)
def _load(path):
    """The config as tools/train.py loads it (override check, the data
    recipe's preprocessor merged); loaded once per session (read only)."""
    return merge_data_preprocessor(load_config(path))


@functools.lru_cache(maxsize=None)
def _dataset_base(name):
    return Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'datasets', name + '.py'))


@functools.lru_cache(maxsize=None)
def _pipeline(key):
    """Each distinct pipeline is built once."""
    from mmengine.dataset import Compose
    return Compose(json.loads(key))


def _datasets(ds):
    if ds.get('type') == 'ConcatDataset':
        return [d for sub in ds.datasets for d in _datasets(sub)]
    return [ds]


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.basename(c) for c in CONFIGS])
def test_config(path):
    cfg = _load(path)
    assert cfg.default_scope == 'mmfas'
    assert MODELS.get(cfg.model.type) is not None, cfg.model.type
    assert MODELS.get(cfg.model.backbone.type) is not None
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for ds in _datasets(cfg[loader].dataset):
            assert DATASETS.get(ds.type) is not None
            for t in ds.pipeline:
                assert TRANSFORMS.get(t.type) is not None, t.type
                for view in t.get('transforms', []):
                    for tt in view:
                        assert TRANSFORMS.get(tt.type) is not None, tt.type
    for ev in ('val_evaluator', 'test_evaluator'):
        assert METRICS.get(cfg[ev].type) is not None
    # every pipeline builds; a generated config's datasets are its dataset
    # base's (built on the converters' test tree in
    # tests/test_datasets/test_converters/test_converter_protocols.py), with
    # the method's pipeline
    proto = GENERATED.get(osp.relpath(path, osp.join(REPO, 'configs'))[:-3])
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for ds in _datasets(cfg[loader].dataset):
            _pipeline(json.dumps(ds.pipeline, sort_keys=True))
        if proto is not None:
            ref = _dataset_base(proto.base)[loader]
            mine = dict(cfg[loader].dataset.to_dict(), pipeline=None)
            assert mine == dict(ref.dataset.to_dict(), pipeline=None)
            assert cfg[loader].batch_size == ref.batch_size
    test_ds = cfg.test_dataloader.dataset
    if test_ds.type == 'ConcatDataset':
        roles = [d.get('eval_role') for d in _datasets(test_ds)]
        assert roles[0] == 'val' and set(roles[1:]) == {'test'}, roles
    else:  # a protocol's eval.jsonl: records carry their eval_role
        assert test_ds.ann_file == \
            f'protocols/{cfg.protocol}/eval.jsonl'
        assert test_ds.get('eval_role') is None
        assert cfg.val_dataloader.dataset.eval_role == 'val'
    assert cfg.val_evaluator.threshold_policy == 'val'
    # the legacy preset, and only it: test-EER threshold, ImageNet's
    # normalisation, the reference's (legacy) video sets
    legacy = path.endswith('_legacy.py')
    assert cfg.test_evaluator.threshold_policy == ('test_eer' if legacy
                                                   else 'val')
    mean = tuple(cfg.model.data_preprocessor.mean)
    assert mean == (IMAGENET_MEAN if legacy else CLIP_MEAN)
    if 'protocol' in cfg:
        assert ('_legacy_' in cfg.protocol) == legacy, cfg.protocol
    # a live-only validation split has no EER: one-class protocols place
    # the threshold at a BPCER target
    if cfg.get('classes_per_domain') == 1:
        for ev in ('val_evaluator', 'test_evaluator'):
            assert cfg[ev].val_target['type'] == 'bpcer'
    train = cfg.train_dataloader
    if train.sampler.type == 'DomainClassBalancedSampler' and \
            'num_train_domains' in cfg:
        assert train.batch_size == train.sampler.samples_per_group * \
            cfg.classes_per_domain * cfg.num_train_domains * \
            cfg.get('num_train_modalities', 1)
    if cfg.model.type == 'FLIPMCL':
        assert train.dataset.pipeline[-2].type == 'MultiView'
    assert cfg.auto_scale_lr.base_batch_size > 0


def test_generated_configs_are_up_to_date():
    assert gen.main(['--check']) == 0


def test_matrix_follows_the_method_table():
    """Each method gets a config for exactly the protocols its table line
    declares: FLIP (two-class) has OCIM / limited / WCS / OULU, no one-class
    and no cross-modal one."""
    protos = gen.protocols()
    on_disk = {osp.basename(c)[:-3] for c in CONFIGS}
    for m in gen.METHODS:
        want = {gen.config_name(m, p) for p in protos if gen.applies(m, p)}
        assert want <= on_disk
        mine = {n for n in on_disk if n.startswith(m.model + '_')
                and gen._is_generated(osp.join(REPO, 'configs', m.folder,
                                               n + '.py'))}
        assert mine == want
    flip_it = next(m for m in gen.METHODS if m.name == 'FLIP-IT')
    names = {gen.config_name(flip_it, p) for p in protos
             if gen.applies(flip_it, p)}
    assert {'flip-it_vitb16_icm2o_legacy', 'flip-it_vitb16_oulu_p1',
            'flip-it_vitb16_wcs_cs2w', 'flip-it_vitb16_limited_mi2o'} <= names
    assert not any('oneclass' in n or 'crossmodal' in n for n in names)
    # every protocol list make_protocols writes has a dataset base
    bases = {p.lists for p in protos}
    assert {'oulu_p1', 'oulu_p4_6_oneclass', 'ocim_legacy_ICM2O_oneclass',
            'wcs_CW2S'} <= bases


def test_a_new_method_is_one_table_line(tmp_path):
    """A method = a model base + one table line: the generator writes its
    configs for the protocols it declares (here a one-class method: only the
    live-only protocols) and its metafile entries."""
    root = tmp_path / 'repo'
    shutil.copytree(osp.join(REPO, 'configs'), root / 'configs')
    shutil.copy(osp.join(REPO, 'configs', '_base_', 'models',
                         'flip-v_vitb16.py'),
                root / 'configs' / '_base_' / 'models' / 'toy_vitb16.py')
    (root / 'configs' / 'toy').mkdir()
    (root / 'configs' / 'toy' / 'README.md').write_text('# toy\n')
    toy = gen.Method('Toy', 'toy_vitb16', 'toy', ('ocim', 'oulu'), (1, ),
                     'flip_adam_4k', collection=('Toy', 'https://x'))
    old = list(gen.METHODS)
    try:
        gen.METHODS.append(toy)
        assert gen.main(['--root', str(root)]) == 0
        made = sorted(os.listdir(root / 'configs' / 'toy'))
        assert 'toy_vitb16_icm2o_oneclass_legacy.py' in made
        assert 'toy_vitb16_oulu_p3_1_oneclass.py' in made
        assert not any('oneclass' not in f for f in made
                       if f.endswith('.py'))
        assert len([f for f in made if f.endswith('.py')]) == 8 + 14
        assert 'configs/toy/metafile.yml' in (
            root / 'model-index.yml').read_text()
        assert not [p for p in gen.check(str(root)) if 'toy' in p]
    finally:
        gen.METHODS[:] = old
    # the line removed again: its configs are no longer generated
    problems = gen.check(str(root))
    assert 'no longer generated: configs/toy/toy_vitb16_oulu_p1_oneclass.py' \
        in problems


def test_check_names_stale_missing_and_extra_files(tmp_path, capsys):
    root = tmp_path / 'repo'
    shutil.copytree(osp.join(REPO, 'configs'), root / 'configs')
    shutil.copy(osp.join(REPO, 'model-index.yml'), root / 'model-index.yml')
    gen.write(str(root))
    before = set(gen.check(str(root)))  # hand-written READMEs only
    assert all(p.startswith('missing (hand-written)') for p in before)
    stale = root / 'configs' / '_base_' / 'datasets' / 'ocim_oci2m.py'
    stale.write_text(stale.read_text().replace('batch_size=18',
                                               'batch_size=16'))
    (root / 'configs' / 'flip' / 'flip-v_vitb16_oulu_p2.py').unlink()
    extra = root / 'configs' / 'flip' / 'flip-v_vitb16_gone.py'
    extra.write_text(gen.MARK + '\n')
    hand = root / 'configs' / 'flip' / 'flip-it_tiny_demo.py'
    hand_text = hand.read_text()
    assert gen.main(['--check', '--root', str(root)]) == 1
    err = capsys.readouterr().err
    assert 'stale: configs/_base_/datasets/ocim_oci2m.py' in err
    assert 'missing: configs/flip/flip-v_vitb16_oulu_p2.py' in err
    assert 'no longer generated: configs/flip/flip-v_vitb16_gone.py' in err
    # a write fixes the first two and names the third, --prune deletes it
    assert gen.main(['--root', str(root)]) == 0
    assert 'flip-v_vitb16_gone.py' in capsys.readouterr().out
    assert set(gen.check(str(root))) == before | {
        'no longer generated: configs/flip/flip-v_vitb16_gone.py'}
    assert extra.exists()
    assert gen.main(['--root', str(root), '--prune']) == 0
    assert set(gen.check(str(root))) == before
    assert not extra.exists() and hand.read_text() == hand_text


def test_help_writes_nothing(tmp_path):
    """``--help`` prints the usage and exits 0 without writing a file (the
    script used to ignore its arguments and rewrite every config)."""
    script = tmp_path / 'tools' / 'misc' / 'make_protocol_configs.py'
    script.parent.mkdir(parents=True)
    shutil.copy(GENERATOR, script)
    res = subprocess.run([sys.executable, str(script), '--help'],
                         capture_output=True, text=True, timeout=120,
                         cwd=str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert '--check' in res.stdout
    assert sorted(os.listdir(tmp_path)) == ['tools']


def test_legacy_preset_lives_in_one_place():
    """ImageNet's mean / std and the test-EER threshold appear in the
    legacy preset only; the legacy dataset bases inherit it and no method
    config repeats it."""
    preset = osp.join(REPO, 'configs', '_base_', 'presets', 'legacy.py')
    for path in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                          recursive=True):
        code = '\n'.join(line.split('#')[0]
                         for line in open(path).read().splitlines())
        if path != preset:
            assert '123.675' not in code, path
            assert 'test_eer' not in code, path
    for path in glob.glob(osp.join(REPO, 'configs', '_base_', 'datasets',
                                   '*_legacy.py')):
        assert "_base_ = ['../presets/legacy.py']" in open(path).read()


def _model_key(model_cfg):
    return json.dumps(model_cfg, sort_keys=True, default=str)


def test_every_distinct_model_config_builds():
    """Every config's model builds (random init). Each distinct backbone is
    built once and shared, each distinct model config once."""
    backbones, models = {}, {}
    for path in CONFIGS:
        cfg = _load(path).model.to_dict()
        cfg['backbone']['pretrained'] = None
        bkey = _model_key(cfg['backbone'])
        backbones.setdefault(bkey, cfg['backbone'])
        models.setdefault(_model_key(cfg), (path, cfg, bkey))
    built_backbones = {k: MODELS.build(v) for k, v in backbones.items()}
    means = set()
    for path, cfg, bkey in models.values():
        model = MODELS.build(dict(cfg, backbone=built_backbones[bkey]))
        assert type(model).__name__ == cfg['type'], path
        means.add(tuple(round(float(v), 3)
                        for v in model.data_preprocessor.mean.flatten()))
    assert means == {tuple(round(v, 3) for v in CLIP_MEAN),
                     tuple(round(v, 3) for v in IMAGENET_MEAN)}
