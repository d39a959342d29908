"""Rendering the analyst's weekly review: papermill runs the monitoring notebook, nbconvert makes HTML.

:func:`render_monitoring` executes ``06_portfolio_monitoring.ipynb`` with the run's parameters,
keeps the executed notebook, exports an HTML copy without code cells and makes sure the text
summary (``results/portfolio_summary_YYYYMMDD_HHMMSS.txt``, as the seed names it) exists.

The kernel is always *this* interpreter (``sys.executable``), whatever kernelspecs the user has
installed and whether or not a virtual environment is activated (cron): a kernelspec is written
into a private temporary folder for each render and a kernel manager that looks only there is
handed to papermill, so a stray ``python3`` kernelspec pointing at another Python can never be
picked. The kernel runs with ``MPLBACKEND=Agg`` and start-up and every cell are time-bounded.
Rendering only reads the workbook; a failure raises :class:`~etftrader.errors.ReportError` with
one line and keeps the failed executed notebook for inspection.

Why one module of this size: papermill, the private kernelspec, nbconvert and the offline HTML
fix-ups are one pipeline that must fail as one (a :class:`ReportError`, the workbook kept).
"""

from __future__ import annotations

import logging
import sys
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from .errors import ReportError, WorkbookError, first_line
from .paths import Home

__all__ = [
    "NOTEBOOK_NAME",
    "KERNEL_NAME",
    "START_TIMEOUT",
    "CELL_TIMEOUT",
    "ReportResult",
    "find_notebook",
    "kernel_spec",
    "render_monitoring",
    "execute_notebook",
    "notebook_to_html",
]

_log = logging.getLogger(__name__)

NOTEBOOK_NAME = "06_portfolio_monitoring.ipynb"
#: Name of the private kernelspec (unique so it cannot collide with a user's kernels).
KERNEL_NAME = "etftrader-python"
#: Seconds allowed for the kernel to start (a cold start imports pandas and matplotlib).
START_TIMEOUT = 120
#: Seconds allowed per cell; a scheduled run fails with a ReportError instead of hanging.
CELL_TIMEOUT = 300


@dataclass(frozen=True)
class ReportResult:
    """Where a rendered report went: the executed notebook, its HTML and the text summary."""

    notebook: Path
    html: Path
    summary: Path


def project_notebooks_dir() -> Path:
    """The project's ``notebooks/`` folder.

    From a checkout (the README installs in editable mode) that is the repository's folder; a
    regular install ships the notebooks as data files under ``<prefix>/share/etftrader/notebooks``.
    """
    import etftrader

    checkout = Path(etftrader.__file__).resolve().parents[2] / "notebooks"
    installed = Path(sys.prefix) / "share" / "etftrader" / "notebooks"
    return checkout if checkout.is_dir() or not installed.is_dir() else installed


def find_notebook(home: Home, name: str = NOTEBOOK_NAME) -> Path:
    """The analyst's own copy ``<home>/notebooks/<name>`` if present, else the project's.

    Raises
    ------
    ReportError
        Neither exists.
    """
    candidates = [home.root / "notebooks" / name, project_notebooks_dir() / name]
    for path in candidates:
        if path.is_file():
            return path
    raise ReportError(
        f"monitoring notebook {name} not found (looked in {candidates[0].parent} and "
        f"{candidates[1].parent}); reinstall etftrader or copy the notebook into {candidates[0].parent}"
    )


def kernel_spec() -> dict:
    """The kernelspec (kernel.json content) for a kernel running this interpreter.

    ipykernel builds the launch command from ``sys.executable``; the environment adds
    ``MPLBACKEND=Agg`` so no GUI backend is ever tried (charts are embedded as PNG).
    """
    from ipykernel.kernelspec import get_kernel_dict

    spec = get_kernel_dict()
    spec["display_name"] = f"etftrader ({sys.executable})"
    spec["env"] = {"MPLBACKEND": "Agg", "PYTHONIOENCODING": "utf-8"}
    return spec


def _write_private_kernelspec(folder: Path) -> Path:
    """Write :func:`kernel_spec` to ``folder/<KERNEL_NAME>/kernel.json``; return ``folder``."""
    import json

    target = folder / KERNEL_NAME
    target.mkdir(parents=True, exist_ok=True)
    (target / "kernel.json").write_text(json.dumps(kernel_spec(), indent=1), encoding="utf-8")
    return folder


def _kernel_manager_class(kernel_dir: Path):
    """An nbclient-compatible kernel manager that knows only the private kernelspec folder."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class PrivateKernelManager(AsyncKernelManager):
        @default("transport_encryption")
        def _encrypt_when_possible(self):
            # CurveZMQ keys for the local sockets (the kernel otherwise warns on stderr, which a
            # cron mail would show every week); pyzmq wheels ship libzmq with curve support.
            import zmq

            return "auto" if zmq.has("curve") else "disabled"

        @default("kernel_spec_manager")
        def _private_spec_manager(self):
            # ensure_native_kernel=False: never fall back to whatever "python3" resolves to.
            return KernelSpecManager(kernel_dirs=[str(kernel_dir)], ensure_native_kernel=False)

        async def _async_interrupt_kernel(self) -> None:
            # jupyter_client sends SIGINT before asking a kernel to shut down; when it lands while
            # ipykernel is inside a message handler, the kernel logs "KeyboardInterrupt caught in
            # kernel." on our stderr (a stray line in every cron mail, and a flaky test). Every
            # cell has finished when the report shuts its kernel down, so the interrupt has
            # nothing to stop: skip it then, and keep it for a cell that runs over its timeout.
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return PrivateKernelManager


def _stamp(now: datetime | None) -> str:
    return (now or datetime.now()).strftime("%Y%m%d_%H%M%S")


def _unique(folder: Path, stem: str, suffixes: tuple[str, ...]) -> str:
    """``stem`` or ``stem_N`` so that no file ``stem*.suffix`` is overwritten (two runs a second)."""
    candidate, n = stem, 1
    while any((folder / f"{candidate}{s}").exists() for s in suffixes):
        candidate, n = f"{stem}_{n}", n + 1
    return candidate


def render_monitoring(workbook: Path, home: Home, *, market_file: Path | None = None, as_of=None,
                      out_dir: Path | None = None, now: datetime | None = None,
                      cell_timeout: int = CELL_TIMEOUT, start_timeout: int = START_TIMEOUT) -> ReportResult:
    """Execute the monitoring notebook on ``workbook`` and export it to HTML.

    Parameters
    ----------
    workbook : Path
        The tracking workbook (only read).
    home : Home
        The tool's home folder: finds ``<home>/notebooks`` (the analyst's own copy) and the
        default output folders.
    market_file : Path, optional
        Daily benchmark/VIX closes (default ``<home>/data/market_latest.parquet``). A missing
        file is not an error: the risk section says so.
    as_of : date or str, optional
        Review the portfolio as it stood on this date (default: the latest run).
    out_dir : Path, optional
        Where the notebook, HTML and summary go (default ``results/reports/`` for the notebook
        and HTML and ``results/`` for the summary, as the seed has it).
    now : datetime, optional
        Clock for the file names (tests).
    cell_timeout, start_timeout : int
        Seconds allowed per cell and for the kernel to start.

    Returns
    -------
    ReportResult

    Raises
    ------
    ReportError
        The workbook or notebook is missing or unreadable, or execution failed or timed out.
        The message is one line; the executed notebook (with the failing cell's error) is kept.
    """
    workbook = Path(workbook)
    if not workbook.is_file():
        # Exit 5, not 8: 8 means "the week is recorded but the report failed", and here no week is.
        raise WorkbookError(
            f"tracking workbook {workbook} does not exist; run `etftrader weekly` first or pass --workbook PATH")
    market_file = Path(market_file) if market_file is not None else home.data_dir / "market_latest.parquet"
    as_of_text = _as_of_text(as_of)
    source = find_notebook(home)
    notebook = _read_notebook(source)

    reports = Path(out_dir) if out_dir is not None else home.reports_dir
    summary_dir = Path(out_dir) if out_dir is not None else home.results_dir
    for folder in (reports, summary_dir):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ReportError(f"cannot create report folder {folder}: {e.strerror or e}; pass --out DIR") from e
    now = now or datetime.now()
    # Named and titled by the week's as-of date (one as-of per run); an on-demand report of the
    # whole ledger by its latest week, and only a ledger with no week yet by the time it was made.
    named = as_of_text or _latest_as_of(workbook)
    stamp = named.replace("-", "") if named else _stamp(now)
    stem = _unique(reports, f"{Path(NOTEBOOK_NAME).stem}_{stamp}", (".ipynb", ".html"))
    executed = reports / f"{stem}.ipynb"
    html = reports / f"{stem}.html"
    summary = summary_dir / f"{_unique(summary_dir, f'portfolio_summary_{stamp}', ('.txt',))}.txt"
    from .sidefiles import PRICES_FILE, WEEK_FILE

    week_file, prices_file = home.data_dir / WEEK_FILE, home.data_dir / PRICES_FILE
    parameters = {
        "WORKBOOK": str(workbook.resolve()),
        "MARKET_FILE": str(market_file.resolve()) if market_file.exists() else "",
        "SUMMARY_PATH": str(summary.resolve()),
        "AS_OF": as_of_text,
        "WEEK_FILE": str(week_file.resolve()) if week_file.exists() else "",
        "PRICES_FILE": str(prices_file.resolve()) if prices_file.exists() else "",
    }
    execute_notebook(notebook, executed, parameters, cwd=reports,
                     cell_timeout=cell_timeout, start_timeout=start_timeout)
    title = f"Portfolio monitoring as of {named}" if named else f"Portfolio monitoring {now:%Y-%m-%d %H:%M}"
    notebook_to_html(executed, html, title=title)
    if not summary.exists():  # an analyst's own notebook copy may not save it: the library does
        _write_summary_fallback(workbook, market_file, as_of_text, summary)
    _log.info("report rendered: %s", html)
    return ReportResult(notebook=executed, html=html, summary=summary)


def _latest_as_of(workbook: Path) -> str:
    """The latest week's as-of date in the ledger (``""`` when it has none or cannot be read: the
    notebook then says what is wrong)."""
    from .workbook import read_ledger

    try:
        perf = read_ledger(workbook, sheets=["Performance"]).performance
    except Exception:  # noqa: BLE001 - the notebook reads the ledger again and reports the problem
        return ""
    days = pd.to_datetime(perf["as_of"], errors="coerce").dropna() if "as_of" in perf else []
    return f"{max(days):%Y-%m-%d}" if len(days) else ""


def _as_of_text(as_of) -> str:
    if as_of is None or as_of == "":
        return ""
    if isinstance(as_of, (date, datetime)):
        return f"{as_of:%Y-%m-%d}"
    try:
        return datetime.strptime(str(as_of), "%Y-%m-%d").strftime("%Y-%m-%d")
    except ValueError:
        raise ReportError(f"report --as-of must be a date as YYYY-MM-DD, got {as_of!r}") from None


def _read_notebook(path: Path):
    import nbformat

    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as e:  # NotJSONError, ValidationError, UnicodeDecodeError, OSError...
        raise ReportError(
            f"monitoring notebook {path} cannot be read ({type(e).__name__}); "
            f"delete or repair it (the project's copy is used when there is none in <home>/notebooks)") from e
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        raise ReportError(f"monitoring notebook {path} has no cell tagged 'parameters'; "
                          f"papermill needs one to pass WORKBOOK, MARKET_FILE, SUMMARY_PATH, AS_OF, WEEK_FILE and PRICES_FILE")
    return nb


def execute_notebook(notebook, executed: Path, parameters: dict, *, cwd: Path,
                     what: str = "monitoring notebook", unaffected: str = "the workbook is unaffected",
                     cell_timeout: int = CELL_TIMEOUT, start_timeout: int = START_TIMEOUT) -> Path:
    """Execute a notebook with papermill on a private kernel running this interpreter.

    Parameters
    ----------
    notebook : Path or nbformat.NotebookNode
        The notebook to run (it needs a cell tagged ``parameters``).
    executed : Path
        Where the executed notebook is written (also when a cell fails).
    parameters : dict
        Values papermill injects after the ``parameters`` cell.
    cwd : Path
        The kernel's working folder.
    what, unaffected : str
        How the error message names the notebook and what it says was kept safe.
    cell_timeout, start_timeout : int
        Seconds allowed per cell and for the kernel to start.

    Returns
    -------
    Path
        ``executed``.

    Raises
    ------
    ReportError
        One line naming the failing cell (or the timeout / kernel failure) and where the failed
        notebook is kept.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    if isinstance(notebook, Path):
        notebook = str(notebook)
    # ignore_cleanup_errors: on Windows a just-stopped kernel may hold the folder a moment longer
    with tempfile.TemporaryDirectory(prefix="etftrader-kernel-", ignore_cleanup_errors=True) as tmp:
        kernel_dir = _write_private_kernelspec(Path(tmp))
        try:
            pm.execute_notebook(
                notebook, str(executed), parameters=parameters, kernel_name=KERNEL_NAME,
                kernel_manager_class=_kernel_manager_class(kernel_dir), language="python",
                cwd=str(cwd), progress_bar=False, log_output=False,
                start_timeout=start_timeout, execution_timeout=cell_timeout,
            )
        except PapermillExecutionError as e:
            raise ReportError(
                f"{what} failed in cell {e.exec_count}: {e.ename}: {_one_line(e.evalue)}; "
                f"{unaffected}; the failed notebook is kept at {executed}") from e
        except Exception as e:  # timeouts, a dead kernel, a kernel that cannot start
            kept = f"; the failed notebook is kept at {executed}" if executed.exists() else ""
            raise ReportError(
                f"{what} could not be executed ({type(e).__name__}: {_one_line(str(e))}); "
                f"{unaffected}{kept}") from e
    return executed


def _one_line(text: str, limit: int = 200) -> str:
    return first_line(" ".join(str(text).split()), limit=limit, empty="")


def notebook_to_html(executed: Path, html: Path, *, title: str = "Portfolio monitoring") -> Path:
    """Export an executed notebook to standalone HTML without code cells or prompts.

    Charts stay embedded as ``data:image/png;base64`` images, so the file can be mailed.
    """
    import nbformat
    from nbconvert import HTMLExporter

    try:
        nb = nbformat.read(str(executed), as_version=4)
        nb.metadata["title"] = title
        exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
        body, _ = exporter.from_notebook_node(nb)
        html.write_text(_offline(_with_alt_text(body, nb)), encoding="utf-8")
    except Exception as e:
        raise ReportError(f"could not convert {executed} to HTML ({type(e).__name__}: {_one_line(str(e))}); "
                          f"the executed notebook is kept") from e
    return html


#: print and screen layout added to every report: charts centred and scaled to the page, no heading
#: left alone at the bottom of a printed page, tables readable
_REPORT_CSS = """
img {max-width: 100%; height: auto; display: block; margin: 4px auto;}
h1, h2, h3 {break-after: avoid; page-break-after: avoid;}
.jp-OutputArea-output, table, img {break-inside: avoid; page-break-inside: avoid;}
table {border-collapse: collapse; font-size: 0.92em;}
th, td {padding: 2px 10px;}
@media print {body {margin: 0;} .jp-Cell {padding: 0;}}
"""


def _offline(body: str) -> str:
    """The page with nothing to fetch: nbconvert's lab template loads require.js and MathJax from a
    CDN, which an offline analyst sees as a broken page. The report uses neither (no widgets, no
    formulas), so those scripts and any remote stylesheet are removed; the page's own CSS stays."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(body, features="html.parser")
    for tag in soup.find_all("script"):
        source = str(tag.get("src") or "")
        text = tag.string or ""
        if source.startswith(("http:", "https:", "//")) or "MathJax" in text or "https://" in text \
                or "http://" in text:
            tag.decompose()  # a CDN script, or an inline one that imports from a CDN (mermaid)
    for tag in soup.find_all("link"):
        if str(tag.get("href") or "").startswith(("http:", "https:", "//")):
            tag.decompose()
    if soup.head is not None:
        style = soup.new_tag("style")
        style.string = _REPORT_CSS
        soup.head.append(style)
    return str(soup)


def _with_alt_text(body: str, nb) -> str:
    """Give each embedded chart its title as alt text (nbconvert's lab template drops it).

    Images appear in the HTML in the order of the notebook's image outputs; charts shown by
    :func:`etftrader.monitoring.show` carry ``metadata["image/png"]["alt"]``.
    """
    from bs4 import BeautifulSoup

    alts = [o.get("metadata", {}).get("image/png", {}).get("alt")
            for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})]
    soup = BeautifulSoup(body, features="html.parser")
    images = soup.select("img[src^='data:image/png']")
    if len(images) != len(alts):  # unexpected layout: leave nbconvert's output alone
        return body
    for img, alt in zip(images, alts):
        if alt:
            img["alt"] = alt
    return str(soup)


def _write_summary_fallback(workbook: Path, market_file: Path, as_of: str, summary: Path) -> None:
    from . import monitoring as mon
    from .workbook import read_ledger

    text = mon.summary_text(read_ledger(workbook), mon.read_market(market_file), as_of=as_of or None)
    summary.write_text(text, encoding="utf-8")
