"""What dynfs logs: one line per failed operation, one debug line per HTTP request, never a
secret, and a log file that SIGHUP opens anew.

- A failed save, a failed read and a refused edit each give exactly one line at the default
  level, at level error, naming the operation, the path, the errno and -- where a request
  failed -- the HTTP status, the Dataverse code, the message and the request id
  (x-ms-service-request-id); a save's line also says where the user's bytes were kept, a
  retried request's how often it was retried.  A successful save or listing logs nothing.
- At log_level = debug each HTTP request is exactly one line (method, path, status,
  milliseconds): as many lines as the emulator counted requests, token requests included;
  no line holds the client secret, a refresh token, an access token or a header.
- log_file (or -o log_file=) writes dated lines with their level; after the file is renamed
  (logrotate), SIGHUP makes dynfs write to a new file by the name.  A log file that cannot
  be opened stops dynfs before it mounts, with a message on stderr.
"""

import errno
import os
import re
import signal
import time

import pytest

from lib.auth import config, org_secrets, read_store, tenant, write_store
from lib.fixtures import emulator_fixture, faults_cleared, fresh_records, start_mount
from lib.mount import loads_verbatim, render, run_dynfs, stats_delta
from lib.tools import write_close

ORG = "contoso"
SET = "accounts"

lemu = emulator_fixture(orgs=ORG, records={"accounts": 40, "contacts": 30}, seed=71)
_cleared = faults_cleared("lemu")
rid = fresh_records("lemu", ORG, SET, "accountid", plain=True)

# A line of a log file: "2026-12-06 17:53:06.123 dynfs[PID] LEVEL: message".
LINE_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} dynfs\[(\d+)\] "
                     r"(error|warn|info|debug): (.*)$")
JWT_RE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


@pytest.fixture(scope="module")
def lmnt(lemu, dynfs_bin, logdir, module_workdir, state_home):
    """dynfs at the default level on LEMU, its log file given with -o log_file=."""
    path = os.path.join(module_workdir, "default.log")
    m = start_mount(dynfs_bin, logdir, module_workdir, "test_logging-lmnt", lemu,
                    lemu.config_path, extra_args=("-o", "log_file=" + path),
                    env={"XDG_STATE_HOME": state_home})
    m.log_file = path
    try:
        yield m
    finally:
        m.stop()


def lines(path, start=0):
    """The parsed lines of log file PATH from byte START: [(level, message)]."""
    with open(path, encoding="utf-8", errors="replace") as f:
        f.seek(start)
        text = f.read()
    out = []
    for raw in text.splitlines():
        m = LINE_RE.match(raw)
        assert m, "a log file line without date, pid and level: %r" % raw
        out.append((m.group(2), m.group(3)))
    return out


def size(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


def rpath(m, record_id, es=SET):
    return os.path.join(m.path, ORG, es, record_id + ".json")


def edited(p, **changes):
    with open(p, "rb") as f:
        obj = loads_verbatim(f.read())
    obj.update(changes)
    return render(obj)


def one_line(m, fn):
    """Run FN() on mount M; return (its result, the one line it logged, the emulator's count
    of the requests it made).  Fails unless exactly one line was logged, at level error."""
    at = size(m.log_file)
    d = stats_delta(m.emu, fn)
    new = lines(m.log_file, at)
    assert len(new) == 1, "expected one log line, got %d:\n%s" % (
        len(new), "\n".join("%s: %s" % x for x in new))
    level, msg = new[0]
    assert level == "error", new[0]
    m.assert_alive()
    return d.result, msg, d


def read_error(p):
    """Read P whole; the OSError it raised, or None."""
    try:
        with open(p, "rb") as f:
            f.read()
    except OSError as e:
        return e
    return None


def test_failed_save_is_one_line(lemu, lmnt, rid):
    r = next(rid)
    p = rpath(lmnt, r)
    data = edited(p, name="Refused by the server")
    lemu.rule(method="PATCH", path=r"accounts\(%s\)" % r, status=400, json={"error": {
        "code": "0x80040203", "message": "A value is not valid for this column."}},
        headers={"x-ms-service-request-id": "5f1b0c4e-save-0001"})
    err, msg, d = one_line(lmnt, lambda: write_close(p, data))
    assert err is not None and err.errno == errno.EINVAL, err
    assert d["update"] == 1, d
    assert msg.startswith("save /%s/%s/%s.json failed: Invalid argument: " % (ORG, SET, r)), msg
    assert "HTTP 400 0x80040203 'A value is not valid for this column.'" in msg, msg
    assert "(request id 5f1b0c4e-save-0001)" in msg, msg
    assert re.search(r"your version is kept in /\S+\.json$", msg), msg


def test_failed_read_is_one_line(lemu, lmnt, rid):
    r = next(rid)
    lemu.rule(method="GET", path=r"accounts\(%s\)" % r, status=500, count=0, json={"error": {
        "code": "0x80040216", "message": "An unexpected error occurred."}},
        headers={"x-ms-service-request-id": "5f1b0c4e-read-0002"})
    err, msg, d = one_line(lmnt, lambda: read_error(rpath(lmnt, r)))
    assert err is not None and err.errno == errno.EIO, err
    # a 500 is not retried: one GET, one line
    assert d["get"] == 1, d
    assert re.match(r"(stat|open|read) /%s/%s/%s\.json failed: Input/output error: " % (ORG, SET, r),
                    msg), msg
    assert "HTTP 500 0x80040216 'An unexpected error occurred.' (request id 5f1b0c4e-read-0002)" \
        in msg, msg


def test_retries_are_counted_in_the_line(lemu, lmnt, rid):
    r = next(rid)
    lemu.rule(method="GET", path=r"accounts\(%s\)" % r, status=503, count=0,
              headers={"Retry-After": "0", "x-ms-service-request-id": "5f1b0c4e-busy-0003"},
              json={"error": {"code": "0x8005F103", "message": "The server is busy."}})
    err, msg, d = one_line(lmnt, lambda: read_error(rpath(lmnt, r)))
    assert err is not None and err.errno == errno.EIO, err
    # max_retries = 5 (the default): six GETs, and the line says so
    assert d["get"] == 6, d
    assert "HTTP 503 0x8005F103 'The server is busy.' (request id 5f1b0c4e-busy-0003) after 5 " \
        "retries" in msg, msg


def test_refused_edit_is_one_line(lemu, lmnt, rid):
    r = next(rid)
    p = rpath(lmnt, r)
    data = edited(p, createdon="2001-02-03T04:05:06Z")
    err, msg, d = one_line(lmnt, lambda: write_close(p, data))
    assert err is not None and err.errno == errno.EINVAL, err
    # refused before any write (the table's columns may be read first)
    assert not any(d[k] for k in ("create", "update", "upsert", "delete", "batch")), d
    assert msg.startswith("save /%s/%s/%s.json failed: Invalid argument; " % (ORG, SET, r)), msg
    assert "column 'createdon' cannot be changed" in msg, msg
    assert re.search(r"your version is kept in /\S+\.json$", msg), msg


def test_successful_operations_log_nothing(lemu, lmnt, rid):
    r = next(rid)
    p = rpath(lmnt, r)
    at = size(lmnt.log_file)
    assert write_close(p, edited(p, name="Saved quietly")) is None
    os.listdir(os.path.join(lmnt.path, ORG, "contacts"))
    assert lines(lmnt.log_file, at) == []


# --------------------------------------------------------------------------- debug level

def test_debug_is_one_line_per_request_and_no_secret(lemu, mount_factory, tmp_path):
    """Two tenants on one org: client credentials (a secret) and a refresh token (rotated
    into its store).  Every request is one `http:` line; nothing secret in the whole log."""
    store = str(tmp_path / "state" / "work.token")
    first = lemu.control_post(ORG, "issue-refresh-token")["refresh_token"]
    write_store(store, first)
    log_file = str(tmp_path / "debug.log")
    cfg = config(str(tmp_path / "debug.ini"), {
        ORG: tenant(lemu, ORG),
        "work": tenant(lemu, ORG, "refresh_token", token_store=store)},
        log_level="debug", log_file=log_file)
    before = sum(lemu.stats()["by_status"].values())
    m = mount_factory(cfg, emu=lemu)
    started = sum(lemu.stats()["by_status"].values()) - before

    def http_lines(start=0):
        return [msg for level, msg in lines(log_file, start) if msg.startswith("http: ")]

    # start-up: token and WhoAmI and entity sets of both tenants, one line each
    assert len(http_lines()) == started, (started, http_lines())
    assert any(re.search(r"^http: POST \S+/oauth2/v2\.0/token: 200 in \d+ ms", x)
               for x in http_lines()), http_lines()
    recs = lemu.records(ORG, "contacts")
    for name, path in (("unlisted read", lambda: open(
            os.path.join(m.path, ORG, "contacts", recs[0]["contactid"] + ".json"), "rb").read()),
                       ("listing", lambda: os.listdir(os.path.join(m.path, "work", "accounts"))),
                       ("read", lambda: open(os.path.join(
                           m.path, "work", "contacts", recs[1]["contactid"] + ".json"), "rb").read())):
        at = size(log_file)
        d = stats_delta(lemu, path)
        n = sum(d.status.values())
        assert n > 0, name
        got = http_lines(at)
        assert len(got) == n, "%s: %d requests, %d http lines:\n%s" % (name, n, len(got),
                                                                      "\n".join(got))
        for x in got:
            assert re.match(r"^http: (GET|POST|PATCH|DELETE) \S+: \d{3} in \d+ ms", x), x
    m.stop()
    rotated = read_store(store)
    assert rotated != first, "the refresh token was never used"
    with open(log_file, encoding="utf-8", errors="replace") as f:
        text = f.read()
    with open(m.log_path, encoding="utf-8", errors="replace") as f:
        text += f.read()
    for s in org_secrets(lemu) + [first, rotated]:
        assert s not in text, "a secret (%s...) is in the debug log" % s[:4]
    assert not JWT_RE.search(text), "an access token is in the debug log"
    assert not re.search(r"(?i)authorization:|bearer |client_secret=|refresh_token=|"
                         r"client_assertion=", text), "a header or form field is in the log"


# --------------------------------------------------------------------------- the log file

def test_sighup_opens_the_log_file_anew(lemu, lmnt, rid):
    """logrotate's way: rename the file, send HUP; new lines go to a new file by the name."""
    old = lmnt.log_file + ".1"
    os.rename(lmnt.log_file, old)
    try:
        os.kill(lmnt.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not os.path.exists(lmnt.log_file):
            time.sleep(0.05)
        assert os.path.exists(lmnt.log_file), "no new log file after SIGHUP"
        while time.monotonic() < deadline and not any(
                "refreshed (SIGHUP)" in msg for _, msg in lines(lmnt.log_file)):
            time.sleep(0.05)
        assert any("refreshed (SIGHUP)" in msg for _, msg in lines(lmnt.log_file))
        kept = size(old)
        assert "refreshed (SIGHUP)" not in open(old, encoding="utf-8").read()
        # a failed operation after the HUP: in the new file, not the old one
        r = next(rid)
        p = rpath(lmnt, r)
        err, msg, _ = one_line(lmnt, lambda: write_close(p, b"{ not JSON"))
        assert err is not None and err.errno == errno.EINVAL, err
        assert "invalid JSON" in msg, msg
        assert size(old) == kept, "a line went to the renamed file"
        assert stat_mode(lmnt.log_file) == 0o640
    finally:
        lmnt.assert_alive()


def stat_mode(path):
    return os.stat(path).st_mode & 0o777


def test_unwritable_log_file_stops_the_mount(lemu, dynfs_bin, tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    bad = str(tmp_path / "no-such-dir" / "dynfs.log")
    r = run_dynfs(dynfs_bin, ["-f", "-o", "log_file=" + bad, lemu.config_path, str(mnt)],
                  mountpoint=str(mnt))
    assert r.returncode == 1, r.stdout + r.stderr
    assert not r.was_mounted
    assert r.stderr.strip() == "dynfs: log_file: cannot open %s: No such file or directory" % bad, \
        r.stderr
    assert not r.sanitizer, r.sanitizer
