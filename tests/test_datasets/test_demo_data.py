"""Tests of the synthetic multi-domain FAS demo dataset generator."""
import importlib.util
import json
import os
import os.path as osp
from collections import Counter, defaultdict

import cv2
import numpy as np
import pytest

from mmfas.datasets.annotation import load_annotations
from mmfas.datasets.demo_data import (DEMO_ATTACK_TYPES, DEMO_DOMAINS,
                                      DOMAIN_SPECS, FULL_FACE_ATTACK_TYPES,
                                      META_FILE, OCCLUSION_OBJECTS,
                                      OCCLUSION_POSITIONS, ann_file_of,
                                      demo_captions, demo_settings,
                                      is_demo_dataset_complete,
                                      make_demo_dataset,
                                      region_box_fractions)
from mmfas.models.utils.cue_maps import CUE_POSITIONS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
N_SUBJ = 6
FPV = 2
N_LIVE_VIDEOS = 2


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo'))
    summary = make_demo_dataset(root, num_subjects=N_SUBJ,
                                frames_per_video=FPV,
                                modalities=('rgb', 'depth', 'ir'), seed=0,
                                num_workers=2)
    records = {
        d: load_annotations(osp.join(root, d, 'annotations', 'all.jsonl'),
                            data_root=root, check_files=True) +
        load_annotations(osp.join(root, d, 'annotations', 'partial.jsonl'),
                         data_root=root, check_files=True)
        for d in DEMO_DOMAINS
    }
    return root, summary, records


def _crop(img, box):
    x1, y1, x2, y2 = [int(round(v)) for v in box]
    return img[y1:y2, x1:x2]


def _auc(pos, neg):
    """P(score(pos) > score(neg)), ties count half."""
    pos, neg = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


def _jpeg_luma_qtable_mean(path):
    """Mean of the first JPEG quantisation table (lower = higher quality)."""
    data = open(path, 'rb').read()
    i = data.index(b'\xff\xdb')
    precision = data[i + 4] >> 4
    assert precision == 0
    return float(np.frombuffer(data[i + 5:i + 5 + 64], np.uint8).mean())


# ---------------------------------------------------------------- format --
def test_defaults_give_2000_classic_and_400_partial_rgb_frames():
    # the classic set (all.jsonl: live, print, replay, mask) is unchanged
    # since the partial attacks (their own file) were added: 2,000 frames
    s = demo_settings()
    per_subject = (s['live_videos_per_subject'] + s['attack_videos_per_type']
                   * len(s['attack_types'])) * s['frames_per_video']
    total = len(s['domains']) * s['num_subjects'] * per_subject
    assert total == 2400
    partial = len(s['domains']) * s['num_subjects'] * s[
        'attack_videos_per_type'] * s['frames_per_video']
    assert total - partial == 2000
    assert s['modalities'] == ['rgb']
    assert s['domains'] == list(DEMO_DOMAINS)
    assert s['attack_types'] == ['print', 'replay', 'mask', 'partial']


def test_annotations_valid_and_complete(demo):
    root, summary, records = demo
    for dom, recs in records.items():
        size = DOMAIN_SPECS[dom]['size']
        for r in recs:
            assert r['domain'] == dom
            assert r['split'] in ('train', 'dev', 'test')
            assert r['video_id'].startswith(dom + '/')
            assert r['subject_id'].startswith(dom + '/s')
            assert isinstance(r['frame'], int)
            for m in ('rgb', 'depth', 'ir'):
                assert not osp.isabs(r[m])
                assert r[m].startswith(f'{dom}/frames/')
                assert osp.isfile(osp.join(root, r[m]))
            video = r['video_id'].split('/', 1)[1]
            assert r['rgb'] == f'{dom}/frames/{video}/{r["frame"]:04d}.jpg'
            assert r['depth'].endswith('_depth.jpg')
            assert r['ir'].endswith('_ir.jpg')
            x1, y1, x2, y2 = r['bbox']
            assert 0 <= x1 < x2 <= size and 0 <= y1 < y2 <= size
            # the face is a sizeable part of the frame
            assert (x2 - x1) > 0.2 * size and (y2 - y1) > 0.25 * size
            if r['label'] == 'live':
                assert r['attack_type'] == 'none'
            else:
                assert r['attack_type'] in DEMO_ATTACK_TYPES
            # partial attacks (only) live in their own file with a region
            assert (r['attack_type'] == 'partial') == ('occlusion' in r)
            assert (r['attack_type'] == 'partial') == ('occlusion_mask' in r)
            assert isinstance(r['captions'], list) and len(r['captions']) == 5
    for dom in DEMO_DOMAINS:
        classic = load_annotations(osp.join(root, ann_file_of(dom)), root)
        part = load_annotations(osp.join(root, ann_file_of(dom, 'partial')),
                                root)
        assert {r['attack_type'] for r in classic} == {
            'none', *FULL_FACE_ATTACK_TYPES}
        assert {r['attack_type'] for r in part} == {'partial'}
    assert osp.isfile(osp.join(root, 'README.md'))
    assert 'synthetic' in open(osp.join(root, 'README.md')).read().lower()
    assert summary['ann_files'] == [
        f'{d}/annotations/all.jsonl' for d in DEMO_DOMAINS
    ]
    assert summary['partial_ann_files'] == [
        f'{d}/annotations/partial.jsonl' for d in DEMO_DOMAINS
    ]


def test_counts_per_domain_split_label_attack(demo):
    root, summary, records = demo
    per_subject_videos = N_LIVE_VIDEOS + len(DEMO_ATTACK_TYPES)
    for dom, recs in records.items():
        assert len(recs) == N_SUBJ * per_subject_videos * FPV
        labels = Counter(r['label'] for r in recs)
        assert labels == {'live': N_SUBJ * N_LIVE_VIDEOS * FPV,
                          'spoof': N_SUBJ * len(DEMO_ATTACK_TYPES) * FPV}
        attacks = Counter(r['attack_type'] for r in recs)
        assert attacks == {'none': N_SUBJ * N_LIVE_VIDEOS * FPV,
                           'print': N_SUBJ * FPV, 'replay': N_SUBJ * FPV,
                           'mask': N_SUBJ * FPV, 'partial': N_SUBJ * FPV}
        # each video: FPV frames 0..FPV-1, one label / attack / subject
        videos = defaultdict(list)
        for r in recs:
            videos[r['video_id']].append(r)
        assert len(videos) == N_SUBJ * per_subject_videos
        for vid, rs in videos.items():
            assert sorted(r['frame'] for r in rs) == list(range(FPV))
            assert len({(r['label'], r['attack_type'], r['subject_id'],
                         r['split']) for r in rs}) == 1
        # subjects: disjoint splits, every split used, every subject has
        # live and every attack type
        split_of = {}
        kinds = defaultdict(set)
        for r in recs:
            assert split_of.setdefault(r['subject_id'],
                                       r['split']) == r['split']
            kinds[r['subject_id']].add(r['attack_type'])
        assert len(split_of) == N_SUBJ
        assert set(split_of.values()) == {'train', 'dev', 'test'}
        assert all(k == {'none', *DEMO_ATTACK_TYPES} for k in kinds.values())
        # the summary agrees with the files
        dsum = summary['domains'][dom]
        assert dsum['frames'] == len(recs)
        for sp, ss in dsum['splits'].items():
            rs = [r for r in recs if r['split'] == sp]
            assert ss['frames'] == len(rs)
            assert ss['live'] == sum(r['label'] == 'live' for r in rs)
            assert ss['spoof'] == sum(r['label'] == 'spoof' for r in rs)
            assert ss['subjects'] == len({r['subject_id'] for r in rs})
    assert summary['total_frames'] == 4 * N_SUBJ * per_subject_videos * FPV
    # subject ids are unique over domains
    subjects = [{r['subject_id'] for r in recs} for recs in records.values()]
    assert len(set().union(*subjects)) == sum(len(s) for s in subjects)


# ---------------------------------------------------------- determinism --
def _tree_bytes(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = osp.join(dirpath, f)
            out[osp.relpath(p, root)] = open(p, 'rb').read()
    return out


def test_same_seed_same_bytes_any_workers(tmp_path):
    kw = dict(num_subjects=3, frames_per_video=1, domains=('DemoA', 'DemoD'),
              modalities=('rgb', 'depth', 'ir'))
    make_demo_dataset(str(tmp_path / 'a'), seed=7, num_workers=0, **kw)
    make_demo_dataset(str(tmp_path / 'b'), seed=7, num_workers=2, **kw)
    make_demo_dataset(str(tmp_path / 'c'), seed=8, num_workers=0, **kw)
    a, b, c = (_tree_bytes(str(tmp_path / x)) for x in 'abc')
    # images + region masks of the partial attacks + 2 x (all, partial)
    # annotation files + README + meta
    assert len(a) == 3 * 2 * 6 * 3 + 3 * 2 + 2 * 2 + 2
    assert a == b
    assert a.keys() == c.keys()
    imgs = [k for k in a if k.endswith('.jpg')]
    assert sum(a[k] != c[k] for k in imgs) == len(imgs)


def test_regenerate_replaces_and_refuses_foreign(tmp_path):
    out = str(tmp_path / 'demo')
    make_demo_dataset(out, num_subjects=4, frames_per_video=1,
                      domains=('DemoB', ))
    assert is_demo_dataset_complete(out, num_subjects=4, frames_per_video=1,
                                    domains=('DemoB', ))
    assert not is_demo_dataset_complete(out, num_subjects=3,
                                        frames_per_video=1,
                                        domains=('DemoB', ))
    # fewer subjects: stale frames of the bigger run must not remain
    make_demo_dataset(out, num_subjects=3, frames_per_video=1,
                      domains=('DemoB', ))
    assert not osp.exists(osp.join(out, 'DemoB', 'frames', 's03_live_00'))
    n_files = sum(len(f) for _, _, f in os.walk(osp.join(out, 'DemoB')))
    assert n_files == 3 * 6 + 3 + 2  # images, region masks, 2 ann files
    # a folder the generator did not write is never deleted
    foreign = tmp_path / 'foreign'
    (foreign / 'DemoB').mkdir(parents=True)
    (foreign / 'DemoB' / 'precious.txt').write_text('x')
    with pytest.raises(FileExistsError):
        make_demo_dataset(str(foreign), num_subjects=3, domains=('DemoB', ))
    assert (foreign / 'DemoB' / 'precious.txt').exists()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        make_demo_dataset(str(tmp_path), modalities=('rgb', 'thermal'))
    with pytest.raises(ValueError):
        make_demo_dataset(str(tmp_path), num_subjects=2)
    with pytest.raises(ValueError):
        make_demo_dataset(str(tmp_path), attack_types=('cutout', ))
    with pytest.raises(ValueError):
        make_demo_dataset(str(tmp_path), domains=('DemoZ', ))


# --------------------------------------------------------------- content --
def test_depth_live_face_shaped_print_replay_flat(demo):
    root, _, records = demo
    for dom, recs in records.items():
        for r in recs:
            d = cv2.imread(osp.join(root, r['depth']), cv2.IMREAD_UNCHANGED)
            assert d.ndim == 2 and d.dtype == np.uint8
            c = _crop(d, r['bbox']).astype(np.float32)
            h, w = c.shape
            centre = c[h * 3 // 8:h * 5 // 8, w * 3 // 8:w * 5 // 8].mean()
            corners = np.mean([c[:h // 6, :w // 6].mean(),
                               c[:h // 6, -w // 6:].mean()])
            if r['attack_type'] == 'none':
                assert c.std() > 25, (r['depth'], c.std())
                assert centre > corners + 30
            elif r['attack_type'] in ('print', 'replay'):
                assert c.std() < 5, (r['depth'], c.std())
                assert c.mean() > 50  # a plane, not an empty map
            elif r['attack_type'] == 'partial':  # see test_partial_depth
                continue
            else:  # mask: face-shaped shell (but smoother than a face)
                assert c.std() > 15
                assert centre > corners + 20


def test_ir_screens_dark(demo):
    root, _, records = demo
    ir = defaultdict(list)
    for recs in records.values():
        for r in recs:
            im = cv2.imread(osp.join(root, r['ir']), cv2.IMREAD_UNCHANGED)
            assert im.ndim == 2
            ir[r['attack_type']].append(_crop(im, r['bbox']).mean())
    assert np.median(ir['replay']) < 0.5 * np.median(ir['none'])
    assert _auc(ir['none'], ir['replay']) > 0.95


def test_attacks_not_separable_by_mean_colour(demo):
    """Attack cues must be texture / geometry, not the mean colour of the
    face crop: every single mean-colour feature has a live-vs-attack AUC
    near chance (per domain and pooled)."""
    root, _, records = demo
    pooled = defaultdict(list)  # attack type -> rows of (B, G, R, luma)
    for dom, recs in records.items():
        per_dom = defaultdict(list)
        for r in recs:
            im = cv2.imread(osp.join(root, r['rgb'])).astype(np.float32)
            m = _crop(im, r['bbox']).reshape(-1, 3).mean(0)
            per_dom[r['attack_type']].append([*m, m.mean()])
        for t in DEMO_ATTACK_TYPES:
            live, att = np.array(per_dom['none']), np.array(per_dom[t])
            for k in range(4):
                a = _auc(att[:, k], live[:, k])
                assert 0.15 < a < 0.85, (dom, t, k, a)
        for t, rows in per_dom.items():
            pooled[t] += rows
    for t in DEMO_ATTACK_TYPES:
        live, att = np.array(pooled['none']), np.array(pooled[t])
        for k in range(4):
            a = _auc(att[:, k], live[:, k])
            assert 0.3 < a < 0.7, (t, k, a)


def test_attacks_differ_by_texture(demo):
    """In the cleanest camera (DemoD) a simple texture statistic (relative
    Laplacian energy of the face crop) separates masks (smooth) and replays
    (pixel grid / moire) from live faces (pores)."""
    root, _, records = demo
    lap = defaultdict(list)
    for r in records['DemoD']:
        g = cv2.imread(osp.join(root, r['rgb']),
                       cv2.IMREAD_GRAYSCALE).astype(np.float32)
        c = _crop(g, r['bbox'])
        lap[r['attack_type']].append(
            np.abs(cv2.Laplacian(c, cv2.CV_32F)).mean() / (c.mean() + 1))
    assert _auc(lap['mask'], lap['none']) < 0.2
    assert _auc(lap['replay'], lap['none']) > 0.8


def test_domains_differ(demo):
    root, _, records = demo
    stats = {}
    for dom, recs in records.items():
        live = [r for r in recs if r['label'] == 'live']
        imgs = [cv2.imread(osp.join(root, r['rgb'])).astype(np.float32)
                for r in live]
        shapes = {im.shape for im in imgs}
        size = DOMAIN_SPECS[dom]['size']
        assert shapes == {(size, size, 3)}
        bgr = np.array([im.reshape(-1, 3).mean(0) for im in imgs]).mean(0)
        noise = np.mean([
            np.median(np.abs(im.mean(2) -
                             cv2.GaussianBlur(im.mean(2), (0, 0), 1.0)))
            for im in imgs
        ])
        q = np.mean([_jpeg_luma_qtable_mean(osp.join(root, r['rgb']))
                     for r in live[:5]])
        stats[dom] = dict(size=size, rb=bgr[2] / bgr[0],
                          g=2 * bgr[1] / (bgr[0] + bgr[2]), noise=noise, q=q)
    # resolution
    assert len({s['size'] for s in stats.values()}) == 4
    # colour cast: DemoA warm, DemoB cool, DemoC green, DemoD neutral
    assert stats['DemoA']['rb'] > stats['DemoD']['rb'] + 0.2
    assert stats['DemoD']['rb'] > stats['DemoB']['rb'] + 0.2
    assert stats['DemoC']['g'] > max(stats[d]['g']
                                     for d in ('DemoA', 'DemoB', 'DemoD'))
    # sensor noise: DemoA noisiest, DemoD cleanest
    assert stats['DemoA']['noise'] > 1.5 * stats['DemoD']['noise']
    assert stats['DemoA']['noise'] > stats['DemoB']['noise']
    # JPEG quality: A (55) < C (72) < B (88) < D (95) -> quant tables shrink
    qs = [stats[d]['q'] for d in ('DemoA', 'DemoC', 'DemoB', 'DemoD')]
    assert qs == sorted(qs, reverse=True) and len(set(qs)) == 4


# ------------------------------------------------------ partial attacks --
def _partial_records(records):
    return [r for recs in records.values() for r in recs
            if r['attack_type'] == 'partial']


def _box_region_share(mask, box, position):
    """(share of the mask's pixels inside the face box that lie in the
    named region, share of the named region the mask covers)."""
    x1, y1, x2, y2 = box
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    u, v = (xx - x1) / (x2 - x1), (yy - y1) / (y2 - y1)
    inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
    u0, v0, u1, v1 = region_box_fractions(position)
    region = inside & (u >= u0) & (u < u1) & (v >= v0) & (v < v1)
    m = mask > 0
    return ((m & region).sum() / max(1, (m & inside).sum()),
            (m & region).sum() / max(1, region.sum()))


def test_region_fractions_match_cue_positions():
    # the generator and SLIP's cue maps name the same regions
    assert set(OCCLUSION_POSITIONS) == set(CUE_POSITIONS)
    assert len(OCCLUSION_POSITIONS) == 8
    for pos, (fx, fy) in CUE_POSITIONS.items():
        u0, v0, u1, v1 = region_box_fractions(pos)
        assert ((u0 + u1) / 2, (v0 + v1) / 2) == (fx, fy), pos
        assert (u1 - u0) * (v1 - v0) in (0.25, 0.5)
    with pytest.raises(ValueError, match='unknown occlusion position'):
        region_box_fractions('middle')


@pytest.mark.parametrize('position', sorted(CUE_POSITIONS))
def test_occluder_alpha_lands_in_named_region(position):
    from mmfas.datasets.demo_data import _region_alpha
    for k in range(5):
        rng = np.random.default_rng(k)
        box = np.array([30.0 + k, 24.0, 98.0 + k, 112.0])
        alpha = _region_alpha(128, box, position, rng)
        share, cover = _box_region_share(alpha >= 0.5, box, position)
        assert share > 0.8 and cover > 0.8, (position, k, share, cover)
        # centre of mass (in box coordinates) nearest to the named region
        m = alpha >= 0.5
        ys, xs = np.nonzero(m)
        x1, y1, x2, y2 = box
        inb = (xs >= x1) & (xs < x2) & (ys >= y1) & (ys < y2)
        cu = ((xs[inb] + 0.5 - x1) / (x2 - x1)).mean()
        cv = ((ys[inb] + 0.5 - y1) / (y2 - y1)).mean()
        near = min(CUE_POSITIONS, key=lambda p: (CUE_POSITIONS[p][0] - cu)**2
                   + (CUE_POSITIONS[p][1] - cv)**2)
        assert near == position, (position, cu, cv)


def test_partial_masks_in_named_region_and_captions_name_it(demo):
    root, _, records = demo
    parts = _partial_records(records)
    assert len(parts) == 4 * N_SUBJ * FPV
    assert {r['occlusion']['object'] for r in parts} <= set(OCCLUSION_OBJECTS)
    assert len({r['occlusion']['position'] for r in parts}) >= 5
    assert len({r['occlusion']['object'] for r in parts}) == 4
    for r in parts:
        pos, obj = r['occlusion']['position'], r['occlusion']['object']
        assert pos in OCCLUSION_POSITIONS
        img = cv2.imread(osp.join(root, r['rgb']))
        mask = cv2.imread(osp.join(root, r['occlusion_mask']),
                          cv2.IMREAD_UNCHANGED)
        assert r['occlusion_mask'] == r['rgb'][:-4] + '_occlusion.png'
        assert mask.shape == img.shape[:2] and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255}
        share, cover = _box_region_share(mask, r['bbox'], pos)
        assert share > 0.8 and cover > 0.8, (r['rgb'], pos, share, cover)
        # the captions name the region and the object
        assert f'the {pos} part of the face is covered by ' \
            f'{"" if obj == "paper" else "a "}{obj}.' in r['captions']
        assert sum(pos in c for c in r['captions']) == 3
        assert sum(obj in c for c in r['captions']) == 4
        assert r['captions'] == demo_captions('partial', r['occlusion'])
    # one region and object per video
    per_video = defaultdict(set)
    for r in parts:
        per_video[r['video_id']].add(tuple(r['occlusion'].values()))
    assert all(len(v) == 1 for v in per_video.values())


def test_partial_occluder_changes_only_its_region(demo):
    """Outside the occluder a partial attack is a live face (face-shaped
    depth); inside, paper and screens are flat planes and the texture is
    the occluder's."""
    root, _, records = demo
    for r in _partial_records(records):
        mask = cv2.imread(osp.join(root, r['occlusion_mask']),
                          cv2.IMREAD_UNCHANGED) > 0
        d = cv2.imread(osp.join(root, r['depth']),
                       cv2.IMREAD_UNCHANGED).astype(np.float32)
        inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5))) > 0
        x1, y1, x2, y2 = [int(round(v)) for v in r['bbox']]
        box = np.zeros_like(mask)
        box[y1:y2, x1:x2] = True
        free = box & ~cv2.dilate(mask.astype(np.uint8), np.ones((5, 5)),
                                 iterations=2).astype(bool)
        assert d[free].std() > 10, (r['depth'], d[free].std())
        if r['occlusion']['object'] in ('paper', 'screen'):
            assert d[inner].std() < 5, (r['depth'], d[inner].std())
            assert d[inner].mean() > d[free].mean()  # in front of the face


def test_captions_say_what_the_image_is(demo):
    _, _, records = demo
    for recs in records.values():
        for r in recs:
            caps = r['captions']
            assert len(caps) == len(set(caps)) == 5
            # a function of the facts: equal facts, equal captions
            assert caps == demo_captions(r['attack_type'],
                                         r.get('occlusion'))
            words = ' '.join(caps).replace(',', ' ').replace(
                '.', ' ').replace(':', ' ').split()
            t = r['attack_type']
            if t == 'none':
                assert {'real', 'live', 'bonafide', 'genuine'} <= set(words)
                assert 'pores' in words
                assert not {'attack', 'fake'} & set(words)
                assert 'not a spoof' in ' '.join(caps)
            else:
                assert {'spoof', 'fake', 'attack'} <= set(words)
                assert 'not a real face' in ' '.join(caps)
                cue = {'print': 'halftone', 'replay': 'moire',
                       'mask': 'plastic', 'partial': 'covered'}[t]
                assert cue in words, (t, caps)
    assert demo_captions('print')[0] == demo_captions('mask')[0]
    with pytest.raises(ValueError, match='occlusion'):
        demo_captions('partial')
    with pytest.raises(ValueError, match='unknown occlusion'):
        demo_captions('partial', dict(position='middle', object='paper'))


# ------------------------------------------------------------------- CLI --
def _load_cli():
    path = osp.join(REPO, 'tools', 'misc', 'make_demo_data.py')
    spec = importlib.util.spec_from_file_location('make_demo_data', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cli_idempotent(tmp_path, capsys):
    cli = _load_cli()
    out = str(tmp_path / 'demo')
    args = ['--out', out, '--subjects', '3', '--frames-per-video', '1',
            '--domains', 'DemoC', '--modalities', 'rgb', 'depth',
            '--workers', '0']
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert 'SYNTHETIC' in text and 'DemoC' in text and 'total:' in text
    meta = json.load(open(osp.join(out, META_FILE)))
    assert meta['complete'] and meta['settings']['modalities'] == [
        'rgb', 'depth'
    ]
    recs = load_annotations(osp.join(out, 'DemoC', 'annotations',
                                     'all.jsonl'), data_root=out)
    assert len(recs) == 3 * 5 and all('depth' in r for r in recs)
    img = osp.join(out, recs[0]['rgb'])
    stamp = (os.stat(img).st_mtime_ns, os.stat(osp.join(out,
                                                         META_FILE)).st_mtime_ns)
    # same settings: nothing is written
    assert cli.main(args) == 0
    assert 'up to date' in capsys.readouterr().out
    assert (os.stat(img).st_mtime_ns,
            os.stat(osp.join(out, META_FILE)).st_mtime_ns) == stamp
    # --force regenerates (same bytes), other settings regenerate too
    before = open(img, 'rb').read()
    assert cli.main(args + ['--force']) == 0
    assert 'up to date' not in capsys.readouterr().out
    assert open(img, 'rb').read() == before
    assert cli.main(args + ['--seed', '3']) == 0
    assert 'up to date' not in capsys.readouterr().out
    assert open(img, 'rb').read() != before
    assert json.load(open(osp.join(out, META_FILE)))['settings']['seed'] == 3
