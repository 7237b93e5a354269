# Ablation of cmclip_tiny_demo_rgb2depth.py: no decorrelation loss between
# the content (category) and modality prompt features.
_base_ = ['./cmclip_tiny_demo_rgb2depth.py']

model = dict(decorrelation=None)
