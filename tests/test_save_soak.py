"""Fault soak: edits and creates through the mount while the emulator spoils writes.

WORKERS threads edit records of their own (python open/write/close, and sed -i) and create
new ones, for DYNFS_SOAK_SECONDS (default 20; `make soak` runs 600), while fault rules with a
probability strike PATCH requests (carried out with the reply lost, reset before, a sign-in
page with 200, an HTML answer after the change landed, a body cut short, 502, 503 with
Retry-After, a 412 to a change that landed, a stalled answer, a plain refusal) and the reads
behind them.
Every edit carries a value of its own, and the emulator keeps what each write left, so each
edit is accounted for:

  landed          close() returned 0 and the value was written exactly once
  failed loudly   close() failed, the bytes are in a rescue copy and user.dynfs.error says
                  why (a failure that says "may or may not" may have landed, once)
  lost            close() returned 0 but the value never reached the server, or a failure
                  left no rescue copy or no error                                   must be 0
  duplicated      the value was written twice                                       must be 0
  false conflict  ESTALE, though nobody else writes these records                   must be 0
"""

import collections
import errno
import glob
import os
import random
import subprocess
import threading
import time

import pytest

from lib.fixtures import emulator_fixture, mount_fixture
from lib.mount import loads_verbatim, render
from lib.tools import write_close, xattr

SECONDS = float(os.environ.get("DYNFS_SOAK_SECONDS", "20"))
WORKERS = 4
ORG = "contoso"
SET = "accounts"
WRITE = r"/api/data/v9\.2/accounts\([0-9a-f-]{36}\)$"

soak_emu = emulator_fixture(orgs=ORG, records={"accounts": 40, "contacts": 2}, seed=71)
soak_mnt = mount_fixture("soak_emu", ini={"global": {"op_timeout": 4, "max_retries": 3}},
                         state_home=True)

LOGIN = "<html><head><title>Sign in</title></head><body>Session expired</body></html>"
FAULTS = [
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

Outcome = collections.namedtuple("Outcome", "kind rid name value err loud message")


def rescued(state_home, stem, data):
    d = os.path.join(state_home, "dynfs", "rescue", ORG, SET)
    for f in glob.glob(os.path.join(d, glob.escape(stem) + ".*.json")):
        with open(f, "rb") as fh:
            if fh.read() == data:
                return True
    return False


class Worker(threading.Thread):
    def __init__(self, i, m, state_home, rids, stop):
        super().__init__(name="soak-%d" % i)
        self.i, self.m, self.state_home, self.rids, self.stop = i, m, state_home, rids, stop
        self.rng = random.Random(1000 + i)
        self.out = []
        self.crash = None

    def path(self, name):
        return os.path.join(self.m.path, ORG, SET, name)

    def verdict(self, err, p, stem, data):
        """(loud, message) of a failed save: user.dynfs.error set and DATA rescued."""
        if err is None:
            return None, None
        msg = xattr(p)
        return bool(msg and msg.startswith("save failed: ") and
                    rescued(self.state_home, stem, data)), msg

    def edit(self, seq):
        rid = self.rng.choice(self.rids)
        p = self.path(rid + ".json")
        value = "soak edit %d-%d" % (self.i, seq)
        with open(p, "rb") as f:
            obj = loads_verbatim(f.read())
        obj["name"] = value
        data = render(obj)
        if self.rng.random() < 0.2:
            # sed's copy is DATA too: the name is not the last key, so it ends in a comma
            r = subprocess.run(["sed", "-i", 's/^  "name": .*,$/  "name": "%s",/' % value, p],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            err = None if r.returncode == 0 else OSError(errno.EIO, r.stderr.decode())
        else:
            err = write_close(p, data, o_trunc=True)
        return Outcome("edit", rid, rid + ".json", value, err, *self.verdict(err, p, rid, data))

    def create(self, seq):
        name = "soak-new-%d-%d.json" % (self.i, seq)
        p = self.path(name)
        value = "soak create %d-%d" % (self.i, seq)
        data = render({"name": value, "telephone1": "+1 555 %04d" % seq})
        err = write_close(p, data, flags=os.O_CREAT | os.O_EXCL)
        loud, msg = self.verdict(err, p, name[:-len(".json")], data)
        os.unlink(p)
        return Outcome("create", None, name, value, err, loud, msg)

    def run(self):
        seq = 0
        try:
            while time.monotonic() < self.stop:
                seq += 1
                op = self.create if self.rng.random() < 0.2 else self.edit
                self.out.append(op(seq))
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.crash = e


def account(emu, outcomes):
    """Each outcome's class: landed, failed loudly, lost, duplicated, false conflict."""
    history = {}
    names = collections.Counter(r.get("name") for r in emu.records(ORG, SET))
    counts = collections.Counter()
    bad = []
    for o in outcomes:
        if o.kind == "edit":
            if o.rid not in history:
                history[o.rid] = emu.history(ORG, SET, o.rid, "name")
            n = history[o.rid].count(o.value)
        else:
            n = names[o.value]
        if n > 1:
            kind = "duplicated"
        elif o.err is None:
            kind = "landed" if n == 1 else "lost"
        elif o.err.errno == errno.ESTALE:
            kind = "false conflict"
        elif not o.loud:
            kind = "lost"
        elif n == 1 and "may or may not" not in (o.message or ""):
            kind = "lost"            # it landed, but the failure said it did not
        else:
            kind = "failed loudly"
        counts[kind] += 1
        if kind not in ("landed", "failed loudly"):
            bad.append((kind, o))
    return counts, bad


# Runs in `make soak` (DYNFS_SOAK_SECONDS set) only, for now: its 20 s version in
# make check found two open bugs at random (a read-back answered by a sign-in page is
# reported as a conflict; a refusal while a fault hides the outcome is counted as lost),
# so it would fail CI by chance until they are fixed.  See issue 10's note.
@pytest.mark.skipif("DYNFS_SOAK_SECONDS" not in os.environ,
                    reason="fault soak: make soak (two open bugs, issue 10)")
def test_fault_soak(soak_emu, soak_mnt, state_home):
    rids = [r["accountid"] for r in soak_emu.records(ORG, SET)
            if isinstance(r.get("name"), str) and '"' not in r["name"]
            and "\\" not in r["name"] and "/" not in r["name"] and r.get("statecode") == 0]
    for i, spec in enumerate(FAULTS):
        soak_emu.rule(path=WRITE if spec["method"] == "PATCH" else r"accounts\(", count=0,
                      seed=100 + i, **spec)
    stop = time.monotonic() + SECONDS
    workers = [Worker(i, soak_mnt, state_home, rids[i::WORKERS][:3], stop) for i in range(WORKERS)]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join(SECONDS + 300)
    finally:
        fired = {r["id"]: r["fired"] for r in soak_emu.rules()}
        soak_emu.clear_faults()
    assert not any(w.is_alive() for w in workers), "a worker hung"
    crashes = [w.crash for w in workers if w.crash]
    assert not crashes, crashes
    outcomes = [o for w in workers for o in w.out]
    counts, bad = account(soak_emu, outcomes)
    summary = "%d edits and creates in %.0f s, %d faults: %s" % (
        len(outcomes), SECONDS, sum(fired.values()),
        ", ".join("%s %d" % (k, counts[k]) for k in ("landed", "failed loudly", "lost",
                                                     "duplicated", "false conflict")))
    print("\nfault soak: " + summary)
    assert not bad, "%s\n%s" % (summary, "\n".join("%s: %r" % b for b in bad[:10]))
    assert counts["landed"] > len(outcomes) // 2, summary
    assert sum(fired.values()) > 0, "no fault fired"
    soak_mnt.assert_alive()
