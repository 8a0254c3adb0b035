"""Models: gradient-boosted trees and logistic regression trained with scikit-learn and answered by
ofi's compiled inference; LightGBM / XGBoost imports; safe model files; labels and leakage-proof
validation. See docs/models.md and docs/validation.md."""
from ofi.models import labels, validation
from ofi.models.base import CompiledModel, ModelCard
from ofi.models.gbm import GradientBoostingModel
from ofi.models.io import load_model, save_model
from ofi.models.labels import *  # noqa: F401,F403
from ofi.models.logistic import LogisticModel
from ofi.models.validation import *  # noqa: F401,F403

__all__ = ["GradientBoostingModel", "LogisticModel", "ModelCard", "CompiledModel", "load_model", "save_model",
           *labels.__all__, *validation.__all__]
