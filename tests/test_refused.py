"""What dynfs refuses, and how: every refusal has an errno a user can act on, leaves the
server untouched (no write request) and the daemon running.

- files and folders cannot be created at the root or in a tenant folder (EPERM): those
  folders are the config's tenants and Dataverse's entity sets;
- mkdir/rmdir of folders: EPERM (EEXIST for an existing one);
- rm of a record without allow_delete = true: EPERM, with a log line saying how to allow it;
- a record renamed onto another record's name: EPERM (a record's name is its id);
- chmod/chown/utime on a record succeed and send nothing.

Editing is tested in test_edit.py, tools and local files in test_tools.py.
"""

import errno
import os
import subprocess
import uuid

import pytest

from lib.mount import stats_delta

WRITE_KINDS = ("create", "update", "upsert", "delete", "batch")


@pytest.fixture(scope="module")
def rec(mnt, std_emu):
    rid = std_emu.records("contoso", "accounts")[0]["accountid"]
    p = os.path.join(mnt.path, "contoso", "accounts", rid + ".json")
    with open(p, "rb") as f:
        return p, f.read()


def _close(res):
    """Close what a call that should have failed returned (a file object or a descriptor)."""
    if hasattr(res, "close"):
        res.close()
    elif isinstance(res, int) and not isinstance(res, bool):
        os.close(res)


def refused(emu, mnt, want, fn, *args):
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
    assert err is not None, "%s succeeded, expected %s" % (what, errno.errorcode[want])
    assert err.errno == want, "%s: expected %s, got %r" % (what, errno.errorcode[want], err)
    assert not any(d[k] for k in WRITE_KINDS), "a refused write reached the server: %r" % d
    mnt.assert_alive()


def test_open_excl_existing_record(mnt, std_emu, rec):
    """O_CREAT|O_EXCL on an existing record: EEXIST (the kernel answers from lookup)."""
    p, before = rec

    def run():
        try:
            f = open(p, "xb")
        except OSError as e:
            return e
        f.close()
        return None

    d = stats_delta(std_emu, run)
    assert d.result is not None, "open(%r, 'xb') succeeded on an existing record" % p
    assert d.result.errno == errno.EEXIST, d.result
    assert not any(d[k] for k in WRITE_KINDS), "a write reached the server: %r" % d
    mnt.assert_alive()
    with open(p, "rb") as f:
        assert f.read() == before, "the record changed"


@pytest.mark.parametrize("where", ["tenant", "root"])
def test_create_file_outside_sets(mnt, std_emu, where):
    d = {"tenant": os.path.join(mnt.path, "contoso"), "root": mnt.path}[where]
    name = os.path.join(d, str(uuid.uuid4()) + ".json")
    refused(std_emu, mnt, errno.EPERM, open, name, "wb")
    refused(std_emu, mnt, errno.EPERM, os.open, name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    refused(std_emu, mnt, errno.EPERM, os.symlink, "x", os.path.join(d, "link"))
    assert not os.path.exists(name)


@pytest.mark.parametrize("where", ["set", "tenant", "root"])
def test_mkdir(mnt, std_emu, where):
    d = {"set": os.path.join(mnt.path, "contoso", "accounts"),
         "tenant": os.path.join(mnt.path, "contoso"), "root": mnt.path}[where]
    log_at = len(mnt.log_text())
    refused(std_emu, mnt, errno.EPERM, os.mkdir, os.path.join(d, "newdir"))
    assert not os.path.exists(os.path.join(d, "newdir"))
    assert "mkdir" in mnt.log_text()[log_at:], "no log line says why"
    refused(std_emu, mnt, errno.EEXIST, os.mkdir, os.path.join(mnt.path, "contoso", "accounts"))
    refused(std_emu, mnt, errno.EEXIST, os.mkdir, os.path.join(mnt.path, "contoso"))


def test_rm_record_needs_allow_delete(mnt, std_emu, rec):
    log_at = len(mnt.log_text())
    refused(std_emu, mnt, errno.EPERM, os.unlink, rec[0])
    assert os.path.isfile(rec[0])
    assert "allow_delete = true" in mnt.log_text()[log_at:], "the log does not say how to allow rm"
    r = subprocess.run(["rm", "-f", rec[0]], stderr=subprocess.PIPE, timeout=30)
    assert r.returncode != 0 and b"Operation not permitted" in r.stderr, r
    assert os.path.isfile(rec[0])
    rid = os.path.basename(rec[0])[:-5]
    assert std_emu.record("contoso", "accounts", rid) is not None


def test_rmdir(mnt, std_emu):
    refused(std_emu, mnt, errno.EPERM, os.rmdir, os.path.join(mnt.path, "contoso", "contacts"))
    refused(std_emu, mnt, errno.EPERM, os.rmdir, os.path.join(mnt.path, "fabrikam"))
    assert os.path.isdir(os.path.join(mnt.path, "contoso", "contacts"))
    r = subprocess.run(["rmdir", os.path.join(mnt.path, "contoso", "contacts")],
                       stderr=subprocess.PIPE, timeout=30)
    assert r.returncode != 0 and b"Operation not permitted" in r.stderr, r


def test_rename_refused(mnt, std_emu, rec):
    p = rec[0]
    d = os.path.dirname(p)
    other = std_emu.records("contoso", "accounts")[1]["accountid"]
    # A record's name is its id: not onto another record, not onto a new id.
    refused(std_emu, mnt, errno.EPERM, os.rename, p, os.path.join(d, other + ".json"))
    refused(std_emu, mnt, errno.EPERM, os.rename, p, os.path.join(d, str(uuid.uuid4()) + ".json"))
    # Folders are not renamed, and nothing moves between sets.
    refused(std_emu, mnt, errno.EPERM, os.rename, os.path.join(mnt.path, "contoso", "contacts"),
            os.path.join(mnt.path, "contoso", "contacts2"))
    refused(std_emu, mnt, errno.EXDEV, os.rename, p,
            os.path.join(mnt.path, "contoso", "contacts", os.path.basename(p)))
    assert os.path.isfile(p)
    assert os.path.isfile(os.path.join(d, other + ".json"))


def test_chmod_chown_utime_succeed_without_server_write(mnt, std_emu, rec):
    """Dataverse has no modes, owners or settable times: accepted, nothing is sent."""
    p, before = rec
    st = os.stat(p)
    calls = ((os.chmod, (p, 0o600)), (os.chmod, (p, st.st_mode & 0o7777)),
             (os.chown, (p, st.st_uid, st.st_gid)), (os.chown, (p, -1, -1)),
             (os.utime, (p, (1, 1))), (os.utime, (p, None)))

    def run():
        for fn, args in calls:
            fn(*args)

    d = stats_delta(std_emu, run)
    assert not any(d[k] for k in WRITE_KINDS), "chmod/chown/utime sent a write: %r" % d
    mnt.assert_alive()
    st2 = os.stat(p)
    assert st2.st_mtime == st.st_mtime, "st_mtime is no longer modifiedon"
    with open(p, "rb") as f:
        assert f.read() == before, "the record changed"
    for tool in (["touch", p], ["chmod", "644", p]):
        d = stats_delta(std_emu, lambda: subprocess.run(tool, stderr=subprocess.PIPE, timeout=30))
        assert d.result.returncode == 0, (tool, d.result.stderr)
        assert not any(d[k] for k in WRITE_KINDS), "%s sent a write: %r" % (tool, d)
    assert os.stat(p).st_mtime == st.st_mtime
