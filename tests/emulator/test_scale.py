"""The emulator at scale (reference §2.3, §6, §7, §13): id order, sequential ids, the cost
model, x-ms-dop-hint, the concurrency limit, pre-rendered records and exact request counts.

One 3,000-account emulator (mixed ids) serves most tests; a few start their own.
"""

import decimal
import random
import re
import sys
import threading
import time
import urllib.parse
import uuid

import pytest

from lib.client import assert_odata_error
from lib.emuproc import Emulator
from lib.fixtures import emulator_fixture, faults_cleared

N = 3000
ACCOUNT_COLUMNS = 145        # readable columns of account (entities/account.json)
HERE = __file__.rsplit("/", 1)[0]


def sql_key(g):
    """SQL Server uniqueidentifier order, independently of odata.py: compare the bytes of
    .NET Guid.ToByteArray() (= uuid.bytes_le) in the order 10-15, 8-9, 6-7, 4-5, 0-3."""
    b = uuid.UUID(g).bytes_le
    return bytes(b[i] for i in (10, 11, 12, 13, 14, 15, 8, 9, 6, 7, 4, 5, 0, 1, 2, 3))


def is_sequential(g):
    """NEWSEQUENTIALID shape: version 1 (byte-swapped group 3 shows it as its third digit),
    RFC 4122 variant, an Azure MAC (000d3a) as node."""
    return g[16] == "1" and g[19] in "89ab" and g[24:30] == "000d3a"


def is_v4(g):
    return g[14] == "4" and g[19] in "89ab"


emu = emulator_fixture(orgs="contoso", records={"accounts": N, "contacts": 50}, seed=3)


clean = faults_cleared("emu")


@pytest.fixture(scope="module")
def all_ids(api):
    recs, _ = api.list_all("accounts", select=["accountid"])
    return [r["accountid"] for r in recs]


def get_ok(api, path, headers=None):
    r = api.get(path, headers=headers)
    assert r.status == 200, r
    return r


def filtered_ids(api, flt, page_size=None):
    recs, _ = api.list_all("accounts", select=["accountid"], filter=flt, page_size=page_size)
    return [r["accountid"] for r in recs]


# --------------------------------------------------------------------------- id order (ref 13)

def test_sql_order_of_single_bytes():
    """The classic SQL Server demonstration: one byte set at each position, ascending."""
    sys.path.insert(0, HERE)
    import odata
    expect = ["01000000-0000-0000-0000-000000000000", "00010000-0000-0000-0000-000000000000",
              "00000100-0000-0000-0000-000000000000", "00000001-0000-0000-0000-000000000000",
              "00000000-0100-0000-0000-000000000000", "00000000-0001-0000-0000-000000000000",
              "00000000-0000-0100-0000-000000000000", "00000000-0000-0001-0000-000000000000",
              "00000000-0000-0000-0001-000000000000", "00000000-0000-0000-0100-000000000000",
              "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000100",
              "00000000-0000-0000-0000-000000010000", "00000000-0000-0000-0000-000001000000",
              "00000000-0000-0000-0000-000100000000", "00000000-0000-0000-0000-010000000000"]
    shuffled = list(expect)
    random.Random(1).shuffle(shuffled)
    assert sorted(shuffled, key=odata.guid_sort_key) == expect
    assert sorted(shuffled, key=sql_key) == expect
    rng = random.Random(2)
    gs = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(2000)]
    assert sorted(gs, key=odata.guid_sort_key) == sorted(gs, key=sql_key)
    assert all(odata.guid_from_sort_key(odata.guid_sort_key(g)) == g for g in gs[:50])


def test_default_paging_order_is_uniqueidentifier_order(api, all_ids):
    assert len(all_ids) == N and len(set(all_ids)) == N
    assert all_ids == sorted(all_ids, key=sql_key)
    assert all_ids != sorted(all_ids), "ids happen to be in string order too; the test proves nothing"


def test_orderby_primary_key_asc_desc(api, all_ids):
    recs, pages = api.list_all("accounts", select=["accountid"], orderby="accountid", page_size=700)
    assert [r["accountid"] for r in recs] == all_ids and pages == 5
    recs, _ = api.list_all("accounts", select=["accountid"], orderby="accountid desc", page_size=700)
    assert [r["accountid"] for r in recs] == all_ids[::-1]


def test_orderby_lookup_guid_column(api):
    recs, _ = api.list_all("accounts", select=["_parentaccountid_value"], filter="_parentaccountid_value ne null",
                           orderby="_parentaccountid_value", page_size=50)
    vals = [r["_parentaccountid_value"] for r in recs]
    assert len(vals) > 100
    assert vals == sorted(vals, key=sql_key)


@pytest.mark.parametrize("op", ["gt", "ge", "lt", "le"])
def test_filter_compares_ids_in_uniqueidentifier_order(api, all_ids, op):
    pivot = all_ids[len(all_ids) // 3]
    k = sql_key(pivot)
    test = {"gt": lambda x: x > k, "ge": lambda x: x >= k, "lt": lambda x: x < k, "le": lambda x: x <= k}[op]
    got = filtered_ids(api, "accountid %s %s" % (op, pivot))
    assert got == [g for g in all_ids if test(sql_key(g))]
    # literal first, and a quoted literal, mean the same
    flip = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}[op]
    assert filtered_ids(api, "%s %s accountid" % (pivot, flip)) == got
    assert filtered_ids(api, "accountid %s '%s'" % (op, pivot.upper())) == got


def test_key_ranges_partition_the_table(api, all_ids):
    """Disjoint ge/lt ranges of the key, each paged on its own, give every record once."""
    cuts = [all_ids[i] for i in (400, 1111, 2500)]
    bounds = [None] + cuts + [None]
    seen = []
    for lo, hi in zip(bounds, bounds[1:]):
        parts = []
        if lo:
            parts.append("accountid ge %s" % lo)
        if hi:
            parts.append("accountid lt %s" % hi)
        seen += filtered_ids(api, " and ".join(parts), page_size=333)
    assert seen == all_ids


def test_key_range_with_other_conditions(api, all_ids, emu):
    lo, hi = all_ids[100], all_ids[2900]
    recs = {r["accountid"]: r for r in emu.records("contoso", "accounts")}
    got = filtered_ids(api, "accountid gt %s and statecode eq 0 and accountid le %s" % (lo, hi), page_size=500)
    expect = [g for g in all_ids if sql_key(lo) < sql_key(g) <= sql_key(hi) and recs[g]["statecode"] == 0]
    assert got == expect and len(expect) > 1000
    # an 'or' puts no bound on the scan
    got = filtered_ids(api, "accountid eq %s or accountid eq %s" % (all_ids[5], all_ids[7]))
    assert got == [all_ids[5], all_ids[7]]
    assert filtered_ids(api, "accountid eq %s" % all_ids[9]) == [all_ids[9]]
    assert filtered_ids(api, "accountid gt %s and accountid lt %s" % (hi, lo)) == []


def test_paging_cookie_names_uniqueidentifier_neighbours(api, all_ids):
    r = get_ok(api, "accounts?$select=accountid", {"Prefer": "odata.maxpagesize=1000"})
    link = r.body["@odata.nextLink"]
    tok = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["$skiptoken"][0]
    inner = urllib.parse.unquote(re.search(r'pagingcookie="([^"]*)"', tok).group(1))
    last = re.search(r'last="\{([0-9A-F-]{36})\}"', inner).group(1).lower()
    assert last == all_ids[999]
    r2 = get_ok(api, link, {"Prefer": "odata.maxpagesize=1000"})
    assert r2.body["value"][0]["accountid"] == all_ids[1000]


# --------------------------------------------------------------------------- ids (ref 13)

def test_mixed_ids_by_default(all_ids):
    seq = [g for g in all_ids if is_sequential(g)]
    v4 = [g for g in all_ids if is_v4(g)]
    assert len(seq) + len(v4) == N
    assert 0.1 * N < len(v4) < 0.3 * N, len(v4)     # about 20 % client-chosen ids


def test_sequential_ids_follow_creation_within_a_run(emu, all_ids):
    recs = {r["accountid"]: r for r in emu.records("contoso", "accounts")}
    runs = {}
    for g in all_ids:                      # all_ids is in SQL order
        if is_sequential(g):
            runs.setdefault(g[19:], []).append(g)
    assert all(len(set(g[19:] for g in run)) == 1 for run in runs.values())
    for run in runs.values():
        created = [recs[g]["createdon"] for g in run]
        assert created == sorted(created)
    # the first group changes fastest: neighbours in a run share groups 2 and 3 mostly
    big = max(runs.values(), key=len)
    same_mid = sum(1 for a, b in zip(big, big[1:]) if a[9:18] == b[9:18])
    assert same_mid > 0 or len(big) < 10


def test_id_modes_and_lookups_remapped():
    for mode, check in (("sequential", is_sequential), ("random", is_v4)):
        with Emulator(orgs="contoso", records={"accounts": 300, "contacts": 100, "annotations": 30},
                      seed=4, extra_args=["--ids", mode]) as e:
            accs = e.records("contoso", "accounts")
            cons = e.records("contoso", "contacts")
            assert all(check(r["accountid"]) for r in accs), mode
            assert all(check(r["contactid"]) for r in cons), mode
            ids = {r["accountid"] for r in accs}
            parents = [r["_parentcustomerid_value"] for r in cons if r["_parentcustomerid_value"]]
            assert parents and all(p in ids for p in parents), mode
            sub = [r["_parentaccountid_value"] for r in accs if r["_parentaccountid_value"]]
            assert sub and all(p in ids for p in sub), mode


def test_bad_id_mode_is_refused():
    e = Emulator(orgs="contoso", records={"accounts": 1}, extra_args=["--ids", "nonsense"], timeout=10)
    with pytest.raises(Exception):
        e.start()
    e.stop()


def test_server_assigned_ids_are_sequential(api):
    ids = [api.create("accounts", {"name": "seq %d" % i}).entity_id for i in range(5)]
    assert all(is_sequential(g) for g in ids), ids
    assert len({g[19:] for g in ids}) == 1, ids
    assert ids == sorted(ids, key=sql_key)
    own = str(uuid.uuid4())
    assert api.create("accounts", {"name": "own", "accountid": own}).entity_id == own
    for g in ids + [own]:
        assert api.delete("accounts(%s)" % g).status == 204


# --------------------------------------------------------------------------- cost model

def test_cost_scales_with_projection_width(emu, api):
    api.token()
    emu.faults(record_cost_us=20, column_cost_us=2)
    emu.reset_stats()
    get_ok(api, "accounts?$top=100")
    full = emu.stats()["server_s"]
    assert full == pytest.approx(100 * (20 + 2 * ACCOUNT_COLUMNS) / 1e6)
    emu.reset_stats()
    get_ok(api, "accounts?$select=versionnumber&$top=100")          # + accountid = 2 columns
    assert emu.stats()["server_s"] == pytest.approx(100 * (20 + 2 * 2) / 1e6)
    emu.reset_stats()
    get_ok(api, "accounts?$select=revenue,address1_city&$top=10")    # + currency, composite, id
    assert emu.stats()["server_s"] == pytest.approx(10 * (20 + 2 * 5) / 1e6)
    emu.reset_stats()
    rid = get_ok(api, "accounts?$select=accountid&$top=1").body["value"][0]["accountid"]
    emu.reset_stats()
    get_ok(api, "accounts(%s)" % rid)
    assert emu.stats()["server_s"] == pytest.approx((20 + 2 * ACCOUNT_COLUMNS) / 1e6)


def test_cost_is_slept(emu, api):
    api.token()
    emu.faults(record_cost_us=0, column_cost_us=10)   # a full account: 1.45 ms
    t0 = time.monotonic()
    get_ok(api, "accounts?$top=400")
    full = time.monotonic() - t0
    t0 = time.monotonic()
    get_ok(api, "accounts?$select=versionnumber&$top=400")
    narrow = time.monotonic() - t0
    assert full >= 400 * 145 * 10e-6 and narrow < full / 4, (full, narrow)


def test_cost_cli_options():
    with Emulator(orgs="contoso", records={"accounts": 20, "contacts": 1},
                  extra_args=["--record-cost-us", "7", "--column-cost-us", "3", "--dop-hint", "9"]) as e:
        f = e.get_faults()
        assert (f["record_cost_us"], f["column_cost_us"], f["dop_hint"]) == (7, 3, 9), f
        api = e.api()
        api.token()
        e.reset_stats()
        r = get_ok(api, "accounts?$select=name")
        assert r.headers.get("x-ms-dop-hint") == "9"
        assert e.stats()["server_s"] == pytest.approx(20 * (7 + 3 * 2) / 1e6)


# --------------------------------------------------------------------------- dop hint, limits

def test_dop_hint_header(emu, api):
    r = get_ok(api, "WhoAmI")
    assert r.headers.get("x-ms-dop-hint") == "4"
    emu.faults(dop_hint=48)
    assert get_ok(api, "accounts?$top=1").headers.get("x-ms-dop-hint") == "48"
    emu.faults(dop_hint=0)
    assert get_ok(api, "WhoAmI").headers.get("x-ms-dop-hint") is None


def test_concurrency_limit_and_peak_inflight(emu, api):
    api.token()
    emu.faults(max_concurrent=3, latency_ms=400)
    emu.reset_stats()
    out = []
    bar = threading.Barrier(6)

    def run():
        bar.wait()
        out.append(api.get("WhoAmI"))
    ts = [threading.Thread(target=run) for _ in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    ok = [r for r in out if r.status == 200]
    busy = [r for r in out if r.status == 429]
    assert len(ok) == 3 and len(busy) == 3, out
    for r in busy:
        assert_odata_error(r, 429, code="0x80072326",
                           message="Number of concurrent requests exceeded the limit of 3.")
        assert r.headers.get("Retry-After") == "1"
    s = emu.stats()
    assert s["peak_inflight"] == 3 and s["inflight"] == 0, s
    assert s["by_status"].get("429") == 3


# --------------------------------------------------------------------------- pre-rendered records

def test_full_pages_cost_little_emulator_cpu(emu, api):
    api.token()
    s0 = emu.stats()
    r = get_ok(api, "accounts", {"Prefer": "odata.maxpagesize=3000"})
    s1 = emu.stats()
    assert len(r.body["value"]) == N
    cpu = s1["cpu_s"] - s0["cpu_s"]
    # ~10 ms on an idle machine; the page models 3000 x 0.4 ms = 1.2 s on a real org
    assert cpu < 0.4, cpu
    assert s1["bytes"] - s0["bytes"] == len(r.raw)
    assert s1["records"] - s0["records"] == N


def test_rendered_records_follow_writes(emu, api, all_ids):
    rid = all_ids[17]
    path = "accounts(%s)" % rid
    before = get_ok(api, path).body
    assert api.patch(path, {"name": "Renamed ☃"}, headers={"If-Match": "*"}).status == 204
    after = get_ok(api, path).body
    assert after["name"] == "Renamed ☃" and after["versionnumber"] > before["versionnumber"]
    assert after["@odata.etag"] == 'W/"%d"' % after["versionnumber"]
    page = get_ok(api, "accounts?$filter=accountid eq %s" % rid).body["value"]
    assert page[0]["name"] == "Renamed ☃"
    assert {k: v for k, v in page[0].items()} == {k: v for k, v in after.items() if k != "@odata.context"}
    # same bytes as the dict renderer (control endpoint) for every key
    ctl = emu.record("contoso", "accounts", rid)
    assert {k: v for k, v in ctl.items() if k != "@odata.context"} == page[0]


def test_full_page_equals_control_rendering(emu, api):
    page = get_ok(api, "accounts?$top=200").body["value"]
    ctl = {r["accountid"]: r for r in emu.records("contoso", "accounts")}
    for r in page:
        assert r == ctl[r["accountid"]]
        assert list(r) == list(ctl[r["accountid"]])      # key order too


# --------------------------------------------------------------------------- request counts

def test_stats_by_op_exact_counts(emu, api, all_ids):
    api.token()
    emu.reset_stats()
    pf = {"Prefer": "odata.maxpagesize=1000"}
    api.list_all("accounts", select=["accountid"], page_size=1000)                  # 3 pages
    r = get_ok(api, "accounts?$select=name,versionnumber", {"Prefer": "odata.track-changes,odata.maxpagesize=2000"})
    r = get_ok(api, r.body["@odata.nextLink"], {"Prefer": "odata.track-changes,odata.maxpagesize=2000"})
    delta = r.body["@odata.deltaLink"]
    get_ok(api, "accounts(%s)" % all_ids[0])
    get_ok(api, "accounts/$count")
    rid = api.create("accounts", {"name": "count me"}).entity_id
    api.patch("accounts(%s)" % rid, {"name": "x"}, headers={"If-Match": "*"})
    get_ok(api, delta, pf)
    api.delete("accounts(%s)" % rid)
    get_ok(api, "EntityDefinitions(LogicalName='account')?$select=LogicalName")
    s = emu.stats()
    expect = {"token": 0, "metadata": 1, "list_first": 2, "list_next": 3, "delta_first": 1, "delta_next": 0,
              "count": 1, "get": 1, "write": 3, "batch": 0, "other": 0}
    assert s["by_op"] == expect, s
    assert s["by_org"]["contoso"]["by_op"] == expect
    assert s["by_kind"]["list"] == 2 + 3 + 1 + 1
    assert s["records"] == N + N + 1 + 1, s     # list, tracked list, one get, the one changed row
    assert set(s) >= {"cpu_s", "cpu_s_since_reset", "server_s", "peak_inflight", "inflight", "bytes",
                      "uptime_s", "since_reset_s"}
    emu.faults(throttle=1.0)
    api.get(r.body["@odata.deltaLink"] if "@odata.deltaLink" in r.body else delta)
    assert emu.stats()["by_op"]["delta_first"] == 2


# --------------------------------------------------------------------------- start-up

def test_startup_is_fast_enough_for_200k():
    """200,000 accounts start in well under a minute: 30,000 take a seventh of the work."""
    t0 = time.monotonic()
    with Emulator(orgs="contoso", records={"accounts": 30000, "contacts": 10}, timeout=120) as e:
        took = time.monotonic() - t0
        r = e.api().get("accounts?$select=accountid", headers={"Prefer": "odata.maxpagesize=1"})
        assert r.status == 200
    assert took < 12, took


# --------------------------------------------------------------------------- execution time, capacity

def test_execution_time_limit(emu, api):
    """ref 6.1: combined execution time per principal over the window -> 429 0x80072321."""
    api.token()
    emu.faults(budget_exec_ms=300, latency_ms=200, budget_window=30)
    assert get_ok(api, "WhoAmI")
    assert get_ok(api, "WhoAmI")                       # 400 ms spent now
    r = api.get("WhoAmI")
    assert_odata_error(r, 429, code="0x80072321",
                       message="Combined execution time of incoming requests exceeded limit of 300 milliseconds "
                               "over time window of 30 seconds. Decrease number of concurrent requests or reduce "
                               "the duration of requests and try again later.")
    assert 1 <= int(r.headers["Retry-After"]) <= 30
    emu.clear_faults()                                  # a new window
    r = get_ok(api, "WhoAmI")
    assert r.headers["x-ms-ratelimit-time-remaining-xrm-requests"] == "1,200.00" or \
        float(r.headers["x-ms-ratelimit-time-remaining-xrm-requests"].replace(",", "")) > 1199


def test_capacity_caps_parallel_row_work(emu, api):
    """Beyond ``capacity`` parallel requests an org serves no more rows per second."""
    api.token()
    emu.faults(record_cost_us=1000, capacity=2)         # 200 rows = 0.2 s of row work each

    def wall(n):
        bar = threading.Barrier(n)
        out = []

        def run():
            bar.wait()
            out.append(api.get("accounts?$select=accountid&$top=200").status)
        ts = [threading.Thread(target=run) for _ in range(n)]
        t0 = time.monotonic()
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        assert out == [200] * n
        return time.monotonic() - t0
    two = wall(2)
    six = wall(6)
    assert two < 0.45 and six >= 0.55, (two, six)        # 6 x 0.2 s over 2 slots = 0.6 s
    emu.faults(capacity=0)
    assert wall(6) < 0.45


def test_narrow_rows_render_like_full_ones(emu, api):
    ctl = {r["accountid"]: r for r in emu.records("contoso", "accounts")}
    sel = "name,revenue,address1_city,versionnumber,numberofemployees,creditonhold,address1_latitude"
    r = api.get("accounts?$select=%s&$top=300" % sel, decimal_floats=True)
    assert r.status == 200
    extras = ["_transactioncurrencyid_value", "address1_composite", "accountid"]
    for row in r.body["value"]:
        assert list(row) == ["@odata.etag"] + sel.split(",") + extras
        full = ctl[row["accountid"]]
        for k in row:
            v = float(row[k]) if isinstance(row[k], decimal.Decimal) else row[k]
            assert v == full[k], k
    assert b'"revenue":' in r.raw and re.search(rb'"revenue":\d+\.\d{4}[,}]', r.raw)
