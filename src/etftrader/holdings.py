"""What the analyst really holds, read from the tracking workbook's ledger.

Holdings never come from the last target. A trade counts once the analyst marks it ``executed``;
the shares and price in its row are used as they stand (a partial fill or a different price is
typed over the proposal), and a stale ``value`` cell is ignored. Cash is the explicit cash flows
(``CashFlows`` sheet) minus what executed buys cost plus what executed sells brought in, minus
their estimated costs. Unexecuted trades of the latest run are *pending*; unexecuted trades of
older runs are *superseded* and count only if the analyst marks them executed later.

Everything here is pure: ledger frames in, data out. Opening holdings (``etftrader holdings
import``) are recorded by :mod:`etftrader.opening`.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import WorkbookError
from .labels import F64

__all__ = [
    "LEDGER_SHEETS",
    "Holdings",
    "holdings_from_ledger",
    "latest_run",
    "require_ledger_sheets",
]

_log = logging.getLogger(__name__)

# Shares below this are rounding noise from edited cells (e.g. 10.0000000001 - 10), not holdings.
_SHARE_EPS = 1e-9


def _empty_trades() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "timestamp": pd.Series(dtype="datetime64[ns]"),
            "ticker": pd.Series(dtype=object),
            "action": pd.Series(dtype=object),
            "shares": pd.Series(dtype=F64),
            "price": pd.Series(dtype=F64),
            "value": pd.Series(dtype=F64),
            "run_id": pd.Series(dtype=object),
        }
    )


@dataclass(frozen=True)
class Holdings:
    """Executed holdings and cash, plus the trades still waiting for the analyst.

    Attributes
    ----------
    shares : pd.Series
        Ticker -> shares held (float; executed trades only; no zero or negative entries), sorted.
    cash : float
        Cash after every cash flow and executed trade (and its estimated cost).
    pending : pd.DataFrame
        Unexecuted trades of the latest run (``ticker, action, shares, price, value, run_id, ...``),
        with ``value`` recomputed as shares x price.
    superseded : pd.DataFrame
        Unexecuted trades of runs before the latest one (already replaced by a later run).
    last_run_id : str or None
        Run id of the latest run in the ledger (None for an empty ledger).
    last_run_time : pd.Timestamp or None
        Timestamp of that run.
    deposits : float
        Sum of DEPOSIT cash flows minus WITHDRAWAL cash flows (the money put in).
    has_cashflows : bool
        False for a ledger that never recorded a cash flow: the next run is a first run.
    executed_trades : int
        Number of executed trade rows.
    last_price : pd.Series
        Ticker -> the price of its latest executed trade (a fallback when the market has no price).
    """

    shares: pd.Series
    cash: float
    pending: pd.DataFrame = field(default_factory=_empty_trades)
    superseded: pd.DataFrame = field(default_factory=_empty_trades)
    last_run_id: str | None = None
    last_run_time: pd.Timestamp | None = None
    deposits: float = 0.0
    has_cashflows: bool = False
    executed_trades: int = 0
    last_price: pd.Series = field(default_factory=lambda: pd.Series(dtype=F64))

    @classmethod
    def all_cash(cls, cash: float) -> "Holdings":
        """Holdings of nothing but ``cash`` (tests, the backtest's first week)."""
        return cls(shares=pd.Series(dtype=F64, name="shares"), cash=float(cash), deposits=float(cash))

    @property
    def pending_value(self) -> float:
        """Total value (shares x price) of the pending trades."""
        return float(self.pending["value"].sum()) if len(self.pending) else 0.0

    def with_cash(self, cash: float) -> "Holdings":
        """A copy with another cash amount (after a deposit or withdrawal of this run)."""
        return dataclasses.replace(self, cash=float(cash))

    def value(self, prices: pd.Series) -> float:
        """Holdings at ``prices`` plus cash."""
        held = self.shares * prices.reindex(self.shares.index)
        return float(held.sum()) + self.cash


def _sheet_rows(frame: pd.DataFrame, mask: pd.Series) -> str:
    """Excel row numbers of ``frame[mask]`` when the ledger carries them, else its index labels."""
    rows = frame.loc[mask]
    if "_row" in rows.columns:
        labels = rows["_row"].tolist()
    else:
        labels = rows.index.tolist()
    return ", ".join(str(int(x)) if isinstance(x, (int, np.integer, float)) and x == x else str(x)
                     for x in labels)


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=F64)
    return pd.to_numeric(frame[column], errors="coerce").astype(F64)


def _timestamps(frame: pd.DataFrame) -> pd.Series:
    if "timestamp" not in frame.columns:
        return pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns]")
    return pd.to_datetime(frame["timestamp"], errors="coerce")


#: the workbook sheets holdings are computed from (read only these: a long ledger's Positions
#: sheet is most of the file and holdings never need it)
LEDGER_SHEETS = ("Trades", "CashFlows", "Metadata")


#: the sheets holdings and cash rest on: once a week is recorded, none of them may go missing
REQUIRED_SHEETS = ("Trades", "CashFlows", "Positions")


def require_ledger_sheets(ledger: Any, workbook: Path, backups_dir: Path) -> None:
    """Stop when a workbook that has recorded a week lacks a sheet holdings depend on.

    A renamed or deleted Trades sheet would otherwise read as "no trades" (the portfolio reset to
    cash), a deleted CashFlows sheet as "first run" (a deposit invented). A week counts as
    recorded when any ledger sheet has rows or a backup of the workbook exists; a workbook file
    that is gone while its backups remain is a stop too. Only a workbook that never recorded a
    week is created (or completed) afresh.

    Raises
    ------
    WorkbookError
        Naming the missing sheet(s) and how to restore them from the backups folder.
    """
    workbook = Path(workbook)
    backups = sorted(Path(backups_dir).glob(f"{workbook.stem}_*{workbook.suffix}")) \
        if Path(backups_dir).is_dir() else []
    newest = f" (newest: {backups[-1].name})" if backups else ""
    if not ledger.exists:
        if backups:
            raise WorkbookError(
                f"{workbook} is missing, but {len(backups)} backup(s) of it are in {backups_dir}{newest}; "
                f"copy the newest back to {workbook} (or pass --workbook with a new file name to start afresh)")
        return
    present = set(getattr(ledger, "sheets_present", ()) or ())
    missing = [s for s in REQUIRED_SHEETS if s not in present]
    if not missing:
        return
    frames = [ledger.sheet(s) for s in ("Positions", "Trades", "Performance", "Metadata", "CashFlows")]
    recorded = any(len(f) for f in frames) or bool(backups)
    if not recorded:
        return
    names = ", ".join(missing)
    raise WorkbookError(
        f"{workbook.name} has recorded weeks but no {names} sheet (renamed or deleted?); holdings and "
        f"cash cannot be known without it. Rename it back to {missing[0]!r}, or restore the newest "
        f"backup from {backups_dir}{newest}. Nothing was written")


def latest_run(ledger: Any) -> tuple[str | None, pd.Timestamp | None]:
    """The run id and timestamp of the latest run recorded in ``ledger``: the one definition of
    "the latest run" (its trades are the pending ones, every earlier unexecuted trade is
    superseded), used by the weekly run, ``holdings show`` and the report alike.

    The latest run is the last one *written*, not the one with the latest as-of date: a week
    recorded later with an earlier ``--as-of`` supersedes what was pending when it ran. Runs are
    matched by content, never by row position alone (the analyst may sort or filter
    sheets): the latest is the run with the greatest timestamp in the Metadata sheet (every run
    writes one row there), else in Performance, Trades or Positions for a ledger without
    Metadata rows. Two runs
    stamped in the same second are told apart by the order they were appended (the ``_row``
    column the reader keeps), never by their run ids, whose suffixes are random. Rows without a
    run id (typed in by hand) are keyed by their timestamp.
    """
    for name in ("metadata", "performance", "trades", "positions"):
        frame = getattr(ledger, name, None)
        if frame is None or len(frame) == 0 or "timestamp" not in frame.columns:
            continue
        rows = frame["_row"] if "_row" in frame.columns else pd.Series(range(len(frame)), index=frame.index)
        runs = pd.DataFrame({"run": _run_keys(frame), "timestamp": _timestamps(frame),
                             "row": pd.to_numeric(rows, errors="coerce").to_numpy()})
        runs = runs.dropna(subset=["timestamp"])
        runs = runs[runs["run"].astype(str).str.len() > 0]
        if runs.empty:
            continue
        last = runs.sort_values(["timestamp", "row"], kind="stable").iloc[-1]
        return str(last["run"]), pd.Timestamp(last["timestamp"])
    return None, None


def _run_keys(frame: pd.DataFrame) -> pd.Series:
    """Run id per row; the row's timestamp text where the run id is blank."""
    stamp_text = _timestamps(frame).astype(str)
    if "run_id" not in frame.columns:
        return stamp_text
    ids = frame["run_id"].astype(object)
    blank = ids.isna() | (ids.astype(str).str.strip() == "")
    return ids.astype(str).str.strip().where(~blank, stamp_text)


def holdings_from_ledger(ledger: Any) -> Holdings:
    """Shares per ticker and cash from the ledger's executed trades and cash flows.

    Parameters
    ----------
    ledger : etftrader.workbook.Ledger
        Needs frames ``trades`` (``ticker, action, shares, price, executed[, est_cost, run_id,
        timestamp]``, ``executed`` parsed to bool) and ``cashflows`` (``type, amount``); the
        ``metadata`` frame, when present, helps find the latest run.

    Returns
    -------
    Holdings

    Raises
    ------
    WorkbookError
        An executed trade has no usable shares or price, an action that is neither BUY nor SELL, a
        cash flow has an unknown type, or executed sells exceed buys for a ticker (which would be a
        negative holding). The message names the ticker or sheet and the rows.
    """
    trades = ledger.trades if getattr(ledger, "trades", None) is not None else _empty_trades()
    cashflows = getattr(ledger, "cashflows", None)

    deposits, has_flows = _cash_flows(cashflows)

    trades = trades.copy()
    for column in ("ticker", "action"):
        if column not in trades.columns:
            trades[column] = ""
    trades["ticker"] = [str(t).strip().upper() if t is not None and t == t else ""
                        for t in trades["ticker"].astype(object)]
    trades["action"] = [str(a).strip().upper() if a is not None and a == a else ""
                        for a in trades["action"].astype(object)]
    trades["shares"] = _numeric(trades, "shares")
    trades["price"] = _numeric(trades, "price")
    trades["est_cost"] = _numeric(trades, "est_cost").fillna(0.0)
    if "executed" in trades.columns:
        executed = trades["executed"].astype(object).where(trades["executed"].notna(), False).astype(bool)
    else:
        executed = pd.Series(False, index=trades.index, dtype=bool)
    # A blank row the analyst left behind (no ticker, nothing executed) is not a trade.
    real = trades["ticker"].str.len() > 0 if len(trades) else executed
    done = trades.loc[executed & real]

    bad_action = ~done["action"].isin(["BUY", "SELL"])
    if bad_action.any():
        raise WorkbookError(
            f"Trades sheet: executed trade(s) with action other than BUY or SELL "
            f"({sorted(set(done.loc[bad_action, 'action']))}) in rows {_sheet_rows(done, bad_action)}; "
            "write BUY or SELL in the action column"
        )
    bad_numbers = ~(done["shares"] > 0) | ~(done["price"] > 0) | ~np.isfinite(done["shares"] * done["price"])
    if bad_numbers.any():
        tickers = ", ".join(sorted(set(done.loc[bad_numbers, "ticker"])))
        raise WorkbookError(
            f"Trades sheet: executed trade(s) of {tickers} need positive shares and price, "
            f"rows {_sheet_rows(done, bad_numbers)}; fix the numbers or clear 'executed'"
        )

    sign = np.where(done["action"] == "BUY", 1.0, -1.0)
    signed = pd.Series(sign * done["shares"].to_numpy(), index=done.index)
    shares = signed.groupby(done["ticker"]).sum() if len(done) else pd.Series(dtype=F64)
    negative = shares[shares < -_SHARE_EPS]
    if len(negative):
        ticker = negative.index[0]
        rows = _sheet_rows(done, done["ticker"] == ticker)
        raise WorkbookError(
            f"Trades sheet: executed SELLs of {ticker} exceed its executed BUYs by "
            f"{-negative.iloc[0]:g} shares (rows {rows}); correct the shares or the executed flags"
        )
    shares = shares[shares > _SHARE_EPS].sort_index().astype(F64)
    shares.name = "shares"
    shares.index.name = "ticker"

    trade_value = done["shares"] * done["price"]
    spent = float(trade_value[done["action"] == "BUY"].sum())
    received = float(trade_value[done["action"] == "SELL"].sum())
    costs = float(done["est_cost"].clip(lower=0).sum())
    cash = deposits - spent + received - costs

    last_price = pd.Series(dtype=F64)
    if len(done):
        ordered = done.assign(_ts=_timestamps(done)).sort_values("_ts", kind="stable")
        last_price = ordered.groupby("ticker")["price"].last().astype(F64)

    run_id, run_time = latest_run(ledger)
    open_ = trades.loc[~executed & real].copy()
    if len(open_):
        open_["value"] = open_["shares"] * open_["price"]
        keys = _run_keys(open_)
        live = keys == run_id
        pending, superseded = open_.loc[live], open_.loc[~live]
    else:
        pending, superseded = _empty_trades(), _empty_trades()

    return Holdings(
        shares=shares,
        cash=float(cash),
        pending=pending.reset_index(drop=True),
        superseded=superseded.reset_index(drop=True),
        last_run_id=run_id,
        last_run_time=run_time,
        deposits=float(deposits),
        has_cashflows=has_flows,
        executed_trades=int(len(done)),
        last_price=last_price,
    )


def _cash_flows(cashflows: pd.DataFrame | None) -> tuple[float, bool]:
    """Net deposits and whether any cash flow was ever recorded."""
    if cashflows is None or len(cashflows) == 0:
        return 0.0, False
    kinds = pd.Series([str(k).strip().upper() if k is not None and k == k else ""
                       for k in cashflows["type"].astype(object)], index=cashflows.index)
    amount = _numeric(cashflows, "amount")
    real = (kinds != "") | amount.notna()
    bad_kind = real & ~kinds.isin(["DEPOSIT", "WITHDRAWAL"])
    if bad_kind.any():
        raise WorkbookError(
            f"CashFlows sheet: type must be DEPOSIT or WITHDRAWAL, got "
            f"{sorted(set(kinds[bad_kind]))} in rows {_sheet_rows(cashflows, bad_kind)}"
        )
    bad_amount = real & ~(amount >= 0)
    if bad_amount.any():
        raise WorkbookError(
            f"CashFlows sheet: amount must be a number >= 0 in rows "
            f"{_sheet_rows(cashflows, bad_amount)}; use type WITHDRAWAL for money taken out"
        )
    net = float(amount[real & (kinds == "DEPOSIT")].sum() - amount[real & (kinds == "WITHDRAWAL")].sum())
    return net, bool(real.any())
