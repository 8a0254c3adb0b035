"""Markdown ratio table from a pytest-benchmark JSON file.

Usage::

    pytest bench --benchmark-only --benchmark-json=/tmp/bench.json
    python bench/report.py /tmp/bench.json            # prints the table

Per group, the row whose ``extra_info["impl"] == "ours"`` is the reference; every row shows
``ours speedup = row median per unit / ours median per unit`` (> 1: ofi is faster). Units are the
``extra_info["unit"]`` the benchmark recorded (a level update, a read, a frame). Targets come from
``extra_info["target_ns"]`` (ns per unit) and ``extra_info["target_speedup"]`` ({peer impl: ratio});
per-call percentiles from ``extra_info["replay_p50_ns"]`` / ``["replay_p99_ns"]`` (with ``target_p99_ns``).
"""
from __future__ import annotations

import argparse
import json
import sys

GROUP_ORDER = ["apply-delta-30", "tob-read", "decode-apply", "tape-replay", "ofi-update", "mlofi-update",
               "ofi-batch", "vpin-add-trade", "vpin-series", "kyle-stream", "kyle-batch", "stream-handler",
               "stream-loopback", "features-extract", "features-event", "features-transform",
               "model-one-row", "model-batch", "backtest", "backtest-model", "report-html", "report-json"]


def _fmt_time(seconds: float) -> str:
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def _ns_per_unit(b: dict) -> float | None:
    info = b.get("extra_info", {})
    n = info.get("n_units")
    if not n:
        return None
    return b["stats"]["median"] / n * 1e9


def _group_rank(group: str) -> tuple[int, str]:
    return (GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER), group)


def render(benchmarks: list[dict]) -> str:
    """Return the markdown table (and target lines) for pytest-benchmark ``benchmarks`` records."""
    groups: dict[str, list[dict]] = {}
    for b in benchmarks:
        groups.setdefault(b.get("group") or "(none)", []).append(b)

    lines = [
        "| group | implementation | median / round | ns per unit | unit | ours speedup (peer/ours) |",
        "|---|---|---:|---:|---|---:|",
    ]
    verdicts: list[str] = []
    for group in sorted(groups, key=_group_rank):
        rows = groups[group]
        ours = next((b for b in rows if b.get("extra_info", {}).get("impl") == "ours"), None)
        ours_ns = _ns_per_unit(ours) if ours else None

        def key(b):
            ns = _ns_per_unit(b)
            return (b["extra_info"].get("impl") != "ours", ns if ns is not None else float("inf"))

        by_impl: dict[str, float] = {}
        for b in sorted(rows, key=key):
            info = b.get("extra_info", {})
            ns = _ns_per_unit(b)
            by_impl[info.get("impl", b["name"])] = ns
            if info.get("impl") == "ours":
                ratio = "**1.00 (ours)**"
            elif ns is not None and ours_ns:
                ratio = f"{ns / ours_ns:.2f}x"
            else:
                ratio = "n/a"
            label = info.get("label") or b["name"]
            ns_txt = f"{ns:,.1f}" if ns is not None else "n/a"
            lines.append(
                f"| {group} | {label} | {_fmt_time(b['stats']['median'])} | {ns_txt} | "
                f"{info.get('unit', '')} | {ratio} |"
            )

        if ours is None or ours_ns is None:
            verdicts.append(f"- {group}: no `ours` result")
            continue
        info = ours["extra_info"]
        checks = []
        if info.get("target_ns") is not None:
            ok = ours_ns <= info["target_ns"]
            checks.append(f"{ours_ns:.1f} ns/{info.get('unit')} vs target <= {info['target_ns']:g}: "
                          f"{'met' if ok else 'MISSED'}")
        if info.get("replay_p50_ns") is not None:
            p50, p99 = info["replay_p50_ns"], info["replay_p99_ns"]
            ok = p50 <= info.get("target_ns", float("inf")) and p99 <= info.get("target_p99_ns", float("inf"))
            checks.append(f"per-call over a replay: p50 {p50:,.0f} ns, p99 {p99:,.0f} ns vs targets "
                          f"<= {info.get('target_ns', 0):g} / {info.get('target_p99_ns', 0):g}: "
                          f"{'met' if ok else 'MISSED'}")
        for peer, want in (info.get("target_speedup") or {}).items():
            peer_ns = by_impl.get(peer)
            if peer_ns is None:
                checks.append(f"vs {peer}: not run")
                continue
            got = peer_ns / ours_ns
            checks.append(f"{got:.2f}x vs {peer} (target >= {want:g}x): {'met' if got >= want else 'MISSED'}")
        extra = []
        for k in ("levels_per_message", "frame_bytes", "messages", "levels"):
            if info.get(k):
                extra.append(f"{k}={info[k]}")
        verdicts.append(f"- **{group}**: " + "; ".join(checks or ["no target"])
                        + (f" ({', '.join(extra)})" if extra else ""))
    return "\n".join(lines + [""] + verdicts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json_path", help="file written by pytest --benchmark-json")
    args = ap.parse_args(argv)
    with open(args.json_path) as fh:
        data = json.load(fh)
    machine = data.get("machine_info", {})
    print(f"<!-- {machine.get('python_implementation', '')} {machine.get('python_version', '')}, "
          f"{machine.get('cpu', {}).get('brand_raw', '')}, {data.get('datetime', '')} -->")
    print(render(data.get("benchmarks", [])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
