"""A 12,000-record set: ls + cp -r cost a few list requests per 5000 records and no get.

One module-scoped emulator (record cost 0) and one mount; the whole module should take well
under a minute.
"""

import json
import math
import os
import subprocess
import time

import pytest

from lib.mount import Ini, as_decimal, list_raw, loads_decimal, render, stats_delta, strip_annotations

N = 12000


@pytest.fixture(scope="module")
def server(big_emu):
    recs = list_raw(big_emu.api("contoso"), "accounts")
    assert len(recs) == N, "emulator has %d accounts, expected %d" % (len(recs), N)
    return {r["accountid"]: r for r in recs}


@pytest.fixture(scope="module")
def copied(big_emu, big_mnt, server, tmp_path_factory):
    """ls + cp -r of the whole set, with the requests it cost."""
    dst = str(tmp_path_factory.mktemp("bigcopy") / "x")
    src = os.path.join(big_mnt.path, "contoso", "accounts")

    def work():
        names = os.listdir(src)
        r = subprocess.run(["cp", "-r", src, dst], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=600)
        return names, r

    d = stats_delta(big_emu, work)
    return d, dst


def test_listing_has_every_record(copied, server):
    d, _ = copied
    names, _ = d.result
    assert len(names) == len(set(names)) == N
    assert set(names) == {i + ".json" for i in server}


def test_ls_and_cp_request_count(copied):
    d, _ = copied
    names, r = d.result
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    # The ids, 5000 a page; one request to learn how the server orders ids; the records in
    # three ranges of 4000 read at once (x-ms-dop-hint 4 or none, 3 pages' worth).
    assert d["list"] == math.ceil(N / 5000) + 1 + 3 == 7, d
    assert d["get"] == 0, d
    assert d["metadata"] == 0 and d["batch"] == 0, d


def test_copy_is_complete_and_equal(copied, server):
    _, dst = copied
    assert sorted(os.listdir(dst)) == sorted(i + ".json" for i in server)
    bad = []
    for rid, rec in server.items():
        with open(os.path.join(dst, rid + ".json"), "rb") as f:
            data = f.read()
        want = render(strip_annotations(rec))
        if data != want:
            if loads_decimal(data) != as_decimal(strip_annotations(rec)):
                bad.append((rid, "content"))
            else:
                bad.append((rid, "layout"))
    assert not bad, "%d of %d copied records differ, e.g. %s" % (len(bad), N, bad[:5])


def test_sizes_of_big_set(big_mnt, copied, server):
    src = os.path.join(big_mnt.path, "contoso", "accounts")
    _, dst = copied
    for rid in list(server)[::500]:
        n = rid + ".json"
        assert os.stat(os.path.join(src, n)).st_size == os.stat(os.path.join(dst, n)).st_size


# --------------------------------------------------------------------------- kernel_names

SLAB = "/sys/kernel/slab/fuse_inode"


def fuse_inodes():
    """Inodes of every FUSE mount of this machine the kernel holds now: the objects of its
    fuse_inode slab, once the per-CPU caches of freed ones are flushed (shrink)."""
    with open(os.path.join(SLAB, "shrink"), "w") as f:
        f.write("1")
    with open(os.path.join(SLAB, "objects")) as f:
        return int(f.read().split()[0])


def status(m):
    with open(os.path.join(m.path, ".status")) as f:
        return json.load(f)


def walk_mount(big_emu, mount_factory, tmp_path, keep):
    """A mount with kernel_names = KEEP, its folder listed, then walked with find -ls: the
    mount, the walk's request counts, and how many more inodes the kernel holds after it."""
    ini = Ini.load(big_emu.config_path)
    ini["global"]["kernel_names"] = str(keep)
    ini["global"]["cache_ttl"] = "3600"
    m = mount_factory(ini.write(str(tmp_path / ("k%d.ini" % keep))), emu=big_emu)
    src = os.path.join(m.path, "contoso", "accounts")
    before = fuse_inodes()
    os.listdir(src)                                  # listed: the walk below asks nothing
    d = stats_delta(big_emu, lambda: subprocess.run(["find", src, "-ls"], stdout=subprocess.PIPE,
                                                    check=True, timeout=300).stdout)
    # Dropped names are forgotten when the thread gets to them, inodes freed after an RCU
    # grace period: wait for the count to settle.
    grown, same, deadline = fuse_inodes() - before, 0, time.monotonic() + 20
    while same < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        now = fuse_inodes() - before
        same = same + 1 if now == grown else 0
        grown = now
    return m, d, grown


def test_walk_leaves_the_kernel_at_most_kernel_names(big_emu, mount_factory, tmp_path, server):
    keep = 1000
    m, d, grown = walk_mount(big_emu, mount_factory, tmp_path, keep)
    assert sum(d.values()) == 0, d
    lines = d.result.decode().splitlines()
    assert sum(1 for ln in lines if ln.endswith(".json")) == N
    st = status(m)["kernel_names"]
    batch = keep // 4                                # dropped a batch at a time (forget.c)
    assert st["running"] and st["limit"] == keep and keep <= st["held"] <= keep + batch, st
    assert st["dropped"] >= N - keep - batch, st
    # The kernel let go of what it was asked to: it holds about KEEP names more, not N.
    assert grown <= keep + batch + 50, (
        "the kernel holds %d more inodes after the walk (%s); this counts the machine's FUSE "
        "inodes: is another FUSE filesystem busy meanwhile?" % (grown, status(m)["kernel_names"]))


def test_without_a_bound_the_kernel_keeps_every_name(big_emu, mount_factory, tmp_path, server):
    """The control for the test above: kernel_names = 0 leaves every name looked up held."""
    m, d, grown = walk_mount(big_emu, mount_factory, tmp_path, 0)
    assert sum(d.values()) == 0, d
    assert status(m)["kernel_names"]["dropped"] == 0
    assert grown >= N, "the kernel holds only %d more inodes after the walk" % grown


def test_dropped_names_still_stat_and_read_right(big_emu, mount_factory, tmp_path, server):
    keep = 500
    ini = Ini.load(big_emu.config_path)
    ini["global"]["kernel_names"] = str(keep)
    ini["global"]["cache_ttl"] = "3600"
    m = mount_factory(ini.write(str(tmp_path / "k.ini")), emu=big_emu)
    src = os.path.join(m.path, "contoso", "accounts")
    ids = sorted(server)
    first = ids[0]
    # Listed: the stats below ask nothing.  The folder read gives the kernel its first names
    # (readdirplus): they are the first it is made to drop.
    probe = os.listdir(src)[0]
    probe_ino = os.stat(os.path.join(src, probe)).st_ino
    # A file held open while its name is dropped keeps working.
    with open(os.path.join(src, first + ".json"), "rb") as f:
        head = f.read(10)
        d = stats_delta(big_emu, lambda: [os.stat(os.path.join(src, i + ".json")).st_size
                                          for i in ids])
        assert sum(d.values()) == 0, d
        assert status(m)["kernel_names"]["dropped"] >= 2000
        time.sleep(0.5)                              # the kernel's forgets reach libfuse
        rest = f.read()
        assert os.fstat(f.fileno()).st_size == len(head + rest)
    assert head + rest == render(strip_annotations(server[first]))
    # Looked up again, a dropped name is the same file (cp, tar and rsync compare st_ino).
    assert os.stat(os.path.join(src, probe)).st_ino == probe_ino
    dst = str(tmp_path / "copy")
    dc = stats_delta(big_emu, lambda: subprocess.run(["cp", "-r", src, dst], stdout=subprocess.PIPE,
                                                     stderr=subprocess.PIPE, timeout=300))
    assert dc.result.returncode == 0, dc.result.stderr.decode()[-2000:]
    assert sum(dc.values()) == 0, dc
    assert len(os.listdir(dst)) == N
    sizes = d.result
    for k in range(0, N, 997):
        want = render(strip_annotations(server[ids[k]]))
        assert sizes[k] == len(want), ids[k]
        with open(os.path.join(src, ids[k] + ".json"), "rb") as f:
            assert f.read() == want, ids[k]


def test_same_id_in_two_sets_is_two_files(big_emu, big_mnt):
    """Inode numbers mix the folder in: a record id that is also another set's (copied
    environments keep ids) is another file there."""
    a = os.path.join(big_mnt.path, "contoso", "accounts")
    c = os.path.join(big_mnt.path, "contoso", "contacts")
    rid = os.listdir(a)[0][:-len(".json")]
    r = big_emu.api("contoso").post("contacts", {"contactid": rid, "lastname": "Same id"})
    assert r.status in (200, 201, 204), r
    os.setxattr(c, "user.dynfs.refresh", b"full")
    assert rid + ".json" in os.listdir(c)
    sa, sc = os.stat(os.path.join(a, rid + ".json")), os.stat(os.path.join(c, rid + ".json"))
    assert (sa.st_dev, sa.st_ino) != (sc.st_dev, sc.st_ino)
    assert len({os.stat(os.path.join(a, n)).st_ino for n in os.listdir(a)}) == N
