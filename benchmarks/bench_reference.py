"""Reference points for the weekly run and the backtest, measured on the scale universe.

(a) A bare loop: every week for ten years, pick the 20 best tickers by 12-1 month momentum and run
PyPortfolioOpt's Ledoit-Wolf minimum variance on their last year of prices. No data checks, no
factors beyond momentum, no ledger: what the optimizer work alone costs.
(b) skfolio doing similar work with its own machinery: a Pipeline that pre-selects 20 assets
(``SelectKExtremes`` on mean return over the training year, i.e. momentum) and then fits
``MeanRisk`` minimum variance with a Ledoit-Wolf prior, walked forward weekly with ``WalkForward``
and ``cross_val_predict``. Slow (about 1.5 minutes here): ``--skip-skfolio`` leaves it out.

Both use the tickers with complete history (small gaps forward-filled), because neither copes with
missing prices; they are reference figures, not products.

    python benchmarks/bench_reference.py [--prices FILE] [--repeat 3] [--skip-skfolio] [--json OUT]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import DEFAULT_WORK, Row, ensure_universe, machine, median, print_rows, write_json  # noqa: E402

LOOKBACK = 252
SKIP = 21
POSITIONS = 20
WEEK = 5


def clean_prices(path: Path):
    """Wide close prices of the tickers priced on every day (gaps of up to 5 days filled)."""
    import pandas as pd

    frame = pd.read_parquet(path)
    if "ticker" in frame.columns:
        frame = frame.pivot(index="date", columns="ticker", values="close")
    frame = frame.sort_index().ffill(limit=5)
    return frame.dropna(axis=1, how="any")


def week_ends(index) -> list[int]:
    """Positions of the last trading day of each calendar week after the first year."""
    import pandas as pd

    s = pd.Series(range(len(index)), index=index)
    ends = s.groupby(index.to_period("W-FRI")).max().to_numpy()
    return [int(i) for i in ends if i >= LOOKBACK]


def bare_loop(prices) -> int:
    """Momentum top 20 then Ledoit-Wolf minimum variance, every week; returns the number of weeks."""
    import numpy as np
    from pypfopt import EfficientFrontier, risk_models

    values = prices.to_numpy()
    weeks = week_ends(prices.index)
    for t in weeks:
        momentum = values[t - SKIP] / values[t - LOOKBACK] - 1.0
        top = np.argsort(-momentum, kind="stable")[:POSITIONS]
        window = prices.iloc[t - LOOKBACK + 1:t + 1, top]
        cov = risk_models.CovarianceShrinkage(window, frequency=LOOKBACK).ledoit_wolf()
        ef = EfficientFrontier(None, cov, weight_bounds=(0, 1), solver="CLARABEL")
        ef.min_volatility()
        ef.clean_weights()
    return len(weeks)


def skfolio_walk_forward(prices) -> int:
    """skfolio's Pipeline(SelectKExtremes(20, mean) -> MeanRisk min variance, Ledoit-Wolf) walked forward weekly."""
    from sklearn.pipeline import Pipeline
    from skfolio.measures import PerfMeasure
    from skfolio.model_selection import WalkForward, cross_val_predict
    from skfolio.moments import LedoitWolf
    from skfolio.optimization import MeanRisk, ObjectiveFunction
    from skfolio.pre_selection import SelectKExtremes
    from skfolio.preprocessing import prices_to_returns
    from skfolio.prior import EmpiricalPrior

    returns = prices_to_returns(prices)
    model = Pipeline([
        ("select", SelectKExtremes(k=POSITIONS, measure=PerfMeasure.MEAN, highest=True)),
        ("optimize", MeanRisk(objective_function=ObjectiveFunction.MINIMIZE_RISK,
                              prior_estimator=EmpiricalPrior(covariance_estimator=LedoitWolf()))),
    ])
    cv = WalkForward(train_size=LOOKBACK, test_size=WEEK)
    portfolio = cross_val_predict(model, returns, cv=cv)
    return len(portfolio.portfolios)


def run(prices_path: Path, repeat: int, skip_skfolio: bool) -> list[Row]:
    prices = clean_prices(prices_path)
    import pypfopt  # noqa: F401  -- imports are the floor's business, not the loop's
    shape = f"{prices.shape[1]} complete tickers x {prices.shape[0]} days"
    times, cpu = [], []
    weeks = 0
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        weeks = bare_loop(prices)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    rows = [Row("reference: bare momentum + LW minvar loop", median(times), times, cpu_seconds=median(cpu),
                note=f"{weeks} weekly optimisations, {shape}")]
    if not skip_skfolio:
        start, start_cpu = time.perf_counter(), time.process_time()
        n = skfolio_walk_forward(prices)
        seconds = time.perf_counter() - start
        rows.append(Row("reference: skfolio WalkForward select20+minvar", seconds, [seconds],
                        cpu_seconds=time.process_time() - start_cpu,
                        reference="bare loop", ref_seconds=median(times),
                        note=f"{n} weekly fits, {shape}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prices", type=Path, help="price file (default: generate the 623 x 10y universe)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder for generated data")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-skfolio", action="store_true", help="leave out the slow skfolio walk-forward")
    parser.add_argument("--json", type=Path, help="write the rows here for run_all.py")
    args = parser.parse_args(argv)
    prices = args.prices or ensure_universe(args.work / "universe")
    rows = run(prices, args.repeat, args.skip_skfolio)
    print_rows(rows, f"Reference comparisons ({machine()})")
    if args.json:
        write_json(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
