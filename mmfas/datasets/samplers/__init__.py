from .balanced import DomainClassBalancedSampler

__all__ = ['DomainClassBalancedSampler']
