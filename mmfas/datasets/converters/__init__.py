"""Raw FAS datasets -> face crops + annotation files, and protocol lists.

One module per dataset (``oulu``, ``casia``, ``replay``, ``msu``, ``celeba``,
``surf``, ``cefa``, ``wmca``), each with ``collect_jobs(src, ...)`` (labels,
attack types, subjects and splits from the raw layout) and ``main(argv)``
(the CLI in ``tools/dataset_converters/<dataset>.py``); ``common`` samples,
detects, crops and writes; ``face_detectors`` holds the pluggable detectors;
``protocols`` writes the protocol lists. See ``docs/data_preparation.md``.

Importing this package is cheap: nothing heavy (torch, facenet-pytorch,
mmdet, h5py) is imported until used.
"""
from .common import ConvertOptions, VideoJob, run_conversion, sample_indices
from .face_detectors import (FaceBox, HaarFaceDetector, MMDetFaceDetector,
                             MTCNNFaceDetector, NoFaceDetector,
                             build_detector)

CONVERTERS = {
    'oulu': 'OULU', 'casia': 'CASIA', 'replay': 'REPLAY', 'msu': 'MSU',
    'celeba': 'CELEBA', 'surf': 'SURF', 'cefa': 'CEFA', 'wmca': 'WMCA'
}

__all__ = [
    'ConvertOptions', 'VideoJob', 'run_conversion', 'sample_indices',
    'FaceBox', 'HaarFaceDetector', 'MMDetFaceDetector', 'MTCNNFaceDetector',
    'NoFaceDetector', 'build_detector', 'CONVERTERS'
]
