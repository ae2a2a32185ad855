"""On-premises Windows authentication: NTLM on the Web API of an --onprem org (reference 10.8)."""

import base64
import hashlib
import hmac
import http.client
import json
import os
import struct
import subprocess
import sys
import urllib.parse

import pytest

from lib.fixtures import emulator_fixture

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ntlm  # noqa: E402


emu = emulator_fixture(orgs="contoso,fabrikam", records={"accounts": 3, "contacts": 2},
                       seed=17, extra_args=["--onprem", "contoso"])


def curl(*args):
    p = subprocess.run(["curl", "-s", "-S", "--max-time", "20", *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout


def api(emu, org="contoso"):
    return emu.org(org)["api_url"]


def test_challenge_without_credentials(emu):
    r = emu.http("GET", api(emu) + "WhoAmI")
    assert r.status == 401, r
    assert r.headers.get_all("WWW-Authenticate") == ["Negotiate", "NTLM"], r.headers
    assert b"401 - Unauthorized" in r.raw
    # a bearer token is no use on a Windows-authenticated org
    tok = emu.api("fabrikam").token()
    r = emu.http("GET", api(emu) + "WhoAmI", headers={"Authorization": "Bearer " + tok})
    assert r.status == 401 and "NTLM" in r.headers.get_all("WWW-Authenticate"), r
    # the other org still uses bearer tokens
    assert emu.api("fabrikam").get("WhoAmI").status == 200


def test_emulator_json_credentials(emu):
    o = emu.org("contoso")
    assert o["onprem"] is True and emu.org("fabrikam")["onprem"] is False
    assert o["ntlm_domain"] == "CONTOSO" and o["ntlm_username"] == "admin" and o["ntlm_password"]


def test_curl_ntlm_one_handshake_per_connection(emu):
    o = emu.org("contoso")
    out = curl("--ntlm", "-u", "%s\\%s:%s" % (o["ntlm_domain"], o["ntlm_username"], o["ntlm_password"]),
               "-w", "\n%{http_code} %{num_connects}\n", api(emu) + "WhoAmI",
               api(emu) + "accounts?$select=name")
    lines = out.strip().split("\n")
    who = json.loads(lines[0])
    assert who["UserId"] == o["user_id"], who
    assert lines[1] == "200 1", lines
    assert lines[-1] == "200 0", lines          # second URL: same connection, no new handshake
    assert json.loads(lines[2])["value"], lines


@pytest.mark.parametrize("user", ["CONTOSO\\admin", "contoso.example\\Admin", "admin@contoso.example"])
def test_curl_user_forms(emu, user):
    o = emu.org("contoso")
    out = curl("--ntlm", "-u", "%s:%s" % (user, o["ntlm_password"]), "-o", "/dev/null", "-w", "%{http_code}",
               api(emu) + "WhoAmI")
    assert out == "200", (user, out)


@pytest.mark.parametrize("user,pw_ok", [("CONTOSO\\admin", False), ("CONTOSO\\someone", True),
                                        ("FABRIKAM\\admin", True)])
def test_curl_bad_credentials(emu, user, pw_ok):
    o = emu.org("contoso")
    pw = o["ntlm_password"] if pw_ok else "wrong-password"
    out = curl("--ntlm", "-u", "%s:%s" % (user, pw), "-o", "/dev/null", "-w", "%{http_code}", api(emu) + "WhoAmI")
    assert out == "401", (user, out)


def test_curl_post_through_handshake(emu):
    o = emu.org("contoso")
    out = curl("--ntlm", "-u", "CONTOSO\\admin:%s" % o["ntlm_password"], "-H", "Content-Type: application/json",
               "-H", "Prefer: return=representation", "-d", json.dumps({"name": "Via NTLM"}),
               "-w", "\n%{http_code}", api(emu) + "accounts")
    body, code = out.rsplit("\n", 1)
    assert code == "201", out
    rec = json.loads(body)
    assert rec["name"] == "Via NTLM" and rec["_createdby_value"] == o["user_id"], rec


# -- a small NTLMv2 client, to check the connection-scoped state exactly -------------------------

def type1():
    flags = ntlm.NEGOTIATE_UNICODE | ntlm.REQUEST_TARGET | ntlm.NEGOTIATE_NTLM | ntlm.NEGOTIATE_EXTENDED_SESSIONSECURITY
    return ntlm.SIGNATURE + struct.pack("<II", 1, flags) + b"\x00" * 16


def type3(chal_msg, user, domain, password, v1=False):
    server_challenge = chal_msg[24:32]
    ti_len, _, ti_off = struct.unpack("<HHI", chal_msg[40:48])
    target_info = chal_msg[ti_off:ti_off + ti_len]
    if v1:
        nt = b"\x11" * 24
    else:
        key = hmac.new(ntlm.nt_hash(password), (user.upper() + domain).encode("utf-16-le"), hashlib.md5).digest()
        blob = b"\x01\x01\x00\x00\x00\x00\x00\x00" + b"\x00" * 8 + os.urandom(8) + b"\x00" * 4 + target_info + \
            b"\x00" * 4
        nt = hmac.new(key, server_challenge + blob, hashlib.md5).digest() + blob
    lm = b"\x00" * 24
    fields = [lm, nt, domain.encode("utf-16-le"), user.encode("utf-16-le"), "WS".encode("utf-16-le"), b""]
    off = 64
    head, payload = b"", b""
    for f in fields:
        head += struct.pack("<HHI", len(f), len(f), off + len(payload))
        payload += f
    return ntlm.SIGNATURE + struct.pack("<I", 3) + head + struct.pack("<I", ntlm.NEGOTIATE_UNICODE) + payload


def conn_for(emu):
    u = urllib.parse.urlsplit(emu.base_url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=20)


def get(conn, path, auth=None):
    conn.request("GET", path, headers={"Authorization": auth} if auth else {})
    r = conn.getresponse()
    body = r.read()
    return r.status, r.getheader("WWW-Authenticate"), body


def handshake(emu, conn, password=None, user="admin", domain="CONTOSO", v1=False):
    o = emu.org("contoso")
    path = urllib.parse.urlsplit(api(emu)).path + "WhoAmI"
    st, www, _ = get(conn, path, "NTLM " + base64.b64encode(type1()).decode())
    assert st == 401 and www.startswith("NTLM "), (st, www)
    chal = base64.b64decode(www[5:])
    assert ntlm.message_type(chal) == 2
    msg = type3(chal, user, domain, password or o["ntlm_password"], v1=v1)
    return get(conn, path, "NTLM " + base64.b64encode(msg).decode()), path


def test_connection_scoped_authentication(emu):
    conn = conn_for(emu)
    try:
        (st, _, body), path = handshake(emu, conn)
        assert st == 200, body
        for _ in range(3):                         # later requests: no Authorization header at all
            st, _, body = get(conn, path)
            assert st == 200, body
    finally:
        conn.close()
    other = conn_for(emu)                          # a new connection is not authenticated
    try:
        st, www, _ = get(other, path)
        assert st == 401
    finally:
        other.close()


def test_type3_without_challenge_and_ntlmv1_refused(emu):
    conn = conn_for(emu)
    try:
        path = urllib.parse.urlsplit(api(emu)).path + "WhoAmI"
        fake = type3(b"\x00" * 48, "admin", "CONTOSO", "x")
        st, _, _ = get(conn, path, "NTLM " + base64.b64encode(fake).decode())
        assert st == 401
        (st, _, _), _ = handshake(emu, conn, v1=True)
        assert st == 401
        (st, _, _), _ = handshake(emu, conn, password="wrong")
        assert st == 401
        st, _, _ = get(conn, path)                # failed handshakes leave the connection unauthenticated
        assert st == 401
        (st, _, _), _ = handshake(emu, conn)      # ... and a new handshake on it works
        assert st == 200
    finally:
        conn.close()


def test_onprem_control(emu):
    assert emu.api("fabrikam").get("WhoAmI").status == 200
    emu.control_post("fabrikam", "onprem", {"enabled": True})
    try:
        r = emu.api("fabrikam").get("WhoAmI")
        assert r.status == 401 and r.headers.get_all("WWW-Authenticate") == ["Negotiate", "NTLM"], r
    finally:
        emu.control_post("fabrikam", "onprem", {"enabled": False})
    assert emu.api("fabrikam").get("WhoAmI").status == 200


def test_md4_vectors():
    assert ntlm.md4(b"").hex() == "31d6cfe0d16ae931b73c59d7e0c089c0"
    assert ntlm.md4(b"abc").hex() == "a448017aaf21d8525fc10ae87aa6729d"
    assert ntlm.nt_hash("Password").hex() == "a4f49c406510bdcab6824ee7c30fd852"
