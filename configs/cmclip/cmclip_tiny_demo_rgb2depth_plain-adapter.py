# Ablation of cmclip_tiny_demo_rgb2depth.py: plain bottleneck adapters
# (Linear -> QuickGELU -> Dropout -> Linear) instead of ADC-Adapters (no
# conv on the patch grid).
_base_ = ['./cmclip_tiny_demo_rgb2depth.py']

model = dict(backbone=dict(adapters=dict(vision=dict(conv=None))))
