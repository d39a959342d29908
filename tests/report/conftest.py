"""Fixtures for the report tests: a deterministic multi-week ledger built from the bundled real
sample prices (the rows the weekly command would append), so the monitoring unit tests and the
notebook execution tests read realistic data without the network."""

from __future__ import annotations

import pytest

from ._ledger import build_weeks, ledger_from_weeks


@pytest.fixture()
def weeks_12(sample_close):
    return build_weeks(sample_close, weeks=12, deposit_week=6)


@pytest.fixture()
def ledger_12(weeks_12):
    return ledger_from_weeks(weeks_12)
