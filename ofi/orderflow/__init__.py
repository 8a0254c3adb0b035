"""Order-flow measures: OFI (best level, multi-level, integrated), VPIN, Kyle's lambda and related
impact and spread estimators, a composite toxicity index, and the rolling statistics under them.

Every measure has a streaming class (fed one book state or trade at a time) and a batch function
over numpy arrays; both run the same compiled kernel and give identical numbers.
"""
from ofi.orderflow.ofi import (
    ImpactFit,
    IntervalOFI,
    MultiLevelOFI,
    OrderFlowCalculator,
    integrated_ofi,
    integration_weights,
    ofi_events,
    ofi_intervals,
    ofi_window_sum,
    price_impact,
)
from ofi.orderflow.toxicity import (
    COMPONENTS as TOXICITY_COMPONENTS,
    MarkoutTracker,
    ToxicityFit,
    ToxicityIndex,
    fit_toxicity_weights,
    markouts,
    realized_spread,
    toxicity_index,
)
from ofi.orderflow.vpin import VpinCalculator, VpinResult, vpin_cdf, vpin_series

__all__ = [
    "OrderFlowCalculator",
    "MultiLevelOFI",
    "IntervalOFI",
    "ImpactFit",
    "ofi_events",
    "ofi_intervals",
    "ofi_window_sum",
    "price_impact",
    "integration_weights",
    "integrated_ofi",
    "VpinCalculator",
    "VpinResult",
    "vpin_series",
    "vpin_cdf",
    "ToxicityIndex",
    "ToxicityFit",
    "TOXICITY_COMPONENTS",
    "toxicity_index",
    "fit_toxicity_weights",
    "markouts",
    "realized_spread",
    "MarkoutTracker",
]
