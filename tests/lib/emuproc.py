"""The emulator process (tests/emulator/dvemu.py) for the tests.

Usage::

    from lib.emuproc import Emulator

    with Emulator(records={"accounts": 20, "contacts": 5}, seed=1) as emu:
        api = emu.api("contoso")              # lib.client.WebApi for one org
        st, hdrs, body = api.get("WhoAmI")
        recs, pages = api.list_all("accounts", select=["name"])
        emu.faults(throttle=1.0)             # POST /_emulator/faults
        emu.clear_faults()

Emulator is a lib.client.EmulatorClient (the control surface) that also starts and stops
the process.  The emulator is always started with /usr/bin/python3 (Debian's interpreter)
and always stopped (SIGTERM, 5 s, SIGKILL), also on failures and at interpreter exit.
Only the Python standard library is used.
"""

import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref

from lib.client import EmulatorClient, EmulatorError

__all__ = ["Emulator", "EmulatorError"]

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DVEMU = os.path.join(REPO_ROOT, "tests", "emulator", "dvemu.py")
PYTHON = "/usr/bin/python3"

_RUNNING = weakref.WeakSet()


def _atexit_stop_all():
    for emu in list(_RUNNING):
        try:
            emu.stop()
        except Exception:
            pass


atexit.register(_atexit_stop_all)


class Emulator(EmulatorClient):
    """Runs tests/emulator/dvemu.py as a child process.

    Emulator(state_dir=None, tls=False, orgs=None, records=None, seed=None, latency_ms=None,
             record_cost_us=None, token_lifetime=None, extra_args=(), timeout=60, keep_state=False)

    `orgs` is a list or comma string; `records` a dict {"accounts": 2000} or a string
    "accounts=2000,contacts=500".  Without state_dir a temporary directory is created
    (and removed on stop unless keep_state or the env var DVEMU_KEEP_STATE is set).
    """

    def __init__(self, state_dir=None, tls=False, orgs=None, records=None, seed=None,
                 latency_ms=None, record_cost_us=None, token_lifetime=None, extra_args=(),
                 timeout=60, keep_state=False, env=None):
        super().__init__()
        self._own_dir = state_dir is None
        self.state_dir = os.path.abspath(state_dir) if state_dir else tempfile.mkdtemp(prefix="dvemu-")
        os.makedirs(self.state_dir, exist_ok=True)
        self.tls = tls
        self.orgs = orgs
        self.records_arg = records
        self.seed = seed
        self.latency_ms = latency_ms
        self.record_cost_us = record_cost_us
        self.token_lifetime = token_lifetime
        self.extra_args = list(extra_args)
        self.timeout = timeout
        self.keep_state = keep_state or bool(os.environ.get("DVEMU_KEEP_STATE"))
        self.env = env
        self.proc = None
        self.stdout_lines = []
        self.stderr_path = os.path.join(self.state_dir, "emulator.stderr.log")
        self.stdout_path = os.path.join(self.state_dir, "emulator.stdout.log")

    @property
    def config_path(self):
        return os.path.join(self.state_dir, "dynfs.ini")

    @property
    def info_path(self):
        return os.path.join(self.state_dir, "emulator.json")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def argv(self):
        a = [PYTHON, DVEMU, "--state-dir", self.state_dir, "--port", "0"]
        if self.tls:
            a.append("--tls")
        if self.orgs:
            a += ["--orgs", self.orgs if isinstance(self.orgs, str) else ",".join(self.orgs)]
        if self.records_arg:
            r = self.records_arg
            if isinstance(r, dict):
                r = ",".join("%s=%d" % (k, v) for k, v in r.items())
            a += ["--records", r]
        if self.seed is not None:
            a += ["--seed", str(self.seed)]
        if self.latency_ms is not None:
            a += ["--latency-ms", str(self.latency_ms)]
        if self.record_cost_us is not None:
            a += ["--record-cost-us", str(self.record_cost_us)]
        if self.token_lifetime is not None:
            a += ["--token-lifetime", str(self.token_lifetime)]
        return a + self.extra_args

    def stderr_tail(self, n=4000):
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - n))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def start(self):
        if self.proc:
            return self
        if not os.path.exists(DVEMU):
            raise EmulatorError("emulator not found: %s" % DVEMU)
        try:
            os.unlink(self.info_path)
        except OSError:
            pass
        errf = open(self.stderr_path, "ab")
        try:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=errf, cwd=REPO_ROOT, env=self.env,
                                         start_new_session=True)
        finally:
            errf.close()
        _RUNNING.add(self)
        ready = threading.Event()
        holder = {}

        def reader(proc=self.proc):
            with open(self.stdout_path, "ab") as log:
                for line in iter(proc.stdout.readline, b""):
                    log.write(line)
                    log.flush()
                    s = line.decode("utf-8", "replace").rstrip("\r\n")
                    self.stdout_lines.append(s)
                    if not ready.is_set() and s.startswith("ready "):
                        holder["url"] = s[len("ready "):].strip()
                        ready.set()
            ready.set()

        threading.Thread(target=reader, daemon=True, name="dvemu-stdout").start()
        try:
            if not ready.wait(self.timeout):
                raise EmulatorError("emulator not ready after %ss; stderr tail:\n%s"
                                    % (self.timeout, self.stderr_tail()))
            if "url" not in holder:
                self.proc.wait(5)
                raise EmulatorError("emulator exited (rc=%s) before 'ready'; stderr tail:\n%s"
                                    % (self.proc.returncode, self.stderr_tail()))
            self.base_url = holder["url"].rstrip("/")
            self.load_info()
        except BaseException:
            self.stop()
            raise
        return self

    def load_info(self):
        deadline = time.time() + 10
        while True:
            try:
                with open(self.info_path) as f:
                    self.info = json.load(f)
                break
            except (OSError, ValueError):
                if time.time() > deadline:
                    raise EmulatorError("cannot read %s; stderr tail:\n%s"
                                        % (self.info_path, self.stderr_tail()))
                time.sleep(0.05)
        self.ca_file = self.info.get("ca_file")
        return self.info

    def stop(self):
        p, self.proc = self.proc, None
        if p is not None:
            try:
                if p.poll() is None:
                    try:
                        p.send_signal(signal.SIGTERM)
                    except ProcessLookupError:
                        pass
                    try:
                        p.wait(5)
                    except subprocess.TimeoutExpired:
                        try:
                            p.kill()
                        except ProcessLookupError:
                            pass
                        p.wait(5)
            finally:
                try:
                    if p.stdout:
                        p.stdout.close()
                except Exception:
                    pass
                _RUNNING.discard(self)
        if self._own_dir and not self.keep_state and os.path.isdir(self.state_dir):
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def __del__(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
        except Exception:
            pass
