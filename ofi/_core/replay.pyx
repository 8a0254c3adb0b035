"""The replay loop: a whole tape applied to a book in one call, in C, with the top of book recorded
after every book message. It drives the same ``OrderBook.apply_message`` kernel as live frames."""
from libc.stdint cimport int64_t, int8_t, int16_t, int32_t
from libc.math cimport NAN
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy

import numpy as np
cimport numpy as cnp

from ofi._core.book cimport (OrderBook, LevelSrc, MsgMeta, tape_message_lazy, st_fatal, ST_APPLIED, ST_IGNORED,
                             ST_MALFORMED)
from ofi._core.events cimport TapeRow, KIND_BOOK
from ofi._core.events import TAPE_DTYPE
from ofi.errors import InvalidInputError

cnp.import_array()

ctypedef struct TobRow:
    int64_t ts_exch
    int64_t ts_local
    int64_t update_id
    int64_t bid_ticks
    double bid_size
    int64_t ask_ticks
    double ask_size
    int8_t status
    int8_t _pad0
    int16_t _pad1
    int32_t _pad2


TOB_DTYPE = np.dtype(
    [("ts_exch", np.int64), ("ts_local", np.int64), ("update_id", np.int64), ("bid_ticks", np.int64),
     ("bid_size", np.float64), ("ask_ticks", np.int64), ("ask_size", np.float64), ("status", np.int8),
     ("_pad0", np.int8), ("_pad1", np.int16), ("_pad2", np.int32)],
    align=True,
)
assert TOB_DTYPE.itemsize == sizeof(TobRow)


def replay_tape_into(OrderBook book, tape, bint skip_gaps=False):
    """Apply every book message of ``tape`` to ``book``; return the top-of-book array.

    Kernel behind ``ofi.data.tape.replay_tape`` (which validates the arguments); errors raise, naming
    the tape row where the failing message starts. Trade rows are skipped.
    ``status`` per output row: 1 applied, 0 ignored (duplicate u), -1 rejected (gap, stale, crossed).
    """
    cdef cnp.ndarray arr = tape
    cdef Py_ssize_t n = cnp.PyArray_DIM(arr, 0)
    cdef const TapeRow* rows = <const TapeRow*>cnp.PyArray_DATA(arr)
    cdef Py_ssize_t i, j, m = 0, err_row = -1
    cdef int st, err = 0
    cdef LevelSrc src
    cdef MsgMeta meta
    cdef TobRow* out
    cdef cnp.ndarray tob
    # One pass: rows go to a malloc'd buffer grown by doubling (warm memory, no count pass), then
    # into the array once.
    cdef Py_ssize_t cap = 1024
    cdef TobRow* grown
    out = <TobRow*>malloc(cap * sizeof(TobRow))
    if out == NULL:
        raise MemoryError()
    with nogil:
        i = 0
        while i < n:
            if m == cap:
                grown = <TobRow*>realloc(out, 2 * cap * sizeof(TobRow))
                if grown == NULL:
                    err = -102
                    break
                out = grown
                cap *= 2
            if rows[i].kind != KIND_BOOK:
                i += 1
                continue
            # A delta's rows are read once: its END row is found while it is applied. A message
            # that is not applied is located (and checked) before it counts (OrderBook._settle_lazy):
            # unless the rows are malformed, src.n is the message's length after apply_message.
            j = -1
            if tape_message_lazy(rows, n, i, &src, &meta) == 0:
                st = book.apply_message(&src, &meta)
                if st != ST_MALFORMED:
                    j = i + src.n
            if j < 0:
                err = -100
                err_row = i
                break
            out[m].ts_exch = rows[i].ts_exch
            out[m].ts_local = rows[i].ts_local
            out[m].update_id = rows[i].update_id
            if st < 0 and (st_fatal(st) or not skip_gaps):
                err = st
                err_row = i
                break
            out[m].status = 1 if st == ST_APPLIED else (0 if st == ST_IGNORED else -1)
            out[m]._pad0 = 0
            out[m]._pad1 = 0
            out[m]._pad2 = 0
            if st < 0 or book._stale or book.sides[0].n == 0:
                out[m].bid_ticks = -1
                out[m].bid_size = NAN
            else:
                out[m].bid_ticks = book.sides[0].e[book.sides[0].n - 1].key
                out[m].bid_size = book.sides[0].e[book.sides[0].n - 1].size
            if st < 0 or book._stale or book.sides[1].n == 0:
                out[m].ask_ticks = -1
                out[m].ask_size = NAN
            else:
                out[m].ask_ticks = -book.sides[1].e[book.sides[1].n - 1].key
                out[m].ask_size = book.sides[1].e[book.sides[1].n - 1].size
            m += 1
            i = j
    try:
        tob = np.empty(m, dtype=TOB_DTYPE)
        if m:
            memcpy(cnp.PyArray_DATA(tob), out, m * sizeof(TobRow))
    finally:
        free(out)
    if err == -102:
        raise MemoryError()
    if err != 0:
        if err == -100:
            raise InvalidInputError(
                f"tape row {err_row}: book message rows must run from a FLAG_BEGIN row to a FLAG_END row")
        meta.u = rows[err_row].update_id
        try:
            book.raise_status(err, &meta)
        except Exception as exc:
            exc.args = (f"tape row {err_row}: {exc.args[0]}",) + exc.args[1:]
            exc.tape_row = err_row
            raise
    return tob
