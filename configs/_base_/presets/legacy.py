# LEGACY preset: what FLIP's reference code computes and its published
# tables report (docs/evaluation.md, "What legacy reproduces"):
#   * the reference's video sets: every video of each dataset except OULU Dev
#     and Replay devel / enroll, two frames per video (the ``*_legacy_*``
#     protocol lists of tools/dataset_converters/make_protocols.py, which the
#     legacy dataset bases name);
#   * ImageNet's mean / std, although CLIP was trained with its own;
#   * the HTER threshold at the EER of the target test scores themselves
#     (``test_eer``): not an honest estimate, logged as LEGACY.
# Every ``configs/_base_/datasets/*_legacy.py`` inherits this file; no method
# config repeats it. The clean counterparts inherit fas_protocol.py directly.
_base_ = ['../datasets/fas_protocol.py']

data_preprocessor = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
test_evaluator = dict(threshold_policy='test_eer')
