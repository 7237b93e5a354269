# SLIP on CLIP ViT-B/32, the official code's backbone (7 x 7 patch grid: the
# decoder's first transposed conv is the official k6 s2 p1, 7 -> 16).
_base_ = ['./slip_vitb16.py']

model = dict(backbone=dict(arch='ViT-B-32-quickgelu'))
