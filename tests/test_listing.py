"""Listing big sets in parallel ranges of ids, and refreshing them through change tracking.

One module emulator: 3000 sample accounts plus 2600 with NEWSEQUENTIALID-style ids (so ranges
are cut across a dense run of ids, and the ids fill two pages of 5000: the records are read
while the ids still arrive), 300 notes (a table without change tracking).  dynfs lists with
page_size 250, so a listing has many pages and several ranges.  Requests are
counted with the emulator's stats; what a listing did is read from its info log line
"<set>: listed N record(s) in T s: R request(s), P at a time".
"""

import errno
import math
import os
import re
import subprocess
import tarfile
import threading
import time
import uuid

import pytest

from lib.fixtures import emulator_fixture
from lib.mount import Ini, get_raw, list_raw, render, stats_delta, strip_annotations

N_SAMPLE = 3000
N_SEQ = 2600
PAGE = 250
DEFAULT_DOP = 4          # without x-ms-dop-hint
TTL = 1
AFTER_TTL = TTL + 1.2


def sequential_ids(n, node="000d3a2265b1"):
    """Ids as SQL Server's NEWSEQUENTIALID makes them: the first group is a little-endian
    counter (its first byte changes fastest), the rest stays the same for the run."""
    base = 0x5b2ae100
    return ["%s-3d68-e711-a46d-%s" % ((base + i).to_bytes(4, "little").hex(), node)
            for i in range(n)]


def add_sequential_accounts(e):
    targets = [{"accountid": i, "name": "Sequential %d" % n}
               for n, i in enumerate(sequential_ids(N_SEQ))]
    r = e.api("contoso").request("POST", "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
                                 {"Targets": targets})
    assert r.status == 200, r


lemu = emulator_fixture(orgs="contoso", records={"accounts": N_SAMPLE, "contacts": 10,
                                                 "annotations": 300, "new_categories": 5},
                        seed=23, timeout=300, setup=add_sequential_accounts)


def config(emu, tmp_path, name="listing.ini", ttl=60, tenant=None, **glob):
    ini = Ini.load(emu.config_path)
    ini["global"].update({"cache_ttl": str(ttl), "page_size": str(PAGE), "log_level": "info"})
    ini["global"].update({k: str(v) for k, v in glob.items()})
    ini["contoso"].update({k: str(v) for k, v in (tenant or {}).items()})
    return ini.write(str(tmp_path / name))


def set_dir(m, es="accounts"):
    return os.path.join(m.path, "contoso", es)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def server_files(api, es="accounts", pk="accountid"):
    """{file name: bytes} the server's records must have as files."""
    return {r[pk] + ".json": render(strip_annotations(r)) for r in list_raw(api, es, 5000)}


def assert_copy_equals(dst, api, es="accounts", pk="accountid"):
    want = server_files(api, es, pk)
    got = sorted(os.listdir(dst))
    assert got == sorted(want), "copy has %d files, server %d records" % (len(got), len(want))
    bad = [n for n in got if read(os.path.join(dst, n)) != want[n]]
    assert not bad, "%d copied files differ from the server, e.g. %s" % (len(bad), bad[:3])


def listings(m, es="accounts"):
    """(records, requests, parallel) of each full listing of ES in M's log."""
    return [tuple(map(int, t)) for t in re.findall(
        r"contoso: %s: listed (\d+) record\(s\) in [\d.]+ s: (\d+) request\(s\), (\d+) at a time"
        % es, m.log_text())]


def kinds(d):
    return {k: v for k, v in d.items() if v}


def first_copy_bound(n, p):
    return 2 * math.ceil(n / PAGE) + 2 * p + 3


# ---------------------------------------------------------------- the first copy

TOOLS = {
    "rsync": lambda src, dst: ["rsync", "-a", src + "/", dst],
    "cp": lambda src, dst: ["cp", "-r", src, dst],
    "tar": lambda src, dst: ["tar", "cf", dst + ".tar", "-C", src, "."],
}


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_first_copy_costs_about_two_requests_a_page_and_no_get(lemu, mount_factory, tmp_path,
                                                                 tool):
    n = N_SAMPLE + N_SEQ
    m = mount_factory(config(lemu, tmp_path), emu=lemu)
    dst = str(tmp_path / "copy")
    d = stats_delta(lemu, lambda: subprocess.run(TOOLS[tool](set_dir(m), dst),
                                                 stderr=subprocess.PIPE, timeout=300))
    assert d.result.returncode == 0, d.result.stderr.decode()[-2000:]
    p = min(DEFAULT_DOP, 8, math.ceil(n / PAGE))
    assert kinds(d) == {"list": d["list"]}, "only listing requests, no single GET: %r" % d
    assert d["list"] <= first_copy_bound(n, p), d
    (recs, reqs, par), = listings(m)
    assert (recs, reqs, par) == (n, d["list"], p), listings(m)
    if tool == "tar":
        with tarfile.open(dst + ".tar") as t:
            assert sum(1 for i in t.getmembers() if i.isfile()) == n
    else:
        assert_copy_equals(dst, lemu.api("contoso"))


def test_max_connections_bounds_the_parallel_reads(lemu, mount_factory, tmp_path):
    m = mount_factory(config(lemu, tmp_path, tenant={"max_connections": 2}), emu=lemu)
    names = os.listdir(set_dir(m))
    assert len(names) == N_SAMPLE + N_SEQ
    (recs, _, par), = listings(m)
    assert recs == len(names) and par == 2


def test_the_servers_dop_hint_bounds_the_parallel_reads(lemu, mount_factory, tmp_path):
    r = lemu.http("POST", "/_emulator/faults", {"dop_hint": 3})
    if r.status == 400:
        pytest.skip("this emulator sends no x-ms-dop-hint")
    try:
        m = mount_factory(config(lemu, tmp_path), emu=lemu)
        os.listdir(set_dir(m))
        (_, _, par), = listings(m)
        assert par == 3
    finally:
        lemu.faults(dop_hint=0)


# ---------------------------------------------------------------- refreshing

def test_copy_outliving_cache_ttl_makes_no_per_record_request(lemu, mount_factory, tmp_path):
    m = mount_factory(config(lemu, tmp_path, ttl=TTL), emu=lemu)
    src = set_dir(m)
    names = sorted(os.listdir(src))
    want = server_files(lemu.api("contoso"))

    def slow_copy():
        t0, got = time.monotonic(), {}
        for i, n in enumerate(names):
            got[n] = read(os.path.join(src, n))
            if i % 400 == 0:
                time.sleep(0.35)
        return got, time.monotonic() - t0

    d = stats_delta(lemu, slow_copy)
    got, took = d.result
    assert took > 3 * TTL
    assert got == want
    # Each time the listing got older than cache_ttl, one delta request (nothing changed).
    assert kinds(d) == {"list": d["list"]} and d["list"] <= took / TTL + 1, (d, took)


def test_second_rsync_after_k_changes_costs_a_delta(lemu, mount_factory, tmp_path):
    api = lemu.api("contoso")
    m = mount_factory(config(lemu, tmp_path, ttl=TTL), emu=lemu)
    dst = str(tmp_path / "copy")
    r = subprocess.run(["rsync", "-a", set_dir(m) + "/", dst], stderr=subprocess.PIPE, timeout=300)
    assert r.returncode == 0, r.stderr
    ids = sorted(n[:-5] for n in os.listdir(dst))
    k = 0
    for rid in ids[5:45]:
        assert api.patch("accounts(%s)" % rid, {"name": "updated %s" % uuid.uuid4().hex[:8],
                                               "description": "x" * 123}).status == 204
        k += 1
    for i in range(20):
        assert api.create("accounts", {"name": "created %d" % i}).status == 204
        k += 1
    for rid in ids[100:110]:
        assert api.delete("accounts(%s)" % rid).status == 204
        k += 1
    time.sleep(AFTER_TTL)
    d = stats_delta(lemu, lambda: subprocess.run(["rsync", "-a", "--delete", set_dir(m) + "/", dst],
                                                 stderr=subprocess.PIPE, timeout=300))
    assert d.result.returncode == 0, d.result.stderr
    assert kinds(d) == {"list": d["list"]}, d
    assert d["list"] <= math.ceil(k / 500) + 5, d
    assert_copy_equals(dst, api)


def test_reading_a_record_after_cache_ttl_costs_one_delta(lemu, mount_factory, tmp_path):
    api = lemu.api("contoso")
    m = mount_factory(config(lemu, tmp_path, ttl=TTL), emu=lemu)
    names = sorted(os.listdir(set_dir(m)))
    p = os.path.join(set_dir(m), names[7])
    time.sleep(AFTER_TTL)
    d = stats_delta(lemu, lambda: read(p))
    assert kinds(d) == {"list": 1}, "one delta, nothing changed: %r" % d
    assert api.patch("accounts(%s)" % names[7][:-5], {"telephone1": "+1 555 0100"}).status == 204
    time.sleep(AFTER_TTL)
    d = stats_delta(lemu, lambda: read(p))
    assert kinds(d) == {"list": 2}, "the delta and the changed record: %r" % d
    rec, _ = get_raw(api, "accounts", names[7][:-5])
    assert d.result == render(strip_annotations(rec))


def test_a_read_during_a_listing_does_not_wait_for_it(lemu, mount_factory, tmp_path):
    m = mount_factory(config(lemu, tmp_path, ttl=TTL), emu=lemu)
    names = sorted(os.listdir(set_dir(m)))
    p = os.path.join(set_dir(m), names[3])
    before = read(p)
    time.sleep(AFTER_TTL)
    lemu.faults(latency_ms=2000)
    try:
        t = threading.Thread(target=os.listdir, args=(set_dir(m),))
        t.start()
        time.sleep(0.5)         # the readdir's delta is under way

        def timed_read():
            t0 = time.monotonic()
            return read(p), time.monotonic() - t0

        d = stats_delta(lemu, timed_read)
        t.join(30)
    finally:
        lemu.faults(latency_ms=0)
    data, took = d.result
    assert data == before
    assert took < 1.0, "the read waited %.1f s for the listing" % took
    assert d["get"] == 0, d


def test_an_expired_delta_token_lists_the_set_whole(lemu, mount_factory, tmp_path):
    api = lemu.api("contoso")
    m = mount_factory(config(lemu, tmp_path, ttl=TTL), emu=lemu)
    os.listdir(set_dir(m))
    lemu.control_post("contoso", "expire-change-tracking")
    rid = api.create("accounts", {"name": "after the expiry"}).entity_id
    time.sleep(AFTER_TTL)
    d = stats_delta(lemu, lambda: os.listdir(set_dir(m)))
    assert rid + ".json" in d.result
    assert d.status.get("400") == 1, "one refused delta: %r" % d.status
    assert len(listings(m)) == 2, "a second full listing: %r" % listings(m)
    log = m.log_text()
    assert log.count("expired change-tracking token") == 1, log[-3000:]
    assert "0x80044352" not in log, "the refused delta is no error: " + log[-3000:]
    # The new listing brought a new delta link.
    assert api.delete("accounts(%s)" % rid).status == 204
    time.sleep(AFTER_TTL)
    d = stats_delta(lemu, lambda: os.listdir(set_dir(m)))
    assert rid + ".json" not in d.result
    assert kinds(d) == {"list": 1} and not d.status.get("400"), d


def test_refresh_xattr_makes_the_next_access_refresh(lemu, mount_factory, tmp_path):
    api = lemu.api("contoso")
    m = mount_factory(config(lemu, tmp_path), emu=lemu)
    folder = set_dir(m)
    names = sorted(os.listdir(folder))
    p = os.path.join(folder, names[11])
    old = read(p)
    assert api.patch("accounts(%s)" % names[11][:-5], {"name": "refreshed by hand"}).status == 204
    d = stats_delta(lemu, lambda: (os.listdir(folder), read(p)))
    assert kinds(d) == {} and d.result[1] == old, "within cache_ttl nothing is asked: %r" % d
    os.setxattr(folder, "user.dynfs.refresh", b"1")
    d = stats_delta(lemu, lambda: read(p))
    assert kinds(d) == {"list": 2}, "the delta and the changed record: %r" % d
    assert b"refreshed by hand" in d.result
    os.setxattr(folder, "user.dynfs.refresh", b"full")
    d = stats_delta(lemu, lambda: os.listdir(folder))
    assert len(listings(m)) == 2 and d["list"] >= math.ceil(len(names) / PAGE), d
    for value, name, path, err in ((b"yes", "user.dynfs.refresh", folder, errno.EINVAL),
                                   (b"1", "user.dynfs.other", folder, errno.ENOTSUP),
                                   (b"1", "user.dynfs.refresh", p, errno.ENOTSUP)):
        with pytest.raises(OSError) as ei:
            os.setxattr(path, name, value)
        assert ei.value.errno == err, (value, name, path)


# ---------------------------------------------------------------- correctness under change

def test_partitioned_listing_with_concurrent_creates_and_deletes(lemu, mount_factory, tmp_path):
    api = lemu.api("contoso", new=True)
    pre = {r["accountid"] for r in lemu.records("contoso", "accounts")}
    victims = sorted(pre)[::37]
    created, deleted, done = set(), set(), threading.Event()

    def churn():
        i = 0
        while not done.is_set() and i < len(victims):
            r = api.create("accounts", {"name": "during the listing %d" % i})
            if r.status == 204:
                created.add(r.entity_id)
            if api.delete("accounts(%s)" % victims[i]).status == 204:
                deleted.add(victims[i])
            i += 1

    m = mount_factory(config(lemu, tmp_path, ttl=TTL, page_size=100), emu=lemu)
    lemu.faults(latency_ms=15)
    t = threading.Thread(target=churn)
    try:
        t.start()
        names = os.listdir(set_dir(m))
    finally:
        done.set()
        t.join(60)
        lemu.faults(latency_ms=0)
    listed = {n[:-5] for n in names}
    (recs, _, par), = listings(m)
    assert par > 1, "the listing was not partitioned"
    assert created and deleted, "nothing changed during the listing"
    assert recs == len(names), "%d records handed over for %d names" % (recs, len(names))
    assert pre - deleted <= listed, "lost: %s" % sorted(pre - deleted - listed)[:5]
    assert listed <= pre | created, "unknown: %s" % sorted(listed - pre - created)[:5]
    # The next refresh (a delta) makes it exact.
    time.sleep(AFTER_TTL)
    assert sorted(os.listdir(set_dir(m))) == sorted(server_files(api))


def test_a_table_without_change_tracking_lists_whole_each_time(lemu, mount_factory, tmp_path):
    api = lemu.api("contoso")
    m = mount_factory(config(lemu, tmp_path, ttl=TTL), emu=lemu)
    folder = set_dir(m, "annotations")
    d1 = stats_delta(lemu, lambda: sorted(os.listdir(folder)))
    want = server_files(api, "annotations", "annotationid")
    assert d1.result == sorted(want)
    note = d1.result[0][:-5]
    assert api.patch("annotations(%s)" % note, {"subject": "changed subject"}).status == 204
    time.sleep(AFTER_TTL)
    d2 = stats_delta(lemu, lambda: sorted(os.listdir(folder)))
    assert d2.result == d1.result
    assert d2["list"] == d1["list"], "listed whole again: %r %r" % (d1, d2)
    assert len(listings(m, "annotations")) == 2 and "annotations: refreshed" not in m.log_text()
    assert read(os.path.join(folder, note + ".json")) == server_files(
        api, "annotations", "annotationid")[note + ".json"]


def test_without_change_tracking_a_long_copy_is_served_from_the_listing(lemu, mount_factory,
                                                                        tmp_path):
    """A table without change tracking cannot be refreshed cheaply: what came with its
    listing is served until a readdir lists it again, so a copy that outlives cache_ttl
    still makes no request per record."""
    m = mount_factory(config(lemu, tmp_path, ttl=TTL), emu=lemu)
    folder = set_dir(m, "annotations")
    names = sorted(os.listdir(folder))
    want = server_files(lemu.api("contoso"), "annotations", "annotationid")

    def slow_copy():
        got = {}
        for i, n in enumerate(names):
            got[n] = read(os.path.join(folder, n))
            if i % 100 == 0:
                time.sleep(AFTER_TTL / 2)
        return got

    d = stats_delta(lemu, slow_copy)
    assert d.result == want
    assert sum(d.values()) == 0, "requests during the copy: %r" % d
