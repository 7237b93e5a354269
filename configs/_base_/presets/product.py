# PRODUCT preset: ISO/IEC 30107-3 style reporting for a liveness product
# (docs/user_guides/evaluation.md): APCER per PAI species and its maximum,
# BPCER and ACER at the threshold; BPCER at APCER 1 / 5 / 10 % and APCER at
# BPCER 1 / 5 / 15 % (iBeta levels ask APCER 0-1 % at BPCER <= 15 %); 95 %
# bootstrap intervals (1000 stratified resamples of the test videos, seed 0)
# for HTER, AUC, APCER, BPCER; the expected calibration error of the
# liveness score; a warning for every rate reported at an operating point
# finer than the test set resolves (FASMetric iso, mmfas/evaluation/iso.py).
#
# mmengine refuses a key that two bases both set, and every complete config
# sets test_evaluator, so the preset is a variable a config applies:
#   _base_ = ['./flip-it_vitb16_oci2m.py', '../_base_/presets/product.py']
#   test_evaluator = dict(iso=_base_.iso_report)
# (or, for one run: tools/test.py ... --cfg-options test_evaluator.iso=True)
iso_report = dict(
    bootstrap=1000,
    seed=0,
    ci=0.95,
    ece_bins=15,
    bpcer_at_apcer=(0.01, 0.05, 0.10),
    apcer_at_bpcer=(0.01, 0.05, 0.15))
