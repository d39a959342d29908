"""Config: the commented default file, TOML errors that name the key, CLI overrides."""

import pytest

from etftrader.config import DEFAULT_CONFIG_TOML, Config, load_config
from etftrader.errors import ConfigError
from etftrader.paths import HOME_ENV, resolve_home


def write(tmp_path, text):
    path = tmp_path / "etftrader.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_default_file_init_writes_loads_as_the_defaults(tmp_path):
    assert load_config(write(tmp_path, DEFAULT_CONFIG_TOML)) == Config()


def test_no_file_means_defaults_and_seed_values():
    config = load_config(None)
    assert config.portfolio.capital == 1_000_000 and config.portfolio.positions == 20
    assert config.portfolio.optimizer == "mvo"
    assert config.rebalance.threshold_for("mvo") == 0.05
    assert config.rebalance.threshold_for("minvar") == 0.075
    assert config.optimizer.risk_aversion == 1.5


def test_a_file_overrides_some_keys_and_ints_are_accepted_for_floats(tmp_path):
    config = load_config(write(tmp_path, "[portfolio]\ncapital = 500000\npositions = 8\n"
                                         "[factors]\nweights = { momentum = 0.3, quality = 0.3, value = 0.2, volatility = 0.2 }\n"))
    assert config.portfolio.capital == 500_000.0 and isinstance(config.portfolio.capital, float)
    assert config.portfolio.positions == 8
    assert dict(config.factors.weights)["momentum"] == 0.3
    assert config.optimizer == Config().optimizer


@pytest.mark.parametrize(
    "text, message",
    [
        ("[portfolio]\npostions = 8\n", r"unknown key `postions` in \[portfolio\]; valid: capital, positions, optimizer"),
        ("[portfolo]\n", r"unknown section \[portfolo\]"),
        ("[portfolio]\npositions = \"eight\"\n", r"`portfolio.positions` must be int, got 'eight'"),
        ("[portfolio]\noptimizer = \"maxsharpe\"\n", r"`optimizer` must be one of mvo, minvar, rankbased, hrp, riskparity, cvar, blacklitterman, barbell, got 'maxsharpe'"),
        ("[factors]\nweights = { momentum = 1.0, size = 1.0 }\n", r"unknown factor\(s\) in `weights`: size"),
        ("[rebalance]\ndrift_threshold = { mvo = 3.0 }\n", r"drift threshold `mvo` must be in \(0, 2\], got 3.0"),
        ("[optimizer]\nmin_weight = 0.2\nmax_weight = 0.1\n", r"`min_weight` must be in \[0, max_weight\)"),
        ("[optimizer]\ncvar_beta = 1.5\n", r"`cvar_beta` must be a confidence level in \[0.5, 1\)"),
        ("[portfolio\n", r"is not valid TOML"),
    ],
)
def test_bad_files_name_the_key_and_what_was_expected(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_a_missing_file_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError, match="does not exist; create one with `etftrader init`"):
        load_config(tmp_path / "nope.toml")


def test_override_ignores_none_and_validates():
    config = Config().override(portfolio={"positions": 8, "optimizer": None}, rebalance={"drift_override": 0.1})
    assert config.portfolio.positions == 8 and config.portfolio.optimizer == "mvo"
    assert config.rebalance.threshold_for("minvar") == 0.1
    with pytest.raises(ConfigError, match="`positions` must be at least 1, got 0"):
        Config().override(portfolio={"positions": 0})


def test_home_resolution_flag_then_environment_then_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(HOME_ENV, raising=False)
    assert resolve_home().root == tmp_path.resolve()
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "env_home"))
    assert resolve_home().root == (tmp_path / "env_home").resolve()
    assert resolve_home(tmp_path / "flag").root == (tmp_path / "flag").resolve()
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        resolve_home(tmp_path / "a_file")


def test_names_have_one_home_that_loads_without_the_numerical_stack():
    """The config reads the optimizer and factor names from optimizers.names and factors.names
    without importing numpy or pandas; the packages' public functions resolve however they are
    reached (a submodule import must not shadow a function of the same name)."""
    import subprocess
    import sys

    code = ("import sys, etftrader.config as c, optimizers.names as o, factors.names as f\n"
            "assert 'pandas' not in sys.modules and 'numpy' not in sys.modules, 'numerical stack loaded'\n"
            "assert c.OPTIMIZERS is o.OPTIMIZERS and c.FACTOR_NAMES is f.FACTOR_NAMES\n"
            "import factors.composite, optimizers.dispatch\n"
            "from factors import momentum, quality, value, low_volatility, TRADING_DAYS\n"
            "from optimizers import optimize, OPTIMIZERS\n"
            "assert all(callable(x) for x in (momentum, quality, value, low_volatility, optimize))\n"
            "assert OPTIMIZERS is optimizers.dispatch.OPTIMIZERS and TRADING_DAYS == 252\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
