"""Each converter on a small raw tree with the dataset's real naming."""
import json
import os.path as osp
import subprocess
import sys
import types

import cv2
import numpy as np
import pytest

from mmfas.datasets.annotation import load_annotations
from mmfas.datasets.converters import (casia, celeba, cefa, msu, oulu,
                                       replay, surf, wmca)
from mmfas.datasets.converters.common import (ConversionError,
                                              ConvertOptions, cli_entry,
                                              format_summary, run_conversion)
from mmfas.datasets.converters.protocols import \
    build_parser as protocols_build_parser
from mmfas.datasets.converters.protocols import main as protocols_main

REPO = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', '..')


def _by_name(jobs):
    return {j.name: j.meta for j in jobs}


# --------------------------------------------------------------------- OULU
def _oulu_tree(tmp_path, h, with_protocols=True):
    src = tmp_path / 'OULU-NPU'
    for d, users in (('Train_files', (1, 2)), ('Dev_files', (21, )),
                     ('Test_files', (36, ))):
        for u in users:
            for phone in (1, 2):
                for sess in (1, 3):
                    for f in (1, 2, 3, 4, 5):
                        h.touch(str(src / d / f'{phone}_{sess}_{u:02d}_{f}'
                                    '.avi'))
    h.touch(str(src / 'Train_files' / 'readme.avi'))  # not a video name
    if with_protocols:
        p1 = src / 'Protocols' / 'Protocol_1'
        h.touch(str(p1 / 'Train.txt'), '+1,1_1_01_1\n-1,1_1_01_2\n'
                '-2,2_1_02_4\n')
        h.touch(str(p1 / 'Dev.txt'), '+1,1_1_21_1\n')
        h.touch(str(p1 / 'Test.txt'), '+1,1_3_36_1\n-2,2_3_36_5\n')
        h.touch(str(src / 'Protocols' / 'Protocol_3' / 'Test_2.txt'),
                '+1,2_1_36_1\n')
    return str(src)


def test_oulu_labels_splits_protocols(tmp_path, h):
    jobs, info = oulu.collect_jobs(_oulu_tree(tmp_path, h))
    m = _by_name(jobs)
    assert len(jobs) == 4 * 2 * 2 * 5
    assert info['counts']['dev'] == {'live': 4, 'spoof': 16}
    assert len(info['ignored_files']) == 1
    live = m['1_1_01_1']
    assert (live['label'], live['attack_type'], live['split']) == (
        'live', 'none', 'train')
    assert live['video_id'] == 'OULU/1_1_01_1'
    assert live['subject_id'] == 'OULU/01' and live['domain'] == 'OULU'
    assert (live['phone'], live['session'], live['access_type']) == (1, 1, 1)
    assert m['1_1_01_2']['attack_type'] == 'print'
    assert m['1_1_01_3']['attack_subtype'] == 'print2'
    assert m['2_3_36_5']['attack_type'] == 'replay'
    assert m['2_3_36_5']['attack_subtype'] == 'replay2'
    assert m['1_1_21_1']['split'] == 'dev' and m['1_3_36_1']['split'] == 'test'
    # official lists decide the protocols they cover ...
    assert info['protocol_lists'] == ['1', '3_2']
    assert m['1_1_01_1']['oulu_protocol']['1'] == 'train'
    assert '1' not in m['1_1_01_3']['oulu_protocol']  # not in the list file
    assert m['2_3_36_5']['oulu_protocol']['1'] == 'test'
    assert m['2_1_36_1']['oulu_protocol'] == {'2': 'test', '3_2': 'test'}
    # official 3_2 lists only 2_1_36_1 here, so 2_3_36_1 is not in it
    assert '3_2' not in m['2_3_36_1']['oulu_protocol']
    # ... the others are derived from the published definitions
    p = m['1_1_01_4']['oulu_protocol']
    assert p['2'] == 'train' and p['4_2'] == 'train' and '4_1' not in p
    assert '2' not in m['1_1_01_3']['oulu_protocol']          # print 2
    assert m['1_3_36_3']['oulu_protocol']['2'] == 'test'
    assert m['1_3_36_3']['oulu_protocol']['4_1'] == 'test'
    assert '4_1' not in m['1_3_36_2']['oulu_protocol']


def test_oulu_derived_protocols_without_lists(tmp_path, h):
    jobs, info = oulu.collect_jobs(_oulu_tree(tmp_path, h, False))
    assert info['protocol_lists'] == []
    m = _by_name(jobs)
    p1_test = {n for n, x in m.items() if x['oulu_protocol'].get('1')
               == 'test'}
    assert p1_test and all(n.split('_')[1] == '3' for n in p1_test)
    assert all(x['oulu_protocol'].get('1') is None for n, x in m.items()
               if x['split'] != 'test' and n.split('_')[1] == '3')
    p3 = {n for n, x in m.items() if x['oulu_protocol'].get('3_1') == 'test'}
    assert p3 == {n for n, x in m.items() if x['split'] == 'test'
                  and n.startswith('1_')}


def test_oulu_list_label_mismatch(tmp_path, h):
    src = _oulu_tree(tmp_path, h)
    h.touch(osp.join(src, 'Protocols', 'Protocol_2', 'Train.txt'),
            '-1,1_1_01_1\n')
    with pytest.raises(ValueError, match='1_1_01_1'):
        oulu.collect_jobs(src)


def test_oulu_convert_with_eye_positions(tmp_path, h, stub):
    src = tmp_path / 'OULU-NPU'
    h.tiny_video(str(src / 'Train_files' / '1_1_01_1.avi'), n=16)
    h.tiny_video(str(src / 'Test_files' / '3_3_40_4.avi'), n=16, face=False)
    # eyes of frames 6 and 14 (6 + 16 // 2) of the faceless video
    h.touch(str(src / 'Test_files' / '3_3_40_4.txt'),
            ''.join(f'{i}, 50, 40, 70, 40\n' for i in range(16)))
    jobs, _ = oulu.collect_jobs(str(src))
    out = str(tmp_path / 'out')
    s = run_conversion(jobs, str(src), out, 'OULU',
                       ConvertOptions(detector='haar', size=64),
                       progress=False)
    assert s['videos_converted'] == 2 and s['faces_detected'] == 2
    assert s['fallbacks'] == {'provided': 2}
    recs = load_annotations(osp.join(out, 'OULU', 'annotations',
                                     'all.jsonl'), data_root=out)
    assert [r['frame'] for r in recs] == [6, 14, 6, 14]
    assert recs[0]['rgb'] == 'OULU/frames/1_1_01_1/0006.jpg'
    assert {r['face_source'] for r in recs[2:]} == {'provided'}
    assert recs[2]['frame_total'] == 16 and recs[2]['phone'] == 3


# -------------------------------------------------------------------- CASIA
def test_casia(tmp_path, h, stub):
    src = tmp_path / 'CASIA_faceAntisp'
    names = [str(i) for i in range(1, 9)] + [f'HR_{i}' for i in range(1, 5)]
    for rel, subj in (('train_release', 1), ('train_release', 20),
                      ('test_release', 1)):
        for n in names:
            h.touch(str(src / rel / str(subj) / f'{n}.avi'))
    jobs, info = casia.collect_jobs(str(src))
    m = _by_name(jobs)
    assert len(jobs) == 36
    assert info['counts'] == {'train': {'live': 6, 'spoof': 18},
                              'test': {'live': 3, 'spoof': 9}}
    assert m['train_1_1']['label'] == 'live'
    assert m['train_1_HR_1']['quality'] == 'high' and m['train_1_HR_1']['hr']
    assert m['train_1_3']['attack_subtype'] == 'warped_photo'
    assert m['train_1_6']['attack_subtype'] == 'cut_photo'
    assert m['train_1_6']['attack_type'] == 'print'
    assert m['test_1_HR_4']['attack_type'] == 'replay'
    assert m['test_1_HR_4']['split'] == 'test'
    assert m['train_1_2']['subject_id'] == 'CASIA/train_1'
    assert m['test_1_2']['subject_id'] == 'CASIA/test_1'
    assert m['test_1_2']['video_id'] == 'CASIA/test_1_2'


def test_casia_quality_follows_the_release_codes():
    # the release: 1 normal, 2 low, HR_1 high (live), and likewise per
    # attack: 3 / 4 / HR_2, 5 / 6 / HR_3, 7 / 8 / HR_4
    expected = {}
    for normal, low, high in (('1', '2', 'HR_1'), ('3', '4', 'HR_2'),
                              ('5', '6', 'HR_3'), ('7', '8', 'HR_4')):
        expected.update({normal: 'normal', low: 'low', high: 'high'})
    got = {n: casia.parse_name(n)['quality'] for n in expected}
    assert got == expected
    assert casia.parse_name('hr_3')['quality'] == 'high'


def test_casia_cli(tmp_path, h):
    src = tmp_path / 'casia'
    h.tiny_video(str(src / 'train_release' / '1' / 'HR_1.avi'), n=10)
    h.tiny_video(str(src / 'test_release' / '2' / '7.avi'), n=10)
    out = tmp_path / 'out'
    s = casia.main([str(src), str(out), '--detector', 'haar', '--workers',
                    '1', '--no-progress', '--frames', '3', '--size', '48'])
    assert s['frames'] == 6 and s['videos_failed'] == 0
    recs = load_annotations(str(out / 'CASIA' / 'annotations' / 'all.jsonl'),
                            data_root=str(out))
    assert [r['frame'] for r in recs] == [0, 4, 9, 0, 4, 9]
    summary = json.load(open(out / 'CASIA' / 'summary.json'))
    assert summary['scan']['counts']['test'] == {'spoof': 1}
    assert summary['options']['sampling'] == 'even'
    # --limit after the full run converts one video and keeps the file whole
    ann = out / 'CASIA' / 'annotations' / 'all.jsonl'
    full = ann.read_bytes()
    s = casia.main([str(src), str(out), '--detector', 'haar', '--workers',
                    '1', '--no-progress', '--frames', '3', '--size', '48',
                    '--limit', '1'])
    assert s['videos'] == 1 and ann.read_bytes() == full
    with pytest.raises(ValueError, match='inside the source'):
        casia.main([str(src), str(src / 'o'), '--no-progress'])


def test_converter_cli_exits_nonzero_with_the_reason(tmp_path, h, capsys):
    src = tmp_path / 'casia'
    h.tiny_video(str(src / 'train_release' / '1' / '1.avi'), n=10)
    bad = src / 'test_release' / '2' / '7.avi'
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b'not a video at all' * 10)
    out = tmp_path / 'out'
    args = [str(src), str(out), '--detector', 'haar', '--workers', '1',
            '--no-progress', '--size', '32']
    with pytest.raises(ConversionError, match='1 of 2 videos failed') as e:
        casia.main(args)
    assert str(bad) in str(e.value)
    assert e.value.summary['videos_converted'] == 1  # the good one written
    assert len(load_annotations(str(out / 'CASIA' / 'annotations' /
                                     'all.jsonl'), str(out))) == 2
    capsys.readouterr()
    assert cli_entry(casia.main, args) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: CASIA: 1 of 2 videos failed') and \
        str(bad) in err
    # pointed at another dataset's folder: no video, the layout expected
    other = tmp_path / 'msu'
    h.touch(str(other / 'scene01' / 'real' /
                'real_client001_android_SD_scene01.mp4'))
    with pytest.raises(ConversionError, match='no videos found') as e:
        casia.main([str(other), str(tmp_path / 'o2'), '--no-progress'])
    assert 'train_release/<subject 1-20>' in str(e.value)
    # the tools script as a command: exit status 1, the reason on stderr
    r = subprocess.run([sys.executable, osp.join(REPO, 'tools',
                                                 'dataset_converters',
                                                 'casia.py'),
                        str(other), str(tmp_path / 'o2'), '--no-progress'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    assert 'error: CASIA: no videos found under' in r.stderr
    assert 'Traceback' not in r.stderr
    bad.unlink()
    assert cli_entry(casia.main, [str(src), str(tmp_path / 'o3'),
                                  '--detector', 'haar', '--workers', '1',
                                  '--no-progress']) == 0


def test_make_protocols_exits_nonzero_without_converted_data(tmp_path,
                                                            capsys):
    assert cli_entry(protocols_main, [str(tmp_path)]) == 1
    assert 'no converted dataset under' in capsys.readouterr().err


PARSERS = {
    'casia': casia.build_parser, 'celeba': celeba.build_parser,
    'cefa': cefa.build_parser, 'msu': msu.build_parser,
    'oulu': oulu.build_parser, 'replay': replay.build_parser,
    'surf': surf.build_parser, 'wmca': wmca.build_parser,
    'make_protocols': protocols_build_parser,
}


@pytest.mark.parametrize('name', sorted(PARSERS))
def test_every_cli_flag_has_help(name):
    parser = PARSERS[name]()
    bare = [a.dest for a in parser._actions
            if not (a.help and a.help.strip())]
    assert not bare, f'{name}: no help for {bare}'


# ------------------------------------------------------------------- REPLAY
def _replay_tree(tmp_path, h):
    src = tmp_path / 'replayattack'
    for s in ('train', 'devel', 'test'):
        c = {'train': 1, 'devel': 3, 'test': 2}[s]
        h.touch(str(src / s / 'real' /
                    f'client{c:03d}_session01_webcam_authenticate_adverse_1'
                    '.mov'))
        for sup in ('fixed', 'hand'):
            for a in ('print_client{c:03d}_session01_highdef_photo_adverse',
                      'mobile_client{c:03d}_session01_mobile_photo_adverse',
                      'highdef_client{c:03d}_session01_highdef_video_'
                      'controlled'):
                h.touch(str(src / s / 'attack' / sup /
                            f'attack_{a.format(c=c)}.mov'))
    h.touch(str(src / 'enroll' / 'train' /
                'client001_session01_webcam_enroll_controlled_1.mov'))
    return src


def test_replay(tmp_path, h):
    src = _replay_tree(tmp_path, h)
    jobs, info = replay.collect_jobs(str(src))
    m = _by_name(jobs)
    assert len(jobs) == 3 * 7
    assert info['counts']['dev'] == {'live': 1, 'spoof': 6}
    real = m['train_real_client001_session01_webcam_authenticate_adverse_1']
    assert real['label'] == 'live' and real['subject_id'] == \
        'REPLAY/client001'
    pr = m['test_attack_hand_attack_print_client002_session01_highdef_photo_'
           'adverse']
    assert (pr['attack_type'], pr['attack_subtype'], pr['attack_support'],
            pr['split']) == ('print', 'print_photo', 'hand', 'test')
    mob = m['devel_attack_fixed_attack_mobile_client003_session01_mobile_'
            'photo_adverse']
    assert mob['attack_type'] == 'replay' and mob['split'] == 'dev'
    assert mob['attack_subtype'] == 'mobile_photo'
    assert not any('enroll' in n for n in m)
    jobs, _ = replay.collect_jobs(str(src), include_enroll=True)
    enr = [j.meta for j in jobs if j.meta.get('replay_role') == 'enroll']
    assert len(enr) == 1 and enr[0]['label'] == 'live'


def test_replay_face_locations_feed_fallback(tmp_path, h, stub):
    src = tmp_path / 'replayattack'
    rel = 'train/real/client001_session01_webcam_authenticate_adverse_1'
    h.tiny_video(str(src / (rel + '.mov')), n=12, face=False)
    h.touch(str(src / 'test' / 'real' / 'x.txt'))
    h.touch(str(tmp_path / 'faceloc' / (rel + '.face')),
            ''.join(f'{i} 40 20 40 50\n' if i != 0 else '0 0 0 0 0\n'
                    for i in range(12)))
    jobs, info = replay.collect_jobs(str(src), str(tmp_path / 'faceloc'))
    assert info['videos_with_face_locations'] == 1
    assert jobs[0].provided_boxes[6] == [40.0, 20.0, 80.0, 70.0]
    assert 0 not in jobs[0].provided_boxes
    out = str(tmp_path / 'out')
    s = run_conversion(jobs, str(src), out, 'REPLAY',
                       ConvertOptions(detector=stub, size=50), progress=False)
    assert s['fallbacks'] == {'provided': 2} and s['faces_detected'] == 0
    rec = load_annotations(osp.join(out, 'REPLAY', 'annotations',
                                    'all.jsonl'), data_root=out)[0]
    # 40 x 50 box, crop side 1.3 * 50 = 65 -> box in a 50 px crop
    x1, y1, x2, y2 = rec['bbox']
    assert abs((x2 - x1) - 40 * 50 / 65) < 1 and abs((y2 - y1) - 50 * 50 /
                                                    65) < 1


# ---------------------------------------------------------------------- MSU
def test_msu(tmp_path, h, stub):
    src = tmp_path / 'MSU-MFSD'
    s = src / 'scene01'
    for c in (2, 1, 99):
        for dev, ext in (('android', 'mp4'), ('laptop', 'mov')):
            h.touch(str(s / 'real' / f'real_client{c:03d}_{dev}_SD_scene01.'
                        f'{ext}'))
            for a in ('ipad_video', 'iphone_video', 'printed_photo'):
                h.touch(str(s / 'attack' / f'attack_client{c:03d}_{dev}_SD_'
                            f'{a}_scene01.{ext}'))
    h.touch(str(src / 'train_sub_list.txt'), '002\n003\n')
    h.touch(str(src / 'test_sub_list.txt'), '001\n')
    jobs, info = msu.collect_jobs(str(src))
    m = _by_name(jobs)
    assert len(jobs) == 16 and len(info['unlisted_clients']) == 8
    assert info['split_source'] == 'lists'
    r = m['real_client002_android_SD_scene01']
    assert (r['label'], r['split'], r['subject_id'], r['device']) == (
        'live', 'train', 'MSU/client002', 'android')
    a = m['attack_client001_laptop_SD_printed_photo_scene01']
    assert (a['attack_type'], a['attack_subtype'], a['split']) == (
        'print', 'printed_photo', 'test')
    assert m['attack_client001_android_SD_ipad_video_scene01'][
        'attack_type'] == 'replay'
    assert all(j.rotate == 'auto' for j in jobs)
    # published split when the lists are missing
    (src / 'train_sub_list.txt').unlink()
    jobs, info = msu.collect_jobs(str(src), auto_orient=False,
                                  rotate={'real_client002_android_SD_'
                                          'scene01'})
    assert info['split_source'] == 'builtin'
    m = {j.name: j for j in jobs}
    assert m['real_client002_android_SD_scene01'].rotate == 180
    assert m['real_client002_laptop_SD_scene01'].rotate == 0


def test_msu_upside_down_video_is_rotated(tmp_path, h, stub):
    src = tmp_path / 'MSU-MFSD'
    up = [h.marker_frame(box=(50, 60, 80, 90)) for _ in range(12)]
    h.write_video(str(src / 'scene01' / 'real' /
                      'real_client002_android_SD_scene01.mp4'), up)
    ok = [h.marker_frame(box=(50, 6, 80, 36)) for _ in range(12)]
    h.write_video(str(src / 'scene01' / 'real' /
                      'real_client002_laptop_SD_scene01.mov'), ok)
    jobs, _ = msu.collect_jobs(str(src))
    out = str(tmp_path / 'out')
    s = run_conversion(jobs, str(src), out, 'MSU',
                       ConvertOptions(detector=stub, size=32),
                       progress=False)
    assert s['rotated_videos'] == ['real_client002_android_SD_scene01']
    assert s['faces_detected'] == 4 and not s['fallbacks']


def _gradient(h):
    """A faceless frame, dark at the top and bright at the bottom."""
    g = np.linspace(20, 230, h.H).astype(np.uint8)
    return np.repeat(np.repeat(g[:, None], h.W, 1)[..., None], 3, 2)


def test_msu_orientation_with_haar(tmp_path, h, caplog):
    """With the Haar cascade (the fallback when MTCNN is missing): a vote
    over more frames than the two sampled ones, the built-in list of the 6
    upside-down videos when the vote is undecided, and an undecided video
    named in the log and the summary."""
    src = tmp_path / 'MSU-MFSD'
    real = src / 'scene01' / 'real'
    stored = _gradient(h)
    down = np.ascontiguousarray(h.face_frame()[::-1, ::-1])
    n = 20
    videos = {
        # not listed, upside down; its FLIP frames (6, 16) show no face
        'real_client002_android_SD_scene01.mp4':
        [stored if i in (6, 16) else down for i in range(n)],
        # listed (client 3); Haar finds no face either way
        'real_client003_android_SD_scene01.mp4': [stored] * n,
        # neither: undecided, kept as stored, reported
        'real_client002_laptop_SD_scene01.mov': [stored] * n,
        'real_client003_laptop_SD_scene01.mov': [h.face_frame()] * n,
    }
    for name, frames in videos.items():
        h.write_video(str(real / name), frames)
    assert len(msu.UPSIDE_DOWN) == 6
    assert 'real_client003_android_SD_scene01' in msu.UPSIDE_DOWN
    jobs, _ = msu.collect_jobs(str(src))
    out = str(tmp_path / 'out')
    with caplog.at_level('WARNING', logger='mmfas.converters'):
        s = run_conversion(jobs, str(src), out, 'MSU',
                           ConvertOptions(detector='haar', size=48,
                                          neighbour_window=0),
                           progress=False)
    assert s['rotated_videos'] == ['real_client002_android_SD_scene01',
                                   'real_client003_android_SD_scene01']
    assert [o['video'] for o in s['orientation_undecided']] == [
        'real_client002_laptop_SD_scene01']
    assert 'real_client002_laptop_SD_scene01 undecided' in caplog.text
    assert 'undecided' in format_summary(s)
    recs = load_annotations(osp.join(out, 'MSU', 'annotations',
                                     'all.jsonl'), data_root=out)
    by = {}
    for r in recs:
        by.setdefault(r['video_id'][4:], []).append(r)

    def top_brighter(r):
        img = cv2.imread(osp.join(out, r['rgb'])).astype(float)
        return img[:6].mean() > img[-6:].mean() + 50

    # written upright: the stored dark top is at the bottom now
    for v in ('real_client002_android_SD_scene01',
              'real_client003_android_SD_scene01'):
        assert all(r['rotation'] == 180 and top_brighter(r) for r in by[v])
    assert not any(top_brighter(r) or 'rotation' in r
                   for r in by['real_client002_laptop_SD_scene01'])
    assert {r['face_source'] for r in
            by['real_client003_laptop_SD_scene01']} == {'detector'}
    # without the vote the list still turns the known videos
    jobs, _ = msu.collect_jobs(str(src), auto_orient=False)
    assert {j.name: j.rotate for j in jobs}[
        'real_client003_android_SD_scene01'] == 180
    jobs, _ = msu.collect_jobs(str(src), builtin_rotate=False)
    assert all(j.rotate_prior is None for j in jobs)


# ------------------------------------------------------------------- CELEBA
def test_celeba(tmp_path, h, stub):
    src = tmp_path / 'CelebA_Spoof'
    d = src / 'Data'
    blank = np.zeros((112, 112, 3), np.uint8)
    h.write_image(str(d / 'train' / '10' / 'live' / '000001.jpg'), blank)
    h.touch(str(d / 'train' / '10' / 'live' / '000001_BB.txt'),
            '56 56 112 112 0.99\n')
    h.write_image(str(d / 'train' / '10' / 'spoof' / '000002.png'), blank)
    h.write_image(str(d / 'train' / '10' / 'spoof' / '000003.png'), blank)
    h.write_image(str(d / 'test' / '11' / 'spoof' / '000004.png'), blank)
    vec = [0] * 44

    def v(t, lab):
        x = list(vec)
        x[40], x[41], x[42], x[43] = t, 1, 2, lab
        return x

    labels = {'Data/train/10/live/000001.jpg': v(0, 0),
              'Data/train/10/spoof/000002.png': v(8, 1),
              'Data/train/10/spoof/000003.png': v(10, 1)}
    h.touch(str(src / 'metas' / 'intra_test' / 'train_label.json'),
            json.dumps(labels))
    h.touch(str(src / 'metas' / 'intra_test' / 'test_label.json'),
            json.dumps({'Data/test/11/spoof/000004.png': v(3, 1)}))
    jobs, info = celeba.collect_jobs(str(src))
    m = _by_name(jobs)
    assert set(m) == {'train_10_live_000001', 'train_10_spoof_000002',
                      'train_10_spoof_000003', 'test_11_spoof_000004'}
    assert m['train_10_spoof_000002']['attack_type'] == 'replay'
    assert m['train_10_spoof_000002']['attack_subtype'] == 'pad'
    assert m['train_10_spoof_000003']['attack_type'] == 'mask'
    assert m['test_11_spoof_000004']['attack_subtype'] == 'a4'
    assert m['test_11_spoof_000004']['attack_type'] == 'print'
    assert m['train_10_live_000001']['subject_id'] == 'CELEBA/10'
    assert m['train_10_live_000001']['environment'] == 'outdoor'
    out = str(tmp_path / 'out')
    s = run_conversion([j for j in jobs if 'live' in j.name], str(src), out,
                       'CELEBA', ConvertOptions(detector=stub, size=32),
                       progress=False)
    rec = load_annotations(osp.join(out, 'CELEBA', 'annotations',
                                    'all.jsonl'), data_root=out)[0]
    # the 224-grid box 56..168 is 28..84 on the 112 px image: centred
    assert rec['face_source'] == 'provided' and rec['frame'] == 0
    x1, y1, x2, y2 = rec['bbox']
    assert abs((x1 + x2) / 2 - 16) < 1 and abs((x2 - x1) - 32 / 1.3) < 1
    assert s['fallbacks'] == {'provided': 1}
    # a label file that contradicts the folder drops the image
    labels['Data/train/10/live/000001.jpg'] = v(1, 1)
    h.touch(str(src / 'metas' / 'intra_test' / 'train_label.json'),
            json.dumps(labels))
    jobs, info = celeba.collect_jobs(str(src))
    assert len(jobs) == 3 and info['label_mismatch']


# --------------------------------------------------------------------- SURF
def _surf_capture(h, root, rel, n=3, ids=(1, 11, 21)):
    for i in ids[:n]:
        for m in ('color', 'depth', 'ir'):
            h.write_image(str(root / rel / m / f'{i}.jpg'),
                          np.full((24, 20, 3), 80, np.uint8))


def test_surf_video_lists_and_scan(tmp_path, h):
    src = tmp_path / 'CASIA_SURF'
    data = src / 'Data'
    caps = {'train': ['Training/real_part/CLKJ_AS0005/real.rssdk',
                      'Training/fake_part/CLKJ_AS0005/04_en_b.rssdk'],
            'dev': ['Val/real_part/CLKJ_BS0007/real.rssdk'],
            'test': ['Testing/fake_part/CLKJ_CS0110/02_en_f.rssdk']}
    for split, rels in caps.items():
        lines = []
        for rel in rels:
            _surf_capture(h, data, rel)
            lines.append(f"CASIA_SURF/Data/{rel}/color "
                         f"{0 if 'real_part' in rel else 1}")
        h.touch(str(src / 'protocol' / f'CASIA_SURF@p1_video_{split}.txt'),
                '\n'.join(lines) + '\n')
    jobs, info = surf.collect_jobs(str(src))
    assert info['list_style'] == 'video'
    m = {j.meta['video_id']: j for j in jobs}
    live = m['SURF/Data_Training_real_part_CLKJ_AS0005_real']
    assert live.meta['label'] == 'live' and live.meta['split'] == 'train'
    assert live.meta['subject_id'] == 'SURF/CLKJ_AS0005'
    fake = m['SURF/Data_Training_fake_part_CLKJ_AS0005_04_en_b']
    assert (fake.meta['attack_type'], fake.meta['capture']) == ('print',
                                                                '04_en_b')
    assert len(fake.source['frames']) == 3
    assert set(fake.source['frames'][0]) == {'rgb', 'depth', 'ir'}
    assert info['counts'] == {'train': {'live': 1, 'spoof': 1},
                              'dev': {'live': 1}, 'test': {'spoof': 1}}
    # scanning the folders gives the same captures and splits
    jobs2, info2 = surf.collect_jobs(str(src), 'scan')
    assert sorted((j.meta['video_id'], j.meta['split'], j.meta['label'])
                  for j in jobs2) == sorted(
        (j.meta['video_id'], j.meta['split'], j.meta['label']) for j in jobs)
    # a list whose label contradicts the path is an error
    h.touch(str(src / 'protocol' / 'CASIA_SURF@p1_video_dev.txt'),
            'CASIA_SURF/Data/Val/real_part/CLKJ_BS0007/real.rssdk/color 1\n')
    with pytest.raises(ValueError, match='label convention'):
        surf.collect_jobs(str(src))
    # end to end: paired modalities, full crop
    out = str(tmp_path / 'out')
    s = run_conversion(jobs, str(src), out, 'SURF',
                       ConvertOptions(crop='full', size=32, sampling='all'),
                       progress=False)
    recs = load_annotations(osp.join(out, 'SURF', 'annotations',
                                     'all.jsonl'), data_root=out)
    assert s['frames'] == 12 and s['faces_detected'] == 0
    assert not s['fallbacks']
    assert all(r['depth'].endswith('_depth.jpg') and r['ir'].endswith(
        '_ir.jpg') for r in recs)
    # frame numbers come from the file names (1.jpg, 11.jpg, 21.jpg)
    assert {r['frame'] for r in recs} == {1, 11, 21}
    assert ('SURF/frames/Data_Training_fake_part_CLKJ_AS0005_04_en_b/'
            '0001.jpg') in {r['rgb'] for r in recs}


def test_surf_challenge_lists(tmp_path, h):
    src = tmp_path / 'phase'
    _surf_capture(h, src, 'Training/real_part/CLKJ_AS0137/real.rssdk', 2)
    for i in range(2):
        for m in ('color', 'depth', 'ir'):
            h.write_image(str(src / 'Val' / '0003' / f'00000{i}-{m}.jpg'))
    tr = [f'Training/real_part/CLKJ_AS0137/real.rssdk/{m}/{i}.jpg'
          for i in (1, 11) for m in ('color', 'depth', 'ir')]
    h.touch(str(src / 'train_list.txt'),
            f'{tr[0]} {tr[1]} {tr[2]} 1\n{tr[3]} {tr[4]} {tr[5]} 1\n')
    h.touch(str(src / 'val_private_list.txt'), ''.join(
        f'Val/0003/00000{i}-color.jpg Val/0003/00000{i}-depth.jpg '
        f'Val/0003/00000{i}-ir.jpg 0\n' for i in range(2)))
    jobs, info = surf.collect_jobs(str(src))
    assert info['list_style'] == 'challenge'
    m = {j.name: j.meta for j in jobs}
    assert m['Training_real_part_CLKJ_AS0137_real']['label'] == 'live'
    v = m['Val_0003']
    assert (v['label'], v['split'], v['subject_id'], v['anonymised']) == (
        'spoof', 'dev', 'SURF/Val_0003', True)


# --------------------------------------------------------------------- CEFA
def test_cefa(tmp_path, h):
    src = tmp_path / 'CeFA'
    eth = src / 'CASIA_CeFA' / 'Ethnicity'
    caps = ['AF/AF-120/1_120_1_1_1', 'AF/AF-120/1_120_3_1_4',
            'AF/AF-223/1_223_1_1_2', 'EA/EA-350-198006250024/3_350_2_3_3']
    for c in caps:
        for m in ('color', 'depth', 'ir'):
            for i in (1, 2):
                h.write_image(str(eth / c / m / f'{i:04d}.jpg'))
    h.write_image(str(src / '3D-Mask' / '002' / '1_002_1_0_2_1_3' /
                      'color' / '0001.jpg'))
    h.touch(str(src / 'protocol' / 'CASIA_CeFA@p4.1_video_train.txt'),
            'CASIA_CeFA/Ethnicity/AF/AF-120/1_120_1_1_1/color 0\n'
            'CASIA_CeFA/Ethnicity/AF/AF-120/1_120_3_1_4/color 1\n')
    h.touch(str(src / 'protocol' / 'CASIA_CeFA@p4.1_video_dev.txt'),
            'CASIA_CeFA/Ethnicity/AF/AF-223/1_223_1_1_2/color 1\n')
    jobs, info = cefa.collect_jobs(str(src))
    m = _by_name(jobs)
    assert set(m) == {'1_120_1_1_1', '1_120_3_1_4', '1_223_1_1_2',
                      '3_350_2_3_3'}
    assert m['1_120_1_1_1']['label'] == 'live'
    assert m['1_120_1_1_1']['split'] == 'train'
    assert m['1_120_1_1_1']['cefa_protocol'] == {'4.1': 'train'}
    assert m['1_120_3_1_4']['attack_type'] == 'replay'
    assert m['1_223_1_1_2']['attack_subtype'] == 'cloth'
    assert m['1_223_1_1_2']['split'] == 'dev'
    assert m['1_223_1_1_2']['cefa_protocol'] == {'4.1': 'dev'}
    ea = m['3_350_2_3_3']
    assert (ea['split'], ea['race'], ea['subject_id'], ea['attack_type'],
            ea['attack_subtype']) == ('test', 'EA', 'CEFA/EA-350', 'print',
                                      'photo')
    assert 'cefa_protocol' not in ea
    jobs, _ = cefa.collect_jobs(str(src), include_masks=True)
    mask = _by_name(jobs)['1_002_1_0_2_1_3']
    assert (mask['attack_type'], mask['attack_subtype'], mask['split']) == (
        'mask', '3d_mask', 'test')
    h.touch(str(src / 'protocol' / 'CASIA_CeFA@p4.1_video_test.txt'),
            'CASIA_CeFA/Ethnicity/EA/EA-350/3_350_2_3_3/color 0\n')
    with pytest.raises(ValueError, match='PAI code'):
        cefa.collect_jobs(str(src))


# --------------------------------------------------------------------- WMCA
def test_wmca_frames_layout(tmp_path, h):
    src = tmp_path / 'WMCA'
    stems = ['005_03_000_0_01', '514_01_035_1_05', '100_02_010_2_03']
    for s in stems:
        for m in ('color', 'depth', 'ir'):
            h.write_image(str(src / 'extracted' / s / m / '0000.jpg'))
    h.touch(str(src / 'documentation' / 'bonafide_illustration_files.csv'),
            '01.02.18/005_03_000_0_01.hdf5\n')
    h.touch(str(src / 'documentation' / 'attack_illustration_files.csv'),
            '31.01.18/514_01_035_1_05.hdf5\n12.02.18/100_02_010_2_03.hdf5\n')
    h.touch(str(tmp_path / 'train.csv'), 'file\n005_03_000_0_01.hdf5\n')
    jobs, info = wmca.collect_jobs(str(src), dict(train=str(tmp_path /
                                                             'train.csv')),
                                   {'1': 'mask'})
    m = _by_name(jobs)
    assert info['layout'] == 'frames' and info['derived_splits'] == 2
    b = m['005_03_000_0_01']
    assert (b['label'], b['attack_type'], b['split'], b['split_source'],
            b['subject_id']) == ('live', 'none', 'train', 'lists',
                                 'WMCA/005')
    assert m['514_01_035_1_05']['attack_type'] == 'mask'
    assert m['100_02_010_2_03']['attack_type'] == 'other'
    assert m['100_02_010_2_03']['split_source'] == 'derived'
    assert m['100_02_010_2_03']['split'] == wmca.derived_split(100)
    assert (m['514_01_035_1_05']['type_id'], m['514_01_035_1_05']['pai_id']) \
        == (1, 5)


def test_wmca_hdf5_source_with_fake_h5py(tmp_path, h, monkeypatch):
    src = tmp_path / 'WMCA'
    rgb = src / 'WMCA' / 'preprocessed-face-station_RGB' / '31.01.18'
    cdit = src / 'WMCA' / 'preprocessed-face-station_CDIT' / '31.01.18'
    stem = '514_01_035_1_05'
    h.touch(str(rgb / f'{stem}.hdf5'))
    h.touch(str(cdit / f'{stem}.hdf5'))
    store = {}
    rgb_arr = np.zeros((3, 16, 16), np.uint8)
    rgb_arr[0] = 200  # red
    cd = np.zeros((4, 16, 16), np.uint16)
    cd[1], cd[2] = 1000, 30
    store[str(rgb / f'{stem}.hdf5')] = {f'Frame_{k}': {'array': rgb_arr}
                                         for k in (0, 5, 10)}
    store[str(cdit / f'{stem}.hdf5')] = {f'Frame_{k}': {'array': cd}
                                          for k in (0, 5, 10)}
    monkeypatch.setitem(sys.modules, 'h5py', types.SimpleNamespace(
        File=lambda path, mode='r': store[str(path)]))
    jobs, info = wmca.collect_jobs(str(src))
    assert info['layout'] == 'hdf5' and len(jobs) == 1
    assert jobs[0].meta['label'] == 'spoof'  # type id 1, no CSVs
    srcobj = wmca.WMCAHdf5Source(**jobs[0].source['kwargs'])
    assert srcobj.count() == 3 and srcobj.frame_number(2) == 10
    fr = srcobj.read([1])[1]
    assert fr['rgb'][0, 0].tolist() == [0, 0, 200]  # BGR
    assert fr['depth'].shape == (16, 16, 3) and fr['depth'].max() == 255
    assert fr['ir'].max() == 30
    out = str(tmp_path / 'out')
    s = run_conversion(jobs, str(src), out, 'WMCA',
                       ConvertOptions(crop='full', size=16, sampling='all'),
                       progress=False)
    assert s['frames'] == 3 and s['videos_failed'] == 0
    monkeypatch.setitem(sys.modules, 'h5py', None)
    with pytest.raises(ImportError, match='pip install h5py'):
        wmca.WMCAHdf5Source(str(rgb / f'{stem}.hdf5')).count()
