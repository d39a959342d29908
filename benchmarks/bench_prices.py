"""Incremental price update on the scale universe, against a fake yfinance that records every request.

The yfinance boundary is replaced through ``load_prices(..., fetcher=...)`` by a function with
``yfinance.download``'s signature that serves the generated universe as frames shaped like
yfinance 1.x's (``MultiIndex (Price, Ticker)`` columns, ``Date`` index) and logs what was asked
for. Three runs into one home folder, each "as of" a later day:

1. first run: the full history of every ticker (cold cache);
2. after ``--new-days`` more trading days: what is requested (tickers x trading days) compared with
   the new days; the target is nothing beyond the configured revision overlap (``overlap_days``);
3. the same day again: nothing should be requested at all.

Times are medians over ``--repeat`` fresh home folders.

    python benchmarks/bench_prices.py [--new-days 5] [--repeat 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import DEFAULT_WORK, Row, ensure_universe, machine, median, print_rows, read_wide, write_json  # noqa: E402


class FakeYahoo:
    """``yfinance.download`` stand-in serving a wide close/volume universe and recording requests."""

    def __init__(self, close, volume):
        self.close = close
        self.volume = volume
        self.requests: list[dict] = []

    def __call__(self, tickers, start=None, end=None, **kwargs):
        import pandas as pd

        tickers = [tickers] if isinstance(tickers, str) else list(tickers)
        start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(end)
        rows = (self.close.index >= start_ts) & (self.close.index < end_ts)  # yfinance: end exclusive
        present = [t for t in tickers if t in self.close.columns]
        close = self.close.loc[rows, present].reindex(columns=tickers)
        close = close.loc[close.notna().any(axis=1)]
        volume = self.volume.reindex(index=close.index, columns=tickers)
        self.requests.append({"tickers": tickers, "start": start_ts, "end": end_ts, "rows": len(close)})
        if close.empty:
            return pd.DataFrame()  # what yfinance returns when nothing matched
        fields = {"Close": close, "High": close * 1.01, "Low": close * 0.99, "Open": close, "Volume": volume}
        frame = pd.concat(fields, axis=1, names=["Price", "Ticker"])
        frame.index.name = "Date"
        return frame

    def requested_ticker_days(self, calendar, held_through=None) -> dict:
        """What was asked since the last reset.

        ``cells`` counts ticker x trading-day cells requested; ``held`` those of them the cache
        already held (a price dated on or before ``held_through``): the re-downloaded part.
        ``lagging`` lists tickers requested from before the common overlap window (their own
        last price is older, e.g. delisted).
        """
        out = {"calls": len(self.requests), "tickers": 0, "cells": 0, "held": 0, "lagging": set()}
        for r in self.requests:
            in_range = (calendar >= r["start"]) & (calendar < r["end"])
            out["tickers"] += len(r["tickers"])
            out["cells"] += int(in_range.sum()) * len(r["tickers"])
            if held_through is not None:
                window = in_range & (calendar <= held_through)
                present = [t for t in r["tickers"] if t in self.close.columns]
                out["held"] += int(self.close.loc[window, present].notna().to_numpy().sum())
            if r["tickers"] and held_through is not None and r["start"] < held_through - _OVERLAP_SLACK:
                out["lagging"].update(r["tickers"])
        return out


#: a request starting this long before the cached last day is not the revision overlap
_OVERLAP_SLACK = timedelta(days=14)


def run(prices_path: Path, universe_csv: Path, new_days: int, repeat: int) -> list[Row]:
    import pandas as pd

    from etftrader.config import DataConfig
    from etftrader.paths import Home
    from etftrader.prices import load_prices

    close, volume = read_wide(prices_path)
    calendar = close.index
    first_day = calendar[-1 - new_days]
    second_day = calendar[-1]
    years = (first_day - calendar[0]).days + 1
    config = DataConfig(source="yfinance", universe=str(universe_csv), benchmark="SPY", history_days=years)
    fake = FakeYahoo(close, volume)

    first_t, second_t, third_t = [], [], []
    counts = {}
    for _ in range(repeat):
        root = Path(tempfile.mkdtemp(prefix="bench_prices_"))
        try:
            home = Home(root).ensure()
            for label, day, times in (("first", first_day, first_t), ("second", second_day, second_t),
                                      ("third", second_day, third_t)):
                fake.requests.clear()
                start = time.perf_counter()
                data = load_prices(config, home, as_of=day.date(), fetcher=fake, sleep=lambda s: None)
                times.append(time.perf_counter() - start)
                held_through = None if label == "first" else (first_day if label == "second" else second_day)
                counts[label] = {**fake.requested_ticker_days(calendar, held_through), "shape": data.close.shape}
        finally:
            shutil.rmtree(root, ignore_errors=True)

    n_tickers = close.shape[1]
    second, third, first = counts["second"], counts["third"], counts["first"]
    new_cells = n_tickers * new_days
    overlap_days = config.overlap_days  # calendar days re-fetched to catch revisions
    overlap_trading = int(((calendar > first_day - pd.Timedelta(days=overlap_days)) & (calendar <= first_day)).sum())
    allowed = n_tickers * overlap_trading

    def lagging(c: dict) -> str:
        names = sorted(c["lagging"])
        return f"; requested from their own older last price: {len(names)} ({', '.join(names[:6])})" if names else ""

    return [
        Row("prices: first run, full history (fake yfinance)", median(first_t), first_t,
            note=f"{first['calls']} calls, {first['cells']:,} ticker-days requested; "
                 f"result {first['shape'][1]} tickers x {first['shape'][0]} days"),
        Row(f"prices: incremental, {new_days} new days", median(second_t), second_t,
            reference="first run", ref_seconds=median(first_t),
            target=f"re-fetch <= {overlap_trading} days/ticker", passed=second["held"] <= allowed,
            note=f"{second['calls']} calls, {second['tickers']} tickers; {second['cells']:,} ticker-days requested "
                 f"for {new_cells:,} new ({second['cells'] / new_cells:.2f}x); already cached and fetched again: "
                 f"{second['held']:,} = {second['held'] / n_tickers:.1f} days/ticker (overlap {overlap_days} calendar "
                 f"days = {overlap_trading} trading days){lagging(second)}"),
        Row("prices: same day again (cache covers it)", median(third_t), third_t,
            reference="first run", ref_seconds=median(first_t), target="nothing re-fetched",
            passed=third["held"] == 0,
            note=f"{third['calls']} calls, {third['cells']:,} ticker-days requested, of which cached: "
                 f"{third['held']:,}{lagging(third)}"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder for generated data")
    parser.add_argument("--new-days", type=int, default=5, help="trading days between the first and second run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the rows here for run_all.py")
    args = parser.parse_args(argv)
    prices = ensure_universe(args.work / "universe")
    rows = run(prices, prices.parent / "universe.csv", args.new_days, args.repeat)
    print_rows(rows, f"Incremental price update ({machine()})")
    if args.json:
        write_json(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
