"""ofi: order-flow analytics and intraday trading on Bybit.

The order book, replay loop and order-flow kernels are compiled (``ofi._core``, venue-neutral), and
so is Bybit's frame decoder (``ofi.venues.bybit._decode``); everything else is plain Python around
them. Prices inside the core are int64 ticks, sizes float64, times int64 ns.
"""
from ofi._core.book import OrderBook
from ofi._core.decoder import set_default_decoder
from ofi.errors import (
    AuthenticationError,
    BookIntegrityError,
    ExchangeError,
    InvalidInputError,
    OfiError,
    RateLimitError,
    SequenceGapError,
)
from ofi.features import FeatureConfig, FeatureEngine
from ofi.venues.bybit.frames import BookFrame, ControlFrame, Trade, TradeFrame, decode_frame
from ofi.models import GradientBoostingModel, LogisticModel
from ofi.strategy import Signal, SignalConfig, SignalGenerator
from ofi.backtest import BacktestConfig, BacktestEngine
from ofi.orderflow import KyleLambda, OrderFlowCalculator, ToxicityIndex, VpinCalculator
from ofi.spec import InstrumentSpec
from ofi.venues.bybit._decode import BybitDecoder

# The core is venue-neutral; frames decoded without a named decoder (OrderBook(symbol, tick_size),
# frames_to_tape, decode_frame, Trade.from_frame) are Bybit V5 frames.
set_default_decoder(BybitDecoder)

from ofi._version import __version__

__all__ = [
    "OrderBook",
    "Trade",
    "OrderFlowCalculator",
    "VpinCalculator",
    "KyleLambda",
    "ToxicityIndex",
    "FeatureEngine",
    "FeatureConfig",
    "GradientBoostingModel",
    "LogisticModel",
    "SignalGenerator",
    "SignalConfig",
    "Signal",
    "BacktestEngine",
    "BacktestConfig",
    "InstrumentSpec",
    "decode_frame",
    "BookFrame",
    "TradeFrame",
    "ControlFrame",
    "OfiError",
    "InvalidInputError",
    "BookIntegrityError",
    "SequenceGapError",
    "ExchangeError",
    "RateLimitError",
    "AuthenticationError",
    "__version__",
]
