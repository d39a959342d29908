"""``etftrader doctor``: every check can say OK, WARN and FAIL; the network is always faked."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import threading
import time
import urllib.error
from collections import namedtuple

import pytest
from entry import invoke


from etftrader.config import Config
from etftrader.ops import doctor as dr
from etftrader.paths import Home

Usage = namedtuple("Usage", "total used free")
REAL_PROBE = dr.probe_url  # kept before the autouse fixture replaces it


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to use the real probe fails the test: no test touches the network."""

    def refuse(url, timeout):
        raise AssertionError(f"test tried to reach {url}")

    monkeypatch.setattr(dr, "probe_url", refuse)


def by_name(checks):
    return {c.name: c for c in checks}


def quick_checks(home, monkeypatch, **kwargs):
    """All checks except the slow kernel start, which has its own test."""
    monkeypatch.setattr(dr, "_check_kernel", lambda: dr.Check("notebook kernel", dr.OK, "skipped in test"))
    return by_name(dr.iter_checks(Home(home), **kwargs))


def test_check_line_is_plain_ascii_with_the_fix(assert_cp1252):
    line = dr.Check("workbook", dr.FAIL, "C:\\Users\\Jos\u00e9\\x.xlsx is open \u2014 locked", "close it").line()
    assert line == "FAIL workbook: C:\\Users\\Jos?\\x.xlsx is open ? locked; fix: close it"
    assert_cp1252(line)
    assert dr.Check("python", dr.OK, "3.11").line() == "OK   python: 3.11"


def test_worst_status():
    assert dr.worst([]) == dr.OK
    assert dr.worst([dr.Check("a", dr.OK, ""), dr.Check("b", dr.WARN, "")]) == dr.WARN
    assert dr.worst([dr.Check("a", dr.FAIL, ""), dr.Check("b", dr.WARN, "")]) == dr.FAIL


def test_healthy_setup_is_all_ok_offline(tmp_home, monkeypatch):
    checks = quick_checks(tmp_home, monkeypatch, offline=True)
    assert {c.status for c in checks.values()} == {dr.OK}, [c.line() for c in checks.values()]
    for label in dr.KEY_PACKAGES:
        assert f"package {label}" in checks
    assert "CLARABEL" in checks["cvxpy solvers"].detail
    assert checks["yahoo finance"].detail == "not checked (--offline)"


def test_yahoo_reachable_is_ok_and_names_the_run_timeout(tmp_home, monkeypatch):
    seen = []

    def probe(url, timeout):
        seen.append((url, timeout))
        return "HTTP 200"

    config = Config().override(data={"download_timeout": 12.0})
    check = quick_checks(tmp_home, monkeypatch, config=config, probe=probe)["yahoo finance"]
    assert check.status == dr.OK
    assert "HTTP 200" in check.detail and "12 s timeout" in check.detail
    assert seen == [(dr.YAHOO_URL, dr.NETWORK_TIMEOUT)]


@pytest.mark.parametrize("error", [urllib.error.URLError(OSError(-2, "Name or service not known")),
                                   TimeoutError("timed out"), ConnectionRefusedError(111, "refused")])
def test_yahoo_unreachable_is_a_warn_not_a_failure(tmp_home, monkeypatch, error):
    def probe(url, timeout):
        raise error

    check = quick_checks(tmp_home, monkeypatch, probe=probe)["yahoo finance"]
    assert check.status == dr.WARN
    assert check.detail.startswith("cannot be reached (")
    assert "--source file" in check.fix


def test_yahoo_rate_limited_is_a_warn(tmp_home, monkeypatch):
    check = quick_checks(tmp_home, monkeypatch, probe=lambda url, timeout: "HTTP 429")["yahoo finance"]
    assert check.status == dr.WARN and "rate-limited" in check.detail


def test_a_hanging_network_is_bounded(tmp_home, monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(dr, "NETWORK_TIMEOUT", 0.2)

    def hang(url, timeout):  # like a DNS lookup that ignores socket timeouts
        release.wait(30)
        return "HTTP 200"

    started = time.monotonic()
    check = dr._check_yahoo(hang, 30.0, 3)
    elapsed = time.monotonic() - started
    release.set()
    assert check.status == dr.WARN and "no answer within 0.2 s" in check.detail
    assert elapsed < 15  # the fake hangs 30 s: the check must give up long before (not a speed test)


def test_offline_never_probes(tmp_home, monkeypatch):
    checks = quick_checks(tmp_home, monkeypatch, offline=True)  # the autouse fake would raise
    assert checks["yahoo finance"].status == dr.OK


def test_probe_url_treats_an_http_error_as_reachable(monkeypatch):
    def urlopen(request, timeout):
        assert timeout == 1.5 and request.get_header("User-agent")
        raise urllib.error.HTTPError(request.full_url, 429, "Too Many Requests", {}, None)

    import etftrader.prices.net as net

    monkeypatch.setattr(net.urllib.request, "urlopen", urlopen)
    assert REAL_PROBE(dr.YAHOO_URL, 1.5) == "HTTP 429"


@pytest.mark.parametrize("lock_name", ["~$portfolio_tracking.xlsx", "~$rtfolio_tracking.xlsx",
                                       ".~lock.portfolio_tracking.xlsx#"])
@pytest.mark.parametrize("with_workbook_module", [True, False])
def test_workbook_lock_file_is_a_fail(tmp_home, monkeypatch, lock_name, with_workbook_module):
    if not with_workbook_module:  # the fallback used when etftrader.workbook is unavailable
        monkeypatch.setitem(sys.modules, "etftrader.workbook", None)
    results = tmp_home / "results"
    results.mkdir()
    (results / lock_name).write_bytes(b"\x05Analyst")
    check = quick_checks(tmp_home, monkeypatch, offline=True)["workbook"]
    assert check.status == dr.FAIL
    assert lock_name in check.line()


def test_missing_workbook_is_ok_and_checked_path_is_the_given_one(tmp_home, monkeypatch, tmp_path):
    other = tmp_path / "elsewhere" / "book.xlsx"
    check = quick_checks(tmp_home, monkeypatch, offline=True, workbook=other)["workbook"]
    assert check.status == dr.OK and str(other) in check.detail


def test_fallback_workbook_check_sees_an_existing_unlocked_file(tmp_home, monkeypatch):
    monkeypatch.setitem(sys.modules, "etftrader.workbook", None)
    book = tmp_home / "book.xlsx"
    book.write_bytes(b"x")
    check = quick_checks(tmp_home, monkeypatch, offline=True, workbook=book)["workbook"]
    assert check.status == dr.OK and "is not locked" in check.detail


def test_missing_home_is_a_warn_and_is_not_created(tmp_path, monkeypatch):
    home = tmp_path / "not yet"
    check = quick_checks(home, monkeypatch, offline=True)["home folder"]
    assert check.status == dr.WARN and "etftrader init" in check.fix
    assert not home.exists()


@pytest.mark.skipif(os.name == "nt" or os.geteuid() == 0, reason="needs POSIX permissions that bind")
def test_read_only_home_is_a_fail(tmp_home, monkeypatch):
    tmp_home.chmod(0o500)
    try:
        check = quick_checks(tmp_home, monkeypatch, offline=True)["home folder"]
    finally:
        tmp_home.chmod(0o700)
    assert check.status == dr.FAIL


def test_unwritable_home_is_a_fail(tmp_home, monkeypatch):
    monkeypatch.setattr(dr, "_can_write_in", lambda folder: "Permission denied")
    check = dr._check_home(tmp_home)
    assert check.status == dr.FAIL and "not writable (Permission denied)" in check.detail


@pytest.mark.parametrize("free, status", [(50 * 2**20, dr.FAIL), (500 * 2**20, dr.WARN), (20 * 2**30, dr.OK)])
def test_disk_space_thresholds(tmp_home, monkeypatch, free, status):
    monkeypatch.setattr(dr.shutil, "disk_usage", lambda path: Usage(100 * 2**30, 0, free))
    check = quick_checks(tmp_home, monkeypatch, offline=True)["disk space"]
    assert check.status == status
    assert f"{free / 2**30:.1f} GB free" in check.detail


def test_missing_or_old_package_is_a_fail_with_the_pip_command(tmp_home, monkeypatch):
    real_version = importlib.metadata.version

    def version(dist):
        if dist == "yfinance":
            raise importlib.metadata.PackageNotFoundError(dist)
        if dist == "pandas":
            return "1.5.3"
        return real_version(dist)

    monkeypatch.setattr(dr.metadata, "version", version)
    checks = quick_checks(tmp_home, monkeypatch, offline=True)
    assert checks["package yfinance"].status == dr.FAIL
    assert 'pip install "yfinance>=' in checks["package yfinance"].fix
    assert checks["package pandas"].status == dr.FAIL
    assert "1.5.3 installed, etftrader needs >=2.2" in checks["package pandas"].detail
    assert checks["package numpy"].status == dr.OK


def test_configured_solver_missing_is_a_config_fail_listing_installed_ones(tmp_path, capsys):
    # The config refuses a solver cvxpy does not have when it is read, so doctor reports the config.
    home = tmp_path / "home"
    home.mkdir()
    (home / "etftrader.toml").write_text('[optimizer]\nsolver = "ECOS"\n', encoding="utf-8")
    from etftrader.cli import main

    assert main(["doctor", "--home", str(home), "--offline"]) == 1
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("FAIL config"))
    assert "'ECOS' is not installed" in line and "use CLARABEL" in line and "installed: CLARABEL" in line


def test_python_too_old_is_a_fail(monkeypatch):
    monkeypatch.setattr(dr.sys, "version_info", (3, 10, 12, "final", 0))
    check = dr._check_python()
    assert check.status == dr.FAIL and "needs >= 3.11" in check.detail


def test_kernel_starts_with_this_interpreter():
    check = dr._check_kernel()
    assert check.status == dr.OK, check.line()
    assert sys.executable in check.detail


def test_kernel_missing_ipykernel_is_a_fail(monkeypatch):
    real = dr.importlib.util.find_spec
    monkeypatch.setattr(dr.importlib.util, "find_spec", lambda name: None if name == "ipykernel" else real(name))
    check = dr._check_kernel()
    assert check.status == dr.FAIL and "ipykernel" in check.fix


def test_kernel_check_uses_the_reports_own_kernel(monkeypatch):
    from etftrader import report

    spec = report.kernel_spec()
    monkeypatch.setattr(report, "kernel_spec", lambda: {**spec, "argv": ["/usr/bin/python3.9", *spec["argv"][1:]]})
    check = dr._check_kernel()
    assert check.status == dr.WARN and "/usr/bin/python3.9" in check.detail
    assert f"'{report.KERNEL_NAME}'" in check.detail


def test_kernel_check_without_the_report_module_checks_papermills_python3(monkeypatch):
    from jupyter_client import kernelspec

    class Spec:
        argv = ["/usr/bin/python3.9", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        env = {}

    monkeypatch.setitem(sys.modules, "etftrader.report", None)
    monkeypatch.setattr(kernelspec.KernelSpecManager, "get_kernel_spec", lambda self, name: Spec())
    check = dr._check_kernel()
    assert check.status == dr.WARN and "'python3' runs /usr/bin/python3.9" in check.detail
    assert "ipykernel install" in check.fix


def test_kernel_that_does_not_start_is_a_fail(monkeypatch):
    def broken(argv, **kwargs):
        return subprocess.CompletedProcess(argv, 1, "", "Traceback...\nImportError: libzmq.so.5\n")

    monkeypatch.setattr(dr.subprocess, "run", broken)
    check = dr._check_kernel()
    assert check.status == dr.FAIL and "ImportError: libzmq.so.5" in check.detail


def test_doctor_command_offline_prints_one_line_per_check_and_exits_zero(tmp_home, monkeypatch, assert_cp1252):
    monkeypatch.setattr(dr, "_check_kernel", lambda: dr.Check("notebook kernel", dr.OK, "skipped"))
    result = invoke(["doctor", "--home", str(tmp_home), "--offline"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(line.split()[0] in ("OK", "WARN", "FAIL", "doctor:") for line in lines)
    assert lines[-1].startswith("doctor: ") and "0 FAIL" in lines[-1]
    assert_cp1252(result.output)


def test_doctor_command_with_a_locked_workbook_and_no_network_exits_one(tmp_home, monkeypatch, assert_cp1252):
    monkeypatch.setattr(dr, "_check_kernel", lambda: dr.Check("notebook kernel", dr.OK, "skipped"))

    def offline_probe(url, timeout):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(dr, "probe_url", offline_probe)
    book = tmp_home / "my book.xlsx"
    (tmp_home / "~$my book.xlsx").write_bytes(b"x")
    result = invoke(["doctor", "--home", str(tmp_home), "--workbook", str(book)])
    assert result.exit_code == 1
    assert any(line.startswith("FAIL workbook:") for line in result.output.splitlines())
    assert any(line.startswith("WARN yahoo finance: cannot be reached") for line in result.output.splitlines())
    assert "1 FAIL" in result.output.splitlines()[-1]
    assert_cp1252(result.output)


def test_doctor_reports_a_broken_config_file_as_a_fail(tmp_home, monkeypatch):
    monkeypatch.setattr(dr, "_check_kernel", lambda: dr.Check("notebook kernel", dr.OK, "skipped"))
    (tmp_home / "etftrader.toml").write_text("[portfolio]\npositions = 'ten'\n")
    result = invoke(["doctor", "--home", str(tmp_home), "--offline"])
    assert result.exit_code == 1
    config_line = next(line for line in result.output.splitlines() if " config:" in line)
    assert config_line.startswith("FAIL config:") and "positions" in config_line
