import numpy as np

from ofi._core.book import OrderBook

TOB_DTYPE: np.dtype

def replay_tape_into(book: OrderBook, tape: np.ndarray, skip_gaps: bool = ...) -> np.ndarray: ...
