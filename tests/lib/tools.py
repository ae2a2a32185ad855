"""Running the tools users edit with (vim, sed, rsync, tar...) against a mount, and counting
the write requests they cause.  Shared by test_tools.py and test_restore.py."""

import errno
import glob
import os
import signal
import subprocess


def killpg(p):
    """Kill P's whole process group (tools run in their own session) and reap P."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        pass


def run_tool(argv, timeout, env=None, cwd=None, shell=False, stdin=subprocess.DEVNULL):
    """Run a tool in its own session; on timeout kill its whole process group and fail.
    Returns a CompletedProcess with text stdout/stderr."""
    p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, cwd=cwd, shell=shell, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        killpg(p)
        out, err = p.communicate(timeout=10)
        raise AssertionError("%r did not finish within %d s\nstdout: %s\nstderr: %s" % (
            argv, timeout, out.decode("utf-8", "replace")[-2000:],
            err.decode("utf-8", "replace")[-2000:]))
    finally:
        if p.poll() is None:
            killpg(p)
    return subprocess.CompletedProcess(argv, p.returncode, out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))


def writes(d):
    """The write requests of a stats Delta: creates (POST or upsert PATCH) counted together."""
    return {"update": d["update"], "create": d["create"] + d["upsert"], "delete": d["delete"],
            "batch": d["batch"]}


def assert_writes(d, update=0, create=0, delete=0, what=""):
    want = {"update": update, "create": create, "delete": delete, "batch": 0}
    got = writes(d)
    assert got == want, "%swrite requests %r, expected %r (all requests: %r)" % (
        what + ": " if what else "", got, want, d)


def write_close(p, data, o_trunc=False, flags=0):
    """What a script does to a file: open(O_WRONLY | FLAGS) and ftruncate(0) (or open with
    O_TRUNC; FLAGS O_CREAT | O_EXCL: a new file), write DATA, close.  Returns None, or the
    OSError close raised (a failed save)."""
    fd = os.open(p, os.O_WRONLY | flags | (os.O_TRUNC if o_trunc else 0), 0o644)
    try:
        if not o_trunc and not flags & os.O_CREAT:
            os.ftruncate(fd, 0)
        os.write(fd, data)
    except OSError:
        os.close(fd)
        raise
    try:
        os.close(fd)
    except OSError as e:
        return e
    return None


def xattr(p, name="user.dynfs.error"):
    """Extended attribute NAME of P as text, or None when it is not set."""
    try:
        return os.getxattr(p, name).decode("utf-8")
    except OSError as e:
        if e.errno == errno.ENODATA:
            return None
        raise


def rescued(state_home, org, entity_set, stem, data):
    """True if the rescue folder under STATE_HOME holds a copy of STEM that is exactly DATA
    (<state>/dynfs/rescue/<org>/<set>/<stem>.<UTC time>.json)."""
    d = os.path.join(state_home, "dynfs", "rescue", org, entity_set)
    for f in glob.glob(os.path.join(d, glob.escape(stem) + ".*.json")):
        with open(f, "rb") as fh:
            if fh.read() == data:
                return True
    return False
