from .flip_head import FLIPVHead, SimCLRProjector
from .slip_head import SLIPDecoder, SLIPFusion

__all__ = ['FLIPVHead', 'SimCLRProjector', 'SLIPDecoder', 'SLIPFusion']
