# LPI with FLIP-style light fine-tuning: the whole CLIP trains too, at 1/100
# of the prompts' lr (on ViT-B/16 FLIP's 1e-6 against 2e-3 would be
# lr_mult=5e-4). Checkpoints then hold the whole model.
_base_ = ['./lpi_tiny_demo.py']

model = dict(backbone=dict(freeze='none'))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.01)}))
