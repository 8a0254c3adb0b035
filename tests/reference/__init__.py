"""Pure-Python twins of the compiled kernels: the executable specification.

They are deliberately plain (dicts, sorting on read, ``json`` and ``decimal``) so that a reader
can check them against ``docs/core-api.md`` line by line. Parity tests run the compiled core and
these twins side by side; benchmarks use them as the baseline. They are never imported by the
``ofi`` package itself.
"""
from reference.book import RefBook
from reference.decode import StrictnessError, decode_frame, parse_price, parse_size

__all__ = ["RefBook", "StrictnessError", "decode_frame", "parse_price", "parse_size"]
