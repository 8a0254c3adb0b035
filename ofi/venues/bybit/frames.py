"""Typed views of decoded Bybit V5 frames: trades, book messages, control replies.

The hot path never builds these (``OrderBook.apply_frame`` reads the decoder's C arrays); they are
for inspection, tests and trade handling.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from ofi._core.decoder import default_decoder
from ofi._core.events import Trade
from ofi.errors import InvalidInputError

__all__ = ["Trade", "BookFrame", "TradeFrame", "ControlFrame", "decode_frame", "Frame"]

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
    out = default_decoder(tick_size, shared=True).decode(raw, ts_local)
    kind = out[0]
    if kind == "book":
        _, topic, symbol, snapshot, u, seq, ts_exch, cts, bt, bs, at, as_ = out
        return BookFrame(topic, symbol, bool(snapshot), u, seq, ts_exch, cts if cts >= 0 else 0, bt, bs, at, as_)
    if kind == "trade":
        _, topic, ts_exch, trades = out
        return TradeFrame(topic, ts_exch, trades)
    obj = out[1]
    if not isinstance(obj, dict):
        raise InvalidInputError("control frame must be a JSON object")
    return ControlFrame(obj.get("op"), obj.get("success"), obj.get("ret_msg"), obj.get("conn_id"),
                        obj.get("req_id"), obj.get("args"), obj.get("data"))
