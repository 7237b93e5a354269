"""mmfas.structures.score_rule: the one class order, liveness score and
decision rule."""
import math

import pytest
import torch
from mmpretrain.structures import DataSample

from mmfas.structures import score_rule as R


def test_class_order_and_aliases():
    assert R.CLASSES == ('spoof', 'live')
    assert (R.SPOOF_INDEX, R.LIVE_INDEX) == (0, 1)
    for name, canon in (('real', 'live'), ('Bonafide', 'live'),
                        ('attack', 'spoof'), ('LIVE', 'live')):
        assert R.canonical_class(name) == canon
    assert R.check_class_order(['attack', 'real']) == ['spoof', 'live']
    with pytest.raises(ValueError, match='class order'):
        R.check_class_order(['real', 'spoof'])
    with pytest.raises(ValueError, match="unknown FAS class name 'print'"):
        R.check_class_order(['print', 'live'])
    with pytest.raises(ValueError, match='class order'):
        R.check_class_order(['spoof'])


def test_logits_kind_is_softmax_live_column():
    logits = torch.tensor([[2.0, -1.0], [0.0, 3.0], [1.0, 1.0]])
    got = R.live_score(logits, 'logits')
    assert torch.allclose(got, logits.softmax(1)[:, 1])
    with pytest.raises(ValueError, match=r'\(B, 2\) logits'):
        R.live_score(torch.zeros(2, 3), 'logits')


def test_spoof_map_kind():
    maps = torch.zeros(2, 1, 4, 4)
    maps[1, :, :2] = 1.0  # upper half covered
    got = R.live_score(maps, 'spoof_map')
    assert got.tolist() == [1.0, 0.5]
    # an already averaged spoofness
    assert R.live_score(torch.tensor([0.25]), 'spoof_map').tolist() == [0.75]
    with pytest.raises(ValueError, match=r'in \[0, 1\].*1/255'):
        R.live_score(maps * 255, 'spoof_map')


def test_distance_kind_is_monotone():
    d = torch.tensor([0.0, 0.5, 2.0])
    got = R.live_score(d, 'distance')
    assert torch.allclose(got, torch.exp(-d))
    assert bool((got[:-1] > got[1:]).all())
    assert torch.allclose(R.live_score(d, 'distance', scale=2.0),
                          torch.exp(-d / 2))
    with pytest.raises(ValueError, match='>= 0'):
        R.live_score(torch.tensor([-0.1]), 'distance')
    with pytest.raises(ValueError, match='score kind'):
        R.live_score(d, 'softmax')


def test_decision_rule():
    s = torch.tensor([0.2, 0.5, 0.7], dtype=torch.float64)
    assert R.decide(s).tolist() == [0, 1, 1]  # default 0.5, live at 0.5
    assert R.decide(s, 0.7).tolist() == [0, 0, 1]  # >=, not >
    assert R.decide(s, 0.0).tolist() == [1, 1, 1]
    assert R.is_live(0.7, 0.7) and not R.is_live(0.69, 0.7)
    with pytest.raises(ValueError, match='NaN'):
        R.decide(s, float('nan'))
    assert R.check_threshold(1) == 1.0
    for bad in (1.5, -0.1, float('nan'), True, '0.5'):
        with pytest.raises(ValueError, match=r'\[0, 1\]'):
            R.check_threshold(bad)
    assert R.class_name(1) == 'live' and R.class_name(torch.tensor([0])) \
        == 'spoof'


def test_set_and_read_prediction():
    sample = R.set_prediction(DataSample(), torch.tensor(0.625), 0.7)
    assert sample.live_score.item() == 0.625
    assert sample.pred_score.tolist() == [0.375, 0.625]
    # the threshold decides, not the argmax
    assert sample.pred_label.tolist() == [0]
    assert R.read_live_score(sample) == 0.625
    assert R.read_live_score(sample.to_dict()) == 0.625
    d = sample.to_dict()
    d['pred_score'] = d['pred_score'].flip(0)
    with pytest.raises(ValueError, match=r'\[1 - s, s\]'):
        R.read_live_score(d)
    with pytest.raises(ValueError, match='no `live_score`'):
        R.read_live_score(DataSample().set_pred_score(
            torch.tensor([0.3, 0.7])))
    nan = R.set_prediction(DataSample(), float('nan'))
    assert math.isnan(R.read_live_score(nan))


def test_decision_compares_in_float64():
    # a float32 score just below a float64 threshold that rounds to it in
    # float32: the metric (float64) rejects it, so must the rule
    s = torch.tensor([0.9689013957977295], dtype=torch.float32)
    thr = 0.9689014256000519
    assert float(s) < thr
    assert int(R.decide(s, thr)) == R.SPOOF_INDEX
