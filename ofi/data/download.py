"""Downloading one file over HTTP(S): streamed to disk with progress, never left half-written.

Venue-neutral: ``ofi.venues.bybit.archives.download`` builds Bybit's archive addresses and calls
:func:`download_file`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ofi._progress import Progress, Reporter
from ofi.errors import ExchangeError, InvalidInputError, RateLimitError

__all__ = ["download_file", "is_http_url"]


def is_http_url(value: Any) -> bool:
    """True when ``value`` is a string starting with ``http://`` or ``https://``."""
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def download_file(url: str, dest: str | os.PathLike | None = None, *, progress: Progress = True,
                  overwrite: bool = False, timeout: float = 60.0, chunk_size: int = 1 << 20,
                  session: Any = None) -> Path:
    """Download one file (streamed to disk, with progress).

    Parameters
    ----------
    url : str
        An ``http://`` or ``https://`` address.
    dest : path-like, optional
        Target file, or an existing directory to put the URL's file name in. Default: the URL's
        file name in the current directory.
    progress : bool or callable
        True: a progress line on stderr; a callable gets ``(done_bytes, total_bytes_or_None)``
        after each chunk; False/None: silent.
    overwrite : bool
        If False (default) an existing target is returned as is, without a request.
    timeout : float
        Seconds for the connection and for each read.
    chunk_size : int
        Bytes read and written per step.
    session : requests.Session, optional
        Session to reuse (connection pooling over many files).

    Returns
    -------
    Path
        The downloaded file. Data is written to ``<dest>.part`` and renamed when complete, so an
        interrupted download never leaves a truncated file under the final name.

    Raises
    ------
    ExchangeError
        HTTP status >= 400 (``status`` and ``endpoint`` set), or fewer bytes than
        ``Content-Length``. :class:`RateLimitError` for 429/403.
    InvalidInputError
        Bad arguments.
    requests.RequestException
        Network failures (connection refused, timeout) propagate as raised by requests.
    """
    import requests     # only a download needs the HTTP client

    if not is_http_url(url):
        raise InvalidInputError(f"url must be an http(s) URL, got {url!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidInputError(f"chunk_size must be a positive int, got {chunk_size!r}")
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "download"
    if dest is None:
        target = Path(name)
    else:
        target = Path(dest)
        if target.is_dir():
            target = target / name
    reporter = Reporter(progress, target.name)
    if target.exists() and not overwrite:
        return target
    part = target.with_name(target.name + ".part")
    getter = session.get if session is not None else requests.get
    done = 0
    # identity: the bytes on disk are the file itself, and Content-Length counts them.
    with getter(url, stream=True, timeout=timeout, headers={"Accept-Encoding": "identity"}) as resp:
        if resp.status_code >= 400:
            cls = RateLimitError if resp.status_code in (403, 429) else ExchangeError
            raise cls(f"GET {url} failed: HTTP {resp.status_code} {resp.reason or ''}".rstrip(),
                      status=resp.status_code, endpoint=url)
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        reporter.start(total)
        try:
            with open(part, "wb") as fh:
                for chunk in resp.iter_content(chunk_size=chunk_size):
                    if chunk:
                        fh.write(chunk)
                        done += len(chunk)
                        reporter.update(done)
            if total is not None and done != total:
                raise ExchangeError(f"GET {url}: connection closed after {done} of {total} bytes",
                                    status=resp.status_code, endpoint=url)
            os.replace(part, target)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        finally:
            reporter.close()
    return target
