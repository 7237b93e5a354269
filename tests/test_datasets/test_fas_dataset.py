import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mmfas.datasets import (AnnotationError, FASDataset, load_annotations,
                            make_record, select_kshot_videos,
                            validate_annotations, write_annotations)
from mmfas.datasets.samplers import DomainClassBalancedSampler


def _write_img(path, value, size=(20, 24), marker=True):
    img = np.full((size[0], size[1], 3), value, np.uint8)
    if marker:
        img[0, 0] = (10, 20, 30)
    cv2.imwrite(path, img)


@pytest.fixture
def fas_root(tmp_path):
    """Two domains x (3 live + 3 spoof videos) x 3 frames, rgb + depth."""
    recs = []
    for d in ('DA', 'DB'):
        for v in range(6):
            label = 'live' if v < 3 else 'spoof'
            attack = 'none' if label == 'live' else ('print', 'replay',
                                                      'mask')[v - 3]
            split = ('train', 'dev', 'test')[v % 3]
            vdir = tmp_path / d / 'frames' / f'v{v}'
            vdir.mkdir(parents=True)
            for f in range(3):
                rgb = f'{d}/frames/v{v}/{f:04d}.png'
                dep = f'{d}/frames/v{v}/{f:04d}_depth.png'
                _write_img(str(tmp_path / rgb), 50 + v * 10 + f)
                _write_img(str(tmp_path / dep), 200 if label == 'live' else 0,
                           marker=False)
                recs.append(make_record(
                    label, attack, f'{d}/v{v}', f'{d}/s{v % 2}', d, split,
                    rgb=rgb, depth=dep, frame=f * 5, bbox=[2, 2, 18, 16]))
        write_annotations([r for r in recs if r['domain'] == d],
                          str(tmp_path / d / 'annotations' / 'all.jsonl'))
    return tmp_path


ANN = ['DA/annotations/all.jsonl', 'DB/annotations/all.jsonl']


def test_load_and_validate_ok(fas_root):
    recs = load_annotations(str(fas_root / ANN[0]), str(fas_root))
    assert len(recs) == 18 and recs[0]['_line'] == 1
    assert validate_annotations(str(fas_root / ANN[0]), str(fas_root)) == []


def test_validator_reports_file_and_line(fas_root, tmp_path):
    bad = tmp_path / 'bad.jsonl'
    good = make_record('live', 'none', 'X/v', 'X/s', 'X', 'train',
                       rgb='DA/frames/v0/0000.png')
    lines = [
        json.dumps(good),
        json.dumps({k: v for k, v in good.items() if k != 'video_id'}),
        json.dumps(dict(good, label='genuine')),
        json.dumps(dict(good, rgb='DA/frames/nope.png')),
        '{not json',
        json.dumps(dict(good, label='spoof', attack_type='none')),
        json.dumps(dict(good, split='val')),
    ]
    bad.write_text('\n'.join(lines) + '\n')
    with pytest.raises(AnnotationError) as e:
        load_annotations(str(bad), str(fas_root))
    msg = str(e.value)
    assert f'{bad}:2: missing field "video_id"' in msg
    assert f"{bad}:3: unknown label 'genuine'" in msg
    assert f'{bad}:4: rgb file does not exist' in msg
    assert f'{bad}:5: invalid JSON' in msg
    assert f'{bad}:6: spoof sample with attack_type "none"' in msg
    assert f"{bad}:7: unknown split 'val'" in msg
    assert '6 problem(s)' in msg
    problems = validate_annotations(str(bad), str(fas_root))
    assert len(problems) == 6


def test_make_record_rejects_bad():
    with pytest.raises(AnnotationError, match='no image path'):
        make_record('live', 'none', 'v', 's', 'D', 'train')
    with pytest.raises(AnnotationError, match='bbox'):
        make_record('live', 'none', 'v', 's', 'D', 'train', rgb='a.png',
                    bbox=[5, 5, 1, 1])


def test_dataset_filters(fas_root):
    ds = FASDataset(ANN, data_root=str(fas_root))
    assert len(ds) == 36 and ds.domain_names == ['DA', 'DB']
    info = ds.get_data_info(0)
    assert info['gt_label'] == 1 and info['domain_label'] == 0
    assert info['video_id'] == 'DA/v0'
    assert len(FASDataset(ANN, data_root=str(fas_root), split='train')) == 12
    live = FASDataset(ANN, data_root=str(fas_root), label='live')
    assert {live.get_data_info(i)['gt_label'] for i in range(len(live))} \
        == {1}
    only_print = FASDataset(ANN, data_root=str(fas_root),
                            attack_types=['print'])
    atk = {only_print.get_data_info(i)['attack_type']
           for i in range(len(only_print))}
    assert atk == {'none', 'print'}
    db = FASDataset(ANN, data_root=str(fas_root), domains='DB',
                    domain_names=['DA', 'DB'])
    assert {db.get_data_info(i)['domain_label'] for i in range(len(db))} \
        == {1}
    fpv = FASDataset(ANN, data_root=str(fas_root), frames_per_video=2)
    assert len(fpv) == 24
    frames = sorted(fpv.get_data_info(i)['frame'] for i in range(len(fpv))
                    if fpv.get_data_info(i)['video_id'] == 'DA/v0')
    assert frames == [0, 10]  # first and last of 3, evenly spaced
    with pytest.raises(ValueError, match='no sample left'):
        FASDataset(ANN, data_root=str(fas_root), domains='DZ')
    with pytest.raises(ValueError, match='unknown split'):
        FASDataset(ANN, data_root=str(fas_root), split='val')


def test_kshot_selection_and_removal(fas_root):
    kshot = dict(k=1, seed=3, domains=['DB'])
    train = FASDataset(ANN, data_root=str(fas_root), split='train',
                       kshot=dict(kshot, keep='selected'))
    test = FASDataset(ANN, data_root=str(fas_root),
                      kshot=dict(kshot, keep='rest'))
    chosen = set(train.kshot_videos)
    assert chosen == set(test.kshot_videos) and len(chosen) == 2
    train_db = {train.get_data_info(i)['video_id'] for i in range(len(train))
                if train.get_data_info(i)['domain'] == 'DB'}
    assert train_db == chosen  # k-shot videos bypass split='train'
    test_videos = {test.get_data_info(i)['video_id'] for i in range(len(test))}
    assert not chosen & test_videos
    assert len(test_videos) == 12 - 2
    # other domains untouched, and seed changes the choice
    train_da = {train.get_data_info(i)['video_id'] for i in range(len(train))
                if train.get_data_info(i)['domain'] == 'DA'}
    assert train_da == {'DA/v0', 'DA/v3'}
    picks = {frozenset(select_kshot_videos(
        load_annotations(str(fas_root / ANN[1]), check_files=False), 1, s))
        for s in range(10)}
    assert len(picks) > 1
    with pytest.raises(ValueError, match='needs 4 live videos'):
        FASDataset(ANN, data_root=str(fas_root),
                   kshot=dict(k=4, domains=['DB']))


def test_modalities_paired_and_expand(fas_root, tmp_path):
    paired = FASDataset(ANN, data_root=str(fas_root),
                        modalities=['rgb', 'depth'])
    assert set(paired.get_data_info(0)['img_paths']) == {'rgb', 'depth'}
    expand = FASDataset(ANN, data_root=str(fas_root),
                        modalities=['rgb', 'depth'], modality_mode='expand')
    assert len(expand) == 72
    assert {expand.get_data_info(i)['modality'] for i in range(4)} == \
        {'rgb', 'depth'}
    with pytest.raises(ValueError, match='lack modalities'):
        FASDataset(ANN, data_root=str(fas_root), modalities=['ir'])


def test_pipeline_same_spatial_aug_for_all_modalities(fas_root):
    pipeline = [
        dict(type='LoadFASImages'),
        dict(type='FaceCrop', margin=0.1),
        dict(type='RandomResizedCrop', scale=8),
        dict(type='RandomFlip', prob=0.5),
        dict(type='HSVSaturationJitter', prob=1.0),
        dict(type='PackFASInputs'),
    ]
    from mmfas.utils import register_all_modules
    register_all_modules()
    ds = FASDataset(ANN, data_root=str(fas_root),
                    modalities=['rgb', 'depth'], pipeline=pipeline,
                    eval_role='val')
    out = ds[0]
    assert out['inputs'].shape == (6, 8, 8)
    # depth channels (constant 200 before) stay constant: same crop, no
    # colour jitter on depth
    assert (out['inputs'][3:] == 200).all()
    sample = out['data_samples']
    assert sample.video_id == 'DA/v0' and sample.eval_role == 'val'
    assert sample.domain == 'DA' and int(sample.gt_label) == 1
    assert sample.domain_label.tolist() == [0]


def test_face_crop_and_pad(fas_root):
    from mmfas.datasets.transforms import FaceCrop
    img = np.arange(20 * 24 * 3, dtype=np.uint8).reshape(20, 24, 3)
    out = FaceCrop(margin=0.0)(dict(img=img.copy(),
                                    face_bbox=[2, 4, 10, 12]))
    assert out['img'].shape == (8, 8, 3)
    np.testing.assert_array_equal(out['img'], img[4:12, 2:10])
    out = FaceCrop(margin=0.5)(dict(img=img.copy(),
                                    face_bbox=[0, 0, 10, 10]))
    assert out['img'].shape == (20, 20, 3)  # padded by replication
    assert FaceCrop()(dict(img=img))['img'] is img
    with pytest.raises(KeyError, match='no face_bbox'):
        FaceCrop(missing='error')(dict(img=img, img_path='x.png'))


def test_hsv_and_color_jitter():
    from mmfas.datasets.transforms import FastColorJitter, HSVSaturationJitter
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    np.random.seed(0)
    out = HSVSaturationJitter((0.5, 0.5), prob=1.0)(dict(img=img.copy()))
    import cv2 as _cv2
    s_in = _cv2.cvtColor(img, _cv2.COLOR_BGR2HSV)[..., 1].astype(float)
    s_out = _cv2.cvtColor(out['img'], _cv2.COLOR_BGR2HSV)[..., 1].astype(
        float)
    assert abs(s_out.mean() / s_in.mean() - 0.5) < 0.08
    same = HSVSaturationJitter(prob=0.0)(dict(img=img.copy()))
    np.testing.assert_array_equal(same['img'], img)
    cj = FastColorJitter(0.4, 0.4, 0.4, 0.1, prob=1.0)
    out = cj(dict(img=img.copy()))
    assert out['img'].dtype == np.uint8 and not np.array_equal(
        out['img'], img)
    with pytest.raises(ValueError, match='hue'):
        FastColorJitter(hue=0.7)


def test_balanced_sampler(fas_root):
    ds = FASDataset(ANN, data_root=str(fas_root))
    sampler = DomainClassBalancedSampler(ds, samples_per_group=2, seed=0,
                                         batch_size=8)
    idx = list(sampler)
    assert len(idx) == len(sampler) and len(idx) % 8 == 0
    groups = ds.get_group_ids()
    for b in range(0, len(idx), 8):
        counts = np.bincount(groups[idx[b:b + 8]], minlength=4)
        assert counts.tolist() == [2, 2, 2, 2]
    sampler.set_epoch(1)
    assert list(sampler) != idx
    with pytest.raises(ValueError, match='batch_size=6'):
        DomainClassBalancedSampler(ds, samples_per_group=2, batch_size=6)


def test_data_preprocessor_layouts():
    from mmfas.models.data_preprocessors import (CLIP_MEAN, CLIP_STD,
                                                 FASDataPreprocessor)
    pre = FASDataPreprocessor()
    img = torch.zeros(3, 4, 4, dtype=torch.uint8)
    img[0] = 255  # B channel of a BGR image
    out = pre(dict(inputs=[img, img]))['inputs']
    assert out.shape == (2, 3, 4, 4)
    # BGR -> RGB: the 255 moves to channel 2
    assert torch.allclose(out[0, 2], torch.full((4, 4), (255 - CLIP_MEAN[2])
                                                / CLIP_STD[2]))
    paired = torch.cat([img, img])
    out6 = pre(dict(inputs=[paired]))['inputs']
    assert torch.allclose(out6[0, :3], out6[0, 3:])
    # pseudo_collate's layout: views first, each a sequence over the batch
    views = pre(dict(inputs=[(img, img), (img, img), (img, img)]))['inputs']
    assert isinstance(views, list) and len(views) == 3
    assert all(v.shape == (2, 3, 4, 4) for v in views)
    with pytest.raises(ValueError, match='differ in shape'):
        pre(dict(inputs=[img, torch.zeros(3, 5, 5, dtype=torch.uint8)]))


def test_mcl_three_view_pipeline_from_config(fas_root):
    from mmengine.config import Config

    from mmfas.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(osp.join(
        osp.dirname(__file__), '..', '..', 'configs', '_base_', 'datasets',
        'fas_pipelines.py'))
    ds = FASDataset(ANN, data_root=str(fas_root),
                    pipeline=cfg.mcl_train_pipeline)
    out = ds[0]
    views = out['inputs']
    assert isinstance(views, list) and len(views) == 3
    assert all(v.shape == (3, 224, 224) for v in views)
    assert out['data_samples'].video_id == 'DA/v0'
    # through the dataloader's collate and the data preprocessor: 3 batches
    from mmengine.dataset import pseudo_collate

    from mmfas.models.data_preprocessors import FASDataPreprocessor
    batch = FASDataPreprocessor()(pseudo_collate([ds[0], ds[1]]), True)
    assert [tuple(v.shape) for v in batch['inputs']] == [(2, 3, 224, 224)] * 3


def test_check_annotations_cli(fas_root, tmp_path, capsys):
    import importlib.util
    path = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'misc',
                    'check_annotations.py')
    spec = importlib.util.spec_from_file_location('check_ann', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    good = str(fas_root / ANN[0])
    assert mod.main([good, '--data-root', str(fas_root)]) == 0
    bad = tmp_path / 'bad.jsonl'
    bad.write_text('{"label": "live"}\n')
    assert mod.main([str(bad), '--data-root', str(fas_root)]) == 1
    out = capsys.readouterr().out
    assert f'{bad}:1: missing field "video_id"' in out


def test_record_eval_role_is_honoured_and_checked(fas_root, tmp_path):
    recs = load_annotations(str(fas_root / ANN[0]), check_files=False)
    for i, r in enumerate(recs):
        r['eval_role'] = 'val' if i < 6 else 'test'
    good = tmp_path / 'eval.jsonl'
    write_annotations(recs, str(good))
    ds = FASDataset(str(good), data_root=str(fas_root))
    roles = [ds.get_data_info(i)['eval_role'] for i in range(len(ds))]
    assert roles == ['val'] * 6 + ['test'] * 12
    # the argument overrides the records
    ds = FASDataset(str(good), data_root=str(fas_root), eval_role='test')
    assert {ds.get_data_info(i)['eval_role'] for i in range(len(ds))} == \
        {'test'}
    recs[3]['eval_role'] = 'holdout'
    bad = tmp_path / 'bad_eval.jsonl'
    write_annotations(recs, str(bad))
    with pytest.raises(ValueError, match=f'{bad}:4: eval_role'):
        FASDataset(str(bad), data_root=str(fas_root))


def test_crossmodal_kshot_rgb_sources_plus_depth_shots(fas_root):
    """RGB of the sources + K depth shots of the target in one training set;
    the target-modality test set drops the same shots; every item carries
    its modality to the data sample."""
    from mmfas.utils import register_all_modules
    register_all_modules()
    shots = dict(k=1, seed=3, domains=['DB'], modality='depth')
    pipeline = [dict(type='LoadFASImages'),
                dict(type='Resize', scale=(8, 8)),
                dict(type='PackFASInputs')]
    train = FASDataset(ANN, data_root=str(fas_root), split='train',
                       domains=['DA'], modalities='rgb',
                       kshot=dict(shots, keep='selected'), pipeline=pipeline)
    infos = [train.get_data_info(i) for i in range(len(train))]
    rgb = [i for i in infos if i['modality'] == 'rgb']
    depth = [i for i in infos if i['modality'] == 'depth']
    assert len(rgb) + len(depth) == len(infos)
    # sources: DA's train split in RGB only
    assert {i['video_id'] for i in rgb} == {'DA/v0', 'DA/v3'}
    assert all(set(i['img_paths']) == {'rgb'} for i in rgb)
    # shots: 1 live + 1 spoof DB video (any split), every frame, depth only
    chosen = set(train.kshot_videos)
    assert {i['video_id'] for i in depth} == chosen and len(chosen) == 2
    assert sorted(i['gt_label'] for i in depth) == [0, 0, 0, 1, 1, 1]
    assert all(set(i['img_paths']) == {'depth'} and i['domain'] == 'DB'
               and i['modality_label'] == 1 for i in depth)
    assert train.item_modalities == ['depth', 'rgb']
    # the modality rides along to the data sample (and the model)
    k = infos.index(depth[0])
    out = train[k]
    assert out['inputs'].shape == (3, 8, 8)
    assert (out['inputs'] == 200).all() or (out['inputs'] == 0).all()
    assert out['data_samples'].modality == 'depth'
    assert out['data_samples'].modality_label.tolist() == [1]
    assert train[infos.index(rgb[0])]['data_samples'].modality == 'rgb'

    # balanced sampling: (domain, modality, class) groups
    groups = train.get_group_ids()
    names = sorted({train.group_name(g) for g in groups})
    assert names == ['DA/rgb/live', 'DA/rgb/spoof', 'DB/depth/live',
                     'DB/depth/spoof']
    sampler = DomainClassBalancedSampler(train, samples_per_group=2, seed=0,
                                         batch_size=8)
    idx = list(sampler)
    for b in range(0, len(idx), 8):
        assert sorted(np.bincount(groups[idx[b:b + 8]])[np.unique(groups)]
                      .tolist()) == [2, 2, 2, 2]

    # the target-modality test set: same draw, shots removed
    test = FASDataset(ANN[1], data_root=str(fas_root), modalities='depth',
                      kshot=dict(shots, keep='rest'))
    assert set(test.kshot_videos) == chosen
    test_videos = {test.get_data_info(i)['video_id']
                   for i in range(len(test))}
    assert not test_videos & chosen and len(test_videos) == 4
    assert {test.get_data_info(i)['modality'] for i in range(len(test))} \
        == {'depth'}
    # another seed draws other shots
    draws = {tuple(FASDataset(ANN[1], data_root=str(fas_root),
                              modalities='depth',
                              kshot=dict(shots, seed=s, keep='rest')
                              ).kshot_videos) for s in range(6)}
    assert len(draws) > 1


def test_crossmodal_kshot_same_dataset_and_errors(fas_root):
    # CASIA-SURF style: all RGB train of one dataset + depth shots of it
    ds = FASDataset(ANN[1], data_root=str(fas_root), split='train',
                    modalities='rgb', frames_per_video=1,
                    kshot=dict(k=1, domains=['DB'], split='train',
                               modality='depth'))
    items = sorted((ds.get_data_info(i)['video_id'],
                    ds.get_data_info(i)['modality']) for i in range(len(ds)))
    # both videos of DB's train split, once in RGB and once in depth,
    # frames_per_video applies to each (video, modality) separately
    assert items == [('DB/v0', 'depth'), ('DB/v0', 'rgb'),
                     ('DB/v3', 'depth'), ('DB/v3', 'rgb')]
    # without a kshot modality nothing changes: one group per (domain, class)
    plain = FASDataset(ANN, data_root=str(fas_root))
    assert plain.get_group_ids().tolist()[:3] == [1, 1, 1]
    assert plain.group_name(1) == 'DA/live'
    with pytest.raises(ValueError, match='kshot.modality'):
        FASDataset(ANN, data_root=str(fas_root),
                   kshot=dict(k=1, modality='thermal'))
    with pytest.raises(ValueError, match='kshot pool is empty'):
        FASDataset(ANN, data_root=str(fas_root),
                   kshot=dict(k=1, modality='ir'))
