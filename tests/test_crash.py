"""Crash safety: kill -9 of the daemon in the middle of a write, then mount again.

The kill lands while a chosen request is in flight: a fault rule holds that request's
answer (the request carried out, or not), the test waits until the rule has fired, then
kills dynfs.  After a remount (a killed FUSE daemon leaves "Transport endpoint is not
connected" behind: the dead mount is lazily unmounted first):

- no acknowledged write is missing: every close()/rename() that returned 0 before the kill
  is on the server, exactly once (the emulator's per-record write history counts it);
- no record is duplicated: a re-run of the interrupted rsync creates nothing twice (creates
  are idempotent by id: the id is the file's name);
- the token store still works: the next mount signs in with the stored refresh token,
  without an interactive login;
- the state directory holds no half-written file under a final name: a kill during many
  rescue-copy and token-store writes leaves each file whole or absent; the cache leaves
  no record on disk.

Every mount here signs in with a refresh token kept in a token store.
"""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from lib.auth import config, read_store, tenant, write_store
from lib.fixtures import emulator_fixture, faults_cleared
from lib.mount import lazy_unmount, render, stats_delta
from lib.tools import killpg, run_tool

ORG = "contoso"
SET = "accounts"
WRITE = r"/api/data/v9\.2/accounts\([0-9a-f-]{36}\)$"

cemu = emulator_fixture(orgs=ORG, records={"accounts": 30, "contacts": 2}, seed=83)
_faults = faults_cleared("cemu")

pytestmark = pytest.mark.allow_dead_mount


@pytest.fixture
def setup(cemu, tmp_path):
    """(config, token store, state home) of a mount that signs in with a refresh token."""
    store = str(tmp_path / "tokens" / "contoso.token")
    write_store(store, cemu.control_post(ORG, "issue-refresh-token")["refresh_token"])
    cfg = config(str(tmp_path / "crash.ini"), {
        ORG: tenant(cemu, ORG, "refresh_token", token_store=store)}, op_timeout=30)
    state = str(tmp_path / "state")
    os.makedirs(state)
    return cfg, store, state


def mount(mount_factory, cemu, cfg, state):
    return mount_factory(cfg, emu=cemu, env={"XDG_STATE_HOME": state,
                                             "XDG_CACHE_HOME": state + "-cache"})


def wait_fired(cemu, rid, n=1, timeout=60):
    """Wait until rule RID has fired N times: its request is then held in flight."""
    deadline = time.monotonic() + timeout
    while cemu.rule_state(rid)["fired"] < n:
        assert time.monotonic() < deadline, "rule %d never fired: %r" % (rid, cemu.rules())
        time.sleep(0.02)


def kill9(m):
    """kill -9 the daemon, then clear away the dead mount as a user would."""
    os.kill(m.proc.pid, signal.SIGKILL)
    m.proc.wait(10)
    try:
        # a name never looked up: the kernel keeps attributes of the others for a second
        os.stat(os.path.join(m.path, "never-looked-up-%d" % m.proc.pid))
        dead = False
    except OSError as e:
        dead = e.errno == 107        # ENOTCONN: "Transport endpoint is not connected"
    assert dead, "a killed daemon's mount still answers"
    lazy_unmount(m.path)
    m.force_stop()


def remount_signs_in_from_the_store(mount_factory, cemu, cfg, store, state):
    """The next mount reads records with the stored refresh token: one token request,
    a refresh_token grant (no device code, no browser)."""
    token = read_store(store)
    assert token, "the token store is empty after the kill"
    m = mount(mount_factory, cemu, cfg, state)
    d = stats_delta(cemu, lambda: os.listdir(os.path.join(m.path, ORG, SET)))
    assert d["list"] >= 1 and d.status.get("401", 0) == 0, d
    assert "dynfs login" not in m.log_text(), m.log_text()[-2000:]
    return m


def on_server(cemu, rid):
    return cemu.record(ORG, SET, rid)


def times_written(cemu, rid, value):
    """How many writes left VALUE in the record's name (a value written once: 1)."""
    return cemu.history(ORG, SET, rid, "name").count(value)


# --------------------------------------------------------------------------- rsync restore

def interrupted_rsync(cemu, m, src, after, applied):
    """rsync SRC into M's set folder; the create after AFTER others is held in flight
    (carried out first if APPLIED) and dynfs is killed.  rsync must fail."""
    rule = cemu.rule(method="PATCH", path=WRITE, after=after, count=1, apply=applied,
                     deliver="silent", seconds=120)
    p = subprocess.Popen(["rsync", "-a", str(src) + "/", os.path.join(m.path, ORG, SET) + "/"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_fired(cemu, rule["id"])
        kill9(m)
        p.wait(30)
    finally:
        killpg(p)
        cemu.clear_rules()
    assert p.returncode != 0, "rsync said the restore succeeded"


def test_kill_during_rsync_restore_then_rerun(cemu, setup, mount_factory, tmp_path):
    """rsync of 14 new records, killed twice: at the 6th create (carried out, its answer
    held), then, re-run, at the 10th (held before it is carried out).  The renames rsync
    saw succeed are on the server each time; a last re-run completes the restore with
    every record created exactly once."""
    cfg, store, state = setup
    src = tmp_path / "backup"
    src.mkdir()
    ids = sorted(str(uuid.uuid4()) for _ in range(14))
    values = {}
    for i, rid in enumerate(ids):
        values[rid] = "crash restore %02d" % i
        (src / (rid + ".json")).write_bytes(render({"name": values[rid],
                                                    "telephone1": "+1 555 01%02d" % i}))

    def landed(n):
        # rsync saves one file after the other, in name order: a rename that returned 0
        # came before the held create, and nothing after it went out
        for rid in ids[:n]:
            rec = on_server(cemu, rid)
            assert rec is not None and rec["name"] == values[rid], (rid, rec)
            assert cemu.writes(ORG, SET, rid) == 1, rid
        for rid in ids[n:]:
            assert on_server(cemu, rid) is None, "a create after the held one landed: %s" % rid

    interrupted_rsync(cemu, mount(mount_factory, cemu, cfg, state), src, 5, applied=True)
    landed(6)
    # the six on the server are rsync'ed again without a request that writes
    m2 = remount_signs_in_from_the_store(mount_factory, cemu, cfg, store, state)
    interrupted_rsync(cemu, m2, src, 3, applied=False)
    landed(9)
    m3 = remount_signs_in_from_the_store(mount_factory, cemu, cfg, store, state)
    r = run_tool(["rsync", "-a", str(src) + "/", os.path.join(m3.path, ORG, SET) + "/"], 300)
    assert r.returncode == 0, r.stderr
    landed(len(ids))
    names = [rec.get("name") for rec in cemu.records(ORG, SET)]
    for v in values.values():
        assert names.count(v) == 1, "%r is on the server %d times" % (v, names.count(v))


# --------------------------------------------------------------------------- saves

WRITER = textwrap.dedent("""\
    import os, sys, json
    for arg in sys.argv[1:]:
        path, value = arg.split("=", 1)
        with open(path, "rb") as f:
            obj = json.load(f)
        obj["name"] = value
        data = (json.dumps(obj, indent=2, sort_keys=True) + "\\n").encode()
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)              # the save: raises if it failed
        print("ok", path, value, flush=True)
""")


@pytest.mark.parametrize("applied", [False, True], ids=["held-before-applied", "held-after-applied"])
def test_kill_during_a_save(cemu, setup, mount_factory, tmp_path, applied):
    """A script saves 10 records one after the other; the 6th PATCH is held (carried out,
    or not), and dynfs is killed.  Every save acknowledged before is on the server once; the
    held one is there once or not at all, and saving it again after the remount lands it
    exactly once."""
    cfg, store, state = setup
    recs = [r for r in cemu.records(ORG, SET) if cemu.writes(ORG, SET, r["accountid"]) == 0]
    rids = [r["accountid"] for r in recs[:10]]
    assert len(rids) == 10
    tag = "held" if not applied else "applied"
    values = {rid: "crash save %s %d" % (tag, i) for i, rid in enumerate(rids)}
    m = mount(mount_factory, cemu, cfg, state)
    paths = {rid: os.path.join(m.path, ORG, SET, rid + ".json") for rid in rids}
    rule = cemu.rule(method="PATCH", path=WRITE, after=5, count=1, apply=applied,
                     deliver="silent", seconds=120)
    p = subprocess.Popen([sys.executable, "-c", WRITER] +
                         ["%s=%s" % (paths[rid], values[rid]) for rid in rids],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        wait_fired(cemu, rule["id"])
        kill9(m)
        out, err = p.communicate(timeout=30)
    finally:
        killpg(p)
        cemu.clear_rules()
    acked = [line.split(" ", 2)[1] for line in out.decode().splitlines() if line.startswith("ok ")]
    assert p.returncode != 0, "the writer finished although its daemon was killed"
    # the held save's close() fails: ECONNABORTED (or ENOTCONN), never 0
    assert b"[Errno 103]" in err or b"[Errno 107]" in err, err.decode()[-2000:]
    assert acked == [paths[rid] for rid in rids[:5]], out.decode() + err.decode()
    for rid in rids[:5]:
        assert on_server(cemu, rid)["name"] == values[rid]
        assert times_written(cemu, rid, values[rid]) == 1, rid
    held = rids[5]
    assert times_written(cemu, held, values[held]) == (1 if applied else 0)
    for rid in rids[6:]:
        assert cemu.writes(ORG, SET, rid) == 0, "a save after the held one landed: %s" % rid

    m2 = remount_signs_in_from_the_store(mount_factory, cemu, cfg, store, state)
    r = run_tool([sys.executable, "-c", WRITER] +
                 ["%s=%s" % (os.path.join(m2.path, ORG, SET, rid + ".json"), values[rid])
                  for rid in rids[5:]], 120)
    assert r.returncode == 0, r.stderr
    for rid in rids:
        assert on_server(cemu, rid)["name"] == values[rid]
        assert times_written(cemu, rid, values[rid]) == 1, \
            "%s: %r" % (rid, cemu.history(ORG, SET, rid, "name"))


# --------------------------------------------------------------------------- state directory

TEMP_RE = re.compile(r"^\.dynfs-tmp\.[A-Za-z0-9]{6}$")   # dfs_write_private's: never read as state

HAMMER = textwrap.dedent("""\
    import os, sys, threading
    def work(i):
        n = 0
        while True:
            path = os.path.join(sys.argv[1], "crash-rescue-%d-%d.json" % (i, n))
            data = ('{"name": "crash rescue %d-%d", "description": "' % (i, n)
                    + "r" * 20000 + '"}\\n').encode()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                os.write(fd, data)
                os.close(fd)
            except OSError:
                pass
            n += 1
    ts = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
""")


def test_kill_during_many_state_writes(cemu, setup, mount_factory):
    """Four writers make saves that the server refuses (each writes a rescue copy and its
    .error), with 2-second tokens (each renewal rewrites the token store), and dynfs is
    killed in the middle: every rescue copy under its final name is whole, every .error is
    whole and has its copy, and the token store still signs in."""
    cfg, store, state = setup
    cemu.faults(token_lifetime=2)
    m = mount(mount_factory, cemu, cfg, state)
    rule = cemu.rule(method="PATCH", path=WRITE, count=0, status=400, json={"error": {
        "code": "0x80040203", "message": "A validation plug-in refused the change."}})
    p = subprocess.Popen([sys.executable, "-c", HAMMER, os.path.join(m.path, ORG, SET)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    tokens = {read_store(store)}
    try:
        deadline = time.monotonic() + 60
        while (cemu.rule_state(rule["id"])["fired"] < 40 or len(tokens) < 2) \
                and time.monotonic() < deadline:
            tokens.add(read_store(store))
            time.sleep(0.05)
        assert len(tokens) >= 2, "the token store was never rewritten"
        kill9(m)
    finally:
        killpg(p)
        cemu.clear_rules()
        cemu.faults(token_lifetime=3600)
    rdir = os.path.join(state, "dynfs", "rescue", ORG, SET)
    names = os.listdir(rdir)
    finals = [n for n in names if not TEMP_RE.search(n)]
    copies = [n for n in finals if n.endswith(".json")]
    assert len(copies) >= 40, names
    for n in finals:
        with open(os.path.join(rdir, n), "rb") as f:
            data = f.read()
        if n.endswith(".json"):
            obj = json.loads(data)
            assert obj["name"].startswith("crash rescue ") and len(obj["description"]) == 20000, n
        else:
            assert n.endswith(".error"), n
            assert data.startswith(b"contoso/accounts/crash-rescue-") and data.endswith(b"\n"), n
            assert b"A validation plug-in refused the change." in data, (n, data)
            assert n[:-len(".error")] + ".json" in finals, "%s without its copy" % n
    with open(store, encoding="utf-8") as f:
        json.load(f)
    # the cache's spill file is unlinked from the start: no record is left on disk
    assert os.listdir(os.path.join(state + "-cache", "dynfs")) == []
    remount_signs_in_from_the_store(mount_factory, cemu, cfg, store, state)


def test_temporary_files_a_kill_left_are_swept(cemu, setup, mount_factory):
    """What a write cut short by kill -9 leaves (.dynfs-tmp.XXXXXX) goes at the next
    write into the same folder, once older than ten minutes; a fresh one (another dynfs may
    be writing it) and files that are not dynfs's stay."""
    cfg, store, state = setup
    rdir = os.path.join(state, "dynfs", "rescue", ORG, SET)
    os.makedirs(rdir)
    old, fresh = time.time() - 3600, time.time()
    files = {"stale": ".dynfs-tmp.Ab12Cd", "fresh": ".dynfs-tmp.Zz9Zz9",
             "user": "notes.backup", "near": ".dynfs-tmp.toolong1", "other": "x.dynfs-tmp.Ab12Cd"}
    for key, name in files.items():
        with open(os.path.join(rdir, name), "w") as f:
            f.write("half")
        os.utime(os.path.join(rdir, name), (fresh, fresh) if key == "fresh" else (old, old))
    tdir = os.path.dirname(store)
    with open(os.path.join(tdir, ".dynfs-tmp.Qq1Qq1"), "w") as f:
        f.write("half")
    os.utime(os.path.join(tdir, ".dynfs-tmp.Qq1Qq1"), (old, old))
    cemu.faults(token_lifetime=2)
    try:
        m = mount(mount_factory, cemu, cfg, state)
        rid = cemu.api(ORG).list_all(SET, select="accountid")[0][0]["accountid"]
        rule = cemu.rule(method="PATCH", path=WRITE, count=1, status=400, json={"error": {
            "code": "0x80040203", "message": "A validation plug-in refused the change."}})
        path = os.path.join(m.path, ORG, SET, rid + ".json")
        with open(path, "rb") as f:
            data = f.read()
        obj = json.loads(data)
        obj["name"] = "swept %s" % uuid.uuid4().hex
        with pytest.raises(OSError):
            with open(path, "w") as f:
                f.write(json.dumps(obj, indent=2) + "\n")
        assert cemu.rule_state(rule["id"])["fired"] == 1
        deadline = time.monotonic() + 30          # a renewal rewrites the token store
        folder = os.path.join(m.path, ORG, SET)
        while os.path.exists(os.path.join(tdir, ".dynfs-tmp.Qq1Qq1")):
            assert time.monotonic() < deadline, os.listdir(tdir)
            time.sleep(0.5)
            os.setxattr(folder, "user.dynfs.refresh", b"1")
            os.listdir(folder)
    finally:
        cemu.faults(token_lifetime=3600)
    names = set(os.listdir(rdir))
    assert files["stale"] not in names, names
    assert {files["fresh"], files["user"], files["near"], files["other"]} <= names, names
    assert any(n.startswith(rid) and n.endswith(".json") for n in names), names
