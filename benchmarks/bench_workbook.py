"""The workbook step of the weekly run on twenty years of weekly history.

Builds (deterministically) a ledger of ``--years`` of weekly runs with ``--positions`` positions
and about half as many trades a week: by default 1,040 weeks, 20,800 Positions rows, 10,400
Trades rows. Then times, as medians of ``--repeat`` runs on a fresh copy each time:

- what the weekly run does with the workbook: ``check_writable`` + ``read_ledger`` of the sheets
  it needs (Trades, CashFlows, Metadata) + ``append_week`` of one more week (all five sheets);
  the issue's target is under 1 s;
- the parts on their own, and a full ``read_ledger`` of all five sheets;
- the reference: an openpyxl ``load_workbook`` + ``save`` of the same file (what a load-and-resave
  design costs), measured in the same run so the ratio is fair on a noisy machine.

    python benchmarks/bench_workbook.py [--years 20] [--positions 20] [--repeat 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Row, machine, median, print_rows, write_json  # noqa: E402

TICKERS = [f"ETF{i:03d}" for i in range(60)]


def history(years: int, positions: int, seed: int = 7) -> dict:
    """Deterministic ledger rows: one run a week for ``years`` years."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2005-01-07", periods=52 * years, freq="W-FRI")
    n_trades = max(1, positions // 2)
    pos, trd, perf, meta = [], [], [], []
    for k, day in enumerate(weeks):
        ts = day + pd.Timedelta(hours=9, minutes=30)
        run = f"{day:%Y%m%d}-0930-{k:04d}"
        picks = rng.choice(len(TICKERS), size=positions, replace=False)
        prices = rng.uniform(20, 400, size=positions).round(2)
        weights = rng.dirichlet(np.ones(positions))
        shares = np.floor(weights * 1e6 / prices)
        for i, t in enumerate(picks):
            pos.append((ts, TICKERS[t], weights[i], shares[i] * prices[i], shares[i], prices[i], rng.normal(),
                        run, day, weights[i], weights[i] * rng.uniform(0.9, 1.1)))
        for i in range(n_trades):
            qty = float(rng.integers(1, 500))
            trd.append((ts, TICKERS[picks[i]], "BUY" if i % 2 else "SELL", qty, prices[i], qty * prices[i],
                        bool(rng.random() < 0.9), run, day, qty * prices[i] * 0.0005, ""))
        perf.append((ts, 1e6, positions, 0.08, 0.15, 0.5, run, day, 1000.0, 999_000.0, 0.0, 0.04, "SPY", 300.0))
        meta.append((ts, True, "mvo", 0.05, 1e6, positions, run, day, 0.04, 1000.0, "yfinance", day, "mvo",
                     "", "", "", "0.1.0"))
    from etftrader.workbook import SCHEMA

    frames = {
        "Positions": pd.DataFrame(pos, columns=SCHEMA["Positions"]),
        "Trades": pd.DataFrame(trd, columns=SCHEMA["Trades"]),
        "Performance": pd.DataFrame(perf, columns=SCHEMA["Performance"]),
        "Metadata": pd.DataFrame(meta, columns=SCHEMA["Metadata"]),
        "CashFlows": pd.DataFrame([(weeks[0], "DEPOSIT", 1e6, "initial", "r0", weeks[0])],
                                  columns=SCHEMA["CashFlows"]),
    }
    return frames


def one_week(frames: dict) -> dict:
    """The next week's rows: the last week of each sheet again, with a new run id."""
    out = {}
    for sheet, frame in frames.items():
        last = frame[frame["run_id"] == frame["run_id"].iloc[-1]].copy()
        last["run_id"] = "next-week"
        out[sheet] = last
    return out


def run(years: int, positions: int, repeat: int, work: Path) -> list[Row]:
    import openpyxl

    from etftrader.workbook import append_week, check_writable, read_ledger

    frames = history(years, positions)
    master = work / "master.xlsx"
    start = time.perf_counter()
    append_week(master, frames, backups_dir=work / "backups", keep=0)
    build = time.perf_counter() - start
    week = one_week(frames)
    path = work / "portfolio_tracking.xlsx"
    backups = work / "backups"

    wall: dict[str, list[float]] = {k: [] for k in ("step", "check", "read3", "append", "read_all", "ref")}
    cpu: dict[str, list[float]] = {k: [] for k in wall}

    def timed(key, fn):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        wall[key].append(time.perf_counter() - t0)
        cpu[key].append(time.process_time() - c0)
        return out

    for _ in range(repeat):
        shutil.copyfile(master, path)
        c0, t0 = time.process_time(), time.perf_counter()
        timed("check", lambda: check_writable(path))
        ledger = timed("read3", lambda: read_ledger(path, sheets=["Trades", "CashFlows", "Metadata"]))
        timed("append", lambda: append_week(path, week, backups_dir=backups, keep=5))
        wall["step"].append(time.perf_counter() - t0)
        cpu["step"].append(time.process_time() - c0)
        assert len(ledger.trades) == len(frames["Trades"])

        shutil.copyfile(master, path)
        full = timed("read_all", lambda: read_ledger(path))
        assert len(full.positions) == len(frames["Positions"])

        def resave():
            wb = openpyxl.load_workbook(path)
            wb.save(work / "resaved.xlsx")

        timed("ref", resave)
    shutil.copyfile(master, path)
    append_week(path, week, backups_dir=backups, keep=0)
    check = read_ledger(path)
    assert len(check.positions) == len(frames["Positions"]) + len(week["Positions"])
    size = master.stat().st_size
    n_pos, n_trd = len(frames["Positions"]), len(frames["Trades"])
    ref_s = median(wall["ref"])

    def row(name, key, **kw):
        return Row(name, median(wall[key]), wall[key], cpu_seconds=median(cpu[key]),
                   **({"reference": "openpyxl load+save", "ref_seconds": ref_s} if key != "ref" else {}), **kw)

    step_s = median(wall["step"])
    return [
        row("workbook: weekly step (check+read 3+append)", "step", target="< 1.0 s", passed=step_s < 1.0,
            note=f"{years} years: {n_pos:,} position rows, {n_trd:,} trades, file {size / 1024**2:.1f} MiB; "
                 f"CPU {median(cpu['step']):.2f} s vs openpyxl CPU {median(cpu['ref']):.2f} s"),
        row("workbook: check_writable", "check"),
        row("workbook: read_ledger Trades+CashFlows+Metadata", "read3"),
        row("workbook: append_week one week (5 sheets)", "append", note="includes its own checks, backup, fsync"),
        row("workbook: read_ledger all five sheets", "read_all"),
        row("workbook: openpyxl load_workbook + save (reference)", "ref"),
        Row("workbook: building the history file (one append)", build, [build]),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, default=20)
    parser.add_argument("--positions", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the rows here for run_all.py")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench_workbook_"))
    try:
        rows = run(args.years, args.positions, args.repeat, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print_rows(rows, f"Tracking workbook, {args.years} years of weekly history ({machine()}; load {load:.1f})")
    if args.json:
        write_json(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
