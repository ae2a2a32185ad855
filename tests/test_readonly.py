"""Writes are refused with EROFS until editing lands (then this module changes).

Every refused operation must leave the server untouched (no write request) and the
daemon running.
"""

import errno
import os
import shutil
import subprocess
import uuid

import pytest

from lib.mount import stats_delta

WRITE_KINDS = ("create", "update", "upsert", "delete", "batch")


@pytest.fixture(scope="module")
def rec(mnt, emu):
    rid = emu.records("contoso", "accounts")[0]["accountid"]
    p = os.path.join(mnt.path, "contoso", "accounts", rid + ".json")
    with open(p, "rb") as f:
        return p, f.read()


def _close(res):
    """Close what a call that should have failed returned (a file object or a descriptor)."""
    if hasattr(res, "close"):
        res.close()
    elif isinstance(res, int) and not isinstance(res, bool):
        os.close(res)


def erofs(emu, mnt, fn, *args):
    def run():
        try:
            res = fn(*args)
        except OSError as e:
            return e
        _close(res)
        return None

    d = stats_delta(emu, run)
    err = d.result
    what = "%s%r" % (getattr(fn, "__name__", fn), args)
    assert err is not None, "%s succeeded, expected EROFS" % what
    assert err.errno == errno.EROFS, "%s: expected EROFS, got %r" % (what, err)
    assert not any(d[k] for k in WRITE_KINDS), "a refused write reached the server: %r" % d
    mnt.assert_alive()


@pytest.mark.parametrize("mode", ["r+b", "wb", "ab", "xb"])
def test_open_record_for_writing(mnt, emu, rec, mode):
    p, before = rec
    if mode == "xb":
        # O_EXCL on an existing file: EEXIST is what the kernel says first
        try:
            f = open(p, mode)
        except OSError as e:
            assert e.errno in (errno.EEXIST, errno.EROFS), e
        else:
            f.close()
            pytest.fail("open(%r, 'xb') succeeded on an existing record" % p)
    else:
        erofs(emu, mnt, open, p, mode)
    with open(p, "rb") as f:
        assert f.read() == before, "the record changed"


@pytest.mark.parametrize("flags", [os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC,
                                   os.O_RDONLY | os.O_TRUNC, os.O_WRONLY | os.O_APPEND],
                         ids=["wronly", "rdwr", "wronly-trunc", "rdonly-trunc", "append"])
def test_os_open_write_flags(mnt, emu, rec, flags):
    erofs(emu, mnt, os.open, rec[0], flags)


def test_truncate(mnt, emu, rec):
    erofs(emu, mnt, os.truncate, rec[0], 0)
    assert os.stat(rec[0]).st_size == len(rec[1])


@pytest.mark.parametrize("where", ["set", "tenant", "root"])
def test_create_file(mnt, emu, where):
    d = {"set": os.path.join(mnt.path, "contoso", "accounts"),
         "tenant": os.path.join(mnt.path, "contoso"), "root": mnt.path}[where]
    name = os.path.join(d, str(uuid.uuid4()) + ".json")
    erofs(emu, mnt, open, name, "wb")
    erofs(emu, mnt, os.open, name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    erofs(emu, mnt, os.mknod, os.path.join(d, "node"), 0o644)
    assert not os.path.exists(name)


@pytest.mark.parametrize("where", ["set", "tenant", "root"])
def test_mkdir(mnt, emu, where):
    d = {"set": os.path.join(mnt.path, "contoso", "accounts"),
         "tenant": os.path.join(mnt.path, "contoso"), "root": mnt.path}[where]
    erofs(emu, mnt, os.mkdir, os.path.join(d, "newdir"))
    assert not os.path.exists(os.path.join(d, "newdir"))


def test_rm_record(mnt, emu, rec):
    erofs(emu, mnt, os.unlink, rec[0])
    assert os.path.isfile(rec[0])
    r = subprocess.run(["rm", "-f", rec[0]], stderr=subprocess.PIPE, timeout=30)
    assert r.returncode != 0 and b"Read-only file system" in r.stderr, r
    assert os.path.isfile(rec[0])


def test_rmdir(mnt, emu):
    erofs(emu, mnt, os.rmdir, os.path.join(mnt.path, "contoso", "contacts"))
    erofs(emu, mnt, os.rmdir, os.path.join(mnt.path, "fabrikam"))
    assert os.path.isdir(os.path.join(mnt.path, "contoso", "contacts"))


def test_rename(mnt, emu, rec):
    p = rec[0]
    erofs(emu, mnt, os.rename, p, os.path.join(os.path.dirname(p), str(uuid.uuid4()) + ".json"))
    erofs(emu, mnt, os.rename, os.path.join(mnt.path, "contoso", "contacts"),
          os.path.join(mnt.path, "contoso", "contacts2"))
    assert os.path.isfile(p)


def test_chmod_and_utime(mnt, emu, rec):
    p = rec[0]
    st = os.stat(p)
    for fn, args in ((os.chmod, (p, 0o600)), (os.utime, (p, (1, 1)))):
        try:
            fn(*args)
        except OSError as e:
            assert e.errno in (errno.EROFS, errno.ENOSYS, errno.EPERM, errno.EACCES), e
        else:
            pytest.fail("%s%r succeeded on a read-only record" % (fn.__name__, args))
        mnt.assert_alive()
    assert os.stat(p).st_mtime == st.st_mtime


def test_shell_redirect_refused(mnt, rec):
    r = subprocess.run("echo '{}' > %s" % rec[0], shell=True, stderr=subprocess.PIPE, timeout=30)
    assert r.returncode != 0 and b"Read-only file system" in r.stderr, r
    with open(rec[0], "rb") as f:
        assert f.read() == rec[1]


def test_cp_into_mount_refused(mnt, rec, tmp_path):
    src = tmp_path / "new.json"
    src.write_text("{}\n")
    dst = os.path.join(mnt.path, "contoso", "accounts", str(uuid.uuid4()) + ".json")
    r = subprocess.run(["cp", str(src), dst], stderr=subprocess.PIPE, timeout=30)
    assert r.returncode != 0 and b"Read-only file system" in r.stderr, r
    assert not os.path.exists(dst)
    assert shutil.which("cp")
