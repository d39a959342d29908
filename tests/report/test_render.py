"""Rendering the weekly review: papermill executes the real notebook, nbconvert writes the HTML.

Notebook executions are slow-ish (a kernel start and matplotlib), so there are five: a 12-week
ledger written with append_week (with a deposit, pending trades and a foreign 'python3'
kernelspec planted in the environment), a first-week ledger without a market file, a broken
notebook copy and a hanging one that must fail cleanly, and three weeks written by
`etftrader weekly` on the sample, rendered by `python -m etftrader report` in a cron-like
environment. Everything else here runs without a kernel.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from etftrader import report as rep
from etftrader.cli import main
from etftrader.errors import ReportError, WorkbookError
from etftrader.paths import Home

from ._ledger import build_weeks, market_frame, write_workbook

IMG = "data:image/png;base64"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _outputs(nb_path: Path) -> list[dict]:
    nb = nbformat.read(str(nb_path), as_version=4)
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _assert_clean_html(html: str) -> None:
    body = re.sub(r"<(style|script)\b.*?</\1>", "", html, flags=re.S)
    # no error or stderr output
    assert "Traceback" not in body and "jupyter.stderr" not in body and "Error" not in body
    # no code input: nbconvert's input areas and the notebook's own code never appear
    assert "hl-ipython3" not in body and "jp-CodeMirrorEditor" not in body and "jp-InputPrompt" not in body
    assert "read_ledger(WORKBOOK)" not in body
    assert "import pandas" not in body


@pytest.fixture()
def foreign_python3_kernel(tmp_path, monkeypatch):
    """A 'python3' kernelspec that points at a Python that does not exist, found first on JUPYTER_PATH."""
    root = tmp_path / "jupyter"
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(tmp_path / "no-such-python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "someone else's Python", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(root))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(root))
    return root


# ---------------------------------------------------------------- without a kernel


def test_kernel_spec_runs_this_interpreter_headless():
    spec = rep.kernel_spec()
    assert spec["argv"][0] == sys.executable
    assert spec["argv"][1:3] == ["-m", "ipykernel_launcher"]
    assert spec["env"]["MPLBACKEND"] == "Agg"


def test_private_kernel_manager_ignores_a_foreign_python3(tmp_path, foreign_python3_kernel):
    from jupyter_client.kernelspec import KernelSpecManager

    # the environment's own lookup would pick the broken one ...
    assert KernelSpecManager().get_kernel_spec("python3").argv[0].endswith("no-such-python")
    # ... ours sees only its private folder
    folder = rep._write_private_kernelspec(tmp_path / "k")
    km = rep._kernel_manager_class(folder)(kernel_name=rep.KERNEL_NAME)
    assert km.kernel_spec.argv[0] == sys.executable
    # even 'python3' resolves to this interpreter there, never to the planted kernelspec
    assert km.kernel_spec_manager.get_kernel_spec("python3").argv[0] == sys.executable


def test_missing_workbook_is_one_clear_error(tmp_home):
    with pytest.raises(WorkbookError, match=r"does not exist; run `etftrader weekly` first"):
        rep.render_monitoring(tmp_home / "nope.xlsx", Home(tmp_home))


def test_unreadable_notebook_copy_is_a_report_error(tmp_home):
    book = tmp_home / "book.xlsx"
    book.write_bytes(b"not used")
    (tmp_home / "notebooks").mkdir()
    (tmp_home / "notebooks" / rep.NOTEBOOK_NAME).write_text("{ this is not json", encoding="utf-8")
    with pytest.raises(ReportError, match=r"cannot be read \(NotJSONError\)"):
        rep.render_monitoring(book, Home(tmp_home))


def test_no_notebook_anywhere_is_a_report_error(tmp_home, monkeypatch):
    book = tmp_home / "book.xlsx"
    book.write_bytes(b"not used")
    monkeypatch.setattr(rep, "project_notebooks_dir", lambda: tmp_home / "nowhere")
    with pytest.raises(ReportError, match="monitoring notebook 06_portfolio_monitoring.ipynb not found"):
        rep.render_monitoring(book, Home(tmp_home))


def test_project_notebook_has_one_parameters_cell_and_no_business_logic():
    nb = nbformat.read(str(rep.project_notebooks_dir() / rep.NOTEBOOK_NAME), as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = set(re.findall(r"^([A-Z_]+) =", tagged[0].source, flags=re.M))
    assert {"WORKBOOK", "MARKET_FILE", "SUMMARY_PATH", "AS_OF"} <= names
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "from etftrader import monitoring as mon" in code
    assert not re.search(r"\.(pct_change|cumprod|groupby|rolling)\(", code)  # maths lives in the library
    assert sum(c.cell_type == "markdown" and c.source.startswith("## ") for c in nb.cells) >= 6


def test_windows_paths_survive_parameter_injection():
    # papermill writes the parameters as Python source: backslashes, quotes and accents must
    # come back unchanged (C:\\new\\... must not turn into a newline)
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(rep.project_notebooks_dir() / rep.NOTEBOOK_NAME))
    params = {"WORKBOOK": "C:\\Users\\new\\tracking \"q\" \u00e9t\u00e9.xlsx", "MARKET_FILE": "",
              "SUMMARY_PATH": r"\\server\share\results\portfolio_summary_20260105_073000.txt", "AS_OF": "2022-06-30"}
    injected = parameterize_notebook(nb, params, kernel_name=rep.KERNEL_NAME, language="python")
    cell = next(c for c in injected.cells if "injected-parameters" in c.metadata.tags)
    namespace: dict = {}
    exec(cell.source, namespace)
    assert {k: namespace[k] for k in params} == params


def test_notebook_code_reaches_no_network(sample_close, tmp_home, monkeypatch, capsys):
    # the notebook's cells run in-process with every outbound connection refused: all data must
    # come from the workbook and the market file (the kernel itself talks to papermill over
    # localhost, which is why this runs the cells without one)
    import socket

    home = Home(tmp_home).ensure()
    weeks = build_weeks(sample_close, weeks=5)
    write_workbook(home.workbook, weeks, backups_dir=home.backups_dir)
    market_frame(sample_close, end="2021-02-05", vix=False).to_parquet(home.data_dir / "market_latest.parquet")

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access while rendering: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(str(rep.project_notebooks_dir() / rep.NOTEBOOK_NAME), as_version=4)
    summary = tmp_home / "summary.txt"
    namespace: dict = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        exec(cell.source, namespace)
        if "parameters" in cell.metadata.get("tags", []):
            namespace.update(WORKBOOK=str(home.workbook), MARKET_FILE=str(home.data_dir / "market_latest.parquet"),
                             SUMMARY_PATH=str(summary), AS_OF="")
    text = summary.read_text(encoding="utf-8")
    assert "Realized volatility" in text and "Total return:" in text


# ---------------------------------------------------------------- with a kernel


@pytest.mark.slow
def test_twelve_weeks_render_with_charts_and_right_summary(sample_close, tmp_home, foreign_python3_kernel):
    home = Home(tmp_home).ensure()
    weeks = build_weeks(sample_close, weeks=12, deposit_week=6)
    write_workbook(home.workbook, weeks, backups_dir=home.backups_dir)
    end = weeks["performance"][-1]["as_of"].iloc[0]
    market_frame(sample_close, end=f"{end:%Y-%m-%d}").to_parquet(home.data_dir / "market_latest.parquet")
    before = _sha(home.workbook)

    result = rep.render_monitoring(home.workbook, home, now=datetime(2026, 1, 5, 7, 30, 0))

    assert _sha(home.workbook) == before
    # named by the ledger's latest week, not by the clock
    last = f"{weeks['performance'][-1]['as_of'].iloc[0]:%Y%m%d}"
    assert result.html == home.reports_dir / f"06_portfolio_monitoring_{last}.html"
    assert result.summary == home.results_dir / f"portfolio_summary_{last}.txt"
    assert result.notebook.exists()
    html = result.html.read_text(encoding="utf-8")
    assert html.count(IMG) >= 10  # the charts with something to draw, and the VIX chart, each embedded
    assert 'alt="Cumulative return vs benchmark"' in html and 'alt="Drawdown (max' in html
    _assert_clean_html(html)
    assert not [o for o in _outputs(result.notebook) if o["output_type"] == "error"]
    assert not [o for o in _outputs(result.notebook) if o.get("name") == "stderr"]
    for heading in ("Current portfolio", "Performance", "Trades", "Risk", "Execution", "Summary report"):
        assert heading in html
    assert "S&amp;P 500 index (SPY stand-in)" in html or "S&P 500 index (SPY stand-in)" in html
    assert "market regime" in html and "Trailing volatility stop" in html

    # the summary's numbers, computed here independently from the rows that were written
    text = result.summary.read_text(encoding="utf-8")
    last_perf = weeks["performance"][-1].iloc[0]
    last_trades = weeks["trades"][-1]
    pending = last_trades.loc[~last_trades["executed"].astype(bool)]
    assert f"Total value: ${last_perf['total_value']:,.2f}" in text
    assert f"Positions: {len(weeks['positions'][-1])}" in text
    assert f"Pending trades: {len(pending)} (value ${pending['value'].abs().sum():,.2f}" in text
    assert "Net deposits/withdrawals since start: $50,000.00" in text
    executed = sum(int(t["executed"].astype(bool).sum()) for t in weeks["trades"] if len(t))
    assert f"Executed trades to date: {executed}" in text
    # time-weighted total return, by hand: chain (V_t - F_t) / V_{t-1}
    values = [w["total_value"].iloc[0] for w in weeks["performance"]]
    growth = 1.0
    for i in range(1, len(values)):
        flow = 50_000.0 if i == 6 else 0.0
        growth *= (values[i] - flow) / values[i - 1]
    assert f"Total return: {growth - 1:.2%}" in text
    assert len(pending) > 0 and text in html.replace("&amp;", "&") or "PORTFOLIO SUMMARY REPORT" in html


@pytest.mark.slow
def test_first_week_renders_with_notes_and_no_market_file(sample_close, tmp_home):
    home = Home(tmp_home).ensure()
    weeks = build_weeks(sample_close, weeks=1)
    write_workbook(home.workbook, weeks, backups_dir=home.backups_dir)
    out = tmp_home / "review"

    result = rep.render_monitoring(home.workbook, home, out_dir=out)

    assert result.html.parent == out and result.summary.parent == out
    html = result.html.read_text(encoding="utf-8")
    assert html.count(IMG) >= 5  # the charts that need more weeks or executed trades are a line of text
    assert html.count("Needs at least 2 weekly runs; the ledger has 1 so far") == 3
    assert "No market file" in html
    assert not [o for o in _outputs(result.notebook) if o["output_type"] == "error"]
    text = result.summary.read_text(encoding="utf-8")
    assert "First week: performance needs at least two weekly runs." in text
    trades = weeks["trades"][0]
    assert f"Pending trades: {len(trades)} (value ${trades['value'].sum():,.2f}" in text


@pytest.mark.slow
def test_failing_render_keeps_the_notebook_and_the_workbook(sample_close, tmp_home, capsys):
    home = Home(tmp_home).ensure()
    write_workbook(home.workbook, build_weeks(sample_close, weeks=2), backups_dir=home.backups_dir)
    before = _sha(home.workbook)
    broken = nbformat.read(str(rep.project_notebooks_dir() / rep.NOTEBOOK_NAME), as_version=4)
    broken.cells.insert(3, nbformat.v4.new_code_cell("raise ValueError('analyst edit went wrong')"))
    (tmp_home / "notebooks").mkdir()
    nbformat.write(broken, str(tmp_home / "notebooks" / rep.NOTEBOOK_NAME))

    code = main(["report", "--home", str(tmp_home)])

    err = capsys.readouterr().err.strip().splitlines()
    assert code == ReportError.exit_code
    assert len(err) == 1 and err[0].startswith("Error: monitoring notebook failed in cell")
    assert "ValueError: analyst edit went wrong" in err[0] and "workbook is unaffected" in err[0]
    kept = Path(err[0].rsplit("kept at ", 1)[1])
    assert kept.exists() and kept.parent == home.reports_dir
    assert [o for o in _outputs(kept) if o["output_type"] == "error"]
    assert _sha(home.workbook) == before


@pytest.mark.slow
def test_a_hanging_cell_times_out_instead_of_hanging(sample_close, tmp_home):
    home = Home(tmp_home).ensure()
    write_workbook(home.workbook, build_weeks(sample_close, weeks=1), backups_dir=home.backups_dir)
    slow = nbformat.read(str(rep.project_notebooks_dir() / rep.NOTEBOOK_NAME), as_version=4)
    slow.cells.insert(2, nbformat.v4.new_code_cell("import time\ntime.sleep(600)"))
    (tmp_home / "notebooks").mkdir()
    nbformat.write(slow, str(tmp_home / "notebooks" / rep.NOTEBOOK_NAME))

    with pytest.raises(ReportError, match=r"could not be executed \(CellTimeoutError.*failed notebook is kept"):
        rep.render_monitoring(home.workbook, home, cell_timeout=2)


@pytest.mark.slow
def test_report_on_a_workbook_written_by_the_weekly_command(tmp_home, capsys, foreign_python3_kernel):
    for day in ("2022-06-03", "2022-06-10", "2022-06-17"):
        assert main(["weekly", "--home", str(tmp_home), "--source", "sample", "--as-of", day,
                     "--positions", "6", "--no-notebook"]) == 0
    capsys.readouterr()
    home = Home(tmp_home)
    from etftrader.workbook import read_ledger

    ledger = read_ledger(home.workbook)
    before = _sha(home.workbook)

    # as cron runs it: no activated venv, a bare PATH, a foreign 'python3' kernelspec in the way
    env = {"PATH": os.pathsep.join(p for p in ("/usr/bin", "/bin") if Path(p).exists()),
           "HOME": str(tmp_home), "JUPYTER_PATH": str(foreign_python3_kernel),
           "JUPYTER_DATA_DIR": str(foreign_python3_kernel)}
    if "SYSTEMROOT" in os.environ:  # Windows needs it to start Python at all
        env["SYSTEMROOT"] = os.environ["SYSTEMROOT"]
    done = subprocess.run([sys.executable, "-m", "etftrader", "report", "--home", str(tmp_home)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""  # nothing for a cron mail: no kernel warnings, no tracebacks
    out = done.stdout
    html_path = Path(re.search(r"Report \(HTML\): (.+)", out).group(1).strip())
    summary_path = Path(re.search(r"Summary: (.+)", out).group(1).strip())
    html = html_path.read_text(encoding="utf-8")
    assert html.count(IMG) >= 10
    _assert_clean_html(html)
    assert _sha(home.workbook) == before
    text = summary_path.read_text(encoding="utf-8")
    perf = ledger.performance.sort_values(["as_of", "_row"]).iloc[-1]  # runs may share a second
    last_run = perf["run_id"]
    positions = ledger.positions.loc[ledger.positions["run_id"] == last_run]
    trades = ledger.trades.loc[(ledger.trades["run_id"] == last_run) & ~ledger.trades["executed"]]
    assert f"Total value: ${perf['total_value']:,.2f}" in text
    assert f"Positions: {len(positions)}" in text
    assert f"Pending trades: {len(trades)} (value ${trades['value'].abs().sum():,.2f}" in text
    assert "Realized volatility" in html or "VIX" in html
