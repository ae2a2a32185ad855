"""Editing existing records: the first write path.

A writable open stages the bytes; close() and fsync() parse them, diff them against the
version read at open and send ONE PATCH of the changed columns with If-Match.  Failures
return an errno from close()/fsync(), change nothing on the server, keep the user's bytes
in $XDG_STATE_HOME/dynfs/rescue/<tenant>/<set>/<id>.<UTC time>.json (+ .error) and expose
the reason as user.dynfs.error.

Each test edits its own account(s) so the tests do not interfere; results are checked on
the server (control endpoint / Web API), never through dynfs's cache.  The module's daemon
runs with XDG_STATE_HOME in a temporary directory.
"""

import errno
import glob
import json
import os
import re
import shutil
import subprocess

import pytest

from lib.fixtures import emulator_fixture, mount_fixture
from lib.mount import (Ini, RawNumber, get_raw, loads_verbatim, normalise_numbers, render, stats_delta,
                       strip_annotations)
from lib.tools import write_close, xattr as getxattr

ORG = "contoso"
SET = "accounts"
WRITE_KINDS = ("create", "update", "upsert", "delete", "batch")
OTHER_WRITES = ("create", "upsert", "delete", "batch")
VOLATILE = ("@odata.etag", "modifiedon", "versionnumber", "_modifiedby_value")

# --------------------------------------------------------------------------- fixtures

edit_emu = emulator_fixture(orgs=ORG, records={"accounts": 60, "contacts": 5}, seed=17)
emnt = mount_fixture("edit_emu", state_home=True)


@pytest.fixture(scope="module")
def _ids(edit_emu):
    return iter([r["accountid"] for r in edit_emu.records(ORG, SET)])


@pytest.fixture
def rid(_ids):
    """A record no other test touches."""
    return next(_ids)


def fpath(m, rid):
    return os.path.join(m.path, ORG, SET, rid + ".json")


def read(p):
    with open(p, "rb") as f:
        return f.read()


def server(emu, rid):
    """The record on the server (control endpoint: no auth, not counted)."""
    r = emu.record(ORG, SET, rid)
    assert r is not None, "record %s vanished" % rid
    return r


def server_raw(emu, rid):
    r = emu.http("GET", "/_emulator/orgs/%s/%s/%s" % (ORG, SET, rid), None,
                 {"Accept": "application/json"})
    assert r.status == 200, r
    return r.raw.decode("utf-8")


def stable(rec):
    return {k: v for k, v in rec.items() if k not in VOLATILE}


def nonzero(d):
    return {k: v for k, v in d.items() if v}


def edited(p, **changes):
    """The file's bytes with columns changed (numbers kept verbatim)."""
    obj = loads_verbatim(read(p))
    obj.update(changes)
    return render(obj)


def rescues(state_home, rid):
    d = os.path.join(state_home, "dynfs", "rescue", ORG, SET)
    return sorted(glob.glob(os.path.join(d, glob.escape(rid) + ".*.json")))


def assert_file_is_server_version(emu, m, rid):
    rec, _ = get_raw(emu.api(ORG), SET, rid)
    assert read(fpath(m, rid)) == render(strip_annotations(rec)), \
        "the file does not show the server's version after the save"


# --------------------------------------------------------------------------- saves that land

def test_jq_rewrite_in_place(edit_emu, emnt, rid, tmp_path):
    if not shutil.which("jq"):
        pytest.skip("jq is not installed")
    p = fpath(emnt, rid)
    before = server(edit_emu, rid)
    tmp = tmp_path / "out.json"
    cmd = "jq '.name=\"Renamed by jq\"' %s > %s && cat %s > %s" % (p, tmp, tmp, p)
    d = stats_delta(edit_emu, lambda: subprocess.run(cmd, shell=True, stderr=subprocess.PIPE,
                                                     timeout=30))
    assert d.result.returncode == 0, d.result.stderr
    assert d["update"] == 1, d
    assert not any(d[k] for k in OTHER_WRITES), d
    after = server(edit_emu, rid)
    assert after["name"] == "Renamed by jq"
    want = dict(stable(before), name="Renamed by jq")
    assert stable(after) == want, "columns other than name changed on the server"
    assert after["@odata.etag"] != before["@odata.etag"]
    assert_file_is_server_version(edit_emu, emnt, rid)


def test_python_wronly_ftruncate_write(edit_emu, emnt, rid):
    p = fpath(emnt, rid)
    before = server(edit_emu, rid)
    data = edited(p, telephone1="+1 555-0100", description="line one\nline two ✓")
    d = stats_delta(edit_emu, lambda: write_close(p, data))
    assert d.result is None, d.result
    assert d["update"] == 1 and not any(d[k] for k in OTHER_WRITES), d
    after = server(edit_emu, rid)
    assert stable(after) == dict(stable(before), telephone1="+1 555-0100",
                                 description="line one\nline two ✓")
    assert_file_is_server_version(edit_emu, emnt, rid)


def test_rplus_partial_overwrite(edit_emu, emnt, rid):
    p = fpath(emnt, rid)
    before = server(edit_emu, rid)
    data = read(p)
    m = re.search(rb'\n  "name": "([^"\\]+)"', data)
    assert m, data
    new = b"Q" * len(m.group(1))

    def run():
        with open(p, "r+b") as f:
            f.seek(m.start(1))
            f.write(new)

    d = stats_delta(edit_emu, run)
    assert d["update"] == 1 and not any(d[k] for k in OTHER_WRITES), d
    after = server(edit_emu, rid)
    assert after["name"] == new.decode()
    assert stable(after) == dict(stable(before), name=new.decode())


def test_partial_file_changes_only_its_columns(edit_emu, emnt, rid):
    """Columns missing from the file are left as they are on the server."""
    p = fpath(emnt, rid)
    before = server(edit_emu, rid)
    d = stats_delta(edit_emu, lambda: write_close(p, b'{"name": "Only the name"}\n'))
    assert d.result is None, d.result
    assert d["update"] == 1 and not any(d[k] for k in OTHER_WRITES), d
    assert stable(server(edit_emu, rid)) == dict(stable(before), name="Only the name")
    assert_file_is_server_version(edit_emu, emnt, rid)


def test_unchanged_rewrite_sends_nothing(edit_emu, emnt, rid):
    p = fpath(emnt, rid)
    before = server(edit_emu, rid)
    orig = read(p)
    # the same bytes; every number rewritten canonically (what jq does: 1.0000 -> 1);
    # an annotation key added; whitespace appended
    obj = json.loads(orig)
    obj["name@OData.Community.Display.V1.FormattedValue"] = "ignored"
    variants = [orig, normalise_numbers(orig).encode("utf-8"),
                json.dumps(obj, ensure_ascii=False).encode("utf-8")]

    def run():
        errs = [write_close(p, v) for v in variants]
        with open(p, "ab") as f:
            f.write(b"\n\n")
        return errs

    d = stats_delta(edit_emu, run)
    assert d.result == [None] * len(variants), d.result
    assert not nonzero(d), "an unchanged rewrite made requests: %r" % d
    assert server(edit_emu, rid) == before
    assert read(p) == orig


def test_fsync_returns_after_the_server_has_it(edit_emu, emnt, rid):
    p = fpath(emnt, rid)
    data = edited(p, name="Saved by fsync")

    def run():
        fd = os.open(p, os.O_RDWR | os.O_TRUNC)
        try:
            os.write(fd, data)
            os.fsync(fd)
            at_fsync = server(edit_emu, rid)["name"]
        finally:
            os.close(fd)
        return at_fsync

    d = stats_delta(edit_emu, run)
    assert d.result == "Saved by fsync", "fsync returned before the server had the change"
    assert d["update"] == 1 and not any(d[k] for k in OTHER_WRITES), \
        "close after fsync must not send again: %r" % d
    assert server(edit_emu, rid)["name"] == "Saved by fsync"


def test_etag_xattr_after_save(edit_emu, emnt, rid):
    p = fpath(emnt, rid)
    old = getxattr(p, "user.dynfs.etag")
    assert old == server(edit_emu, rid)["@odata.etag"]
    assert write_close(p, edited(p, name="New etag please")) is None
    new = getxattr(p, "user.dynfs.etag")
    assert new != old
    assert new == server(edit_emu, rid)["@odata.etag"]


@pytest.mark.parametrize("value,stored", [
    # 16 significant digits: through a double it would become ...99.98 (or 1e14, out of range)
    ("99999999999999.99", "99999999999999.9900"),
    # 4 decimals: revenue has precision 2 on the server, which rounds (half even) and
    # renders money with 4 places, as Dataverse does
    ("1234567890123.4567", "1234567890123.4600"),
])
def test_money_exact_decimal(edit_emu, emnt, rid, value, stored):
    p = fpath(emnt, rid)
    d = stats_delta(edit_emu, lambda: write_close(p, edited(p, revenue=RawNumber(value))))
    assert d.result is None, d.result
    assert d["update"] == 1 and not any(d[k] for k in OTHER_WRITES), d
    raw = server_raw(edit_emu, rid)
    m = re.search(r'"revenue"\s*:\s*([-0-9.eE+]+)', raw)
    assert m, raw[:500]
    assert m.group(1) == stored, "the server holds revenue %s after writing %s, expected %s" % (
        m.group(1), value, stored)
    assert ('\n  "revenue": %s,\n' % stored).encode() in read(p), \
        "the file does not show the server's revenue"


def test_empty_truncate_saves_nothing(edit_emu, emnt, rid):
    p = fpath(emnt, rid)
    before = server(edit_emu, rid)
    orig = read(p)
    log_at = len(emnt.log_text())

    def run():
        r = subprocess.run(": > %s" % p, shell=True, stderr=subprocess.PIPE, timeout=30)
        os.truncate(p, 0)
        fd = os.open(p, os.O_RDONLY | os.O_TRUNC)
        os.close(fd)
        return r

    d = stats_delta(edit_emu, run)
    assert d.result.returncode == 0, d.result.stderr
    assert not any(d[k] for k in WRITE_KINDS), d
    assert server(edit_emu, rid) == before
    assert read(p) == orig
    assert "nothing was saved" in emnt.log_text()[log_at:], "no warning in the log"


# --------------------------------------------------------------------------- failed saves

def _long_name(p, emu, rid):
    return edited(p, name="N" * 161)


def _parent(p, emu, rid):
    other = next(r["accountid"] for r in emu.records(ORG, SET) if r["accountid"] != rid)
    cur = loads_verbatim(read(p)).get("_parentaccountid_value")
    return edited(p, _parentaccountid_value=other if cur != other else None)


@pytest.mark.parametrize("clear", [False, True], ids=["set", "clear"])
def test_lookup_change_binds(edit_emu, emnt, rid, clear):
    """Changing _parentaccountid_value sends parentaccountid@odata.bind (null clears)."""
    p = fpath(emnt, rid)
    other = next(r["accountid"] for r in edit_emu.records(ORG, SET) if r["accountid"] != rid)
    if clear:
        assert write_close(p, edited(p, _parentaccountid_value=other)) is None
        assert server(edit_emu, rid)["_parentaccountid_value"] == other
    d = stats_delta(edit_emu, lambda: write_close(p, edited(p, _parentaccountid_value=None if clear else other)))
    assert d.result is None, d.result
    assert d["update"] == 1 and not any(d[k] for k in OTHER_WRITES), nonzero(d)
    assert server(edit_emu, rid)["_parentaccountid_value"] == (None if clear else other)


FAILURES = {
    "invalid-json": (lambda p, e, r: read(p)[:-3] + b",,\n", errno.EINVAL, False,
                     r"invalid JSON"),
    "not-an-object": (lambda p, e, r: b"[1, 2]\n", errno.EINVAL, False, r"JSON object"),
    "unknown-column": (lambda p, e, r: edited(p, new_nosuchcolumn="x"), errno.EINVAL, False,
                       r"new_nosuchcolumn"),
    "id-change": (lambda p, e, r: edited(p, accountid="00000000-0000-0000-0000-000000000001"),
                  errno.EINVAL, False, r"accountid"),
    "long-name": (_long_name, errno.EINVAL, True, r"refused.*(160|length)"),
    # An edit (same versionnumber) of a column that is not valid for update is named
    # locally and never sent.
    "readonly-createdon": (lambda p, e, r: edited(p, createdon="2001-02-03T04:05:06Z"),
                           errno.EINVAL, False, r"'createdon' cannot be changed"),
    "readonly-system": (lambda p, e, r: edited(p, modifiedon="2001-02-03T04:05:06Z",
                                               _createdby_value="00000000-0000-0000-0000-00000000000a"),
                        errno.EINVAL, False, r"modifiedon.*_createdby_value|_createdby_value.*modifiedon"),
}


def check_failed_save(emu, m, state_home, rid, err, want_errno, data, reason_re, before,
                      orig, old_rescues):
    p = fpath(m, rid)
    assert err is not None, "close() succeeded, expected %s" % errno.errorcode[want_errno]
    assert err.errno == want_errno, "expected %s, got %r" % (errno.errorcode[want_errno], err)
    assert server(emu, rid) == before, "the server changed after a failed save"
    assert read(p) == orig, "the file does not show the unchanged record"
    new = [r for r in rescues(state_home, rid) if r not in old_rescues]
    assert len(new) == 1, "expected one new rescue file, got %r" % new
    with open(new[0], "rb") as f:
        assert f.read() == data, "the rescue file does not hold the bytes written"
    errfile = new[0][:-len(".json")] + ".error"
    assert os.path.isfile(errfile), "no .error beside %s" % new[0]
    with open(errfile, encoding="utf-8") as f:
        assert re.search(reason_re, f.read(), re.I | re.S), "reason missing from %s" % errfile
    x = getxattr(p, "user.dynfs.error")
    assert x is not None, "user.dynfs.error is not set after a failed save"
    assert x.startswith("save failed: "), x
    assert x.endswith("your version is kept in %s" % new[0]), x
    assert re.search(reason_re, x, re.I | re.S), x
    assert "user.dynfs.error" in os.listxattr(p)
    assert x in m.log_text(), "the reason is not in the log"
    m.assert_alive()


@pytest.mark.parametrize("case", list(FAILURES))
def test_failed_save(edit_emu, emnt, state_home, rid, case):
    make, want, reaches_server, reason_re = FAILURES[case]
    p = fpath(emnt, rid)
    before = server(edit_emu, rid)
    orig = read(p)
    data = make(p, edit_emu, rid)
    old = rescues(state_home, rid)
    d = stats_delta(edit_emu, lambda: write_close(p, data))
    if reaches_server:
        assert d["update"] <= 1 and not any(d[k] for k in OTHER_WRITES), d
    else:
        assert not any(d[k] for k in WRITE_KINDS), "a rejected file reached the server: %r" % d
    check_failed_save(edit_emu, emnt, state_home, rid, d.result, want, data, reason_re,
                      before, orig, old)


def test_fsync_reports_failure(edit_emu, emnt, state_home, rid):
    p = fpath(emnt, rid)
    before = server(edit_emu, rid)
    data = b"{ not json\n"
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, data)
        with pytest.raises(OSError) as ei:
            os.fsync(fd)
        assert ei.value.errno == errno.EINVAL, ei.value
    finally:
        # the same failure again, without a second request or rescue copy
        with pytest.raises(OSError) as ei:
            os.close(fd)
        assert ei.value.errno == errno.EINVAL, ei.value
    assert server(edit_emu, rid) == before
    found = rescues(state_home, rid)
    assert len(found) == 1, found
    assert read(found[0]) == data


def test_failure_reaches_the_writer_after_a_child_closed_first(edit_emu, emnt, state_home, rid):
    """A forked child's close of the shared descriptor (close-on-exec does the same) saves
    and meets the failure first; the writer's own close must still hear it."""
    p = fpath(emnt, rid)
    before = server(edit_emu, rid)
    data = b"{ not json either\n"
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, data)
        pid = os.fork()
        if pid == 0:
            try:
                os.close(fd)
            finally:
                os._exit(0)
        assert os.waitpid(pid, 0)[1] == 0
    except BaseException:
        os.close(fd)
        raise
    with pytest.raises(OSError) as ei:
        os.close(fd)
    assert ei.value.errno == errno.EINVAL, ei.value
    assert server(edit_emu, rid) == before
    found = rescues(state_home, rid)
    assert len([f for f in found if read(f) == data]) == 1, found


def test_conflict_estale(edit_emu, emnt, state_home, rid):
    p = fpath(emnt, rid)
    data = edited(p, name="Changed through the mount")   # read via the mount
    old = rescues(state_home, rid)
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    try:
        r = edit_emu.api(ORG).patch("%s(%s)" % (SET, rid), {"name": "Changed by Web API"})
        assert r.status in (200, 204), r
        theirs = server(edit_emu, rid)
        os.write(fd, data)
    except BaseException:
        os.close(fd)
        raise
    d = stats_delta(edit_emu, lambda: _close_err(fd))
    assert d["update"] <= 1 and not any(d[k] for k in OTHER_WRITES), d
    err = d.result
    assert err is not None and err.errno == errno.ESTALE, "expected ESTALE, got %r" % err
    assert server(edit_emu, rid) == theirs, "the Web API's change was overwritten"
    assert server(edit_emu, rid)["name"] == "Changed by Web API"
    new = [x for x in rescues(state_home, rid) if x not in old]
    assert len(new) == 1, new
    assert read(new[0]) == data
    x = getxattr(p, "user.dynfs.error")
    assert x and x.startswith("save failed: ") and "conflict" in x.lower(), x
    assert x.endswith("your version is kept in %s" % new[0]), x


def _close_err(fd):
    try:
        os.close(fd)
    except OSError as e:
        return e
    return None


def test_success_after_failure_clears_error(edit_emu, emnt, rid):
    p = fpath(emnt, rid)
    assert getxattr(p, "user.dynfs.error") is None
    assert "user.dynfs.error" not in os.listxattr(p)
    err = write_close(p, b"{broken")
    assert err is not None and err.errno == errno.EINVAL, err
    assert getxattr(p, "user.dynfs.error").startswith("save failed: ")
    assert write_close(p, edited(p, name="Fixed after failure")) is None
    assert server(edit_emu, rid)["name"] == "Fixed after failure"
    assert getxattr(p, "user.dynfs.error") is None, "user.dynfs.error survived a good save"
    assert "user.dynfs.error" not in os.listxattr(p)


# --------------------------------------------------------------------------- read-only mounts

def _erofs_writes(emu, m, p):
    orig = read(p)

    def run():
        errs = []
        for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC,
                      os.O_WRONLY | os.O_APPEND):
            try:
                os.close(os.open(p, flags))
            except OSError as e:
                errs.append(e.errno)
            else:
                errs.append(None)
        try:
            os.truncate(p, 0)
        except OSError as e:
            errs.append(e.errno)
        else:
            errs.append(None)
        return errs

    d = stats_delta(emu, run)
    assert d.result == [errno.EROFS] * 5, [errno.errorcode.get(e, e) for e in d.result]
    assert not any(d[k] for k in WRITE_KINDS), d
    assert read(p) == orig
    m.assert_alive()


def test_read_only_tenant(edit_emu, mount_factory, rid, tmp_path):
    ini = Ini.load(edit_emu.config_path)
    for t in ini.tenants():
        ini[t]["read_only"] = "true"
    cfg = ini.write(str(tmp_path / "ro.ini"))
    m = mount_factory(cfg, emu=edit_emu, env={"XDG_STATE_HOME": str(tmp_path / "state")})
    _erofs_writes(edit_emu, m, fpath(m, rid))
    assert not os.path.exists(str(tmp_path / "state" / "dynfs"))


def test_mount_option_ro(edit_emu, mount_factory, rid, tmp_path):
    m = mount_factory(edit_emu.config_path, extra_args=["-o", "ro"], emu=edit_emu,
                      env={"XDG_STATE_HOME": str(tmp_path / "state")})
    _erofs_writes(edit_emu, m, fpath(m, rid))


def test_throttled_save_fails_with_eagain(edit_emu, mount_factory, rid, tmp_path):
    """Throttled beyond max_retries: EAGAIN from close, server unchanged, the bytes rescued."""
    ini = Ini.load(edit_emu.config_path)
    ini["global"]["max_retries"] = "1"
    cfg = ini.write(str(tmp_path / "retry1.ini"))
    state = str(tmp_path / "state")
    m = mount_factory(cfg, emu=edit_emu, env={"XDG_STATE_HOME": state})
    p = fpath(m, rid)
    before = server(edit_emu, rid)
    orig = read(p)
    data = edited(p, name="Saved while throttled")
    assert write_close(p, orig) is None  # unchanged: sends nothing, but loads the columns
    edit_emu.faults(throttle=1.0, retry_after=1)
    try:
        d = stats_delta(edit_emu, lambda: write_close(p, data))
    finally:
        edit_emu.clear_faults()
    assert d.result is not None and d.result.errno == errno.EAGAIN, d.result
    assert d["update"] == 2, "expected the PATCH and one retry: %r" % nonzero(d)
    check_failed_save(edit_emu, m, state, rid, d.result, errno.EAGAIN, data, r"429|throttl|limit",
                      before, orig, [])


def test_forbidden_save_fails_with_eacces(edit_emu, emnt, state_home, rid):
    """The server answers 403 (here: the application user was removed from the environment):
    EACCES from close, server unchanged, the bytes rescued with the server's message."""
    p = fpath(emnt, rid)
    before = server(edit_emu, rid)
    orig = read(p)
    data = edited(p, name="Saved without permission")
    assert write_close(p, orig) is None  # unchanged: sends nothing, but loads the columns
    old = rescues(state_home, rid)
    edit_emu.not_member(ORG, "app")
    try:
        d = stats_delta(edit_emu, lambda: write_close(p, data))
    finally:
        edit_emu.not_member(ORG)
    assert d.result is not None and d.result.errno == errno.EACCES, d.result
    assert d["update"] == 1 and not any(d[k] for k in OTHER_WRITES), nonzero(d)
    check_failed_save(edit_emu, emnt, state_home, rid, d.result, errno.EACCES, data,
                      r"not a member of the organization", before, orig, old)
