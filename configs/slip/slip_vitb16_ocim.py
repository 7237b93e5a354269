# The design card's SLIP config: SLIP on CLIP ViT-B/16, OCIM leave-one-out
# with live-only sources, target OULU-NPU (ICM->O, the clean protocol lists:
# sources' live frames for training, their live dev frames for the 5 % BPCER
# threshold, every OULU-NPU test video for testing).
#   python tools/train.py configs/slip/slip_vitb16_ocim.py --test
#   bash tools/dist_train.sh configs/slip/slip_vitb16_ocim.py 8 --amp --test
# The other three targets are the generated siblings
# slip_vitb16_{oci2m,omi2c,ocm2i}_oneclass.py; configs/slip/README.md runs
# the four as one sweep. The official ViT-B/32 backbone: slip_vitb32_*.py.
_base_ = ['./slip_vitb16_icm2o_oneclass.py']
