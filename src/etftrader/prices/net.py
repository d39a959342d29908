"""Is Yahoo Finance reachable? One HTTP GET, shared by the price source and ``etftrader doctor``."""

from __future__ import annotations

import urllib.error
import urllib.request

__all__ = ["YAHOO_URL", "probe_url"]

#: a small Yahoo chart request: any HTTP answer means the host is reachable
YAHOO_URL = "https://query1.finance.yahoo.com/v8/finance/chart/SPY?range=5d&interval=1d"


def probe_url(url: str, timeout: float) -> str:
    """GET ``url`` once; return e.g. ``"HTTP 200"``. Any HTTP answer means the host is reachable.

    Raises ``OSError`` (``URLError``, ``TimeoutError``) when it is not.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "Mozilla/5.0 (etftrader doctor)"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as e:  # reached Yahoo; it answered with an error status
        return f"HTTP {e.code}"
