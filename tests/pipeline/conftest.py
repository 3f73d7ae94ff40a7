"""The simulator fixture of the end-to-end tests."""

from tests.e2e.conftest import sim

__all__ = ["sim"]
