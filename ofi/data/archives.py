"""Historical data: Bybit's public daily archives and Tardis-style CSV, loaded into the tape.

Four file formats become tapes (``ofi.data.tape.TAPE_DTYPE``):

=====================================  =======================================================
Bybit trades ``{SYM}{date}.csv.gz``    :func:`load_bybit_trades` / :func:`iter_bybit_trades`
Bybit order book ``*_ob200.data.zip``  :func:`load_bybit_orderbook` / :func:`iter_bybit_orderbook`
Tardis ``incremental_book_L2`` CSV     :func:`load_tardis_book` / :func:`iter_tardis_book`
Tardis ``trades`` CSV                  :func:`load_tardis_trades` / :func:`iter_tardis_trades`
=====================================  =======================================================

This module gathers them under one import path (docs/archives.md); each lives with its concept:
Bybit's addresses, download and loaders in ``ofi.venues.bybit.archives``, the Tardis loaders in
``ofi.data.tardis``, :func:`save_tape_chunks` in ``ofi.data.tape``, the generic HTTP download in
``ofi.data.download`` and the file reading they share in ``ofi.data.files``.
"""
from __future__ import annotations

from ofi.data.tape import save_tape_chunks
from ofi.data.tardis import iter_tardis_book, iter_tardis_trades, load_tardis_book, load_tardis_trades
from ofi.venues.bybit.archives import (BYBIT_ORDERBOOK_BASE_URL, BYBIT_TRADES_BASE_URL, bybit_orderbook_url,
                                       bybit_trades_url, download, iter_bybit_orderbook, iter_bybit_trades,
                                       load_bybit_orderbook, load_bybit_trades)

__all__ = [
    "BYBIT_TRADES_BASE_URL",
    "BYBIT_ORDERBOOK_BASE_URL",
    "bybit_trades_url",
    "bybit_orderbook_url",
    "download",
    "iter_bybit_trades",
    "load_bybit_trades",
    "iter_bybit_orderbook",
    "load_bybit_orderbook",
    "iter_tardis_book",
    "load_tardis_book",
    "iter_tardis_trades",
    "load_tardis_trades",
    "save_tape_chunks",
]
