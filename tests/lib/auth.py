"""Helpers of the auth tests (tests/test_auth_*.py): configs per flow, token stores,
`dynfs login` driven like a person would, and secret scanning.

Only the Python standard library is used.
"""

import json
import os
import re
import signal
import subprocess
import time

from lib.client import http_request
from lib.mount import Ini, repro_text, sanitizer_findings


def write_private(path, text):
    """Write TEXT to PATH with mode 0600 (secrets, token stores)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def write_store(path, refresh_token):
    """A token store as dynfs writes it (its directory made 0700 if missing)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    return write_private(path, json.dumps({"refresh_token": refresh_token}) + "\n")


def read_store(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)["refresh_token"]


def tenant(emu, org, auth="client_credentials", **keys):
    """The [org] section of a config for AUTH; KEYS override or add (None removes)."""
    o = emu.org(org)
    sec = {"url": o["url"].rstrip("/"), "auth": auth}
    if auth == "client_credentials":
        sec.update(tenant_id=o["tenant_id"], token_url=o["token_url"], client_id=o["client_id"],
                   client_secret_file=o["client_secret_file"])
    elif auth == "refresh_token":
        sec.update(token_url=o["token_url"], client_id=o["public_client_id"])
    elif auth == "password":
        sec.update(token_url=o["token_url"], client_id=o["public_client_id"], username=o["username"])
    if emu.ca_file:
        sec["ca_file"] = emu.ca_file
    for k, v in keys.items():
        if v is None:
            sec.pop(k, None)
        else:
            sec[k] = str(v)
    return sec


def config(path, sections, **global_keys):
    """Write a config with SECTIONS {name: {key: value}} and [global] keys; returns PATH."""
    ini = Ini({"global": {k: str(v) for k, v in global_keys.items()}})
    for name, sec in sections.items():
        ini[name].update(sec)
    return ini.write(path)


def org_secrets(emu):
    """Every secret the emulator handed out: none may ever show in dynfs's output."""
    out = []
    for o in emu.info["orgs"].values():
        for k in ("client_secret", "unconsented_client_secret", "password", "refresh_token"):
            if o.get(k):
                out.append(o[k])
    return out


def assert_no_secrets(text, secrets, where="output"):
    for s in secrets:
        assert s and s not in text, "a secret (%s...) appears in the %s" % (s[:4], where)


def first_record(mountpoint, org, entity_set="accounts"):
    """Bytes of one record file read through the mount."""
    d = os.path.join(mountpoint, org, entity_set)
    name = sorted(os.listdir(d))[0]
    with open(os.path.join(d, name), "rb") as f:
        return f.read()


def unlisted_paths(emu, mountpoint, org, n, entity_set="contacts"):
    """Paths of N records of ENTITY_SET, named without listing the folder (one GET each)."""
    key = entity_set[:-1] + "id"
    return [os.path.join(mountpoint, org, entity_set, r[key] + ".json")
            for r in emu.records(org, entity_set)[:n]]


class Login:
    """`dynfs login ...` as a child process whose stderr is read line by line; whoever
    starts one kills it when done (kill() after finish() does nothing)."""

    def __init__(self, dynfs_bin, cfg, tenant_name, *args, env=None):
        self.argv = [dynfs_bin, "login", "-c", cfg] + list(args) + [tenant_name]
        full = dict(os.environ)
        full.update(env or {})
        self.repro = repro_text(self.argv, full)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=full, start_new_session=True)
        self.lines = []

    def wait_line(self, pattern, timeout=30):
        """The first stderr line matching PATTERN (a regex match object)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            line = line.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            m = rx.search(line)
            if m:
                return m
        self.kill()
        raise AssertionError("no line matching %r from %s:\n%s" % (pattern, self.repro,
                                                                   "\n".join(self.lines)))

    def finish(self, timeout=60):
        """(exit status, all stdout+stderr text)."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s did not finish:\n%s" % (self.repro, "\n".join(self.lines)))
        text = "\n".join(self.lines) + "\n" + err.decode("utf-8", "replace") + \
            out.decode("utf-8", "replace")
        found = sanitizer_findings(text)
        assert not found, "sanitizer report from %s:\n%s" % (self.repro, "\n".join(found))
        return self.proc.returncode, text

    def kill(self):
        """Kill the process group if it still runs (a no-op after finish())."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)


def device_login(dynfs_bin, emu, cfg, tenant_name, org, approve=True):
    """Run `dynfs login TENANT` (device code) and approve or decline it; (status, text)."""
    lg = Login(dynfs_bin, cfg, tenant_name)
    try:
        m = lg.wait_line(r"enter the code (\w+)")
        emu.control_post(org, "device-approve" if approve else "device-decline",
                         {"user_code": m.group(1)})
        return lg.finish()
    finally:
        lg.kill()


def browser_login(dynfs_bin, emu, cfg, tenant_name, tamper=None):
    """Run `dynfs login --browser TENANT` and play the browser: fetch the printed authorize
    URL without following the redirect, then deliver its Location to dynfs's loopback
    listener (TAMPER may rewrite it).  Returns (status, text, callback Response)."""
    lg = Login(dynfs_bin, cfg, tenant_name, "--browser")
    try:
        url = lg.wait_line(r"^\s+(https?://\S+/authorize\?\S+)$").group(1)
        r = http_request("GET", url, ca_file=emu.ca_file)
        loc = r.headers.get("Location")
        assert r.status == 302 and loc, "authorize answered %r" % (r,)
        assert loc.startswith("http://127.0.0.1:"), loc
        if tamper:
            loc = tamper(loc)
        cb = http_request("GET", loc)
        status, text = lg.finish()
        return status, text, cb
    finally:
        lg.kill()
