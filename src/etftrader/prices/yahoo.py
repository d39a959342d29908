"""Yahoo Finance through yfinance: incremental downloads into the store, in chunks, with retries and deadlines.

Why one module of this size: the request plan, the chunked download, the deadline thread and the
rate-limit handling are one boundary with yfinance, tested together with frames shaped as
yfinance returns them.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import sys
import threading
import warnings
from datetime import date, timedelta
from typing import Callable, Mapping
import numpy as np
import pandas as pd

from ..config import DataConfig
from ..errors import DataError, SourceUnavailableError, first_line
from .net import YAHOO_URL, probe_url
from ..paths import Home
from ..progress import Progress
from .frame import PriceData, normalize_frame, truncate
from .store import Asked, CachedPrices, PriceStore, merge_prices
from .universe import load_universe
from .common import _home_relative, _log


#: tickers per yf.download call: big enough for its thread pool, small enough that one
#: rate-limited request loses little
CHUNK_SIZE = 100


#: first retry waits this many seconds, then doubles
RETRY_BACKOFF_SECONDS = 2.0


#: once an earlier chunk delivered data (Yahoo is up), an empty chunk is asked this many times in
#: all: its tickers are most likely unknown or delisted, and retrying cannot change that
EMPTY_CHUNK_ATTEMPTS = 2


#: the reachability check before a download gives up after this many seconds (at most
#: ``download_timeout``); it runs in a thread, so a stuck DNS lookup cannot hold it longer
PROBE_SECONDS = 5.0


VIX_TICKER = "^VIX"

#: the cache is re-fetched from an earlier start only when it lacks more than this many days
BACKFILL_TOLERANCE_DAYS = 31

Fetcher = Callable[..., pd.DataFrame]


#: ``probe(url, timeout)`` returns on any HTTP answer and raises when the host cannot be reached
Probe = Callable[[str, float], object]


def parse_yfinance_frame(raw: pd.DataFrame | None, requested: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Close and volume frames from a ``yf.download(..., group_by="column")`` result.

    yfinance 1.x returns columns ``MultiIndex (Price, Ticker)`` even for one ticker; older versions
    (or ``multi_level_index=False``) give flat ``Open High Low Close Volume`` for a single ticker.
    Both are handled; an empty frame gives empty frames.
    """
    empty = pd.DataFrame(index=pd.DatetimeIndex([], name="date", dtype="datetime64[ns]"), dtype="float64")
    if raw is None or not isinstance(raw, pd.DataFrame) or raw.empty:
        return empty, empty.copy()
    if isinstance(raw.columns, pd.MultiIndex):
        price_level = next((i for i in range(raw.columns.nlevels)
                            if "Close" in set(raw.columns.get_level_values(i))), None)
        if price_level is None:
            raise DataError(f"unexpected yfinance columns {list(raw.columns[:4])}: no Close level")
        close = raw.xs("Close", level=price_level, axis=1)
        has_volume = "Volume" in set(raw.columns.get_level_values(price_level))
        volume = raw.xs("Volume", level=price_level, axis=1) if has_volume else None
    else:
        if "Close" not in raw.columns or len(requested) != 1:
            raise DataError(f"unexpected yfinance columns {list(raw.columns[:6])} for {len(requested)} tickers")
        close = raw[["Close"]].set_axis(requested, axis=1)
        volume = raw[["Volume"]].set_axis(requested, axis=1) if "Volume" in raw.columns else None
    close = normalize_frame(_numeric(close))
    if volume is None:
        volume = pd.DataFrame(np.nan, index=close.index, columns=close.columns)
    else:
        volume = _numeric(volume)
        volume.index = pd.DatetimeIndex(volume.index).tz_localize(None) if getattr(volume.index, "tz", None) \
            else pd.DatetimeIndex(volume.index)
        volume.index = volume.index.normalize().as_unit("ns")
        volume.columns = pd.Index([str(c).upper() for c in volume.columns], dtype=str)
        volume = volume.loc[:, ~volume.columns.duplicated(keep="last")]
        volume = volume.reindex(index=close.index, columns=close.columns).astype("float64")
        volume.index.name = "date"
    return close, volume


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as numbers, non-numbers as NaN; one conversion when yfinance sent numbers already."""
    if all(pd.api.types.is_numeric_dtype(dtype) for dtype in frame.dtypes):
        return frame.astype("float64")
    return frame.apply(pd.to_numeric, errors="coerce")


def _load_yfinance(config: DataConfig, home: Home, wanted: list[str] | None, *, as_of: date | None,
                   refresh: bool, progress: bool, fetcher: Fetcher | None, probe: Probe | None,
                   sleep: Callable[[float], None], with_vix: bool = False) -> PriceData:
    notes: list[str] = []
    if wanted is None:
        universe = load_universe(_home_relative(config.universe, home) if config.universe else None)
        wanted = universe["ticker"].tolist()
        notes.extend(universe.attrs.get("notes", []))
    bench = config.benchmark.strip().upper()
    vix = VIX_TICKER.upper()
    # The VIX rides along with the universe (one download, one cache write a week); it is never
    # reported as a failure: the report falls back to a labelled stand-in without it.
    requested = list(dict.fromkeys([*wanted, bench, *([vix] if with_vix else [])]))

    store = PriceStore(home.price_cache_dir / "yfinance")
    cached = None if refresh else store.read()
    if cached is None and not refresh and store.exists():
        notes.append(f"price cache in {store.folder} was unreadable and has been rebuilt")

    today = date.today()
    end_day = min(as_of, today) if as_of else today
    full_start = end_day - timedelta(days=config.history_days)
    # A much longer history than the cache was built with (history_days raised, or an as_of far
    # back): fetch everything again from the new start instead of silently returning less. A few
    # weeks short at the far end do not matter (factor lookbacks are a year, history_days three).
    backfill = cached is not None and (
        cached.history_start is None
        or full_start < cached.history_start - timedelta(days=BACKFILL_TOLERANCE_DAYS))
    if backfill:
        _log.info("price cache history starts %s; fetching history from %s", cached.history_start, full_start)
    plan, expected = _plan_requests(requested, None if backfill else cached, full_start=full_start,
                                    end_day=end_day, overlap_days=config.overlap_days)
    to_download = sum(len(t) for t in plan.values())
    unreachable = SourceUnavailableError(
        f"could not reach Yahoo Finance: 0 of {to_download} tickers downloaded; "
        "check the network or use --source file")
    if probe is None and fetcher is None:
        probe = _probe_yahoo
    if to_download and probe is not None:
        problem = _unreachable_reason(probe, min(PROBE_SECONDS, config.download_timeout))
        if problem is not None:
            _log.warning("Yahoo Finance cannot be reached (%s); nothing downloaded", problem)
            raise unreachable
    fetch = fetcher or _yfinance_download
    new_close, new_volume, download_failed = _download_all(
        plan, end_day=end_day, config=config, fetch=fetch, sleep=sleep, progress=progress)

    delivered = new_close.columns[new_close.notna().to_numpy().any(axis=0)].tolist()
    # Nothing at all came back. That means Yahoo is unreachable when we asked for tickers known to
    # exist (ones that delivered last time, or anything on a first run); when we only asked for
    # new or silent tickers it just means those are delisted or unknown, reported by name below.
    asked_known = cached is None or backfill or bool(expected)
    if to_download and not delivered and asked_known:
        raise unreachable

    if to_download:
        close = merge_prices(cached.close if cached else None, new_close)
        volume = merge_prices(cached.volume if cached else None, new_volume)
        if cached is None or volume is not cached.volume or close is not cached.close:
            volume = volume.reindex(index=close.index, columns=close.columns)
        history_start = full_start if cached is None else cached.history_start
        if backfill and set(cached.close.columns) <= set(requested):
            history_start = full_start  # every cached ticker now goes back to full_start
        answered = [t for group in plan.values() for t in group if t not in download_failed]
        asked = _record_requests(cached.asked if cached else {}, answered, set(delivered), end_day)
        store.save(CachedPrices(close=close, volume=volume, history_start=history_start, asked=asked),
                   previous=cached)
    else:
        close, volume = cached.close, cached.volume  # type: ignore[union-attr]

    failed: dict[str, str] = {}
    has_prices = set(close.columns[close.notna().to_numpy().any(axis=0)])
    for t in wanted:  # the benchmark has its own note below when it is missing
        if t not in has_prices:
            failed[t] = download_failed.get(t, "no data from Yahoo Finance (delisted, renamed or not a Yahoo symbol)")
    if failed:
        shown = ", ".join(sorted(failed)[:10]) + (", ..." if len(failed) > 10 else "")
        _log.warning("%d ticker(s) not delivered by Yahoo Finance: %s", len(failed), shown)

    keep = [t for t in wanted if t in close.columns and t not in failed]
    out_close = truncate(close[sorted(keep)], as_of)
    out_close = out_close.loc[out_close.notna().any(axis=1)]
    out_volume = volume.reindex(index=out_close.index, columns=out_close.columns)
    benchmark = None
    if bench in close.columns and bench not in failed:
        benchmark = truncate(close[bench], as_of).dropna().rename(bench)
    else:
        notes.append(f"benchmark {bench} could not be downloaded; reports will show no benchmark")
    vix_close = None
    if with_vix and vix in close.columns and close[vix].notna().any():
        vix_close = truncate(close[vix], as_of).dropna().rename("VIX")
    return PriceData(close=out_close, volume=out_volume, source="yfinance", benchmark=benchmark,
                     failed=failed, notes=tuple(notes), vix=vix_close)


def _plan_requests(requested: list[str], cached: CachedPrices | None, *, full_start: date,
                   end_day: date, overlap_days: int) -> tuple[dict[date, list[str]], set[str]]:
    """Start date -> tickers to download from it, and the tickers expected to deliver.

    Each ticker starts from its own last-asked day (the store's request log) minus
    ``overlap_days``, to pick up revised closes; tickers that share a start share requests, so
    after a normal run the whole universe is one group. A ticker already asked up to ``end_day``
    is not asked again (a same-day re-run asks nothing). A ticker that delivered nothing for a long
    time (delisted) is still asked from its own last-asked day, so a relisted symbol is noticed,
    without dragging anyone else's start back. A ticker whose request failed last time (an empty
    chunk, a time-out) kept its older last-asked day, so the missed days are asked again instead of
    becoming a hole. Tickers never asked (not in the cache): the full history from ``full_start``.

    The expected tickers (those that delivered on their last request) come first, in the first
    group: an empty answer for them means Yahoo is down and the download can stop there, rather
    than after trying delisted or new tickers that may simply not exist.
    """
    through = cached.asked_through() if cached is not None else {}
    expected: set[str] = set()
    if cached is not None:
        last = cached.last_date.date() if cached.last_date is not None else None
        lasts = cached.last_dates()
        for t in requested:
            record = cached.asked.get(t)
            if record is not None:
                if record.delivered_last_time:
                    expected.add(t)
            elif last is not None and lasts.get(t) == last:  # a cache from before the request log
                expected.add(t)
    plan: dict[date, list[str]] = {}
    for t in requested:
        asked = through.get(t)
        if asked is None:
            plan.setdefault(full_start, []).append(t)
        elif asked < end_day:
            plan.setdefault(max(asked - timedelta(days=overlap_days), full_start), []).append(t)
    expected &= {t for group in plan.values() for t in group}
    for start, group in plan.items():
        plan[start] = sorted(group, key=lambda t: t not in expected)  # stable: expected ones first
    order = sorted(plan, key=lambda start: (-sum(t in expected for t in plan[start]), start))
    return {start: plan[start] for start in order}, expected


def _record_requests(before: Mapping[str, Asked], answered: list[str], delivered: set[str],
                     end_day: date) -> dict[str, Asked]:
    """The request log after this run: ``answered`` tickers were asked up to ``end_day``.

    Only tickers whose request got an answer (their chunk was not empty) move on; the others keep
    their older last-asked day and are asked from it again next time.
    """
    log = dict(before)
    for t in answered:
        previous = log.get(t)
        through = max(end_day, previous.through) if previous is not None else end_day
        if t in delivered:
            log[t] = Asked(through=through, delivered=through)
        else:
            log[t] = Asked(through=through, delivered=previous.delivered if previous is not None else None)
    return log


def _download_all(plan: dict[date, list[str]], *, end_day: date, config: DataConfig, fetch: Fetcher,
                  sleep: Callable[[float], None], progress: bool):
    """Every chunk of the plan, in order; stops at the first empty chunk when nothing came yet.

    A chunk that stays empty after all its tries before anything was delivered means Yahoo is
    unreachable: the remaining chunks are not tried (they would only repeat the wait). Once some
    chunk delivered, Yahoo is up, so an empty chunk is tried at most :data:`EMPTY_CHUNK_ATTEMPTS`
    times and its tickers are reported as not delivered.
    """
    total = sum(len(t) for t in plan.values())
    closes, volumes, failed = [], [], {}
    chunks = [(start, tickers[i:i + CHUNK_SIZE])
              for start, tickers in plan.items() for i in range(0, len(tickers), CHUNK_SIZE)]
    delivered_any = False
    with Progress("downloading prices", total=total, stream=sys.stderr,
                  enabled=None if progress else False) as bar:
        for n, (start, chunk) in enumerate(chunks):
            attempts = config.download_retries + 1
            if delivered_any:
                attempts = min(attempts, EMPTY_CHUNK_ATTEMPTS)
            raw, reason = _download_chunk(chunk, start=start, end=end_day + timedelta(days=1),
                                          config=config, fetch=fetch, sleep=sleep, attempts=attempts)
            close, volume = parse_yfinance_frame(raw, chunk)
            if close.empty:
                for t in chunk:
                    failed[t] = f"{reason} after {attempts} attempt(s)"
                if not delivered_any:
                    skipped = [t for _, rest in chunks[n + 1:] for t in rest]
                    for t in skipped:
                        failed[t] = "not tried: Yahoo Finance sent nothing for an earlier chunk"
                    if skipped:
                        _log.warning("no data for the first %d ticker(s) (%s); the other %d are not tried",
                                     len(chunk), reason, len(skipped))
                    break
            elif close.notna().any().any():
                delivered_any = True
            closes.append(close)
            volumes.append(volume)
            bar.advance(chunk[-1], n=len(chunk))
    if not closes:
        empty = pd.DataFrame(index=pd.DatetimeIndex([], name="date", dtype="datetime64[ns]"), dtype="float64")
        return empty, empty.copy(), failed
    close = pd.concat(closes, axis=1, sort=True)
    volume = pd.concat(volumes, axis=1, sort=True)
    close = close.loc[:, ~close.columns.duplicated(keep="last")].sort_index(axis=1)
    volume = volume.loc[:, ~volume.columns.duplicated(keep="last")].reindex(index=close.index, columns=close.columns)
    close.index.name = volume.index.name = "date"
    return close, volume, failed


def _download_chunk(chunk: list[str], *, start: date, end: date, config: DataConfig, fetch: Fetcher,
                    sleep: Callable[[float], None], attempts: int) -> tuple[pd.DataFrame | None, str]:
    """One yf.download call with bounded retries; an empty frame counts as a failure to retry.

    Each try gets at most ``config.download_timeout`` seconds in all. yfinance's own ``timeout``
    applies to each HTTP request, and one call makes several per ticker (cookie, crumb, time zone,
    prices), some with their own fixed timeouts, and DNS lookups that ignore them: only a limit on
    the whole call bounds a try. A try that runs out is abandoned (its thread ends on its own).

    Returns
    -------
    (frame, reason)
        The frame of the last try (None when it raised or ran out of time) and, when it is empty,
        why: an empty response, the last error, or the time limit.
    """
    raw, reason = None, "empty response from Yahoo Finance"
    _RATE_LIMITED.clear()
    for attempt in range(attempts):
        call = functools.partial(fetch, chunk, start=start.isoformat(), end=end.isoformat(),
                                 auto_adjust=True, actions=False, threads=True, progress=False,
                                 group_by="column", timeout=config.download_timeout)
        try:
            with _quiet_yfinance():
                raw = _call_with_deadline(call, config.download_timeout, name="etftrader-download")
            reason = "empty response from Yahoo Finance"
        except Exception as e:  # yfinance raises many types (curl, JSON); retryable, but a 429 is not
            if _looks_rate_limited(type(e).__name__) or _looks_rate_limited(e):
                _log.warning("Yahoo Finance rate limit: %s", first_line(e))
                raise _rate_limited(chunk) from e
            _log.warning("download of %d ticker(s) from %s failed (attempt %d/%d): %s",
                         len(chunk), start, attempt + 1, attempts, first_line(e))
            raw = None
            reason = (f"no answer from Yahoo Finance within download_timeout = {config.download_timeout:g} s"
                      if isinstance(e, _Deadline) else f"download failed ({first_line(e)})")
        if isinstance(raw, pd.DataFrame) and not raw.empty:
            return raw, ""
        if _RATE_LIMITED.is_set():  # an empty frame because of a 429: retrying only prolongs it
            _log.warning("Yahoo Finance answered 429 Too Many Requests; stopping the download")
            raise _rate_limited(chunk)
        if attempt + 1 < attempts:
            wait = RETRY_BACKOFF_SECONDS * 2 ** attempt
            _log.info("empty or failed response for %d ticker(s); retrying in %.0f s", len(chunk), wait)
            sleep(wait)
    return raw, reason


class _Deadline(TimeoutError):
    """A call given to :func:`_call_with_deadline` did not finish in time."""


def _call_with_deadline(func: Callable[[], object], seconds: float, *, name: str):
    """``func()`` in a daemon thread; its result, its exception, or :class:`_Deadline` after ``seconds``.

    A daemon thread because neither socket timeouts nor yfinance's cover a stuck DNS lookup, and a
    call we stopped waiting for must not keep the process alive at exit.
    """
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = func()
        except Exception as e:  # handed to the caller below
            outcome["error"] = e

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise _Deadline(f"no answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")


def _unreachable_reason(probe: Probe, seconds: float) -> str | None:
    """None when Yahoo answers ``probe`` within ``seconds`` (any HTTP status), else why not."""
    try:
        # one extra second: the probe's own timeout should fire first and say what happened
        _call_with_deadline(functools.partial(probe, YAHOO_URL, seconds), seconds + 1.0,
                            name="etftrader-yahoo-probe")
    except Exception as e:  # any failure to reach the host is the finding
        return f"{type(e).__name__}: {getattr(e, 'reason', None) or first_line(e)}"
    return None


def _probe_yahoo(url: str, timeout: float) -> str:
    """The real reachability check: one HTTP GET (:func:`.net.probe_url`; tests replace this)."""
    return probe_url(url, timeout)


def _yfinance_download(*args, **kwargs) -> pd.DataFrame:
    import multitasking  # yfinance's thread pool (a dependency of yfinance)
    import yfinance as yf

    # Our loop retries with backoff; yfinance's own retries (yf.config, 1.x) would multiply each try.
    network = getattr(getattr(yf, "config", None), "network", None)
    if network is not None:
        network.retries = 0
    # A try abandoned at its time limit leaves yfinance's per-ticker threads running; recent
    # multitasking versions create them as non-daemon threads, which would hold the process open
    # after our error message. (Without set_daemon, they inherit our worker thread's daemon flag.)
    set_daemon = getattr(multitasking, "set_daemon", None)
    if set_daemon is not None:
        set_daemon(True)
    return yf.download(*args, **kwargs)


@contextlib.contextmanager
def _quiet_yfinance():
    """Keep yfinance's logging, prints and warnings out of the console; they go to the run log."""
    _route_yfinance_logging()
    out, err = io.StringIO(), io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            warnings.simplefilter("ignore")
            yield
    finally:
        for text in (out.getvalue(), err.getvalue()):
            for line in text.splitlines():
                if line.strip():
                    _log.info("yfinance: %s", line.strip())


def _route_yfinance_logging() -> None:
    """Send yfinance's log records to the run log, and silence its warnings, for the rest of the process.

    For good rather than per call: a try abandoned at its time limit keeps running in its thread
    and would otherwise print "Failed to get ticker ..." lines (Python's last-resort handler) or
    pandas deprecation warnings into the middle of our console output later.
    """
    yf_logger = logging.getLogger("yfinance")
    if not any(isinstance(h, _ForwardHandler) for h in yf_logger.handlers):
        yf_logger.addHandler(_ForwardHandler())
        warnings.filterwarnings("ignore", module=r"yfinance(\.|$)")
    yf_logger.propagate = False


class _ForwardHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage().strip()
            if _looks_rate_limited(message):
                _RATE_LIMITED.set()  # yfinance logs a 429 per ticker and returns an empty frame
            _log.info("yfinance: %s", message)
        except Exception:  # a log line must never break a download
            pass


#: set when yfinance reported HTTP 429 (it logs YFRateLimitError per ticker instead of raising)
_RATE_LIMITED = threading.Event()


def _looks_rate_limited(text: object) -> bool:
    text = str(text)
    return any(k in text for k in ("YFRateLimitError", "Too Many Requests", "Rate limited", "HTTP Error 429"))


class RateLimitedError(SourceUnavailableError):
    """Yahoo Finance answered HTTP 429: treated as an outage (stop now, write nothing)."""


def _rate_limited(chunk: list[str]) -> RateLimitedError:
    return RateLimitedError(
        f"Yahoo Finance is rate-limiting this machine (HTTP 429 Too Many Requests) while downloading "
        f"{len(chunk)} ticker(s); nothing was downloaded into the cache or written. Run again in an "
        "hour, or use --source file")
