"""``etftrader backtest`` and ``etftrader sweep`` as library calls: load the prices once, run,
write the output folder, render its report. The CLI only turns flags into these arguments and
prints what comes back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    from ..config import Config
    from ..paths import Home

__all__ = ["FolderRun", "backtest_to_folder", "new_folder", "render_report", "sweep_to_folder"]

_log = logging.getLogger("etftrader.backtest")


@dataclass(frozen=True)
class FolderRun:
    """A run written to a folder: its result, the files written, the HTML report (None when
    skipped or failed) and the report's error (None unless it failed: the outputs stay)."""

    result: Any
    out: Path
    paths: dict[str, Path]
    html: Path | None
    report_error: Exception | None


def new_folder(parent: Path, stem: str) -> Path:
    """``parent/stem``, or ``stem_N`` when a run in the same second already took it."""
    candidate, n = parent / stem, 1
    while candidate.exists():
        candidate, n = parent / f"{stem}_{n}", n + 1
    return candidate


def render_report(render: Callable[..., Path], out: Path, home: "Home", *, skip: bool) -> tuple[Path | None, Exception | None]:
    """``(html, None)`` from ``render(out, home=home)``, ``(None, error)`` when it raised
    ``ReportError`` (logged: the outputs stay and the command reports exit 8), ``(None, None)``
    when ``skip`` (``--no-notebook``)."""
    from ..errors import ReportError

    if skip:
        return None, None
    try:
        return render(out, home=home), None
    except ReportError as e:
        _log.error("report failed: %s", e)
        return None, e


def backtest_to_folder(config: "Config", home: "Home", *, optimizers: Sequence[str], start: date | None,
                       end: date | None, workers: Any, fill: str, out: Path | None, refresh: bool = False,
                       notebook: bool = True, progress: bool = False) -> FolderRun:
    """Load the prices up to ``end``, :func:`~.engine.run_backtest`, write the outputs into
    ``out`` (default ``results/backtest_<stamp>``) and render the validation report."""
    from ..groups import universe_under_home
    from ..prices import load_prices
    from .engine import run_backtest
    from .outputs import write_outputs
    from .report import render_backtest_report

    config = universe_under_home(config, home)  # the group limits and asset classes, as weekly reads them
    _log.info("backtest: optimizers %s, start %s, end %s; config %s", ",".join(optimizers), start, end,
              config.to_dict())
    data = load_prices(config.data, home, as_of=end, refresh=refresh, progress=progress)
    result = run_backtest(data, config, optimizers=optimizers, start=start, end=end, progress=progress,
                          workers=workers, fill=fill)
    folder = Path(out) if out else new_folder(home.results_dir, f"backtest_{datetime.now():%Y%m%d_%H%M%S}")
    paths = write_outputs(result, folder)
    _log.info("backtest outputs in %s (%.1f s simulation)", folder, result.elapsed)
    html, error = render_report(render_backtest_report, folder, home, skip=not notebook)
    return FolderRun(result=result, out=folder, paths=paths, html=html, report_error=error)


def sweep_to_folder(base: "Config", home: "Home", cells: Sequence[Any], *, start: date | None, end: date | None,
                    split: date | None, workers: int, scheduler: str | None, out: Path | None,
                    refresh: bool = False, notebook: bool = True, progress: bool = False,
                    on_progress: Callable[..., None] | None = None) -> FolderRun:
    """Load the prices up to ``end``, :func:`etftrader.sweep.run_sweep` the ``cells`` (cached under
    ``data/sweep``), write ``sweep.csv``, ``sweep.json`` and the Pareto chart into ``out`` (default
    ``results/sweep_<stamp>``) and render the sweep report."""
    from .. import sweep as sw
    from ..groups import universe_under_home
    from ..prices import load_prices

    base = universe_under_home(base, home)  # the group limits and asset classes, as weekly reads them

    _log.info("sweep: %d cells, start %s, end %s, split %s, %s", len(cells), start, end, split,
              f"scheduler {scheduler}" if scheduler else f"{workers} local worker(s)")
    data = load_prices(base.data, home, as_of=end, refresh=refresh, progress=progress)
    result = sw.run_sweep(data, base, cells, cache_dir=home.data_dir / "sweep", start=start, end=end, split=split,
                          workers=workers, scheduler=scheduler, progress=on_progress)
    folder = Path(out) if out else new_folder(home.results_dir, f"sweep_{datetime.now():%Y%m%d_%H%M%S}")
    paths = sw.write_outputs(result, folder)
    sw.plot_pareto(result.table, folder / "pareto.png")
    html, error = render_report(sw.render_sweep_report, folder, home, skip=not notebook)
    return FolderRun(result=result, out=folder, paths=paths, html=html, report_error=error)
