"""The kernel keeps record attributes (attr_timeout) and is told when they change.

A walk over a listed folder is answered by the kernel, so every way a record's size or mtime
changes under it must make the kernel forget what it kept before the operation that caused
the change answers: a save through the mount, a refresh by delta or in full, a server-side
change or deletion picked up by a listing.  Each test first stats the record (so the kernel
holds its old attributes), changes it, and stats or reads it again at once: a kernel that
was not told would answer with the old size, and a read would stop at it.
"""

import errno
import json
import os
import uuid

import pytest

from lib.fixtures import faults_cleared, fresh_records
from lib.mount import Ini, get_raw, odata_epoch, render, stats_delta, strip_annotations

LONG_TTL = 3600     # nothing lapses during a test: only what the test does refreshes

faults_cleared = faults_cleared("std_emu")
_ids = fresh_records("std_emu", "contoso", "accounts", "accountid", plain=True)


@pytest.fixture
def account(_ids):
    """An account no other test of this module touched."""
    return next(_ids)


def read(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture
def m(std_emu, mount_factory, tmp_path):
    ini = Ini.load(std_emu.config_path)
    ini["global"]["cache_ttl"] = str(LONG_TTL)
    return mount_factory(ini.write(str(tmp_path / "long.ini")), emu=std_emu)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def accounts(m):
    return os.path.join(m.path, "contoso", "accounts")


def server_text(std_emu, rid):
    rec, _ = get_raw(std_emu.api("contoso"), "accounts", rid)
    return rec, render(strip_annotations(rec))


def grow_on_server(std_emu, rid):
    """Change the record on the server so that its file gets longer; its new text."""
    r = std_emu.api("contoso").patch("accounts(%s)" % rid,
                                     {"description": "grown %s " % uuid.uuid4().hex + "y" * 700})
    assert r.status in (200, 204), r
    return server_text(std_emu, rid)


def list_ids(std_emu):
    return std_emu.api("contoso").list_all("accounts", select="accountid")[0]


def refresh(folder):
    os.setxattr(folder, "user.dynfs.refresh", b"1")


def test_stat_after_refresh_sees_the_new_size(std_emu, m, account):
    d = accounts(m)
    p = os.path.join(d, account + ".json")
    os.listdir(d)
    old = os.stat(p)
    assert os.stat(p).st_size == old.st_size
    rec, want = grow_on_server(std_emu, account)
    refresh(d)
    os.listdir(d)                   # the delta: the kernel must forget the old size now
    st = os.stat(p)
    assert st.st_size == len(want) != old.st_size
    assert int(st.st_mtime) == odata_epoch(rec["modifiedon"])
    assert read(p) == want


def test_read_after_refresh_is_not_cut_at_the_old_size(std_emu, m, account):
    d = accounts(m)
    p = os.path.join(d, account + ".json")
    os.listdir(d)
    old = read(p)
    assert os.stat(p).st_size == len(old)
    _, want = grow_on_server(std_emu, account)
    refresh(d)
    # open refreshes (one delta) and reads: whole, and stat agrees with what was read
    with open(p, "rb") as f:
        got = f.read()
        assert os.fstat(f.fileno()).st_size == len(got)
    assert got == want
    assert len(got) > len(old)
    assert os.stat(p).st_size == len(want)


def test_stat_after_a_save_sees_the_saved_size(std_emu, m, account):
    d = accounts(m)
    p = os.path.join(d, account + ".json")
    os.listdir(d)
    before = os.stat(p)
    doc = json.loads(read(p))
    doc["description"] = "saved " + "z" * 900
    d0 = stats_delta(std_emu, lambda: write(p, json.dumps(doc).encode()))
    assert d0["update"] == 1 and d0["get"] == 0, d0
    st = os.stat(p)
    _, want = server_text(std_emu, account)
    assert st.st_size == len(want) != before.st_size
    assert read(p) == want


def test_record_deleted_on_the_server_is_gone_at_once_after_a_refresh(std_emu, m, account):
    d = accounts(m)
    p = os.path.join(d, account + ".json")
    os.listdir(d)
    assert os.stat(p).st_size > 0
    assert std_emu.api("contoso").delete("accounts(%s)" % account).status == 204
    refresh(d)
    names = os.listdir(d)
    assert account + ".json" not in names
    with pytest.raises(OSError) as ei:
        os.stat(p)
    assert ei.value.errno == errno.ENOENT


def test_full_refresh_updates_kept_sizes(std_emu, m, account):
    d = accounts(m)
    p = os.path.join(d, account + ".json")
    os.listdir(d)
    old = os.stat(p).st_size
    _, want = grow_on_server(std_emu, account)
    os.setxattr(d, "user.dynfs.refresh", b"full")
    os.listdir(d)
    assert os.stat(p).st_size == len(want) != old
    assert read(p) == want


def test_walk_of_a_listed_folder_makes_no_request(std_emu, m):
    d = accounts(m)
    names = os.listdir(d)
    sizes = stats_delta(std_emu, lambda: {n: os.stat(os.path.join(d, n)).st_size for n in names})
    assert sum(sizes.values()) == 0, sizes
    again = stats_delta(std_emu, lambda: {n: os.lstat(os.path.join(d, n)).st_size for n in names})
    assert sum(again.values()) == 0, again
    assert again.result == sizes.result
    assert all(v > 0 for v in sizes.result.values())


def test_folder_read_in_pieces_lists_each_entry_once(std_emu, m):
    """A set folder is read at offsets, a reply at a time: every record and local file once."""
    d = accounts(m)
    local = os.path.join(d, "notes-%s.txt" % uuid.uuid4().hex[:6])
    write(local, b"kept here\n")
    try:
        names = os.listdir(d)
        want = {r["accountid"] + ".json" for r in list_ids(std_emu)} | {os.path.basename(local)}
        assert len(names) == len(set(names))
        assert set(names) == want
        # a second read of the same open folder (rewind) gives the same
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            assert sorted(os.listdir(fd)) == sorted(names)
            assert sorted(os.listdir(fd)) == sorted(names)
        finally:
            os.close(fd)
    finally:
        os.unlink(local)
