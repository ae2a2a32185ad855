"""What dynfs still refuses with EROFS: creating files, mkdir, rmdir, unlink, rename.

Editing existing records is tested in test_edit.py.  Every refused operation must leave
the server untouched (no write request) and the daemon running; chmod/chown/utime on a
record succeed and send nothing.
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


def test_open_excl_existing_record(mnt, emu, rec):
    """O_CREAT|O_EXCL on an existing record: EEXIST (the kernel answers from lookup)."""
    p, before = rec

    def run():
        try:
            f = open(p, "xb")
        except OSError as e:
            return e
        f.close()
        return None

    d = stats_delta(emu, run)
    assert d.result is not None, "open(%r, 'xb') succeeded on an existing record" % p
    assert d.result.errno in (errno.EEXIST, errno.EROFS), d.result
    assert not any(d[k] for k in WRITE_KINDS), "a write reached the server: %r" % d
    mnt.assert_alive()
    with open(p, "rb") as f:
        assert f.read() == before, "the record changed"


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


def test_chmod_chown_utime_succeed_without_server_write(mnt, emu, rec):
    """Dataverse has no modes, owners or settable times: accepted, nothing is sent."""
    p, before = rec
    st = os.stat(p)
    calls = ((os.chmod, (p, 0o600)), (os.chmod, (p, st.st_mode & 0o7777)),
             (os.chown, (p, st.st_uid, st.st_gid)), (os.chown, (p, -1, -1)),
             (os.utime, (p, (1, 1))), (os.utime, (p, None)))

    def run():
        for fn, args in calls:
            fn(*args)

    d = stats_delta(emu, run)
    assert not any(d[k] for k in WRITE_KINDS), "chmod/chown/utime sent a write: %r" % d
    mnt.assert_alive()
    st2 = os.stat(p)
    assert st2.st_mtime == st.st_mtime, "st_mtime is no longer modifiedon"
    with open(p, "rb") as f:
        assert f.read() == before, "the record changed"
    for tool in (["touch", p], ["chmod", "644", p]):
        d = stats_delta(emu, lambda: subprocess.run(tool, stderr=subprocess.PIPE, timeout=30))
        assert d.result.returncode == 0, (tool, d.result.stderr)
        assert not any(d[k] for k in WRITE_KINDS), "%s sent a write: %r" % (tool, d)
    assert os.stat(p).st_mtime == st.st_mtime


def test_shell_redirect_to_new_file_refused(mnt, emu):
    new = os.path.join(mnt.path, "contoso", "accounts", str(uuid.uuid4()) + ".json")
    d = stats_delta(emu, lambda: subprocess.run("echo '{}' > %s" % new, shell=True,
                                                stderr=subprocess.PIPE, timeout=30))
    r = d.result
    assert r.returncode != 0 and b"Read-only file system" in r.stderr, r
    assert not any(d[k] for k in WRITE_KINDS), "a refused write reached the server: %r" % d
    assert not os.path.exists(new)
    mnt.assert_alive()


def test_cp_into_mount_refused(mnt, rec, tmp_path):
    src = tmp_path / "new.json"
    src.write_text("{}\n")
    dst = os.path.join(mnt.path, "contoso", "accounts", str(uuid.uuid4()) + ".json")
    r = subprocess.run(["cp", str(src), dst], stderr=subprocess.PIPE, timeout=30)
    assert r.returncode != 0 and b"Read-only file system" in r.stderr, r
    assert not os.path.exists(dst)
    assert shutil.which("cp")
