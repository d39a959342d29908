"""Scoring and weighting cost on the scale universe: ``score_universe`` and ``optimize``.

The weekly backtest calls both about 520 times (ten years of weeks), so their per-call cost is
what matters. Measured on the generated 623-ticker, ten-year universe (defects included, as the
pure functions would see them only after the data-quality step; here they see the raw prices):

* ``score_universe`` on the full history (2520 x 623) and in a weekly loop over growing
  histories, which must cost the same per call since only the last window is read;
* ``optimize`` for each method on 20 selected tickers;
* ``allocate_shares`` (lp with HiGHS, greedy) for the same 20.

    python benchmarks/bench_scoring.py [--prices FILE] [--repeat 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import (DEFAULT_WORK, Row, ensure_universe, machine, median, print_rows,  # noqa: E402
                     read_wide, write_json)

def time_calls(fn, repeat: int = 3, warmup: int = 0) -> tuple[list[float], float]:
    """Wall seconds of ``repeat`` calls and the median process CPU seconds per call.

    CPU time is reported next to wall time because the benchmark machine is shared: under load
    wall time grows while CPU time stays close to what an idle desktop would see.
    """
    import time

    for _ in range(warmup):
        fn()
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, median(cpus)


WEIGHTS = {"momentum": 0.30, "quality": 0.30, "value": 0.20, "volatility": 0.20}
POSITIONS = 20


def measure(close, repeat: int) -> list[Row]:
    """Rows for the scoring and weighting steps on the wide close frame ``close``."""
    import time

    from factors import score_universe
    from optimizers import OPTIMIZERS, allocate_shares, optimize, select_top

    shape = f"{close.shape[0]} days x {close.shape[1]} tickers"
    rows = []
    times, cpu = time_calls(lambda: score_universe(close, weights=WEIGHTS), repeat=repeat, warmup=1)
    rows.append(Row("score_universe, full history", median(times), times, cpu_seconds=cpu,
                    note=f"{median(times) * 1e3:.1f} ms wall, {cpu * 1e3:.1f} ms cpu; {shape}"))

    ends = list(range(300, len(close), 5))
    start, cpu_start = time.perf_counter(), time.process_time()
    for end in ends:
        score_universe(close.iloc[:end], weights=WEIGHTS)
    per_call = (time.perf_counter() - start) / len(ends)
    cpu = (time.process_time() - cpu_start) / len(ends)
    rows.append(Row("score_universe, weekly loop (per call)", per_call, [per_call], cpu_seconds=cpu,
                    note=f"{per_call * 1e3:.1f} ms wall, {cpu * 1e3:.1f} ms cpu; "
                         f"{len(ends)} calls on growing histories"))

    scores = score_universe(close, weights=WEIGHTS)["composite"]
    tickers = select_top(scores, POSITIONS)
    prices = close[tickers].ffill(limit=5)
    for method in OPTIMIZERS:
        result = optimize(method, prices, scores)
        times, cpu = time_calls(lambda m=method: optimize(m, prices, scores),
                                repeat=max(repeat, 10), warmup=1)
        rows.append(Row(f"optimize {method}, {POSITIONS} tickers", median(times), times,
                        cpu_seconds=cpu,
                        note=f"{median(times) * 1e3:.1f} ms wall, {cpu * 1e3:.1f} ms cpu; "
                             f"method used: {result.method}"))

    weights = optimize("mvo", prices, scores).weights
    latest = prices.iloc[-1]
    for how in ("lp", "greedy"):
        times, cpu = time_calls(lambda h=how: allocate_shares(weights, latest, 1_000_000, method=h),
                                repeat=max(repeat, 10), warmup=1)
        rows.append(Row(f"allocate_shares {how}, {POSITIONS} tickers", median(times), times,
                        cpu_seconds=cpu,
                        note=f"{median(times) * 1e3:.1f} ms wall, {cpu * 1e3:.1f} ms cpu"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prices", type=Path, help="price file (default: generate the 623 x 10y universe)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder for generated data")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the rows here as JSON")
    args = parser.parse_args(argv)
    path = args.prices or ensure_universe(args.work)
    close, _ = read_wide(path)
    close = close.sort_index().astype("float64")
    rows = measure(close, args.repeat)
    print(machine())
    print_rows(rows, "scoring and weighting")
    if args.json:
        write_json(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
