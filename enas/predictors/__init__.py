"""Performance predictors: zero-cost proxies, a learned surrogate, and rank combinations."""
from .zero_cost import PROXIES, ZeroCostScorer, feature_blocks, proxy_batches

__all__ = ["PROXIES", "ZeroCostScorer", "feature_blocks", "proxy_batches"]
