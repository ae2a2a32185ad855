"""Saves know what happened (SEMANTICS.md "Failures never lose an edit").

A save is reported done only when the server's answer proves it: a 2xx whose body is the
record, or a 204 with the headers that carry the id and ETag.  An answer that proves nothing
-- an HTML page with 200 (a sign-in portal, a WAF), a redirect, a connection reset or a body
cut short after the request went out, a 502/504, a 412 that the request's own earlier
attempt may have caused -- is settled by reading the record back and comparing the columns
that were sent: there -> saved (once); not there and the record unchanged -> sent again; not
there and changed by someone else -> a conflict; cannot tell -> a loud failure with the
bytes rescued.

Each test drives a real tool (python open/write/close, sed -i, vim -es, cp) against one
record nobody else touches, with a targeted fault rule on the emulator
(tests/emulator/faultrules.py), and checks close()'s result, the server (the record, and how
many writes were carried out on it: X-Dvemu-Writes), the rescue copy and user.dynfs.error
(read with getfattr).
"""

import errno
import glob
import os
import pathlib
import re
import shutil
import subprocess
import uuid

import pytest

from lib.fixtures import emulator_fixture, mount_fixture, faults_cleared, fresh_records
from lib.mount import Ini, get_raw, loads_verbatim, render, stats_delta, strip_annotations
from lib.tools import run_tool, write_close

ORG = "contoso"
SET = "accounts"
PATCH_RECORD = r"/api/data/v9\.2/accounts\([0-9a-f-]{36}\)$"

semu = emulator_fixture(orgs=ORG, records={"accounts": 80, "contacts": 5}, seed=41)
smnt = mount_fixture("semu", ini={"global": {"max_retries": 2}}, state_home=True)

clean = faults_cleared("semu")


_ids = fresh_records("semu", ORG, SET, "accountid", plain=True)


@pytest.fixture
def rid(_ids):
    return next(_ids)


# --------------------------------------------------------------------------- helpers

def fpath(m, rid, suffix=".json"):
    return os.path.join(m.path, ORG, SET, rid + suffix)


def read(p):
    return pathlib.Path(p).read_bytes()


def server(emu, rid):
    return emu.record(ORG, SET, rid)


def edited(p, **changes):
    obj = loads_verbatim(read(p))
    obj.update(changes)
    return render(obj)


def getfattr(p, name="user.dynfs.error"):
    """The attribute as getfattr(1) shows it, or None."""
    r = subprocess.run(["getfattr", "--only-values", "-n", name, p], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    if r.returncode != 0:
        return None
    return r.stdout.decode("utf-8")


def rescues(state_home, name):
    d = os.path.join(state_home, "dynfs", "rescue", ORG, SET)
    return sorted(glob.glob(os.path.join(d, glob.escape(name) + ".*.json")))


def sh(argv, **kw):
    return run_tool(argv, timeout=60, **kw)


def assert_saved_once(emu, m, rid, w0, name, state_home, old_rescues):
    """The change is on the server, carried out exactly once, nothing rescued, no error,
    and the file shows the server's version."""
    assert server(emu, rid)["name"] == name
    assert emu.writes(ORG, SET, rid) == w0 + 1, "the change was carried out %d times" % (
        emu.writes(ORG, SET, rid) - w0)
    assert rescues(state_home, rid) == old_rescues, "a save that landed was rescued"
    assert getfattr(fpath(m, rid)) is None, "user.dynfs.error after a save that landed"
    rec, _ = get_raw(emu.api(ORG), SET, rid)
    assert read(fpath(m, rid)) == render(strip_annotations(rec)), \
        "the file does not show the server's version"


def assert_failed_loudly(emu, m, rid, w0, before, data, state_home, old_rescues, reason_re):
    """Nothing changed on the server, the bytes are rescued, user.dynfs.error says why."""
    assert server(emu, rid) == before, "the server changed"
    assert emu.writes(ORG, SET, rid) == w0
    new = [r for r in rescues(state_home, rid) if r not in old_rescues]
    assert len(new) == 1, new
    assert read(new[0]) == data
    x = getfattr(fpath(m, rid))
    assert x and x.startswith("save failed: ") and x.endswith(new[0]), x
    assert re.search(reason_re, x, re.I), x
    assert x in m.log_text(), "the reason is not in the log"


# --------------------------------------------------------------------------- updates

def test_reply_lost_after_update_is_a_save(semu, smnt, state_home, rid):
    """The PATCH lands, the connection is reset before the answer: close() returns 0, the
    change is on the server once (no resend, no false conflict, no rescue)."""
    p = fpath(smnt, rid)
    data = edited(p, name="Landed, reply lost")
    w0, old = semu.writes(ORG, SET, rid), rescues(state_home, rid)
    semu.rule(method="PATCH", path=PATCH_RECORD, apply=True, deliver="reset")
    d = stats_delta(semu, lambda: write_close(p, data))
    assert d.result is None, d.result
    # One PATCH: libcurl would resend a request whose kept-alive connection died unanswered,
    # but a write's body cannot be rewound (http.c on_seek_body).  One read back settles it.
    assert d["update"] == 1 and d["get"] == 1, d
    assert_saved_once(semu, smnt, rid, w0, "Landed, reply lost", state_home, old)
    assert "was saved" in smnt.log_text()


def test_reply_lost_then_refusal_is_a_save(semu, smnt, state_home, rid):
    """The PATCH lands on a kept-alive connection that is reset before the answer, and the
    server would refuse a second copy of it.  A silent resend by the HTTP library would meet
    that refusal and report a change that landed as refused; instead nothing is sent twice, the
    read back proves the change, and close() returns 0."""
    p = fpath(smnt, rid)
    data = edited(p, name="Landed once, never resent")
    read(p)                                  # a request first: the next one reuses its connection
    w0, old = semu.writes(ORG, SET, rid), rescues(state_home, rid)
    semu.rule(method="PATCH", path=PATCH_RECORD, apply=True, deliver="reset")
    semu.rule(method="PATCH", path=PATCH_RECORD, after=1, status=400, json={"error": {
        "code": "0x80040203", "message": "A validation plug-in refused the change."}})
    d = stats_delta(semu, lambda: write_close(p, data))
    assert d.result is None, d.result
    assert d["update"] == 1 and d["get"] == 1, d
    assert [r["fired"] for r in semu.rules()] == [1, 0]
    assert_saved_once(semu, smnt, rid, w0, "Landed once, never resent", state_home, old)


def test_sed_reply_cut_mid_body(semu, smnt, state_home, rid):
    """sed -i (a save by rename): the answer's body stops half-way, then a reset."""
    p = fpath(smnt, rid)
    w0, old = semu.writes(ORG, SET, rid), rescues(state_home, rid)
    semu.rule(method="PATCH", path=PATCH_RECORD, apply=True, deliver="truncate", bytes=30,
              then="reset")
    r = sh(["sed", "-i", r's/^  "name": .*,$/  "name": "Edited by sed, reply cut",/', p])
    assert r.returncode == 0, r.stderr
    assert_saved_once(semu, smnt, rid, w0, "Edited by sed, reply cut", state_home, old)


def test_vim_answer_is_html_after_the_change_landed(semu, smnt, state_home, rid):
    """vim -es: the PATCH lands but a proxy turns the answer into an HTML page."""
    if not shutil.which("vim"):
        pytest.skip("vim is not installed")
    p = fpath(smnt, rid)
    w0, old = semu.writes(ORG, SET, rid), rescues(state_home, rid)
    semu.rule(method="PATCH", path=PATCH_RECORD, apply=True, body="<html><body>OK</body></html>")
    r = sh(["vim", "-es", "-u", "NONE", "-i", "NONE", "-n", "-c",
            r'%s/^  "name": .*,$/  "name": "Edited by vim, answer mangled",/', "-c", "wq", p])
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert_saved_once(semu, smnt, rid, w0, "Edited by vim, answer mangled", state_home, old)


def test_412_to_a_change_that_landed_is_no_conflict(semu, smnt, state_home, rid):
    """What a resent PATCH gets when its first attempt landed: 412.  The record shows the
    change, so the save succeeded: no ESTALE, no rescue."""
    p = fpath(smnt, rid)
    data = edited(p, name="Landed before the 412")
    w0, old = semu.writes(ORG, SET, rid), rescues(state_home, rid)
    semu.rule(method="PATCH", path=PATCH_RECORD, apply=True, status=412,
              json={"error": {"code": "0x80060882", "message": "The version of the existing "
                              "record doesn't match the RowVersion property provided."}})
    assert write_close(p, data) is None
    assert_saved_once(semu, smnt, rid, w0, "Landed before the 412", state_home, old)


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_error_after_the_change_landed(semu, smnt, state_home, rid, status):
    p = fpath(smnt, rid)
    name = "Landed behind a %d" % status
    data = edited(p, name=name)
    w0, old = semu.writes(ORG, SET, rid), rescues(state_home, rid)
    semu.rule(method="PATCH", path=PATCH_RECORD, apply=True, status=status, body="Bad gateway",
              content_type="text/plain")
    assert write_close(p, data) is None
    assert_saved_once(semu, smnt, rid, w0, name, state_home, old)


def test_reset_before_the_change_landed_is_sent_again(semu, smnt, state_home, rid):
    """The connection is reset before the PATCH is carried out: the record shows no change
    and still has the ETag the save was conditioned on, so it is sent again, once."""
    p = fpath(smnt, rid)
    data = edited(p, name="Sent again after a reset")
    w0, old = semu.writes(ORG, SET, rid), rescues(state_home, rid)
    semu.rule(method="PATCH", path=PATCH_RECORD, deliver="reset")
    d = stats_delta(semu, lambda: write_close(p, data))
    assert d.result is None, d.result
    assert d["update"] == 2, d
    assert_saved_once(semu, smnt, rid, w0, "Sent again after a reset", state_home, old)


def test_portal_page_once_then_saved(semu, smnt, state_home, rid):
    """A sign-in portal answers 200 with HTML once: the change did not land (the record says
    so), so it is sent again and lands once."""
    p = fpath(smnt, rid)
    data = edited(p, name="Saved past the portal")
    w0, old = semu.writes(ORG, SET, rid), rescues(state_home, rid)
    semu.rule(method="PATCH", path=PATCH_RECORD)
    assert write_close(p, data) is None
    assert_saved_once(semu, smnt, rid, w0, "Saved past the portal", state_home, old)


def test_portal_page_for_good_fails_loudly(semu, smnt, state_home, rid):
    """Every PATCH meets the portal's 200 + HTML: close() fails, nothing changed, the bytes
    are rescued, and getfattr says why."""
    p = fpath(smnt, rid)
    before = server(semu, rid)
    data = edited(p, name="Never past the portal")
    w0, old = semu.writes(ORG, SET, rid), rescues(state_home, rid)
    semu.rule(method="PATCH", path=PATCH_RECORD, count=0)
    err = write_close(p, data)
    assert err is not None and err.errno == errno.EIO, err
    assert_failed_loudly(semu, smnt, rid, w0, before, data, state_home, old,
                         r"not the record.*sign-in|proxy")


def test_redirect_fails_loudly(semu, smnt, state_home, rid):
    p = fpath(smnt, rid)
    before = server(semu, rid)
    data = edited(p, name="Redirected")
    w0, old = semu.writes(ORG, SET, rid), rescues(state_home, rid)
    semu.rule(method="PATCH", path=PATCH_RECORD, count=0, status=302, body="",
              headers={"Location": "https://login.example.com/sso?session=abc"})
    err = write_close(p, data)
    assert err is not None and err.errno == errno.EIO, err
    assert_failed_loudly(semu, smnt, rid, w0, before, data, state_home, old,
                         r"redirect.*login\.example\.com/sso")
    assert "session=abc" not in smnt.log_text(), "a redirect's query reached the log"


def test_outcome_unknown_fails_loudly(semu, smnt, state_home, rid):
    """The reply is lost and the record cannot be read back: dynfs cannot tell whether the
    change landed.  close() fails with EIO, the bytes are rescued, and the message says the
    change may or may not be on the server."""
    p = fpath(smnt, rid)
    data = edited(p, name="Nobody knows")
    old = rescues(state_home, rid)
    semu.rule(method="PATCH", path=PATCH_RECORD, apply=True, deliver="reset")
    semu.rule(method="GET", path=r"accounts\(%s\)$" % rid, count=0, status=503, body="down")
    err = write_close(p, data)
    assert err is not None and err.errno == errno.EIO, err
    semu.clear_rules()
    assert server(semu, rid)["name"] == "Nobody knows"      # it had landed after all
    new = [r for r in rescues(state_home, rid) if r not in old]
    assert len(new) == 1 and read(new[0]) == data, new
    x = getfattr(p)
    assert x and re.search(r"may or may not", x), x


# --------------------------------------------------------------------------- creates

def count_named(emu, name):
    return sum(1 for r in emu.records(ORG, SET) if r.get("name") == name)


def template(tmp_path, name):
    t = tmp_path / "new.json"
    t.write_text('{\n  "name": "%s",\n  "telephone1": "+1 555 0199"\n}\n' % name)
    return str(t)


def test_cp_create_reply_lost(semu, smnt, state_home, tmp_path):
    """cp template.json new.json; the create lands, its reply is lost: cp succeeds, one
    record, created once, its id readable as user.dynfs.id."""
    name = "Created, reply lost %s" % uuid.uuid4().hex[:8]
    dest = os.path.join(smnt.path, ORG, SET, "reply-lost.json")
    semu.rule(method="PATCH", path=PATCH_RECORD, apply=True, deliver="reset")
    r = sh(["cp", template(tmp_path, name), dest])
    assert r.returncode == 0, r.stderr
    assert count_named(semu, name) == 1
    new_id = getfattr(dest, "user.dynfs.id")
    assert new_id and server(semu, new_id)["name"] == name
    assert semu.writes(ORG, SET, new_id) == 1
    assert getfattr(dest) is None
    assert rescues(state_home, "reply-lost") == []


def test_cp_create_portal_for_good_fails_loudly(semu, smnt, state_home, tmp_path):
    name = "Never created %s" % uuid.uuid4().hex[:8]
    dest = os.path.join(smnt.path, ORG, SET, "portal.json")
    src = template(tmp_path, name)
    semu.rule(method="PATCH", path=PATCH_RECORD, count=0)
    r = sh(["cp", src, dest])
    assert r.returncode != 0 and "portal.json" in r.stderr, (r.returncode, r.stderr)
    assert count_named(semu, name) == 0
    found = rescues(state_home, "portal")
    assert len(found) == 1 and read(found[0]) == read(src), found
    x = getfattr(dest)
    assert x and x.startswith("save failed: ") and re.search(r"sign-in|proxy", x), x


# --------------------------------------------------------------------------- deletes

def test_rm_whose_reply_is_lost_is_done_once(semu, mount_factory, tmp_path, _ids):
    """allow_delete: the DELETE is carried out, its reply lost; the record is gone, so rm
    succeeds (no ENOENT from a blind resend)."""
    rid = next(_ids)
    ini = Ini.load(semu.config_path)
    ini[ORG]["allow_delete"] = "true"
    m = mount_factory(ini.write(str(tmp_path / "delete.ini")), emu=semu)
    semu.rule(method="DELETE", path=PATCH_RECORD, apply=True, deliver="reset")
    r = sh(["rm", fpath(m, rid)])
    assert r.returncode == 0, r.stderr
    assert server(semu, rid) is None
