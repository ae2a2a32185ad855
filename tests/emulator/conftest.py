"""Fixtures for the emulator's own black-box test-suite.

Run:  /usr/bin/python3 -m pytest tests/emulator -q

Each module declares the emulator it tests as `emu` (and any other it needs) with
lib.fixtures.emulator_fixture(...), so its data is written at the top of the module; this
file adds `api`, the Web API client of that `emu`'s first org.  (The mount tests' standard
emulator, tests/conftest.py, is `std_emu`.)  Every emulator process is stopped (SIGTERM,
5 s, SIGKILL) whatever happens; lib.emuproc also registers an atexit guard.
"""

import os
import sys

import pytest

_TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)


@pytest.fixture(scope="module")
def api(emu):
    """lib.client.WebApi of the module's `emu`, first org."""
    return emu.api()
