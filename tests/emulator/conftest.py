"""Fixtures for the emulator's own black-box test-suite.

Run:  /usr/bin/python3 -m pytest tests/emulator -q
Every emulator process is started by a fixture inside a `with Emulator(...)` block, so it is
stopped (SIGTERM, 5 s, SIGKILL) whatever happens; lib.emuproc also registers an atexit guard.
"""

import os
import sys

import pytest

_TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from lib.emuproc import Emulator  # noqa: E402


@pytest.fixture(scope="module")
def emu():
    """A small plain-HTTP emulator with one org, shared by a module."""
    with Emulator(orgs="contoso", records={"accounts": 40, "contacts": 20}, seed=11) as e:
        yield e


@pytest.fixture(scope="module")
def api(emu):
    return emu.api()
