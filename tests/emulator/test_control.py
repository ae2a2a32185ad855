"""Emulator control plane: /_emulator/stats, /_emulator/faults, latency, record cost."""

import threading
import time
import uuid

import pytest

from lib.emuproc import Emulator
from lib.fixtures import emulator_fixture, faults_cleared
from lib.multipart import batch_body

KINDS = ("token", "metadata", "list", "get", "create", "update", "upsert", "delete", "batch", "other")


emu = emulator_fixture(orgs="contoso", records={"accounts": 10, "contacts": 3}, seed=17)


clean = faults_cleared("emu")


def by_kind(stats):
    return stats["by_kind"]


def by_status(stats):
    return {str(k): v for k, v in stats["by_status"].items()}


def test_stats_by_kind_and_status(emu, api):
    api.token()
    existing = emu.records("contoso", "accounts")[0]["accountid"]
    emu.reset_stats()
    s0 = emu.stats()
    assert sum(by_kind(s0).values()) == 0, s0
    api.token(force=True)                                                    # token
    api.get("EntityDefinitions?$select=LogicalName")                         # metadata
    api.get("accounts?$select=name")                                         # list
    api.get("accounts(%s)" % existing)                                       # get
    new = api.create("accounts", {"name": "stats"}).entity_id                # create
    api.patch("accounts(%s)" % new, {"name": "s2"}, headers={"If-Match": "*"})  # update
    api.patch("accounts(%s)" % uuid.uuid4(), {"name": "s3"})                # upsert (creates)
    api.delete("accounts(%s)" % new)                                         # delete
    b = batch_body("batch_x", [("request", "GET", api.api_url + "WhoAmI", None, None, None)])
    api.request("POST", "$batch", b, {"Content-Type": "multipart/mixed;boundary=batch_x"})  # batch
    api.get("WhoAmI")                                                        # other
    api.get("accounts(%s)" % uuid.uuid4())                                   # get, 404
    s = emu.stats()
    k = by_kind(s)
    expect = {"token": 1, "metadata": 1, "list": 1, "get": 2, "create": 1, "update": 1, "upsert": 1,
              "delete": 1, "batch": 1, "other": 1}
    got = {kind: k.get(kind, 0) for kind in KINDS}
    assert got == expect, s
    st = by_status(s)
    assert st.get("404") == 1, s
    assert st.get("200", 0) >= 5 and st.get("204", 0) >= 4, s
    assert sum(st.values()) == sum(expect.values()), s


def test_stats_reset(emu, api):
    api.get("WhoAmI")
    assert sum(by_kind(emu.stats()).values()) > 0
    emu.reset_stats()
    s = emu.stats()
    assert sum(by_kind(s).values()) == 0, s
    assert sum(by_status(s).values()) == 0, s


def test_stats_count_throttled(emu, api):
    api.token()
    emu.reset_stats()
    emu.faults(throttle=1.0, retry_after=2)
    assert api.get("WhoAmI").status == 429
    emu.clear_faults()
    assert by_status(emu.stats()).get("429") == 1


def test_faults_get_and_clear(emu):
    emu.faults(throttle=0.5, retry_after=9)
    f = emu.get_faults()
    assert f.get("throttle") == 0.5 and f.get("retry_after") == 9, f
    emu.clear_faults()
    f = emu.get_faults()
    assert not f.get("throttle"), f


def test_unknown_fault_rejected(emu):
    r = emu.http("POST", "/_emulator/faults", {"no_such_fault": 1})
    assert r.status == 400, r


def timed(fn):
    t0 = time.monotonic()
    r = fn()
    return r, time.monotonic() - t0


def test_latency_fault(emu, api):
    api.token()
    r, base = timed(lambda: api.get("WhoAmI"))
    emu.faults(latency_ms=800)
    r, dt = timed(lambda: api.get("WhoAmI"))
    assert r.status == 200
    assert dt >= 0.8, dt
    # latency does not serialise: two concurrent requests take ~1x, not 2x
    out = [None, None]
    bar = threading.Barrier(2)

    def run(i):
        bar.wait()
        out[i] = api.get("WhoAmI")
    t0 = time.monotonic()
    ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    dt2 = time.monotonic() - t0
    assert [o.status for o in out] == [200, 200]
    assert 0.8 <= dt2 < 1.5, dt2   # 2 x 0.8 s would be serialised


def test_latency_cli():
    with Emulator(orgs="contoso", records={"accounts": 2, "contacts": 1}, seed=1, latency_ms=400) as e:
        api = e.api()
        api.token()
        r, dt = timed(lambda: api.get("WhoAmI"))
        assert r.status == 200 and dt >= 0.4, dt


def test_record_cost_cli():
    with Emulator(orgs="contoso", records={"accounts": 5000, "contacts": 1}, seed=1,
                  record_cost_us=200, timeout=120) as e:
        api = e.api()
        api.token()
        r, small = timed(lambda: api.get("accounts?$select=name&$top=10"))
        assert r.status == 200
        r, big = timed(lambda: api.get("accounts?$select=name"))
        assert r.status == 200 and len(r.body["value"]) == 5000
        assert big >= 1.0, big            # 5000 x 200 us
        assert small < big / 5, (small, big)


def test_record_cost_fault(emu, api):
    api.token()
    emu.faults(record_cost_us=100000)     # 100 ms per record
    r, dt = timed(lambda: api.get("accounts?$select=name"))
    n = len(r.body["value"])
    assert r.status == 200 and n >= 10
    assert dt >= n * 0.1, (n, dt)


def test_control_needs_no_token(emu):
    r = emu.http("GET", "/_emulator/stats")
    assert r.status == 200, r


def test_records_endpoint(emu, api):
    recs = emu.records("contoso", "accounts")
    web, _ = api.list_all("accounts")
    assert {r["accountid"] for r in recs} == {r["accountid"] for r in web}


def test_token_lifetime_fault(emu, api):
    emu.faults(token_lifetime=1)
    t = api.fetch_token()
    assert t["expires_in"] == 1, t
    tok = t["access_token"]
    assert api.get("WhoAmI", token=tok).status == 200
    time.sleep(2.1)
    assert api.get("WhoAmI", token=tok).status == 401
    emu.clear_faults()
    api.invalidate_token()


def test_stats_by_org(emu, api):
    api.token()
    emu.reset_stats()
    api.get("WhoAmI")
    s = emu.stats()
    assert s["by_org"]["contoso"]["by_kind"]["other"] == 1, s
    assert s["total"] == 1, s
