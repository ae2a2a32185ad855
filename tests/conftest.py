"""Fixtures for the dynfs mount tests (tests/test_*.py).

Run:  /usr/bin/python3 -m pytest tests -q          (Debian's python3 and pytest)

Environment:
  DYNFS_BIN=path     the dynfs binary (default: <repo>/dynfs, built with `make` if missing;
                     e.g. DYNFS_BIN=build/san-address-undefined/dynfs for a sanitizer build)
  DYNFS_MAKE=1       run `make -C <repo>` once per session even if the binary exists
  DYNFS_TEST_LOGDIR  where daemon logs go (default: a pytest temporary directory)

Fixtures (module scope unless said otherwise; made with lib.fixtures' factories, which
every module also uses for emulators and mounts of its own):
  std_emu, mnt, mnt2       the standard data set (contoso + fabrikam, 300 accounts, 200
                           contacts) and two independent mounts of it
  big_emu, big_mnt         12,000 accounts in contoso
  tls_emu, tls_mnt         an HTTPS emulator with its own CA
  mount_factory            (per test) mounts started by the test, stopped after it
  state_home               a per-module XDG_STATE_HOME (mount_fixture(..., state_home=True))
  dynfs_bin, logdir, module_workdir
(The emulator's own suite, tests/emulator, has no `std_emu`: each of its modules declares
its own `emu`.)

Every emulator is started inside a `with Emulator(...)` block and every mount is stopped by
its fixture (fusermount3 -u, daemon must exit 0), so nothing outlives a test run; lib.emuproc
and lib.mount also register atexit guards.  After each test every mount that was running
before it must still be alive and mounted (a crash is not a controlled failure), and a
failing test's report shows how to reproduce each mount and the daemon log of the test.
"""

import os
import subprocess
import sys

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)

from lib.fixtures import MountFactory, emulator_fixture, mount_fixture  # noqa: E402
from lib.mount import Mount, MountError, _safe, active_mounts  # noqa: E402

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


@pytest.fixture(scope="module")
def module_workdir(request, tmp_path_factory):
    return str(tmp_path_factory.mktemp(_safe(request.module.__name__)))


@pytest.fixture(scope="module")
def state_home(tmp_path_factory):
    """XDG_STATE_HOME of the module's mounts made with mount_fixture(..., state_home=True)."""
    return str(tmp_path_factory.mktemp("xdg-state"))


@pytest.fixture
def mount_factory(request, dynfs_bin, logdir, tmp_path):
    """Mounts for one test: mount_factory(config, extra_args=(), env=None, emu=None, allow=(),
    expect_status=0) starts one; all are stopped at teardown (lib.fixtures.MountFactory)."""
    f = MountFactory(dynfs_bin, logdir, str(tmp_path), request.node.nodeid)
    yield f
    errors = f.stop_all()
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


# --------------------------------------------------------------------------- emulators and mounts
# Each module that uses one of these gets its own emulator and mount (module scope).  Modules
# with other data declare their own with the same factories (lib.fixtures).

std_emu = emulator_fixture(orgs=EMU_ORGS, records=EMU_RECORDS, seed=42)
std_emu.__doc__ = ("The standard emulator: contoso + fabrikam, 300 accounts, 200 contacts and "
                   "25 new_categories each.")
mnt = mount_fixture("std_emu")
mnt2 = mount_fixture("std_emu")
mnt2.__doc__ = "A second, independent dynfs mount of `std_emu` (its own cache)."

big_emu = emulator_fixture(orgs="contoso", records={"accounts": BIG_N, "contacts": 10}, seed=5,
                           timeout=300)
big_emu.__doc__ = "12,000 accounts in contoso: three pages of 5000."
big_mnt = mount_fixture("big_emu")

tls_emu = emulator_fixture(tls=True, orgs=EMU_ORGS, records={"accounts": 40, "contacts": 20}, seed=9)
tls_mnt = mount_fixture("tls_emu")


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
