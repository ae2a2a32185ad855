"""Fixtures for the dynfs mount tests (tests/test_*.py).

Run:  /usr/bin/python3 -m pytest tests -q          (Debian's python3 and pytest)

Environment:
  DYNFS_BIN=path     the dynfs binary (default: <repo>/dynfs, built with `make` if missing;
                     e.g. DYNFS_BIN=build/san-address-undefined/dynfs for a sanitizer build)
  DYNFS_MAKE=1       run `make -C <repo>` once per session even if the binary exists
  DYNFS_TEST_LOGDIR  where daemon logs go (default: a pytest temporary directory)

Every emulator is started inside a `with Emulator(...)` block and every mount is stopped by
its fixture (fusermount3 -u, daemon must exit 0), so nothing outlives a test run; lib.emuproc
and lib.mount also register atexit guards.  After each test every mount that was running
before it must still be alive and mounted (a crash is not a controlled failure), and a
failing test's report shows how to reproduce each mount and the daemon log of the test.
"""

import os
import re
import subprocess
import sys

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

from lib.emuproc import Emulator  # noqa: E402
from lib.mount import (Ini, Mount, MountError, _safe, active_mounts, line_of,  # noqa: E402,F401
                       new_mount, start_emulator, stats_delta)

DYNFS_BIN = os.environ.get("DYNFS_BIN", os.path.join(REPO_ROOT, "dynfs"))

# The standard data set: two orgs, a few hundred records, no per-record delay.
EMU_ORGS = "contoso,fabrikam"
EMU_RECORDS = "accounts=300,contacts=200,new_categories=25"
BIG_N = 12000


# --------------------------------------------------------------------------- the binary

_build = {}


@pytest.fixture(scope="session")
def dynfs_bin():
    """Path of the dynfs binary; `make -C <repo>` once per session when it is missing."""
    if "result" not in _build:
        need = not os.path.exists(DYNFS_BIN) or os.environ.get("DYNFS_MAKE") == "1"
        if need and "DYNFS_BIN" in os.environ and not os.environ.get("DYNFS_MAKE"):
            _build["result"] = "DYNFS_BIN=%s does not exist" % DYNFS_BIN
        elif need:
            r = subprocess.run(["make", "-C", REPO_ROOT], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
            if r.returncode != 0:
                _build["result"] = "`make -C %s` failed (%d):\n%s" % (
                    REPO_ROOT, r.returncode, r.stdout.decode("utf-8", "replace")[-6000:])
            elif not os.path.exists(DYNFS_BIN):
                _build["result"] = "`make -C %s` did not produce %s" % (REPO_ROOT, DYNFS_BIN)
            else:
                _build["result"] = None
        else:
            _build["result"] = None
    if _build["result"]:
        pytest.fail(_build["result"], pytrace=False)
    return DYNFS_BIN


# --------------------------------------------------------------------------- logs and mounts

@pytest.fixture(scope="session")
def logdir(tmp_path_factory):
    d = os.environ.get("DYNFS_TEST_LOGDIR")
    if d:
        os.makedirs(d, exist_ok=True)
        return d
    return str(tmp_path_factory.mktemp("dynfs-logs"))


# new_mount and start_emulator live in lib.mount so test modules can import them
# (importing "conftest" may find tests/emulator/conftest.py instead).


@pytest.fixture(scope="module")
def module_workdir(request, tmp_path_factory):
    return str(tmp_path_factory.mktemp(_safe(request.module.__name__)))


def _module_mount(request, dynfs_bin, logdir, workdir, emulator, label, config=None, extra_args=()):
    """A mount for a whole module; its log is <module>-<label>.log (a failing test's report
    shows the part written during that test).  A module can allow known log lines at stop
    with DYNFS_LOG_ALLOW = [regex, ...]."""
    m = new_mount(dynfs_bin, logdir, workdir, "%s-%s" % (request.module.__name__, label))
    m.emu = emulator
    m.allow = tuple(getattr(request.module, "DYNFS_LOG_ALLOW", ()))
    m.start(config or emulator.config_path, extra_args=extra_args)
    return m


class MountFactory:
    """Mounts for one test; all are stopped at teardown (daemon must exit 0)."""

    def __init__(self, dynfs_bin, logdir, workdir, label):
        self.dynfs_bin = dynfs_bin
        self.logdir = logdir
        self.workdir = workdir
        self.label = label
        self.mounts = []

    def __call__(self, config, extra_args=(), env=None, emu=None, allow=(), expect_status=0):
        """Start dynfs on CONFIG.  allow: regexes of log lines that are not sanitizer findings;
        expect_status: exit status required at unmount (None: any)."""
        m = new_mount(self.dynfs_bin, self.logdir, self.workdir,
                      "%s-%d" % (self.label, len(self.mounts)))
        m.emu = emu
        m.allow = allow
        m.expect_status = expect_status
        self.mounts.append(m)
        m.start(config, extra_args=extra_args, env=env)
        return m

    def stop_all(self):
        errors = []
        for m in self.mounts:
            try:
                m.stop(expect_status=m.expect_status, allow=m.allow)
            except MountError as e:
                errors.append(str(e))
        return errors


@pytest.fixture
def mount_factory(request, dynfs_bin, logdir, tmp_path):
    f = MountFactory(dynfs_bin, logdir, str(tmp_path), request.node.nodeid)
    yield f
    errors = f.stop_all()
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


# --------------------------------------------------------------------------- emulators


@pytest.fixture(scope="module")
def emu():
    """The standard emulator: contoso + fabrikam, 300 accounts and 200 contacts each."""
    e = start_emulator(orgs=EMU_ORGS, records=EMU_RECORDS, seed=42)
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture(scope="module")
def mnt(request, dynfs_bin, logdir, module_workdir, emu):
    """dynfs mounted on the standard emulator's own dynfs.ini, for the whole module."""
    m = _module_mount(request, dynfs_bin, logdir, module_workdir, emu, "mnt")
    try:
        yield m
    finally:
        m.stop(allow=m.allow)


@pytest.fixture(scope="module")
def mnt2(request, dynfs_bin, logdir, module_workdir, emu):
    """A second, independent dynfs mount of the standard emulator (its own cache)."""
    m = _module_mount(request, dynfs_bin, logdir, module_workdir, emu, "mnt2")
    try:
        yield m
    finally:
        m.stop(allow=m.allow)


@pytest.fixture(scope="module")
def big_emu():
    """12,000 accounts in contoso: three pages of 5000."""
    e = start_emulator(orgs="contoso", records={"accounts": BIG_N, "contacts": 10}, seed=5,
                       timeout=300)
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture(scope="module")
def big_mnt(request, dynfs_bin, logdir, module_workdir, big_emu):
    m = _module_mount(request, dynfs_bin, logdir, module_workdir, big_emu, "big")
    try:
        yield m
    finally:
        m.stop(allow=m.allow)


@pytest.fixture(scope="module")
def tls_emu():
    e = start_emulator(tls=True, orgs=EMU_ORGS, records={"accounts": 40, "contacts": 20}, seed=9)
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture(scope="module")
def tls_mnt(request, dynfs_bin, logdir, module_workdir, tls_emu):
    m = _module_mount(request, dynfs_bin, logdir, module_workdir, tls_emu, "tls")
    try:
        yield m
    finally:
        m.stop(allow=m.allow)


# --------------------------------------------------------------------------- per-test guard

def pytest_configure(config):
    config.addinivalue_line("markers", "allow_dead_mount: the test stops or kills a mount itself")


@pytest.fixture(autouse=True)
def _dynfs_guard(request):
    """Remember where each mount's log stood; afterwards, every mount that was up must still be."""
    before = active_mounts()
    offsets = {}
    for m in before:
        try:
            offsets[id(m)] = os.path.getsize(m.log_path)
        except OSError:
            offsets[id(m)] = 0
    request.node._dynfs_logs = offsets
    yield
    if request.node.get_closest_marker("allow_dead_mount"):
        return
    now = set(map(id, active_mounts()))
    dead = []
    for m in before:
        if id(m) in now and not m.alive():
            dead.append(m)
        elif id(m) in now:
            try:
                m.assert_alive("after %s" % request.node.nodeid)
            except MountError as e:
                dead.append(e)
    if dead:
        msgs = [d.describe("dynfs died during %s (exit status %s)" % (request.node.nodeid,
                                                                       d.proc.poll()))
                if isinstance(d, Mount) else str(d) for d in dead]
        for d in dead:
            if isinstance(d, Mount):
                d.force_stop()
        pytest.fail("\n\n".join(msgs), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    offsets = getattr(item, "_dynfs_logs", {})
    parts = []
    for m in active_mounts():
        start = offsets.get(id(m), m._log_start)
        try:
            with open(m.log_path, "rb") as f:
                f.seek(start)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            text = ""
        if len(text) > 8000:
            text = "...\n" + text[-8000:]
        parts.append("mount %s (pid %s, alive=%s)\n  reproduce: %s\n  log: %s\n"
                     "--- daemon log during this test ---\n%s"
                     % (m.path, m.proc.pid if m.proc else None, m.alive(), m.repro(),
                        m.log_path, text))
    if parts:
        rep.sections.append(("dynfs mounts", "\n\n".join(parts)))
