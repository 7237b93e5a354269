# LPI ablation: no vision -> text guidance (no cross-attention): the text
# stays shared by the images (MaPLe-style coupled deep prompts + the
# prototype loss).
_base_ = ['./lpi_tiny_demo.py']

model = dict(guidance=None)
