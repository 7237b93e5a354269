# LPI ablation: other interaction layers, here the first only (layer 0: the
# text context and its projection, MaPLe's layer-0 coupling, plus guidance
# on the embedded patches). On ViT-B/16 try e.g.
#   --cfg-options "model.interaction_layers=(2,5,8)"
_base_ = ['./lpi_tiny_demo.py']

model = dict(interaction_layers=(0, ))
