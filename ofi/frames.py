"""Typed views of decoded Bybit V5 frames: trades, book messages, control replies.

The hot path never builds these (``OrderBook.apply_frame`` reads the decoder's C arrays); they are
for inspection, tests and trade handling.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Union

import numpy as np

from ofi._core.decode import FrameDecoder
from ofi.errors import InvalidInputError

__all__ = ["Trade", "BookFrame", "TradeFrame", "ControlFrame", "decode_frame", "Frame"]

BUY = 1
SELL = -1


@dataclass(frozen=True, slots=True)
class Trade:
    """One public trade.

    Attributes
    ----------
    symbol : str
    price : float
        Equal to ``float(p)`` of the exchange's decimal string.
    size : float
        Base units (contracts in USD for inverse contracts).
    side : int
        Taker side: +1 buy, -1 sell (Bybit ``S``).
    ts_exch : int
        Match time in ns since the epoch (Bybit ``T`` ms * 1e6).
    trade_id : str
        Bybit ``i`` (UUID on derivatives, numeric string on spot).
    price_ticks : int
        Price in integer ticks of the instrument's tick size.
    seq : int
        Cross sequence shared by the fills of one taker order; -1 when absent.
    block_trade, rpi : bool
        Bybit ``BT`` and ``RPI`` flags.
    ts_local : int
        Local receive time in ns (0 if unknown).
    """

    symbol: str
    price: float
    size: float
    side: int
    ts_exch: int
    trade_id: str
    price_ticks: int
    seq: int = -1
    block_trade: bool = False
    rpi: bool = False
    ts_local: int = 0

    @property
    def is_buy(self) -> bool:
        """True when the taker bought (lifted the ask)."""
        return self.side > 0

    @property
    def signed_size(self) -> float:
        """size with the taker's sign (+ buy, - sell)."""
        return self.size * self.side

    @staticmethod
    def from_frame(raw: str | bytes, tick_size: Any, ts_local: int = 0) -> list["Trade"]:
        """Decode the trades of one ``publicTrade.*`` frame.

        Raises
        ------
        InvalidInputError
            Malformed frame, price off the tick grid, or not a publicTrade frame.
        """
        frame = decode_frame(raw, tick_size, ts_local=ts_local)
        if not isinstance(frame, TradeFrame):
            raise InvalidInputError(f"Trade.from_frame takes publicTrade frames, got {type(frame).__name__}")
        return frame.trades


@dataclass(frozen=True, slots=True)
class BookFrame:
    """A decoded ``orderbook.*`` frame: levels in frame order, prices in ticks, sizes absolute."""

    topic: str
    symbol: str
    snapshot: bool
    update_id: int
    seq: int
    ts_exch: int
    cts: int
    bid_ticks: np.ndarray
    bid_sizes: np.ndarray
    ask_ticks: np.ndarray
    ask_sizes: np.ndarray


@dataclass(frozen=True, slots=True)
class TradeFrame:
    topic: str
    ts_exch: int
    trades: list


@dataclass(frozen=True, slots=True)
class ControlFrame:
    """A subscribe/unsubscribe reply or a pong (any of Bybit's shapes)."""

    op: str | None
    success: bool | None
    ret_msg: str | None
    conn_id: str | None
    req_id: str | None
    args: list | None
    data: Any

    @property
    def is_pong(self) -> bool:
        return self.ret_msg == "pong" or self.op == "pong"


Frame = Union[BookFrame, TradeFrame, ControlFrame]


@lru_cache(maxsize=64)
def _decoder(tick_size: str) -> FrameDecoder:
    return FrameDecoder(tick_size)


def _tick_key(tick_size: Any) -> str:
    if isinstance(tick_size, float):
        return repr(tick_size)
    if isinstance(tick_size, (str, Decimal, int)) and not isinstance(tick_size, bool):
        return str(tick_size)
    raise InvalidInputError(f"tick_size must be a str, float or Decimal, got {tick_size!r}")


def decode_frame(raw: str | bytes, tick_size: Any, *, ts_local: int = 0) -> Frame:
    """Decode one raw Bybit V5 public websocket frame.

    Parameters
    ----------
    raw : str or bytes
        The frame as received.
    tick_size : str, float or Decimal
        Tick size of the instrument; prices become integer ticks of it.
    ts_local : int
        Local receive time (ns) stamped on decoded trades.

    Returns
    -------
    BookFrame, TradeFrame or ControlFrame

    Raises
    ------
    InvalidInputError
        Malformed JSON, a price off the tick grid, a missing required field, or a topic the
        decoder does not support (tickers, kline, liquidations: the message names it).
    """
    out = _decoder(_tick_key(tick_size)).decode(raw)
    kind = out[0]
    if kind == "book":
        _, topic, symbol, snapshot, u, seq, ts_ms, cts_ms, bt, bs, at, as_ = out
        return BookFrame(topic, symbol, bool(snapshot or u == 1), u, seq, ts_ms * 1_000_000,
                         cts_ms * 1_000_000 if cts_ms >= 0 else 0, bt, bs, at, as_)
    if kind == "trade":
        _, topic, ts_ms, rows = out
        trades = [
            Trade(sym, price, size, side, t_ms * 1_000_000, tid, ticks, seq, bt, rpi, ts_local)
            for (sym, price, size, side, t_ms, tid, ticks, seq, bt, rpi) in rows
        ]
        return TradeFrame(topic, ts_ms * 1_000_000, trades)
    obj = out[1]
    if not isinstance(obj, dict):
        raise InvalidInputError("control frame must be a JSON object")
    return ControlFrame(obj.get("op"), obj.get("success"), obj.get("ret_msg"), obj.get("conn_id"),
                        obj.get("req_id"), obj.get("args"), obj.get("data"))
