"""TLS faults: one emulator serves its good certificate, then a bad one, then the good one again.

Each bad certificate must fail in Python's own verifying client for its own reason (host name,
expiry, unknown CA), a stalled handshake must time the client out, and the control surface must
stay reachable throughout (it is reached with the control server name, which faults spare).
"""

import datetime
import http.client
import os
import socket
import ssl
import subprocess
import threading
import urllib.parse

import pytest

from lib.client import EmulatorError
from lib.emuproc import Emulator
from lib.fixtures import emulator_fixture, faults_cleared

emu = emulator_fixture(tls=True, orgs="contoso", records={"accounts": 3, "contacts": 1}, seed=3)
plain = emulator_fixture(orgs="contoso", records={"accounts": 1, "contacts": 1}, seed=3)
_clean = faults_cleared("emu")

# X509_V_ERR_* codes OpenSSL reports in SSLCertVerificationError.verify_code
V_EXPIRED, V_NO_LOCAL_ISSUER, V_HOSTNAME, V_IP_ADDRESS = 10, 20, 62, 64


def address(e):
    u = urllib.parse.urlsplit(e.base_url)
    return u.hostname, u.port


def handshake(e, server_hostname="127.0.0.1", timeout=10):
    """A TLS handshake as a strict client that trusts only the emulator's CA; returns the
    peer certificate's subjectAltName or raises what the handshake raised."""
    ctx = ssl.create_default_context(cafile=e.ca_file)
    with socket.create_connection(address(e), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_hostname) as s:
            return s.getpeercert()["subjectAltName"]


def verify_error(e, **kw):
    with pytest.raises(ssl.SSLCertVerificationError) as ei:
        handshake(e, **kw)
    return ei.value


def test_good_certificate_by_default(emu):
    state = emu.tls_mode()
    assert state["mode"] == "good" and state["stalled_now"] == 0
    assert set(state["modes"]) == {"good", "wrong_host", "expired", "unknown_ca", "stall"}
    assert ("IP Address", "127.0.0.1") in handshake(emu)
    assert ("DNS", "localhost") in handshake(emu, server_hostname="localhost")
    assert emu.api("contoso").get("WhoAmI").status == 200


def test_wrong_host(emu):
    emu.tls_mode(mode="wrong_host")
    err = verify_error(emu)
    assert err.verify_code == V_IP_ADDRESS, err
    assert "IP address mismatch" in err.verify_message
    err = verify_error(emu, server_hostname="localhost")
    assert err.verify_code == V_HOSTNAME, err
    assert "Hostname mismatch" in err.verify_message
    # the certificate itself is fine: same CA, valid, only for another name
    assert handshake(emu, server_hostname="another-host.example") == (("DNS", "another-host.example"),)


def test_expired(emu):
    emu.tls_mode(mode="expired")
    err = verify_error(emu)
    assert err.verify_code == V_EXPIRED, err
    assert "certificate has expired" in err.verify_message
    pem = os.path.join(emu.state_dir, "tls", "expired.pem")
    end = subprocess.run(["openssl", "x509", "-in", pem, "-noout", "-enddate"], capture_output=True,
                         text=True, check=True).stdout.strip().split("=", 1)[1]
    not_after = datetime.datetime.strptime(end, "%b %d %H:%M:%S %Y %Z")
    assert not_after < datetime.datetime.utcnow(), end


def test_unknown_ca(emu):
    emu.tls_mode(mode="unknown_ca")
    err = verify_error(emu)
    assert err.verify_code == V_NO_LOCAL_ISSUER, err
    assert "unable to get local issuer certificate" in err.verify_message


def test_stall_times_the_client_out(emu):
    before = emu.tls_mode(mode="stall", stall_s=60)["handshakes"]["stall"]
    with pytest.raises((socket.timeout, TimeoutError)):
        handshake(emu, timeout=1)
    st = emu.tls_mode()
    assert st["handshakes"]["stall"] - before == 1, st
    assert st["mode"] == "stall"


def test_stall_accepts_the_connection(emu):
    """TCP is accepted at once: only the handshake waits (not a refused or dropped connection)."""
    emu.tls_mode(mode="stall", stall_s=60)
    with socket.create_connection(address(emu), timeout=5) as raw:
        raw.settimeout(1)
        ctx = ssl.create_default_context(cafile=emu.ca_file)
        with pytest.raises((socket.timeout, TimeoutError)):
            ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def test_short_stall_then_the_handshake_goes_on(emu):
    before = emu.tls_mode(mode="stall", stall_s=0.3)["handshakes"]["stall"]
    assert ("IP Address", "127.0.0.1") in handshake(emu, timeout=20)
    assert emu.tls_mode()["handshakes"]["stall"] - before == 1


def test_stalled_handshake_goes_on_when_the_fault_ends(emu):
    emu.tls_mode(mode="stall", stall_s=600)
    out = {}

    def client():
        try:
            out["san"] = handshake(emu, timeout=60)
        except Exception as ex:  # noqa: BLE001 - reported below
            out["error"] = ex
    th = threading.Thread(target=client)
    th.start()
    try:
        for _ in range(200):
            if emu.tls_mode()["stalled_now"] == 1:
                break
            threading.Event().wait(0.05)
        assert emu.tls_mode()["stalled_now"] == 1
    finally:
        emu.tls_mode(mode="good")
        th.join(60)
    assert not th.is_alive()
    assert "error" not in out, out
    assert ("IP Address", "127.0.0.1") in out["san"]
    assert emu.tls_mode()["stalled_now"] == 0


@pytest.mark.parametrize("mode", ["wrong_host", "expired", "unknown_ca", "stall"])
def test_web_api_and_token_endpoint_fail_then_recover(emu, mode):
    org = emu.org("contoso")
    emu.tls_mode(mode=mode, stall_s=30)
    for url in (org["api_url"] + "WhoAmI", org["token_url"]):
        with pytest.raises((ssl.SSLError, socket.timeout, TimeoutError)):
            emu.http("GET", url, timeout=1)
    # the control surface is not affected: stats, faults and the switch back all answer
    assert emu.stats()["total"] >= 0
    assert emu.tls_mode()["mode"] == mode
    emu.tls_mode(mode="good")
    assert emu.api("contoso", new=True).get("WhoAmI").status == 200


def test_switch_ends_kept_alive_connections(emu):
    """A client's open connection does not outlive a switch: its next request must make a new
    handshake, which meets the new certificate."""
    host, port = address(emu)
    conn = http.client.HTTPSConnection(host, port, timeout=10,
                                       context=ssl.create_default_context(cafile=emu.ca_file))
    try:
        path = urllib.parse.urlsplit(emu.org("contoso")["api_url"]).path + "WhoAmI"
        conn.request("GET", path)
        first = conn.getresponse()
        first.read()
        assert first.status == 401 and not first.will_close
        emu.tls_mode(mode="expired")
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            conn.request("GET", path)
            conn.getresponse()
        conn.close()
        with pytest.raises(ssl.SSLCertVerificationError):
            conn.request("GET", path)
    finally:
        conn.close()


def test_no_session_resumption(emu):
    """A resumed TLS session skips the certificate: each new connection gets a full handshake,
    so a client that connected under the good certificate meets the bad one next time."""
    ctx = ssl.create_default_context(cafile=emu.ca_file)
    with socket.create_connection(address(emu), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"GET /_emulator/none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            s.recv(1)           # TLS 1.3 tickets, if any, arrive with the first data
            session = s.session
    emu.tls_mode(mode="expired")
    with socket.create_connection(address(emu), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session)


def test_handshakes_counted_by_mode(emu):
    before = emu.tls_mode()["handshakes"]
    emu.tls_mode(mode="expired")
    verify_error(emu)
    verify_error(emu)
    emu.tls_mode(mode="good")
    handshake(emu)
    after = emu.tls_mode()["handshakes"]
    assert after["expired"] - before["expired"] == 2
    assert after["good"] - before["good"] == 1


def test_full_fault_reset_restores_the_good_certificate(emu):
    emu.tls_mode(mode="unknown_ca")
    emu.clear_faults()
    assert emu.tls_mode()["mode"] == "good"
    handshake(emu)


@pytest.mark.parametrize("body, word", [({"mode": "revoked"}, "mode"), ({"stall_s": -1}, "stall_s"),
                                        ({"stall_s": "5"}, "stall_s"), ({"colour": 1}, "unknown")])
def test_bad_tls_settings_refused(emu, body, word):
    r = emu.http("POST", "/_emulator/tls", body)
    assert r.status == 400, r
    assert word in r.body["error"]
    assert emu.tls_mode()["mode"] == "good"


def test_plain_emulator_has_no_tls_switch(plain):
    with pytest.raises(EmulatorError, match="409"):
        plain.tls_mode(mode="expired")
    assert plain.info["control_sni"] is None


def test_fault_chosen_at_start(tmp_path):
    with Emulator(tls=True, orgs="contoso", records={"accounts": 1, "contacts": 1},
                  extra_args=["--tls-fault", "expired", "--tls-stall-s", "2.5"], timeout=120) as e:
        st = e.tls_mode()
        assert (st["mode"], st["stall_s"]) == ("expired", 2.5)
        assert verify_error(e).verify_code == V_EXPIRED
        e.tls_mode(mode="good")
        handshake(e)
        assert e.tls_mode(reset=True)["mode"] == "expired"     # a reset goes back to the start-up mode


def test_tls_fault_needs_tls(tmp_path):
    with pytest.raises(EmulatorError, match="needs --tls"):
        Emulator(orgs="contoso", extra_args=["--tls-fault", "stall"], timeout=30).start()
