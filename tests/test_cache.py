"""Caching and request counts: listings fill the cache, TTL revalidation (304), changes.

Each test mounts its own dynfs (fresh cache) on this module's emulator, and counts the
emulator's requests around the file operations with stats_delta().
"""

import errno
import os
import subprocess
import time
import uuid

import pytest

from lib.mount import Ini, get_raw, odata_epoch, render, stats_delta, strip_annotations

TTL = 1
AFTER_TTL = TTL + 1.2
LONG_TTL = 60       # dynfs's default: nothing goes stale during a test


def read(path):
    with open(path, "rb") as f:
        return f.read()


def nonzero(d):
    return {k: v for k, v in d.items() if v}


def ttl_config(emu, tmp_path, ttl):
    """The emulator's dynfs.ini with cache_ttl = TTL (None: no cache_ttl, dynfs's default)."""
    ini = Ini.load(emu.config_path)
    ini["global"].pop("cache_ttl", None)
    if ttl is not None:
        ini["global"]["cache_ttl"] = str(ttl)
    return ini.write(str(tmp_path / "ttl.ini"))


@pytest.fixture
def fresh(std_emu, mount_factory, tmp_path):
    """dynfs with cache_ttl = LONG_TTL (test_long_ttl_outlives_a_short_one checks it holds)."""
    return mount_factory(ttl_config(std_emu, tmp_path, LONG_TTL), emu=std_emu)


@pytest.fixture
def short(std_emu, mount_factory, tmp_path):
    return mount_factory(ttl_config(std_emu, tmp_path, TTL), emu=std_emu)


def set_dir(m, es="contacts", org="contoso"):
    return os.path.join(m.path, org, es)


# ---------------------------------------------------------------- within the TTL

def test_listing_costs_two_lists_below_5000(std_emu, fresh):
    n = len(std_emu.records("contoso", "contacts"))
    d = stats_delta(std_emu, lambda: os.listdir(set_dir(fresh)))
    assert len(d.result) == n
    # One page of ids (which brings the change-tracking link), one of records.
    assert d["list"] == 2, d
    assert d["get"] == 0, d


def test_cp_r_costs_one_list_and_no_get(std_emu, fresh, tmp_path):
    n = len(std_emu.records("contoso", "accounts"))
    dst = str(tmp_path / "copy")
    d = stats_delta(std_emu, lambda: subprocess.run(["cp", "-r", set_dir(fresh, "accounts"), dst],
                                                stderr=subprocess.PIPE, timeout=120))
    assert d.result.returncode == 0, d.result.stderr
    assert len(os.listdir(dst)) == n
    assert d["list"] == 2 and d["get"] == 0, d


def test_stat_and_read_after_listing_make_no_request(std_emu, fresh):
    d0 = set_dir(fresh)
    names = os.listdir(d0)

    def work():
        sizes = {n: os.stat(os.path.join(d0, n)).st_size for n in names}
        datas = {n: read(os.path.join(d0, n)) for n in names}
        return sizes, datas

    d = stats_delta(std_emu, work)
    assert nonzero(d) == {}, "expected no request at all, got %r" % d
    sizes, datas = d.result
    assert all(sizes[n] == len(datas[n]) for n in names)


def test_ls_l_and_cat_after_listing_make_no_request(std_emu, fresh):
    d0 = set_dir(fresh, "accounts")
    os.listdir(d0)

    def work():
        r1 = subprocess.run(["ls", "-l", d0], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        r2 = subprocess.run("cat -- *.json > /dev/null", shell=True, cwd=d0, stderr=subprocess.PIPE,
                            timeout=60)
        return r1, r2

    d = stats_delta(std_emu, work)
    r1, r2 = d.result
    assert r1.returncode == 0 and r2.returncode == 0, (r1.stderr, r2.stderr)
    assert nonzero(d) == {}, d


def test_second_listing_within_ttl_makes_no_request(std_emu, fresh):
    first = sorted(os.listdir(set_dir(fresh)))
    d = stats_delta(std_emu, lambda: sorted(os.listdir(set_dir(fresh))))
    assert d.result == first
    assert nonzero(d) == {}, d


def test_unlisted_record_costs_one_get(std_emu, fresh):
    rid = std_emu.records("contoso", "accounts")[5]["accountid"]
    p = os.path.join(set_dir(fresh, "accounts"), rid + ".json")
    d = stats_delta(std_emu, lambda: read(p))
    assert d["get"] == 1 and d["list"] == 0, d
    assert sum(d.values()) == 1, d
    # and once read, it is served from the cache
    d2 = stats_delta(std_emu, lambda: (os.stat(p), read(p), os.getxattr(p, "user.dynfs.etag")))
    assert nonzero(d2) == {}, d2


def test_unlisted_missing_record_costs_one_get(std_emu, fresh):
    p = os.path.join(set_dir(fresh, "accounts"), str(uuid.uuid4()) + ".json")

    def work():
        with pytest.raises(FileNotFoundError):
            os.stat(p)

    d = stats_delta(std_emu, work)
    assert d["get"] == 1 and d["list"] == 0, d
    assert d.status.get("404") == 1, d


def test_missing_record_after_listing_costs_nothing(std_emu, fresh):
    os.listdir(set_dir(fresh, "accounts"))
    p = os.path.join(set_dir(fresh, "accounts"), str(uuid.uuid4()) + ".json")

    def work():
        for _ in range(3):
            with pytest.raises(FileNotFoundError):
                os.stat(p)

    d = stats_delta(std_emu, work)
    assert nonzero(d) == {}, d


@pytest.mark.parametrize("ttl", [LONG_TTL, None], ids=["cache_ttl_60", "default_ttl"])
def test_long_ttl_outlives_a_short_one(std_emu, mount_factory, tmp_path, ttl):
    """With cache_ttl = 60, given or by default, a listing and a record read are still
    served from the cache after AFTER_TTL seconds, when cache_ttl = 1 would ask again (so
    the tests above run well within the TTL)."""
    m = mount_factory(ttl_config(std_emu, tmp_path, ttl), emu=std_emu)
    d0 = set_dir(m)
    names = sorted(os.listdir(d0))
    p = os.path.join(d0, names[0])
    first = read(p)
    time.sleep(AFTER_TTL)
    d = stats_delta(std_emu, lambda: (sorted(os.listdir(d0)), read(p)))
    assert d.result == (names, first)
    assert nonzero(d) == {}, "expected no request within the TTL, got %r" % d


# ---------------------------------------------------------------- after the TTL

def test_revalidation_after_ttl_is_a_304(std_emu, short):
    rid = std_emu.records("contoso", "contacts")[3]["contactid"]
    p = os.path.join(set_dir(short), rid + ".json")
    d = stats_delta(std_emu, lambda: read(p))
    assert d["get"] == 1, d
    before, etag = d.result, os.getxattr(p, "user.dynfs.etag")
    time.sleep(AFTER_TTL)
    d = stats_delta(std_emu, lambda: read(p))
    assert d["get"] == 1 and d["list"] == 0, d
    assert d.status.get("304") == 1, "expected one 304, got %r" % d
    assert d.result == before
    assert os.getxattr(p, "user.dynfs.etag") == etag


def test_reread_after_ttl_gives_identical_bytes(std_emu, short):
    names = sorted(os.listdir(set_dir(short)))[:10]
    first = {n: read(os.path.join(set_dir(short), n)) for n in names}
    time.sleep(AFTER_TTL)
    again = {n: read(os.path.join(set_dir(short), n)) for n in names}
    assert again == first


def test_change_visible_after_ttl(std_emu, short):
    api = std_emu.api("contoso")
    rid = std_emu.records("contoso", "accounts")[11]["accountid"]
    p = os.path.join(set_dir(short, "accounts"), rid + ".json")
    old = read(p)
    old_etag = os.getxattr(p, "user.dynfs.etag").decode()
    new_name = "Renamed ✓ \"%s\"" % uuid.uuid4().hex[:8]
    r = api.patch("accounts(%s)" % rid, {"name": new_name, "telephone1": "+41 44 000 00 00",
                                          "description": "x" * 300})
    assert r.status in (200, 204), r
    rec, _ = get_raw(api, "accounts", rid)
    assert rec["@odata.etag"] != old_etag, "the emulator did not change the etag"
    want = render(strip_annotations(rec))
    time.sleep(AFTER_TTL)
    st = os.stat(p)
    got = read(p)
    assert got != old
    assert got == want
    assert os.getxattr(p, "user.dynfs.etag").decode() == rec["@odata.etag"]
    assert st.st_size == len(want)
    assert int(st.st_mtime) == odata_epoch(rec["modifiedon"])


def test_listing_refreshes_after_ttl(std_emu, short):
    api = std_emu.api("contoso")
    d0 = set_dir(short, "accounts")
    before = set(os.listdir(d0))
    victim = sorted(before)[0]
    r = api.create("accounts", {"name": "created after listing %s" % uuid.uuid4().hex[:6]})
    assert r.status == 204, r
    new_id = r.entity_id
    r = api.delete("accounts(%s)" % victim[:-5])
    assert r.status == 204, r
    time.sleep(AFTER_TTL)
    after = set(os.listdir(d0))
    assert new_id + ".json" in after
    assert victim not in after
    assert after == (before - {victim}) | {new_id + ".json"}
    with pytest.raises(OSError) as ei:
        os.stat(os.path.join(d0, victim))
    assert ei.value.errno == errno.ENOENT
    rec, _ = get_raw(api, "accounts", new_id)
    assert read(os.path.join(d0, new_id + ".json")) == render(strip_annotations(rec))


def test_deleted_record_gone_after_ttl(std_emu, short):
    api = std_emu.api("contoso")
    rid = std_emu.records("contoso", "contacts")[-1]["contactid"]
    p = os.path.join(set_dir(short), rid + ".json")
    assert read(p)
    assert api.delete("contacts(%s)" % rid).status == 204
    time.sleep(AFTER_TTL)
    with pytest.raises(FileNotFoundError):
        read(p)
