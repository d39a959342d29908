"""What a backtest writes to its folder and reads back: CSVs, JSON and the turnover tables."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping
import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..metrics import METRIC_NAMES

if TYPE_CHECKING:  # the result type, without importing the engine
    from .engine import BacktestResult


def write_outputs(result: BacktestResult, out_dir: Path) -> dict[str, Path]:
    """Write the result into ``out_dir`` (created); return the paths by name.

    Files: ``equity.csv`` (date + one column per series), ``trades.csv``, ``metrics.json`` (keyed
    by the equity columns), ``decisions.csv``, ``targets.csv``, ``run.json`` (period, universe,
    settings, notes), ``equity.png`` and ``drawdowns.png``.
    """
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the output folder {out_dir}: {e.strerror or e}; choose another --out") from e
    paths = {name: out_dir / name for name in (
        "equity.csv", "trades.csv", "metrics.json", "decisions.csv", "targets.csv", "run.json",
        "equity.png", "drawdowns.png", "turnover.png")}
    result.equity.to_csv(paths["equity.csv"], index_label="date", float_format="%.6f")
    _dated(result.trades).to_csv(paths["trades.csv"], index=False)
    _dated(result.decisions).to_csv(paths["decisions.csv"], index=False)
    _dated(result.targets).to_csv(paths["targets.csv"], index=False)
    paths["metrics.json"].write_text(json.dumps(_json_safe(result.metrics), indent=2), encoding="utf-8")
    run = {**result.settings, "strategies": list(result.strategies), "notes": list(result.notes),
           "elapsed_seconds": round(result.elapsed, 3), "timings_seconds": result.timings,
           "metric_names": list(METRIC_NAMES)}
    paths["run.json"].write_text(json.dumps(_json_safe(run), indent=2), encoding="utf-8")
    from .plots import _plot, _plot_turnover  # matplotlib only when the files are written

    _plot(result.equity, paths["equity.png"], paths["drawdowns.png"])
    _plot_turnover(result.decisions, paths["turnover.png"])
    return paths


def turnover_over_time(decisions: pd.DataFrame, *, weeks: int = 52) -> dict[str, pd.DataFrame]:
    """Trailing one-way turnover (traded value / 2 over the trailing ``weeks``, divided by the
    average value) and cumulative costs, one column per strategy, indexed by decision day."""
    if decisions is None or decisions.empty:
        return {"turnover": pd.DataFrame(), "costs": pd.DataFrame()}
    d = decisions.assign(date=pd.to_datetime(decisions["date"]))
    traded = d.pivot_table(index="date", columns="strategy", values="traded_value", aggfunc="sum", sort=False)
    value = d.pivot_table(index="date", columns="strategy", values="value", aggfunc="mean", sort=False)
    costs = d.pivot_table(index="date", columns="strategy", values="costs", aggfunc="sum", sort=False)
    rolling = (traded.fillna(0.0).rolling(weeks, min_periods=weeks).sum() / 2) / value.rolling(weeks, min_periods=1).mean()
    order = list(dict.fromkeys(d["strategy"]))
    return {"turnover": rolling[order], "costs": costs.fillna(0.0).cumsum()[order]}


def controls_table(run: Mapping[str, Any], decisions: pd.DataFrame) -> pd.DataFrame:
    """The turnover controls of the run and how often each acted, one row per strategy."""
    rows = []
    d = decisions if decisions is not None else pd.DataFrame()
    text = d["controls"].fillna("").astype(str) if "controls" in d else pd.Series(dtype=str)
    for name in dict.fromkeys(d.get("strategy", pd.Series(dtype=str))):
        mine = text[d["strategy"] == name]
        rows.append({
            "strategy": name,
            "weeks": int(len(mine)),
            "weeks with trades": int((d.loc[d["strategy"] == name, "trades"] > 0).sum()),
            "buffer kept a holding": int(mine.str.contains("inside the buffer").sum()),
            "penalty moved the target": int(mine.str.contains("penalty moved").sum()),
            "band left positions": int(mine.str.contains("band").sum()),
        })
    table = pd.DataFrame(rows).set_index("strategy") if rows else pd.DataFrame()
    table.attrs["settings"] = (
        f"turnover_control = {run.get('turnover_control', True)}; selection_buffer = {run.get('selection_buffer', 0)}; "
        f"turnover_penalty = {run.get('turnover_penalty', 0):g} x cost (k = {run.get('turnover_penalty_k', 0):.4g}); "
        f"no_trade_band = {run.get('no_trade_band', 0):.2%}; cost = {run.get('cost_bps', 0):g} bps")
    return table


def load_outputs(out_dir: Path) -> dict[str, Any]:
    """Read what :func:`write_outputs` wrote (for the validation notebook and tests).

    Returns a dict with ``equity`` (DataFrame indexed by date), ``trades``, ``decisions``,
    ``targets`` (DataFrames), ``metrics`` (table: one row per series) and ``run`` (dict).
    """
    from ..metrics import metrics_table

    out_dir = Path(out_dir)
    missing = [n for n in ("equity.csv", "trades.csv", "metrics.json", "run.json") if not (out_dir / n).exists()]
    if missing:
        raise DataError(f"{out_dir} is not a backtest output folder: missing {', '.join(missing)}; "
                        "run `etftrader backtest --out DIR` first")
    metrics = json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))
    return {
        "equity": pd.read_csv(out_dir / "equity.csv", index_col="date", parse_dates=["date"]),
        "trades": pd.read_csv(out_dir / "trades.csv", parse_dates=["date"]),
        "decisions": _read_optional(out_dir / "decisions.csv"),
        "targets": _read_optional(out_dir / "targets.csv"),
        "metrics": metrics_table(metrics),
        "run": json.loads((out_dir / "run.json").read_text(encoding="utf-8")),
    }


def _read_optional(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, parse_dates=["date"]) if path.exists() else pd.DataFrame()


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates written as YYYY-MM-DD (no midnight times in the CSVs)."""
    if "date" in frame and len(frame):
        frame = frame.assign(date=pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d"))
    return frame


def _json_safe(value):
    """NaN and infinities become null: strict JSON readers (and Excel's) reject them."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
