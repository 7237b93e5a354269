import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mmfas.datasets.annotation import load_annotations
from mmfas.datasets.converters.common import (
    ConversionError, ConvertOptions, VideoJob, VideoSource, box_in_region,
    check_dirs, crop_region, eyes_to_box, format_summary, paired_frames,
    process_job, run_conversion, sample_indices, warp_square)


def test_sample_indices():
    assert sample_indices(100) == [6, 56]           # FLIP: 6 and 6 + N/2
    assert sample_indices(101) == [6, 56]
    assert sample_indices(5) == [4]                  # both clip to the end
    assert sample_indices(1) == [0]
    assert sample_indices(0) == []
    assert sample_indices(100, 'even', 5) == [0, 25, 50, 74, 99]
    assert sample_indices(3, 'even', 5) == [0, 1, 2]
    assert sample_indices(9, 'even', 1) == [4]
    assert sample_indices(4, 'all') == [0, 1, 2, 3]
    with pytest.raises(ValueError):
        sample_indices(4, 'random')


def test_options_validation():
    with pytest.raises(ValueError, match='fallback'):
        ConvertOptions(fallbacks=('centre', 'magic'))
    with pytest.raises(ValueError, match='crop'):
        ConvertOptions(crop='tight')
    with pytest.raises(ValueError, match='detector'):
        ConvertOptions(detector='retina').fingerprint()
    a = ConvertOptions(detector='haar').fingerprint()
    b = ConvertOptions(detector='haar', size=224).fingerprint()
    assert a != b and a['detector']['type'] == 'haar'


def test_crop_geometry():
    img = np.zeros((100, 200, 3), np.uint8)
    img[20:60, 50:90] = 255  # a 40 x 40 white "face"
    region = crop_region([50, 20, 90, 60], 2.0)
    assert region == (70.0, 40.0, 80.0)
    out = warp_square(img, region, 80)
    # scale 1: the face sits in the middle 40 x 40 of the 80 x 80 crop
    assert out[40, 40].min() == 255 and out[5, 5].max() == 0
    assert out[21:59, 21:59].min() == 255
    assert box_in_region([50, 20, 90, 60], region, 80) == [20, 20, 60, 60]
    # outside the frame is black padding
    corner = warp_square(img, (0.0, 0.0, 50.0), 50)
    assert corner[:20, :20].max() == 0
    # a modality at another resolution is cropped at the same place
    small = cv2.resize(img, (100, 50), interpolation=cv2.INTER_NEAREST)
    out2 = warp_square(small, region, 80, ref_wh=(200, 100))
    assert out2[40, 40].min() == 255 and out2[5, 5].max() == 0
    box = eyes_to_box((40, 50), (60, 50))
    assert box[0] < 40 and box[2] > 60 and box[1] < 50 < box[3]


def test_video_source_reads_exact_frames(tmp_path, h):
    for ext in ('.avi', '.mov', '.mp4'):
        frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(12)]
        path = h.write_video(str(tmp_path / f'v{ext}'), frames)
        src = VideoSource(path)
        assert src.count() == 12
        got = src.read([0, 5, 11, 40])
        assert sorted(got) == [0, 5, 11]
        for i, fr in got.items():
            assert abs(float(fr['rgb'].mean()) - 20 * i) < 6, (ext, i)


def _job(path, name='v1', **kw):
    meta = dict(label='live', attack_type='none', video_id=f'X/{name}',
                subject_id='X/s1', domain='X', split='train')
    return VideoJob(name=name, meta=meta,
                    source=dict(type='video', path=path), src_path=path,
                    **kw)


def _marker_video(h, path, n, face_at):
    box = (50, 10, 80, 40)
    frames = [h.marker_frame(box=box if face_at(i) else None)
              for i in range(n)]
    return h.write_video(path, frames)


def test_no_face_policies(tmp_path, h, stub):
    out = str(tmp_path / 'out')
    # faces everywhere except frame 6 (a FLIP frame of a 20-frame video)
    path = _marker_video(h, str(tmp_path / 'a.avi'), 20, lambda i: i != 6)
    opts = ConvertOptions(detector=stub, size=64)
    r = process_job(_job(path), stub, opts, out, 'X')
    assert r['status'] == 'done'
    src = {rec['frame']: rec['face_source'] for rec in r['records']}
    assert src == {6: 'neighbour', 16: 'detector'}
    assert r['no_face'] == [dict(frame=6, resolved='neighbour')]
    # the box is in crop pixels: face centred, 64 / 1.3 wide
    bbox = r['records'][0]['bbox']
    assert abs((bbox[0] + bbox[2]) / 2 - 32) < 1.5
    assert abs((bbox[2] - bbox[0]) - 64 / 1.3) < 1.5
    # without neighbours: the other sampled frame's box
    opts = ConvertOptions(detector=stub, size=64, neighbour_window=0)
    r = process_job(_job(path), stub, opts, out, 'X')
    assert r['records'][0]['face_source'] == 'video'
    # provided boxes come first in the default chain
    r = process_job(_job(path, provided_boxes={6: [0, 0, 20, 20]}), stub,
                    ConvertOptions(detector=stub), out, 'X')
    assert r['records'][0]['face_source'] == 'provided'
    # no face anywhere: centre crop, no bbox; or skip -> failure
    path = _marker_video(h, str(tmp_path / 'b.avi'), 20, lambda i: False)
    r = process_job(_job(path, 'v2'), stub,
                    ConvertOptions(detector=stub, size=32), out, 'X')
    assert [x['face_source'] for x in r['records']] == ['centre', 'centre']
    assert all('bbox' not in x for x in r['records'])
    img = cv2.imread(osp.join(out, r['records'][0]['rgb']))
    assert img.shape == (32, 32, 3)
    r = process_job(_job(path, 'v3'), stub,
                    ConvertOptions(detector=stub, fallbacks=('skip', )),
                    out, 'X')
    assert r['status'] == 'failed' and 'skipped' in r['error']
    assert not osp.exists(osp.join(out, 'X', 'frames', 'v3'))


def test_auto_orient_rotates_upside_down_video(tmp_path, h, stub):
    # the "face" sits in the lower half: only found after a 180 deg turn
    frames = [h.marker_frame(box=(40, 60, 70, 90)) for _ in range(10)]
    path = h.write_video(str(tmp_path / 'up.avi'), frames)
    out = str(tmp_path / 'out')
    opts = ConvertOptions(detector=stub, crop='none')
    r = process_job(_job(path, rotate='auto'), stub, opts, out, 'X')
    assert r['rotated'] and r['records'][0]['rotation'] == 180
    assert r['records'][0]['face_source'] == 'detector'
    x1, y1, x2, y2 = r['records'][0]['bbox']
    assert y2 <= h.H / 2 + 1  # upright now
    upright = [h.marker_frame(box=(40, 6, 70, 36)) for _ in range(10)]
    path = h.write_video(str(tmp_path / 'ok.avi'), upright)
    r = process_job(_job(path, 'v2', rotate='auto'), stub, opts, out, 'X')
    assert not r['rotated'] and 'rotation' not in r['records'][0]


def _tree(tmp_path, h, n=3):
    src = tmp_path / 'raw'
    jobs = []
    for i in range(n):
        p = h.tiny_video(str(src / f'v{i}.avi'), n=10)
        jobs.append(_job(p, f'v{i}'))
    return str(src), jobs


def test_run_resume_idempotent_and_summary(tmp_path, h, stub):
    src, jobs = _tree(tmp_path, h)
    bad = tmp_path / 'raw' / 'broken.avi'
    bad.write_bytes(b'not a video at all' * 10)
    jobs.append(_job(str(bad), 'broken'))
    out = str(tmp_path / 'out')
    opts = ConvertOptions(detector='haar', size=64)
    s1 = run_conversion(jobs, src, out, 'X', opts, progress=False)
    ann = osp.join(out, 'X', 'annotations', 'all.jsonl')
    first = open(ann, 'rb').read()
    assert s1['videos'] == 4 and s1['videos_converted'] == 3
    assert s1['videos_failed'] == 1
    assert s1['failures'][0]['path'] == str(bad)
    assert s1['frames'] == 6 and s1['faces_detected'] == 6
    summary = json.load(open(osp.join(out, 'X', 'summary.json')))
    assert summary['videos_failed'] == 1
    recs = load_annotations(ann, data_root=out)
    assert [r['frame'] for r in recs] == [6, 9] * 3  # 6, 6 + 10 // 2 -> 9
    assert all(r['rgb'].startswith('X/frames/v') for r in recs)
    # re-run: everything resumed, identical annotation file
    s2 = run_conversion(jobs, src, out, 'X', opts, progress=False)
    assert s2['videos_resumed'] == 3 and s2['videos_converted'] == 0
    assert open(ann, 'rb').read() == first
    # a missing image makes that video redo; other options redo all
    os.remove(osp.join(out, recs[0]['rgb']))
    s3 = run_conversion(jobs, src, out, 'X', opts, progress=False)
    assert s3['videos_converted'] == 1 and s3['videos_resumed'] == 2
    assert open(ann, 'rb').read() == first
    # changed metadata (e.g. official lists added): records rebuilt from
    # the markers without decoding again
    for j in jobs:
        j.meta['split'] = 'test'
        j.meta['extra_field'] = {'a': 1}
    s3b = run_conversion(jobs, src, out, 'X', opts, progress=False)
    assert s3b['videos_resumed'] == 3
    recs2 = load_annotations(ann, data_root=out)
    assert {r['split'] for r in recs2} == {'test'}
    assert recs2[0]['extra_field'] == {'a': 1}
    assert [r['bbox'] for r in recs2] == [r['bbox'] for r in recs]
    s4 = run_conversion(jobs, src, out, 'X',
                        ConvertOptions(detector='haar', size=48),
                        progress=False)
    assert s4['videos_converted'] == 3
    assert cv2.imread(osp.join(out, recs[0]['rgb'])).shape == (48, 48, 3)


def test_parallel_matches_serial(tmp_path, h):
    src, jobs = _tree(tmp_path, h, n=4)
    opts = ConvertOptions(detector='haar', size=64)
    run_conversion(jobs, src, str(tmp_path / 'o1'), 'X', opts,
                   progress=False)
    s = run_conversion(jobs, src, str(tmp_path / 'o2'), 'X', opts,
                       workers=2, progress=False)
    assert s['videos_converted'] == 4 and s['faces_detected'] == 8
    a = open(tmp_path / 'o1' / 'X' / 'annotations' / 'all.jsonl').read()
    b = open(tmp_path / 'o2' / 'X' / 'annotations' / 'all.jsonl').read()
    assert a == b


def test_refuses_output_inside_source(tmp_path, h):
    src, jobs = _tree(tmp_path, h, n=1)
    with pytest.raises(ValueError, match='inside the source'):
        run_conversion(jobs, src, osp.join(src, 'converted'), 'X',
                       progress=False)
    with pytest.raises(ValueError, match='inside the source'):
        check_dirs(src, src, 'X')
    inner = tmp_path / 'out' / 'X' / 'raw'
    inner.mkdir(parents=True)
    with pytest.raises(ValueError, match='rewrites'):
        check_dirs(str(inner), str(tmp_path / 'out'), 'X')
    assert not osp.exists(osp.join(src, 'converted'))


def test_multimodal_images_full_crop(tmp_path, h):
    vdir = tmp_path / 'raw' / 'cap'
    for i in (3, 1, 2):
        h.write_image(str(vdir / 'color' / f'{i}.jpg'),
                      np.full((40, 30, 3), 100, np.uint8))
        h.write_image(str(vdir / 'depth' / f'{i}.jpg'),
                      np.full((40, 30), 50, np.uint8))
    h.write_image(str(vdir / 'ir' / '1.jpg'), np.full((40, 30), 9, np.uint8))
    frames = paired_frames(str(vdir))
    assert [osp.basename(f['rgb']) for f in frames] == ['1.jpg', '2.jpg',
                                                       '3.jpg']
    assert set(frames[0]) == {'rgb', 'depth', 'ir'}
    assert set(frames[1]) == {'rgb', 'depth'}
    job = VideoJob(name='cap', meta=dict(label='spoof', attack_type='print',
                                         video_id='X/cap', subject_id='X/s',
                                         domain='X', split='dev'),
                   source=dict(type='images', frames=frames))
    out = str(tmp_path / 'out')
    r = process_job(job, None, ConvertOptions(crop='full', size=32,
                                              sampling='all'), out, 'X')
    assert r['status'] == 'done'
    assert [x['frame'] for x in r['records']] == [1, 2, 3]
    rec = r['records'][0]
    assert rec['face_source'] == 'full' and 'bbox' not in rec
    assert rec['depth'] == 'X/frames/cap/0001_depth.jpg'
    assert rec['ir'] == 'X/frames/cap/0001_ir.jpg'
    img = cv2.imread(osp.join(out, rec['rgb']))
    # 30 x 40 padded to a centred 40 x 40 square, resized to 32
    assert img.shape == (32, 32, 3) and img[16, 0].max() < 10
    assert abs(int(img[16, 16, 0]) - 100) < 5


# ------------------------------------------------- issue 11: data preparation
def test_truncated_video_is_flagged(tmp_path, h, stub):
    frames = [h.marker_frame(box=(50, 10, 80, 40)) for _ in range(20)]
    full = h.write_video(str(tmp_path / 'full.avi'), frames)
    data = open(full, 'rb').read()
    # cut the file before its 7th frame chunk (MJPG AVI: '00dc' chunks after
    # 'movi'); the header still says 20 frames
    movi = data.index(b'movi')
    chunks = [i for i in range(movi, len(data)) if data[i:i + 4] == b'00dc']
    cut = tmp_path / 'raw' / 'cut.avi'
    cut.parent.mkdir()
    cut.write_bytes(data[:chunks[6]])
    src = VideoSource(str(cut))
    assert src.count() == 20 and src.truncation() is None  # not known yet
    out = str(tmp_path / 'out')
    opts = ConvertOptions(detector=stub, size=32)
    s = run_conversion([_job(str(cut), 'cut')], str(tmp_path / 'raw'), out,
                       'X', opts, progress=False)
    assert s['videos_converted'] == 1
    (t, ) = s['truncated_videos']
    assert t['video'] == 'cut' and t['path'] == str(cut)
    assert (t['header_frames'], t['decodable_frames']) == (20, 6)
    assert any('truncated' in w for w in s['warnings'])
    assert 'is truncated: its header says 20 frames' in format_summary(s)
    # sampled on the decodable part; the flag survives a resume
    recs = load_annotations(osp.join(out, 'X', 'annotations', 'all.jsonl'),
                            data_root=out)
    assert all(r['frame_total'] == t['decodable_frames'] for r in recs)
    s2 = run_conversion([_job(str(cut), 'cut')], str(tmp_path / 'raw'), out,
                        'X', opts, progress=False)
    assert s2['videos_resumed'] == 1
    assert s2['truncated_videos'] == s['truncated_videos']
    # an intact video is not flagged
    src = VideoSource(full)
    src.read(list(range(25)))
    assert src.truncation() is None


def test_fallback_counts_and_warning(tmp_path, h, stub, caplog):
    raw = tmp_path / 'raw'
    # face on every frame but 6 (a FLIP frame of 20): 1 detector + 1
    # neighbour; no face at all: 2 centre crops
    a = _marker_video(h, str(raw / 'a.avi'), 20, lambda i: i != 6)
    b = _marker_video(h, str(raw / 'b.avi'), 20, lambda i: False)
    out = str(tmp_path / 'out')
    opts = ConvertOptions(detector=stub, size=32)
    with caplog.at_level('WARNING', logger='mmfas.converters'):
        s = run_conversion([_job(a, 'a'), _job(b, 'b')], str(raw), out, 'X',
                           opts, progress=False)
    assert s['face_sources'] == {'detector': 1, 'neighbour': 1, 'centre': 2}
    (w, ) = s['warnings']
    assert 'fallbacks dominate' in w and 'detector 1, neighbour 1, centre 2' \
        in w
    assert 'fallbacks dominate' in caplog.text
    text = format_summary(s)
    assert 'frames cropped by: detector 1, neighbour 1, centre 2' in text
    assert 'WARNING' in text
    saved = json.load(open(osp.join(out, 'X', 'summary.json')))
    assert saved['face_sources'] == s['face_sources'] and saved['warnings']
    # detections on most frames: counts, no warning
    s = run_conversion([_job(a, 'a')], str(raw), str(tmp_path / 'o2'), 'X',
                       opts, progress=False)
    assert s['face_sources'] == {'detector': 1, 'neighbour': 1}
    assert s['warnings'] == []


def test_limit_and_shrink_never_drop_finished_videos(tmp_path, h):
    src, jobs = _tree(tmp_path, h, n=3)
    out = str(tmp_path / 'out')
    ann = osp.join(out, 'X', 'annotations', 'all.jsonl')
    opts = ConvertOptions(detector='haar', size=32)
    # a first quick look converts and lists only the first video
    s = run_conversion(jobs, src, out, 'X', opts, progress=False, limit=1)
    assert s['videos'] == 1
    assert {r['video_id'] for r in load_annotations(ann, out)} == {'X/v0'}
    run_conversion(jobs, src, out, 'X', opts, progress=False)
    full = open(ann, 'rb').read()
    assert len(load_annotations(ann, out)) == 6
    # --limit after the full run: the finished videos stay listed
    s = run_conversion(jobs, src, out, 'X', opts, progress=False, limit=1)
    assert s['videos'] == 1 and s['videos_listed_outside_limit'] == 2
    assert open(ann, 'rb').read() == full
    # a source video gone: refused, the file unchanged, the reason given
    with pytest.raises(ConversionError, match='refusing to shrink') as e:
        run_conversion(jobs[:2], src, out, 'X', opts, progress=False)
    assert 'X/v2' in str(e.value) and '--allow-shrink' in str(e.value)
    assert open(ann, 'rb').read() == full
    summary = json.load(open(osp.join(out, 'X', 'summary.json')))
    assert summary['would_drop_videos'] == ['X/v2']
    # ... unless asked for
    run_conversion(jobs[:2], src, out, 'X', opts, progress=False,
                   allow_shrink=True)
    assert len(load_annotations(ann, out)) == 4
    with pytest.raises(ConversionError, match='no videos'):
        run_conversion([], src, out, 'X', opts, progress=False)


def test_orientation_vote_uses_more_than_the_sampled_frames(tmp_path, h,
                                                           stub):
    # upside down ("face" in the lower half, found only after a 180 degree
    # turn), but the two FLIP frames (6, 16) show no face either way
    def frame(i):
        return h.marker_frame(box=None if i in (6, 16) else (40, 60, 70, 90))

    path = h.write_video(str(tmp_path / 'up.avi'),
                         [frame(i) for i in range(20)])
    out = str(tmp_path / 'out')
    opts = ConvertOptions(detector=stub, size=32, neighbour_window=0)
    r = process_job(_job(path, rotate='auto'), stub, opts, out, 'X')
    assert r['rotated'] and r['records'][0]['rotation'] == 180
    o = r['orientation']
    assert (o['decided_by'], o['upside_down'], o['upright']) == (
        'detector', 3, 0)
    # no face in any frame: undecided, left as stored, said so
    blank = h.write_video(str(tmp_path / 'blank.avi'),
                          [h.marker_frame() for _ in range(20)])
    r = process_job(_job(blank, 'b', rotate='auto'), stub, opts, out, 'X')
    assert not r['rotated'] and r['orientation']['decided_by'] == \
        'undecided' and r['orientation']['frames'] == 10
    # ... unless the video's orientation is known
    r = process_job(_job(blank, 'c', rotate='auto', rotate_prior=180), stub,
                    opts, out, 'X')
    assert r['rotated'] and r['orientation']['decided_by'] == 'prior'
    # a vote against the known orientation: the known one, flagged
    upright = h.write_video(str(tmp_path / 'ok.avi'), [
        h.marker_frame(box=(40, 6, 70, 36)) for _ in range(20)])
    r = process_job(_job(upright, 'd', rotate='auto', rotate_prior=180),
                    stub, opts, out, 'X')
    assert r['rotated'] and r['orientation']['conflict']
    assert r['orientation']['upright'] == 3


def test_orientation_change_redoes_the_video(tmp_path, h, stub):
    src, jobs = _tree(tmp_path, h, n=1)
    out = str(tmp_path / 'out')
    opts = ConvertOptions(detector=stub, size=32)
    run_conversion(jobs, src, out, 'X', opts, progress=False)
    jobs[0].rotate = 180  # e.g. named in --rotate-list now
    s = run_conversion(jobs, src, out, 'X', opts, progress=False)
    assert s['videos_converted'] == 1 and s['rotated_videos'] == ['v0']
    s = run_conversion(jobs, src, out, 'X', opts, progress=False)
    assert s['videos_resumed'] == 1 and s['rotated_videos'] == ['v0']
    # a marker of the previous version (no orient_key) is still reused for
    # a video with a fixed rotation, not for an orientation vote
    marker = osp.join(out, 'X', 'frames', 'v0', '.complete.json')
    done = json.load(open(marker))
    done.pop('orient_key')
    json.dump(done, open(marker, 'w'))
    s = run_conversion(jobs, src, out, 'X', opts, progress=False)
    assert s['videos_resumed'] == 1
    jobs[0].rotate = 'auto'
    s = run_conversion(jobs, src, out, 'X', opts, progress=False)
    assert s['videos_converted'] == 1 and s['rotated_videos'] == []
