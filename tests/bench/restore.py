"""make bench-restore: restore N emulated accounts through dynfs, serially and with 8 writers.

    /usr/bin/python3 tests/bench/restore.py [--n 10000] [--writers 8] [--dynfs ./dynfs]

The emulator answers every request after 50 ms (--latency-ms 50), as a real org about does.
Steps: back up the set with `cp -r` from a mount; delete every record through the Web API;
restore with `find -print0 | xargs -0 -n200 cp -t` (one writer); delete them again; restore
with `xargs -0 -P<writers> -n200 cp -t`.  Each restore runs on a fresh mount after `ls` of the
emptied set (so that cp's lookups of names that do not exist cost no request).  Reports wall
time, records per second and the requests by kind, and checks that every record is back
exactly once.  Service protection's budgets are lifted (see below).  Needs root (FUSE).
"""

import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, HERE)

from bench import Fuse  # noqa: E402
from lib.emuproc import Emulator  # noqa: E402
from lib.mount import Ini  # noqa: E402

ORG, SET, PK = "contoso", "accounts", "accountid"
LATENCY_MS = 50


def delete_all(api, ids, threads=16):
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        bad = [r for r in pool.map(lambda i: api.delete("%s(%s)" % (SET, i)), ids)
               if r.status not in (204, 404)]
    if bad:
        raise SystemExit("bench-restore: deletes failed: %r" % bad[:5])


def kinds(emu):
    return dict(emu.stats()["by_kind"])


def restore(ctx, writers):
    mnt = os.path.join(ctx.work, "mnt")
    dest = os.path.join(mnt, ORG, SET)
    fs = Fuse([ctx.dynfs, "-f", "-c", ctx.ini, mnt], mnt,
              os.path.join(ctx.work, "dynfs-%d.log" % writers))
    try:
        before = kinds(ctx.emu)
        t0 = time.monotonic()
        cmd = ('ls "$2" >/dev/null && cd "$1" && find . -name "*.json" -print0 | '
               'xargs -0 -P%d -n200 cp -t "$2"' % writers)
        subprocess.run(["sh", "-c", cmd, "sh", ctx.backup, dest], check=True)
        wall = time.monotonic() - t0
        after = kinds(ctx.emu)
        rss = fs.vm("VmHWM")
    finally:
        fs.stop()
    have = {r[PK] for r in ctx.emu.records(ORG, SET)}
    missing = len(ctx.ids - have)
    return {"writers": writers, "wall_s": wall, "per_s": len(ctx.ids) / wall, "rss": rss,
            "missing": missing,
            "requests": {k: after.get(k, 0) - before.get(k, 0) for k in after
                         if after.get(k, 0) - before.get(k, 0)}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--dynfs", default=os.environ.get("DYNFS_BIN", os.path.join(REPO, "dynfs")))
    ap.add_argument("--work", help="scratch folder (kept); default a temporary one (removed)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="bench-restore-")
    os.makedirs(work, exist_ok=True)

    class Ctx:
        pass

    ctx = Ctx()
    ctx.work, ctx.dynfs = work, os.path.abspath(a.dynfs)
    with Emulator(orgs=ORG, records={SET: a.n, "contacts": 0, "annotations": 0},
                  latency_ms=LATENCY_MS, timeout=600) as emu:
        ctx.emu = emu
        # N creates and deletes go far past service protection's 6,000 requests and 20
        # minutes of execution per 5 minutes: lifted, so that the figures show dynfs, not
        # the limit (which caps any client at 20 requests/s sustained).
        emu.faults(budget_requests=10 ** 8, budget_exec_ms=1e12)
        cfg = Ini.load(emu.config_path)
        cfg["global"].update({"cache_ttl": "3600"})
        cfg[ORG].update({"entities": SET})
        ctx.ini = cfg.write(os.path.join(work, "dynfs.ini"))
        ctx.backup = os.path.join(work, "backup")
        shutil.rmtree(ctx.backup, ignore_errors=True)
        mnt = os.path.join(work, "mnt")
        fs = Fuse([ctx.dynfs, "-f", "-c", ctx.ini, mnt], mnt, os.path.join(work, "dynfs-backup.log"))
        try:
            subprocess.run(["cp", "-r", os.path.join(mnt, ORG, SET), ctx.backup], check=True)
        finally:
            fs.stop()
        ctx.ids = {n[:-len(".json")] for n in os.listdir(ctx.backup)}
        api = emu.api(ORG)
        rows = []
        for writers in (1, a.writers):
            delete_all(api, sorted(ctx.ids))
            rows.append(restore(ctx, writers))
            r = rows[-1]
            print("%2d writer(s): %8.1f s  %7.1f records/s  missing %d  requests %s" % (
                r["writers"], r["wall_s"], r["per_s"], r["missing"], r["requests"]), flush=True)
    print("N=%d at %d ms a request: %d writers %.1fx faster than one" % (
        a.n, LATENCY_MS, a.writers, rows[0]["wall_s"] / rows[1]["wall_s"]))
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if any(r["missing"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
