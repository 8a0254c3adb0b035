"""Strategy: signals from features and a model (``SignalGenerator``), and position keeping,
sizing and risk exits (``PositionManager``). Rules and boundaries: docs/strategy.md."""
from ofi.strategy.position import SIZING_MODES, Position, PositionConfig, PositionManager
from ofi.strategy.signals import CLOSE_RULES, Signal, SignalConfig, SignalGenerator, SignalResult

__all__ = ["Signal", "SignalConfig", "SignalResult", "SignalGenerator", "CLOSE_RULES",
           "Position", "PositionConfig", "PositionManager", "SIZING_MODES"]
