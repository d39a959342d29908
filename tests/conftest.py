"""Fixtures shared across the suite. Test folders keep their own fixtures in their own conftest."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def sample_close() -> pd.DataFrame:
    """The bundled real sample: 5 iShares factor ETFs (2014-2022) and 20 large US stocks.

    Price frame contract: DatetimeIndex named 'date', tickers as sorted columns, float adjusted close.
    Read straight from skfolio so tests of our sample source have an independent reference.
    """
    from skfolio.datasets import load_factors_dataset, load_sp500_dataset

    frame = pd.concat([load_factors_dataset(), load_sp500_dataset()], axis=1, sort=True)
    frame.index = pd.DatetimeIndex(frame.index).as_unit("ns")
    frame.index.name = "date"
    return frame.sort_index(axis=1).astype(float)


@pytest.fixture()
def tmp_home(tmp_path, monkeypatch):
    """An empty home folder; ETFTRADER_HOME cleared so nothing leaks from the environment."""
    monkeypatch.delenv("ETFTRADER_HOME", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    return home


def _missing_tool(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} (CI installs it: check .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def missing_tool():
    """Call it to skip a test whose outside tool (LibreOffice) is missing -- but to fail under CI,
    where .ci/run installs it: a broken install must not turn the real-spreadsheet round trip into a
    silent skip. (A fixture, not an import: every test folder has a module named ``conftest``.)"""
    return _missing_tool


# ------------------------------------------------------------------ a real browser (Chromium, headless)

def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


_WRAPPER = """<!DOCTYPE html><html><body><pre id="out">pending</pre>
<iframe id="f" src="{src}" style="width:1280px;height:900px"></iframe>
<script>
document.getElementById('f').addEventListener('load', function () {{
  var d = this.contentDocument;
  var images = Array.prototype.slice.call(d.images).map(function (i) {{
    return {{alt: i.alt, ok: i.complete && i.naturalWidth > 0, width: i.naturalWidth}}; }});
  var panel = d.querySelector('.etf-panel');
  document.getElementById('out').textContent = JSON.stringify(
    {{images: images, panel: panel ? panel.innerText : null, title: d.title, text: d.body.innerText}});
}});
</script></body></html>"""


def _open_in_chromium(page, folder) -> tuple[dict, list[str]]:
    """Load ``page`` in headless Chromium: what the page shows, and every URL the page itself
    asked the network for (Chromium's own background requests are not the page's)."""
    folder.mkdir(parents=True, exist_ok=True)
    wrapper = folder / "wrapper.html"
    wrapper.write_text(_WRAPPER.format(src=page.resolve().as_uri()), encoding="utf-8")
    netlog = folder / "netlog.json"
    done = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
         "--disable-background-networking", "--disable-component-update", "--no-first-run",
         f"--user-data-dir={folder / 'profile'}", f"--log-net-log={netlog}", "--virtual-time-budget=8000",
         "--dump-dom", wrapper.as_uri()],
        capture_output=True, text=True, timeout=120)
    from bs4 import BeautifulSoup

    shown = json.loads(BeautifulSoup(done.stdout, "html.parser").select_one("#out").get_text())
    log = json.loads(netlog.read_text(encoding="utf-8"))
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    asked = [e["params"]["url"] for e in log["events"]
             if names.get(e["type"]) == "URL_REQUEST_START_JOB" and "url" in e.get("params", {})
             and str(e["params"].get("network_isolation_key", "")).startswith("file://")
             and not e["params"]["url"].startswith(("file:", "data:"))]
    return shown, asked


@pytest.fixture()
def browser(missing_tool):
    """``browser(page, folder) -> (shown, asked)``: ``page`` loaded in headless Chromium; ``shown``
    holds its title, every image (alt, decoded, width), the text of its ``.etf-panel`` and of the
    whole page, ``asked`` every URL the page itself requested from the network. Skips without Chromium, fails under CI (``.ci/run`` installs it)."""
    if _chromium() is None:
        missing_tool("Chromium is not installed (apt-get install chromium)")
    return _open_in_chromium
