"""Fixtures of the wallboard tests: the simulator factory of the service-operation tests."""

from tests.ops.conftest import make_sim

__all__ = ["make_sim"]
