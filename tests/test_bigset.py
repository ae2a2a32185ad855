"""A 12,000-record set: ls + cp -r cost a few list requests per 5000 records and no get.

One module-scoped emulator (record cost 0) and one mount; the whole module should take well
under a minute.
"""

import math
import os
import subprocess

import pytest

from lib.mount import as_decimal, list_raw, loads_decimal, render, stats_delta, strip_annotations

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
