"""Both pure packages: their docstring examples run, their public names exist, and their source
keeps the rules (no etftrader import, no printing, no file access)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import factors
import optimizers

PACKAGES = (factors, optimizers)
MODULES = [
    importlib.import_module(f"{package.__name__}.{info.name}")
    for package in PACKAGES
    for info in pkgutil.iter_modules(package.__path__)
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    failed, _ = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failed == 0
    assert module.__doc__ and len(module.__doc__.strip()) > 40  # every module says what it holds


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_public_names_exist(package):
    assert package.__all__ and all(hasattr(package, name) for name in package.__all__)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_source_is_pure(module):
    source = Path(module.__file__).read_text(encoding="utf-8")
    assert not re.search(r"^\s*(from|import)\s+etftrader", source, re.M)
    assert not re.search(r"(?<![\w.])(print|open)\(", source)
    assert "to_parquet" not in source and "to_csv" not in source and "read_" not in source
