"""mmfas.visualization.faces: the demos' annotated images and map
overlays."""
import numpy as np
import pytest

from mmfas.visualization import (LIVE_COLOR, SPOOF_COLOR, draw_faces,
                                 map_overlay)


def test_boxes_are_coloured_by_the_decision():
    img = np.full((100, 200, 3), 128, np.uint8)
    faces = [dict(bbox=[10, 30, 60, 90], live_score=0.8, pred_label='live'),
             dict(bbox=[120, 30, 180, 90], live_score=0.2,
                  pred_label='spoof', track_id=3)]
    out = draw_faces(img, faces, min_side=400)
    assert (img == 128).all()  # the input is not drawn on
    s = 4  # enlarged so that the shorter side is 400
    assert out.shape == (400, 800, 3)
    # the box edges (bottom-left corner region, away from the caption)
    assert tuple(out[90 * s, 30 * s]) == LIVE_COLOR
    assert tuple(out[90 * s, 150 * s]) == SPOOF_COLOR
    assert tuple(out[60 * s, 10 * s]) == LIVE_COLOR
    # inside the boxes the image is untouched
    assert tuple(out[75 * s, 35 * s]) == (128, 128, 128)
    # without enlarging, and a header / "no face" line
    same = draw_faces(img, faces, min_side=0)
    assert (img == 128).all()  # not even at the original size
    assert same.shape == img.shape
    assert tuple(same[90, 30]) == LIVE_COLOR
    none = draw_faces(img, [], min_side=0, header='threshold 0.5')
    assert (none[:10] != 128).any() and (none[-10:] == 128).all()
    with pytest.raises(ValueError, match='BGR'):
        draw_faces(np.zeros((4, 4, 1), np.uint8), [])


def test_map_overlay_panels():
    crop = np.full((224, 224, 3), 200, np.uint8)
    fmap = np.zeros((32, 32), np.float32)
    fmap[:, 16:] = 1.0  # spoof cue on the right half
    out = map_overlay(crop, fmap, size=128)
    assert out.shape == (128 + 40, 3 * 128, 3)
    panel = out[40:]
    assert (panel[:, :128] == 200).all()  # the crop itself
    heat = panel[:, 256:]
    # JET: 0 is blue, 1 is red (BGR)
    left, right = heat[64, 10], heat[64, 118]
    assert left[0] > 100 and left[2] < 50
    assert right[2] > 100 and right[0] < 50
    # the overlay mixes crop and map
    mid = panel[64, 128 + 10].astype(int)
    assert (mid != 200).any() and (mid != left).any()
    with pytest.raises(ValueError, match=r'\(h, w\)'):
        map_overlay(crop, np.zeros((1, 32, 32)))
    with pytest.raises(ValueError, match='non-finite'):
        map_overlay(crop, np.full((8, 8), np.nan))
