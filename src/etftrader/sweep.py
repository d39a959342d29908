"""Parameter sweeps: the backtest over a grid of settings, locally or on a Dask cluster.

A *cell* is one backtest configuration: an optimizer, a number of positions, a drift threshold,
the turnover controls, a cost and a fill rule (:data:`GRID_KEYS`). :func:`expand_grid` turns a grid
(each key a list of values) into cells and validates every one of them as a normal configuration
before anything runs. :func:`run_sweep` runs the cells that are not cached yet:

- locally on joblib's loky processes (``workers``); each worker loads the prices once, from a
  snapshot the sweep writes under the home folder, not once per cell;
- or on a Dask distributed cluster (``scheduler="tcp://host:8786"``), the prices scattered to every
  worker once.

Every finished cell is written at once to ``<home>/data/sweep/<key>.json``, the key a hash of the
cell's whole configuration, the period and fingerprints of the prices and of the universe file,
so an interrupted sweep (Ctrl+C, kill) resumes without recomputing what finished, and changed
prices or an edited universe file miss the cache.

Results (:func:`write_outputs`): ``sweep.csv`` with every metric of every cell (net of costs: the
backtest pays them in cash), beside equal weight's and the benchmark's figures under the same
settings; ``sweep.json`` with the settings; an HTML report (``notebooks/05_parameter_sweep.ipynb``).
With ``split`` every cell's figures are also given for the part before the split date (where
settings would be chosen) and the part from it (where they are shown).

Why one module of this size: the grid, the cache keys, the two executors (loky and Dask) and the
outputs of one command share the cell and result types and the cache layout; each part is a
section below.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import math
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .config import OPTIMIZERS, Config
from .errors import ConfigError
from .week import HELD_BACK

__all__ = ["GRID_KEYS", "Cell", "expand_grid", "read_grid_file", "run_sweep", "SweepResult", "write_outputs",
           "load_outputs", "ranking_table", "varying_keys", "run_cells", "pareto_front", "plot_pareto", "split_table", "data_fingerprint"]

_log = logging.getLogger("etftrader.sweep")

#: grid key -> (where it goes in the configuration, how a value is read)
GRID_KEYS: dict[str, str] = {
    "optimizer": "one of " + ", ".join(OPTIMIZERS),
    "positions": "whole number of positions",
    "drift_threshold": "rebalance when drift exceeds this (0.05)",
    "cost_bps": "cost per trade in basis points",
    "turnover_control": "true or false",
    "selection_buffer": "whole number >= 0",
    "turnover_penalty": "number >= 0",
    "no_trade_band": "number in [0, 1)",
    "fill": "next-close or same-close",
}
#: bump when a cell's figures would change for the same inputs (invalidates every cached cell)
CACHE_VERSION = 2
#: the figures each cell reports for its book, equal weight and the benchmark
FIGURES = ("cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "turnover", "costs")


@dataclass(frozen=True)
class Cell:
    """One backtest configuration of a sweep (``None``: the configuration's own value)."""

    optimizer: str
    positions: int | None = None
    drift_threshold: float | None = None
    cost_bps: float | None = None
    turnover_control: bool | None = None
    selection_buffer: int | None = None
    turnover_penalty: float | None = None
    no_trade_band: float | None = None
    fill: str = "next_close"

    def config(self, base: Config) -> Config:
        """``base`` with this cell's values (validated: a bad value raises ConfigError)."""
        return base.override(
            portfolio={"positions": self.positions, "optimizer": self.optimizer},
            rebalance={"drift_override": self.drift_threshold, "cost_bps": self.cost_bps,
                       "turnover_control": self.turnover_control, "selection_buffer": self.selection_buffer,
                       "turnover_penalty": self.turnover_penalty, "no_trade_band": self.no_trade_band},
        )

    def label(self, keys: Iterable[str] | None = None, *, short: bool = False) -> str:
        """``mvo positions=8 cost_bps=20 ...``: the optimizer and the values set (or only ``keys``;
        ``short`` for the console: ``mvo pos=8 bps=20 fill=next``)."""
        parts = [self.optimizer]
        for name in ("positions", "drift_threshold", "cost_bps", "turnover_control", "selection_buffer",
                     "turnover_penalty", "no_trade_band", "fill"):
            value = getattr(self, name)
            if value is None or (keys is not None and name not in keys):
                continue
            if short and name == "fill":
                value = str(value).split("_")[0]
            if short and name == "turnover_control":
                value = "on" if value else "off"
            tag = _SHORT[name] if short else name
            parts.append(f"{tag}={value:g}" if isinstance(value, float) else f"{tag}={value}")
        return " ".join(parts)


_SHORT = {"positions": "pos", "drift_threshold": "drift", "cost_bps": "bps", "turnover_control": "controls",
          "selection_buffer": "buffer", "turnover_penalty": "pen", "no_trade_band": "band", "fill": "fill"}


def varying_keys(cells: Iterable[Cell]) -> list[str]:
    """The grid keys whose value differs between cells (what a label needs to tell them apart)."""
    cells = list(cells)
    return [k for k in GRID_KEYS if len({getattr(c, k) for c in cells}) > 1]


# --------------------------------------------------------------------------- the grid


def read_grid_file(path: str | Path) -> dict[str, Any]:
    """A grid TOML file: ``[grid]`` lists and optional ``[sweep]`` ``start``, ``end``, ``split``.

    Raises ConfigError (one line, naming the file) when it cannot be read or has unknown tables.
    """
    import tomllib

    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"grid file {path} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read grid file {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"grid file {path} is not valid TOML: {e}") from None
    unknown = sorted(set(raw) - {"grid", "sweep"})
    if unknown:
        raise ConfigError(f"grid file {path}: unknown table(s) {', '.join(unknown)}; use [grid] and [sweep]")
    sweep = raw.get("sweep", {})
    bad = sorted(set(sweep) - {"start", "end", "split"})
    if bad:
        raise ConfigError(f"grid file {path}: unknown [sweep] key(s) {', '.join(bad)}; valid: start, end, split")
    if not isinstance(raw.get("grid", {}), dict):
        raise ConfigError(f"grid file {path}: [grid] must be a table of lists")
    return {"grid": raw.get("grid", {}), **{k: str(v) for k, v in sweep.items()}}


def _values(key: str, value: Any) -> list:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ConfigError(f"grid {key} is an empty list; give at least one value")
    out = []
    for v in values:
        try:
            if key == "optimizer":
                from .config import OPTIMIZERS

                if v not in OPTIMIZERS:
                    raise ValueError
                out.append(str(v))
            elif key in ("positions", "selection_buffer"):
                if isinstance(v, bool) or not isinstance(v, int) and not (isinstance(v, float) and v.is_integer()):
                    raise ValueError
                out.append(int(v))
            elif key == "turnover_control":
                if isinstance(v, str) and v.lower() in ("true", "on", "yes", "false", "off", "no"):
                    v = v.lower() in ("true", "on", "yes")
                if not isinstance(v, bool):
                    raise ValueError
                out.append(v)
            elif key == "fill":
                text = str(v).replace("-", "_")
                if text not in ("next_close", "same_close"):
                    raise ValueError
                out.append(text)
            else:
                if isinstance(v, bool):
                    raise ValueError
                number = float(v)
                if not math.isfinite(number):
                    raise ValueError
                out.append(number)
        except (TypeError, ValueError):
            raise ConfigError(f"grid {key}: {v!r} is not valid; expected {GRID_KEYS[key]}") from None
    if len(set(out)) != len(out):
        raise ConfigError(f"grid {key} lists a value twice: {values}")
    return out


def expand_grid(grid: Mapping[str, Any], base: Config) -> list[Cell]:
    """Every combination of ``grid``'s values as a :class:`Cell`, each validated against ``base``.

    Raises
    ------
    ConfigError
        An unknown key, a bad value, or a cell that is not a valid configuration (one line, naming
        the key, the value and the cell).
    """
    unknown = sorted(set(grid) - set(GRID_KEYS))
    if unknown:
        raise ConfigError(f"unknown grid key(s) {', '.join(unknown)}; valid: {', '.join(GRID_KEYS)}")
    lists = {key: _values(key, grid[key]) for key in GRID_KEYS if key in grid}
    lists.setdefault("optimizer", [base.portfolio.optimizer])
    keys = list(lists)
    cells = [Cell(**dict(zip(keys, combo))) for combo in itertools.product(*(lists[k] for k in keys))]
    for cell in cells:
        try:
            cell.config(base)
        except ConfigError as e:
            raise ConfigError(f"grid cell {cell.label()}: {e}") from None
    return cells


# --------------------------------------------------------------------------- data and cache


def data_fingerprint(data) -> str:
    """A hash of the prices (closes, volumes, benchmark: values, dates and tickers)."""
    h = hashlib.sha256()
    for frame in (data.close, data.volume):
        if frame is None:
            h.update(b"none")
            continue
        h.update("|".join(map(str, frame.columns)).encode())
        h.update(frame.index.to_numpy(dtype="datetime64[ns]").view("int64").tobytes())
        h.update(np.ascontiguousarray(frame.to_numpy(dtype="float64", na_value=np.nan)).tobytes())
    if data.benchmark is not None:
        h.update(str(data.benchmark.name).encode())
        h.update(np.ascontiguousarray(data.benchmark.to_numpy(dtype="float64")).tobytes())
    return h.hexdigest()[:32]


def _universe_fingerprint(name: str) -> str:
    """A hash of the universe file's bytes (its group limits and asset classes feed every cell):
    an edited file misses the cache. Empty for the bundled list, "missing" when unreadable."""
    if not name:
        return ""
    try:
        return hashlib.sha256(Path(name).expanduser().read_bytes()).hexdigest()[:32]
    except OSError:
        return "missing"


def _cell_key(cell: Cell, config: Config, start, end, split, fingerprint: str) -> str:
    from . import __version__

    payload = {"cell": dataclasses.asdict(cell), "config": config.to_dict(), "start": str(start), "end": str(end),
               "split": str(split), "data": fingerprint, "universe": _universe_fingerprint(config.data.universe),
               "version": __version__, "cache": CACHE_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:40]


def _write_json_atomic(path: Path, payload: dict) -> None:
    from .files import replacing

    with replacing(path) as tmp:
        tmp.write_text(json.dumps(payload, allow_nan=True), encoding="utf-8")


def _read_cached(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- one cell


_WORKER_DATA: dict[str, Any] = {}


def _snapshot_data(path: str, fingerprint: str):
    """The prices in this worker process: read from the snapshot once, then kept."""
    if fingerprint not in _WORKER_DATA:
        _WORKER_DATA.clear()
        with open(path, "rb") as f:
            _WORKER_DATA[fingerprint] = pickle.load(f)
    return _WORKER_DATA[fingerprint]


def _period_figures(values: pd.Series, trades: pd.DataFrame, start, end) -> dict[str, float]:
    from .metrics import performance_metrics

    part = values.loc[start:end] if end is not None else values.loc[start:]
    if start is not None and len(values.loc[:start]) and part.index[0] != values.index[0]:
        part = values.loc[values.loc[:start].index[-1]:part.index[-1]]  # from the last close before
    inside = trades
    if len(trades):
        dates = pd.to_datetime(trades["date"])
        inside = trades[(dates > part.index[0]) & (dates <= part.index[-1])]
    return performance_metrics(part, traded_value=float(inside["value"].abs().sum()) if len(inside) else 0.0,
                               costs=float(inside["cost"].sum()) if len(inside) else 0.0)


def _equal_weight_key(config: Config, fill: str) -> str:
    """What equal weight's result depends on: not the optimizer, the positions, the selection
    buffer or the turnover penalty, which 1/N does not use."""
    neutral = config.override(portfolio={"positions": 1, "optimizer": "mvo"},
                              rebalance={"selection_buffer": 0, "turnover_penalty": 0.0})
    return hashlib.sha256(json.dumps([neutral.to_dict(), fill], sort_keys=True, default=str).encode()).hexdigest()


def run_cells(data, base: Config, cells: Sequence[Cell], start, end, split=None) -> list[dict[str, Any]]:
    """Several cells' backtests in one weekly loop, and their figures (rows of ``sweep.csv``).

    Each row holds the figures ``run_backtest(data, cell.config(base), optimizers=[cell.optimizer],
    ...)`` gives for the cell's book, equal weight and the benchmark (a test checks it); the
    week's quality check and factor scores are computed once for all the cells, and equal
    weight once for the cells that share its settings.
    """
    from .backtest import EQUAL_WEIGHT, BookSpec, run_books

    began = time.perf_counter()
    specs: dict[str, BookSpec] = {}
    ew_label: dict[str, str] = {}
    owners = []
    for i, cell in enumerate(cells):
        config = cell.config(base)
        specs[f"cell{i}"] = BookSpec(cell.optimizer, config, config.portfolio.positions, cell.fill)
        key = _equal_weight_key(config, cell.fill)
        if key not in ew_label:
            ew_label[key] = f"ew{len(ew_label)}"
            specs[ew_label[key]] = BookSpec(EQUAL_WEIGHT, config, config.portfolio.positions, cell.fill)
        owners.append((f"cell{i}", ew_label[key], config))
    run = run_books(data, base, specs, start=start, end=end)
    seconds = (time.perf_counter() - began) / max(len(cells), 1)
    rows = []
    for cell, (label, ew, config) in zip(cells, owners):
        row: dict[str, Any] = dict(dataclasses.asdict(cell))
        rb = config.rebalance
        row.update({"positions": config.portfolio.positions, "drift_threshold": rb.threshold_for(cell.optimizer),
                    "cost_bps": rb.cost_bps, "turnover_control": rb.turnover_control,
                    "selection_buffer": rb.selection_buffer, "turnover_penalty": rb.turnover_penalty,
                    "no_trade_band": rb.no_trade_band})
        books = {"": run["books"][label], "ew_": run["books"][ew]}
        if run["benchmark"] is not None:
            books["benchmark_"] = {**run["benchmark"], "trades": None, "decisions": None}
        for prefix, book in books.items():
            for figure in FIGURES:
                row[prefix + figure] = float(book["metrics"].get(figure, math.nan))
            if book["decisions"] is not None:
                d = book["decisions"]
                row[prefix + "trade_weeks"] = float((d["trades"] > 0).mean()) if len(d) else math.nan
                # the weeks whose rebalance was held back as too costly ([rebalance] max_cost_fraction)
                held = d["note"].astype(str).str.contains(HELD_BACK, regex=False) if len(d) else None
                row[prefix + "held_back_weeks"] = float(held.mean()) if held is not None else math.nan
        row["weeks"] = len(run["schedule"])
        row["start"], row["end"] = str(run["schedule"][0].date()), run["end"]
        row["short_window"] = bool(run["short_window"])
        if split is not None:
            split_ts = pd.Timestamp(split)
            for prefix, book in books.items():
                values = book["equity"].dropna()
                trades = book["trades"] if book["trades"] is not None else pd.DataFrame(columns=["date", "value", "cost"])
                before = values.loc[:split_ts - pd.Timedelta(days=1)]
                first = _period_figures(before, trades, None, None) if len(before) > 1 else {}
                second = _period_figures(values, trades, split_ts, None)
                for figure in ("cagr", "sharpe", "turnover", "max_drawdown"):
                    row[f"is_{prefix}{figure}"] = float(first.get(figure, math.nan))
                    row[f"oos_{prefix}{figure}"] = float(second.get(figure, math.nan))
        row["seconds"] = seconds
        rows.append(row)
    return rows


def _run_batch_local(snapshot: str, fingerprint: str, base: Config, cells, start, end, split, indexes):
    return indexes, run_cells(_snapshot_data(snapshot, fingerprint), base, cells, start, end, split)


def _run_batch_scattered(data, base: Config, cells, start, end, split, indexes):
    return indexes, run_cells(data, base, cells, start, end, split)


def _batches(cells: Sequence[Cell], todo: list[int], base: Config, workers: int) -> list[list[int]]:
    """The cells to run, in batches that share equal weight where they can: about two batches
    per worker (so a slow batch does not leave a worker idle long), at most 8 cells each."""
    if not todo:
        return []
    size = max(1, min(8, math.ceil(len(todo) / (2 * max(workers, 1)))))
    keyed = sorted(todo, key=lambda i: (_equal_weight_key(cells[i].config(base), cells[i].fill), i))
    return [keyed[k:k + size] for k in range(0, len(keyed), size)]


# --------------------------------------------------------------------------- the sweep


@dataclass(frozen=True)
class SweepResult:
    """A finished sweep: one row per cell in grid order, and what the run did."""

    table: pd.DataFrame
    cells: tuple[Cell, ...]
    cached: int
    computed: int
    elapsed: float
    settings: dict


def run_sweep(data, base: Config, cells: Iterable[Cell], *, cache_dir: Path, start=None, end=None,
              split=None, workers: int = 1, scheduler: str | None = None,
              progress: Callable[[int, int, float, float | None], None] | None = None) -> SweepResult:
    """Run every cell not in the cache; return all cells' figures in grid order.

    Parameters
    ----------
    data : PriceData
        The prices, loaded once by the caller.
    base : Config
        The configuration every cell starts from.
    cells : iterable of Cell
        From :func:`expand_grid`.
    cache_dir : Path
        Where finished cells are kept (``<home>/cache/sweep``).
    start, end, split : date, optional
        The backtest period, and the date that splits it into in-sample and out-of-sample parts.
    workers : int
        Local processes (joblib loky); 1 runs in this process.
    scheduler : str, optional
        Address of a Dask distributed scheduler; the cells run on its workers.
    progress : callable, optional
        ``progress(done, total, elapsed, eta)`` after each cell.
    """
    cells = tuple(cells)
    began = time.perf_counter()
    cache_dir = Path(cache_dir)
    fingerprint = data_fingerprint(data)
    keys = [_cell_key(c, c.config(base), start, end, split, fingerprint) for c in cells]
    rows: dict[int, dict] = {}
    for i, key in enumerate(keys):
        cached = _read_cached(cache_dir / f"{key}.json")
        if cached is not None:
            rows[i] = cached
    todo = [i for i in range(len(cells)) if i not in rows]
    cached_count = len(rows)
    total = len(cells)
    if cached_count:
        _log.info("sweep: %d of %d cells from the cache (%s)", cached_count, total, cache_dir)
    if progress:
        progress(len(rows), total, 0.0, None)
    from . import interrupts

    def resume_note() -> None:
        interrupts.set_outcome(f"{len(rows)} of {total} cells are finished and cached in {cache_dir}; run the "
                               "same command again to resume (nothing else was written)")

    resume_note()

    def finished(index: int, row: dict) -> None:
        _write_json_atomic(cache_dir / f"{keys[index]}.json", row)
        rows[index] = row
        resume_note()
        _log.info("sweep cell %d/%d done in %.1f s: %s", len(rows), total, row.get("seconds", math.nan),
                  cells[index].label())
        if progress:
            elapsed = time.perf_counter() - began
            done_now = len(rows) - cached_count
            left = total - len(rows)
            progress(len(rows), total, elapsed, elapsed / done_now * left if done_now else None)

    if todo and scheduler:
        _run_on_dask(scheduler, data, base, cells, todo, start, end, split, finished)
    elif todo and workers > 1:
        _run_on_loky(workers, data, fingerprint, cache_dir, base, cells, todo, start, end, split, finished)
    else:
        for batch in _batches(cells, todo, base, 1):
            for index, row in zip(batch, run_cells(data, base, [cells[i] for i in batch], start, end, split)):
                finished(index, row)
    table = pd.DataFrame([rows[i] for i in range(total)])
    table.insert(0, "cell", range(1, total + 1))
    settings = {"start": str(start) if start else None, "end": str(end) if end else None,
                "split": str(split) if split else None, "cells": total, "cached": cached_count,
                "computed": len(todo), "data_fingerprint": fingerprint, "source": data.source,
                "scheduler": scheduler, "workers": workers}
    return SweepResult(table=table, cells=cells, cached=cached_count, computed=len(todo),
                       elapsed=time.perf_counter() - began, settings=settings)


def _run_on_loky(workers, data, fingerprint, cache_dir, base, cells, todo, start, end, split, finished):
    from joblib import Parallel, delayed

    snapshot = cache_dir / f"prices_{fingerprint}.pkl"
    if not snapshot.exists():
        from .files import atomic_write

        atomic_write(snapshot, lambda f: pickle.dump(data, f, protocol=pickle.HIGHEST_PROTOCOL))
    batches = _batches(cells, todo, base, workers)
    jobs = Parallel(n_jobs=min(workers, len(batches)), backend="loky", return_as="generator_unordered")
    for indexes, rows in jobs(delayed(_run_batch_local)(str(snapshot), fingerprint, base, [cells[i] for i in b],
                                                        start, end, split, b) for b in batches):
        for index, row in zip(indexes, rows):
            finished(index, row)


def _run_on_dask(scheduler, data, base, cells, todo, start, end, split, finished):
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise ConfigError("--scheduler needs dask.distributed: pip install \"dask[distributed]\"") from None
    try:
        client = Client(scheduler, timeout=15)
    except (OSError, TimeoutError) as e:
        raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
    try:
        workers = max(sum(client.nthreads().values()), 1)
        shared = client.scatter(data, broadcast=True)  # each worker receives the prices once
        futures = [client.submit(_run_batch_scattered, shared, base, [cells[i] for i in b], start, end, split, b,
                                 pure=False) for b in _batches(cells, todo, base, workers)]
        for future in as_completed(futures):
            indexes, rows = future.result()
            for index, row in zip(indexes, rows):
                finished(index, row)
    finally:
        client.close()


# --------------------------------------------------------------------------- outputs


def write_outputs(result: SweepResult, out_dir: Path) -> dict[str, Path]:
    """``sweep.csv`` and ``sweep.json`` in ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = out_dir / "sweep.csv"
    from .files import replacing

    with replacing(csv) as tmp:
        result.table.to_csv(tmp, index=False, lineterminator="\n")
    meta = out_dir / "sweep.json"
    _write_json_atomic(meta, {**result.settings, "elapsed": result.elapsed,
                              "cells_labels": [c.label() for c in result.cells]})
    return {"sweep.csv": csv, "sweep.json": meta}


def load_outputs(out_dir: Path) -> dict[str, Any]:
    """What :func:`write_outputs` wrote: ``table`` (DataFrame) and ``settings`` (dict)."""
    out_dir = Path(out_dir)
    return {"table": pd.read_csv(out_dir / "sweep.csv"),
            "settings": json.loads((out_dir / "sweep.json").read_text(encoding="utf-8"))}


_SETTING_COLUMNS = ["optimizer", "positions", "drift_threshold", "cost_bps", "turnover_control",
                    "selection_buffer", "turnover_penalty", "no_trade_band", "fill"]


def ranking_table(table: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """Cells sorted by net Sharpe, best first, with readable headers and formatted figures."""
    ranked = table.sort_values(["sharpe", "cell"], ascending=[False, True], kind="stable")
    if top:
        ranked = ranked.head(top)
    out = pd.DataFrame({
        "Cell": ranked["cell"].astype(int),
        "Optimizer": ranked["optimizer"],
        "Positions": ranked["positions"].astype(int),
        "Drift threshold": ranked["drift_threshold"].map(lambda v: f"{v:.1%}"),
        "Costs (bps)": ranked["cost_bps"].map(lambda v: f"{v:g}"),
        "Turnover control": ranked["turnover_control"].map(lambda v: "on" if bool(v) else "off"),
        "Buffer": ranked["selection_buffer"].astype(int),
        "Penalty": ranked["turnover_penalty"].map(lambda v: f"{v:g}"),
        "Band": ranked["no_trade_band"].map(lambda v: f"{v:.0%}"),
        "Fill": ranked["fill"].map(lambda v: str(v).replace("_", " ")),
        "Net Sharpe": ranked["sharpe"].map(lambda v: f"{v:.2f}"),
        "Net CAGR": ranked["cagr"].map(lambda v: f"{v:.1%}"),
        "Max drawdown": ranked["max_drawdown"].map(lambda v: f"{v:.1%}"),
        "Turnover / yr": ranked["turnover"].map(lambda v: f"{v:.2f}"),
        # (a sweep.csv written before the column existed has none to show)
        "Weeks held back": (ranked["held_back_weeks"] if "held_back_weeks" in ranked
                            else pd.Series(math.nan, index=ranked.index)).map(
                                lambda v: "n/a" if v != v else f"{v:.1%}"),
        "Equal weight Sharpe": ranked["ew_sharpe"].map(lambda v: f"{v:.2f}"),
        "Sharpe - equal weight": (ranked["sharpe"] - ranked["ew_sharpe"]).map(lambda v: f"{v:+.2f}"),
    })
    return out.set_index("Cell")


def pareto_front(table: pd.DataFrame) -> pd.DataFrame:
    """Cells no other cell beats on both counts: lower turnover and higher net Sharpe."""
    ordered = table.sort_values(["turnover", "sharpe"], ascending=[True, False], kind="stable")
    best, keep = -math.inf, []
    for idx, row in ordered.iterrows():
        if row["sharpe"] > best:
            keep.append(idx)
            best = row["sharpe"]
    return table.loc[keep].sort_values("turnover")


def plot_pareto(table: pd.DataFrame, path: Path) -> Path:
    """Turnover against net Sharpe: every cell, the Pareto front, equal weight and the benchmark."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5))
    for name, group in table.groupby("optimizer", sort=True):
        ax.scatter(group["turnover"], group["sharpe"], s=28, alpha=0.75, label=f"{name} cells")
    front = pareto_front(table)
    ax.plot(front["turnover"], front["sharpe"], color="black", lw=1.2, marker="o", mfc="none", ms=9,
            label="Pareto front (lower turnover, higher Sharpe)")
    ew = table.groupby(["cost_bps", "fill"], sort=True)[["ew_turnover", "ew_sharpe"]].first()
    ax.scatter(ew["ew_turnover"], ew["ew_sharpe"], marker="X", s=90, color="tab:gray",
               label="equal weight (same costs and fill)")
    if "benchmark_sharpe" in table and table["benchmark_sharpe"].notna().any():
        ax.axhline(float(table["benchmark_sharpe"].iloc[0]), color="tab:red", ls="--", lw=1,
                   label="benchmark Sharpe (buy and hold)")
    ax.set_xlabel("one-way turnover per year (x portfolio value)")
    ax.set_ylabel("net Sharpe ratio (after costs)")
    ax.set_title("Turnover against net Sharpe, one point per cell")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, framealpha=0.8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def split_table(table: pd.DataFrame, top: int = 10) -> pd.DataFrame | None:
    """With a split: the cells ranked by in-sample net Sharpe, and how they did out of sample."""
    if "is_sharpe" not in table:
        return None
    ranked = table.sort_values(["is_sharpe", "cell"], ascending=[False, True], kind="stable").head(top)
    oos_rank = table["oos_sharpe"].rank(ascending=False, method="min")
    return pd.DataFrame({
        "Cell": ranked["cell"].astype(int),
        "Optimizer": ranked["optimizer"],
        "In-sample net Sharpe": ranked["is_sharpe"].map(lambda v: f"{v:.2f}"),
        "Out-of-sample net Sharpe": ranked["oos_sharpe"].map(lambda v: f"{v:.2f}"),
        "Out-of-sample rank": oos_rank.loc[ranked.index].astype(int),
        "Out-of-sample CAGR": ranked["oos_cagr"].map(lambda v: f"{v:.1%}"),
        "Equal weight out-of-sample Sharpe": ranked["oos_ew_sharpe"].map(lambda v: f"{v:.2f}"),
    }).set_index("Cell")


NOTEBOOK_NAME = "05_parameter_sweep.ipynb"


def render_sweep_report(out_dir: Path, *, home=None) -> Path:
    """Render the sweep notebook on ``out_dir`` (as the backtest's report is rendered)."""
    from . import report
    from .errors import ReportError
    from .paths import resolve_home

    out_dir = Path(out_dir).resolve()
    try:
        source = report.find_notebook(home or resolve_home(None), NOTEBOOK_NAME)
    except ReportError as e:
        raise ReportError(str(e).replace("monitoring notebook", "sweep notebook", 1)) from e
    executed = out_dir / "sweep_report.ipynb"
    html = out_dir / "sweep_report.html"
    report.execute_notebook(source, executed, {"RESULTS_DIR": str(out_dir)}, cwd=out_dir, what="sweep notebook",
                            unaffected=f"the sweep outputs are kept in {out_dir}",
                            cell_timeout=report.CELL_TIMEOUT, start_timeout=report.START_TIMEOUT)
    report.notebook_to_html(executed, html, title="Parameter sweep")
    return html
