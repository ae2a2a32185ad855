"""Sizes, times, modes and extended attributes of record files."""

import errno
import os
import stat
import subprocess

import pytest

from lib.mount import odata_epoch


@pytest.fixture(scope="module")
def records(std_emu):
    return {r["accountid"]: r for r in std_emu.records("contoso", "accounts")}


@pytest.fixture(scope="module")
def listed(mnt, records):
    d = os.path.join(mnt.path, "contoso", "accounts")
    names = sorted(os.listdir(d))
    assert len(names) == len(records)
    return [(n[:-5], os.path.join(d, n)) for n in names]


def test_size_equals_bytes_read(listed):
    bad = []
    for rid, p in listed:
        st = os.stat(p)
        with open(p, "rb") as f:
            data = f.read()
        if st.st_size != len(data):
            bad.append((rid, st.st_size, len(data)))
    assert not bad, "st_size != bytes read for %d files, e.g. %s" % (len(bad), bad[:3])


def test_fstat_size_of_open_file(listed):
    rid, p = listed[3]
    with open(p, "rb") as f:
        st = os.fstat(f.fileno())
        assert st.st_size == len(f.read())


def test_mtime_is_modifiedon(listed, records):
    bad = []
    for rid, p in listed:
        want = odata_epoch(records[rid]["modifiedon"])
        got = os.stat(p).st_mtime
        if int(got) != want:
            bad.append((rid, records[rid]["modifiedon"], got, want))
    assert not bad, "%d files with wrong mtime, e.g. %s" % (len(bad), bad[:3])


def test_mtimes_differ_between_records(listed):
    # the emulator's records are modified at different times: a constant mtime is a bug
    assert len({int(os.stat(p).st_mtime) for _, p in listed[:50]}) > 1


def test_regular_file_mode(listed):
    for rid, p in listed[:30]:
        st = os.lstat(p)
        assert stat.S_ISREG(st.st_mode), (rid, oct(st.st_mode))
        assert st.st_mode & stat.S_IRUSR, oct(st.st_mode)
        assert st.st_nlink >= 1


def test_stat_size_matches_content_length(listed):
    # size is known before the first read (ls -l shows real sizes)
    rid, p = listed[-1]
    size = os.stat(p).st_size
    assert size > 100
    with open(p, "rb") as f:
        assert len(f.read()) == size


# ---------------------------------------------------------------- xattrs

def test_etag_xattr(listed, records):
    for rid, p in listed[:40]:
        got = os.getxattr(p, "user.dynfs.etag").decode()
        assert got == records[rid]["@odata.etag"], rid
        assert got.startswith('W/"'), got


def test_url_xattr(listed, std_emu):
    api_url = std_emu.api("contoso").api_url
    for rid, p in listed[:10]:
        assert os.getxattr(p, "user.dynfs.url").decode() == "%saccounts(%s)" % (api_url, rid)


def test_url_xattr_second_org(mnt, std_emu):
    rid = std_emu.records("fabrikam", "contacts")[0]["contactid"]
    p = os.path.join(mnt.path, "fabrikam", "contacts", rid + ".json")
    assert os.getxattr(p, "user.dynfs.url").decode() == "%scontacts(%s)" % (
        std_emu.api("fabrikam").api_url, rid)


def test_listxattr(listed):
    names = os.listxattr(listed[0][1])
    assert "user.dynfs.etag" in names and "user.dynfs.url" in names, names


def test_unknown_xattr_is_enodata(listed):
    with pytest.raises(OSError) as ei:
        os.getxattr(listed[0][1], "user.dynfs.nosuch")
    assert ei.value.errno == errno.ENODATA, ei.value


@pytest.mark.parametrize("name", ["security.selinux", "system.posix_acl_access",
                                  "system.posix_acl_default", "trusted.x"])
def test_other_xattr_namespaces_are_not_supported(mnt, listed, name):
    """dynfs keeps no attributes outside user.*: it says so (ENOTSUP), on records, folders,
    the root and .status alike, rather than "none on this file" (ENODATA)."""
    top = mnt.path
    for p in (listed[0][1], os.path.dirname(listed[0][1]), os.path.join(top, "contoso"), top,
              os.path.join(top, ".status")):
        with pytest.raises(OSError) as ei:
            os.getxattr(p, name)
        assert ei.value.errno == errno.ENOTSUP, (p, ei.value)


def test_ls_l_asks_the_mount_once(listed, tmp_path):
    """ls -l checks every file for an SELinux label and a POSIX ACL; once a file says the
    mount has no such thing, it stops asking (a round trip per file, twice, otherwise)."""
    trace = tmp_path / "trace"
    subprocess.run(["strace", "-f", "-o", str(trace), "-e", "trace=getxattr,lgetxattr",
                    "ls", "-l", os.path.dirname(listed[0][1])], check=True, stdout=subprocess.DEVNULL)
    calls = [l for l in trace.read_text().splitlines() if "xattr(" in l]
    assert len(listed) > 5
    assert 1 <= len(calls) <= 2, calls


def test_xattr_of_missing_record(mnt):
    p = os.path.join(mnt.path, "contoso", "accounts", "00000000-0000-0000-0000-000000000001.json")
    with pytest.raises(OSError) as ei:
        os.getxattr(p, "user.dynfs.etag")
    assert ei.value.errno == errno.ENOENT, ei.value
