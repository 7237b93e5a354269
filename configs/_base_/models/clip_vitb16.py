# CLIP ViT-B/16 (OpenAI weights need the QuickGELU architecture).
# `pretrained`: an open_clip tag ('openai' downloads once, needs internet) or
# a local file: OpenAI's ViT-B-16.pt (TorchScript), an open_clip state dict,
# a .safetensors file or 'local-dir:<dir>'. Offline machines pass e.g.
#   --cfg-options model.backbone.pretrained=/models/ViT-B-16.pt
clip_backbone = dict(
    type='OpenCLIPBackbone',
    arch='ViT-B-16-quickgelu',
    pretrained='openai',
    freeze='none')
