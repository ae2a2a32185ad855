"""Common tools on a mount: editors, sed, jq, cp, rsync, tar, shell redirections.

Every test runs a real program on record files of a mounted tenant, then checks the result
on the server through the Web API (lib.client.WebApi, never through dynfs's cache) and counts
the write requests the emulator saw while the program ran (/_emulator/stats: update, create,
upsert, delete, batch).  The rules being tested (SEMANTICS.md):

- a record file is saved when closed or fsync'd after being written: one PATCH of the changed
  columns (stats kind `update`), nothing when unchanged;
- any other name in a set folder (swap files, backups, `4913`, rsync/sed temporaries, lock
  symlinks) is a local file held in the mount's memory and never reaches the server;
- rename(local -> <guid>.json) saves the local file as that record (update, or create with that
  id); rename(record -> other name) keeps a local copy and sends nothing;
- a new local file whose name ends in `.json` is saved when closed after being written: as the
  record named by a GUID name, else by the primary key inside, else a new record whose id dynfs
  picked (user.dynfs.id);
- creates are one request each (`create` or `upsert`: PATCH with If-None-Match: *);
- unlink of a record is a DELETE only with allow_delete = true, else EPERM; mkdir/rmdir fail.

Editors run with their distribution defaults, with one exception each: the mountpoint is under
/tmp (pytest's temporary directory), and both vim ('backupskip' contains /tmp/*) and emacs
(normal-backup-enable-predicate refuses /tmp) never make backups of files under /tmp.  A real
mount lives elsewhere (~/dynfs), so the tests undo just that exception (vim: `set
backupskip=`, emacs: a backup-enable-predicate that is always true).  Everything else -- swap
files, the `4913` probe, backup by rename ('backupcopy' auto), fsync, emacs' `.#f` lock symlink
and `f~` backup -- is the editors' own default behaviour.  HOME points to an empty directory so
that no personal configuration is read.

Each test works on accounts (or contacts) no other test touches.  Two mounts of one emulator
are shared by the module: `tmnt` (the emulator's dynfs.ini: cache_ttl 60) and `dmnt`
(cache_ttl 1, allow_delete = true) for the tests that need a fresh listing or deletes.
"""

import errno
import fcntl
import glob
import json
import os
import re
import select
import shutil
import stat
import struct
import subprocess
import termios
import time
import uuid

import pytest

from lib.fixtures import emulator_fixture, mount_fixture
from lib.mount import (as_decimal, get_raw, line_of, loads_verbatim, render, stats_delta,
                       strip_annotations)
from lib.tools import assert_writes, killpg, run_tool, writes

ORG = "contoso"
SET = "accounts"
CSET = "contacts"
VOLATILE = ("@odata.etag", "modifiedon", "versionnumber", "_modifiedby_value")
GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TOOL_TIMEOUT = 30

PK = {SET: "accountid", CSET: "contactid"}


# --------------------------------------------------------------------------- fixtures

temu = emulator_fixture(orgs=ORG, records={"accounts": 90, "contacts": 20}, seed=31)
# the emulator's own dynfs.ini (cache_ttl 60, allow_delete false)
tmnt = mount_fixture("temu", state_home=True)
# cache_ttl 1 (listings come from the server again after a second), allow_delete true
dmnt = mount_fixture("temu", ini={"global": {"cache_ttl": 1}, ORG: {"allow_delete": "true"}},
                     state_home=True)


@pytest.fixture(scope="module")
def tool_env(tmp_path_factory):
    """Environment for the tools: an empty HOME, UTF-8, no editor init variables."""
    home = str(tmp_path_factory.mktemp("home"))
    env = dict(os.environ)
    for k in ("VIMINIT", "EXINIT", "MYVIMRC", "VIM", "VIMRUNTIME", "EMACSLOADPATH", "EMACSDATA",
              "EMACSPATH", "EMACS_USER_DIRECTORY", "TMPDIR", "SED", "POSIXLY_CORRECT",
              "RSYNC_RSH", "TAR_OPTIONS", "JQ_COLORS", "CDPATH"):
        env.pop(k, None)
    env.update(HOME=home, LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="xterm", TZ="UTC")
    return env


@pytest.fixture(scope="module")
def _accounts(temu):
    """Accounts in a fixed order: plain names (no quote to trip a regex), active."""
    recs = [r for r in temu.records(ORG, SET)
            if isinstance(r.get("name"), str) and '"' not in r["name"] and "\\" not in r["name"]
            and r.get("statecode") == 0]
    return iter(r["accountid"] for r in recs)


@pytest.fixture
def rid(_accounts):
    """An account no other test touches."""
    return next(_accounts)


@pytest.fixture
def rid2(_accounts):
    return next(_accounts)


@pytest.fixture
def rid3(_accounts):
    return next(_accounts)


# --------------------------------------------------------------------------- helpers

def setdir(m, entity_set=SET):
    return os.path.join(m.path, ORG, entity_set)


def fpath(m, rid, entity_set=SET):
    return os.path.join(m.path, ORG, entity_set, rid + ".json")


def read(p):
    with open(p, "rb") as f:
        return f.read()


def write(p, data, mode="wb"):
    with open(p, mode) as f:
        f.write(data)


def api_get(emu, rid, entity_set=SET, annotations=False):
    """The record through the Web API (RawNumber literals), or None if it does not exist.
    Call it outside stats_delta: it is a counted request."""
    h = {"Prefer": 'odata.include-annotations="*"'} if annotations else None
    r = emu.api(ORG).request("GET", "%s(%s)" % (entity_set, rid), headers=h)
    if r.status == 404:
        return None
    assert r.status == 200, "GET %s(%s) -> %r" % (entity_set, rid, r)
    return loads_verbatim(r.raw)


def server(emu, rid, entity_set=SET):
    rec = api_get(emu, rid, entity_set)
    assert rec is not None, "record %s(%s) does not exist on the server" % (entity_set, rid)
    return rec


def count_records(emu, entity_set=SET):
    recs, _ = emu.api(ORG).list_all(entity_set, select=[PK[entity_set]])
    return len(recs)


def stable(rec):
    return {k: v for k, v in rec.items() if k not in VOLATILE}


def nonzero(d):
    return {k: v for k, v in d.items() if v}


_columns = {}


def columns(emu, entity, flag):
    """Web API property names of ENTITY's readable columns with FLAG (IsValidForCreate or
    IsValidForUpdate) from the metadata (lookups as _x_value)."""
    key = (entity, flag)
    if key not in _columns:
        r = emu.api(ORG).get("EntityDefinitions(LogicalName='%s')/Attributes?$select=LogicalName,"
                             "AttributeType,IsValidForCreate,IsValidForUpdate,IsValidForRead,"
                             "AttributeOf" % entity)
        assert r.status == 200, r
        out = set()
        for a in r.body["value"]:
            if a.get("AttributeOf") or not a.get("IsValidForRead") or not a.get(flag):
                continue
            if a["AttributeType"] in ("Virtual", "EntityName", "PartyList", "ManagedProperty"):
                continue
            name = a["LogicalName"]
            if a["AttributeType"] in ("Lookup", "Customer", "Owner"):
                name = "_%s_value" % name
            out.add(name)
        _columns[key] = out
    return _columns[key]


def differences(want, got, cols):
    """{column: (want, got)} for COLS whose values differ (numbers by value)."""
    out = {}
    for c in sorted(cols):
        if c not in want and c not in got:
            continue
        a, b = as_decimal(want.get(c)), as_decimal(got.get(c))
        if isinstance(a, str) and isinstance(b, str) and GUID_RE.match(a.lower() or "-"):
            a, b = a.lower(), b.lower()
        if a != b:
            out[c] = (want.get(c), got.get(c))
    return out


def file_is_server_version(emu, m, rid, entity_set=SET):
    rec, _ = get_raw(emu.api(ORG), entity_set, rid)
    return read(fpath(m, rid, entity_set)) == render(strip_annotations(rec))


def getxattr(p, name):
    try:
        return os.getxattr(p, name, follow_symlinks=False).decode("utf-8")
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.ENOENT):
            return None
        raise


def replace_line(data, key, new_value_json):
    """DATA (a record file) with the line of KEY holding NEW_VALUE_JSON (text)."""
    pat = re.compile(rb'^(  "' + re.escape(key.encode()) + rb'": ).*?(,?)$', re.M)
    out, n = pat.subn(lambda mo: mo.group(1) + new_value_json.encode() + mo.group(2), data, count=1)
    assert n == 1, "no line for %s" % key
    return out


def sh(argv, timeout=TOOL_TIMEOUT, **kw):
    return run_tool(argv, timeout, **kw)


def ok(r):
    assert r.returncode == 0, "%r exited %d\nstdout: %s\nstderr: %s" % (
        r.args, r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    return r


def rescue_files(state_home, entity_set=SET):
    d = os.path.join(state_home, "dynfs", "rescue", ORG, entity_set)
    return set(glob.glob(os.path.join(d, "*.json")))


def check_rescued(state_home, before, data, reason_re, entity_set=SET):
    """Exactly one new rescue file holds DATA, with a .error beside it matching REASON_RE."""
    new = sorted(rescue_files(state_home, entity_set) - before)
    holding = [p for p in new if read(p) == data]
    assert len(holding) == 1, "expected one new rescue file holding the bytes written; new " \
                              "rescue files: %r" % new
    errfile = holding[0][:-len(".json")] + ".error"
    assert os.path.isfile(errfile), "no .error beside %s" % holding[0]
    with open(errfile, encoding="utf-8") as f:
        text = f.read()
    assert re.search(reason_re, text, re.I | re.S), "%r not in %s: %r" % (reason_re, errfile, text)
    return holding[0]


def guid():
    return str(uuid.uuid4())


# --------------------------------------------------------------------------- editors

VIM_BASE = ["vim", "-u", "DEFAULTS", "-i", "NONE", "-N", "--not-a-term",
            # the mount is under /tmp, which the default 'backupskip' excludes from backups
            "-c", "set backupskip="]


def vim(path, commands, env, report=None, timeout=TOOL_TIMEOUT):
    argv = list(VIM_BASE)
    if report:
        argv += ["-c", "redir! > %s | echo 'swap=' . swapname('%%') | set swapfile? "
                       "writebackup? backupcopy? fsync? | redir END" % report]
    for c in commands:
        argv += ["-c", c]
    assert argv.count("-c") <= 10, "vim takes at most 10 -c commands"
    return sh(argv + [path], env=env, timeout=timeout)


@pytest.mark.parametrize("backupcopy", ["default", "no", "yes"])
def test_vim_edit(temu, tmnt, rid, tool_env, tmp_path, backupcopy):
    """vim with its defaults: swap file .f.swp in the folder, the 4913 probe, backup by
    rename (f.json -> f.json~, write a new f.json, fsync, delete f.json~).  'backupcopy' no
    forces the rename path whatever vim's probe decides, yes the copy path (f.json~ written as
    a local copy, f.json overwritten in place)."""
    if not shutil.which("vim"):
        pytest.skip("vim is not installed")
    d = setdir(tmnt)
    p = fpath(tmnt, rid)
    before = server(temu, rid)
    listing = set(os.listdir(d))
    new_name = "Edited by vim (%s)" % backupcopy
    report = str(tmp_path / "vim-options.txt")
    cmds = [] if backupcopy == "default" else ["set backupcopy=" + backupcopy]
    cmds += [r'%%s/^  "name": .*,$/  "name": "%s",/' % new_name, "wq"]
    r = stats_delta(temu, lambda: vim(p, cmds, tool_env, report=report))
    ok(r.result)
    with open(report, encoding="utf-8", errors="replace") as f:
        opts = f.read()
    assert "swap=%s/.%s.json.sw" % (d, rid) in opts, \
        "vim did not put its swap file in the set folder: %r" % opts
    assert re.search(r"\bswapfile\b", opts) and re.search(r"\bwritebackup\b", opts), opts
    assert_writes(r, update=1)
    assert r["get"] == 0 and r["list"] == 0, "a vim save is one PATCH and nothing else: %r" % r
    after = server(temu, rid)
    assert after["name"] == new_name
    assert stable(after) == dict(stable(before), name=new_name), \
        "columns other than name changed on the server"
    assert set(os.listdir(d)) == listing, \
        "the folder changed: added %r, missing %r" % (sorted(set(os.listdir(d)) - listing),
                                                      sorted(listing - set(os.listdir(d))))
    for stray in (rid + ".json~", ".%s.json.swp" % rid, ".%s.json.swx" % rid, "4913"):
        assert not os.path.lexists(os.path.join(d, stray)), "%s left behind" % stray
    assert file_is_server_version(temu, tmnt, rid), "the file does not show the saved record"


def test_vim_new_record(temu, tmnt, tool_env):
    """`vim accounts/new.json`, type a record, :wq -> exactly one create."""
    if not shutil.which("vim"):
        pytest.skip("vim is not installed")
    d = setdir(tmnt)
    p = os.path.join(d, "vim-new.json")
    n0 = count_records(temu)
    lines = ["{", '  "name": "Created by vim",', '  "telephone1": "+1 555-0101"', "}"]
    cmd = "call setline(1, [%s])" % ", ".join("'%s'" % s for s in lines)
    r = stats_delta(temu, lambda: vim(p, [cmd, "wq"], tool_env))
    ok(r.result)
    assert_writes(r, create=1)
    assert os.path.exists(p), "vim-new.json does not answer stat after the create"
    new_id = getxattr(p, "user.dynfs.id")
    assert new_id and GUID_RE.match(new_id), "user.dynfs.id of vim-new.json: %r" % new_id
    rec = server(temu, new_id)
    assert rec["name"] == "Created by vim" and rec["telephone1"] == "+1 555-0101", rec
    assert count_records(temu) == n0 + 1
    for stray in (".vim-new.json.swp", "vim-new.json~", "4913"):
        assert not os.path.lexists(os.path.join(d, stray)), "%s left behind" % stray


class Pty:
    """A program on a pseudo-terminal, driven by keystrokes; always killed at the end."""

    def __init__(self, argv, env, rows=40, cols=120):
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        try:
            self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                         start_new_session=True, close_fds=True)
        finally:
            os.close(slave)
        self.out = b""

    def pump(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([self.master], [], [], 0.05)
            if r:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                self.out += chunk

    def expect(self, text, timeout=10):
        end = time.monotonic() + timeout
        while text not in self.out:
            if time.monotonic() > end or self.proc.poll() is not None:
                raise AssertionError("%r not shown within %d s (exit %s); screen tail: %r" % (
                    text, timeout, self.proc.poll(), self.out[-800:]))
            self.pump(0.05)

    def send(self, data, settle=0.15):
        os.write(self.master, data)
        self.pump(settle)

    def wait(self, timeout=10):
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            self.pump(0.05)
        return self.proc.poll()

    def close(self):
        if self.proc.poll() is None:
            killpg(self.proc)
        try:
            os.close(self.master)
        except OSError:
            pass


def test_nano_edit(temu, tmnt, rid, tool_env):
    """nano (distribution defaults, driven through a pty): go to the name line, cut it, type a
    new one, ^O Enter, ^X.  nano rewrites the file in place (O_TRUNC, write, fsync)."""
    if not shutil.which("nano"):
        pytest.skip("nano is not installed")
    p = fpath(tmnt, rid)
    before = server(temu, rid)
    line = line_of(p, '  "name": ')

    def edit():
        t = Pty(["nano", p], tool_env)
        try:
            t.expect(b"^G")
            t.send(b"\x1f")                       # ^_ go to line
            t.expect(b"line number")
            t.send(str(line).encode() + b"\r")
            t.send(b"\x0b")                       # ^K cut the line
            t.send(b'  "name": "Edited by nano",\r')
            t.out = b""
            t.send(b"\x0f")                       # ^O write out
            t.expect(b"File Name to Write")
            t.send(b"\r")
            t.expect(b"Wrote")
            t.send(b"\x18")                       # ^X exit
            return t.wait(10), t.out
        finally:
            t.close()

    r = stats_delta(temu, edit)
    rc, screen = r.result
    assert rc == 0, "nano exited %r; screen tail %r" % (rc, screen[-800:])
    assert_writes(r, update=1)
    after = server(temu, rid)
    assert after["name"] == "Edited by nano"
    assert stable(after) == dict(stable(before), name="Edited by nano")
    assert file_is_server_version(temu, tmnt, rid)


def test_emacs_edit(temu, tmnt, rid, tool_env):
    """emacs --batch: lock symlink .#f.json, first save renames f.json to f.json~ (kept, as a
    local copy of the original), writes a new f.json."""
    if not shutil.which("emacs"):
        pytest.skip("emacs is not installed")
    d = setdir(tmnt)
    p = fpath(tmnt, rid)
    before = server(temu, rid)
    orig = read(p)
    lisp = ('(progn (goto-char (point-min))'
            ' (re-search-forward "^  \\"name\\": .*,$")'
            ' (replace-match "  \\"name\\": \\"Edited by emacs\\"," t t)'
            ' (save-buffer))')
    argv = ["emacs", "--batch",
            # files under /tmp are never backed up; a real mount is not under /tmp
            "--eval", "(setq backup-enable-predicate (lambda (_name) t))",
            p, "--eval", lisp]
    r = stats_delta(temu, lambda: sh(argv, env=tool_env))
    ok(r.result)
    assert_writes(r, update=1)
    after = server(temu, rid)
    assert after["name"] == "Edited by emacs"
    assert stable(after) == dict(stable(before), name="Edited by emacs")
    assert file_is_server_version(temu, tmnt, rid)
    backup = os.path.join(d, rid + ".json~")
    assert os.path.isfile(backup), "emacs' backup %s.json~ is missing" % rid
    assert read(backup) == orig, "the backup does not hold the record as it was"
    assert not os.path.lexists(os.path.join(d, ".#%s.json" % rid)), "lock symlink left behind"
    # the backup is local: removing it sends nothing and leaves the record alone
    r = stats_delta(temu, lambda: os.unlink(backup))
    assert not nonzero(writes(r)), r
    assert not os.path.lexists(backup)
    assert server(temu, rid)["name"] == "Edited by emacs"


# --------------------------------------------------------------------------- stream tools

def test_sed_inplace(temu, tmnt, rid):
    """sed -i: writes sedXXXXXX in the folder, fchmod/fchown, renames it over f.json."""
    p = fpath(tmnt, rid)
    before = server(temu, rid)
    listing = set(os.listdir(setdir(tmnt)))
    r = stats_delta(temu, lambda: sh(["sed", "-i", r's/^  "name": .*,$/  "name": "Edited by sed",/',
                                      p]))
    ok(r.result)
    assert_writes(r, update=1)
    after = server(temu, rid)
    assert stable(after) == dict(stable(before), name="Edited by sed")
    assert set(os.listdir(setdir(tmnt))) == listing, "sed left a temporary file behind"
    assert file_is_server_version(temu, tmnt, rid)


def test_sed_no_match_sends_nothing(temu, tmnt, rid):
    """sed -i that changes nothing still renames its copy over the file: no request."""
    p = fpath(tmnt, rid)
    before = server(temu, rid)
    orig = read(p)
    r = stats_delta(temu, lambda: sh(["sed", "-i", "s/no such text anywhere/x/", p]))
    ok(r.result)
    assert_writes(r)
    assert server(temu, rid) == before
    assert read(p) == orig


def test_jq_to_tmp_then_mv(temu, tmnt, rid):
    """jq '.name="x"' f.json > tmp.json && mv tmp.json f.json: tmp.json carries f's primary
    key, so it is f; one PATCH in all, no new record, tmp.json gone."""
    if not shutil.which("jq"):
        pytest.skip("jq is not installed")
    d = setdir(tmnt)
    before = server(temu, rid)
    n0 = count_records(temu)
    cmd = "jq '.name=\"Renamed by jq\"' %s.json > tmp.json && mv tmp.json %s.json" % (rid, rid)
    r = stats_delta(temu, lambda: sh(cmd, shell=True, cwd=d))
    ok(r.result)
    assert_writes(r, update=1)
    after = server(temu, rid)
    assert stable(after) == dict(stable(before), name="Renamed by jq")
    assert count_records(temu) == n0, "a new record was created"
    assert not os.path.lexists(os.path.join(d, "tmp.json")), "tmp.json still there after mv"
    assert file_is_server_version(temu, tmnt, rid)


def test_cp_other_record_over(temu, tmnt, rid):
    """cp other.json f.json: f gets other's column values, keeps its id; other unchanged.
    other's versionnumber is not f's, so read-only columns in the file are ignored."""
    recs = temu.records(ORG, SET)
    f_rec = server(temu, rid)
    other = next(r["accountid"] for r in recs
                 if r["accountid"] != rid and r.get("_parentaccountid_value")
                 and r["_parentaccountid_value"] != rid and r.get("statecode") == 0
                 and r["accountid"] != f_rec.get("_parentaccountid_value"))
    o_rec = server(temu, other)
    r = stats_delta(temu, lambda: sh(["cp", fpath(tmnt, other), fpath(tmnt, rid)]))
    ok(r.result)
    assert_writes(r, update=1)
    after = server(temu, rid)
    assert after["accountid"] == rid
    diff = differences(o_rec, after, columns(temu, "account", "IsValidForUpdate") - {"accountid"})
    assert not diff, "columns of f that are not other's after cp: %r" % diff
    assert after["createdon"] == f_rec["createdon"], "a read-only column was changed"
    assert server(temu, other) == o_rec, "cp changed the source record"
    assert file_is_server_version(temu, tmnt, rid)


def test_shell_redirect_partial(temu, tmnt, rid):
    """echo '{"name": "x"}' > f.json: only the name changes, missing keys stay."""
    before = server(temu, rid)
    r = stats_delta(temu, lambda: sh("echo '{\"name\": \"Set by echo\"}' > %s" % fpath(tmnt, rid),
                                     shell=True))
    ok(r.result)
    assert_writes(r, update=1)
    assert stable(server(temu, rid)) == dict(stable(before), name="Set by echo")
    assert file_is_server_version(temu, tmnt, rid)


def test_python_open_truncate_write(temu, tmnt, rid):
    p = fpath(tmnt, rid)
    before = server(temu, rid)
    obj = loads_verbatim(read(p))
    obj["telephone1"] = "+44 20 7946 0000"
    obj["description"] = "written by a script ✓"

    def run():
        with open(p, "r+b") as f:
            f.truncate(0)
            f.write(render(obj))

    r = stats_delta(temu, run)
    assert_writes(r, update=1)
    assert stable(server(temu, rid)) == dict(stable(before), telephone1="+44 20 7946 0000",
                                             description="written by a script ✓")


def test_rsync_edited_copy(temu, tmnt, rid, rid2, rid3, tmp_path):
    """rsync -a edited/ accounts/ with one of three files changed: one PATCH; rsync sets modes,
    owners and times (on its temporary .f.json.XXXXXX) without error."""
    if not shutil.which("rsync"):
        pytest.skip("rsync is not installed")
    ids = [rid, rid2, rid3]
    edited = tmp_path / "edited"
    edited.mkdir()
    ok(sh(["cp", "-p"] + [fpath(tmnt, i) for i in ids] + [str(edited)]))
    before = {i: server(temu, i) for i in ids}
    changed = edited / (rid2 + ".json")
    changed.write_bytes(replace_line(changed.read_bytes(), "name", '"Edited then rsynced"'))
    os.utime(str(changed), (time.time() + 5, time.time() + 5))
    listing = set(os.listdir(setdir(tmnt)))
    r = stats_delta(temu, lambda: sh(["rsync", "-a", str(edited) + "/", setdir(tmnt) + "/"]))
    ok(r.result)
    assert_writes(r, update=1)
    assert stable(server(temu, rid2)) == dict(stable(before[rid2]), name="Edited then rsynced")
    assert server(temu, rid) == before[rid] and server(temu, rid3) == before[rid3]
    assert set(os.listdir(setdir(tmnt))) == listing, "rsync left a temporary file behind"
    assert file_is_server_version(temu, tmnt, rid2)


def test_tar_extract_overwrite(temu, tmnt, rid, rid2, tmp_path):
    """tar -x --overwrite of an archive of edited copies: opens the records with O_TRUNC,
    writes, sets times/modes/owners; one PATCH for the changed file, none for the other."""
    src = tmp_path / "src"
    src.mkdir()
    ok(sh(["cp", "-p", fpath(tmnt, rid), fpath(tmnt, rid2), str(src)]))
    f1 = src / (rid + ".json")
    f1.write_bytes(replace_line(f1.read_bytes(), "name", '"Restored from tar"'))
    archive = str(tmp_path / "edited.tar")
    ok(sh(["tar", "-cf", archive, "-C", str(src), rid + ".json", rid2 + ".json"]))
    before = {i: server(temu, i) for i in (rid, rid2)}
    r = stats_delta(temu, lambda: sh(["tar", "-x", "--overwrite", "-f", archive,
                                      "-C", setdir(tmnt)]))
    ok(r.result)
    assert_writes(r, update=1)
    assert stable(server(temu, rid)) == dict(stable(before[rid]), name="Restored from tar")
    assert server(temu, rid2) == before[rid2]


def test_tar_extract_new_records(temu, tmnt, rid, tmp_path):
    """Plain tar -x of <guid>.json files that do not exist: one create each, with that id.
    One file is a full copy of another account (its own accountid inside is ignored: the name
    decides; read-only columns are dropped on create)."""
    src = tmp_path / "new"
    src.mkdir()
    g1, g2 = guid(), guid()
    (src / (g1 + ".json")).write_bytes(b'{"name": "Tar new one", "telephone1": "+1 555-0110"}\n')
    clone = loads_verbatim(read(fpath(tmnt, rid)))
    clone["name"] = "Tar clone"
    (src / (g2 + ".json")).write_bytes(render(clone))
    archive = str(tmp_path / "new.tar")
    ok(sh(["tar", "-cf", archive, "-C", str(src), g1 + ".json", g2 + ".json"]))
    before = server(temu, rid)
    n0 = count_records(temu)
    r = stats_delta(temu, lambda: sh(["tar", "-x", "-f", archive, "-C", setdir(tmnt)]))
    ok(r.result)
    assert_writes(r, create=2)
    assert count_records(temu) == n0 + 2
    one = server(temu, g1)
    assert one["name"] == "Tar new one" and one["telephone1"] == "+1 555-0110"
    two = server(temu, g2)
    assert two["accountid"] == g2 and two["name"] == "Tar clone"
    diff = differences(dict(before, name="Tar clone"), two,
                       columns(temu, "account", "IsValidForCreate") - {"accountid"})
    assert not diff, "the clone differs from its source in: %r" % diff
    assert server(temu, rid) == before, "the record whose id is inside the clone changed"


def test_tar_extract_without_overwrite_refused(temu, tmnt, rid, tmp_path):
    """Plain tar -x over an existing record unlinks it first: without allow_delete that is
    EPERM, tar fails, and nothing is sent (--overwrite is the way to restore over records)."""
    src = tmp_path / "src"
    src.mkdir()
    ok(sh(["cp", "-p", fpath(tmnt, rid), str(src)]))
    f1 = src / (rid + ".json")
    f1.write_bytes(replace_line(f1.read_bytes(), "name", '"Not without --overwrite"'))
    archive = str(tmp_path / "a.tar")
    ok(sh(["tar", "-cf", archive, "-C", str(src), rid + ".json"]))
    before = server(temu, rid)
    r = stats_delta(temu, lambda: sh(["tar", "-x", "-f", archive, "-C", setdir(tmnt)]))
    assert r.result.returncode != 0, "tar -x over a record succeeded without --overwrite"
    assert_writes(r)
    assert server(temu, rid) == before
    assert os.path.exists(fpath(tmnt, rid))


# --------------------------------------------------------------------------- new records

def test_cp_template_new_record(temu, dmnt, tmp_path):
    """cp template.json accounts/new.json (no id anywhere) -> one create with an id dynfs
    picked; user.dynfs.id names it; writing new.json again updates that record (never a
    second create); after the next listing the folder shows <id>.json."""
    d = setdir(dmnt)
    os.listdir(d)
    tpl = tmp_path / "template.json"
    tpl.write_bytes(b'{\n  "name": "Created from a template",\n  "websiteurl": '
                    b'"https://template.example"\n}\n')
    p = os.path.join(d, "new.json")
    n0 = count_records(temu)
    r = stats_delta(temu, lambda: sh(["cp", str(tpl), p]))
    ok(r.result)
    assert_writes(r, create=1)
    st = os.stat(p)
    assert stat.S_ISREG(st.st_mode), "new.json does not answer stat after the create"
    new_id = getxattr(p, "user.dynfs.id")
    assert new_id and GUID_RE.match(new_id), "user.dynfs.id of new.json: %r" % new_id
    g = ok(sh(["getfattr", "--only-values", "-n", "user.dynfs.id", p])) \
        if shutil.which("getfattr") else None
    if g is not None:
        assert g.stdout.strip() == new_id
    rec = server(temu, new_id)
    assert rec["name"] == "Created from a template"
    assert rec["websiteurl"] == "https://template.example"
    assert count_records(temu) == n0 + 1
    shown = loads_verbatim(read(p))
    assert shown["name"] == "Created from a template"
    # the name shows the record it became (with its id), so copying it on is not a new record
    assert shown["accountid"] == new_id, "new.json does not read back as the record: %r" % shown
    copy = os.path.join(d, "copy-of-new.json")
    r = stats_delta(temu, lambda: sh(["cp", p, copy]))
    ok(r.result)
    assert_writes(r, what="cp new.json copy-of-new.json")
    assert count_records(temu) == n0 + 1, "copying the saved name created a record"
    # rm of such a name removes the name, never the record (allow_delete is on here)
    r = stats_delta(temu, lambda: os.unlink(copy))
    assert_writes(r, what="rm copy-of-new.json")
    assert not os.path.exists(copy)
    assert server(temu, new_id)["name"] == "Created from a template"

    # a second save of the same name is the same record
    r = stats_delta(temu, lambda: write(p, b'{"name": "Template record, renamed"}\n'))
    assert_writes(r, update=1, what="second save of new.json")
    assert server(temu, new_id)["name"] == "Template record, renamed"
    assert count_records(temu) == n0 + 1, "the second save created another record"

    time.sleep(1.2)   # cache_ttl 1: the next listing comes from the server
    names = os.listdir(d)
    assert new_id + ".json" in names, "%s.json not listed" % new_id
    assert "new.json" not in names, "new.json still listed after the set was listed again"


def test_new_record_cp_p_and_rsync(temu, tmnt, tmp_path):
    """cp -p and rsync -a of a template to new names: one create each; the chmod/chown/utimens
    they do on the written name (cp -p after close) or on their temporary (rsync) succeed."""
    d = setdir(tmnt)
    tpl = tmp_path / "t.json"
    tpl.write_bytes(b'{"name": "Copied with cp -p"}\n')
    n0 = count_records(temu)
    r = stats_delta(temu, lambda: sh(["cp", "-p", str(tpl), os.path.join(d, "cp-p-new.json")]))
    ok(r.result)
    assert_writes(r, create=1, what="cp -p")
    a = getxattr(os.path.join(d, "cp-p-new.json"), "user.dynfs.id")
    assert a and server(temu, a)["name"] == "Copied with cp -p"
    if shutil.which("rsync"):
        tpl.write_bytes(b'{"name": "Copied with rsync"}\n')
        r = stats_delta(temu, lambda: sh(["rsync", "-a", str(tpl),
                                          os.path.join(d, "rsync-new.json")]))
        ok(r.result)
        assert_writes(r, create=1, what="rsync -a")
        b = getxattr(os.path.join(d, "rsync-new.json"), "user.dynfs.id")
        assert b and b != a and server(temu, b)["name"] == "Copied with rsync"
        assert count_records(temu) == n0 + 2
    else:
        assert count_records(temu) == n0 + 1


def test_new_json_with_primary_key_of_no_record(temu, tmnt, tool_env):
    """A new x.json whose primary key names no record: created with that id."""
    d = setdir(tmnt)
    g = guid()
    body = '{"accountid": "%s", "name": "Created with my own id"}' % g
    r = stats_delta(temu, lambda: sh("printf '%%s\\n' '%s' > mine.json" % body, shell=True, cwd=d))
    ok(r.result)
    assert_writes(r, create=1)
    assert server(temu, g)["name"] == "Created with my own id"
    assert getxattr(os.path.join(d, "mine.json"), "user.dynfs.id") == g


# --------------------------------------------------------------------------- local files

LOCAL_NAMES = ["tmp.txt", "4913", ".x.json.swp", "x.json~", "#x.json#", "sedAb12Cd",
               ".x.json.Q7cR2z", "notes"]


def test_local_files_stay_local(temu, tmnt):
    """Names that are not records: create, write, read, truncate, chmod, utimens, rename
    between local names, symlink, unlink -- like a normal file, and nothing is sent."""
    d = setdir(tmnt)
    os.listdir(d)

    def run():
        for n in LOCAL_NAMES:
            p = os.path.join(d, n)
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, b"hello " + n.encode() + b"\n")
            os.close(fd)
            assert read(p) == b"hello " + n.encode() + b"\n", n
            with open(p, "ab") as f:
                f.write(b"more\n")
            assert read(p).endswith(b"more\n")
            os.truncate(p, 5)
            assert read(p) == b"hello", n
            assert os.stat(p).st_size == 5
            os.chmod(p, 0o600)
            assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, n
            os.utime(p, (1000000000, 1000000000))
            assert int(os.stat(p).st_mtime) == 1000000000, n
            with open(p, "r+b") as f:
                f.seek(2)
                f.write(b"LL")
            assert read(p) == b"heLLo"
        os.rename(os.path.join(d, "tmp.txt"), os.path.join(d, "tmp2.txt"))
        assert not os.path.lexists(os.path.join(d, "tmp.txt"))
        assert read(os.path.join(d, "tmp2.txt")) == b"heLLo"
        # rename over an existing local file replaces it
        os.rename(os.path.join(d, "notes"), os.path.join(d, "tmp2.txt"))
        assert read(os.path.join(d, "tmp2.txt")) == b"heLLo"
        assert not os.path.lexists(os.path.join(d, "notes"))
        lock = os.path.join(d, ".#x.json")
        os.symlink("root@host.4242:1700000000", lock)
        assert os.readlink(lock) == "root@host.4242:1700000000"
        assert stat.S_ISLNK(os.lstat(lock).st_mode)
        names = set(os.listdir(d))
        want = (set(LOCAL_NAMES) - {"tmp.txt", "notes"}) | {"tmp2.txt", ".#x.json"}
        assert want <= names, "local files missing from the listing: %r" % sorted(want - names)
        for n in want:
            os.unlink(os.path.join(d, n))
        left = want & set(os.listdir(d))
        assert not left, "still listed after unlink: %r" % sorted(left)
        for n in want:
            assert not os.path.lexists(os.path.join(d, n)), n

    try:
        r = stats_delta(temu, run)
    finally:
        for n in LOCAL_NAMES + ["tmp2.txt", ".#x.json"]:
            try:
                os.unlink(os.path.join(d, n))
            except OSError:
                pass
    assert_writes(r)


def test_inode_numbers_are_stable_and_distinct(temu, tmnt):
    """A local file keeps its inode number through a rename (tail -F, git and samefile
    notice otherwise); no two names share one; the same name keeps its number."""
    d = setdir(tmnt)
    write(os.path.join(d, "ino-a.txt"), b"a\n")
    ino = os.stat(os.path.join(d, "ino-a.txt")).st_ino
    os.rename(os.path.join(d, "ino-a.txt"), os.path.join(d, "ino-b.txt"))
    assert os.stat(os.path.join(d, "ino-b.txt")).st_ino == ino
    names = os.listdir(d)
    inos = {n: os.stat(os.path.join(d, n)).st_ino for n in names}
    assert len(set(inos.values())) == len(names), inos
    assert all(inos[n] == os.stat(os.path.join(d, n)).st_ino for n in names)
    assert os.stat(d).st_ino not in inos.values()
    os.unlink(os.path.join(d, "ino-b.txt"))


def test_local_names_cost_no_requests(temu, tmnt):
    """Looking up, creating and removing names that cannot be records asks the server nothing
    (not even a GET)."""
    d = setdir(tmnt)
    os.listdir(d)

    def run():
        for n in ("4913", ".x.json.swp", "sed0AbCd", "x.json~", "#x.json#", "tmp.txt"):
            p = os.path.join(d, n)
            assert not os.path.lexists(p)
            write(p, b"x")
            os.unlink(p)
        lock = os.path.join(d, ".#x.json")
        assert not os.path.lexists(lock)
        os.symlink("root@host.4242:1700000000", lock)
        os.unlink(lock)

    r = stats_delta(temu, run)
    assert not {k: v for k, v in nonzero(r).items() if k != "token"}, \
        "requests for local names: %r" % r


def test_rename_record_away_and_back(temu, dmnt, rid):
    """mv f.json f.bak keeps a local copy, hides f.json, sends nothing, deletes nothing;
    mv f.bak f.json saves the unchanged content: nothing sent.  A listing from the server shows
    f.json again."""
    d = setdir(dmnt)
    p = fpath(dmnt, rid)
    bak = p + ".bak"
    before = server(temu, rid)
    orig = read(p)
    r = stats_delta(temu, lambda: os.rename(p, bak))
    assert_writes(r, what="rename record -> local")
    assert read(bak) == orig
    assert not os.path.exists(p), "the record name still answers after being renamed away"
    assert server(temu, rid) == before
    r = stats_delta(temu, lambda: os.rename(bak, p))
    assert_writes(r, what="rename local -> record, unchanged")
    assert read(p) == orig
    assert not os.path.lexists(bak)
    # away again, then let the listing bring the record name back
    os.rename(p, bak)
    time.sleep(1.2)
    names = set(os.listdir(d))
    assert rid + ".json" in names, "the record is not listed after a fresh listing"
    assert rid + ".json.bak" in names, "the local copy vanished"
    assert read(p) == orig
    r = stats_delta(temu, lambda: os.unlink(bak))
    assert_writes(r)
    assert server(temu, rid) == before


# --------------------------------------------------------------------------- lookups

def _sed_line(p, key, value_json):
    return sh(["sed", "-i", r's/^  "%s": [^,]*,$/  "%s": %s,/' % (key, key, value_json), p])


def test_lookup_bind_and_clear(temu, tmnt, rid, rid2):
    """Changing _parentaccountid_value sends parentaccountid@odata.bind; null clears it."""
    p = fpath(tmnt, rid)
    before = server(temu, rid)
    target = rid2 if before.get("_parentaccountid_value") != rid2 else None
    r = stats_delta(temu, lambda: _sed_line(p, "_parentaccountid_value", '"%s"' % target))
    ok(r.result)
    assert_writes(r, update=1)
    after = server(temu, rid)
    assert after["_parentaccountid_value"] == target
    assert stable(after) == dict(stable(before), _parentaccountid_value=target)
    r = stats_delta(temu, lambda: _sed_line(p, "_parentaccountid_value", "null"))
    ok(r.result)
    assert_writes(r, update=1)
    assert server(temu, rid)["_parentaccountid_value"] is None


def test_polymorphic_lookup(temu, tmnt):
    """contact _parentcustomerid_value: to a contact, then back to an account."""
    contacts = [c for c in temu.records(ORG, CSET) if c.get("_parentcustomerid_value")]
    assert len(contacts) >= 2, "the sample data has no contacts with a parent customer"
    c, other = contacts[-1], contacts[-2]
    account = c["_parentcustomerid_value"]
    p = fpath(tmnt, c["contactid"], CSET)
    r = stats_delta(temu, lambda: _sed_line(p, "_parentcustomerid_value",
                                            '"%s"' % other["contactid"]))
    ok(r.result)
    assert_writes(r, update=1)
    rec = api_get(temu, c["contactid"], CSET, annotations=True)
    assert rec["_parentcustomerid_value"] == other["contactid"]
    assert rec["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "contact"
    r = stats_delta(temu, lambda: _sed_line(p, "_parentcustomerid_value", '"%s"' % account))
    ok(r.result)
    assert_writes(r, update=1)
    rec = api_get(temu, c["contactid"], CSET, annotations=True)
    assert rec["_parentcustomerid_value"] == account
    assert rec["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"


# --------------------------------------------------------------------------- failures

def _error_xattr(*paths):
    for p in paths:
        if os.path.lexists(p):
            x = getxattr(p, "user.dynfs.error")
            if x:
                return x
    return None


def test_sed_invalid_json_fails(temu, tmnt, state_home, rid):
    """sed -i producing invalid JSON: the rename fails (EINVAL), sed reports it, the record is
    unchanged, the bytes are rescued."""
    p = fpath(tmnt, rid)
    before = server(temu, rid)
    orig = read(p)
    bad = replace_line(orig, "name", "broken")
    old = rescue_files(state_home)
    listing = set(os.listdir(setdir(tmnt)))
    log_at = len(tmnt.log_text())
    r = stats_delta(temu, lambda: sh(["sed", "-i", r's/^  "name": .*,$/  "name": broken,/', p]))
    assert r.result.returncode != 0, "sed succeeded although its result is not JSON"
    assert "Invalid argument" in r.result.stderr, r.result.stderr
    assert_writes(r)
    assert server(temu, rid) == before
    assert read(p) == orig
    check_rescued(state_home, old, bad, r"invalid JSON")
    temps = [os.path.join(setdir(tmnt), n) for n in set(os.listdir(setdir(tmnt))) - listing]
    # sed removes its temporary file when the rename fails: the record is the only file left
    # to ask why
    x = getxattr(p, "user.dynfs.error")
    assert x and x.startswith("save failed: "), \
        "user.dynfs.error of the record after a failed rename onto it: %r (on sed's " \
        "temporary files, if any are left: %r)" % (x, _error_xattr(*temps))
    assert x in tmnt.log_text()[log_at:], "the reason is not in the log"
    for t in temps:     # whatever sed left behind is a local file: removing it sends nothing
        r = stats_delta(temu, lambda: os.unlink(t))
        assert_writes(r)


def test_rename_invalid_json_keeps_local(temu, tmnt, state_home, rid):
    """rename(local -> f.json) of invalid JSON: EINVAL, the local file stays as it was."""
    d = setdir(tmnt)
    p = fpath(tmnt, rid)
    before = server(temu, rid)
    orig = read(p)
    tmp = os.path.join(d, ".%s.json.XyZ123" % rid)
    data = orig[:-3] + b",,\n"
    write(tmp, data)
    old = rescue_files(state_home)

    def run():
        try:
            os.rename(tmp, p)
        except OSError as e:
            return e
        return None

    r = stats_delta(temu, run)
    assert r.result is not None and r.result.errno == errno.EINVAL, \
        "rename returned %r, expected EINVAL" % r.result
    assert_writes(r)
    assert read(tmp) == data, "the local file is gone or changed after a failed rename"
    assert read(p) == orig
    assert server(temu, rid) == before
    check_rescued(state_home, old, data, r"invalid JSON")
    x = _error_xattr(p, tmp)
    assert x and x.startswith("save failed: "), x
    os.unlink(tmp)


def test_rename_conflict_estale(temu, tmnt, state_home, rid):
    """Read f.json through the mount, change the record through the Web API, then save an edit
    of what was read by rename: ESTALE, the Web API's change stays, the bytes are rescued."""
    d = setdir(tmnt)
    p = fpath(tmnt, rid)
    data = replace_line(read(p), "name", '"Changed through the mount"')
    r = temu.api(ORG).patch("%s(%s)" % (SET, rid), {"telephone1": "+1 555-0199"})
    assert r.status in (200, 204), r
    theirs = server(temu, rid)
    tmp = os.path.join(d, ".%s.json.conflict" % rid)
    write(tmp, data)
    old = rescue_files(state_home)

    def run():
        try:
            os.rename(tmp, p)
        except OSError as e:
            return e
        return None

    r = stats_delta(temu, run)
    assert r.result is not None and r.result.errno == errno.ESTALE, \
        "rename returned %r, expected ESTALE" % r.result
    assert r["update"] <= 1 and not any(r[k] for k in ("create", "upsert", "delete", "batch")), r
    assert server(temu, rid) == theirs, "the Web API's change was overwritten"
    assert os.path.exists(tmp), "the local file is gone after a failed rename"
    check_rescued(state_home, old, data, r"conflict|changed|412")
    os.unlink(tmp)


def test_sed_readonly_column_fails(temu, tmnt, state_home, rid):
    """An edit (same versionnumber) that changes createdon: EINVAL naming the column."""
    p = fpath(tmnt, rid)
    before = server(temu, rid)
    orig = read(p)
    old = rescue_files(state_home)
    r = stats_delta(temu, lambda: _sed_line(p, "createdon", '"2001-02-03T04:05:06Z"'))
    assert r.result.returncode != 0, "sed succeeded although createdon is read-only"
    assert "Invalid argument" in r.result.stderr, r.result.stderr
    assert r["update"] <= 1 and not any(r[k] for k in ("create", "upsert", "delete", "batch")), r
    assert server(temu, rid) == before
    assert read(p) == orig
    check_rescued(state_home, old, replace_line(orig, "createdon", '"2001-02-03T04:05:06Z"'),
                  r"createdon")


def test_new_json_unknown_column_fails(temu, tmnt, state_home):
    """A new bad.json with a column the table does not have: close fails with EINVAL, no record
    is created, the bytes are rescued."""
    d = setdir(tmnt)
    p = os.path.join(d, "bad-new.json")
    data = b'{"name": "Never created", "new_nosuchcolumn": "x"}\n'
    n0 = count_records(temu)
    old = rescue_files(state_home)

    def run():
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, data)
        try:
            os.close(fd)
        except OSError as e:
            return e
        return None

    r = stats_delta(temu, run)
    assert r.result is not None and r.result.errno == errno.EINVAL, \
        "close returned %r, expected EINVAL" % r.result
    assert_writes(r)
    assert count_records(temu) == n0, "a record was created"
    check_rescued(state_home, old, data, r"new_nosuchcolumn")
    if os.path.lexists(p):
        x = getxattr(p, "user.dynfs.error")
        assert x and "new_nosuchcolumn" in x, x
        r = stats_delta(temu, lambda: os.unlink(p))
        assert_writes(r)


# --------------------------------------------------------------------------- rm, mkdir, rmdir

def test_rm_without_allow_delete(temu, tmnt, rid):
    p = fpath(tmnt, rid)
    before = server(temu, rid)
    r = stats_delta(temu, lambda: sh(["rm", "-f", p]))
    assert r.result.returncode != 0, "rm succeeded without allow_delete"
    assert "Operation not permitted" in r.result.stderr, r.result.stderr
    with pytest.raises(OSError) as ei:
        os.unlink(p)
    assert ei.value.errno == errno.EPERM, ei.value
    assert_writes(r)
    assert server(temu, rid) == before
    assert os.path.exists(p)


def test_rm_with_allow_delete(temu, dmnt, rid):
    p = fpath(dmnt, rid)
    server(temu, rid)
    r = stats_delta(temu, lambda: sh(["rm", p]))
    ok(r.result)
    assert_writes(r, delete=1)
    assert api_get(temu, rid) is None, "the record still exists on the server"
    assert not os.path.exists(p)


def test_mkdir_rmdir_fail(temu, tmnt):
    tenant = os.path.join(tmnt.path, ORG)
    d = setdir(tmnt)

    def err(fn, *a):
        try:
            fn(*a)
        except OSError as e:
            return errno.errorcode.get(e.errno, e.errno)
        return None

    def run():
        return {
            "mkdir tenant/new": err(os.mkdir, os.path.join(tenant, "newset")),
            "mkdir set/new": err(os.mkdir, os.path.join(d, "sub")),
            "mkdir tenant/accounts": err(os.mkdir, d),
            "rmdir tenant/accounts": err(os.rmdir, d),
            "rmdir set/missing": err(os.rmdir, os.path.join(d, "missing")),
        }

    r = stats_delta(temu, run)
    assert r.result == {"mkdir tenant/new": "EPERM", "mkdir set/new": "EPERM",
                        "mkdir tenant/accounts": "EEXIST", "rmdir tenant/accounts": "EPERM",
                        "rmdir set/missing": "ENOENT"}, r.result
    assert_writes(r)
    assert os.path.isdir(d)


def test_open_new_file_survives_relisting(temu, dmnt):
    """A program keeps new.json open: write + fsync creates the record; a new listing keeps
    the name answering while it is open (an fstat asks by it), writing more and closing still
    updates that record (nothing lost), and the first listing after the close retires it."""
    d = setdir(dmnt)
    os.listdir(d)
    p = os.path.join(d, "long-lived.json")
    n0 = count_records(temu)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, b'{"name": "First version"}\n')
        os.fsync(fd)
        new_id = getxattr(p, "user.dynfs.id")
        assert new_id and GUID_RE.match(new_id), new_id
        time.sleep(1.2)                       # cache_ttl 1: the next listing is a new one
        assert new_id + ".json" in os.listdir(d)   # a listing shows the record, not the alias
        time.sleep(1.2)                       # past attr_timeout: fstat reaches dynfs
        # the name still stands for the record it became, as before the listing
        assert os.fstat(fd).st_size == os.stat(p).st_size == \
            os.stat(os.path.join(d, new_id + ".json")).st_size
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, b'{"name": "Second version"}\n')
        r = stats_delta(temu, lambda: os.close(fd))
    except BaseException:
        os.close(fd)
        raise
    assert r.result is None
    assert_writes(r, update=1, what="close after the relisting")
    assert server(temu, new_id)["name"] == "Second version"
    assert count_records(temu) == n0 + 1
    time.sleep(1.2)
    assert new_id + ".json" in os.listdir(d)
    assert not os.path.exists(p), "the name outlived its file"


def test_unmount_names_discarded_local_files(temu, mount_factory):
    """Local files end with the mount; the log names each one that was never saved."""
    m = mount_factory(temu.config_path, emu=temu)
    d = setdir(m)
    write(os.path.join(d, "notes.txt"), b"kept only in memory\n")
    write(os.path.join(d, "scratch.swp"), b"x")
    os.unlink(os.path.join(d, "scratch.swp"))
    m.stop()
    log = m.log_text()
    assert re.search(r"accounts/notes\.txt: local file discarded at unmount", log), log[-2000:]
    assert "scratch.swp" not in log, "a removed local file was reported"


# --------------------------------------------------------------------------- names the kernel holds

def own_nodes(m):
    with open(os.path.join(m.path, ".status")) as f:
        return json.load(f)["nodes"]["own"]


def let_go_of_names():
    """Have the kernel let go of every name it holds that is not in use (memory pressure)."""
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2")
    time.sleep(0.5)                           # its forgets reach dynfs


def test_mv_backup_twice_keeps_each_version(temu, tmnt, rid):
    """mv -b renames the record to <id>.json~ and the new file over <id>.json: read at once
    (while the kernel still holds both names), the backup is the record as it was and the
    file the new version, twice over."""
    d, p = setdir(tmnt), fpath(tmnt, rid)
    versions = [read(p)]
    for k, name in enumerate(("Renamed once", "Renamed twice")):
        tmp = os.path.join(d, "mv-b-%d.tmp" % k)
        data = re.sub(rb'(?m)^  "name": .*,$', b'  "name": "%s",' % name.encode(), versions[-1])
        with open(tmp, "wb") as f:
            f.write(data)
        sh(["mv", "-b", tmp, p])
        assert read(p + "~") == versions[-1], "the backup is not the version before"
        assert json.loads(read(p))["name"] == name
        assert server(temu, rid)["name"] == name
        versions.append(read(p))
    os.unlink(p + "~")


def test_renames_onto_new_record_names_leave_no_node(temu, tmnt):
    """rsync and `jq ... > tmp && mv tmp <id>.json` rename onto record names that did not
    exist: the kernel never held those records under them, so once it lets go of the names,
    dynfs keeps no node for them (and the new records are in the listing at once)."""
    d = setdir(tmnt)
    os.listdir(d)
    let_go_of_names()
    before = own_nodes(tmnt)
    ids = [str(uuid.uuid4()) for _ in range(8)]
    for i in ids:
        tmp = os.path.join(d, ".%s.json.tmp" % i)
        with open(tmp, "w") as f:
            f.write('{"name": "Renamed in %s"}\n' % i[:8])
        os.rename(tmp, os.path.join(d, i + ".json"))
    for i in ids:
        assert server(temu, i)["name"] == "Renamed in %s" % i[:8]
    assert {i + ".json" for i in ids} <= set(os.listdir(d))
    assert own_nodes(tmnt) >= before
    let_go_of_names()
    assert own_nodes(tmnt) <= before


def test_no_node_outlives_the_kernels_hold(tmnt):
    """Last in this module, after every tool above renamed, replaced, unlinked and created
    files: once the kernel lets go of the names, dynfs keeps no node of its own (a stand-in
    made for a name the kernel never held would wait for a forget that never comes)."""
    for _ in range(5):                        # files a tool left open may close late
        let_go_of_names()
        if own_nodes(tmnt) == 0:
            break
    assert own_nodes(tmnt) == 0
