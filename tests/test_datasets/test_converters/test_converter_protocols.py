import json
import os
import os.path as osp

import pytest

from mmfas.datasets.annotation import (load_annotations, make_record,
                                       write_annotations)
from mmfas.datasets.converters import oulu
from mmfas.datasets.converters.protocols import (load_domains, main,
                                                 make_protocols,
                                                 select_frames)


def _recs(domain, name, split, label, subject, frames=(6, 56), total=100,
          modalities=('rgb', ), attack='print', **extra):
    out = []
    for f in frames:
        paths = {m: f'{domain}/frames/{name}/{f:04d}'
                 f"{'' if m == 'rgb' else '_' + m}.jpg" for m in modalities}
        out.append(make_record(
            label=label, attack_type='none' if label == 'live' else attack,
            video_id=f'{domain}/{name}', subject_id=f'{domain}/{subject}',
            domain=domain, split=split, frame=f, frame_total=total,
            **paths, **extra))
    return out


def _data():
    d = {}
    r = []
    for split, users in (('train', (1, 2)), ('dev', (21, )),
                         ('test', (36, 37))):
        for u in users:
            for phone in range(1, 7):
                for sess in (1, 2, 3):
                    for f in (1, 2, 3, 4, 5):
                        name = f'{phone}_{sess}_{u:02d}_{f}'
                        info = oulu.parse_name(name)
                        r += _recs('OULU', name, split,
                                   'live' if f == 1 else 'spoof', f'{u:02d}',
                                   frames=(6, 30, 56), phone=phone,
                                   session=sess, oulu_protocol=oulu.
                                   derived_protocols(info, split))
    d['OULU'] = r
    r = []
    for split, subs in (('train', (1, 2, 3, 4, 5)), ('test', (1, 2, 3))):
        for s in subs:
            for n in ('1', '2', 'HR_1', '3', '5', '7', 'HR_4'):
                live = n in ('1', '2', 'HR_1')
                r += _recs('CASIA', f'{split}_{s}_{n}', split,
                           'live' if live else 'spoof', f'{split}_{s}')
    d['CASIA'] = r
    r = []
    for split, clients in (('train', (1, 2)), ('dev', (3, )),
                           ('test', (4, 5))):
        for c in clients:
            for k in range(3):
                r += _recs('REPLAY', f'{split}_real_c{c}_{k}', split, 'live',
                           f'client{c:03d}')
            for k in range(3):
                r += _recs('REPLAY', f'{split}_attack_c{c}_{k}', split,
                           'spoof', f'client{c:03d}', attack='replay')
    # enroll videos (--include-enroll): in every split, in no protocol
    for split, c in (('train', 1), ('dev', 3), ('test', 4), ('test', 5)):
        r += _recs('REPLAY', f'enroll_{split}_c{c}', split, 'live',
                   f'client{c:03d}', replay_role='enroll')
    d['REPLAY'] = r
    r = []
    for split, clients in (('train', (2, 3, 5)), ('test', (1, 13))):
        for c in clients:
            for k in range(2):
                r += _recs('MSU', f'real_c{c}_{k}', split, 'live', f'c{c}')
            for k in range(6):
                r += _recs('MSU', f'attack_c{c}_{k}', split, 'spoof', f'c{c}')
    d['MSU'] = r
    d['CELEBA'] = _recs('CELEBA', 'train_10_live_1', 'train', 'live', '10',
                        frames=(0, )) + _recs('CELEBA', 'train_10_spoof_2',
                                              'train', 'spoof', '10',
                                              frames=(0, ))
    for dom in ('SURF', 'CEFA', 'WMCA'):
        r = []
        for split, n in (('train', 4), ('dev', 2), ('test', 3)):
            for i in range(n):
                for label in ('live', 'spoof'):
                    r += _recs(dom, f'{split}_{label}_{i}', split, label,
                               f'{split}{i}', frames=(3, 9),
                               modalities=('rgb', 'depth', 'ir'))
        d[dom] = r
    return d


def _write(tmp_path, data):
    out = str(tmp_path / 'out')
    for dom, recs in data.items():
        write_annotations(recs, osp.join(out, dom, 'annotations',
                                         'all.jsonl'))
    return out


def _load(out, name, split):
    f = osp.join(out, 'protocols', name, f'{split}.jsonl')
    return load_annotations(f, check_files=False) if osp.isfile(f) else []


def _vids(recs, domain=None):
    return {r['video_id'] for r in recs if domain in (None, r['domain'])}


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('proto')
    data = _data()
    out = _write(tmp, data)
    res = make_protocols(out, crossmodal_shots=(1, 2), celeba=True, seed=0)
    return out, data, res


def test_ocim_legacy(built):
    out, data, res = built
    tr, va, te = (_load(out, 'ocim_legacy_OCI2M', s)
                  for s in ('train', 'val', 'test'))
    # target: every MSU video (train + test), two frames each
    assert _vids(te) == _vids(data['MSU']) and len(te) == 2 * 40
    assert {r['eval_role'] for r in te} == {'test'}
    # sources: OULU without Dev, Replay without devel and enroll
    oulu_tr = _vids(tr, 'OULU')
    assert oulu_tr == {r['video_id'] for r in data['OULU']
                       if r['split'] != 'dev'}
    assert len(oulu_tr) == 4 * 6 * 3 * 5
    assert {r['frame'] for r in tr if r['domain'] == 'OULU'} == {6, 56}
    assert _vids(tr, 'CASIA') == _vids(data['CASIA'])
    rep = _vids(tr, 'REPLAY')
    assert not any('enroll' in v for v in rep)
    assert not any(v.startswith('REPLAY/dev_') for v in rep)
    assert 'eval_role' not in tr[0]
    # val: OULU Dev + Replay devel, tagged
    assert {r['split'] for r in va} == {'dev'}
    assert {r['domain'] for r in va} == {'OULU', 'REPLAY'}
    assert {r['eval_role'] for r in va} == {'val'}
    ev = _load(out, 'ocim_legacy_OCI2M', 'eval')
    assert len(ev) == len(va) + len(te)
    meta = json.load(open(osp.join(out, 'protocols', 'ocim_legacy_OCI2M',
                                   'meta.json')))
    assert meta['sources'] == ['OULU', 'CASIA', 'REPLAY']
    assert meta['target'] == 'MSU' and meta['counts']['test']['videos'] == 40


def test_ocim_clean(built):
    out, data, res = built
    tr, va, te = (_load(out, 'ocim_clean_OCM2I', s)
                  for s in ('train', 'val', 'test'))
    assert {r['split'] for r in te} == {'test'}
    assert _vids(te) == {r['video_id'] for r in data['REPLAY']
                         if r['split'] == 'test' and 'replay_role' not in r}
    assert {r['split'] for r in tr} == {'train'}
    assert {r['frame'] for r in tr if r['domain'] == 'OULU'} == {6, 30, 56}
    # CASIA / MSU have no dev split: a subject-disjoint share of train
    for dom in ('CASIA', 'MSU'):
        tr_s = {r['subject_id'] for r in tr if r['domain'] == dom}
        va_s = {r['subject_id'] for r in va if r['domain'] == dom}
        assert va_s and tr_s and not tr_s & va_s
        assert {r['split'] for r in va if r['domain'] == dom} == {'train'}
    assert {r['split'] for r in va if r['domain'] == 'OULU'} == {'dev'}


def test_five_shot(built):
    out, data, res = built
    for form, pool_split in (('legacy', None), ('clean', 'train')):
        name = f'ocim_{form}_OCI2M_5shot'
        tr, te = _load(out, name, 'train'), _load(out, name, 'test')
        shots = [r for r in tr if r.get('kshot')]
        sv = _vids(shots)
        assert len(sv) == 10 and {r['domain'] for r in shots} == {'MSU'}
        assert sum(1 for v in sv if '/real_' in v) == 5
        assert not sv & _vids(te)
        if pool_split:
            assert {r['split'] for r in shots} == {pool_split}
        else:
            full = _load(out, f'ocim_{form}_OCI2M', 'test')
            assert _vids(te) == _vids(full) - sv
        meta = res['made'][name]
        assert sorted(meta['shot_videos']) == sorted(sv)
    # seeded: the same seed picks the same videos
    again = make_protocols(out, groups=('ocim', ), forms=('legacy', ),
                           oneclass=False, seed=0, data=data)
    assert again['made']['ocim_legacy_OCI2M_5shot']['shot_videos'] == \
        res['made']['ocim_legacy_OCI2M_5shot']['shot_videos']


def test_one_class_and_celeba(built):
    out, data, res = built
    tr = _load(out, 'ocim_clean_ICM2O_oneclass', 'train')
    va = _load(out, 'ocim_clean_ICM2O_oneclass', 'val')
    te = _load(out, 'ocim_clean_ICM2O_oneclass', 'test')
    assert {r['label'] for r in tr} == {'live'}
    assert {r['label'] for r in va} == {'live'}
    assert {r['label'] for r in te} == {'live', 'spoof'}
    tr = _load(out, 'ocim_legacy_ICM2O_celeba', 'train')
    assert 'CELEBA' in {r['domain'] for r in tr}
    assert 'ocim_legacy_ICM2O_celeba_5shot' in res['made']


def test_limited_and_single_source(built):
    out, data, res = built
    for form in ('legacy', 'clean'):
        assert f'limited_{form}_MI2C' in res['made']
        assert f'limited_{form}_MI2O' in res['made']
        singles = [n for n in res['made'] if n.startswith(f'single_{form}_')]
        assert len(singles) == 12
    tr = _load(out, 'limited_legacy_MI2O', 'train')
    assert {r['domain'] for r in tr} == {'MSU', 'REPLAY'}
    # a legacy C -> M task has no source validation data
    assert not osp.exists(osp.join(out, 'protocols', 'single_legacy_C2M',
                                   'val.jsonl'))
    assert res['made']['single_legacy_C2M']['files']['val'] is None
    assert _load(out, 'single_clean_C2M', 'val')


def test_wcs_rgb_only(built):
    out, data, res = built
    tr = _load(out, 'wcs_CS2W', 'train')
    te = _load(out, 'wcs_CS2W', 'test')
    assert {r['domain'] for r in tr} == {'CEFA', 'SURF'}
    assert {r['domain'] for r in te} == {'WMCA'}
    assert {r['split'] for r in te} == {'test'}
    assert all('depth' not in r and 'ir' not in r and r['rgb']
               for r in tr + te)
    assert set(res['made']) >= {'wcs_CS2W', 'wcs_SW2C', 'wcs_CW2S'}


def test_oulu_protocols(built):
    out, data, res = built
    tr, va, te = (_load(out, 'oulu_p1', s) for s in ('train', 'val', 'test'))
    assert {r['session'] for r in tr} == {1, 2}
    assert {r['session'] for r in te} == {3}
    assert {r['split'] for r in va} == {'dev'}
    te3 = _load(out, 'oulu_p3_1', 'test')
    assert {r['phone'] for r in te3} == {1}
    assert {r['phone'] for r in _load(out, 'oulu_p3_1', 'train')} == {
        2, 3, 4, 5, 6}
    te4 = _load(out, 'oulu_p4_2', 'test')
    assert {(r['phone'], r['session']) for r in te4} == {(2, 3)}
    tr = _load(out, 'oulu_p2_oneclass', 'train')
    assert {r['label'] for r in tr} == {'live'}
    assert len([n for n in res['made'] if n.startswith('oulu_p')]) == 28


def test_crossmodal(built):
    out, data, res = built
    name = 'crossmodal_SURF_depth_2shot'
    tr, va, te = (_load(out, name, s) for s in ('train', 'val', 'test'))
    rgb = [r for r in tr if r['modality'] == 'rgb']
    shots = [r for r in tr if r['modality'] == 'depth']
    assert len(rgb) == 16 and all('depth' not in r for r in rgb)
    assert len(shots) == 4 and all(r['kshot'] and 'rgb' not in r
                                   for r in shots)
    assert sorted(r['label'] for r in shots) == ['live', 'live', 'spoof',
                                                 'spoof']
    assert {r['split'] for r in shots} == {'train'}
    assert all(r['modality'] == 'depth' and set(r) & {'rgb', 'depth', 'ir'}
               == {'depth'} for r in va + te)
    assert {r['split'] for r in te} == {'test'}
    assert 'crossmodal_WMCA_ir_1shot' in res['made']

    # across datasets: CeFA's RGB + the same SURF depth shots -> SURF depth
    cross = 'crossmodal_CEFA2SURF_depth_2shot'
    ctr, cva, cte = (_load(out, cross, s) for s in ('train', 'val', 'test'))
    crgb = [r for r in ctr if r['modality'] == 'rgb']
    cshots = [r for r in ctr if r['modality'] == 'depth']
    assert crgb and {r['domain'] for r in crgb} == {'CEFA'}
    assert {r['split'] for r in crgb} == {'train'}
    assert sorted(r['video_id'] for r in cshots) == \
        sorted(r['video_id'] for r in shots)
    assert {r['domain'] for r in cshots} == {'SURF'}
    assert cva == va and cte == te
    assert res['made'][cross]['shot_videos'] == \
        res['made'][name]['shot_videos']
    assert res['made'][cross]['sources'] == ['CEFA', 'SURF']
    made = {n for n in res['made'] if n.startswith('crossmodal_')
            and '2' in n.split('_')[1]}
    assert len(made) == 6 * 2 * 2  # ordered pairs x modalities x K


def test_index_skipped_and_idempotent(tmp_path):
    data = _data()
    data.pop('MSU')
    out = _write(tmp_path, data)
    r1 = make_protocols(out, groups=('ocim', 'oulu'), forms=('clean', ))
    assert 'ocim_clean_OCI2M' in r1['skipped']
    assert 'ocim_clean_OCM2I' in r1['skipped']  # needs MSU as a source
    index = json.load(open(osp.join(out, 'protocols', 'index.json')))
    assert 'oulu_p1' in index['protocols'] and index['skipped']
    first = open(osp.join(out, 'protocols', 'oulu_p1', 'test.jsonl')).read()
    main([out, '--groups', 'oulu', '--forms', 'clean'])
    assert open(osp.join(out, 'protocols', 'oulu_p1',
                         'test.jsonl')).read() == first
    assert set(load_domains(out)) == {'OULU', 'CASIA', 'REPLAY', 'CELEBA',
                                      'SURF', 'CEFA', 'WMCA'}


def test_enroll_videos_in_no_protocol(built):
    """Replay-Attack's enroll videos (converted with --include-enroll) are
    neither sources, nor validation, nor the target's test set or K-shot
    pool, in any protocol."""
    out, data, res = built
    enroll = {r['video_id'] for r in data['REPLAY'] if r.get('replay_role')}
    assert len(enroll) == 4
    for name in res['made']:
        for split in ('train', 'val', 'test'):
            assert not _vids(_load(out, name, split)) & enroll, (name, split)
    # OCM->I clean: the official test split, 3 + 3 videos of 2 clients
    assert len(_vids(_load(out, 'ocim_clean_OCM2I', 'test'))) == 12
    shots = res['made']['ocim_clean_OCM2I_5shot']['shot_videos']
    assert not set(shots) & enroll
    assert all(v.startswith('REPLAY/train_') for v in shots)


def test_select_frames():
    frames = [dict(frame=f, frame_total=100) for f in (0, 6, 20, 50, 57, 99)]
    assert [f['frame'] for f in select_frames(frames, 2)] == [6, 57]
    assert [f['frame'] for f in select_frames(frames, 3)] == [0, 20, 99]
    assert select_frames(frames, None) == frames


REPO = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', '..')
CONFIGS = osp.join(REPO, 'configs')


def _generator():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'make_protocol_configs',
        osp.join(REPO, 'tools', 'misc', 'make_protocol_configs.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()
PROTOCOLS = {p.base: p for p in GEN.protocols()}
DATASET_CONFIGS = sorted(PROTOCOLS)


def test_every_protocol_list_has_a_dataset_base():
    on_disk = sorted(
        f[:-3] for f in os.listdir(osp.join(CONFIGS, '_base_', 'datasets'))
        if f.startswith(('ocim_', 'limited_', 'wcs_', 'oulu_',
                         'crossmodal_')))
    assert on_disk == DATASET_CONFIGS
    lists = {p.lists for p in PROTOCOLS.values()}
    # what make_protocols writes by default (single-source pairs aside)
    assert {f'oulu_p{k}{o}' for k in ('1', '2', '3_1', '4_6')
            for o in ('', '_oneclass')} <= lists
    assert {f'crossmodal_{d}_{m}_{k}shot' for d in ('SURF', 'CEFA', 'WMCA')
            for m in ('depth', 'ir') for k in (1, 5, 10)} <= lists


@pytest.fixture(scope='module')
def crossmodal_tree(tmp_path_factory):
    """CASIA-SURF / CeFA / WMCA with enough training videos for every K of
    the cross-modal configs, and their protocol lists."""
    shots = GEN._default('crossmodal_shots')
    d = {}
    for dom in ('SURF', 'CEFA', 'WMCA'):
        r = []
        for split, n in (('train', max(shots) + 2), ('dev', 2), ('test', 3)):
            for i in range(n):
                for label in ('live', 'spoof'):
                    r += _recs(dom, f'{split}_{label}_{i}', split, label,
                               f'{split}{i}', frames=(3, 9),
                               modalities=('rgb', 'depth', 'ir'))
        d[dom] = r
    out = _write(tmp_path_factory.mktemp('crossmodal'), d)
    make_protocols(out, groups=('crossmodal', ), crossmodal_shots=shots,
                   seed=0)
    return out


def _build(ds_cfg, root):
    from mmfas.datasets import FASDataset
    kw = {k: v for k, v in ds_cfg.items() if k not in ('type', 'pipeline')}
    # serialize_data=False: the same records, without the gc.collect() of
    # mmengine's serialisation (half a second per dataset in a test session)
    kw.update(data_root=root, check_files=False, serialize_data=False)
    return FASDataset(**kw)


def _samples(ds, seed=0):
    """Data samples as the Runner hands them to the metric, with random
    liveness scores."""
    import torch
    from mmpretrain.structures import DataSample

    from mmfas.structures import set_prediction
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        s = float(torch.rand(1, generator=g))
        sample = DataSample(metainfo={
            k: info[k] for k in ('img_path', 'video_id', 'attack_type',
                                 'domain', 'eval_role', 'modality')
            if k in info})
        sample.set_gt_label(info['gt_label'])
        out.append(set_prediction(sample, s).to_dict())
    return out


@pytest.mark.parametrize('name', DATASET_CONFIGS)
def test_protocol_configs_read_the_protocol_lists(built, crossmodal_tree,
                                                  tmp_path, name):
    """Every protocol config builds its train / val / test datasets from
    what make_protocols writes, with the domain, modality and class
    structure its balanced batch assumes; its val and test evaluators pick a
    threshold on those sets (a live-only validation split for the one-class
    protocols) without an error."""
    from mmengine.config import Config

    from mmfas.registry import METRICS
    proto = PROTOCOLS[name]
    root = crossmodal_tree if proto.group == 'crossmodal' else built[0]
    cfg = Config.fromfile(osp.join(CONFIGS, '_base_', 'datasets',
                                   name + '.py'))
    train = _build(cfg.train_dataloader.dataset, root)
    groups = set(train.get_group_ids().tolist())
    assert len(train.domain_names) == cfg.num_train_domains
    assert len(groups) == cfg.num_train_domains * cfg.classes_per_domain * \
        cfg.get('num_train_modalities', 1)
    assert cfg.train_dataloader.batch_size == \
        cfg.train_dataloader.sampler.samples_per_group * len(groups)
    val = _build(cfg.val_dataloader.dataset, root)
    test = _build(cfg.test_dataloader.dataset, root)  # eval: val + test

    def videos(ds, role=None):
        return {ds.get_data_info(i)['video_id'] for i in range(len(ds))
                if role in (None, ds.get_data_info(i).get('eval_role'))}

    test_videos = videos(test, 'test')
    assert test_videos and videos(test, 'val') == videos(val)
    assert {val.get_data_info(i)['eval_role'] for i in range(len(val))} \
        == {'val'}
    assert not videos(train) & test_videos
    assert not videos(val) & test_videos
    target = {test.get_data_info(i)['domain'] for i in range(len(test))
              if test.get_data_info(i)['eval_role'] == 'test'}
    assert len(target) == 1
    val_labels = {val.get_data_info(i)['gt_label'] for i in range(len(val))}
    assert (val_labels == {1}) == (proto.classes == 1)  # live-only val

    # the evaluators as the Runner runs them: validation on the val loader,
    # test on the eval loader (val + test records)
    for ev, ds in (('val_evaluator', val), ('test_evaluator', test)):
        metric = METRICS.build(dict(cfg[ev], out_dir=str(tmp_path)))
        metric.process(None, _samples(ds))
        res = metric.compute_metrics(metric.results)
        assert 0. <= res['threshold'] <= 1., (ev, res)
