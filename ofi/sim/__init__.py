"""Simulated markets that emit genuine Bybit V5 websocket frames (for tests, demos and benchmarks)."""
from ofi.sim.market import PUSH_INTERVAL_MS, SimFrame, SimulatedMarket

__all__ = ["PUSH_INTERVAL_MS", "SimFrame", "SimulatedMarket"]
