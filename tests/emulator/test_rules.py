"""Targeted faults (/_emulator/rules, faultrules.py): each way of failing on its own.

Every test checks what arrives on the wire (a raw socket where the HTTP client would hide
it) and whether the request was carried out (the record on the server).
"""

import http.client
import json
import socket
import time
import uuid

import pytest

from lib.client import EmulatorError
from lib.fixtures import emulator_fixture, faults_cleared

ORG = "contoso"

emu = emulator_fixture(orgs=ORG, records={"accounts": 60, "contacts": 2}, seed=23)


clean = faults_cleared("emu")


@pytest.fixture
def rid(emu, _ids):
    return next(_ids)


@pytest.fixture(scope="module")
def _ids(emu):
    return iter([r["accountid"] for r in emu.records(ORG, "accounts")])


def api_path(emu, rest):
    return "/%s/api/data/v9.2/%s" % (ORG, rest)


def raw(emu, api, method, rest, body=None, headers=None, timeout=10.0, path=None):
    """One request on a fresh socket.  Returns (bytes received, the error that ended the
    read or None, seconds taken)."""
    host, port = emu.base_url.split("://", 1)[1].split(":")
    data = json.dumps(body).encode() if body is not None else b""
    hdrs = {"Host": "%s:%s" % (host, port), "Accept": "application/json",
            "Authorization": "Bearer " + api.token(), "Content-Length": str(len(data))}
    if body is not None:
        hdrs["Content-Type"] = "application/json"
    hdrs.update(headers or {})
    req = "%s %s HTTP/1.1\r\n" % (method, path or api_path(emu, rest))
    req += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
    s = socket.create_connection((host, int(port)), timeout=timeout)
    got, err = b"", None
    t0 = time.monotonic()
    try:
        s.sendall(req.encode() + data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except OSError as e:
        err = e
    finally:
        s.close()
    return got, err, time.monotonic() - t0


def split(got):
    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else None
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def name_of(emu, rid):
    return emu.record(ORG, "accounts", rid)["name"]


def patch(api, rid, name, **kw):
    return api.patch("accounts(%s)" % rid, {"name": name}, headers={"If-Match": "*"}, **kw)


# --------------------------------------------------------------------------- the control surface

@pytest.mark.parametrize("spec", [
    {"no_such_key": 1}, {"path": "("}, {"deliver": "explode"}, {"count": -1}, {"every": 0},
    {"status": 42}, {"body": "x", "json": {}}, {"headers": {"X": "a\r\nb"}}, {"apply": "yes"},
])
def test_bad_rules_refused(emu, spec):
    r = emu.http("POST", "/_emulator/rules", spec)
    assert r.status == 400, r
    assert emu.rules() == []


def test_rules_listed_counted_and_deleted(emu, api):
    a = emu.rule(method="GET", path=r"WhoAmI", status=503)
    b = emu.rule(method="POST", path=r"nothing-matches-this")
    assert a["id"] != b["id"] and a["fired"] == 0 and a["active"]
    assert api.get("WhoAmI").status == 503
    assert api.get("WhoAmI").status == 200
    state = emu.rule_state(a["id"])
    assert (state["matched"], state["fired"], state["active"]) == (2, 1, False), state
    assert len(emu.rules()) == 2
    emu.clear_rules(b["id"])
    assert [r["id"] for r in emu.rules()] == [a["id"]]
    assert emu.http("DELETE", "/_emulator/rules/%d" % b["id"]).status == 404
    emu.clear_faults()                       # a full reset ends the rules too
    assert emu.rules() == []


def test_one_shot_by_method_and_path(emu, api, rid):
    emu.rule(method="PATCH", path=r"accounts\(%s\)" % rid, status=503)
    other = emu.records(ORG, "accounts")[-1]["accountid"]
    assert api.get("accounts(%s)" % rid).status == 200          # another method
    assert patch(api, other, "not this one").status == 204       # another path
    assert patch(api, rid, "first").status == 503
    assert name_of(emu, rid) != "first"                          # not carried out
    assert patch(api, rid, "second").status == 204               # one-shot
    assert name_of(emu, rid) == "second"


def test_every_nth_after_and_count(emu, api):
    emu.rule(method="GET", path=r"/WhoAmI$", every=3, after=1, count=2, status=502)
    got = [api.get("WhoAmI").status for _ in range(10)]
    # after 1 request, every 3rd of the rest fires, twice: requests 4 and 7
    assert got == [200, 200, 200, 502, 200, 200, 502, 200, 200, 200], got


def test_stats_count_spoilt_requests(emu, api, rid):
    api.token()
    emu.reset_stats()
    emu.rule(method="GET", path=r"accounts\(", status=503)
    emu.rule(method="GET", path=r"accounts\(", deliver="reset")
    assert api.get("accounts(%s)" % rid).status == 503
    with pytest.raises(OSError):
        api.get("accounts(%s)" % rid)
    s = emu.stats()
    assert s["by_kind"]["get"] == 2 and s["by_status"].get("503") == 1, s
    assert s["by_status"].get("dropped") == 1, s


# --------------------------------------------------------------------------- the ways of failing

def test_applied_then_reply_lost(emu, api, rid):
    w0 = emu.writes(ORG, "accounts", rid)
    emu.rule(method="PATCH", path=r"accounts\(", apply=True, deliver="reset")
    got, err, _ = raw(emu, api, "PATCH", "accounts(%s)" % rid, {"name": "landed, reply lost"},
                      {"If-Match": "*"})
    assert got == b"" and isinstance(err, ConnectionResetError), (got, err)
    assert name_of(emu, rid) == "landed, reply lost"            # carried out
    assert emu.writes(ORG, "accounts", rid) == w0 + 1


def test_reset_before_carried_out(emu, api, rid):
    before = name_of(emu, rid)
    w0 = emu.writes(ORG, "accounts", rid)
    emu.rule(method="PATCH", deliver="reset")
    got, err, _ = raw(emu, api, "PATCH", "accounts(%s)" % rid, {"name": "never"}, {"If-Match": "*"})
    assert got == b"" and isinstance(err, ConnectionResetError), (got, err)
    assert name_of(emu, rid) == before
    assert emu.writes(ORG, "accounts", rid) == w0


def test_closed_without_answer(emu, api, rid):
    emu.rule(method="GET", path=r"accounts\(", deliver="close")
    got, err, _ = raw(emu, api, "GET", "accounts(%s)" % rid)
    assert got == b"" and err is None, (got, err)


def test_non_json_2xx_from_a_login_portal(emu, api, rid):
    before = name_of(emu, rid)
    emu.rule(method="PATCH", path=r"accounts\(")                 # default: 200 + an HTML page
    r = patch(api, rid, "swallowed by the portal", representation=True)
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/html"), r
    assert b"<html>" in r.raw.lower()
    assert name_of(emu, rid) == before                          # nothing reached the server


def test_applied_with_non_json_answer(emu, api, rid):
    emu.rule(method="PATCH", apply=True, body="<html><body>Thanks!</body></html>")
    r = patch(api, rid, "landed, answer mangled", representation=True)
    assert r.status == 200 and r.raw == b"<html><body>Thanks!</body></html>", r
    assert r.headers["Content-Type"].startswith("text/html")
    assert name_of(emu, rid) == "landed, answer mangled"


@pytest.mark.parametrize("status", [201, 204, 400, 404, 412, 500])
def test_non_json_body_any_status(emu, api, rid, status):
    emu.rule(method="GET", path=r"accounts\(", status=status, body="Service says no",
             content_type="text/plain")
    got, err, _ = raw(emu, api, "GET", "accounts(%s)" % rid)
    st, hdrs, body = split(got)
    assert st == status and hdrs["content-type"] == "text/plain" and body == b"Service says no"


def test_json_body_of_the_rules_choice(emu, api):
    emu.rule(method="GET", path="WhoAmI", status=200, json={"unexpected": True})
    r = api.get("WhoAmI")
    assert r.status == 200 and r.body == {"unexpected": True}, r


def test_truncated_body(emu, api, rid):
    emu.rule(method="GET", path=r"accounts\(", apply=True, deliver="truncate", bytes=40)
    got, err, _ = raw(emu, api, "GET", "accounts(%s)" % rid)
    st, hdrs, body = split(got)
    assert st == 200 and err is None
    assert len(body) == 40 and int(hdrs["content-length"]) > 40, (len(body), hdrs)


def test_reset_mid_body(emu, api, rid):
    emu.rule(method="GET", path=r"accounts\(", apply=True, deliver="truncate", bytes=25,
             then="reset")
    got, err, _ = raw(emu, api, "GET", "accounts(%s)" % rid)
    st, hdrs, body = split(got)
    assert st == 200 and int(hdrs["content-length"]) > 25
    assert len(body) <= 25 and isinstance(err, ConnectionResetError), (len(body), err)


def test_stall_mid_body(emu, api, rid):
    emu.rule(method="GET", path=r"accounts\(", apply=True, deliver="stall", bytes=30, seconds=1.5)
    got, err, dt = raw(emu, api, "GET", "accounts(%s)" % rid)
    st, hdrs, body = split(got)
    assert st == 200 and len(body) == 30 and err is None
    assert 1.4 <= dt < 5, dt
    # a client that gives up first sees a timeout
    emu.rule(method="GET", path=r"accounts\(", apply=True, deliver="stall", bytes=30, seconds=30)
    got, err, dt = raw(emu, api, "GET", "accounts(%s)" % rid, timeout=0.5)
    assert isinstance(err, socket.timeout) and dt < 3, (err, dt)


def test_deleting_a_rule_ends_its_stall(emu, api, rid):
    emu.rule(method="GET", path=r"accounts\(", apply=True, deliver="stall", bytes=10, seconds=60)
    out = {}

    import threading
    t = threading.Thread(target=lambda: out.update(r=raw(emu, api, "GET", "accounts(%s)" % rid)))
    t.start()
    time.sleep(0.5)
    emu.clear_rules()
    t.join(10)
    assert not t.is_alive()
    got, err, dt = out["r"]
    assert dt < 5 and len(split(got)[2]) == 10, (dt, got)


def test_trickle(emu, api, rid):
    full = api.get("accounts(%s)" % rid).raw
    emu.rule(method="GET", path=r"accounts\(", apply=True, deliver="trickle",
             chunk=max(1, len(full) // 5 + 1), interval_ms=200)
    t0 = time.monotonic()
    r = api.get("accounts(%s)" % rid)
    dt = time.monotonic() - t0
    assert r.status == 200 and r.body["accountid"] == rid
    assert 0.75 <= dt < 5, dt


def test_huge_body(emu, api):
    emu.rule(method="GET", path="WhoAmI", size=5 * 1000 * 1000, content_type="text/plain")
    r = api.get("WhoAmI")
    assert r.status == 200 and len(r.raw) == 5 * 1000 * 1000


def test_huge_real_body(emu, api, rid):
    emu.rule(method="GET", path=r"accounts\(", apply=True, size=3 * 1000 * 1000)
    r = api.get("accounts(%s)" % rid)
    assert r.status == 200 and len(r.raw) == 3 * 1000 * 1000
    assert r.raw.startswith(b"{")                                  # the real answer, repeated


@pytest.mark.parametrize("delta", [+50, -10])
def test_wrong_content_length(emu, api, rid, delta):
    full = api.get("accounts(%s)" % rid).raw
    emu.rule(method="GET", path=r"accounts\(", apply=True, content_length=len(full) + delta)
    got, err, _ = raw(emu, api, "GET", "accounts(%s)" % rid)
    st, hdrs, body = split(got)
    assert int(hdrs["content-length"]) == len(full) + delta
    assert body == full and err is None                            # then the connection closes
    emu.rule(method="GET", path=r"accounts\(", apply=True, content_length=len(full) + delta)
    if delta > 0:
        with pytest.raises(http.client.IncompleteRead):
            api.get("accounts(%s)" % rid)


def test_token_endpoint_down_on_its_own(emu, api, rid):
    tok = api.token()
    emu.rule(path=r"/oauth2/v2\.0/token$", count=0, status=503,
             body="<html><body>Service Unavailable</body></html>")
    r = api.token_request({"grant_type": "client_credentials", "client_id": api.client_id,
                           "client_secret": api.client_secret, "scope": api.scope})
    assert r.status == 503 and b"Service Unavailable" in r.raw
    assert api.get("accounts(%s)" % rid, token=tok).status == 200   # the Web API is up
    assert emu.rules()[0]["fired"] == 1


def test_accepted_then_silent(emu, api):
    emu.rule(method="GET", path="WhoAmI", deliver="silent", seconds=1.0)
    got, err, dt = raw(emu, api, "GET", "WhoAmI", timeout=0.4)
    assert got == b"" and isinstance(err, socket.timeout), (got, err)
    emu.rule(method="GET", path="WhoAmI", deliver="silent", seconds=1.0)
    got, err, dt = raw(emu, api, "GET", "WhoAmI", timeout=10)
    assert got == b"" and err is None and 0.9 <= dt < 5, (got, err, dt)


def test_503_with_retry_after(emu, api, rid):
    emu.rule(method="PATCH", status=503, headers={"Retry-After": 30})
    r = patch(api, rid, "later")
    assert r.status == 503 and r.headers["Retry-After"] == "30", r
    assert r.headers["Content-Type"].startswith("text/html")


def test_redirect(emu, api):
    emu.rule(method="GET", path="WhoAmI", status=302,
             headers={"Location": "https://login.example.com/sso?return=%2F"}, body="")
    r = api.get("WhoAmI")
    assert r.status == 302 and r.headers["Location"] == "https://login.example.com/sso?return=%2F"


def test_sustained_401(emu, api, rid):
    emu.rule(path=r"/api/data/", count=0, status=401, body="",
             headers={"WWW-Authenticate": "Bearer authorization_uri=https://login.example.com"})
    for _ in range(4):
        assert api.get("accounts(%s)" % rid).status == 401
    emu.clear_rules()
    assert api.get("accounts(%s)" % rid).status == 200


def test_delay(emu, api):
    emu.rule(method="GET", path="WhoAmI", apply=True, delay_ms=800)
    t0 = time.monotonic()
    assert api.get("WhoAmI").status == 200
    assert time.monotonic() - t0 >= 0.8


def test_applied_create_reply_lost_then_retry_is_412(emu, api):
    """What an upsert that must not overwrite (If-None-Match: *) meets when it is resent after
    its reply was lost: the record is there, 412."""
    new = str(uuid.uuid4())
    emu.rule(method="PATCH", apply=True, deliver="reset")
    with pytest.raises(OSError):
        api.patch("accounts(%s)" % new, {"name": "created once"}, headers={"If-None-Match": "*"})
    assert name_of(emu, new) == "created once"
    r = api.patch("accounts(%s)" % new, {"name": "created once"}, headers={"If-None-Match": "*"})
    assert r.status == 412, r


def test_control_client_raises_on_refusal(emu):
    with pytest.raises(EmulatorError):
        emu.rule(deliver="nope")


def test_probability_is_repeatable(emu, api):
    def run():
        emu.clear_rules()
        emu.rule(method="GET", path=r"/WhoAmI$", probability=0.3, seed=7, count=0, status=503)
        return [api.get("WhoAmI").status for _ in range(40)]
    first, second = run(), run()
    assert first == second, "the same seed must strike the same requests"
    assert 3 <= first.count(503) <= 25, first


def test_history_counts_each_write(emu, api, rid):
    before = emu.history(ORG, "accounts", rid, "name")
    patch(api, rid, "one")
    emu.rule(method="PATCH", apply=True, deliver="reset")
    with pytest.raises(OSError):
        patch(api, rid, "two")
    patch(api, rid, "two")                       # a blind resend applies it again
    assert emu.history(ORG, "accounts", rid, "name") == before + ["one", "two", "two"]
    assert emu.writes(ORG, "accounts", rid) == len(before) + 3
