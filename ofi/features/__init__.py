"""Microstructure features: 75 documented features in one compiled pass, identical live and in batch.

``FeatureEngine`` is fed book messages and trades and returns a feature vector after any event;
``transform`` (or ``FeatureEngine.transform``) does the same over a whole tape. Every feature's
definition, unit and warm-up is in the registry (``feature_specs``) and docs/features.md.
"""
from ofi.features import indicators
from ofi.features.config import FEATURE_SET_VERSION, FeatureConfig
from ofi.features.engine import FeatureEngine, FeatureFrame, FeatureVector, transform
from ofi.features.registry import FAMILIES, FeatureSpec, feature_names, feature_specs

__all__ = ["FeatureEngine", "FeatureConfig", "FeatureVector", "FeatureFrame", "FeatureSpec", "transform",
           "feature_names", "feature_specs", "FAMILIES", "FEATURE_SET_VERSION", "indicators"]
