"""Fixtures for the compliance tests."""

from __future__ import annotations

import pytest

from dialer.compliance import DncIndex, Gate, build_gate

from .helpers import OPEN_POLICY


@pytest.fixture
def index() -> DncIndex:
    """An empty DNC index."""
    return DncIndex()


@pytest.fixture
def gate(index: DncIndex) -> Gate:
    """The standard gate over `index`; its floor is OPEN_POLICY so tests can isolate one rule."""
    return build_gate(OPEN_POLICY, index)
