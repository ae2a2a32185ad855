"""Mount lifecycle for the dynfs test-suite: start `dynfs -f`, wait for the mount, unmount.

Usage::

    from lib.mount import Mount

    m = Mount("/work/main/dynfs", workdir="/tmp/x", log_path="/tmp/x/dynfs.log")
    m.start("/tmp/emu/dynfs.ini")        # fails at once if the daemon exits before mounting
    ...                                   # use m.path
    m.stop()                              # fusermount3 -u, daemon must exit 0, log is scanned

Rules (see docs: style anchors 12-14):
- the daemon runs in the foreground (-f), stderr goes to a per-test log file;
- start() polls os.path.ismount every 50 ms for up to 30 s and fails as soon as the daemon
  has exited, with the tail of its log;
- stop() runs `fusermount3 -u`, then requires the daemon to exit with the expected status
  (0 unless told otherwise); if anything goes wrong it falls back to `fusermount3 -u -z`,
  SIGTERM and SIGKILL, so no mount is ever left behind (an atexit guard does the same for
  mounts a crashed test run forgot);
- at stop the daemon log is scanned for sanitizer reports (ASan/UBSan/LSan);
- every failure message carries the exact command line and environment to reproduce;
- $DYNFS_WRAPPER, when set, is a command line put before every dynfs started here
  (`make valgrind` sets it to valgrind with its options); split as a shell would, not
  run through one.

Only the Python standard library is used.
"""

import atexit
import calendar
import configparser
import decimal
import json
import os
import re
import shlex
import signal
import stat
import subprocess
import tempfile
import time

FUSERMOUNT = "fusermount3"

# Lines that mean a sanitizer found something.  `==1234==` starts every ASan/LSan report.
SANITIZER_RE = re.compile(r"==\d+==|runtime error:|AddressSanitizer|LeakSanitizer")

# Environment variables worth showing in a reproducer (the rest is the caller's own env).
_ENV_SHOWN = re.compile(r"^(DYNFS_|ASAN_|UBSAN_|LSAN_|MSAN_|TSAN_|LD_|CURL_|SSL_|HOME$|TZ$|LANG$|LC_)")

_ACTIVE = []          # Mount objects started and not yet stopped


def wrapped(argv):
    """ARGV (a dynfs command) behind $DYNFS_WRAPPER, if that is set."""
    return shlex.split(os.environ.get("DYNFS_WRAPPER", "")) + list(argv)


class MountError(AssertionError):
    """A mount could not be started or stopped cleanly (an assertion, so pytest shows it)."""


def active_mounts():
    return list(_ACTIVE)


def _atexit_cleanup():
    for m in list(_ACTIVE):
        try:
            m.force_stop()
        except Exception:
            pass


atexit.register(_atexit_cleanup)


def is_mounted(path):
    """True if PATH is a mountpoint (also when the FUSE daemon is dead: ENOTCONN)."""
    try:
        return os.path.ismount(path)
    except OSError:
        return True


def in_mountinfo(path):
    """True if PATH appears as a mountpoint in /proc/self/mountinfo (works on a dead mount)."""
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 4:
                    mp = parts[4].encode().decode("unicode_escape")
                    if mp == real:
                        return True
    except OSError:
        pass
    return False


def lazy_unmount(path):
    """Best effort `fusermount3 -u -z PATH`; never raises."""
    try:
        subprocess.run([FUSERMOUNT, "-u", "-z", path], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
    except Exception:
        pass


def read_text(path, start=0):
    try:
        with open(path, "rb") as f:
            f.seek(start)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def sanitizer_findings(text, allow=()):
    """Lines of TEXT that look like sanitizer reports, minus those matching an ALLOW regex."""
    pats = [re.compile(a) for a in allow]
    out = []
    for line in text.splitlines():
        if SANITIZER_RE.search(line) and not any(p.search(line) for p in pats):
            out.append(line)
    return out


def repro_text(argv, env=None, cwd=None):
    """A copy-pasteable shell reproducer for ARGV run with ENV (only the interesting vars)."""
    shown = {}
    for k, v in sorted((env or os.environ).items()):
        if _ENV_SHOWN.match(k):
            shown[k] = v
    parts = []
    if cwd:
        parts.append("cd %s &&" % shlex.quote(cwd))
    if shown:
        parts.append("env " + " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in shown.items()))
    parts.append(" ".join(shlex.quote(a) for a in argv))
    return " ".join(parts)


def _safe(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[-120:]


def new_mount(dynfs_bin, logdir, workdir, label):
    """A Mount whose daemon log goes to LOGDIR/<label>.log."""
    return Mount(dynfs_bin, workdir=workdir, log_path=os.path.join(logdir, _safe(label) + ".log"))


class Mount:
    """One `dynfs -f` process and its mountpoint.

    binary: the dynfs executable; workdir: where the mountpoint directory is created;
    log_path: the daemon's stderr (and stdout) file, appended to.
    """

    def __init__(self, binary, workdir=None, log_path=None, name="mnt"):
        self.binary = binary
        self.workdir = workdir or tempfile.mkdtemp(prefix="dynfs-test-")
        os.makedirs(self.workdir, exist_ok=True)
        self.name = name
        self.path = None
        self.log_path = log_path or os.path.join(self.workdir, name + ".log")
        self.proc = None
        self.argv = None
        self.env = None
        self.config_path = None
        self.returncode = None
        self.stopped = False
        self._log_start = 0

    # ------------------------------------------------------------------ helpers

    def __repr__(self):
        return "Mount(%s, pid=%s)" % (self.path, self.proc.pid if self.proc else None)

    def repro(self):
        if not self.argv:
            return "(never started)"
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        return repro_text(self.argv, env)

    def log_text(self, since_start=True):
        return read_text(self.log_path, self._log_start if since_start else 0)

    def log_tail(self, n=6000):
        text = self.log_text()
        return text[-n:]

    def describe(self, what=""):
        return ("%s\n  command: %s\n  config:  %s\n  log:     %s\n--- daemon log (tail) ---\n%s"
                % (what, self.repro(), self.config_path, self.log_path, self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self, context=""):
        """The daemon process is running and the mountpoint is still a working mount."""
        if self.proc is None:
            raise MountError(self.describe("dynfs not started %s" % context))
        rc = self.proc.poll()
        if rc is not None:
            raise MountError(self.describe("dynfs died (exit status %s) %s" % (rc, context)))
        try:
            os.stat(self.path)
            ok = os.path.ismount(self.path)
        except OSError as e:
            raise MountError(self.describe("mountpoint %s broken (%s) %s" % (self.path, e, context)))
        if not ok:
            raise MountError(self.describe("%s is no longer mounted %s" % (self.path, context)))

    # ------------------------------------------------------------------ start

    def start(self, config_path, extra_args=(), env=None, timeout=30.0, source_form=False):
        """Run dynfs -f -c CONFIG [EXTRA_ARGS] MNT and wait until MNT is a mount.

        source_form: run `dynfs -f [EXTRA_ARGS] CONFIG MNT` instead, as mount(8) does."""
        if self.proc is not None:
            raise MountError("mount already started: %r" % self)
        self.path = tempfile.mkdtemp(prefix=self.name + "-", dir=self.workdir)
        self.config_path = config_path
        if source_form:
            self.argv = [self.binary, "-f"] + list(extra_args) + [config_path, self.path]
        else:
            self.argv = [self.binary, "-f", "-c", config_path] + list(extra_args) + [self.path]
        self.argv = wrapped(self.argv)
        self.env = dict(env) if env else None
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        os.makedirs(os.path.dirname(os.path.abspath(self.log_path)), exist_ok=True)
        with open(self.log_path, "ab") as logf:
            logf.write(("\n### %s\n" % repro_text(self.argv, full_env)).encode())
            logf.flush()
            self._log_start = logf.tell()
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=logf, env=full_env, start_new_session=True)
        _ACTIVE.append(self)
        deadline = time.monotonic() + timeout
        while True:
            if is_mounted(self.path) and os.path.ismount(self.path):
                return self
            rc = self.proc.poll()
            if rc is not None:
                # It may have mounted and exited between the two checks: look once more.
                if os.path.ismount(self.path):
                    break
                self.returncode = rc
                self.stopped = True
                self._forget()
                raise MountError(self.describe(
                    "dynfs exited with status %s before %s was mounted" % (rc, self.path)))
            if time.monotonic() > deadline:
                msg = self.describe("%s not mounted after %.0f s" % (self.path, timeout))
                self.force_stop()
                raise MountError(msg)
            time.sleep(0.05)
        # Mounted but the daemon exited: that is not a foreground daemon's behaviour.
        msg = self.describe("dynfs exited (status %s) right after mounting" % self.proc.returncode)
        self.force_stop()
        raise MountError(msg)

    # ------------------------------------------------------------------ stop

    def _forget(self):
        if self in _ACTIVE:
            _ACTIVE.remove(self)

    def stop(self, expect_status=0, allow=(), timeout=30.0):
        """Unmount cleanly and check the daemon's exit status and log.

        expect_status: the exit status required (None: any).  allow: regexes of log lines
        that are not sanitizer findings for this mount.  Raises MountError on any problem,
        after cleaning up by force.
        """
        if self.proc is None or self.stopped:
            return self.returncode
        problems = []
        try:
            r = subprocess.run([FUSERMOUNT, "-u", self.path], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
            if r.returncode != 0:
                problems.append("`%s -u %s` failed (%d): %s"
                                % (FUSERMOUNT, self.path, r.returncode,
                                   r.stdout.decode("utf-8", "replace").strip()))
            else:
                try:
                    self.returncode = self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    problems.append("dynfs still running %.0f s after unmount" % timeout)
                else:
                    if expect_status is not None and self.returncode != expect_status:
                        problems.append("dynfs exited with status %s after unmount, expected %s"
                                        % (self.returncode, expect_status))
        except Exception as e:  # timeouts of fusermount3 and the like
            problems.append("unmount failed: %r" % (e,))
        finally:
            if problems or self.proc.poll() is None or in_mountinfo(self.path):
                self._kill()
            self._forget()
            self.stopped = True
        found = sanitizer_findings(self.log_text(), allow)
        if found:
            problems.append("sanitizer report in the daemon log:\n  " + "\n  ".join(found[:40]))
        if problems:
            raise MountError(self.describe("; ".join(problems)))
        try:
            os.rmdir(self.path)
        except OSError:
            pass
        return self.returncode

    def force_stop(self):
        """Failure path: lazy unmount, SIGTERM, SIGKILL; each step ignores its own errors.
        A later stop() does nothing."""
        self._kill()
        self.stopped = True

    def _kill(self):
        p = self.proc
        if self.path and in_mountinfo(self.path):
            lazy_unmount(self.path)
        if p is not None and p.poll() is None:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(p.pid, sig)
                except (ProcessLookupError, PermissionError):
                    try:
                        p.send_signal(sig)
                    except ProcessLookupError:
                        pass
                try:
                    p.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if p is not None and p.returncode is not None:
            self.returncode = p.returncode
        if self.path and in_mountinfo(self.path):
            lazy_unmount(self.path)
        self._forget()


def run_dynfs(binary, args, timeout=30.0, env=None, mountpoint=None):
    """Run dynfs to completion (start-up error cases, --help, --version).

    Returns subprocess.CompletedProcess with text stdout/stderr, plus .repro and
    .sanitizer (sanitizer report lines found in the output).  If dynfs
    mounted MOUNTPOINT anyway (it should not have), the mount is removed and the process
    killed before returning; .was_mounted tells.  A run that outlives TIMEOUT is killed
    and reported as a MountError.
    """
    argv = wrapped([binary] + list(args))
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=full_env, start_new_session=True)
    was_mounted = False
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if mountpoint and not was_mounted and in_mountinfo(mountpoint):
                was_mounted = True
            time.sleep(0.05)
        if proc.poll() is None:
            if mountpoint and in_mountinfo(mountpoint):
                was_mounted = True
                lazy_unmount(mountpoint)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = proc.communicate(timeout=10)
            raise MountError("dynfs did not exit within %.0f s (was_mounted=%s)\n  command: %s\n"
                             "--- stderr ---\n%s" % (timeout, was_mounted, repro_text(argv, full_env),
                                                     err.decode("utf-8", "replace")[-4000:]))
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)
        if mountpoint and in_mountinfo(mountpoint):
            was_mounted = True
            lazy_unmount(mountpoint)
    res = subprocess.CompletedProcess(argv, proc.returncode, out.decode("utf-8", "replace"),
                                      err.decode("utf-8", "replace"))
    res.repro = repro_text(argv, full_env)
    res.was_mounted = was_mounted
    res.sanitizer = sanitizer_findings(res.stderr + "\n" + res.stdout)
    return res


# --------------------------------------------------------------------------- record files
#
# What a record file must hold: the Web API record minus every key that contains '@',
# printed like json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", except
# that number literals are kept exactly as the server sent them (money: 5000000.0000).

_NUMBER_RE = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")


class RawNumber(str):
    """A JSON number literal, kept verbatim (compares as text)."""


def loads_verbatim(text):
    """Parse JSON text keeping every number literal as a RawNumber."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    return json.loads(text, parse_float=RawNumber, parse_int=RawNumber)


def loads_decimal(text):
    """Parse JSON text with Decimal for non-integers (numeric comparison of money values)."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    return json.loads(text, parse_float=decimal.Decimal)


def strip_annotations(rec):
    """The record without its OData annotations: every key containing '@' removed."""
    return {k: v for k, v in rec.items() if "@" not in k}


def render(obj):
    """The bytes dynfs must produce for OBJ (already stripped), RawNumber literals verbatim."""

    def enc(o, ind):
        if isinstance(o, dict):
            if not o:
                return "{}"
            pad = " " * (ind + 2)
            items = [pad + json.dumps(k, ensure_ascii=False) + ": " + enc(v, ind + 2)
                     for k, v in sorted(o.items())]
            return "{\n" + ",\n".join(items) + "\n" + " " * ind + "}"
        if isinstance(o, list):
            if not o:
                return "[]"
            pad = " " * (ind + 2)
            return "[\n" + ",\n".join(pad + enc(v, ind + 2) for v in o) + "\n" + " " * ind + "]"
        if isinstance(o, RawNumber):
            return str(o)
        if isinstance(o, decimal.Decimal):
            return str(o)
        return json.dumps(o, ensure_ascii=False)

    return (enc(obj, 0) + "\n").encode("utf-8")


def normalise_numbers(text):
    """TEXT (JSON) with every number literal outside strings replaced by a canonical form."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif c == "-" or c.isdigit():
            m = _NUMBER_RE.match(text, i)
            if not m:
                out.append(c)
                i += 1
                continue
            d = decimal.Decimal(m.group(0))
            out.append("0" if d == 0 else str(d.normalize()))
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def odata_epoch(s):
    """'2024-05-06T07:08:09Z' -> seconds since the epoch (UTC)."""
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def list_raw(api, entity_set, page_size=None):
    """Every record of ENTITY_SET from the Web API, numbers kept verbatim (RawNumber)."""
    h = {"Prefer": "odata.maxpagesize=%d" % page_size} if page_size else None
    url, recs = entity_set, []
    while url:
        r = api.request("GET", url, headers=h)
        if r.status != 200:
            raise AssertionError("GET %s -> %r" % (url, r))
        body = loads_verbatim(r.raw)
        recs.extend(body["value"])
        url = body.get("@odata.nextLink")
    return recs


def get_raw(api, entity_set, rid):
    """(record with RawNumber literals, raw text) of one record by GET."""
    r = api.request("GET", "%s(%s)" % (entity_set, rid))
    if r.status != 200:
        raise AssertionError("GET %s(%s) -> %r" % (entity_set, rid, r))
    return loads_verbatim(r.raw), r.raw.decode("utf-8")


def as_decimal(obj):
    """Turn RawNumber literals of OBJ into int / Decimal for numeric comparison."""
    if isinstance(obj, dict):
        return {k: as_decimal(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [as_decimal(v) for v in obj]
    if isinstance(obj, RawNumber):
        return int(obj) if re.fullmatch(r"-?\d+", obj) else decimal.Decimal(obj)
    if isinstance(obj, float):
        return decimal.Decimal(repr(obj))
    return obj


# --------------------------------------------------------------------------- request counting

KINDS = ("token", "metadata", "list", "get", "create", "update", "upsert", "delete", "batch", "other")


class Delta(dict):
    """Per-kind request counts made during stats_delta(); .status: per HTTP status."""

    status = None
    result = None

    def __repr__(self):
        nz = {k: v for k, v in self.items() if v}
        return "Delta(%r, status=%r)" % (nz, {k: v for k, v in (self.status or {}).items() if v})


def _counts(d):
    return {str(k): int(v) for k, v in (d or {}).items()}


def stats_delta(emu, fn):
    """Run FN(); return a Delta of the emulator's requests by kind (and .status by status).

    Control requests (/_emulator/...) are not counted by the emulator, and the test must
    make no Web API requests of its own inside FN.
    """
    s0 = emu.stats()
    result = fn()
    s1 = emu.stats()
    k0, k1 = _counts(s0.get("by_kind")), _counts(s1.get("by_kind"))
    d = Delta({k: k1.get(k, 0) - k0.get(k, 0) for k in sorted(set(KINDS) | set(k0) | set(k1))})
    st0, st1 = _counts(s0.get("by_status")), _counts(s1.get("by_status"))
    d.status = {k: st1.get(k, 0) - st0.get(k, 0) for k in sorted(set(st0) | set(st1))}
    d.result = result
    return d


# --------------------------------------------------------------------------- configs

class Ini:
    """An INI file as ordered {section: {key: value}}, for writing variants of dynfs.ini.

    Relative ca_file / client_secret_file paths are made absolute (relative to the file
    they came from) so the copy works from any directory.
    """

    PATH_KEYS = ("ca_file", "client_secret_file")

    def __init__(self, sections=None):
        self.sections = sections if sections is not None else {}

    @classmethod
    def load(cls, path):
        cp = configparser.ConfigParser(interpolation=None, strict=False,
                                       comment_prefixes=("#", ";"), inline_comment_prefixes=None)
        cp.optionxform = str
        with open(path, encoding="utf-8") as f:
            cp.read_file(f)
        base = os.path.dirname(os.path.abspath(path))
        secs = {}
        for s in cp.sections():
            secs[s] = {}
            for k, v in cp.items(s, raw=True):
                if k in cls.PATH_KEYS and v and not os.path.isabs(v):
                    v = os.path.join(base, v)
                secs[s][k] = v
        return cls(secs)

    def copy(self):
        return Ini({s: dict(kv) for s, kv in self.sections.items()})

    def tenants(self):
        return [s for s in self.sections if s != "global"]

    def __getitem__(self, section):
        return self.sections.setdefault(section, {})

    def text(self):
        out = []
        for s, kv in self.sections.items():
            out.append("[%s]" % s)
            for k, v in kv.items():
                out.append("%s = %s" % (k, v))
            out.append("")
        return "\n".join(out)

    def write(self, path, extra_lines=None):
        """Write the file (mode 0600: it holds secrets). EXTRA_LINES: {section: [raw lines]}."""
        out = []
        for s, kv in self.sections.items():
            out.append("[%s]" % s)
            for k, v in kv.items():
                out.append("%s = %s" % (k, v))
            out.extend((extra_lines or {}).get(s, []))
            out.append("")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(out))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        return path


def line_of(path, text):
    """1-based number of the first line of PATH that contains TEXT."""
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if text in line:
                return i
    raise AssertionError("%r not in %s" % (text, path))
