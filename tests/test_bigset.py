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


# --------------------------------------------------------------------------- names the kernel holds

SLAB = "/sys/kernel/slab/fuse_inode"


def fuse_inodes():
    """Inodes of every FUSE mount of this machine the kernel holds now: the objects of its
    fuse_inode slab, once the per-CPU caches of freed ones are flushed (shrink)."""
    with open(os.path.join(SLAB, "shrink"), "w") as f:
        f.write("1")
    with open(os.path.join(SLAB, "objects")) as f:
        return int(f.read().split()[0])


def settled_fuse_inodes():
    """fuse_inodes() once it stopped moving: inodes are freed after an RCU grace period."""
    n, same, deadline = fuse_inodes(), 0, time.monotonic() + 20
    while same < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        now = fuse_inodes()
        same = same + 1 if now == n else 0
        n = now
    return n


def status(m):
    with open(os.path.join(m.path, ".status")) as f:
        return json.load(f)


def listed_mount(big_emu, mount_factory, tmp_path, name, extra_args=()):
    """A mount of its own whose listing does not lapse, its folder listed."""
    ini = Ini.load(big_emu.config_path)
    ini["global"]["cache_ttl"] = "3600"
    m = mount_factory(ini.write(str(tmp_path / (name + ".ini"))), emu=big_emu,
                      extra_args=list(extra_args))
    src = os.path.join(m.path, "contoso", "accounts")
    os.listdir(src)                                  # listed: what follows asks nothing
    return m, src


def settled_status(m):
    """.status once no listing is in progress and the content cache stopped growing."""
    st, deadline = status(m), time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = status(m)
        if (now["listings_in_progress"] == 0 and
                now["cache"]["memory_bytes"] == st["cache"]["memory_bytes"]):
            return now
        st = now
    return st


def drop_kernel_names():
    """Have the kernel let go of every name it holds that is not in use, as memory pressure
    would, and wait until it did."""
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2")
    return settled_fuse_inodes()


def test_names_the_kernel_holds_cost_dynfs_nothing(big_emu, mount_factory, tmp_path, server):
    """find -ls, ls -l and du -s leave the kernel holding every name, as on any filesystem,
    and dynfs's heap where it was: a record's node id leads to it through the index, so no
    node is kept per name (libfuse's high-level API kept one, about 270 bytes, for each)."""
    # One thread (-s): each FUSE worker thread has a buffer of about 1 MiB of its own, and a
    # busy machine makes libfuse start more of them in the middle of the walks.
    m, src = listed_mount(big_emu, mount_factory, tmp_path, "held", ["-s"])
    walks = [["find", src, "-ls"], ["ls", "-l", src], ["du", "-s", src]]
    for argv in walks:                               # the content comes in, threads start
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True, timeout=300)
    before = drop_kernel_names()
    st0 = settled_status(m)
    d = stats_delta(big_emu, lambda: [subprocess.run(argv, stdout=subprocess.PIPE, check=True,
                                                     timeout=300).stdout for argv in walks])
    held = settled_fuse_inodes() - before
    st = status(m)
    # Record content still coming in from the listing's parallel reads is not ours to count.
    grew = (st["memory"]["heap_in_use_bytes"] - st0["memory"]["heap_in_use_bytes"]
            - (st["cache"]["memory_bytes"] - st0["cache"]["memory_bytes"]))
    assert sum(d.values()) == 0, d
    find_ls, ls_l, _ = d.result
    assert sum(1 for ln in find_ls.decode().splitlines() if ln.endswith(".json")) == N
    assert sum(1 for ln in ls_l.decode().splitlines() if ln.endswith(".json")) == N
    assert held >= N, "the kernel holds only %d more inodes after the walks" % held
    assert st["nodes"]["own"] == 0, st["nodes"]
    assert grew < N * 16, (
        "dynfs's heap grew by %d bytes besides content (%.0f a name) while the kernel took %d "
        "names" % (grew, grew / N, held))


def test_forgotten_names_stat_and_read_right(big_emu, mount_factory, tmp_path, server):
    """The kernel lets go of names under memory pressure (here: drop_caches) and looks them
    up again: the same inode numbers, the same bytes, no request; a file held open meanwhile
    reads whole."""
    m, src = listed_mount(big_emu, mount_factory, tmp_path, "forgot")
    ids = sorted(server)
    first = ids[0]
    inos = {n: os.stat(os.path.join(src, n)).st_ino for n in os.listdir(src)}
    before = settled_fuse_inodes()
    with open(os.path.join(src, first + ".json"), "rb") as f:
        head = f.read(10)
        assert drop_kernel_names() < before - N // 2, "the kernel let go of no names"
        d = stats_delta(big_emu, lambda: [os.stat(os.path.join(src, i + ".json")) for i in ids])
        assert sum(d.values()) == 0, d
        rest = f.read()
        assert os.fstat(f.fileno()).st_size == len(head + rest)
    assert head + rest == render(strip_annotations(server[first]))
    # Looked up again, a name is the same file (cp, tar and rsync compare st_ino).
    assert {i + ".json": s.st_ino for i, s in zip(ids, d.result)} == inos
    dst = str(tmp_path / "copy")
    dc = stats_delta(big_emu, lambda: subprocess.run(["cp", "-r", src, dst], stdout=subprocess.PIPE,
                                                     stderr=subprocess.PIPE, timeout=300))
    assert dc.result.returncode == 0, dc.result.stderr.decode()[-2000:]
    assert sum(dc.values()) == 0, dc
    assert len(os.listdir(dst)) == N
    for k in range(0, N, 997):
        want = render(strip_annotations(server[ids[k]]))
        assert d.result[k].st_size == len(want), ids[k]
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
