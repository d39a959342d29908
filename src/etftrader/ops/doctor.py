"""``etftrader doctor``: check what a weekly run needs and say what to fix.

Each check gives one :class:`Check` (OK, WARN or FAIL, what was found, what to do). FAIL means a
run will fail; WARN means part of it may (e.g. Yahoo Finance unreachable: the sample and file
sources still work). Checks never change anything on disk and never wait long: the network probe
runs in a daemon thread with a short bound, because a socket timeout does not cover a stuck DNS
lookup. Text is plain ASCII so it survives a Windows console and a cron mail.

Why one module of this size: each check is a short function returning a :class:`Check`; they are
listed in the order ``etftrader doctor`` prints them.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..config import Config
from ..errors import EtfTraderError, first_line
from ..prices.net import YAHOO_URL, probe_url
from ..paths import Home

__all__ = [
    "OK",
    "WARN",
    "FAIL",
    "Check",
    "KEY_PACKAGES",
    "YAHOO_URL",
    "NETWORK_TIMEOUT",
    "iter_checks",
    "probe_url",
    "excel_lock_files",
    "worst",
]

OK, WARN, FAIL = "OK", "WARN", "FAIL"
_RANK = {OK: 0, WARN: 1, FAIL: 2}

#: label shown -> distribution name, in the order they are reported
KEY_PACKAGES = {
    "pandas": "pandas",
    "numpy": "numpy",
    "PyPortfolioOpt": "pyportfolioopt",
    "cvxpy": "cvxpy",
    "clarabel": "clarabel",
    "openpyxl": "openpyxl",
    "papermill": "papermill",
    "nbconvert": "nbconvert",
    "ipykernel": "ipykernel",
    "yfinance": "yfinance",
    "matplotlib": "matplotlib",
}
MIN_PYTHON = (3, 11)
#: what yfinance asks for; any HTTP answer means the host is reachable
#: seconds the Yahoo probe may take in total (connect, TLS, answer) before it is a WARN
NETWORK_TIMEOUT = 5.0
#: seconds allowed to start the notebook kernel's module with this interpreter
KERNEL_TIMEOUT = 60.0
DISK_FAIL_BYTES = 100 * 2**20
DISK_WARN_BYTES = 1 * 2**30
#: the kernel papermill uses when the notebook names none (jupyter_client's native kernel)
DEFAULT_KERNEL = "python3"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report.

    Attributes
    ----------
    name : str
        What was checked (``"python"``, ``"package pandas"``, ``"workbook"``, ...).
    status : str
        ``OK``, ``WARN`` or ``FAIL``.
    detail : str
        What was found.
    fix : str
        What to do about it (empty when nothing).
    """

    name: str
    status: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        """``STATUS name: detail; fix: ...`` in plain ASCII."""
        text = f"{self.status:<4} {self.name}: {self.detail}"
        if self.fix:
            text += f"; fix: {self.fix}"
        return text.encode("ascii", "replace").decode("ascii")


def worst(checks: list[Check]) -> str:
    """The most severe status among ``checks`` (OK when empty)."""
    return max((c.status for c in checks), key=_RANK.__getitem__, default=OK)


Probe = Callable[[str, float], str]


def iter_checks(
    home: Home,
    config: Config | None = None,
    *,
    workbook: Path | None = None,
    offline: bool = False,
    probe: Probe | None = None,
    config_error: str | None = None,
) -> Iterator[Check]:
    """Run every check in turn (slow ones last, so the report streams).

    Parameters
    ----------
    home : Home
        The home folder a run would use.
    config : Config, optional
        The config in force (solver, download timeout); defaults when None.
    workbook : Path, optional
        The tracking workbook; ``home.workbook`` by default.
    offline : bool
        Skip the Yahoo Finance probe.
    probe : callable, optional
        ``probe(url, timeout) -> str`` returns a short description of the answer or raises
        ``OSError``; :func:`probe_url` by default (tests pass a fake; no test touches the network).
    config_error : str, optional
        Why the config file could not be read (reported as a FAIL).
    """
    config = config or Config()
    yield _check_python()
    if config_error:
        yield Check("config", FAIL, config_error, "correct the file (see `etftrader init` for a commented one)")
    else:
        yield Check("config", OK, _config_source(home))
    yield from _check_packages()
    yield _check_solvers(config.optimizer.solver)
    yield _check_home(home.root)
    yield _check_workbook(Path(workbook) if workbook else home.workbook)
    yield _check_disk(home.root)
    yield _check_kernel()
    if offline:
        yield Check("yahoo finance", OK, "not checked (--offline)")
    else:
        yield _check_yahoo(probe or probe_url, config.data.download_timeout, config.data.download_retries)


# ----------------------------------------------------------------------------------- checks


def _check_python() -> Check:
    version = ".".join(str(n) for n in sys.version_info[:3])
    detail = f"{version} at {sys.executable}"
    if sys.version_info[:2] < MIN_PYTHON:
        need = ".".join(map(str, MIN_PYTHON))
        return Check("python", FAIL, f"{detail} (needs >= {need})", f"install Python {need} or newer and reinstall etftrader")
    return Check("python", OK, detail)


def _config_source(home: Home) -> str:
    if home.config_file.is_file():
        return f"{home.config_file} reads without errors"
    return f"no {home.config_file.name} in the home folder; using the defaults"


def _requirements() -> dict[str, str]:
    """distribution name -> version specifier etftrader declares (empty when unknown)."""
    try:
        from packaging.requirements import Requirement
    except ImportError:  # packaging is not ours to require; versions are still shown
        return {}
    wanted: dict[str, str] = {}
    try:
        declared = metadata.requires("etftrader") or []
    except metadata.PackageNotFoundError:
        return {}
    for text in declared:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            wanted[req.name.lower()] = str(req.specifier)
    return wanted


def _check_packages() -> Iterator[Check]:
    wanted = _requirements()
    for label, dist in KEY_PACKAGES.items():
        spec = wanted.get(dist, "")
        install = f'pip install "{dist}{spec}"'
        try:
            installed = metadata.version(dist)
        except metadata.PackageNotFoundError:
            yield Check(f"package {label}", FAIL, "not installed", install)
            continue
        if spec and not _satisfies(installed, spec):
            yield Check(f"package {label}", FAIL, f"{installed} installed, etftrader needs {spec}", install)
        else:
            yield Check(f"package {label}", OK, installed + (f" (needs {spec})" if spec else ""))


def _satisfies(version: str, spec: str) -> bool:
    from packaging.specifiers import SpecifierSet

    return SpecifierSet(spec).contains(version, prereleases=True)


def _check_solvers(solver: str) -> Check:
    try:
        cvxpy = importlib.import_module("cvxpy")
        installed = list(cvxpy.installed_solvers())
    except Exception as e:  # a broken cvxpy install fails in many ways; report, do not crash
        return Check("cvxpy solvers", FAIL, f"cvxpy does not import ({type(e).__name__}: {e})",
                     'pip install --force-reinstall "cvxpy" "clarabel"')
    listed = ", ".join(installed) or "none"
    if solver.upper() not in installed:
        return Check("cvxpy solvers", FAIL, f"configured solver {solver} is not installed (installed: {listed})",
                     f"pip install {solver.lower()}, or set [optimizer] solver to one of: {listed}")
    return Check("cvxpy solvers", OK, f"{listed} (configured: {solver.upper()})")


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return path


def _can_write_in(folder: Path) -> str | None:
    """None when a file can be created (and removed) in ``folder``, else the reason."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".etftrader-doctor-"):
            pass
    except OSError as e:
        return e.strerror or str(e)
    return None


def _check_home(root: Path) -> Check:
    if not root.exists():
        parent = _nearest_existing(root)
        problem = _can_write_in(parent)
        if problem:
            return Check("home folder", FAIL, f"{root} does not exist and {parent} is not writable ({problem})",
                         "pass --home with a folder you can write to")
        return Check("home folder", WARN, f"{root} does not exist yet (it is created on the first run)",
                     f"etftrader init --home \"{root}\"")
    problem = _can_write_in(root)
    if problem:
        return Check("home folder", FAIL, f"{root} is not writable ({problem})",
                     "fix the folder's permissions or pass --home with a folder you can write to")
    return Check("home folder", OK, f"{root} is writable")


def excel_lock_files(path: Path) -> list[Path]:
    """Owner (lock) files for ``path`` that exist (:func:`etftrader.files.lock_files`: the names
    the workbook checks too). They are deleted on close; one left behind after a crash also means
    "close the program or delete it"."""
    from ..files import lock_files

    return sorted(p for p in lock_files(path) if p.exists())


def _check_workbook(path: Path) -> Check:
    try:
        from ..workbook import check_writable  # the ledger's own rule when it is available
    except ImportError:
        check_writable = None
    if check_writable is not None:
        try:
            check_writable(path)
        except EtfTraderError as e:  # its message already says what to do
            return Check("workbook", FAIL, first_line(e))
        except Exception as e:  # doctor reports; it does not crash on a sibling's bug
            return Check("workbook", WARN, f"could not check {path} ({type(e).__name__}: {e})")
    locks = excel_lock_files(path)
    if locks:
        return Check("workbook", FAIL, f"{path} is open in Excel (lock file {locks[0].name} exists)",
                     f"close it in Excel; if Excel is not running, delete {locks[0]}")
    if path.exists():
        try:
            # opening for update writes nothing but fails where Excel holds the file (Windows)
            with open(path, "r+b"):
                pass
        except PermissionError as e:
            return Check("workbook", FAIL, f"{path} cannot be written ({e.strerror or e})",
                         "close it in Excel or make it writable")
        return Check("workbook", OK, f"{path} is not locked")
    folder = _nearest_existing(path.parent)
    problem = _can_write_in(folder)
    if problem:
        return Check("workbook", FAIL, f"{path} does not exist and {folder} is not writable ({problem})",
                     "fix the folder's permissions")
    return Check("workbook", OK, f"{path} does not exist yet (created on the first run)")


def _check_disk(root: Path) -> Check:
    where = _nearest_existing(root)
    try:
        free = shutil.disk_usage(where).free
    except OSError as e:
        return Check("disk space", WARN, f"cannot read free space at {where} ({e.strerror or e})")
    text = f"{free / 2**30:.1f} GB free at {where}"
    if free < DISK_FAIL_BYTES:
        return Check("disk space", FAIL, text, "free some disk space (the run writes prices, workbook backups and reports)")
    if free < DISK_WARN_BYTES:
        return Check("disk space", WARN, text, "free some disk space soon")
    return Check("disk space", OK, text)


def _report_kernel() -> tuple[str, list[str], dict[str, str]]:
    """(name, argv, env) of the kernel the monitoring report starts.

    The report (``etftrader.report``) writes a private kernelspec for this interpreter on every
    render, so a stray user kernelspec cannot be picked; when that module is unavailable, the
    ``python3`` kernel papermill would find is checked instead.
    """
    try:
        report = importlib.import_module("etftrader.report")
    except ImportError:
        report = None
    if report is not None and hasattr(report, "kernel_spec"):
        spec = report.kernel_spec()
        return getattr(report, "KERNEL_NAME", "report"), list(spec["argv"]), dict(spec.get("env") or {})
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(DEFAULT_KERNEL)
    return DEFAULT_KERNEL, list(spec.argv), dict(spec.env or {})


def _check_kernel() -> Check:
    fix = f'"{sys.executable}" -m pip install --force-reinstall "ipykernel"'
    if importlib.util.find_spec("ipykernel") is None:
        return Check("notebook kernel", FAIL, "ipykernel is not installed; the HTML report cannot be rendered",
                     f'"{sys.executable}" -m pip install "ipykernel"')
    try:
        name, argv, env = _report_kernel()
    except Exception as e:  # NoSuchKernel, a broken jupyter_client: the report would fail the same way
        return Check("notebook kernel", FAIL, f"no kernel for the report ({type(e).__name__}: {e})", fix)
    program = argv[0] if argv else ""
    # jupyter_client runs a spec whose program is plain "python" with the current interpreter
    generic = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
    if program in generic:
        program = sys.executable
    if not _same_file(program, sys.executable):
        return Check("notebook kernel", WARN,
                     f"kernel '{name}' runs {program}, not this interpreter ({sys.executable}); "
                     "the report may not find etftrader",
                     f'"{sys.executable}" -m ipykernel install --sys-prefix')
    try:
        done = subprocess.run([program, "-m", "ipykernel_launcher", "--version"],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=KERNEL_TIMEOUT, env={**os.environ, **env})
    except subprocess.TimeoutExpired:
        return Check("notebook kernel", FAIL, f"kernel '{name}' did not start within {KERNEL_TIMEOUT:.0f} s", fix)
    except OSError as e:
        return Check("notebook kernel", FAIL, f"kernel '{name}' cannot be started ({e.strerror or e})", fix)
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        return Check("notebook kernel", FAIL,
                     f"kernel '{name}' does not start ({reason[-1] if reason else done.returncode})", fix)
    return Check("notebook kernel", OK, f"kernel '{name}' starts with {sys.executable}")


def _same_file(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _check_yahoo(probe: Probe, download_timeout: float, retries: int) -> Check:
    outcome: dict[str, object] = {}

    def attempt() -> None:
        started = time.monotonic()
        try:
            outcome["answer"] = probe(YAHOO_URL, NETWORK_TIMEOUT)
        except Exception as e:  # any failure to reach the host is the finding, not a crash
            outcome["error"] = e
        outcome["seconds"] = time.monotonic() - started

    # a daemon thread: DNS lookups ignore socket timeouts, and a stuck probe must not hold the exit
    worker = threading.Thread(target=attempt, name="etftrader-doctor-probe", daemon=True)
    worker.start()
    worker.join(NETWORK_TIMEOUT + 1.0)
    settings = f"runs use a {download_timeout:g} s timeout and {retries} retries"
    fix = "check the internet connection or proxy; meanwhile use cached prices or --source file"
    if worker.is_alive() or "seconds" not in outcome:
        return Check("yahoo finance", WARN, f"no answer within {NETWORK_TIMEOUT:g} s ({settings})", fix)
    if "error" in outcome:
        error = outcome["error"]
        reason = getattr(error, "reason", None) or error
        return Check("yahoo finance", WARN, f"cannot be reached ({type(error).__name__}: {reason}; {settings})", fix)
    answer = str(outcome["answer"])
    if answer.endswith("429"):
        return Check("yahoo finance", WARN, f"reachable but rate-limited ({answer}; {settings})",
                     "wait 30 minutes or more before downloading")
    return Check("yahoo finance", OK, f"reachable ({answer} in {outcome['seconds']:.1f} s; {settings})")
