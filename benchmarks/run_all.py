"""Run every benchmark and print one table: median, CPU, peak memory, ratio, target, pass/fail.

Each script runs in its own interpreter with ``--json`` into a scratch folder; the rows are
gathered here. The scale universe (623 tickers + SPY, ten years, seed 7) is generated once into
``--work`` and shared. The backtest rows are also compared with the bare PyPortfolioOpt loop of
``bench_reference.py`` measured in the same run.

    python benchmarks/run_all.py                  # everything (the skfolio reference takes minutes)
    python benchmarks/run_all.py --skip-skfolio --quick
    python benchmarks/run_all.py --only weekly prices --markdown results.md

Exit status: 0 when every row with a target passed, 1 otherwise, 2 when a script failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import (  # noqa: E402
    BENCH_DIR,
    DEFAULT_WORK,
    Row,
    ensure_universe,
    fmt_bytes,
    machine,
    print_rows,
    read_json,
    run_measured,
)

#: name -> (script, arguments, quick arguments); scripts owned by others are run when present
SCRIPTS = {
    "reference": ("bench_reference.py", ["--repeat", "3"], ["--repeat", "1"]),
    "weekly": ("bench_weekly.py", ["--repeat", "5"], ["--repeat", "3"]),
    "scaling": ("bench_weekly.py", ["--scaling", "5", "10", "20", "--repeat", "3"],
                ["--scaling", "5", "20", "--repeat", "1"]),
    "prices": ("bench_prices.py", ["--repeat", "3"], ["--repeat", "1"]),
    "workbook": ("bench_workbook.py", ["--repeat", "5"], ["--repeat", "3"]),
    "report": ("bench_report.py", ["--repeat", "3"], ["--repeat", "1"]),
    "scoring": ("bench_scoring.py", ["--repeat", "5"], ["--repeat", "3"]),
    "backtest": ("bench_backtest.py", ["--repeat", "3"], ["--repeat", "1"]),
    "sample": ("bench_backtest.py", ["--sample", "--repeat", "3"], ["--sample", "--repeat", "1"]),
}
#: scripts that take the shared universe folder
USES_WORK = {"reference", "weekly", "scaling", "prices", "scoring", "backtest"}


def markdown(rows: list[Row], title: str) -> str:
    """The table as Markdown, for benchmarks/README.md."""
    out = [f"{title}", "", "| benchmark | median | cpu | peak mem | ratio | target | result |",
           "| --- | ---: | ---: | ---: | ---: | --- | --- |"]
    for r in rows:
        med = "-" if r.seconds is None else f"{r.seconds:.2f} s"
        cpu = "-" if r.cpu_seconds is None else f"{r.cpu_seconds:.2f} s"
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x {r.reference}"
        result = {True: "pass", False: "FAIL", None: ""}[r.passed]
        out.append(f"| {r.name} | {med} | {cpu} | {fmt_bytes(r.peak_bytes)} | {ratio} | {r.target} | {result} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder for generated data")
    parser.add_argument("--only", nargs="+", choices=list(SCRIPTS), help="run only these")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--skip-skfolio", action="store_true", help="leave out the slow skfolio reference")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    args = parser.parse_args(argv)

    ensure_universe(args.work / "universe")
    chosen = args.only or list(SCRIPTS)
    rows: list[Row] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench_all_") as scratch:
        for name in chosen:
            script, full, quick = SCRIPTS[name]
            path = BENCH_DIR / script
            if not path.exists():
                print(f"[skip] {script}: not there yet")
                continue
            out = Path(scratch) / f"{name}.json"
            cmd = [sys.executable, str(path), *(quick if args.quick else full), "--json", str(out)]
            if name in USES_WORK:
                cmd += ["--work", str(args.work)]
            if name == "reference" and args.skip_skfolio:
                cmd.append("--skip-skfolio")
            print(f"[run] {script} ...", flush=True)
            result = run_measured(cmd)
            if result.returncode != 0 or not out.exists():
                tail = "\n".join(result.stderr.strip().splitlines()[-8:])
                print(f"[fail] {script} exited with {result.returncode}:\n{tail}")
                failed.append(script)
                continue
            print(result.stdout.rstrip())
            rows.extend(read_json(out))

    bare = next((r for r in rows if r.name.startswith("reference: bare")), None)
    if bare is not None:
        for r in rows:
            if r.name.startswith("backtest") and not r.reference and "sample" not in r.name:
                r.reference, r.ref_seconds = "bare loop", bare.seconds
                if r.passed and r.seconds is not None and r.seconds > bare.seconds:
                    r.passed = False  # issue 13: no slower than the bare loop of the same run

    title = f"All benchmarks ({machine()})"
    print_rows(rows, title)
    if args.markdown:
        args.markdown.write_text(markdown(rows, title), encoding="utf-8")
        print(f"\nMarkdown table written to {args.markdown}")
    if failed:
        print(f"\nscripts that failed: {', '.join(failed)}")
        return 2
    return 0 if all(r.passed is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
