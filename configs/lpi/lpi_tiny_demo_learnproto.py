# LPI ablation: learnable prototypes instead of EMA class means.
_base_ = ['./lpi_tiny_demo.py']

model = dict(prototype_loss=dict(prototypes='learnable'))
