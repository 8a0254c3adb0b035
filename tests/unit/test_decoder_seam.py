"""The seam between the venue-neutral core and a venue's frame decoder (docs/core-api.md "Frame decoders").

The core (``ofi._core``) knows no venue: a book applies frames through its decoder's virtual methods,
and ``import ofi`` registers Bybit's decoder as the default. These tests pin who decides what.
"""
from __future__ import annotations

import pathlib
import re

import pytest

from ofi import OrderBook, Trade
from ofi._core.decoder import FrameDecoder, default_decoder, set_default_decoder, shared_decoder
from ofi.data.tape import frames_to_tape
from ofi.errors import InvalidInputError
from ofi.venues.bybit._decode import BybitDecoder, decoder_for
from ofi.venues.bybit.topics import book_topic_symbol, unsupported_topic_message

from support import frame  # noqa: E402

CORE = pathlib.Path(__file__).resolve().parents[2] / "ofi" / "_core"
SNAP = frame("snapshot", [("100", "1")], [("101", "2")], 5, symbol="BTCUSDT")
TRADE = ('{"topic":"publicTrade.BTCUSDT","ts":2,"type":"snapshot","data":[{"T":1,"s":"BTCUSDT","S":"Buy",'
         '"v":"0.5","p":"100","i":"a"}]}')


def test_the_core_sources_hold_no_venue_grammar():
    # Bybit's topics, field names and REST shape live in ofi/venues/bybit; the core's sources may name
    # Bybit in prose, but not as a string they match on.
    for path in sorted(CORE.glob("*.p*")):
        if path.suffix not in (".pyx", ".pxd"):
            continue
        text = path.read_text()
        for pattern in (r'b?"orderbook\.', r'b?"publicTrade', r'"retCode"', r'b"(u|s|b|a|seq|cts|T|S|v|p|i|BT|RPI)"',
                        r'"result"'):
            assert not re.search(pattern, text), (path.name, pattern)


def test_default_decoder_is_bybits_and_books_use_it():
    assert isinstance(default_decoder("0.1"), BybitDecoder)
    assert default_decoder("0.1") is not default_decoder("0.1")
    assert default_decoder("0.1", shared=True) is default_decoder("0.1", shared=True) is decoder_for("0.1")
    book = OrderBook("BTCUSDT", tick_size="1")
    assert book.apply_frame(SNAP) and book.topic == "orderbook.50.BTCUSDT"
    assert frames_to_tape([SNAP], "1")["price_ticks"].tolist() == [100, 101]
    assert Trade.from_frame(TRADE, "1")[0].price_ticks == 100


@pytest.mark.parametrize("decoder", [BybitDecoder, BybitDecoder("1"), lambda tick: BybitDecoder(tick)])
def test_a_book_takes_a_decoder_or_a_factory(decoder):
    book = OrderBook("BTCUSDT", tick_size="1", decoder=decoder)
    assert book.apply_frame(SNAP) and book.bbo() == (100.0, 1.0, 101.0, 2.0)
    other = book.copy()
    assert other.bbo() == book.bbo() and other.apply_frame(frame("delta", [("100", "3")], [], 6, symbol="BTCUSDT"))


def test_a_book_refuses_a_decoder_it_cannot_use():
    with pytest.raises(InvalidInputError, match="decoder.tick_size"):
        OrderBook("BTCUSDT", tick_size="1", decoder=BybitDecoder("0.5"))
    with pytest.raises(InvalidInputError, match="decoder must be"):
        OrderBook("BTCUSDT", tick_size="1", decoder="bybit")
    with pytest.raises(InvalidInputError, match="not a FrameDecoder"):
        OrderBook("BTCUSDT", tick_size="1", decoder=lambda tick: object())


def test_the_base_decoder_parses_levels_but_decodes_no_frame():
    base = FrameDecoder("0.01")
    assert base.parse_level("100.25", "1.5") == (10025, 1.5)
    with pytest.raises(InvalidInputError, match="decodes no frames"):
        base.decode(SNAP)
    book = OrderBook("BTCUSDT", tick_size="1", decoder=FrameDecoder)
    with pytest.raises(InvalidInputError, match="decodes no frames"):
        book.apply_frame(SNAP)
    assert book.rejected == 1 and book.apply_levels([100], [1.0], [101], [2.0], True, 5)


def test_set_default_decoder_returns_the_previous_factory():
    with pytest.raises(InvalidInputError, match="factory must be callable"):
        set_default_decoder("bybit")
    previous = set_default_decoder(FrameDecoder)
    try:
        assert previous is BybitDecoder
        assert type(default_decoder("1")) is FrameDecoder
        with pytest.raises(InvalidInputError, match="decodes no frames"):
            OrderBook("BTCUSDT", tick_size="1").apply_frame(SNAP)
        assert OrderBook("BTCUSDT", tick_size="1", decoder=BybitDecoder).apply_frame(SNAP)
    finally:
        assert set_default_decoder(previous) is FrameDecoder


def test_shared_decoders_are_one_per_factory_and_tick():
    assert shared_decoder(BybitDecoder, "0.1") is shared_decoder(BybitDecoder, "0.1")
    assert shared_decoder(BybitDecoder, "0.1") is not shared_decoder(FrameDecoder, "0.1")
    assert shared_decoder(BybitDecoder, 0.1) is shared_decoder(BybitDecoder, 0.1)


@pytest.mark.parametrize(("topic", "symbol"), [
    ("orderbook.50.BTCUSDT", "BTCUSDT"), ("orderbook.1.BTC-27DEC24", "BTC-27DEC24"),
    ("orderbook.full.BTCUSDT", "BTCUSDT"), ("orderbook.rpi.BTCUSDT", "BTCUSDT"),
    ("orderbook.x.BTCUSDT", None), ("orderbook.\u0665\u0660.BTCUSDT", None), ("orderbook.50.", None),
    ("orderbook.50.BTC.USDT", None), ("publicTrade.BTCUSDT", None), ("orderbook50.BTCUSDT", None),
])
def test_book_topic_symbol(topic, symbol):
    assert book_topic_symbol(topic) == symbol


def test_unsupported_topic_message_names_the_topic():
    msg = unsupported_topic_message("tickers.BTCUSDT")
    assert "tickers.BTCUSDT" in msg and "REST tickers endpoint" in msg and "orderbook.*" in msg


def test_a_recording_files_frames_by_the_default_decoders_symbol_rule(tmp_path):
    # The recorder (ofi.data) asks the registered decoder which symbol a frame belongs to; it holds no
    # venue's topic rule itself.
    from ofi._core.decoder import frame_symbol_rule
    from ofi.data.recording import CONTROL_SYMBOL, RecordingWriter, read_recording

    frame_symbol = frame_symbol_rule()
    assert FrameDecoder.frame_symbol(SNAP) is None                     # the base knows no layout
    assert BybitDecoder.frame_symbol(SNAP) == "BTCUSDT" == frame_symbol(SNAP)
    assert frame_symbol(TRADE) == "BTCUSDT" and frame_symbol('{"op":"pong"}') is None
    assert frame_symbol('{"topic":"orderbook.50.BTC/USDT"}') is None    # not a symbol: a control file

    def write(directory):
        with RecordingWriter(directory) as w:
            w.write(SNAP, 1_700_000_000_000_000_000)
            w.write('{"op":"pong"}', 1_700_000_000_000_000_001)
        return sorted(p.parent.parent.name for p in directory.rglob("*.jsonl.gz"))   # one file per symbol

    assert write(tmp_path / "bybit") == sorted(["BTCUSDT", CONTROL_SYMBOL])
    previous = set_default_decoder(lambda tick: BybitDecoder(tick))       # a factory without the rule
    try:
        assert write(tmp_path / "plain") == [CONTROL_SYMBOL]               # both frames in the control file
    finally:
        set_default_decoder(previous)
