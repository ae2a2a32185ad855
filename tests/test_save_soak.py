"""Fault soak: a backup and scripted edits through the mount while the emulator spoils requests.

Every request (reads, writes, tokens) meets the faults of a bad day on a busy tenant: 10%
429 with Retry-After 1, 5% 503, 2% dropped connections (reset before the request is carried
out), 2% carried out with the reply lost; access tokens live 30 seconds.  Under them:

- test_backup_under_faults: `rsync -a` of BACKUP_N accounts equals a direct export of the
  Web API byte for byte.
- test_fault_soak: WORKERS threads edit records of their own with python (open/write/close),
  sed -i, cp and jq + mv, and create new ones, for DYNFS_SOAK_SECONDS (default 20; `make soak`
  runs 600), while more rules strike PATCH requests (carried out with the reply lost, reset
  before, a sign-in page with 200, an HTML answer after the change landed, a body cut short,
  502, 503 with Retry-After, a 412 to a change that landed, a stalled answer, a plain
  refusal).  Half of the edits race a second writer, which changes another column of the same
  record through the Web API while the edit is under way.

Every edit carries a value of its own, and the emulator keeps what each write left, so each
edit is accounted for:

  landed          close() returned 0 and the value was written exactly once
  failed loudly   close() failed, the bytes are in a rescue copy and user.dynfs.error says
                  why (a failure that says "may or may not" may have landed, once)
  conflict        ESTALE after the second writer's change landed on that record: right
  (read failed    the file could not be read or opened after max_retries: no edit made)
  lost            close() returned 0 but the value never reached the server, or a failure
                  left no rescue copy or no error                                   must be 0
  duplicated      the value was written twice                                       must be 0
  false conflict  ESTALE, though no second writer had changed the record            must be 0
"""

import collections
import errno
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time

from lib.fixtures import emulator_fixture, mount_fixture
from lib.mount import list_raw, loads_verbatim, render, strip_annotations
from lib.tools import rescued, run_tool, write_close, xattr

SECONDS = float(os.environ.get("DYNFS_SOAK_SECONDS", "20"))
LONG = SECONDS >= 300
BACKUP_N = int(os.environ.get("DYNFS_SOAK_RECORDS", 10000 if LONG else 1500))
WORKERS = 4
ORG = "contoso"
SET = "accounts"
WRITE = r"/api/data/v9\.2/accounts\([0-9a-f-]{36}\)$"
TOKEN_LIFETIME = 30

soak_emu = emulator_fixture(orgs=ORG, records={"accounts": 40, "contacts": 2}, seed=71,
                            token_lifetime=TOKEN_LIFETIME)
soak_mnt = mount_fixture("soak_emu", ini={"global": {"op_timeout": 4, "max_retries": 3}},
                         state_home=True)
backup_emu = emulator_fixture(orgs=ORG, records={"accounts": BACKUP_N, "contacts": 2}, seed=72,
                              token_lifetime=TOKEN_LIFETIME, timeout=300)
# small pages: more requests for the faults to strike
backup_mnt = mount_fixture("backup_emu", ini={"global": {"max_retries": 6, "page_size": 100}})

# A bad day on a busy tenant: every request, tokens included.
BAD_DAY = [
    dict(status=429, headers={"Retry-After": 1}, json={"error": {
        "code": "0x80072322", "message": "Number of requests exceeded the limit of 6000 over "
        "time window of 300 seconds."}}, probability=0.10),
    dict(status=503, body="Service Unavailable", probability=0.05),
    dict(deliver="reset", probability=0.02),
    dict(apply=True, deliver="reset", probability=0.02),
]

LOGIN = "<html><head><title>Sign in</title></head><body>Session expired</body></html>"
WRITE_FAULTS = [
    dict(method="PATCH", apply=True, deliver="reset", probability=0.08),
    dict(method="PATCH", deliver="reset", probability=0.05),
    dict(method="PATCH", body=LOGIN, probability=0.05),
    dict(method="PATCH", apply=True, body=LOGIN, probability=0.04),
    dict(method="PATCH", apply=True, deliver="truncate", bytes=20, then="reset", probability=0.04),
    dict(method="PATCH", apply=True, status=502, body="Bad Gateway", probability=0.03),
    dict(method="PATCH", status=503, headers={"Retry-After": 1}, body="busy", probability=0.03),
    dict(method="PATCH", apply=True, status=412, json={"error": {
        "code": "0x80060882", "message": "The version of the existing record doesn't match "
        "the RowVersion property provided."}}, probability=0.03),
    dict(method="PATCH", apply=True, deliver="stall", bytes=10, seconds=6, probability=0.01),
    dict(method="PATCH", status=400, json={"error": {
        "code": "0x80040203", "message": "A validation plug-in refused the change."}},
         probability=0.02),
    dict(method="GET", status=503, body="busy", probability=0.04),
]


def bad_day(emu, extra=()):
    """Install BAD_DAY on every path, and EXTRA; the rules' seeds make a run repeatable."""
    for i, spec in enumerate(BAD_DAY):
        emu.rule(path=".", count=0, seed=200 + i, **spec)
    for i, spec in enumerate(extra):
        emu.rule(path=WRITE if spec["method"] == "PATCH" else r"accounts\(", count=0,
                 seed=100 + i, **spec)


def fired(emu):
    return sum(r["fired"] for r in emu.rules())


# --------------------------------------------------------------------------- the backup

def test_backup_under_faults(backup_emu, backup_mnt, tmp_path):
    dst = str(tmp_path / "backup")
    bad_day(backup_emu)
    try:
        r = run_tool(["rsync", "-a", os.path.join(backup_mnt.path, ORG, SET) + "/", dst + "/"],
                     timeout=1800)
    finally:
        n_fired = fired(backup_emu)
        backup_emu.clear_rules()
    assert r.returncode == 0, r.stderr[-3000:]
    assert n_fired > 0, "no fault fired"
    server = {rec["accountid"]: rec for rec in list_raw(backup_emu.api(ORG), SET)}
    assert len(server) == BACKUP_N
    assert sorted(os.listdir(dst)) == sorted(i + ".json" for i in server)
    bad = []
    for rid, rec in server.items():
        with open(os.path.join(dst, rid + ".json"), "rb") as f:
            if f.read() != render(strip_annotations(rec)):
                bad.append(rid)
    print("\nbackup soak: %d records, %d faults, %d differ" % (BACKUP_N, n_fired, len(bad)))
    assert not bad, "%d of %d records differ from the export, e.g. %s" % (len(bad), BACKUP_N,
                                                                           bad[:5])
    backup_mnt.assert_alive()


# --------------------------------------------------------------------------- the edits

Outcome = collections.namedtuple("Outcome", "kind tool rid name value err loud message t0 t1")


class Unopened:
    """open() of the record for writing failed (a lookup that met the faults): loud, and
    nothing was written."""

    def __init__(self, e):
        self.e = e


def xattr_retried(p):
    """user.dynfs.error; its lookup may meet a fault too, so ask again a few times."""
    for _ in range(10):
        try:
            return xattr(p)
        except OSError:
            time.sleep(0.5)
    return xattr(p)


class Racer:
    """The second writer: changes telephone1 of a record through the Web API, once, at a
    random moment while an edit is under way.  Its writes are known by their values."""

    def __init__(self, emu):
        self.api = emu.api(ORG, new=True)
        self.lock = threading.Lock()
        self.started = collections.defaultdict(list)     # rid -> [(value, time sent)]

    def race(self, rid, value, delay):
        def run():
            time.sleep(delay)
            with self.lock:
                self.started[rid].append((value, time.monotonic()))
            try:
                self.api.patch("%s(%s)" % (SET, rid), {"telephone1": value})
            except Exception:  # noqa: BLE001 - a fault; whether it landed is read back
                pass
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t


class Worker(threading.Thread):
    TOOLS = ("python", "sed", "cp", "jq")

    def __init__(self, i, m, state_home, rids, stop, racer):
        super().__init__(name="soak-%d" % i)
        self.i, self.m, self.state_home, self.rids, self.stop = i, m, state_home, rids, stop
        self.racer = racer
        self.rng = random.Random(1000 + i)
        self.out = []
        self.crash = None
        self.tmp = tempfile.mkdtemp(prefix="soak-%d-" % i)

    def path(self, name):
        return os.path.join(self.m.path, ORG, SET, name)

    def verdict(self, err, p, stem, data):
        """(loud, message) of a failed save: user.dynfs.error set and DATA rescued."""
        if err is None:
            return None, None
        msg = xattr_retried(p)
        return bool(msg and msg.startswith("save failed: ") and
                    rescued(self.state_home, ORG, SET, stem, data)), msg

    def save(self, tool, p, value, data):
        """Save DATA (whose name is VALUE) to P with TOOL; None or the error it reported."""
        if tool == "python":
            try:
                return write_close(p, data, o_trunc=True)
            except OSError as e:
                return Unopened(e)
        if tool == "sed":
            # sed's copy is DATA too: the name is not the last key, so it ends in a comma
            argv = ["sed", "-i", 's/^  "name": .*,$/  "name": "%s",/' % value, p]
        elif tool == "cp":
            src = os.path.join(self.tmp, "edit.json")
            with open(src, "wb") as f:
                f.write(data)
            argv = ["cp", src, p]
        else:
            # jq rewrites the whole file in its own layout; the mount renders it back
            tmp = os.path.join(os.path.dirname(p), ".%s.jq" % os.path.basename(p))
            argv = ["sh", "-c", 'jq --arg v "$3" \'.name = $v\' "$1" > "$2" && mv "$2" "$1"',
                    "sh", p, tmp, value]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        if r.returncode == 0:
            return None
        e = OSError(errno.EIO, r.stderr.decode(errors="replace"))
        if "Stale file handle" in e.strerror:
            e.errno = errno.ESTALE
        return e

    def edit(self, seq):
        rid = self.rng.choice(self.rids)
        tool = self.rng.choice(self.TOOLS)
        p = self.path(rid + ".json")
        value = "soak edit %d-%d" % (self.i, seq)
        t0 = time.monotonic()
        race = None
        if self.rng.random() < 0.5:
            race = self.racer.race(rid, "+1 555 %d%04d" % (self.i, seq), self.rng.random() * 0.05)
        try:
            with open(p, "rb") as f:
                obj = loads_verbatim(f.read())
        except OSError as e:
            # a read that fails after max_retries says so (EAGAIN, EIO): no edit to account for
            if race:
                race.join(60)
            return Outcome("read failed", tool, rid, rid + ".json", value, e, True, str(e), t0,
                           time.monotonic())
        obj["name"] = value
        data = render(obj)
        err = self.save(tool, p, value, data)
        t1 = time.monotonic()
        if race:
            race.join(60)
        if isinstance(err, Unopened):
            return Outcome("read failed", tool, rid, rid + ".json", value, err.e, True,
                           str(err.e), t0, t1)
        loud, msg = self.verdict(err, p, rid, data) if tool != "jq" else \
            self.verdict_any(err, p, rid)
        return Outcome("edit", tool, rid, rid + ".json", value, err, loud, msg, t0, t1)

    def verdict_any(self, err, p, rid):
        """jq's bytes are its own layout: a rescue copy of the record made now will do."""
        if err is None:
            return None, None
        msg = xattr_retried(p)
        return bool(msg and msg.startswith("save failed: ") and "your version is kept in" in msg
                    and os.path.exists(msg.rsplit("kept in ", 1)[1])), msg

    def create(self, seq):
        name = "soak-new-%d-%d.json" % (self.i, seq)
        p = self.path(name)
        value = "soak create %d-%d" % (self.i, seq)
        data = render({"name": value, "telephone1": "+1 555 %04d" % seq})
        t0 = time.monotonic()
        err = write_close(p, data, flags=os.O_CREAT | os.O_EXCL)
        loud, msg = self.verdict(err, p, name[:-len(".json")], data)
        os.unlink(p)
        return Outcome("create", "python", None, name, value, err, loud, msg, t0,
                       time.monotonic())

    def run(self):
        seq = 0
        try:
            while time.monotonic() < self.stop:
                seq += 1
                op = self.create if self.rng.random() < 0.2 else self.edit
                self.out.append(op(seq))
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.crash = e
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def account(emu, outcomes, racer):
    """Each outcome's class (see the module docstring)."""
    history = {}
    names = collections.Counter(r.get("name") for r in emu.records(ORG, SET))
    counts = collections.Counter()
    bad = []
    for o in outcomes:
        if o.kind == "read failed":
            counts["read failed"] += 1
            continue
        if o.kind == "edit":
            if o.rid not in history:
                history[o.rid] = list(zip(emu.history(ORG, SET, o.rid, "name"),
                                          emu.history(ORG, SET, o.rid, "telephone1")))
            h = history[o.rid]
            mine = set(v for v, _ in racer.started.get(o.rid, ()))
            # writes of the value that are not the second writer's (which sets a telephone1
            # of its own and keeps the name)
            # (the first write that shows each of its values; a later one that shows it again
            # is a save from a copy read back then, putting the value back)
            first = {}
            for i, (_, phone) in enumerate(h):
                if phone in mine:
                    first.setdefault(phone, i)
            racers = set(first.values())
            n = sum(1 for i, (name, _) in enumerate(h) if name == o.value and i not in racers)
            # a save from a copy read before the second writer's change puts that column
            # back (the restore rule: SEMANTICS.md, "Saving a record in place")
            if any(name == o.value and i and phone != h[i - 1][1] and i not in racers
                   for i, (name, phone) in enumerate(h)):
                counts["overwrote the second writer"] += 1
        else:
            n = names[o.value]
        if n > 1:
            kind = "duplicated"
        elif o.err is None:
            kind = "landed" if n == 1 else "lost"
        elif o.err.errno == errno.ESTALE:
            # right only when a second writer's change to that record landed before the end
            raced = [v for v, t in racer.started.get(o.rid, ()) if t < o.t1]
            phones = set(phone for _, phone in history[o.rid])
            kind = "conflict" if n == 0 and o.loud and any(v in phones for v in raced) \
                else "false conflict"
        elif not o.loud:
            kind = "lost"
        elif n == 1 and "may or may not" not in (o.message or ""):
            kind = "lost"            # it landed, but the failure said it did not
        else:
            kind = "failed loudly"
        counts[kind, o.tool] += 1
        counts[kind] += 1
        if kind not in ("landed", "failed loudly", "conflict"):
            bad.append((kind, o))
    return counts, bad


KINDS = ("landed", "failed loudly", "conflict", "lost", "duplicated", "false conflict")


def table(counts):
    rows = ["%-16s %6s %6s %6s %6s %6s" % (("",) + Worker.TOOLS + ("all",))]
    for k in KINDS:
        rows.append("%-16s %6d %6d %6d %6d %6d" % ((k,) + tuple(counts[k, t] for t in Worker.TOOLS)
                                                   + (counts[k],)))
    rows.append("(reads that failed before an edit, loudly: %d)" % counts["read failed"])
    rows.append("(saves that put back a column the second writer had changed: %d)"
                % counts["overwrote the second writer"])
    return "\n".join(rows)


def test_fault_soak(soak_emu, soak_mnt, state_home):
    rids = [r["accountid"] for r in soak_emu.records(ORG, SET)
            if isinstance(r.get("name"), str) and '"' not in r["name"]
            and "\\" not in r["name"] and "/" not in r["name"] and r.get("statecode") == 0]
    racer = Racer(soak_emu)
    bad_day(soak_emu, WRITE_FAULTS)
    stop = time.monotonic() + SECONDS
    workers = [Worker(i, soak_mnt, state_home, rids[i::WORKERS][:3], stop, racer)
               for i in range(WORKERS)]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join(SECONDS + 300)
    finally:
        n_fired = fired(soak_emu)
        soak_emu.clear_rules()
    assert not any(w.is_alive() for w in workers), "a worker hung"
    crashes = [w.crash for w in workers if w.crash]
    assert not crashes, crashes
    outcomes = [o for w in workers for o in w.out]
    counts, bad = account(soak_emu, outcomes, racer)
    summary = "%d edits and creates in %.0f s, %d faults:\n%s" % (
        len(outcomes), SECONDS, n_fired, table(counts))
    print("\nfault soak: " + summary)
    shown = []
    for kind, o in bad[:10]:
        shown.append("%s: %r" % (kind, o))
        if o.rid:
            # what the record went through: (name, telephone1) after each write, and the
            # second writer's values with when it sent them
            shown.append("  writes: %r" % list(zip(soak_emu.history(ORG, SET, o.rid, "name"),
                                                   soak_emu.history(ORG, SET, o.rid,
                                                                    "telephone1"))))
            shown.append("  second writer: %r" % racer.started.get(o.rid))
    assert not bad, "%s\n%s" % (summary, "\n".join(shown))
    assert counts["landed"] > len(outcomes) // 3, summary
    assert n_fired > 0, "no fault fired"
    soak_mnt.assert_alive()
