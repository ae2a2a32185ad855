"""Every way a tenant can be granted access, end to end: configure the flow, (sign in,)
mount, read a record through the mount.  The daemon runs with -d so the log has every
line it can write, and no secret may appear in it.

NTLM/Negotiate: the emulator has no Windows authentication, so a small local server
answers the challenge and records what libcurl sent (the wiring, not a real handshake).
"""

import base64
import http.server
import json
import os
import re
import signal
import stat
import threading
import time

import pytest

from lib.auth import (assert_no_secrets, browser_login, config, device_login, first_record,
                      org_secrets, read_store, tenant, unlisted_paths, write_private, write_store)
from lib.crypto import make_certificate
from lib.fixtures import emulator_fixture
from lib.mount import lazy_unmount, run_dynfs, stats_delta


aemu = emulator_fixture(orgs="contoso,fabrikam", records={"accounts": 12, "contacts": 12}, seed=4)


@pytest.fixture
def clean(aemu):
    """Faults and device-code interval reset around each test."""
    aemu.faults(reset=True, device_interval=1)
    try:
        yield aemu
    finally:
        aemu.clear_faults()


def mount_and_read(mount_factory, emu, cfg, org="contoso", env=None, secrets=()):
    m = mount_factory(cfg, extra_args=["-d"], env=env, emu=emu)
    assert first_record(m.path, org).startswith(b"{\n")
    assert_no_secrets(m.log_text(), list(secrets) + org_secrets(emu), "daemon log " + m.log_path)
    with open("/proc/%d/cmdline" % m.proc.pid, "rb") as f:
        assert_no_secrets(f.read().decode("utf-8", "replace"), list(secrets) + org_secrets(emu),
                          "command line")
    return m


def check(dynfs_bin, cfg, env=None):
    r = run_dynfs(dynfs_bin, ["--check", "-c", cfg], timeout=60, env=env)
    assert not r.sanitizer, r.stderr
    return r


# ---------------------------------------------------------------- client credentials

def test_secret_inline(clean, mount_factory, tmp_path):
    o = clean.org("contoso")
    cfg = config(str(tmp_path / "c.ini"), {
        "contoso": tenant(clean, "contoso", client_secret_file=None, client_secret=o["client_secret"])})
    mount_and_read(mount_factory, clean, cfg)


def test_secret_env(clean, mount_factory, tmp_path):
    o = clean.org("contoso")
    cfg = config(str(tmp_path / "c.ini"), {
        "contoso": tenant(clean, "contoso", client_secret_file=None, client_secret_env="CONTOSO_SECRET")})
    mount_and_read(mount_factory, clean, cfg, env={"CONTOSO_SECRET": o["client_secret"]})


def test_secret_command(clean, mount_factory, tmp_path):
    o = clean.org("contoso")
    # the first line of the output is the secret; more lines follow
    script = write_private(str(tmp_path / "get-secret"),
                           "#!/bin/sh\nprintf '%%s\\nsecond line\\n' \"$(cat '%s')\"\n"
                           % o["client_secret_file"])
    os.chmod(script, 0o700)
    cfg = config(str(tmp_path / "c.ini"), {
        "contoso": tenant(clean, "contoso", client_secret_file=None,
                          client_secret_command="%s --for 'contoso tenant'" % script)})
    mount_and_read(mount_factory, clean, cfg)


def test_certificate(clean, mount_factory, tmp_path, dynfs_bin):
    cert = make_certificate(str(tmp_path), "dynfs-app")
    sec = tenant(clean, "contoso", client_secret_file=None, certificate_file=cert["cert_path"],
                 private_key_file=cert["key_path"])
    cfg = config(str(tmp_path / "c.ini"), {"contoso": sec})
    # not registered yet: refused, with the fix
    r = check(dynfs_bin, cfg)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "AADSTS700027" in r.stdout and "upload certificate_file" in r.stdout, r.stdout
    clean.add_certificate("contoso", cert["cert_pem"])
    try:
        m = mount_and_read(mount_factory, clean, cfg, secrets=[cert["key_pem"].splitlines()[1]])
        assert "new access token" in m.log_text()
    finally:
        clean.remove_certificates("contoso")


def test_certificate_wrong_key(clean, tmp_path, dynfs_bin):
    a = make_certificate(str(tmp_path), "a")
    b = make_certificate(str(tmp_path), "b")
    cfg = config(str(tmp_path / "c.ini"), {"contoso": tenant(
        clean, "contoso", client_secret_file=None, certificate_file=a["cert_path"],
        private_key_file=b["key_path"])})
    r = check(dynfs_bin, cfg)
    assert r.returncode == 2
    assert re.search(r"contoso: FAILED: private_key_file: '.*b\.key' is not the key of "
                     r"certificate '.*a\.pem'", r.stdout), r.stdout


def test_authority_host_url(clean, tmp_path, dynfs_bin):
    """No token_url: it is built from authority_host (a full URL here) and tenant_id."""
    cfg = config(str(tmp_path / "c.ini"), {
        "contoso": tenant(clean, "contoso", token_url=None, authority_host=clean.base_url)})
    r = check(dynfs_bin, cfg)
    assert r.returncode == 0 and "contoso: ok" in r.stdout, r.stdout + r.stderr


# ---------------------------------------------------------------- refresh token

def test_refresh_token_store_rotates(clean, mount_factory, tmp_path):
    store = str(tmp_path / "state" / "contoso.token")
    os.makedirs(os.path.dirname(store), mode=0o700)
    first = clean.control_post("contoso", "issue-refresh-token")["refresh_token"]
    write_store(store, first)
    cfg = config(str(tmp_path / "c.ini"), {
        "contoso": tenant(clean, "contoso", "refresh_token", token_store=store)})
    m = mount_and_read(mount_factory, clean, cfg, secrets=[first])
    rotated = read_store(store)
    assert rotated != first, "the refresh token was not rotated into the store"
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o600
    assert not [f for f in os.listdir(os.path.dirname(store)) if f != "contoso.token"], \
        "temporary files left next to the store"
    m.stop()
    assert_no_secrets(m.log_text(), [rotated], "daemon log")


def test_default_token_store_under_xdg_state_home(clean, mount_factory, tmp_path):
    state = tmp_path / "xdg-state"
    env = {"XDG_STATE_HOME": str(state)}
    cfg = config(str(tmp_path / "c.ini"), {"work": tenant(clean, "contoso", "refresh_token")})
    r = run_dynfs(mount_factory.dynfs_bin, ["--check", "-c", cfg], env=env)
    assert r.returncode == 2, r.stdout
    assert "no refresh token yet" in r.stdout and "dynfs login" in r.stdout, r.stdout
    store = state / "dynfs" / "work.token"
    write_store(str(store), clean.control_post("contoso", "issue-refresh-token")["refresh_token"])
    m = mount_factory(cfg, env=env, emu=clean)
    assert first_record(m.path, "work").startswith(b"{")


def test_group_readable_store_refused(clean, tmp_path, dynfs_bin):
    store = str(tmp_path / "t.token")
    write_store(store, clean.control_post("contoso", "issue-refresh-token")["refresh_token"])
    os.chmod(store, 0o640)
    cfg = config(str(tmp_path / "c.ini"), {
        "contoso": tenant(clean, "contoso", "refresh_token", token_store=store)})
    r = check(dynfs_bin, cfg)
    assert r.returncode == 2 and "chmod 600" in r.stdout, r.stdout


@pytest.mark.allow_dead_mount
def test_kill_after_rotation_keeps_new_refresh_token(clean, mount_factory, tmp_path):
    """kill -9 right after a rotation: the next start uses the rotated token (the one it
    used before stops working at once: no grace period)."""
    clean.faults(token_lifetime=2, refresh_grace=0, device_interval=1)
    store = str(tmp_path / "contoso.token")
    write_store(store, clean.control_post("contoso", "issue-refresh-token")["refresh_token"])
    cfg = config(str(tmp_path / "c.ini"), {
        "contoso": tenant(clean, "contoso", "refresh_token", token_store=store)}, cache_ttl=0)
    m = mount_factory(cfg, emu=clean)
    paths = unlisted_paths(clean, m.path, "contoso", 12)
    before = read_store(store)
    deadline = time.monotonic() + 20
    i = 0
    while read_store(store) == before and time.monotonic() < deadline:
        with open(paths[i % len(paths)], "rb") as f:      # keeps the token in use
            f.read()
        i += 1
    rotated = read_store(store)
    assert rotated != before, "no rotation within 20 s"
    os.kill(m.proc.pid, signal.SIGKILL)
    m.proc.wait(10)
    lazy_unmount(m.path)
    m.force_stop()
    # the token the killed daemon redeemed is dead; only the stored one can work
    o = clean.org("contoso")
    r = clean.http("POST", o["token_url"], "grant_type=refresh_token&client_id=%s&refresh_token=%s"
                   % (o["public_client_id"], before),
                   {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 400 and "AADSTS70008" in json.dumps(r.body), r
    m2 = mount_factory(cfg, emu=clean)
    assert first_record(m2.path, "contoso").startswith(b"{")


# ---------------------------------------------------------------- dynfs login

def rt_config(emu, tmp_path, **keys):
    store = str(tmp_path / "login" / "contoso.token")
    return config(str(tmp_path / "c.ini"), {
        "contoso": tenant(emu, "contoso", "refresh_token", token_store=store, **keys)}), store


def test_login_device_code_then_mount(clean, mount_factory, tmp_path, dynfs_bin):
    cfg, store = rt_config(clean, tmp_path)
    status, text = device_login(dynfs_bin, clean, cfg, "contoso", "contoso")
    assert status == 0, text
    assert "microsoft.com/devicelogin" in text and "refresh token saved in %s" % store in text, text
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(store)).st_mode) == 0o700
    assert_no_secrets(text, [read_store(store)], "login output")
    mount_and_read(mount_factory, clean, cfg, secrets=[read_store(store)])


def test_login_device_code_declined(clean, tmp_path, dynfs_bin):
    cfg, store = rt_config(clean, tmp_path)
    status, text = device_login(dynfs_bin, clean, cfg, "contoso", "contoso", approve=False)
    assert status == 2, text
    assert "sign-in declined" in text and "dynfs login contoso" in text, text
    assert not os.path.exists(store)


def test_login_browser_then_mount(clean, mount_factory, tmp_path, dynfs_bin):
    cfg, store = rt_config(clean, tmp_path)
    status, text, cb = browser_login(dynfs_bin, clean, cfg, "contoso")
    assert status == 0, text
    assert cb.status == 200 and b"Signed in" in cb.raw, cb
    assert "code_challenge_method=S256" in text and "state=" in text
    mount_and_read(mount_factory, clean, cfg, secrets=[read_store(store)])


def test_login_browser_fixed_port(clean, tmp_path, dynfs_bin):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg, _ = rt_config(clean, tmp_path, redirect_port=port)
    status, text, _ = browser_login(dynfs_bin, clean, cfg, "contoso")
    assert status == 0, text
    assert "redirect_uri=http%%3A%%2F%%2F127.0.0.1%%3A%d%%2F" % port in text, text


def test_login_browser_error_callback(clean, tmp_path, dynfs_bin):
    cfg, store = rt_config(clean, tmp_path)
    clean.authorize_outcome("contoso", "access_denied", "The user cancelled the sign-in.")
    status, text, cb = browser_login(dynfs_bin, clean, cfg, "contoso")
    assert status == 2, text
    assert cb.status == 400
    assert re.search(r"contoso: sign-in failed: access_denied: The user cancelled", text), text
    assert not os.path.exists(store)


def test_login_browser_wrong_state(clean, tmp_path, dynfs_bin):
    cfg, store = rt_config(clean, tmp_path)
    status, text, cb = browser_login(dynfs_bin, clean, cfg, "contoso",
                                     tamper=lambda loc: re.sub(r"state=[^&]+", "state=forged", loc))
    assert status == 2 and cb.status == 400, text
    assert "wrong state" in text, text
    assert not os.path.exists(store)


def test_login_needs_refresh_token_tenant(clean, tmp_path, dynfs_bin):
    cfg = config(str(tmp_path / "c.ini"), {"contoso": tenant(clean, "contoso")})
    r = run_dynfs(dynfs_bin, ["login", "-c", cfg, "contoso"])
    assert r.returncode == 1 and "auth = refresh_token" in r.stderr, r.stderr
    r = run_dynfs(dynfs_bin, ["login", "-c", cfg, "nosuch"])
    assert r.returncode == 1 and "no tenant [nosuch]" in r.stderr, r.stderr


# ---------------------------------------------------------------- password (ROPC, AD FS)

def test_password_ropc(clean, mount_factory, tmp_path):
    o = clean.org("contoso")
    pw = write_private(str(tmp_path / "pw"), o["password"] + "\n")
    cfg = config(str(tmp_path / "c.ini"), {
        "contoso": tenant(clean, "contoso", "password", password_file=pw)})
    mount_and_read(mount_factory, clean, cfg)


def test_password_adfs_resource(clean, mount_factory, tmp_path):
    o = clean.org("contoso")
    cfg = config(str(tmp_path / "c.ini"), {
        "contoso": tenant(clean, "contoso", "password", token_url=o["adfs_token_url"],
                          resource=o["adfs_resource"], password_env="ADFS_PASSWORD")})
    d = stats_delta(clean, lambda: mount_and_read(mount_factory, clean, cfg,
                                                  env={"ADFS_PASSWORD": o["password"]}))
    log = d.result.log_text()
    # one token, from AD FS (its access tokens live an hour; Entra's 3599 s), at the first try
    assert "contoso: new access token, valid for 3600 s" in log, log
    assert d["token"] == 1, d
    assert [s for s in d.status if d.status[s] and not s.startswith("2")] == [], d
    bad = [line for line in log.splitlines()
           if re.search(r"cannot get a token|refused|token request|MSIS\d+", line)]
    assert not bad, "token trouble in the daemon log:\n" + "\n".join(bad)


def test_password_wrong(clean, tmp_path, dynfs_bin):
    pw = write_private(str(tmp_path / "pw"), "not-the-password\n")
    cfg = config(str(tmp_path / "c.ini"), {
        "contoso": tenant(clean, "contoso", "password", password_file=pw)})
    r = check(dynfs_bin, cfg)
    assert r.returncode == 2
    assert "AADSTS50126" in r.stdout and "wrong username or password" in r.stdout, r.stdout
    assert "not-the-password" not in r.stdout + r.stderr


# ---------------------------------------------------------------- NTLM / Negotiate wiring

def _ntlm_type2():
    """A minimal NTLM challenge (type-2 message): no target name, no target info."""
    import struct
    flags = 0x00000001 | 0x00000200 | 0x00008000      # unicode, NTLM, always sign
    return base64.b64encode(b"NTLMSSP\x00" + struct.pack("<I", 2) + struct.pack("<HHI", 0, 0, 48)
                            + struct.pack("<I", flags) + b"\x01\x23\x45\x67\x89\xab\xcd\xef"
                            + b"\x00" * 8 + struct.pack("<HHI", 0, 0, 48)).decode()


class _Challenger(http.server.BaseHTTPRequestHandler):
    """A Windows-authentication endpoint that never lets anyone in: 401 with the scheme's
    challenge (for NTLM a type-2 message in answer to a type-1, as IIS does, on the same
    kept-alive connection); records every Authorization header."""

    protocol_version = "HTTP/1.1"
    seen = []
    scheme = "NTLM"

    def do_GET(self):
        auth = self.headers.get("Authorization")
        type(self).seen.append(auth)
        challenge = self.scheme
        if auth and auth.startswith("NTLM TlRMTVNTUAAB"):
            challenge = "NTLM " + _ntlm_type2()
        body = b'{"error":{"code":"0x80090302","message":"Unauthorized"}}'
        self.send_response(401)
        self.send_header("WWW-Authenticate", challenge)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.mark.parametrize("scheme", ["ntlm", "negotiate"])
def test_windows_auth_wiring(tmp_path, dynfs_bin, scheme):
    handler = type("H", (_Challenger,), {"seen": [], "scheme": "NTLM" if scheme == "ntlm" else "Negotiate"})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        pw = write_private(str(tmp_path / "pw"), "Winter2024!\n")
        cfg = config(str(tmp_path / "c.ini"), {"onprem": {
            "url": "http://127.0.0.1:%d/org" % srv.server_address[1], "auth": scheme,
            "username": "CONTOSO\\svc-dynfs", "password_file": pw}})
        r = check(dynfs_bin, cfg)
    finally:
        srv.shutdown()
        srv.server_close()
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout.startswith("onprem: FAILED:"), r.stdout
    assert "Winter2024!" not in r.stdout + r.stderr
    assert not any(h and h.startswith("Bearer") for h in handler.seen), handler.seen
    if scheme == "ntlm":
        # libcurl opened with a type-1 message and answered the challenge with a type-3
        # message carrying the configured user (UTF-16LE), never the password itself
        assert any(h and h.startswith("NTLM TlRMTVNTUAAB") for h in handler.seen), handler.seen
        type3 = [base64.b64decode(h[5:]) for h in handler.seen if h and h.startswith("NTLM TlRMTVNTUAAD")]
        assert type3, handler.seen
        assert "svc-dynfs".encode("utf-16-le") in type3[0], type3[0]
        assert b"Winter2024" not in type3[0] and "Winter2024".encode("utf-16-le") not in type3[0]


def test_login_device_code_slow_down_then_expired(clean, tmp_path, dynfs_bin):
    """The emulator asks the first poll to slow down (interval 1 s + 5 s) and the code
    expires after 5 s: dynfs waits the longer interval, polls once more, and stops with the
    expiry explained; nothing is stored."""
    cfg, store = rt_config(clean, tmp_path)
    clean.faults(device_interval=1, device_slow_down=1, device_expires_in=5)
    t0 = time.monotonic()
    d = stats_delta(clean, lambda: run_dynfs(dynfs_bin, ["login", "-c", cfg, "contoso"], timeout=60))
    elapsed = time.monotonic() - t0
    r = d.result
    assert r.returncode == 2, r.stderr
    assert "microsoft.com/devicelogin" in r.stderr, r.stderr
    assert "the code expired before the sign-in was finished" in r.stderr, r.stderr
    # the device code request and two polls: at 1 s (slow_down), then 6 s later (expired)
    assert d["token"] == 3, d
    assert elapsed >= 6.5, "the poll after slow_down did not wait the longer interval (%.1f s)" % elapsed
    assert not os.path.exists(store)


# ---------------------------------------------------------------- NTLM against the emulator

@pytest.fixture
def onprem(clean):
    clean.control_post("contoso", "onprem", {"enabled": True})
    try:
        yield clean
    finally:
        clean.control_post("contoso", "onprem", {"enabled": False})


def ntlm_tenant(emu, tmp_path, password):
    o = emu.org("contoso")
    pw = write_private(str(tmp_path / "ntlm.pw"), password + "\n")
    return {"url": o["url"].rstrip("/"), "auth": "ntlm",
            "username": "%s\\%s" % (o["ntlm_domain"], o["ntlm_username"]), "password_file": pw}


def test_ntlm_through_the_mount(onprem, mount_factory, tmp_path):
    o = onprem.org("contoso")
    cfg = config(str(tmp_path / "c.ini"), {"contoso": ntlm_tenant(onprem, tmp_path, o["ntlm_password"]),
                                           "fabrikam": tenant(onprem, "fabrikam")}, cache_ttl=0)
    m = mount_and_read(mount_factory, onprem, cfg, secrets=[o["ntlm_password"]])
    # many requests, several connections: each one does its own handshake
    for p in unlisted_paths(onprem, m.path, "contoso", 12):
        with open(p, "rb") as f:
            assert f.read(1) == b"{"
    assert first_record(m.path, "fabrikam").startswith(b"{")
    d = stats_delta(onprem, lambda: first_record(m.path, "contoso"))
    assert d["token"] == 0, d


def test_ntlm_wrong_password(onprem, tmp_path, dynfs_bin):
    cfg = config(str(tmp_path / "c.ini"), {"contoso": ntlm_tenant(onprem, tmp_path, "Wrong-Pass1")})
    r = check(dynfs_bin, cfg)
    print(r.stdout)
    assert r.returncode == 2, r.stdout
    assert r.stdout.startswith("contoso: FAILED: HTTP 401: the server refused the Windows "
                               "credentials - check username"), r.stdout
    assert "Wrong-Pass1" not in r.stdout + r.stderr
