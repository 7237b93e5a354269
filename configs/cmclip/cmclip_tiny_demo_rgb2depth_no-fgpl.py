# Ablation of cmclip_tiny_demo_rgb2depth.py: no FGPL levels. Only the
# category prompts "[content ctx] {class} face." and their CE remain (no
# modality context, modality / mixed prompts or shuffle); the decorrelation
# loss, defined between content and modality prompts, goes with them. The
# conditional token and the ADC-Adapters stay.
_base_ = ['./cmclip_tiny_demo_rgb2depth.py']

model = dict(levels=('category', ), decorrelation=None)
