# Baseline "CoOp prompts + plain adapter" on the demo RGB -> IR task, as a
# CM-CLIP config with its parts switched off: one shared learnable context
# "[ctx] {class} face." and its CE (CoOp), no modality prompts, shuffle,
# decorrelation or conditional token, plain bottleneck adapters (no CDC
# conv) in the frozen demo CLIP. Same data, shots, schedule and demo CLIP as
# cmclip_tiny_demo_rgb2ir.py.
_base_ = ['./cmclip_tiny_demo_rgb2ir.py']

model = dict(
    levels=('category', ),
    decorrelation=None,
    conditional=False,
    backbone=dict(adapters=dict(vision=dict(conv=None))))
