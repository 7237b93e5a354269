import sys
import types

import numpy as np
import pytest

from mmfas.datasets.converters import face_detectors as fd


def test_haar_detects_face_and_nothing_on_blank(h):
    det = fd.HaarFaceDetector()
    img = h.face_frame(160, 120, s=30, cx=70, cy=60)
    boxes = det.detect(img)
    assert boxes, 'Haar missed the drawn face'
    b = boxes[0]
    cx, cy = (b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2
    assert abs(cx - 70) < 10 and abs(cy - 60) < 12
    assert det.detect(np.full((120, 160, 3), 60, np.uint8)) == []
    assert det.config()['name'] == 'haar'


def test_haar_missing_cascade_message():
    with pytest.raises(FileNotFoundError, match='opencv-python<5'):
        fd.HaarFaceDetector('no_such_cascade.xml')


def test_build_detector_names():
    assert isinstance(fd.build_detector('haar'), fd.HaarFaceDetector)
    assert fd.build_detector('none').detect(np.zeros((8, 8, 3), np.uint8)) \
        == []
    auto = fd.build_detector('auto')
    expected = 'mtcnn' if fd.mtcnn_available() else 'haar'
    assert auto.name == expected
    assert isinstance(fd.build_detector(dict(type='haar', min_neighbors=3)),
                      fd.HaarFaceDetector)
    obj = fd.NoFaceDetector()
    assert fd.build_detector(obj) is obj
    with pytest.raises(ValueError, match='unknown face detector'):
        fd.build_detector('retina')


def test_mtcnn_missing_gives_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, 'facenet_pytorch', None)
    assert not fd.mtcnn_available()
    with pytest.raises(ImportError, match='--no-deps facenet-pytorch==2.6.0'):
        fd.MTCNNFaceDetector()
    # auto falls back to Haar
    assert fd.build_detector('auto').name == 'haar'


def test_mtcnn_adapter_with_fake_module(monkeypatch):
    calls = {}

    class FakeMTCNN:

        def __init__(self, **kw):
            calls['init'] = kw

        def detect(self, rgb):
            calls['shape'] = rgb.shape
            return (np.array([[10., 10., 50., 60.], [0., 0., 5., 5.],
                              [20., 20., 90., 90.]]),
                    np.array([0.95, 0.5, 0.99]))

    monkeypatch.setitem(sys.modules, 'facenet_pytorch',
                        types.SimpleNamespace(MTCNN=FakeMTCNN))
    det = fd.MTCNNFaceDetector(max_side=100)
    boxes = det.detect(np.zeros((100, 200, 3), np.uint8))
    # frame shrunk to 100 px wide (factor 0.5), boxes scaled back up,
    # the 0.5-score box dropped, best score first
    assert calls['shape'] == (50, 100, 3)
    assert [round(b.score, 2) for b in boxes] == [0.99, 0.95]
    assert boxes[0].as_list() == [40.0, 40.0, 180.0, 180.0]
    assert calls['init']['keep_all'] is True


def test_mmdet_adapter_lazy_import_and_fake(monkeypatch):
    monkeypatch.setitem(sys.modules, 'mmdet.apis', None)
    with pytest.raises(ImportError, match='full mmcv'):
        fd.MMDetFaceDetector('cfg.py', 'ckpt.pth')
    with pytest.raises(ValueError, match='mmdet-config'):
        fd.MMDetFaceDetector('', '')

    import torch

    def init_detector(cfg, ckpt, device='cpu'):
        return 'model'

    def inference_detector(model, img):
        inst = types.SimpleNamespace(
            bboxes=torch.tensor([[1., 2., 30., 40.], [5., 5., 9., 9.],
                                 [2., 2., 60., 60.]]),
            scores=torch.tensor([0.9, 0.95, 0.3]),
            labels=torch.tensor([0, 1, 0]))
        return types.SimpleNamespace(pred_instances=inst)

    monkeypatch.setitem(
        sys.modules, 'mmdet.apis',
        types.SimpleNamespace(init_detector=init_detector,
                              inference_detector=inference_detector))
    det = fd.build_detector('mmdet', config='c.py', checkpoint='k.pth')
    boxes = det.detect(np.zeros((64, 64, 3), np.uint8))
    # label 1 is not a face, 0.3 is under the threshold
    assert [b.as_list() for b in boxes] == [[1.0, 2.0, 30.0, 40.0]]
