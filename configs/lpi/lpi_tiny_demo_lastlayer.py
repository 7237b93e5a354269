# LPI ablation: the towers interact at the last layer only (before the last
# block; 11 of 12 -> 1 of the tiny CLIP's 2), the CLIP-like single meeting
# the paper argues against.
_base_ = ['./lpi_tiny_demo.py']

model = dict(interaction_layers=(11, ))
