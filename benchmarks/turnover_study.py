"""The evidence behind the turnover-control defaults: each control alone, all together, none.

Runs the sample backtest (8 positions, every optimizer, equal weight and the benchmark) for each
control set, on the first half of 2016-2022 (where the defaults were chosen), the second half (out
of sample) and the whole period, at 5 and 20 bps, and prints markdown tables: one-way turnover a
year, share of weeks with trades, net CAGR and Sharpe at both costs, and the largest drawdown.
``docs/turnover.md`` holds its output.

    .venv/bin/python benchmarks/turnover_study.py            # about 4 minutes on 2 cores
    .venv/bin/python benchmarks/turnover_study.py --jobs 1
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
from joblib import Parallel, delayed

PERIODS = {
    "first half 2016-01-01 to 2019-06-30 (defaults chosen here)": ("2016-01-01", "2019-06-30"),
    "second half 2019-07-01 to 2022-12-31 (out of sample)": ("2019-07-01", "2022-12-31"),
    "whole period 2016-01-01 to 2022-12-31": ("2016-01-01", "2022-12-31"),
}
OFF = {"selection_buffer": 0, "turnover_penalty": 0.0, "no_trade_band": 0.0}
CONTROLS = {
    "none (turnover_control = false)": {"turnover_control": False},
    "selection buffer only": {**OFF, "selection_buffer": None},
    "turnover penalty only": {**OFF, "turnover_penalty": None},
    "no-trade band only": {**OFF, "no_trade_band": None},
    "all (the defaults)": {},
}


def _one(start: str, end: str, controls: dict, bps: float) -> dict:
    from etftrader.backtest import run_backtest
    from etftrader.config import Config
    from etftrader.paths import Home
    from etftrader.prices import load_prices

    defaults = Config().rebalance
    chosen = {k: (getattr(defaults, k) if v is None else v) for k, v in controls.items()}
    config = Config().override(data={"source": "sample"}, portfolio={"positions": 8},
                               rebalance={"cost_bps": bps, **chosen})
    with tempfile.TemporaryDirectory() as tmp:
        data = load_prices(config.data, Home(Path(tmp)))
    result = run_backtest(data, config, optimizers="mvo,minvar,rankbased", start=pd.Timestamp(start), end=pd.Timestamp(end),
                          positions=8, workers=1, fill="same_close")  # as the figures were measured
    weeks = len(result.schedule)
    out = {}
    for name in (*result.strategies, *([result.benchmark] if result.benchmark else [])):
        m = result.metrics[name]
        d = result.decisions[result.decisions["strategy"] == name]
        out[name] = {"turnover": m["turnover"], "trade_weeks": (d["trades"] > 0).sum() / weeks if len(d) else float("nan"),
                     "cagr": m["cagr"], "sharpe": m["sharpe"], "max_drawdown": m["max_drawdown"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="joblib processes (default 2)")
    args = parser.parse_args()
    cells = [(p, c, bps) for p in PERIODS for c in CONTROLS for bps in (5.0, 20.0)]
    results = Parallel(n_jobs=args.jobs)(delayed(_one)(*PERIODS[p], CONTROLS[c], bps) for p, c, bps in cells)
    got = dict(zip(cells, results))
    for period in PERIODS:
        print(f"\n### {period}\n")
        print("| book | controls | turnover / yr | weeks with trades | CAGR 5 bps | Sharpe 5 bps | "
              "CAGR 20 bps | Sharpe 20 bps | max drawdown |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        books = list(got[(period, "all (the defaults)", 5.0)])
        for book in books:
            for controls in CONTROLS:
                a, b = got[(period, controls, 5.0)][book], got[(period, controls, 20.0)][book]
                if book not in ("mvo", "minvar", "rankbased", "equal_weight") and controls != "all (the defaults)":
                    continue  # the benchmark does not trade: one row
                label = "-" if book not in ("mvo", "minvar", "rankbased", "equal_weight") else controls
                weeks = "-" if a["trade_weeks"] != a["trade_weeks"] else f"{a['trade_weeks']:.0%}"
                print(f"| {book} | {label} | {a['turnover']:.2f} | {weeks} | {a['cagr']:.1%} | "
                      f"{a['sharpe']:.2f} | {b['cagr']:.1%} | {b['sharpe']:.2f} | {a['max_drawdown']:.1%} |")


if __name__ == "__main__":
    main()
