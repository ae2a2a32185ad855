"""dynfs over HTTPS: the emulator's own CA via ca_file, and what a bad certificate or a stalled
handshake does (without ca_file, expired, for another host, unknown CA, no ServerHello)."""

import errno
import glob
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lib.fixtures import emulator_fixture, faults_cleared, fresh_records, mount_fixture
from lib.mount import Ini, list_raw, loads_verbatim, render, run_dynfs, strip_annotations
from lib.tools import killpg, write_close, xattr


def test_tls_mount_lists_and_reads(tls_mnt, tls_emu):
    assert tls_emu.base_url.startswith("https://")
    assert Ini.load(tls_emu.config_path)["contoso"].get("ca_file"), "TLS config without ca_file"
    recs = {r["accountid"]: r for r in list_raw(tls_emu.api("contoso"), "accounts")}
    d = os.path.join(tls_mnt.path, "contoso", "accounts")
    assert set(os.listdir(d)) == {i + ".json" for i in recs}
    for rid in list(recs)[:5]:
        with open(os.path.join(d, rid + ".json"), "rb") as f:
            assert f.read() == render(strip_annotations(recs[rid]))


def test_tls_second_org(tls_mnt, tls_emu):
    ids = {r["contactid"] for r in tls_emu.records("fabrikam", "contacts")}
    assert set(os.listdir(os.path.join(tls_mnt.path, "fabrikam", "contacts"))) == {
        i + ".json" for i in ids}


def test_tls_url_xattr_is_https(tls_mnt, tls_emu):
    rid = tls_emu.records("contoso", "accounts")[0]["accountid"]
    p = os.path.join(tls_mnt.path, "contoso", "accounts", rid + ".json")
    url = os.getxattr(p, "user.dynfs.url").decode()
    assert url == "%saccounts(%s)" % (tls_emu.api("contoso").api_url, rid)
    assert url.startswith("https://")


def test_tls_without_ca_file_mounts_unhealthy_and_says_ca_file(tls_emu, dynfs_bin, mount_factory,
                                                                tmp_path):
    """The system's CAs do not know the emulator's: as with a server whose certificate
    changed, the tenant is mounted unhealthy and the message points at ca_file; --check
    fails with it."""
    ini = Ini.load(tls_emu.config_path)
    for t in ini.tenants():
        ini[t].pop("ca_file", None)
    cfg = ini.write(str(tmp_path / "noca.ini"))
    r = run_dynfs(dynfs_bin, ["--check", "-c", cfg], timeout=60)
    print("exit status %s\nreproduce: %s\n--- stderr ---\n%s" % (r.returncode, r.repro, r.stderr))
    assert not r.sanitizer, r.stderr
    assert 0 < r.returncode < 126, "expected a controlled failure, got %s\n%s" % (r.returncode, r.stderr)
    assert "not signed by a trusted CA (ca_file?)" in r.stdout + r.stderr
    m = mount_factory(cfg, emu=tls_emu)
    for t in ini.tenants():
        st = json.loads(Path(m.path, t, ".status").read_bytes())
        assert st["health"] == "unhealthy" and "not signed by a trusted CA (ca_file?)" in st["reason"], st
    # (after .status: its handle's release reaches the daemon before the unmount does)
    assert sorted(os.listdir(m.path)) == sorted(ini.tenants())
    log = m.log_text()
    assert "not signed by a trusted CA (ca_file?)" in log, log
    for o in tls_emu.info["orgs"].values():
        assert o["client_secret"] not in r.stderr + r.stdout + log


# --------------------------------------------------------------------------- TLS faults
#
# One emulator of this module's own switches between its good certificate and a bad one
# (tests/emulator/control.py TlsFaults): the mount must name the cause in plain words, fail
# reads with EIO, fail saves loudly with the edit rescued, never wait past op_timeout for a
# stalled handshake, and recover by itself when the good certificate is back.

ORG, SET = "contoso", "accounts"
CAUSE = {
    "expired": "certificate has expired",
    "wrong_host": "certificate is for another host",
    "unknown_ca": "not signed by a trusted CA (ca_file?)",
}
OP_TIMEOUT = 4

femu = emulator_fixture(tls=True, orgs=ORG, records={"accounts": 40, "contacts": 2}, seed=29)
# a short deadline: a stalled handshake ends the read soon
fmnt = mount_fixture("femu", ini={"global": {"op_timeout": OP_TIMEOUT, "max_retries": 2}},
                     state_home=True)
# a long deadline: only the kill ends a read blocked in a stalled handshake
fpatient = mount_fixture("femu", ini={"global": {"op_timeout": 120, "connect_timeout": 100}})
_fclean = faults_cleared("femu")
_fids = fresh_records("femu", ORG, SET, "accountid", plain=True)


def fpath(m, rid):
    return os.path.join(m.path, ORG, SET, rid + ".json")


def read_bytes(p):
    return Path(p).read_bytes()


def read_errno(p):
    try:
        read_bytes(p)
    except OSError as e:
        return e.errno
    return None


def status(m):
    return json.loads(read_bytes(os.path.join(m.path, ORG, ".status")))


def until(what, fn, timeout=60):
    """Wait for FN() to be true (a tenant retries a failed connection after 5..30 s)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if fn():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("not within %d s: %s" % (timeout, what))
        time.sleep(0.5)


def assert_no_secret(emu, text):
    for o in emu.info["orgs"].values():
        assert o["client_secret"] not in text


@pytest.mark.parametrize("mode", sorted(CAUSE))
def test_start_against_bad_certificate_mounts_unhealthy_then_recovers(femu, mount_factory, dynfs_bin,
                                                                      mode):
    femu.tls_mode(mode=mode)
    r = run_dynfs(dynfs_bin, ["--check", "-c", femu.config_path], timeout=60)
    print("--check: exit %s\n%s%s" % (r.returncode, r.stdout, r.stderr))
    assert r.returncode != 0 and not r.sanitizer
    assert re.search(r"^contoso: FAILED: .*%s" % re.escape(CAUSE[mode]), r.stdout + r.stderr, re.M)

    m = mount_factory(femu.config_path, emu=femu)
    assert ORG in os.listdir(m.path)                   # its folder exists
    with pytest.raises(OSError) as ei:
        os.listdir(os.path.join(m.path, ORG, SET))
    assert ei.value.errno == errno.EIO, ei.value
    st = status(m)
    assert st["health"] == "unhealthy" and st["errno"] == "EIO", st
    assert CAUSE[mode] in st["reason"], st
    log = m.log_text()
    assert re.search(r"contoso: mounted, not connected yet: .*%s" % re.escape(CAUSE[mode]), log), log
    assert_no_secret(femu, log)

    femu.tls_mode(mode="good")
    until("the tenant connects", lambda: os.listdir(os.path.join(m.path, ORG, SET)))
    assert status(m)["health"] == "ok"
    rid = femu.records(ORG, SET)[0]["accountid"]
    assert read_bytes(fpath(m, rid)).startswith(b"{\n")


def test_start_against_a_stalled_handshake_mounts_unhealthy_within_op_timeout(femu, mount_factory,
                                                                              dynfs_bin, tmp_path):
    ini = Ini.load(femu.config_path)
    ini["global"]["op_timeout"] = str(OP_TIMEOUT)
    cfg = ini.write(str(tmp_path / "quick.ini"))
    femu.tls_mode(mode="stall", stall_s=120)
    r = run_dynfs(dynfs_bin, ["--check", "-c", cfg], timeout=OP_TIMEOUT + 20)
    assert r.returncode == 2 and not r.sanitizer, r.stdout + r.stderr
    assert re.search(r"^contoso: FAILED: .*TLS handshake within op_timeout", r.stdout, re.M), r.stdout
    m = mount_factory(cfg, emu=femu)
    st = status(m)
    assert st["health"] == "unhealthy" and st["errno"] == "ETIMEDOUT", st
    assert "TLS handshake" in st["reason"], st
    femu.tls_mode(mode="good")
    until("the tenant connects", lambda: os.listdir(os.path.join(m.path, ORG, SET)))


@pytest.mark.parametrize("mode", sorted(CAUSE))
def test_bad_certificate_while_mounted_fails_reads_and_saves_loudly(femu, fmnt, state_home, _fids,
                                                                    mode):
    reread, fresh = next(_fids), next(_fids)
    p = fpath(fmnt, reread)
    obj = loads_verbatim(read_bytes(p))
    before = femu.record(ORG, SET, reread)
    obj["name"] = "Saved while the server showed a bad certificate"
    data = render(obj)
    mark = len(fmnt.log_text())

    femu.tls_mode(mode=mode)
    assert read_errno(fpath(fmnt, fresh)) == errno.EIO
    err = write_close(p, data)
    assert err is not None and err.errno == errno.EIO, err
    assert femu.record(ORG, SET, reread) == before      # nothing reached the server
    d = os.path.join(state_home, "dynfs", "rescue", ORG, SET)
    found = sorted(glob.glob(os.path.join(d, reread + ".*.json")))
    assert len(found) == 1 and read_bytes(found[0]) == data, found
    x = xattr(p)
    assert x and x.startswith("save failed: ") and CAUSE[mode] in x, x
    log = fmnt.log_text()[mark:]
    assert CAUSE[mode] in log, log
    assert_no_secret(femu, log)

    femu.tls_mode(mode="good")
    assert read_bytes(fpath(fmnt, fresh)).startswith(b"{\n")
    fmnt.assert_alive()


def test_stalled_handshake_ends_within_op_timeout(femu, fmnt, _fids):
    rid = next(_fids)
    femu.tls_mode(mode="stall", stall_s=120)
    mark = len(fmnt.log_text())
    t0 = time.monotonic()
    err = read_errno(fpath(fmnt, rid))
    dt = time.monotonic() - t0
    assert err in (errno.ETIMEDOUT, errno.EIO), errno.errorcode.get(err, err)
    assert dt < OP_TIMEOUT + 4, "the read took %.1f s with op_timeout = %d" % (dt, OP_TIMEOUT)
    assert femu.tls_mode()["handshakes"]["stall"] >= 1
    log = fmnt.log_text()[mark:]
    assert re.search(r"TLS handshake within op_timeout \(%d s\)" % OP_TIMEOUT, log), log
    femu.tls_mode(mode="good")
    assert read_bytes(fpath(fmnt, rid)).startswith(b"{\n")


def test_silent_server_after_the_handshake_is_not_called_a_handshake_stall(femu, fmnt, _fids):
    """The handshake is done and the request sent (a kept-alive connection); the answer never
    comes: that is a slow answer, and the message must not blame TLS."""
    warm, rid = next(_fids), next(_fids)
    assert read_bytes(fpath(fmnt, warm)).startswith(b"{\n")
    femu.rule(method="GET", path=r"accounts\(%s\)" % rid, deliver="silent", seconds=300, count=0)
    mark = len(fmnt.log_text())
    assert read_errno(fpath(fmnt, rid)) == errno.ETIMEDOUT
    log = fmnt.log_text()[mark:]
    assert "no complete answer within op_timeout" in log and "TLS" not in log, log


def test_save_meeting_a_stalled_handshake_fails_loudly_within_op_timeout(femu, fmnt, state_home,
                                                                         _fids):
    rid = next(_fids)
    p = fpath(fmnt, rid)
    obj = loads_verbatim(read_bytes(p))
    before = femu.record(ORG, SET, rid)
    obj["name"] = "Saved while the server stalled its TLS handshakes"
    data = render(obj)
    femu.tls_mode(mode="stall", stall_s=120)
    t0 = time.monotonic()
    err = write_close(p, data)
    dt = time.monotonic() - t0
    assert err is not None and err.errno in (errno.ETIMEDOUT, errno.EIO), err
    assert dt < OP_TIMEOUT + 4, "the save took %.1f s with op_timeout = %d" % (dt, OP_TIMEOUT)
    femu.tls_mode(mode="good")
    assert femu.record(ORG, SET, rid) == before
    d = os.path.join(state_home, "dynfs", "rescue", ORG, SET)
    found = sorted(glob.glob(os.path.join(d, rid + ".*.json")))
    assert len(found) == 1 and read_bytes(found[0]) == data, found
    x = xattr(p)
    assert x and x.startswith("save failed: ") and "TLS handshake" in x, x


def test_killed_reader_in_a_stalled_handshake_is_released(femu, fpatient, _fids):
    warm, rid = next(_fids), next(_fids)
    assert read_bytes(fpath(fpatient, warm)).startswith(b"{\n")      # connected, token in hand
    femu.tls_mode(mode="stall", stall_s=300)
    proc = subprocess.Popen(["cat", fpath(fpatient, rid)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        until("the read stalls in the handshake", lambda: femu.tls_mode()["stalled_now"] >= 1, 30)
        assert proc.poll() is None, proc.communicate()
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        dt = time.monotonic() - t0
    finally:
        killpg(proc)
    assert dt < 4, "cat took %.1f s to die" % dt
    fpatient.assert_alive()
    femu.tls_mode(mode="good")
    assert read_bytes(fpath(fpatient, rid)).startswith(b"{\n")
