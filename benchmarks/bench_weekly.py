"""The weekly run on the scale universe against its floor, measured in the same run.

Each timed run is a fresh interpreter running

    python -m etftrader weekly --source file --prices <scale file> --positions 20 --no-notebook

so the figure includes start-up and imports, as the analyst sees it. The floor is a fresh
interpreter that imports pandas, numpy, cvxpy, PyPortfolioOpt and openpyxl and reads the same price
file into a price frame; the target is at most 2 x the floor. (``--source file`` reads the file on
every run: it is its own warm cache, so there is no separate cache to warm.)

Two ledgers:

* fresh: no workbook yet (first run: everything is bought);
* history: a workbook already holding twenty years of weekly history (1,040 runs: about 20,800
  position rows and 10,400 executed trades, consistent so the holdings it implies are valid),
  copied in before each run.

And the yfinance source from a warm price cache (``--source yfinance --as-of <last day>``, history
workbook): the parquet store already holds every ticker up to that day, so nothing is downloaded.
A small driver replaces ``yfinance.download`` with the fake of ``bench_prices.py`` (which serves the
generated universe, and was used once, untimed, to fill the cache) and then calls the same CLI.

Peak memory is the maximum resident set size of the weekly process. ``--profile`` also writes a
cProfile of one history run and prints where the time goes.

    python benchmarks/bench_weekly.py [--repeat 5] [--profile] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import (  # noqa: E402
    DEFAULT_WORK,
    Row,
    cpu_median,
    ensure_universe,
    machine,
    measure_floor,
    median,
    print_rows,
    read_wide,
    run_repeated,
    write_json,
)

TARGET_RATIO = 2.0
POSITIONS = 20


def weekly_cmd(home: Path, prices: Path, extra: list[str] | None = None) -> list[str]:
    return [sys.executable, "-m", "etftrader", "weekly", "--home", str(home), "--source", "file",
            "--prices", str(prices), "--positions", str(POSITIONS), "--no-notebook", *(extra or [])]


# Runs `etftrader weekly` with yfinance.download replaced by the benchmark's fake. The fake loads
# the universe only when a known ticker is asked for, so a warm run pays nothing for it; it reports
# what was requested on stderr.
WARM_DRIVER = """
import sys
sys.path.insert(0, sys.argv[1])
prices, universe, argv = sys.argv[2], sys.argv[3], sys.argv[4:]
import csv
known = {row["ticker"] for row in csv.DictReader(open(universe, encoding="utf-8"))}
asked = []

def fake(tickers, start=None, end=None, **kwargs):
    import pandas as pd
    tickers = [tickers] if isinstance(tickers, str) else list(tickers)
    if not known.intersection(tickers):
        return pd.DataFrame()  # e.g. ^VIX: not in the generated universe
    asked.extend(t for t in tickers if t in known)
    from bench_prices import FakeYahoo
    # Only the rows of the tickers asked for, like a real answer; never the whole universe.
    rows = pd.read_parquet(prices, filters=[("ticker", "in", tickers)])
    close = rows.pivot(index="date", columns="ticker", values="close")
    volume = rows.pivot(index="date", columns="ticker", values="volume")
    return FakeYahoo(close, volume)(tickers, start=start, end=end)

from etftrader.prices import yahoo as sources  # the yfinance boundary
sources._yfinance_download = fake
sources._probe_yahoo = lambda *args, **kwargs: None  # the reachability check: Yahoo is "up"
from etftrader.cli import main
try:
    code = main(argv)
finally:
    print(f"fake yfinance: {len(asked)} known tickers requested", file=sys.stderr)
sys.exit(code)
"""


def warm_cmd(home: Path, prices: Path, as_of: str) -> list[str]:
    universe = prices.parent / "universe.csv"
    return [sys.executable, "-c", WARM_DRIVER, str(Path(__file__).resolve().parent), str(prices), str(universe),
            "weekly", "--home", str(home), "--source", "yfinance", "--as-of", as_of,
            "--positions", str(POSITIONS), "--no-notebook"]


def warm_config(prices: Path) -> str:
    universe = (prices.parent / "universe.csv").resolve().as_posix()
    return ("[data]\n"
            f'universe = "{universe}"\n'
            "history_days = 4000\n"  # the whole ten years on the first (cache-filling) run
            "download_retries = 0\n")  # ^VIX is never in the fake: do not wait on retries


def build_history(prices: Path, path: Path, *, years: int = 20, positions: int = POSITIONS,
                  turnover: int = 10, seed: int = 3) -> Path:
    """Write a tracking workbook holding ``years`` of weekly runs, through ``append_week``.

    Each week sells ``turnover // 2`` holdings outright and buys as many new tickers with the
    proceeds, every trade executed, so shares never go negative and cash stays positive. Prices are
    the universe's last closes (the history is about ledger size, not returns). Timestamps and
    ``as_of`` dates end a week before the universe's last day, so the timed run is the newest.
    Built once per ``path``; later calls reuse the file.
    """
    import numpy as np
    import pandas as pd

    from etftrader.workbook import append_week

    stamp = path.with_suffix(".json")
    wanted = {"years": years, "positions": positions, "turnover": turnover, "seed": seed, "prices": str(prices)}
    if path.exists() and stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return path
    close, _ = read_wide(prices)
    last = close.ffill().iloc[-1]
    # Only tickers with a full, clean history: holdings in them are valued at today's prices.
    clean = close.columns[close.notna().all() & (close.columns != "SPY")]
    rng = np.random.default_rng(seed)
    weeks = years * 52
    end = close.index[-1] - pd.Timedelta(days=7)
    as_of = pd.date_range(end=end, periods=weeks, freq="W-FRI")
    now = pd.Timestamp.now().floor("s") - pd.Timedelta(days=7)
    stamps = pd.date_range(end=now, periods=weeks, freq="7D")

    held = list(rng.choice(clean, size=positions, replace=False))
    capital = 1_000_000.0
    shares = {t: float(np.floor(capital / positions / last[t])) for t in held}
    cash = capital - sum(shares[t] * last[t] for t in held)
    pos, trades, perf, meta = [], [], [], []
    for w in range(weeks):
        run_id = f"{stamps[w]:%Y%m%dT%H%M%S}-hist{w:04d}"
        common = {"timestamp": stamps[w], "run_id": run_id, "as_of": as_of[w]}
        if w == 0:
            for t in held:
                trades.append({**common, "ticker": t, "action": "BUY", "shares": shares[t], "price": last[t],
                               "value": shares[t] * last[t], "executed": True, "est_cost": 0.0})
        else:
            out = list(rng.choice(held, size=turnover // 2, replace=False))
            pool = [t for t in clean if t not in held]
            new = list(rng.choice(pool, size=turnover // 2, replace=False))
            for t in out:
                trades.append({**common, "ticker": t, "action": "SELL", "shares": shares[t], "price": last[t],
                               "value": shares[t] * last[t], "executed": True, "est_cost": 0.0})
                cash += shares.pop(t) * last[t]
            budget = cash / len(new)
            for t in new:
                n = float(np.floor(budget / last[t]))
                shares[t] = n
                cash -= n * last[t]
                trades.append({**common, "ticker": t, "action": "BUY", "shares": n, "price": last[t],
                               "value": n * last[t], "executed": True, "est_cost": 0.0})
            held = [t for t in held if t not in out] + new
        invested = sum(shares[t] * last[t] for t in held)
        total = invested + cash
        for t in held:
            value = shares[t] * last[t]
            pos.append({**common, "ticker": t, "weight": value / total, "value": value, "shares": shares[t],
                        "price": last[t], "factor_score": float(rng.normal()), "target_weight": 1 / positions,
                        "current_weight": value / total})
        perf.append({**common, "total_value": total, "num_positions": positions, "expected_return": 0.08,
                     "expected_volatility": 0.12, "expected_sharpe": 0.67, "cash": cash,
                     "invested_value": invested, "pending_value": 0.0, "drift": 0.03})
        meta.append({**common, "rebalanced": True, "optimizer": "mvo", "drift_threshold": 0.05,
                     "capital": capital, "num_positions": positions, "drift": 0.03, "cash": cash,
                     "data_source": "file", "data_as_of": as_of[w], "optimizer_used": "mvo", "version": "bench"})
    cashflows = pd.DataFrame([{"timestamp": stamps[0], "type": "DEPOSIT", "amount": capital,
                               "note": "initial capital", "run_id": f"{stamps[0]:%Y%m%dT%H%M%S}-hist0000",
                               "as_of": as_of[0]}])
    rows = {"Positions": pd.DataFrame(pos), "Trades": pd.DataFrame(trades), "Performance": pd.DataFrame(perf),
            "Metadata": pd.DataFrame(meta), "CashFlows": cashflows}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    append_week(path, rows, backups_dir=path.parent / "backups", keep=0)
    stamp.write_text(json.dumps(wanted))
    return path


def run(prices: Path, work: Path, repeat: int) -> list[Row]:
    history = build_history(prices, work / "history" / "portfolio_tracking.xlsx")
    scratch = Path(tempfile.mkdtemp(prefix="bench_weekly_"))
    try:
        floor = measure_floor(prices, repeat)
        floor_s = median([m.seconds for m in floor])
        floor_cpu = cpu_median(floor)

        def fresh_home(with_history: bool):
            def prepare(i: int) -> None:
                home = scratch / "home"
                shutil.rmtree(home, ignore_errors=True)
                (home / "results").mkdir(parents=True)
                if with_history:
                    shutil.copyfile(history, home / "results" / "portfolio_tracking.xlsx")
            return prepare

        cmd = weekly_cmd(scratch / "home", prices)
        fresh = run_repeated(cmd, repeat, what="etftrader weekly (fresh)", before=fresh_home(False))
        hist = run_repeated(cmd, repeat, what="etftrader weekly (history)", before=fresh_home(True))

        # yfinance from a warm cache: fill the cache once (untimed), keep it, reset the workbook.
        import pandas as pd

        last_day = str(pd.read_parquet(prices, columns=["date"])["date"].max().date())
        warm_home = scratch / "warm"
        (warm_home / "results").mkdir(parents=True)
        (warm_home / "etftrader.toml").write_text(warm_config(prices), encoding="utf-8")
        wcmd = warm_cmd(warm_home, prices, last_day)
        filled = run_repeated(wcmd, 1, what="etftrader weekly (filling the yfinance cache)")

        def warm_book(i: int) -> None:
            shutil.copyfile(history, warm_home / "results" / "portfolio_tracking.xlsx")

        warm = run_repeated(wcmd, repeat, what="etftrader weekly (warm yfinance cache)", before=warm_book)
        fetched = [m.stderr.strip().splitlines()[-1] for m in warm]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def row(name: str, runs, note: str) -> Row:
        seconds = median([m.seconds for m in runs])
        return Row(name, seconds, [m.seconds for m in runs],
                   peak_bytes=max((m.peak_bytes or 0) for m in runs) or None,
                   reference="floor", ref_seconds=floor_s, target=f"<= {TARGET_RATIO:g}x floor",
                   passed=seconds <= TARGET_RATIO * floor_s, cpu_seconds=cpu_median(runs),
                   note=f"{note}; cpu ratio {cpu_median(runs) / floor_cpu:.2f}x" if floor_cpu and cpu_median(runs) else note)

    size_mb = history.stat().st_size / 1e6
    return [
        Row("floor: python + imports + read parquet", floor_s, [m.seconds for m in floor],
            peak_bytes=max((m.peak_bytes or 0) for m in floor) or None, cpu_seconds=floor_cpu,
            note="pandas, numpy, cvxpy, PyPortfolioOpt, openpyxl; pd.read_parquet + pivot"),
        row("weekly --no-notebook, fresh workbook", fresh, "first run: buys 20 positions"),
        row("weekly --no-notebook, 20y history workbook", hist,
            f"ledger of 1,040 weekly runs ({size_mb:.1f} MB) appended to"),
        row("weekly yfinance, warm cache, 20y history", warm,
            f"cache filled once in {filled[0].seconds:.1f} s; timed runs: {fetched[-1]}"),
    ]


def scaling(work: Path, years: list[int], repeat: int) -> list[Row]:
    """The fresh-workbook weekly run on universes of ``years`` of history (623 tickers each).

    Shows how the cost grows with history: each universe gets its own floor (reading a longer
    file costs more too), measured in the same run.
    """
    rows = []
    base = None
    scratch = Path(tempfile.mkdtemp(prefix="bench_weekly_scale_"))
    try:
        for y in years:
            prices = ensure_universe(work / f"universe_{y}y", years=y)
            floor = measure_floor(prices, repeat)
            floor_s = median([m.seconds for m in floor])

            def prepare(i: int) -> None:
                shutil.rmtree(scratch / "home", ignore_errors=True)
                (scratch / "home" / "results").mkdir(parents=True)

            runs = run_repeated(weekly_cmd(scratch / "home", prices), repeat,
                                what=f"etftrader weekly ({y} years)", before=prepare)
            seconds = median([m.seconds for m in runs])
            cpu, floor_cpu = cpu_median(runs), cpu_median(floor)
            base = base or (y, seconds, cpu)
            rows.append(Row(
                f"weekly fresh, {y} years x 623 tickers", seconds, [m.seconds for m in runs],
                peak_bytes=max((m.peak_bytes or 0) for m in runs) or None, cpu_seconds=cpu_median(runs),
                reference=f"floor ({y} years)", ref_seconds=floor_s,
                target=f"<= {TARGET_RATIO:g}x floor", passed=seconds <= TARGET_RATIO * floor_s,
                note=f"{y / base[0]:.1f}x the history of the {base[0]}-year run: {seconds / base[1]:.2f}x its time"
                     + (f", {cpu / base[2]:.2f}x its CPU; CPU {cpu:.2f} s vs floor CPU {floor_cpu:.2f} s "
                        f"({cpu / floor_cpu:.2f}x)" if cpu and floor_cpu and base[2] else "")))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return rows


def profile(prices: Path, work: Path, out: Path, top: int = 30) -> None:
    """cProfile one history run in-process and print the heaviest calls."""
    import pstats

    history = build_history(prices, work / "history" / "portfolio_tracking.xlsx")
    home = Path(tempfile.mkdtemp(prefix="bench_weekly_prof_"))
    try:
        (home / "results").mkdir(parents=True)
        shutil.copyfile(history, home / "results" / "portfolio_tracking.xlsx")
        cmd = weekly_cmd(home, prices)
        cmd[1:3] = ["-m", "cProfile", "-o", str(out), "-m", "etftrader"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    stats = pstats.Stats(str(out))
    print(f"\nProfile of one history run written to {out}; top {top} by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)
    print(f"top {top} by own time:")
    stats.sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder for generated data")
    parser.add_argument("--prices", type=Path, help="price file (default: generate the 623 x 10y universe)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="also profile one history run")
    parser.add_argument("--scaling", type=int, nargs="+", metavar="YEARS",
                        help="instead: the fresh run on universes of these many years (e.g. 5 10 20)")
    parser.add_argument("--json", type=Path, help="write the rows here for run_all.py")
    args = parser.parse_args(argv)
    if args.scaling:
        rows = scaling(args.work, sorted(args.scaling), args.repeat)
        print_rows(rows, f"Weekly run as history grows ({machine()})")
        if args.json:
            write_json(rows, args.json)
        return 0
    prices = args.prices or ensure_universe(args.work / "universe")
    rows = run(prices, args.work, args.repeat)
    print_rows(rows, f"Weekly run on the scale universe ({machine()})")
    if args.json:
        write_json(rows, args.json)
    if args.profile:
        profile(prices, args.work, args.work / "weekly.prof")
    return 0


if __name__ == "__main__":
    sys.exit(main())
