"""Fixtures for the weekly command's tests: tiny hand-built ledgers and a sample home folder."""

from __future__ import annotations

from datetime import datetime

import pytest

from .helpers import make_ledger


@pytest.fixture()
def ledger_factory():
    return make_ledger


@pytest.fixture()
def now():
    return datetime(2021, 3, 8, 9, 30)
