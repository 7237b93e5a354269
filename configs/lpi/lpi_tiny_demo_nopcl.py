# LPI ablation: no prototypical contrastive loss (cross-entropy only).
_base_ = ['./lpi_tiny_demo.py']

model = dict(prototype_loss=None)
