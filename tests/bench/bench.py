#!/usr/bin/python3
"""make bench: back up one emulated table with dynfs + rsync, with a DynamicsWebApi export and
(for small N) with one GET per record; then set dynfs against a trivial FUSE filesystem.

    /usr/bin/python3 tests/bench/bench.py [--n 20000] [--rounds 3] [--dynfs ./dynfs]

The emulator models a real org: 50 ms per request, 20 us per row + 2.62 us per row and column
(a full account, 145 columns, costs 0.4 ms: a 5,000-row page about 2 s; a narrow
accountid+versionnumber page 0.18 s), x-ms-dop-hint 4, row work of at most 8 requests at once
(--capacity), the 52-concurrent limit.  Each round
runs the methods one after the other (dynfs, export, naive) on a fresh destination; the
emulator's counters are reset before each.  Results: tests/bench/results.md (table),
results.png (time and requests against N) and results.json (every N measured, latest run
each).  Needs root for the FUSE mounts and for installing missing Debian packages.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DVEMU = os.path.join(REPO, "tests", "emulator", "dvemu.py")
PYTHON = "/usr/bin/python3"
ORG, SET, PK = "contoso", "accounts", "accountid"

LATENCY_MS = 50
FULL_RECORD_US = 400.0             # a full account on a real org (5,000 rows ~ 2 s)
RECORD_COST_US = 20.0              # per row, whatever its width
ACCOUNT_COLUMNS = 145
COLUMN_COST_US = round((FULL_RECORD_US - RECORD_COST_US) / ACCOUNT_COLUMNS, 4)
DOP_HINT = 4
CAPACITY = 2 * DOP_HINT            # parallel row work an org does at once (throughput flattens beyond)

# command -> Debian package that brings it
TOOLS = {"rsync": "rsync", "gcc": "gcc", "pkg-config": "pkg-config", "fusermount3": "fuse3", "node": "nodejs",
         "npm": "npm", "gnuplot": "gnuplot-nox", "find": "findutils", "du": "coreutils"}


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def run_limited(argv, timeout, **kw):
    """Run ARGV in its own process group; after TIMEOUT seconds kill that group.
    Returns (completed process or None if timed out, stdout text)."""
    p = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.PIPE, text=True, **kw)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return None, ""
    if p.returncode != 0:
        raise subprocess.CalledProcessError(p.returncode, argv)
    return p, out


# --------------------------------------------------------------------------- set-up

def ensure_tools():
    """Install what is missing with apt-get (the bench is not part of make check)."""
    missing = sorted({pkg for cmd, pkg in TOOLS.items() if shutil.which(cmd) is None})
    if not shutil.which("pkg-config") or subprocess.run(["pkg-config", "--exists", "fuse3"]).returncode != 0:
        missing.append("libfuse3-dev")
    if not missing:
        return
    log("installing %s" % " ".join(missing))
    if os.geteuid() != 0:
        raise SystemExit("bench: missing %s; install them (apt-get install %s) or run as root"
                         % (", ".join(missing), " ".join(missing)))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env, stdout=subprocess.DEVNULL)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing, env=env, stdout=subprocess.DEVNULL)


def npm_ci():
    d = os.path.join(HERE, "export")
    stamp = os.path.join(d, "node_modules", ".package-lock.json")
    lock = os.path.join(d, "package-lock.json")
    if os.path.exists(stamp) and os.path.getmtime(stamp) >= os.path.getmtime(lock):
        return
    log("npm ci (tests/bench/export)")
    run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=d, stdout=subprocess.DEVNULL)


def build_floorfs(work):
    out = os.path.join(work, "floorfs")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "fuse3"], check=True, capture_output=True,
                           text=True).stdout.split()
    run(["gcc", "-O2", "-Wall", "-o", out, os.path.join(HERE, "floorfs.c")] + flags)
    return out


class Emu:
    def __init__(self, work, n):
        self.dir = os.path.join(work, "emu")
        shutil.rmtree(self.dir, ignore_errors=True)
        argv = [PYTHON, DVEMU, "--state-dir", self.dir, "--records",
                "%s=%d,contacts=0,annotations=0,new_categories=0" % (SET, n),
                "--latency-ms", str(LATENCY_MS), "--record-cost-us", str(RECORD_COST_US),
                "--column-cost-us", str(COLUMN_COST_US), "--dop-hint", str(DOP_HINT),
                "--capacity", str(CAPACITY)]
        t0 = time.monotonic()
        self.err = open(os.path.join(work, "emulator.log"), "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.err, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ready "):
            self.stop()
            raise SystemExit("bench: the emulator did not start (see %s)" % self.err.name)
        self.base = line.split()[1]
        self.startup_s = time.monotonic() - t0
        self.info = os.path.join(self.dir, "emulator.json")
        self.ini = os.path.join(self.dir, "dynfs.ini")

    def control(self, path, body=None):
        req = urllib.request.Request(self.base + "/_emulator/" + path,
                                     data=None if body is None else json.dumps(body).encode(),
                                     method="GET" if body is None else "POST")
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.load(r)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


class Fuse:
    """A FUSE daemon in the foreground (-f) on MNT; stopped with fusermount3 -u."""

    def __init__(self, argv, mnt, logpath):
        os.makedirs(mnt, exist_ok=True)
        self.mnt = mnt
        self.log = open(logpath, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not os.path.ismount(mnt):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit("bench: %s did not mount (see %s)" % (argv[0], logpath))
            time.sleep(0.01)

    def vm(self, key):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith(key + ":"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return None

    def stop(self):
        if os.path.ismount(self.mnt):
            subprocess.run(["fusermount3", "-u", self.mnt], stderr=subprocess.DEVNULL)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            subprocess.run(["fusermount3", "-u", "-z", self.mnt], stderr=subprocess.DEVNULL)
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# --------------------------------------------------------------------------- methods

def count_files(d):
    return sum(1 for e in os.scandir(d) if e.is_file())


def method_dynfs(ctx, dest, last_round):
    mnt = os.path.join(ctx.work, "mnt")
    t0 = time.monotonic()
    fs = Fuse([ctx.dynfs, "-f", "-c", ctx.emu.ini, mnt], mnt, os.path.join(ctx.work, "dynfs.log"))
    try:
        done, _ = run_limited(["rsync", "-a", os.path.join(mnt, ORG, SET) + "/", dest + "/"],
                              ctx.timeout - (time.monotonic() - t0))
        wall = time.monotonic() - t0
        out = {"wall_s": wall, "rss": fs.vm("VmHWM"), "timed_out": done is None}
    finally:
        fs.stop()
    return out


def method_export(ctx, dest, last_round):
    t0 = time.monotonic()
    done, text = run_limited(["node", os.path.join(HERE, "export", "export.js"), ctx.emu.info, ORG, SET, dest, PK],
                             ctx.timeout)
    wall = time.monotonic() - t0
    if done is None:
        return {"wall_s": wall, "timed_out": True}
    return {"wall_s": wall, "detail": json.loads(text.strip().splitlines()[-1])}


def method_naive(ctx, dest, last_round):
    limit = 0 if ctx.n <= ctx.naive_max else ctx.naive_sample
    t0 = time.monotonic()
    argv = [PYTHON, os.path.join(HERE, "naive.py"), ctx.emu.info, ORG, SET, dest, "--pk", PK]
    if limit:
        argv += ["--limit", str(limit)]
    done, text = run_limited(argv, ctx.timeout)
    wall = time.monotonic() - t0
    if done is None:
        return {"wall_s": wall, "timed_out": True}
    d = json.loads(text.strip().splitlines()[-1])
    out = {"wall_s": wall, "detail": d}
    if limit:
        # estimate the whole table: the id listing plus every GET at the sampled rate
        out["estimated"] = True
        out["wall_s"] = wall - d["get_s"] + d["get_s"] * ctx.n / d["records"]
    return out


METHODS = [("dynfs", "dynfs + rsync -a", method_dynfs),
           ("export", "DynamicsWebApi export (serial)", method_export),
           ("naive", "one GET per record (serial)", method_naive)]


# --------------------------------------------------------------------------- FUSE floor

FLOOR_OPS = [("find -ls", lambda d, t: ["find", d, "-ls"]),
             ("ls -l", lambda d, t: ["ls", "-l", d]),
             ("du -s", lambda d, t: ["du", "-s", d]),
             ("cp -r", lambda d, t: ["cp", "-r", d, t]),
             ("rsync -a", lambda d, t: ["rsync", "-a", d + "/", t + "/"])]


def floor_list(ctx, folder):
    """floorfs's file list: the names and sizes of the files in FOLDER (dynfs's, listed)."""
    listing = os.path.join(ctx.work, "floor.list")
    with open(listing, "w") as f:
        for e in os.scandir(folder):
            f.write("%d %s\n" % (e.stat().st_size, e.name))
    return listing


def floor(ctx):
    """Time plain tools on floorfs (same names and sizes, from memory) and on dynfs's
    already-listed folder; the emulator's requests during the dynfs side are counted.

    dynfs gets its own mount for this, with cache_ttl raised to a day and the folder listed
    once before: with the emulator's cache_ttl of 60 s the listing would lapse during the
    measurements and dynfs would list again and GET each file it opens."""
    ini = os.path.join(ctx.work, "dynfs-floor.ini")
    with open(ctx.emu.ini) as f:
        text = f.read()
    fd = os.open(ini, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text.replace("cache_ttl = 60", "cache_ttl = 86400"))
    dmnt = os.path.join(ctx.work, "mnt-floor")
    dyn = Fuse([ctx.dynfs, "-f", "-c", ini, dmnt], dmnt, os.path.join(ctx.work, "dynfs-floor.log"))
    dynfs_dir = os.path.join(dmnt, ORG, SET)
    mnt = os.path.join(ctx.work, "floor")
    fl = base = None
    sides = [("floor", mnt), ("dynfs", dynfs_dir)]
    out = {}
    try:
        run(["ls", "-f", dynfs_dir], stdout=subprocess.DEVNULL)          # list it once
        listing = floor_list(ctx, dynfs_dir)                               # from the cache: no requests
        fl = Fuse([ctx.floorfs, listing, mnt, "-f", "-o", "max_threads=10"], mnt,
                  os.path.join(ctx.work, "floorfs.log"))
        if ctx.compare:
            # another dynfs binary (an earlier build), measured in the same run
            bmnt = os.path.join(ctx.work, "mnt-baseline")
            base = Fuse([ctx.compare, "-f", "-c", ini, bmnt], bmnt, os.path.join(ctx.work, "dynfs-baseline.log"))
            run(["ls", "-f", os.path.join(bmnt, ORG, SET)], stdout=subprocess.DEVNULL)
            sides.append(("baseline", os.path.join(bmnt, ORG, SET)))
        for name, argv in FLOOR_OPS:
            row = {}
            for side, d in sides:
                times = []
                before = ctx.emu.control("stats")["total"]
                for _ in range(ctx.floor_reps):
                    tmp = tempfile.mkdtemp(dir=ctx.work, prefix="floor-copy-")
                    t0 = time.monotonic()
                    run(argv(d, os.path.join(tmp, "x")), stdout=subprocess.DEVNULL)
                    times.append(time.monotonic() - t0)
                    shutil.rmtree(tmp)
                row[side] = statistics.median(times)
                if side != "floor":
                    row[side + "_requests"] = ctx.emu.control("stats")["total"] - before
            out[name] = row
    finally:
        if fl is not None:
            fl.stop()
        if base is not None:
            base.stop()
        dyn.stop()
    return out


# --------------------------------------------------------------------------- memory bound

def ini_with(src, dst, extra):
    """A copy of the emulator's dynfs.ini with EXTRA (key = value lines) in [global]."""
    with open(src) as f:
        text = f.read()
    for key, _ in extra:
        text = "\n".join(l for l in text.split("\n") if l.split("=")[0].strip() != key)
    text = text.replace("[global]\n", "[global]\n" + "".join("%s = %s\n" % kv for kv in extra), 1)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return dst


def rss_run(ctx, cache_size):
    """Target 4: dynfs with CACHE_SIZE and rsync -a of the whole set; dynfs's peak RSS (VmHWM),
    its RSS at the end, and the requests it made."""
    ini = ini_with(ctx.emu.ini, os.path.join(ctx.work, "dynfs-rss.ini"),
                   [("cache_size", cache_size), ("cache_ttl", 86400)])
    mnt = os.path.join(ctx.work, "mnt-rss")
    dest = os.path.join(ctx.work, "dest-rss")
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    ctx.emu.control("stats/reset", {})
    t0 = time.monotonic()
    fs = Fuse([ctx.dynfs, "-f", "-c", ini, mnt], mnt, os.path.join(ctx.work, "dynfs-rss.log"))
    try:
        done, _ = run_limited(["rsync", "-a", os.path.join(mnt, ORG, SET) + "/", dest + "/"], ctx.timeout)
        out = {"wall_s": time.monotonic() - t0, "timed_out": done is None, "peak_rss_bytes": fs.vm("VmHWM"),
               "end_rss_bytes": fs.vm("VmRSS")}
        try:
            with open(os.path.join(mnt, ".status")) as f:
                st = json.load(f)
            out["heap_in_use_bytes"] = st["memory"]["heap_in_use_bytes"]
            out["heap_bytes"] = st["memory"]["heap_bytes"]
            out["nodes_own"] = st["nodes"]["own"]
        except (OSError, ValueError, KeyError):
            pass
    finally:
        fs.stop()
    s = ctx.emu.control("stats")
    out.update({"requests": s["total"], "by_op": {k: v for k, v in s["by_op"].items() if v},
                "files": count_files(dest), "bytes": sum(e.stat().st_size for e in os.scandir(dest))})
    listing = floor_list(ctx, dest)
    shutil.rmtree(dest, ignore_errors=True)
    out["floor_peak_rss_bytes"] = floor_rss(ctx, listing)
    return out


def floor_rss(ctx, listing):
    """floorfs's peak RSS for the same rsync -a of the same names and sizes: libfuse's own cost
    per file (its node for each file the kernel looked up, the folder's readdir buffer)."""
    mnt = os.path.join(ctx.work, "floor-rss")
    dest = os.path.join(ctx.work, "dest-floor-rss")
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    fl = Fuse([ctx.floorfs, listing, mnt, "-f", "-o", "max_threads=10"], mnt, os.path.join(ctx.work, "floorfs.log"))
    try:
        run(["rsync", "-a", mnt + "/", dest + "/"])
        return fl.vm("VmHWM")
    finally:
        fl.stop()
        shutil.rmtree(dest, ignore_errors=True)


# --------------------------------------------------------------------------- report

def summarize(rows):
    walls = [r["wall_s"] for r in rows]
    s = rows[-1]["stats"]
    out = {"wall_median_s": statistics.median(walls), "wall_min_s": min(walls), "wall_max_s": max(walls),
           "walls_s": walls, "requests": s["total"], "by_op": {k: v for k, v in s["by_op"].items() if v},
           "records": s["records"], "bytes": s["bytes"], "server_s": s["server_s"],
           "emulator_cpu_s": statistics.median(r["stats"]["cpu_s_since_reset"] for r in rows),
           "peak_inflight": s["peak_inflight"], "files": rows[-1]["files"]}
    if any(r.get("timed_out") for r in rows):
        out["timed_out"] = sum(1 for r in rows if r.get("timed_out"))
    rss = [r["rss"] for r in rows if r.get("rss")]
    if rss:
        out["peak_rss_bytes"] = max(rss)
    if rows[-1].get("estimated"):
        out["estimated"] = True
        out["sample"] = rows[-1]["detail"]["records"]
    return out


def fmt_s(x):
    return "%.1f" % x if x >= 10 else "%.2f" % x


def markdown(all_results):
    lines = ["# dynfs bench results", "",
             "Written by `make bench` (tests/bench/bench.py); one section per table size N, the latest run of "
             "each.  The emulator models a real org: %d ms per request, %g us per row + %g us per row and column "
             "(a full account ~%g ms; a 5,000-row page ~2 s), `x-ms-dop-hint: %d`, row work of at most %d "
             "requests at once.  Wall time = median of the rounds (min-max); requests and records from "
             "`/_emulator/stats` (last round); emulator CPU = its process CPU time per run (median), to show it "
             "stays far below the server time it models."
             % (LATENCY_MS, RECORD_COST_US, COLUMN_COST_US, FULL_RECORD_US / 1000, DOP_HINT, CAPACITY), "",
             "![time and requests against N](results.png)", ""]
    for key in sizes_of(all_results):
        res = all_results[key]
        m = res["methods"]
        lines += ["## N = {:,}".format(int(key)), "",
                  "%s, %d round(s), %s, emulator start-up %.1f s." % (res["date"], res["rounds"],
                                                                             res.get("dynfs_version", "?"),
                                                                             res["emulator_startup_s"]), "",
                  "| method | wall (s) | spread (s) | requests | by kind | modelled server time (s) | "
                  "emulator CPU (s) | peak RSS | vs export |",
                  "|---|---:|---:|---:|---|---:|---:|---:|---:|"]
        base = m.get("export", {}).get("wall_median_s")
        for name, label, _ in METHODS:
            r = m.get(name)
            if r is None:
                continue
            est = " (est. from %d)" % r["sample"] if r.get("estimated") else ""
            if r.get("timed_out"):
                est += " **stopped at the %g s limit in %d of %d round(s), %s of %s files**" % (
                    res.get("timeout_s", 0), r["timed_out"], res["rounds"], "{:,}".format(r["files"]),
                    "{:,}".format(int(key)))
            ops = ", ".join("%s %d" % (k, v) for k, v in sorted(r["by_op"].items()))
            rss = "%.0f MiB" % (r["peak_rss_bytes"] / 1048576) if r.get("peak_rss_bytes") else ""
            ratio = "%.2f" % (r["wall_median_s"] / base) if base else ""
            req = r["requests"]
            if r.get("estimated"):
                req = "%d of ~%d" % (req, int(key) + req - r["sample"])
            lines.append("| %s%s | %s | %s-%s | %s | %s | %s | %.2f | %s | %s |" % (
                label, est, ("≥ " if r.get("timed_out") else "") + fmt_s(r["wall_median_s"]), fmt_s(r["wall_min_s"]),
                fmt_s(r["wall_max_s"]), req, ops,
                fmt_s(r["server_s"]), r["emulator_cpu_s"], rss, ratio))
        fl = res.get("floor")
        if fl:
            lines += ["", "FUSE floor: the same tools on floorfs (tests/bench/floorfs.c: the same {:,} names and "
                      "sizes served from memory) and on dynfs's already-listed folder (a mount of its own with "
                      "cache_ttl = 86400, listed once before); median of {} runs."
                      .format(int(key), res.get("floor_reps", 3)), "",
                      "| command | floorfs (s) | dynfs (s) | dynfs / floor | dynfs requests |%s" % (
                          " earlier dynfs (s) | earlier / floor | earlier requests |" if res.get("compare") else ""),
                      "|---|---:|---:|---:|---:|%s" % ("---:|---:|---:|" if res.get("compare") else "")]
            if res.get("compare"):
                lines[-2:-2] = ["The \"earlier dynfs\" columns: %s, measured in the same run." % res["compare"], ""]
            for name, _ in FLOOR_OPS:
                row = fl[name]
                extra = ""
                if "baseline" in row:
                    extra = " %s | %.1f | %d |" % (fmt_s(row["baseline"]), row["baseline"] / max(row["floor"], 1e-6),
                                                   row["baseline_requests"])
                lines.append("| `%s` | %s | %s | %.1f | %d |%s" % (name, fmt_s(row["floor"]), fmt_s(row["dynfs"]),
                                                                    row["dynfs"] / max(row["floor"], 1e-6),
                                                                    row["dynfs_requests"], extra))
        lines.append("")
    lines += rss_markdown(all_results.get("rss") or {})
    return "\n".join(lines)


def sizes_of(all_results):
    """The table sizes N measured by the main bench (results.json also holds "rss")."""
    return sorted((k for k in all_results if k.isdigit()), key=int)


def rss_markdown(rss):
    """The memory bound (target 4): peak RSS per N for each cache_size, and the slope."""
    if not rss:
        return []
    lines = ["## Memory bound", "",
             "`bench.py --rss CACHE_SIZE --n N1,N2` (`make bench-rss`): dynfs with that `cache_size` and "
             "`cache_ttl` = 1 day, `rsync -a` of the whole set, peak RSS = `VmHWM` of the dynfs process at the "
             "end of the copy.  Target: peak ≤ cache_size + 128 MiB, and what dynfs keeps per record outside the "
             "content cache ≤ 200 bytes, measured as the slope of peak RSS between the two sizes.", "",
             "| run | N | date | peak RSS | bound | RSS at the end | heap in use at the end | names: held / dropped (builds with kernel_names), or dynfs's own nodes "
             "| requests | files | wall (s) | floorfs peak RSS |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    slopes = []
    for label in sorted(rss):
        runs = rss[label]
        for n in sorted(runs, key=int):
            r = runs[n]
            bound = parse_size(r.get("cache_size", label)) + 128 * 1048576
            fl = r.get("floor_peak_rss_bytes")
            heap = "%.0f MiB" % (r["heap_in_use_bytes"] / 1048576) if r.get("heap_in_use_bytes") else ""
            kn = r.get("kernel_names")
            kn = ("{:,} / {:,}".format(int(kn["held"]), int(kn["dropped"])) if kn else
                  "{:,} own nodes".format(int(r["nodes_own"])) if "nodes_own" in r else "")
            lines.append("| %s | {:,} | %s | %.0f MiB | %s %.0f MiB | %.0f MiB | %s | %s | %d | {:,} | %s | %s |".format(
                int(n), r["files"]) % (label, r["date"], r["peak_rss_bytes"] / 1048576,
                                      "≤" if r["peak_rss_bytes"] <= bound else "**over**", bound / 1048576,
                                      r["end_rss_bytes"] / 1048576, heap, kn, r["requests"], fmt_s(r["wall_s"]),
                                      "%.0f MiB" % (fl / 1048576) if fl else ""))
        ns = sorted(runs, key=int)
        if len(ns) >= 2:
            lo, hi = runs[ns[0]], runs[ns[-1]]
            slope = (hi["peak_rss_bytes"] - lo["peak_rss_bytes"]) / (int(ns[-1]) - int(ns[0]))
            text = "%s: slope of peak RSS between N = {:,} and {:,}: **%.0f bytes a record** (target ≤ 200)".format(
                int(ns[0]), int(ns[-1])) % (label, slope)
            if lo.get("floor_peak_rss_bytes") and hi.get("floor_peak_rss_bytes"):
                text += "; floorfs under the same rsync: %.0f bytes a record" % (
                    (hi["floor_peak_rss_bytes"] - lo["floor_peak_rss_bytes"]) / (int(ns[-1]) - int(ns[0])))
            slopes.append("- " + text + ".")
    return lines + [""] + slopes + [""]


def parse_size(text):
    """"64M" -> bytes (K, M, G suffixes as dynfs.ini takes them)."""
    mult = {"K": 1024, "M": 1048576, "G": 1073741824}
    t = text.strip().upper()
    return int(float(t[:-1]) * mult[t[-1]]) if t and t[-1] in mult else int(t)


def chart(all_results, png, work):
    """results.png with gnuplot: wall time and requests against N (log-log)."""
    data = os.path.join(work, "chart.dat")
    with open(data, "w") as f:
        f.write("# N dynfs export naive dynfs_req export_req naive_req floor_rsync stopped(any method)\n")
        for key in sizes_of(all_results):
            m = all_results[key]["methods"]

            def g(name, field):
                r = m.get(name)
                if r is None:
                    return "NaN"
                if field == "requests" and r.get("estimated"):
                    return str(int(key) + r["requests"] - r["sample"])
                return str(r[field])
            fl = (all_results[key].get("floor") or {}).get("rsync -a", {}).get("floor")
            stopped = [r["wall_median_s"] for r in m.values() if r.get("timed_out")]
            f.write(" ".join([key] + [g(n, "wall_median_s") for n, _, _ in METHODS]
                             + [g(n, "requests") for n, _, _ in METHODS]
                             + [str(fl) if fl is not None else "NaN", str(max(stopped)) if stopped else "NaN"])
                    + "\n")
    script = """
set terminal pngcairo size 1100,450 font ",10"
set output '%s'
set multiplot layout 1,2 title "dynfs bench: back up one table (50 ms/request, 0.4 ms per full record)"
set logscale xy
set grid
set key top left
set xlabel "records (N)"
set format x "%%.0s%%c"
set ylabel "wall time (s)"
plot '%s' using 1:2 with linespoints lw 2 title "dynfs + rsync", \
     '' using 1:3 with linespoints lw 2 title "DynamicsWebApi export", \
     '' using 1:4 with linespoints lw 2 dt 2 title "one GET per record", \
     '' using 1:8 with linespoints lw 1 dt 3 lc rgb "gray40" title "rsync -a from floorfs (FUSE floor)", \
     '' using 1:9 with points pt 6 ps 3 lc rgb "red" title "stopped at the time limit"
set ylabel "requests"
plot '%s' using 1:5 with linespoints lw 2 title "dynfs + rsync", \
     '' using 1:6 with linespoints lw 2 title "DynamicsWebApi export", \
     '' using 1:7 with linespoints lw 2 dt 2 title "one GET per record"
unset multiplot
""" % (png, data, data)
    p = os.path.join(work, "chart.gp")
    with open(p, "w") as f:
        f.write(script)
    run(["gnuplot", p])


# --------------------------------------------------------------------------- main

def save_results(out, update):
    """Merge UPDATE (a function of the whole results.json) into results.json; rewrite results.md."""
    os.makedirs(out, exist_ok=True)
    jpath = os.path.join(out, "results.json")
    try:
        with open(jpath) as f:
            everything = json.load(f)
    except (OSError, ValueError):
        everything = {}
    update(everything)
    with open(jpath, "w") as f:
        json.dump(everything, f, indent=1, sort_keys=True)
        f.write("\n")
    md = markdown(everything)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(md)
    return everything, md


def main_rss(a):
    sizes = [int(x) for x in (a.n or "100000,200000").split(",") if x.strip()]
    ensure_tools()
    ctx = Ctx()
    ctx.dynfs, ctx.timeout = os.path.abspath(a.dynfs), a.method_timeout
    ctx.work = os.path.abspath(a.work) if a.work else tempfile.mkdtemp(prefix="dynfs-bench-")
    os.makedirs(ctx.work, exist_ok=True)
    ctx.floorfs = build_floorfs(ctx.work)
    runs = {}
    try:
        for n in sizes:
            log("memory bound: starting the emulator with %d %s" % (n, SET))
            ctx.emu = Emu(ctx.work, n)
            try:
                rows = []
                for rnd in range(a.rounds):
                    r = rss_run(ctx, a.rss)
                    log("N=%d cache_size=%s round %d/%d: %.1f s, peak RSS %.0f MiB, %d requests, %d files;"
                        " at the end heap in use %.1f MiB of %.1f MiB, own nodes %s" % (
                            n, a.rss, rnd + 1, a.rounds, r["wall_s"], r["peak_rss_bytes"] / 1048576,
                            r["requests"], r["files"], r.get("heap_in_use_bytes", 0) / 1048576,
                            r.get("heap_bytes", 0) / 1048576, r.get("nodes_own")))
                    rows.append(r)
            finally:
                ctx.emu.stop()
            best = max(rows, key=lambda r: r["peak_rss_bytes"])
            best["rounds"] = a.rounds
            best["date"] = time.strftime("%Y-%m-%d")
            best["cache_size"] = a.rss
            runs[str(n)] = best
    finally:
        if not a.work:
            shutil.rmtree(ctx.work, ignore_errors=True)

    def update(everything):
        everything.setdefault("rss", {}).setdefault(a.rss_label or a.rss, {}).update(runs)
    _, md = save_results(a.out, update)
    print(md)
    return 0


class Ctx:
    pass


def main():
    ap = argparse.ArgumentParser(description="dynfs backup bench against the emulator")
    ap.add_argument("--n", default=os.environ.get("N") or None, help="records (default 20000)")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("R") or 3), help="rounds (default 3)")
    ap.add_argument("--dynfs", default=os.environ.get("DYNFS_BIN") or os.path.join(REPO, "dynfs"))
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one, removed)")
    ap.add_argument("--naive-max", type=int, default=5000,
                    help="largest N the naive method fetches whole; above it a sample is timed")
    ap.add_argument("--naive-sample", type=int, default=500)
    ap.add_argument("--method-timeout", type=float, default=600,
                    help="seconds a method may take before it is stopped and reported as such (600)")
    ap.add_argument("--floor-reps", type=int, default=None, help="runs of each floor command (3; 1 above N=50000)")
    ap.add_argument("--compare", metavar="DYNFS", default=None,
                    help="also time this dynfs binary (e.g. an earlier build) in the FUSE floor, same run")
    ap.add_argument("--floor-only", action="store_true",
                    help="measure only the FUSE floor; keep the methods of the last run at this N")
    ap.add_argument("--out", default=HERE, help="where results.md/.png/.json go (default tests/bench)")
    ap.add_argument("--rss", metavar="CACHE_SIZE", default=os.environ.get("CACHE") or None,
                    help="the memory bound only (target 4): dynfs with this cache_size (e.g. 64M) and rsync -a "
                         "at each N of --n (comma-separated, default 100000,200000), no export; reports peak RSS "
                         "and the per-record slope")
    ap.add_argument("--rss-label", default=None,
                    help="--rss: the row label in results.md (default: the cache size), e.g. to keep an earlier "
                         "build's runs beside")
    ap.add_argument("--compare-label", default=None, help="how results.md names the --compare binary")
    a = ap.parse_args()
    if a.compare and not a.compare_label:
        a.compare_label = "the dynfs binary %s" % a.compare
    if a.rss:
        return main_rss(a)
    if not os.access(a.dynfs, os.X_OK):
        raise SystemExit("bench: no dynfs binary at %s (make, or DYNFS_BIN=...)" % a.dynfs)
    a.n = int(a.n or 20000)
    ensure_tools()
    if not a.floor_only:
        npm_ci()
    ctx = Ctx()
    if a.floor_reps is None:
        a.floor_reps = 3 if a.n <= 50000 else 1
    ctx.n, ctx.dynfs, ctx.floor_reps = a.n, os.path.abspath(a.dynfs), a.floor_reps
    ctx.compare = os.path.abspath(a.compare) if a.compare else None
    ctx.timeout = a.method_timeout
    ctx.naive_max, ctx.naive_sample = a.naive_max, a.naive_sample
    ctx.work = os.path.abspath(a.work) if a.work else tempfile.mkdtemp(prefix="dynfs-bench-")
    os.makedirs(ctx.work, exist_ok=True)
    ctx.floor = None
    ctx.floorfs = build_floorfs(ctx.work)
    log("work folder %s; starting the emulator with %d %s" % (ctx.work, a.n, SET))
    ctx.emu = Emu(ctx.work, a.n)
    rows = {name: [] for name, _, _ in METHODS}
    try:
        log("emulator ready in %.1f s" % ctx.emu.startup_s)
        for rnd in range(0 if a.floor_only else a.rounds):
            for name, label, fn in METHODS:
                dest = os.path.join(ctx.work, "dest-" + name)
                shutil.rmtree(dest, ignore_errors=True)
                os.makedirs(dest)
                ctx.emu.control("stats/reset", {})
                r = fn(ctx, dest, rnd == a.rounds - 1)
                if "stats" not in r:
                    r["stats"] = ctx.emu.control("stats")
                r["files"] = count_files(dest)
                rows[name].append(r)
                log("round %d/%d %-7s %7.2f s%s, %d requests, emulator CPU %.2f s, %d files" % (
                    rnd + 1, a.rounds, name, r["wall_s"],
                    " (est.)" if r.get("estimated") else " (stopped: time limit)" if r.get("timed_out") else "",
                    r["stats"]["total"], r["stats"]["cpu_s_since_reset"], r["files"]))
                shutil.rmtree(dest, ignore_errors=True)
        log("FUSE floor: floorfs and an already-listed dynfs folder")
        ctx.floor = floor(ctx)
    finally:
        ctx.emu.stop()
        if not a.work:
            shutil.rmtree(ctx.work, ignore_errors=True)
    version = subprocess.run([ctx.dynfs, "--version"], capture_output=True, text=True).stdout.strip().splitlines()
    result = {"date": time.strftime("%Y-%m-%d"), "rounds": a.rounds, "emulator_startup_s": ctx.emu.startup_s,
              "dynfs_version": version[0] if version else "?", "floor_reps": a.floor_reps,
              "timeout_s": a.method_timeout,
              "methods": {name: summarize(rs) for name, rs in rows.items() if rs}, "floor": ctx.floor,
              "compare": a.compare_label}
    os.makedirs(a.out, exist_ok=True)
    jpath = os.path.join(a.out, "results.json")
    try:
        with open(jpath) as f:
            everything = json.load(f)
    except (OSError, ValueError):
        everything = {}
    if a.floor_only:
        if str(a.n) not in everything:
            raise SystemExit("bench: --floor-only needs an earlier run at N=%d in %s" % (a.n, jpath))
        prev = everything[str(a.n)]
        prev.update({"floor": result["floor"], "floor_reps": a.floor_reps, "floor_date": result["date"],
                     "compare": a.compare_label})
        result = prev
    everything[str(a.n)] = result
    with open(jpath, "w") as f:
        json.dump(everything, f, indent=1, sort_keys=True)
        f.write("\n")
    md = markdown(everything)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(md)
    tmp = tempfile.mkdtemp(prefix="dynfs-bench-chart-")
    try:
        chart(everything, os.path.join(a.out, "results.png"), tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
