"""Compatibility path of the typed frame views: they live in :mod:`ofi.venues.bybit.frames`."""
from ofi.venues.bybit.frames import BookFrame, ControlFrame, Frame, Trade, TradeFrame, decode_frame

__all__ = ["Trade", "BookFrame", "TradeFrame", "ControlFrame", "decode_frame", "Frame"]
