# SLIP on OULU-NPU, leave-one-attack-out (one-class): trained on the live
# faces of protocol 1's Train list (as slip_vitb16_oulu_p1_oneclass.py; a
# one-class model never sees an attack, so every attack is held out), tested
# on protocol 1's Test list with its live faces and the replay attacks only
# (FASDataset attack_types filter; the threshold still comes from the live
# Dev faces at 5 % BPCER). The other held-out attack:
# slip_vitb16_oulu_p1_oneclass_loao_print.py.
_base_ = ['./slip_vitb16_oulu_p1_oneclass.py']

test_dataloader = dict(dataset=dict(attack_types=['replay']))
