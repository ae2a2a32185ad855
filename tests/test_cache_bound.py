"""Record content within cache_size: what falls out of memory waits in a private spill file
(or, without one, is fetched again), and every copy stays exact.

A cache_size of 0 keeps no content in memory at all, so every read goes the long way: from
the spill file, or from the server when the spill directory cannot be used.
"""

import os
import stat
import subprocess

import pytest

from lib.fixtures import emulator_fixture
from lib.mount import Ini, get_raw, render, stats_delta, strip_annotations

bound_emu = emulator_fixture(orgs="contoso", records={"accounts": 60, "contacts": 5}, seed=23)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def server_bytes(api, es, rid):
    rec, _ = get_raw(api, es, rid)
    return render(strip_annotations(rec))


@pytest.fixture
def zero_cache(bound_emu, tmp_path):
    ini = Ini.load(bound_emu.config_path)
    ini["global"]["cache_size"] = "0"
    return ini.write(str(tmp_path / "zero.ini"))


def copy_and_compare(emu, m, tmp_path, es="accounts", pk="accountid"):
    """cp -r the set; every copied file must equal the server's rendering, and its size
    what stat said beforehand."""
    src = os.path.join(m.path, "contoso", es)
    dst = str(tmp_path / "copy")
    d = stats_delta(emu, lambda: subprocess.run(["cp", "-r", src, dst], stderr=subprocess.PIPE,
                                                timeout=120))
    assert d.result.returncode == 0, d.result.stderr
    api = emu.api("contoso")
    ids = [r[pk] for r in emu.records("contoso", es)]
    assert sorted(os.listdir(dst)) == sorted(i + ".json" for i in ids)
    for rid in ids:
        got = read(os.path.join(dst, rid + ".json"))
        assert got == server_bytes(api, es, rid), rid
        assert os.stat(os.path.join(src, rid + ".json")).st_size == len(got), rid
    return d


def test_copy_through_the_spill_file_is_exact_and_costs_no_get(bound_emu, mount_factory,
                                                                zero_cache, tmp_path):
    cache = tmp_path / "xdg-cache"
    m = mount_factory(zero_cache, emu=bound_emu, env={"XDG_CACHE_HOME": str(cache)})
    d = copy_and_compare(bound_emu, m, tmp_path)
    assert d["list"] == 2 and d["get"] == 0, d
    # The spill file is unlinked: nothing of the records is left to find on disk.
    assert stat.S_IMODE(os.stat(cache / "dynfs").st_mode) == 0o700
    assert os.listdir(cache / "dynfs") == []


def test_without_a_spill_file_dropped_content_is_fetched_again(bound_emu, mount_factory,
                                                               zero_cache, tmp_path):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the cache directory would go\n")
    m = mount_factory(zero_cache, emu=bound_emu, env={"XDG_CACHE_HOME": str(blocked)})
    n = len(bound_emu.records("contoso", "accounts"))
    d = copy_and_compare(bound_emu, m, tmp_path)
    assert d["list"] == 2, d
    # Everything but the record last listed fell out of memory; each is read once again.
    assert n - 1 <= d["get"] <= n, d
    assert "spill" in m.log_text() or "fetched again" in m.log_text()


def test_a_record_changed_after_eviction_reads_whole_and_agrees_with_stat(bound_emu,
                                                                          mount_factory,
                                                                          zero_cache, tmp_path):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("x\n")
    m = mount_factory(zero_cache, emu=bound_emu, env={"XDG_CACHE_HOME": str(blocked)})
    src = os.path.join(m.path, "contoso", "accounts")
    names = sorted(os.listdir(src))
    rid = names[len(names) // 2][:-5]
    p = os.path.join(src, rid + ".json")
    api = bound_emu.api("contoso")
    r = api.patch("accounts(%s)" % rid, {"description": "longer now " * 40})
    assert r.status in (200, 204), r
    want = server_bytes(api, "accounts", rid)
    with open(p, "rb") as f:
        got = f.read()
        size = os.fstat(f.fileno()).st_size
    # One whole version, the one the open fetched, and fstat agrees with it.
    assert got == want
    assert size == len(got)
    assert os.stat(p).st_size == len(got)


def test_metadata_walks_touch_no_content(bound_emu, mount_factory, zero_cache, tmp_path):
    """ls -l, find -ls and du -s read the index only: with no content in memory and no spill
    file they still cost nothing after the listing, and show the sizes cat would read."""
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("x\n")
    m = mount_factory(zero_cache, emu=bound_emu, env={"XDG_CACHE_HOME": str(blocked)})
    src = os.path.join(m.path, "contoso", "accounts")
    os.listdir(src)

    def walk():
        out = {}
        for argv in (["ls", "-l", src], ["find", src, "-ls"], ["du", "-s", "--apparent-size", src]):
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
            assert r.returncode == 0, r.stderr
            out[argv[0]] = r.stdout
        return out

    d = stats_delta(bound_emu, walk)
    assert sum(d.values()) == 0, d
    api = bound_emu.api("contoso")
    for r in bound_emu.records("contoso", "accounts")[:10]:
        want = server_bytes(api, "accounts", r["accountid"])
        assert os.stat(os.path.join(src, r["accountid"] + ".json")).st_size == len(want)
