"""Keep a Bybit order book from raw V5 frames and read it.

Replays the real XRPUSDT capture from ../shared/data when it is there, otherwise a simulated
market, frame by frame through the same code path a live feed uses.

    python examples/book_from_frames.py
"""
import pathlib

from ofi import OrderBook

CAPTURE = pathlib.Path(__file__).resolve().parents[1].parent / "shared/data/bybit/v5/2024-12-01_XRPUSDT_ob500.data"


def frames():
    if CAPTURE.is_file():
        return "XRPUSDT", "0.0001", CAPTURE.read_text().splitlines()
    from ofi.sim import SimulatedMarket

    market = SimulatedMarket(symbol="BTCUSDT", tick_size="0.1", depth=200, seed=1)
    return "BTCUSDT", "0.1", [f.raw for f in market.generate(n_messages=500) if f.kind == "book"]


def main():
    symbol, tick, raws = frames()
    book = OrderBook(symbol, tick_size=tick)
    for raw in raws:
        book.apply_frame(raw)
    bid, bid_size, ask, ask_size = book.bbo()
    print(f"{symbol} u={book.update_id} levels={book.n_bids}/{book.n_asks}")
    print(f"best bid {bid} x {bid_size}   best ask {ask} x {ask_size}")
    print(f"mid {book.mid_price():.6f}  microprice {book.microprice():.6f}  spread {book.spread_bps():.3f} bps")
    print(f"depth(10) {book.depth(10)}  imbalance(10) {book.depth_imbalance(10):+.3f}")


if __name__ == "__main__":
    main()
