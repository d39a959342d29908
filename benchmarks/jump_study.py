"""The evidence behind the jump rule: the sample's results at several one-day limits.

Runs the sample backtest (8 positions, every optimizer, equal weight and the benchmark, next-close
fills) with ``max_daily_move`` at each limit, over the default ten years and over 2016-2022, and
prints a markdown table of net CAGR per book. ``docs/jumps.md`` holds its output: with the rule of
``etftrader.prices.quality`` (bad prints repaired, real moves kept once they hold, splits dropped)
the table's rows are identical; under the old rule (any move above the limit in the last year
dropped the ticker) they were not.

    .venv/bin/python benchmarks/jump_study.py                  # about 2 minutes on 2 cores
    .venv/bin/python benchmarks/jump_study.py --limits 0.3,0.45,0.6 --jobs 1
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
from joblib import Parallel, delayed

PERIODS = {"default ten years to 2022-12-28": None, "2016-01-01 to 2022-12-28": "2016-01-01"}


def _one(limit: float, start: str | None) -> dict[str, float]:
    from etftrader.backtest import run_backtest
    from etftrader.config import Config
    from etftrader.paths import Home
    from etftrader.prices import load_prices

    config = Config().override(data={"source": "sample", "max_daily_move": limit}, portfolio={"positions": 8})
    with tempfile.TemporaryDirectory() as tmp:
        data = load_prices(config.data, Home(Path(tmp)))
    result = run_backtest(data, config, optimizers="mvo,minvar,rankbased", positions=8, workers=1,
                          start=pd.Timestamp(start) if start else None)
    return {name: m["cagr"] for name, m in result.metrics.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limits", default="0.3,0.45,0.6,0.8", help="comma-separated max_daily_move values")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    limits = [float(v) for v in args.limits.split(",")]
    cells = [(period, limit) for period in PERIODS for limit in limits]
    results = Parallel(n_jobs=args.jobs)(delayed(_one)(limit, PERIODS[period]) for period, limit in cells)
    for period in PERIODS:
        rows = [(limit, res) for (p, limit), res in zip(cells, results) if p == period]
        books = list(rows[0][1])
        print(f"\n### Net CAGR, {period}\n")
        print("| max_daily_move | " + " | ".join(books) + " |")
        print("|---:|" + "---:|" * len(books))
        for limit, res in rows:
            print(f"| {limit:g} | " + " | ".join(f"{100 * res[b]:.2f}%" for b in books) + " |")


if __name__ == "__main__":
    main()
