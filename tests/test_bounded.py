"""Bounded, interruptible operations (SEMANTICS.md "Waiting for the server").

- op_timeout caps one request with its retries and waits together: a stalled answer, a slow
  server, a Retry-After longer than what is left all end in a prompt failure (ETIMEDOUT, or
  EAGAIN when throttled, saying until when), never in minutes of waiting;
- a tenant the server throttles sends nothing until its Retry-After has passed;
- killing the program blocked in a read or a save ends the operation within seconds (a FUSE
  interrupt), and a save's outcome is still settled and recorded: the rescue copy and
  user.dynfs.error when it did not land, nothing when it did.

Every blocked program runs in its own session and is killed with SIGKILL by the test; the
emulator's rules are deleted after each test, which ends the answers they hold back.
"""

import errno
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from lib.fixtures import emulator_fixture, faults_cleared, fresh_records, mount_fixture
from lib.mount import Ini, loads_verbatim, render, stats_delta
from lib.tools import killpg, write_close, xattr

ORG = "contoso"
SET = "accounts"

bemu = emulator_fixture(orgs=ORG, records={"accounts": 60, "contacts": 5}, seed=53)
# short deadlines: failures come fast
quick = mount_fixture("bemu", ini={"global": {"op_timeout": 3, "max_retries": 3}},
                      state_home=True)
# a long deadline: only the kill ends a blocked operation
patient = mount_fixture("bemu", ini={"global": {"op_timeout": 120, "max_retries": 3}},
                        state_home=True)


clean = faults_cleared("bemu")
_ids = fresh_records("bemu", ORG, SET, "accountid", plain=True)


@pytest.fixture
def rid(_ids):
    """A record nobody else touches, which no mount has listed or read."""
    return next(_ids)


def fpath(m, rid):
    return os.path.join(m.path, ORG, SET, rid + ".json")


def rescues(state_home, rid):
    d = os.path.join(state_home, "dynfs", "rescue", ORG, SET)
    return sorted(glob.glob(os.path.join(d, glob.escape(rid) + ".*.json")))


def timed_errno(fn):
    """(errno of the OSError FN raised, or None; seconds taken)."""
    t0 = time.monotonic()
    try:
        fn()
    except OSError as e:
        return e.errno, time.monotonic() - t0
    return None, time.monotonic() - t0


def cat(p):
    with open(p, "rb") as f:
        return f.read()


def wait_fired(emu, rule_id, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if emu.rule_state(rule_id)["fired"]:
            return
        time.sleep(0.05)
    raise AssertionError("the rule never fired: %r" % emu.rule_state(rule_id))


def start(argv):
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def kill_and_time(proc, settle=0.5):
    """SIGKILL PROC once it has had SETTLE seconds to block; seconds until it is gone."""
    time.sleep(settle)
    assert proc.poll() is None, "the program did not block: %r" % (proc.communicate(),)
    t0 = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    try:
        proc.wait(30)
    finally:
        killpg(proc)
    return time.monotonic() - t0


SAVER = ("import os, sys\n"
         "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)\n"
         "os.write(fd, sys.stdin.buffer.read())\n"
         "os.close(fd)\n")


def start_saver(p, data):
    proc = subprocess.Popen([sys.executable, "-c", SAVER, p], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    proc.stdin.write(data)
    proc.stdin.close()
    return proc


# --------------------------------------------------------------------------- deadlines

def test_stalled_answer_ends_at_op_timeout(bemu, quick, rid):
    bemu.rule(method="GET", path=r"accounts\(%s\)" % rid, apply=True, deliver="stall",
              bytes=20, seconds=300, count=0)
    err, dt = timed_errno(lambda: cat(fpath(quick, rid)))
    assert err == errno.ETIMEDOUT, errno.errorcode.get(err, err)
    assert 2.5 <= dt < 8, dt
    assert "op_timeout" in quick.log_text()
    quick.assert_alive()


def test_slow_server_ends_at_op_timeout(bemu, quick, rid):
    bemu.rule(method="GET", path=r"accounts\(%s\)" % rid, apply=True, delay_ms=15000, count=0)
    err, dt = timed_errno(lambda: cat(fpath(quick, rid)))
    assert err == errno.ETIMEDOUT and dt < 8, (err, dt)


def test_silent_token_endpoint_ends_at_op_timeout(bemu, quick, rid):
    """The token endpoint accepts and says nothing, on its own: the Web API is fine, but a
    renewal cannot finish.  The read fails within op_timeout."""
    bemu.rule(path=r"/oauth2/v2\.0/token$", deliver="silent", seconds=300, count=0)
    bemu.control_post(ORG, "revoke-access-tokens")
    err, dt = timed_errno(lambda: cat(fpath(quick, rid)))
    assert err == errno.ETIMEDOUT and dt < 8, (err, dt)
    bemu.clear_rules()
    time.sleep(5.5)       # a failed renewal is not asked again for 5 s (auth.c hold-off)
    assert cat(fpath(quick, rid)).startswith(b"{\n")


def test_long_retry_after_fails_fast_and_says_until_when(bemu, quick, _ids):
    first, second, third = next(_ids), next(_ids), next(_ids)
    bemu.rule(method="GET", path=r"accounts\(%s\)" % first, status=429,
              headers={"Retry-After": 5}, json={"error": {
                  "code": "0x80072322", "message": "Number of requests exceeded the limit "
                  "of 6000 over time window of 300 seconds."}})
    err, dt = timed_errno(lambda: cat(fpath(quick, first)))
    assert err == errno.EAGAIN and dt < 2, (errno.errorcode.get(err, err), dt)
    assert re.search(r"wait until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: past op_timeout",
                     quick.log_text()), quick.log_tail()
    # the tenant sends nothing until then: the next read fails at once, without a request
    d = stats_delta(bemu, lambda: timed_errno(lambda: cat(fpath(quick, second))))
    assert d.result[0] == errno.EAGAIN and d.result[1] < 2, d.result
    assert d["get"] == 0, d
    assert "throttled by the server until" in quick.log_text()
    status = json.loads(cat(os.path.join(quick.path, ORG, ".status")))
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", status["throttled_until"] or ""), status
    time.sleep(5.2)
    assert cat(fpath(quick, third)).startswith(b"{\n")


def test_short_retry_after_is_waited_for(bemu, quick, rid):
    bemu.rule(method="GET", path=r"accounts\(%s\)" % rid, status=503,
              headers={"Retry-After": 1}, body="busy", content_type="text/plain")
    t0 = time.monotonic()
    assert cat(fpath(quick, rid)).startswith(b"{\n")
    assert 1 <= time.monotonic() - t0 < 3


def test_throttled_save_fails_fast_with_its_bytes_rescued(bemu, quick, state_home, rid):
    p = fpath(quick, rid)
    before = bemu.record(ORG, SET, rid)
    obj = loads_verbatim(cat(p))
    obj["name"] = "Saved while throttled for long"
    data = render(obj)
    bemu.rule(method="PATCH", status=429, headers={"Retry-After": 600}, json={"error": {
        "code": "0x80072321", "message": "Combined execution time of incoming requests "
        "exceeded limit of 1,200,000 milliseconds over time window of 300 seconds."}})
    t0 = time.monotonic()
    err = write_close(p, data)
    assert err is not None and err.errno == errno.EAGAIN, err
    assert time.monotonic() - t0 < 3
    assert bemu.record(ORG, SET, rid) == before
    found = rescues(state_home, rid)
    assert found and cat(found[-1]) == data
    x = xattr(p)
    assert x and re.search(r"until \d{4}-.*past op_timeout", x), x


# --------------------------------------------------------------------------- interrupts

def test_killed_cat_of_a_stalled_record_ends_at_once(bemu, patient, rid):
    r = bemu.rule(method="GET", path=r"accounts\(%s\)" % rid, apply=True, deliver="stall",
                  bytes=20, seconds=300)
    proc = start(["cat", fpath(patient, rid)])
    wait_fired(bemu, r["id"])
    dt = kill_and_time(proc)
    assert dt < 4, "cat took %.1f s to die" % dt
    patient.assert_alive()
    # the mount serves the next reader at once
    bemu.clear_rules()
    assert cat(fpath(patient, rid)).startswith(b"{\n")


def test_killed_cat_waiting_out_a_retry_after(bemu, mount_factory, rid, tmp_path):
    """A mount of its own: the tenant stays throttled for the Retry-After it was given."""
    ini = Ini.load(bemu.config_path)
    ini["global"]["op_timeout"] = "120"
    m = mount_factory(ini.write(str(tmp_path / "patient.ini")), emu=bemu)
    bemu.rule(method="GET", path=r"accounts\(%s\)" % rid, status=503,
              headers={"Retry-After": 100}, body="busy", content_type="text/plain")
    proc = start(["cat", fpath(m, rid)])
    time.sleep(1)
    dt = kill_and_time(proc)
    assert dt < 4, "cat took %.1f s to die" % dt
    m.assert_alive()


def test_killed_save_that_did_not_land_is_rescued(bemu, patient, state_home, rid):
    """The PATCH goes unanswered (not carried out); the saving program is killed in close():
    it dies within seconds, the record is read back (unchanged), and the edit is rescued
    with the reason in user.dynfs.error."""
    p = fpath(patient, rid)
    before = bemu.record(ORG, SET, rid)
    obj = loads_verbatim(cat(p))
    obj["name"] = "Saved by a program that was killed"
    data = render(obj)
    w0 = bemu.writes(ORG, SET, rid)
    r = bemu.rule(method="PATCH", deliver="silent", seconds=300)
    proc = start_saver(p, data)
    wait_fired(bemu, r["id"])
    dt = kill_and_time(proc)
    assert dt < 8, "the saver took %.1f s to die" % dt
    assert bemu.record(ORG, SET, rid) == before and bemu.writes(ORG, SET, rid) == w0
    found = rescues(state_home, rid)
    assert len(found) == 1 and cat(found[0]) == data, found
    x = xattr(p)
    assert x and x.startswith("save failed: ") and "interrupted" in x, x
    assert x.endswith(found[0]), x
    patient.assert_alive()


def test_killed_save_that_landed_is_a_save(bemu, patient, state_home, rid):
    """The PATCH is carried out but its answer is held back; the saving program is killed:
    the read back finds the change, so nothing is rescued and no error is left."""
    p = fpath(patient, rid)
    obj = loads_verbatim(cat(p))
    obj["name"] = "Landed while its program was killed"
    data = render(obj)
    w0 = bemu.writes(ORG, SET, rid)
    r = bemu.rule(method="PATCH", apply=True, deliver="silent", seconds=300)
    proc = start_saver(p, data)
    wait_fired(bemu, r["id"])
    dt = kill_and_time(proc)
    assert dt < 8, "the saver took %.1f s to die" % dt
    assert bemu.record(ORG, SET, rid)["name"] == "Landed while its program was killed"
    assert bemu.writes(ORG, SET, rid) == w0 + 1
    assert rescues(state_home, rid) == []
    assert xattr(p) is None
    assert cat(p) == render(dict(loads_verbatim(cat(p)), name=obj["name"]))


def test_other_signals_do_not_end_a_save(bemu, patient, rid):
    """A program that handles a signal (an editor and SIGWINCH) while its save waits keeps
    its save: only a signal that kills it ends the operation."""
    p = fpath(patient, rid)
    obj = loads_verbatim(cat(p))
    obj["name"] = "Saved through a SIGWINCH"
    code = ("import os, signal, sys\n"
            "signal.signal(signal.SIGWINCH, lambda *a: None)\n" + SAVER)
    bemu.rule(method="PATCH", apply=True, delay_ms=2000)
    proc = subprocess.Popen([sys.executable, "-c", code, p], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        proc.stdin.write(render(obj))
        proc.stdin.close()
        time.sleep(1)
        os.kill(proc.pid, signal.SIGWINCH)
        assert proc.wait(20) == 0, proc.stderr.read()
    finally:
        killpg(proc)
    assert bemu.record(ORG, SET, rid)["name"] == "Saved through a SIGWINCH"
