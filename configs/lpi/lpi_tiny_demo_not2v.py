# LPI ablation: no text -> vision prompts (the vision tower gets no prompt
# tokens; the text prompts are still guided by the patches).
_base_ = ['./lpi_tiny_demo.py']

model = dict(text_to_vision=None)
