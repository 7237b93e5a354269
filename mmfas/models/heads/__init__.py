from .flip_head import FLIPVHead, SimCLRProjector

__all__ = ['FLIPVHead', 'SimCLRProjector']
