from decimal import Decimal
from typing import Any, Iterable

import numpy as np

TAPE_DTYPE: np.dtype
TAPE_KIND_BOOK: int
TAPE_KIND_TRADE: int
TAPE_FLAG_SNAPSHOT: int
TAPE_FLAG_BEGIN: int
TAPE_FLAG_END: int
TAPE_FLAG_BLOCK: int
TAPE_FLAG_RPI: int

def unsupported_topic_message(topic: str) -> str: ...

class FrameDecoder:
    tick_size: Decimal
    def __init__(self, tick_size: Any) -> None: ...
    @property
    def tick_float(self) -> float: ...
    def decode(self, raw: str | bytes) -> tuple: ...
    def parse_level(self, price: str, size: str) -> tuple[int, float]: ...  # (int64_t ticks, double size)
    def to_tape(self, frames: Iterable[Any], *, symbol: str | None = ...) -> np.ndarray: ...
