"""Signals and systemd: SIGHUP refreshes without unmounting; SIGTERM and SIGINT unmount
cleanly once a save in flight has finished and answered its caller; fusermount3 -u exits 0;
readiness, reload and stop are told to systemd's NOTIFY_SOCKET.
"""

import json
import os
import signal
import socket
import threading
import time

import pytest

from lib.fixtures import emulator_fixture, mount_fixture
from lib.mount import in_mountinfo, sanitizer_findings, stats_delta

sig_emu = emulator_fixture(orgs="contoso", records={"accounts": 30, "contacts": 5}, seed=12)
hup_mnt = mount_fixture("sig_emu", ini={"global": {"cache_ttl": 600}})


def status(path):
    with open(os.path.join(path, ".status")) as f:
        return json.load(f)


def test_hup_relists_and_renews_without_unmounting(hup_mnt, sig_emu):
    d = os.path.join(hup_mnt.path, "contoso", "accounts")
    os.listdir(d)
    assert stats_delta(sig_emu, lambda: os.listdir(d))["list"] == 0     # cache_ttl = 600
    os.kill(hup_mnt.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "refreshed (SIGHUP)" not in hup_mnt.log_text():
        assert time.monotonic() < deadline, hup_mnt.log_text()
        time.sleep(0.05)
    hup_mnt.assert_alive("after SIGHUP")
    delta = stats_delta(sig_emu, lambda: os.listdir(d))
    # listed anew, with a token renewed from the secret file read again
    assert delta["list"] == 1 and delta["token"] == 1, delta
    assert len(os.listdir(d)) == 30


def test_hup_rereads_the_secret(sig_emu, tmp_path, mount_factory):
    """A wrong secret written into the secret file counts only after HUP; so does the fix."""
    o = sig_emu.org("contoso")
    secret = tmp_path / "contoso.secret"
    secret.write_text(o["client_secret"] + "\n")
    os.chmod(str(secret), 0o600)
    cfg = tmp_path / "c.ini"
    cfg.write_text("[contoso]\nurl = %s\ntenant_id = %s\nclient_id = %s\n"
                   "client_secret_file = %s\ntoken_url = %s\n"
                   % (o["url"], o["tenant_id"], o["client_id"], secret, o["token_url"]))
    os.chmod(str(cfg), 0o600)
    m = mount_factory(str(cfg), emu=sig_emu)
    d = os.path.join(m.path, "contoso")
    secret.write_text("wrong-secret\n")
    os.kill(m.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while status(d)["health"] == "ok":
        try:
            os.listdir(os.path.join(d, "accounts"))   # the old token may still serve it
        except PermissionError:
            pass
        assert time.monotonic() < deadline, m.log_text()
        time.sleep(0.2)
    assert "AADSTS7000215" in status(d)["reason"]
    secret.write_text(o["client_secret"] + "\n")
    os.kill(m.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while True:
        try:
            os.listdir(os.path.join(d, "accounts"))
            break
        except PermissionError:
            assert time.monotonic() < deadline, m.log_text()
            time.sleep(0.2)
    assert status(d)["health"] == "ok"
    assert "wrong-secret" not in m.log_text()


@pytest.mark.allow_dead_mount
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_unmounts_after_the_save_in_flight(sig_emu, mount_factory, sig):
    m = mount_factory(sig_emu.config_path, emu=sig_emu)
    d = os.path.join(m.path, "contoso", "accounts")
    rid = sorted(os.listdir(d))[0][:-len(".json")]
    path = os.path.join(d, rid + ".json")
    with open(path) as f:
        rec = json.load(f)
    rec["telephone1"] = "+1 555 %04d" % sig
    result = {}

    def save():
        try:
            with open(path, "w") as f:
                json.dump(rec, f)
            result["ok"] = True
        except OSError as e:
            result["error"] = e

    sig_emu.faults(latency_ms=1500)
    try:
        t = threading.Thread(target=save)
        t.start()
        time.sleep(0.6)                  # the PATCH is on its way
        os.kill(m.proc.pid, sig)
        t.join(30)
        rc = m.proc.wait(30)
    finally:
        sig_emu.clear_faults()
        m.force_stop()
    assert result.get("ok"), result
    assert rc == 0, m.log_text()
    assert not in_mountinfo(m.path)
    assert sig_emu.record("contoso", "accounts", rid)["telephone1"] == rec["telephone1"]
    assert not sanitizer_findings(m.log_text()), m.log_text()


def test_systemd_notify(sig_emu, mount_factory, tmp_path):
    sock_path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(20)
    try:
        m = mount_factory(sig_emu.config_path, emu=sig_emu, env={"NOTIFY_SOCKET": sock_path})
        msg = sock.recv(4096).decode()
        assert msg.startswith("READY=1\n") and "mounted 1 tenant(s)" in msg, msg
        os.kill(m.proc.pid, signal.SIGHUP)
        assert sock.recv(4096).decode().startswith("RELOADING=1")
        assert sock.recv(4096).decode().startswith("READY=1")
        m.stop()
        assert sock.recv(4096).decode() == "STOPPING=1"
    finally:
        sock.close()
