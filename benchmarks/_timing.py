"""Shared helpers of the benchmark scripts: repeated timing, peak memory, the floor, result tables.

Timings are medians of several runs and comparisons are ratios measured in the same run, because
a shared 2-core machine is noisy. Peak memory of a subprocess is its maximum resident set size
(``os.wait4`` rusage on Linux and macOS; psutil polling elsewhere when it is installed). Every
script writes its rows as JSON with ``--json`` so ``run_all.py`` can print one table.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

__all__ = [
    "BENCH_DIR",
    "REPO",
    "Measured",
    "Row",
    "median",
    "time_calls",
    "run_measured",
    "run_repeated",
    "measure_floor",
    "FLOOR_CODE",
    "ensure_universe",
    "read_wide",
    "DEFAULT_WORK",
    "machine",
    "print_rows",
    "write_json",
    "read_json",
    "fmt_bytes",
    "GIB",
    "cpu_median",
]

BENCH_DIR = Path(__file__).resolve().parent
#: generated data and scratch homes; shared by the scripts so the universe is generated once
DEFAULT_WORK = Path(tempfile.gettempdir()) / "etftrader_bench"
REPO = BENCH_DIR.parent
GIB = 1024**3


def median(values: Sequence[float]) -> float:
    """Median of ``values`` (NaN when empty)."""
    return statistics.median(values) if values else float("nan")


def time_calls(fn: Callable[[], object], repeat: int = 3, warmup: int = 0) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


@dataclass
class Measured:
    """One subprocess run: wall seconds, peak resident memory (bytes or None), exit code, output.

    ``cpu_seconds`` (user + system time of the child, None where unknown) is less sensitive than wall
    time to other processes competing for the cores; both are reported.
    """

    seconds: float
    peak_bytes: int | None
    returncode: int
    stdout: str
    stderr: str
    cpu_seconds: float | None = None

    def check(self, what: str) -> "Measured":
        """Raise with the tail of stderr when the run failed (benchmarks must not time errors)."""
        if self.returncode != 0:
            tail = "\n".join((self.stderr or self.stdout).strip().splitlines()[-15:])
            raise RuntimeError(f"{what} exited with {self.returncode}:\n{tail}")
        return self


def run_measured(cmd: Sequence[str], *, cwd: Path | None = None, env: dict | None = None,
                 timeout: float | None = None) -> Measured:
    """Run ``cmd`` once; wall time from spawn to exit and the child's peak RSS.

    Output goes to temporary files rather than pipes so the child never blocks on a full pipe and
    its exit can be reaped with ``os.wait4``, which returns the rusage of that one child.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out, stderr=err)
        peak: int | None = None
        cpu: float | None = None
        if hasattr(os, "wait4"):
            deadline = None if timeout is None else start + timeout
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG if deadline else 0)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    proc.kill()
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.02)
            seconds = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            # ru_maxrss is KiB on Linux, bytes on macOS.
            peak = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
            cpu = usage.ru_utime + usage.ru_stime
        else:
            peak = _poll_peak(proc, timeout)
            seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        return Measured(seconds, peak, proc.returncode, out.read().decode("utf-8", "replace"),
                        err.read().decode("utf-8", "replace"), cpu)


def _poll_peak(proc: subprocess.Popen, timeout: float | None) -> int | None:
    """Windows fallback: poll the child's peak working set with psutil (None without psutil)."""
    try:
        import psutil
    except ImportError:
        proc.wait(timeout=timeout)
        return None
    peak = 0
    handle = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            info = handle.memory_info()
            peak = max(peak, getattr(info, "peak_wset", 0) or info.rss)
        except psutil.Error:
            break
        time.sleep(0.05)
    proc.wait(timeout=timeout)
    return peak or None


def run_repeated(cmd: Sequence[str], repeat: int, *, what: str, cwd: Path | None = None,
                 env: dict | None = None, before: Callable[[int], None] | None = None) -> list[Measured]:
    """``repeat`` measured runs of ``cmd``; ``before(i)`` prepares run ``i`` (untimed)."""
    runs = []
    for i in range(repeat):
        if before is not None:
            before(i)
        runs.append(run_measured(cmd, cwd=cwd, env=env).check(what))
    return runs


# The floor of the weekly run: a fresh Python that imports the stack and reads the price file into
# a price frame. Nothing the weekly command does can be cheaper than this.
FLOOR_CODE = """
import sys
import numpy, pandas as pd, cvxpy, pypfopt, openpyxl
frame = pd.read_parquet(sys.argv[1])
if "ticker" in frame.columns:  # long layout: one pivot to the date x ticker price frame
    frame = frame.pivot(index="date", columns="ticker", values="close")
print(frame.shape)
"""


def measure_floor(prices: Path, repeat: int = 5) -> list[Measured]:
    """Runs of the floor: fresh interpreter, import pandas/numpy/cvxpy/PyPortfolioOpt/openpyxl, read ``prices``."""
    cmd = [sys.executable, "-c", FLOOR_CODE, str(prices)]
    run_measured(cmd).check("floor")  # warm the OS file cache once, as the weekly runs will be
    return run_repeated(cmd, repeat, what="floor")


def ensure_universe(out: Path, *, tickers: int = 623, years: int = 10, seed: int = 7) -> Path:
    """The scale universe's ``prices.parquet`` in ``out``, generated once and reused."""
    prices = out / "prices.parquet"
    stamp = out / "generated.json"
    wanted = {"tickers": tickers, "years": years, "seed": seed}
    if prices.exists() and stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return prices
    cmd = [sys.executable, str(BENCH_DIR / "generate_universe.py"), "--tickers", str(tickers),
           "--years", str(years), "--seed", str(seed), "--out", str(out), "--quiet"]
    run_measured(cmd).check("generate_universe.py")
    stamp.write_text(json.dumps(wanted))
    return prices


def read_wide(prices: Path):
    """(close, volume) wide frames of a generated file with plain pandas (not the code under test)."""
    import pandas as pd

    frame = pd.read_parquet(prices)
    if "ticker" not in frame.columns:
        return frame, None
    close = frame.pivot(index="date", columns="ticker", values="close")
    volume = frame.pivot(index="date", columns="ticker", values="volume")
    close.columns.name = volume.columns.name = None
    return close, volume


def machine() -> str:
    """One line: date, OS, CPU count, Python."""
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{today}; {platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}")


@dataclass
class Row:
    """One line of a results table.

    ``seconds`` is the median; ``reference``/``ref_seconds`` what it is compared with (measured in
    the same run); ``ratio`` = seconds / ref_seconds; ``target`` says what passing means and
    ``passed`` is None when there is no target (a reference figure).
    """

    name: str
    seconds: float | None
    runs: list[float] = field(default_factory=list)
    peak_bytes: int | None = None
    reference: str = ""
    ref_seconds: float | None = None
    target: str = ""
    passed: bool | None = None
    note: str = ""
    cpu_seconds: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.seconds is None or not self.ref_seconds:
            return None
        return self.seconds / self.ref_seconds


def cpu_median(runs: Sequence[Measured]) -> float | None:
    """Median CPU seconds of measured runs (None when the platform does not report it)."""
    values = [m.cpu_seconds for m in runs if m.cpu_seconds is not None]
    return median(values) if values else None


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / GIB:.2f} GiB" if n >= GIB else f"{n / 1024**2:.0f} MiB"


def print_rows(rows: Sequence[Row], title: str = "") -> None:
    """A plain-text table (ASCII only: Windows consoles are cp1252)."""
    if title:
        print(f"\n{title}")
    header = (f"{'benchmark':<44} {'median':>9} {'cpu':>8} {'runs':>4} {'peak mem':>9} {'ratio':>7}  "
              f"{'target':<22} result")
    print(header)
    print("-" * len(header))
    for r in rows:
        median_s = "-" if r.seconds is None else f"{r.seconds:8.2f}s"
        ratio = "-" if r.ratio is None else f"{r.ratio:6.2f}x"
        result = {True: "PASS", False: "FAIL", None: ""}[r.passed]
        cpu = "-" if r.cpu_seconds is None else f"{r.cpu_seconds:7.2f}s"
        print(f"{r.name:<44} {median_s:>9} {cpu:>8} {len(r.runs):>4} {fmt_bytes(r.peak_bytes):>9} {ratio:>7}  "
              f"{r.target:<22} {result}")
        extra = []
        if r.reference:
            ref = "" if r.ref_seconds is None else f" = {r.ref_seconds:.2f}s"
            extra.append(f"vs {r.reference}{ref}")
        if r.note:
            extra.append(r.note)
        if extra:
            print(f"    {'; '.join(extra)}")


def write_json(rows: Sequence[Row], path: Path) -> None:
    path.write_text(json.dumps([{**asdict(r), "ratio": r.ratio} for r in rows], indent=2))


def read_json(path: Path) -> list[Row]:
    rows = []
    for item in json.loads(path.read_text()):
        item.pop("ratio", None)
        rows.append(Row(**item))
    return rows
