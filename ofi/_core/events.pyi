from typing import Any

import numpy as np

TAPE_DTYPE: np.dtype
TAPE_KIND_BOOK: int
TAPE_KIND_TRADE: int
TAPE_FLAG_SNAPSHOT: int
TAPE_FLAG_BEGIN: int
TAPE_FLAG_END: int
TAPE_FLAG_BLOCK: int
TAPE_FLAG_RPI: int

class Trade:
    symbol: str
    price: float  # double
    size: float  # double
    side: int  # int: +1 taker buy, -1 taker sell
    ts_exch: int  # int64_t ns
    trade_id: str
    price_ticks: int  # int64_t
    seq: int  # int64_t, -1 when absent
    block_trade: bool
    rpi: bool
    ts_local: int  # int64_t ns
    def __init__(self, symbol: str, price: float, size: float, side: int, ts_exch: int, trade_id: str,
                 price_ticks: int, seq: int = ..., block_trade: bool = ..., rpi: bool = ...,
                 ts_local: int = ...) -> None: ...
    @property
    def is_buy(self) -> bool: ...
    @property
    def signed_size(self) -> float: ...
    @staticmethod
    def from_frame(raw: str | bytes, tick_size: Any, ts_local: int = ...) -> list[Trade]: ...
