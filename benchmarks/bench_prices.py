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

    def requested_ticker_days(self, calendar) -> tuple[int, int, int]:
        """(calls, tickers requested, ticker x trading-day cells requested) since the last reset."""
        cells = 0
        tickers = 0
        for r in self.requests:
            days = int(((calendar >= r["start"]) & (calendar < r["end"])).sum())
            cells += days * len(r["tickers"])
            tickers += len(r["tickers"])
        return len(self.requests), tickers, cells


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
                counts[label] = (*fake.requested_ticker_days(calendar), data.close.shape)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    n_tickers = close.shape[1]
    calls2, tickers2, cells2 = counts["second"][:3]
    new_cells = n_tickers * new_days
    overlap_days = config.overlap_days  # calendar days re-fetched to catch revisions
    overlap_trading = int(((calendar > first_day - pd.Timedelta(days=overlap_days)) & (calendar <= first_day)).sum())
    allowed = n_tickers * (new_days + overlap_trading)
    calls3, tickers3, cells3 = counts["third"][:3]
    return [
        Row("prices: first run, full history (fake yfinance)", median(first_t), first_t,
            note=f"{counts['first'][0]} calls, {counts['first'][2]:,} ticker-days requested; "
                 f"result {counts['first'][3][1]} tickers x {counts['first'][3][0]} days"),
        Row(f"prices: incremental, {new_days} new days", median(second_t), second_t,
            reference="first run", ref_seconds=median(first_t),
            target=f"<= {new_days}+{overlap_trading} days/ticker", passed=cells2 <= allowed,
            note=f"{calls2} calls, {tickers2} tickers, {cells2:,} ticker-days requested vs {new_cells:,} new "
                 f"({cells2 / new_cells:.2f}x; overlap of {overlap_days} calendar days = {overlap_trading} "
                 f"trading days allowed)"),
        Row("prices: same day again (cache covers it)", median(third_t), third_t,
            reference="first run", ref_seconds=median(first_t), target="0 requested",
            passed=cells3 == 0, note=f"{calls3} calls, {cells3:,} ticker-days requested"),
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
