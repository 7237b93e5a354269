from .clip import OpenCLIPBackbone, TowerState

__all__ = ['OpenCLIPBackbone', 'TowerState']
