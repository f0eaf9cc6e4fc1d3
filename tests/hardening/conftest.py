"""The fleet fixtures (emulated sites, CLI in a subprocess), for the hardening tests."""

from __future__ import annotations

from tests.fleet.conftest import fleet

__all__ = ["fleet"]
