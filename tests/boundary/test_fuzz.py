"""Fuzzing the decoder and the book with frames derived from real captures.

Mutations of real frames: truncation at every offset, byte replacement and bit flips at many
positions, random insertions and deletions, token splices; plus random bytes and non-text inputs.

Property, for every mutated frame given to a primed ``OrderBook``:

* an ``OfiError`` subclass is raised (InvalidInputError, SequenceGapError or BookIntegrityError)
  and the book is bit-for-bit unchanged: levels, update_id, seq, times, topic; ``stale`` is kept
  for InvalidInputError and set for a gap or a crossed result (docs/core-api.md); the rejection is
  counted; or
* the frame is accepted, and where the twin (tests/reference) also accepts the same text, the
  outcome and the whole book equal the twin's.

Where the twin rejects with a contract rule (plain InvalidInputError: malformed JSON, off-grid
price, negative size, unsupported topic, ...) the core must reject too; where it rejects only by
one of its own stricter choices (StrictnessError) nothing is compared. Never any other exception.
Deterministic (fixed seeds), bounded to a few seconds.
"""
from __future__ import annotations

import array
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ofi import OrderBook, Trade
from ofi.errors import BookIntegrityError, InvalidInputError, OfiError, SequenceGapError
from ofi.frames import decode_frame
from reference.book import RefBook
from reference.decode import StrictnessError

pytestmark = pytest.mark.realdata

XRP_TICK = "0.0001"
SPOT_TICK = "0.01"
OPTION_TICK = "0.01"
INTERESTING = [b"0", b"1", b"9", b"-", b".", b"e", b"E", b"+", b'"', b",", b":", b"[", b"]", b"{", b"}", b" ",
               b"\\", b"\x00", b"\xff", b"\xc3", b"n", b"t", b"\n", b"\t"]
SPLICES = [b'"b":[]', b'"u":1', b'"type":"snapshot"', b'"type":"delta"', b"null", b"true", b"[[\"1\",\"1\"]]",
           b"99999999999999999999", b"-1", b"1e5", b'"\\u0000"', b'""', b"{}", b"[]", b'"s":"XRPUSDT"',
           b'"topic":"orderbook.1.XRPUSDT"', b'"seq":-5', b'"cts":1e3', b'["1.9531","0"]', b'["1.9539","1"]']


def state(b: OrderBook) -> tuple:
    return (b.bids().tobytes(), b.asks().tobytes(), b.update_id, b.seq, b.ts_exch, b.cts, b.ts_local,
            b.n_bids, b.n_asks, b.topic)


class Target:
    """A primed core book and its twin; every check runs on copies of both."""

    def __init__(self, symbol: str, tick: str, prime: list[str], follow: str | None = None):
        self.follow = follow  # a valid frame applied after each mutated one: the book must still work
        self.core = OrderBook(symbol, tick_size=tick)
        self.ref = RefBook(symbol, tick)
        for raw in prime:
            assert self.core.apply_frame(raw) is True
            assert self.ref.apply_frame(raw) is True
        self.before = state(self.core)
        self.stale = self.core.stale
        self.compared = 0
        self.rejected = 0

    def check(self, raw) -> None:
        try:
            self._check(raw)
        except AssertionError:
            raise
        except Exception as exc:
            raise AssertionError(f"{type(exc).__name__}: {exc} (not an OfiError) after {raw!r:.300}") from exc

    def _follow_up(self, core: OrderBook) -> None:
        repr(core), core.topic, core.bids(), core.best_bid()
        if self.follow is not None:
            try:
                core.apply_frame(self.follow)
            except OfiError:
                pass
            repr(core), core.topic

    def _check(self, raw) -> None:
        core = self.core.copy()
        rejected0 = core.rejected
        try:
            got = ("ok", core.apply_frame(raw))
        except (InvalidInputError, SequenceGapError, BookIntegrityError) as exc:
            got = ("err", type(exc))
        except OfiError as exc:  # pragma: no cover - reported below
            raise AssertionError(f"unexpected OfiError subclass {type(exc).__name__} for {raw!r:.200}") from exc
        except Exception as exc:
            raise AssertionError(f"{type(exc).__name__}: {exc} (not an OfiError) for {raw!r:.300}") from exc

        ref = self.ref.copy()
        try:
            want = ("ok", ref.apply_frame(raw))
        except StrictnessError:
            want = ("strict", None)
        except (InvalidInputError, SequenceGapError, BookIntegrityError) as exc:
            want = ("err", type(exc))

        self._follow_up(core.copy())
        if got[0] == "err":
            self.rejected += 1
            assert state(core) == self.before, f"rejected ({got[1].__name__}) but changed: {raw!r:.300}"
            if got[1] is InvalidInputError:
                assert core.stale == self.stale, f"InvalidInputError changed stale: {raw!r:.300}"
            else:
                assert core.stale, f"{got[1].__name__} did not mark the book stale: {raw!r:.300}"
            assert core.rejected == rejected0 + 1, "a rejected message must be counted"
            if want[0] == "ok":
                # the core may be stricter about the text (InvalidInputError), never about the semantics
                assert got[1] is InvalidInputError, (
                    f"core raised {got[1].__name__}, the twin accepted ({want[1]}): {raw!r:.300}")
            if want == ("err", InvalidInputError):
                # malformed input must not reach the sequence logic (and mark the book stale)
                assert got[1] is InvalidInputError, (
                    f"core raised {got[1].__name__} for a frame the contract rejects as malformed: {raw!r:.300}")
            return
        if want[0] == "strict":
            return
        assert want[0] == "ok", f"core accepted what the contract rejects (twin: {want[1].__name__}): {raw!r:.300}"
        self.compared += 1
        assert got == want, f"core {got} != twin {want}: {raw!r:.300}"
        assert core.bids().tobytes() == ref.bids().tobytes(), f"bids differ after {raw!r:.300}"
        assert core.asks().tobytes() == ref.asks().tobytes(), f"asks differ after {raw!r:.300}"
        for name in ("update_id", "seq", "ts_exch", "cts", "stale", "topic", "n_bids", "n_asks"):
            assert getattr(core, name) == getattr(ref, name), f"{name}: {getattr(core, name)!r} != {getattr(ref, name)!r}"


def mutations(raw: bytes, rnd: random.Random, n: int):
    """n single mutations of raw: replacement, bit flip, insertion, deletion, splice."""
    for _ in range(n):
        kind = rnd.randrange(6)
        pos = rnd.randrange(len(raw))
        if kind == 0:
            yield raw[:pos] + bytes([rnd.randrange(256)]) + raw[pos + 1:]
        elif kind == 1:
            yield raw[:pos] + bytes([raw[pos] ^ (1 << rnd.randrange(8))]) + raw[pos + 1:]
        elif kind == 2:
            yield raw[:pos] + rnd.choice(INTERESTING) + raw[pos + 1:]
        elif kind == 3:
            yield raw[:pos] + rnd.choice(INTERESTING + [bytes([rnd.randrange(256)])]) + raw[pos:]
        elif kind == 4:
            yield raw[:pos] + raw[pos + 1:]
        else:
            end = min(len(raw), pos + rnd.randrange(1, 12))
            yield raw[:pos] + rnd.choice(SPLICES) + raw[end:]


@pytest.fixture(scope="module")
def targets(xrp_frames, v5_jsonl):
    gct = v5_jsonl["gocryptotrader__bybit_test.go__pushDataMap.jsonl"]
    opt = v5_jsonl["tardis-node__mappers.test.ts__bybit_v5_options.jsonl"]
    return {
        # (primed target, frame to mutate)
        "xrp-delta": (Target("XRPUSDT", XRP_TICK, xrp_frames[:1]), xrp_frames[1]),
        "xrp-delta-late": (Target("XRPUSDT", XRP_TICK, xrp_frames[:30]), xrp_frames[30]),
        "xrp-snapshot": (Target("XRPUSDT", XRP_TICK, xrp_frames[:5]), xrp_frames[0]),
        "spot-delta": (Target("BTCUSDT", SPOT_TICK, gct[:1]), gct[1]),
        "option-delta": (Target("SOL-28APR23-30-C", OPTION_TICK, opt[2:3]), opt[3]),
        "option-snapshot": (Target("SOL-28APR23-30-C", OPTION_TICK, opt[2:4]), opt[2]),
        # fresh books: the first frame binds the topic
        "fresh-option-snapshot": (Target("SOL-28APR23-30-C", OPTION_TICK, [], follow=opt[2]), opt[2]),
        "fresh-spot-snapshot": (Target("BTCUSDT", SPOT_TICK, [], follow=gct[1]), gct[0]),
    }


SMALL = ["xrp-delta", "spot-delta", "option-delta", "option-snapshot"]
FRESH = ["fresh-option-snapshot", "fresh-spot-snapshot"]  # fresh books: the mutated frame may bind the topic


@pytest.mark.parametrize("name", SMALL + ["xrp-snapshot", "fresh-option-snapshot", "fresh-spot-snapshot"])
def test_truncation_at_every_offset(targets, name):
    target, raw = targets[name]
    data = raw.encode()
    step = 1 if len(data) < 5_000 else 7
    for cut in range(0, len(data), step):
        target.check(data[:cut])
        if cut % 5 == 0:
            target.check(raw[:cut])  # as str too
    compared = target.compared
    target.check(data)  # the whole frame: accepted and equal to the twin
    assert target.compared == compared + 1


@pytest.mark.parametrize("name", SMALL + ["xrp-delta-late", "xrp-snapshot"] + FRESH)
def test_single_mutations(targets, name):
    target, raw = targets[name]
    rnd = random.Random(f"mutations-{name}")
    n = 1_500 if name == "xrp-snapshot" else 4_000
    compared, rejected = target.compared, target.rejected
    for mutated in mutations(raw.encode(), rnd, n):
        target.check(mutated)
    # the mutations must have produced both compared and rejected frames, or the test proves little
    compared, rejected = target.compared - compared, target.rejected - rejected
    print(f"{name}: {compared} compared with the twin, {rejected} rejected of {n}")
    assert compared > n // 20 and rejected > n // 5, (compared, rejected)


@pytest.mark.parametrize("name", SMALL)
def test_double_mutations(targets, name):
    target, raw = targets[name]
    rnd = random.Random(f"double-{name}")
    for once in mutations(raw.encode(), rnd, 800):
        for twice in mutations(once, rnd, 2) if once else ():
            target.check(twice)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(blob=st.one_of(st.binary(max_size=600), st.text(max_size=300)))
def test_random_input(targets, blob):
    target, _ = targets["xrp-delta"]
    target.check(blob)
    for fn in (lambda: decode_frame(blob, XRP_TICK), lambda: Trade.from_frame(blob, XRP_TICK)):
        try:
            fn()
        except OfiError:
            pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(tokens=st.lists(st.sampled_from(
    ['{', '}', '[', ']', ',', ':', '"topic"', '"orderbook.500.XRPUSDT"', '"type"', '"delta"', '"snapshot"', '"ts"',
     '1733011200693', '"data"', '"s"', '"XRPUSDT"', '"b"', '"a"', '"u"', '20254870', '"seq"', '1', '"cts"',
     '["1.9531","6198"]', '["1.9540","0"]', '"1.9531"', '"6198"', 'null', 'true', '-1', '0', '1e400', '" "',
     '"op"', '"pong"', '"success"']), max_size=60))
def test_random_json_token_soup(targets, tokens):
    target, _ = targets["xrp-delta"]
    target.check("".join(tokens))


@pytest.mark.parametrize(
    "raw",
    [None, 0, 1, -1, 1.5, float("nan"), True, [], ["{}"], {}, {"topic": "orderbook.500.XRPUSDT"}, object(), (),
     b"", bytearray(), memoryview(b""), "", "\x00", "\ud800", '{"topic":"\ud800"}', "{\"topic\":\"orderbook.500.XRPUSDT\udfff\"}",
     array.array("i", [1, 2, 3]), memoryview(b'{"op":"pong","args":["1"]}')[::2], memoryview(array.array("i", [0]))],
    ids=lambda x: type(x).__name__,
)
def test_non_text_and_odd_inputs(targets, raw):
    target, _ = targets["xrp-delta"]
    target.check(raw)
    for fn in (lambda: decode_frame(raw, XRP_TICK), lambda: Trade.from_frame(raw, XRP_TICK)):
        try:
            fn()
        except OfiError:
            pass
        except Exception as exc:
            raise AssertionError(f"{type(exc).__name__}: {exc} (not an OfiError) for {raw!r}") from exc


@pytest.mark.parametrize("file_name", ["tardis-node__mappers.test.ts__bybit_v5_spot.jsonl",
                                       "tardis-node__mappers.test.ts__bybit_v5_derivatives.jsonl",
                                       "tardis-node__mappers.test.ts__bybit_v5_options.jsonl",
                                       "gocryptotrader__bybit_test.go__pushDataMap.jsonl", "wsTicker.json"])
def test_decode_mutations_of_every_frame(v5_jsonl, file_name):
    """decode_frame and Trade.from_frame on mutated trades, tickers, pongs: OfiError or a frame, nothing else."""
    rnd = random.Random(file_name)
    for line in v5_jsonl[file_name]:
        data = line.encode()
        candidates = [data[:cut] for cut in range(0, len(data), max(1, len(data) // 150))]
        candidates += list(mutations(data, rnd, 300))
        for raw in candidates:
            for fn in (decode_frame, Trade.from_frame):
                try:
                    fn(raw, "0.00001")
                except OfiError:
                    pass
                except Exception as exc:
                    raise AssertionError(f"{fn.__name__}: {type(exc).__name__}: {exc} for {raw!r:.300}") from exc
