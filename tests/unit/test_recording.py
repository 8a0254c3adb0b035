"""Tests of ofi.data.recording: raw frames round-trip exactly and survive a killed writer."""
from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import textwrap
import warnings
import zlib
from pathlib import Path

import pytest

from ofi.data.recording import (
    RecordedFrame,
    RecordingReader,
    RecordingWriter,
    TruncatedRecordingWarning,
    read_recording,
    recording_path,
)
from ofi.errors import InvalidInputError, OfiError
from ofi.sim import SimulatedMarket

REPO = Path(__file__).resolve().parents[2]
HOUR_NS = 3_600_000_000_000
T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z

ODD_FRAMES: list[str | bytes] = [
    '{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":1,"data":{}}',
    '{"success":true,"ret_msg":"pong","conn_id":"x","op":"ping"}',
    "line\nbreaks\r\nand \"quotes\" and \\ backslashes\t",
    "unicode: \u00e9\u4e2d\U0001f600 and a lone surrogate \ud800",
    b'{"topic":"publicTrade.BTCUSDT","data":[]}',
    b"\xff\xfe not utf-8 \x80\x00 nul",
    bytearray(b"caf\xc3\xa9 valid utf-8 bytes"),
    memoryview(b"from a memoryview"),
    "",
    b"",
]


def expected_of(raw: str | bytes | bytearray | memoryview) -> str | bytes:
    return raw if isinstance(raw, str) else bytes(raw)


def read_all(path, **kw) -> tuple[list[RecordedFrame], RecordingReader, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader = read_recording(path, **kw)
        frames = list(reader)
    return frames, reader, [w for w in caught if issubclass(w.category, TruncatedRecordingWarning)]


# ------------------------------------------------------------------------- round trip
def test_round_trip_is_exact_for_str_and_bytes(tmp_path):
    sent = []
    with RecordingWriter(tmp_path, "BTCUSDT", flush_every=3) as w:
        for i, raw in enumerate(ODD_FRAMES * 3):
            w.write(raw, T0 + i)
            sent.append(RecordedFrame(T0 + i, expected_of(raw)))
        assert w.frames_written == len(sent)
    assert w.closed and w.frames_flushed == len(sent)
    frames, reader, warned = read_all(tmp_path)
    assert frames == sent
    for got, want in zip(frames, sent):
        assert type(got.raw) is type(want.raw)
    assert reader.truncated == [] and not reader.is_truncated and warned == []
    assert reader.frames_read == len(sent)
    # a file is valid gzip JSON-lines that any tool can read
    text = gzip.decompress(w.paths[0].read_bytes()).decode("ascii")
    lines = text.splitlines()
    assert lines[0] == '{"format":"ofi-recording","version":1,"symbol":"BTCUSDT","hour":"2023-11-14T22"}'
    assert lines[1].startswith('{"ts_local":1700000000000000000,"raw":"{\\"topic\\"')
    assert len(lines) == 1 + len(sent)


def test_simulated_feed_round_trips(tmp_path):
    frames = SimulatedMarket(depth=50, seed=2).generate(n_messages=5000)
    with RecordingWriter(tmp_path) as w:
        for f in frames:
            w.write(f.raw, f.ts_local)
    got, reader, warned = read_all(tmp_path)
    assert got == [(f.ts_local, f.raw) for f in frames]
    assert not warned and reader.files == w.paths


def test_symbol_from_topic_and_merge_by_time(tmp_path):
    msgs = [
        '{"topic":"orderbook.50.BTCUSDT","type":"delta"}',
        '{"topic":"publicTrade.ETHUSDT","type":"snapshot"}',
        '{"success":true,"ret_msg":"pong","op":"ping"}',
        '{"topic":"orderbook.200.BTCUSDT","type":"delta"}',
        '{"topic":"tickers.ETHUSDT","type":"delta"}',
        '{"topic":"weird.sym/../x","type":"delta"}',
    ]
    with RecordingWriter(tmp_path) as w:
        for i, m in enumerate(msgs * 5):
            w.write(m, T0 + 1000 * i)
    names = sorted(p.relative_to(tmp_path).parts[0] for p in w.paths)
    assert names == ["BTCUSDT", "ETHUSDT", "_control"]
    got, _reader, _ = read_all(tmp_path)
    assert [f.raw for f in got] == msgs * 5  # merged back into receive order across symbols
    # one symbol's file alone
    eth, _, _ = read_all(recording_path(tmp_path, "ETHUSDT", T0))
    assert [f.raw for f in eth] == [m for m in msgs * 5 if "ETHUSDT" in m]


def test_hour_rotation_and_restart_parts(tmp_path):
    start = (T0 // HOUR_NS + 1) * HOUR_NS - 2_000_000_000  # 22:59:58, 2 s before an hour boundary
    times = [start + k * 400_000_000 for k in range(10)]  # crosses into 23:00
    times += [start + HOUR_NS + 5 * 10**9, start + 2 * HOUR_NS + 5 * 10**9]  # 00:00:03 next day, 01:00:03
    with RecordingWriter(tmp_path, "BTCUSDT", flush_every=1000) as w:
        for i, t in enumerate(times):
            w.write(f"frame {i}", t)
    rel = [str(p.relative_to(tmp_path)) for p in w.paths]
    assert rel == [
        "BTCUSDT/2023-11-14/BTCUSDT_2023-11-14T22.jsonl.gz",
        "BTCUSDT/2023-11-14/BTCUSDT_2023-11-14T23.jsonl.gz",
        "BTCUSDT/2023-11-15/BTCUSDT_2023-11-15T00.jsonl.gz",
        "BTCUSDT/2023-11-15/BTCUSDT_2023-11-15T01.jsonl.gz",
    ]
    per_file = [[f.raw for f in read_all(p)[0]] for p in w.paths]
    assert per_file == [
        [f"frame {i}" for i in range(5)], [f"frame {i}" for i in range(5, 10)], ["frame 10"], ["frame 11"]
    ]
    # a restarted writer in the same hour opens a new part instead of touching the old file
    before = w.paths[2].read_bytes()
    with RecordingWriter(tmp_path, "BTCUSDT") as w2:
        w2.write("late frame", start + HOUR_NS + 6 * 10**9)
    assert w2.paths[0].name == "BTCUSDT_2023-11-15T00.1.jsonl.gz"
    assert w.paths[2].read_bytes() == before
    got, reader, warned = read_all(tmp_path)
    assert [f.raw for f in got] == [f"frame {i}" for i in range(11)] + ["late frame", "frame 11"]
    assert len(reader.files) == 5 and not warned
    assert reader.files[3] == w2.paths[0]  # (hour, part) order


def test_periodic_flush_by_count_and_by_time(tmp_path):
    w = RecordingWriter(tmp_path, "X", flush_every=4, flush_interval_s=None)
    for i in range(10):
        w.write(str(i), T0 + i)
    assert w.frames_flushed == 8
    frames, reader, warned = read_all(w.paths[0])  # readable while the writer is still open
    assert [f.raw for f in frames] == [str(i) for i in range(8)]
    assert reader.truncated and len(warned) == 1
    w.flush()
    assert w.frames_flushed == 10
    w.close()
    w.close()  # idempotent
    w2 = RecordingWriter(tmp_path / "t", "X", flush_every=10**6, flush_interval_s=0.0)
    w2.write("a", T0)
    assert w2.frames_flushed == 1  # interval 0: every write flushes
    w2.close()


# --------------------------------------------------------------------- cut files
def write_child_script(directory: Path) -> str:
    return textwrap.dedent(
        f"""
        import sys
        from ofi.data.recording import RecordingWriter
        w = RecordingWriter({str(directory)!r}, "BTCUSDT", flush_every=7, flush_interval_s=None)
        pad = "x" * 300
        last = -1
        i = 0
        while True:
            # 10 s apart: a new hour file every 360 frames
            w.write('{{"topic":"orderbook.50.BTCUSDT","i":%d,"pad":"%s"}}' % (i, pad), {T0} + i * 10_000_000_000)
            i += 1
            if w.frames_flushed != last:
                last = w.frames_flushed
                print(last, flush=True)
        """
    )


def test_killed_writer_leaves_every_flushed_frame_readable(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-c", write_child_script(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    flushed = 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            flushed = int(line)
            if flushed >= 1500:
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
        err = proc.stderr.read() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, err
    assert flushed >= 1500, err
    frames, reader, warned = read_all(tmp_path)
    assert len(frames) >= flushed
    for i, f in enumerate(frames):
        assert f.ts_local == T0 + i * 10_000_000_000
        assert f.raw.startswith('{"topic":"orderbook.50.BTCUSDT","i":%d,' % i)
    assert len(reader.files) >= 5  # it rotated hourly while running
    # closed hour files are complete; only the one being written when killed is cut
    assert [t.path for t in reader.truncated] == [reader.files[-1]]
    assert len(warned) == 1 and str(reader.files[-1]) in str(warned[0].message)
    assert reader.truncated[0].frames == len(frames) - sum(len(read_all(p)[0]) for p in reader.files[:-1])


def test_truncation_at_every_offset(tmp_path):
    src = tmp_path / "src"
    sizes = []  # compressed size once frame i was flushed
    raws = [expected_of(r) for r in ODD_FRAMES] + ['{"topic":"orderbook.1.BTCUSDT","n":%d}' % i for i in range(6)]
    with RecordingWriter(src, "BTCUSDT", flush_every=1) as w:
        for i, raw in enumerate(raws):
            w.write(raw, T0 + i)
            sizes.append(w.paths[0].stat().st_size)
    data = w.paths[0].read_bytes()
    assert all(a < b for a, b in zip(sizes, sizes[1:])), "flush_every=1 puts each frame on disk at once"
    assert len(data) > sizes[-1]  # the gzip trailer comes with close()
    cut = tmp_path / "cut" / "BTCUSDT_2023-11-14T22.jsonl.gz"
    cut.parent.mkdir()
    for n in range(len(data) + 1):
        cut.write_bytes(data[:n])
        frames, reader, warned = read_all(cut)
        assert [f.raw for f in frames] == raws[: len(frames)], n  # always a prefix, never garbage
        guaranteed = sum(1 for s in sizes if s <= n)
        assert len(frames) >= guaranteed, (n, len(frames), guaranteed)
        if n == len(data):
            assert len(frames) == len(raws) and not reader.truncated and not warned
        else:
            assert len(reader.truncated) == 1 and len(warned) == 1, n
            assert reader.truncated[0].frames == len(frames)
    # without warnings the cut is still reported
    cut.write_bytes(data[: sizes[3] + 5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reader = read_recording(cut, warn=False)
        assert len(list(reader)) >= 4 and reader.truncated


def test_partial_last_line_is_dropped_and_reported(tmp_path):
    p = tmp_path / "X_2023-11-14T22.jsonl.gz"
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    body = b'{"ts_local":1,"raw":"a"}\n{"ts_local":2,"raw":"b"}\n{"ts_local":3,"ra'
    p.write_bytes(comp.compress(body) + comp.flush(zlib.Z_SYNC_FLUSH))
    frames, reader, warned = read_all(p)
    assert frames == [(1, "a"), (2, "b")]
    assert reader.truncated[0].partial_bytes == len(b'{"ts_local":3,"ra')
    assert "partial line" in str(warned[0].message)


# --------------------------------------------------------------------- corruption
def test_corrupt_line_in_the_middle_raises_naming_file_and_line(tmp_path):
    p = tmp_path / "BTCUSDT_2023-11-14T22.jsonl.gz"
    p.write_bytes(
        gzip.compress(
            b'{"format":"ofi-recording","version":1}\n'
            b'{"ts_local":1,"raw":"a"}\nnot json at all\n{"ts_local":3,"raw":"c"}\n'
        )
    )
    reader = read_recording(p)
    assert next(reader) == (1, "a")
    with pytest.raises(InvalidInputError, match=r"BTCUSDT_2023-11-14T22\.jsonl\.gz, line 3"):
        next(reader)
    bad_lines = (b'{"ts_local":"1","raw":"a"}\n', b'{"ts_local":1,"raw":5}\n', b"[1,2]\n", b'{"ts_local":true,"raw":"a"}\n')
    for bad in bad_lines:
        p.write_bytes(gzip.compress(b'{"ts_local":1,"raw":"a"}\n' + bad + b'{"ts_local":3,"raw":"c"}\n'))
        with pytest.raises(InvalidInputError, match="line 2"):
            list(read_recording(p))
    p.write_bytes(gzip.compress(b'{"format":"ofi-recording","version":99}\n'))
    with pytest.raises(InvalidInputError, match="version 99"):
        list(read_recording(p))


def test_corrupt_compressed_data_raises(tmp_path):
    with RecordingWriter(tmp_path / "r", "BTCUSDT", flush_every=10**6, flush_interval_s=None) as w:
        for i in range(200):
            w.write('{"topic":"orderbook.50.BTCUSDT","i":%d}' % i, T0 + i)
    data = bytearray(w.paths[0].read_bytes())
    for pos in (len(data) // 3, len(data) // 2, len(data) - 12):
        bad = bytearray(data)
        bad[pos] ^= 0x5A
        p = tmp_path / f"bad{pos}.jsonl.gz"
        p.write_bytes(bytes(bad))
        with pytest.raises(InvalidInputError, match=p.name):
            list(read_recording(p))
    p = tmp_path / "junk.jsonl.gz"
    p.write_bytes(bytes(data) + b"trailing junk that is no gzip member")
    with pytest.raises(OfiError, match="corrupt gzip"):
        list(read_recording(p))


# --------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"symbol": "BTC/USDT"}, "symbol"),
        ({"symbol": ""}, "symbol"),
        ({"symbol": 3}, "symbol"),
        ({"flush_every": 0}, "flush_every"),
        ({"flush_every": 2.5}, "flush_every"),
        ({"flush_interval_s": -1.0}, "flush_interval_s"),
        ({"flush_interval_s": float("nan")}, "flush_interval_s"),
        ({"compresslevel": 0}, "compresslevel"),
    ],
)
def test_writer_arguments_are_validated(tmp_path, kwargs, name):
    with pytest.raises(InvalidInputError, match=name):
        RecordingWriter(tmp_path, **kwargs)


def test_write_arguments_are_validated(tmp_path):
    w = RecordingWriter(tmp_path, "BTCUSDT")
    for bad_ts in (-1, 1.5, True, "123", None):
        with pytest.raises(InvalidInputError, match="ts_local_ns"):
            w.write("x", bad_ts)
    for bad_raw in (None, 5, ["x"], {"a": 1}):
        with pytest.raises(InvalidInputError, match="raw"):
            w.write(bad_raw, T0)
    import numpy as np

    w.write("ok", np.int64(T0))
    w.close()
    with pytest.raises(InvalidInputError, match="closed"):
        w.write("x", T0)
    assert [f.raw for f in read_recording(tmp_path)] == ["ok"]


def test_reader_arguments_are_validated(tmp_path):
    with pytest.raises(InvalidInputError, match="neither"):
        read_recording(tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="path"):
        read_recording(42)  # type: ignore[arg-type]
    assert list(read_recording(tmp_path)) == []  # an empty directory is an empty recording
    empty = tmp_path / "E_2023-11-14T22.jsonl.gz"
    empty.write_bytes(b"")  # killed right after creating the file
    frames, reader, warned = read_all(empty)
    assert frames == [] and reader.truncated[0].frames == 0 and len(warned) == 1


def test_deeply_nested_json_line_is_invalid_input_not_a_recursion_error(tmp_path):
    # D4: json.loads raised RecursionError on a line of deeply nested JSON; it must be the
    # reader's InvalidInputError naming the file and the line, like any other corrupt line.
    p = tmp_path / "BTCUSDT_2023-11-14T22.jsonl.gz"
    p.write_bytes(gzip.compress(b'{"ts_local":1,"raw":"a"}\n' + b"[" * 100_000 + b"\n"))
    with pytest.raises(InvalidInputError, match=r"BTCUSDT_2023-11-14T22\.jsonl\.gz, line 2"):
        list(read_recording(p))
