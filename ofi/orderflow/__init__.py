"""Order-flow measures: OFI (best level, multi-level, integrated), VPIN, Kyle's lambda and related
impact and spread estimators, a composite toxicity index, and the rolling statistics under them.

Every measure has a streaming class (fed one book state or trade at a time) and a batch function
over numpy arrays; both run the same compiled kernel and give identical numbers. The names below
are each submodule's ``__all__``; docs/orderflow.md lists them by measure.
"""
from ofi.orderflow import impact, ofi, rolling, toxicity, vpin
from ofi.orderflow.impact import *  # noqa: F401,F403
from ofi.orderflow.ofi import *  # noqa: F401,F403
from ofi.orderflow.rolling import *  # noqa: F401,F403
from ofi.orderflow.toxicity import *  # noqa: F401,F403
from ofi.orderflow.toxicity import COMPONENTS as TOXICITY_COMPONENTS
from ofi.orderflow.vpin import *  # noqa: F401,F403

__all__ = [*ofi.__all__, *vpin.__all__, *impact.__all__, *toxicity.__all__, *rolling.__all__,
           "TOXICITY_COMPONENTS"]
