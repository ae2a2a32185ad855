"""Harness for the local Dataverse Web API + Entra ID emulator (tests/emulator/dvemu.py).

Usage::

    from lib.emu import Emulator, WebApi

    with Emulator(records={"accounts": 20, "contacts": 5}, seed=1) as emu:
        api = emu.api("contoso")              # WebApi for one org
        st, hdrs, body = api.get("WhoAmI")
        recs, pages = api.list_all("accounts", select=["name"])
        emu.faults(throttle=1.0)             # POST /_emulator/faults
        emu.clear_faults()

Only the Python standard library is used.  The emulator is always started with
/usr/bin/python3 (Debian's interpreter) and always stopped (SIGTERM, 5 s, SIGKILL),
also on failures and at interpreter exit.
"""

import atexit
import decimal
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import weakref

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


class EmulatorError(RuntimeError):
    pass


# --------------------------------------------------------------------------- HTTP


class Headers:
    """Case-insensitive, read-only view of response headers (multi-valued aware)."""

    def __init__(self, pairs):
        self._pairs = list(pairs)

    def get(self, name, default=None):
        n = name.lower()
        vals = [v for k, v in self._pairs if k.lower() == n]
        if not vals:
            return default
        return ", ".join(vals)

    def get_all(self, name):
        n = name.lower()
        return [v for k, v in self._pairs if k.lower() == n]

    def __getitem__(self, name):
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __contains__(self, name):
        return self.get(name) is not None

    def keys(self):
        return [k for k, _ in self._pairs]

    def items(self):
        return list(self._pairs)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self._pairs)

    def __repr__(self):
        return "Headers(%r)" % (self._pairs,)


class Response(tuple):
    """(status, headers, body) tuple with extras: .raw (bytes), .reason, .json_error."""

    def __new__(cls, status, headers, body, raw=b"", reason=""):
        self = tuple.__new__(cls, (status, headers, body))
        self.raw = raw
        self.reason = reason
        return self

    status = property(lambda self: self[0])
    headers = property(lambda self: self[1])
    body = property(lambda self: self[2])

    @property
    def error(self):
        """The Web API `error` object ({"code","message"}) or None."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"]
        return None

    @property
    def entity_id(self):
        """GUID from OData-EntityId (or Location), else None."""
        for h in ("OData-EntityId", "Location"):
            v = self.headers.get(h)
            if v:
                m = re.search(r"\(([0-9a-fA-F-]{36})\)\s*$", v)
                if m:
                    return m.group(1)
        return None

    def __repr__(self):
        b = self.body
        if isinstance(b, (bytes, bytearray)):
            b = bytes(b[:300])
        else:
            b = json.dumps(b, default=str)[:300]
        return "Response(%d %s, %s)" % (self.status, self.reason, b)


def ssl_context(ca_file):
    ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    return ctx


def http_request(method, url, body=None, headers=None, ca_file=None, timeout=60,
                 decimal_floats=False, context=None):
    """One HTTP(S) request on a fresh connection. Returns Response.

    body: dict/list -> JSON; str -> utf-8; bytes -> as is.  JSON responses are parsed
    (parse_float=Decimal if decimal_floats), everything else is returned as bytes.
    Connection-level failures propagate (e.g. http.client.RemoteDisconnected).
    """
    u = urllib.parse.urlsplit(url)
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode("utf-8")
            if not any(k.lower() == "content-type" for k in hdrs):
                hdrs["Content-Type"] = "application/json; charset=utf-8"
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = bytes(body)
    if u.scheme == "https":
        ctx = context or ssl_context(ca_file)
        conn = http.client.HTTPSConnection(u.hostname, u.port or 443, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    target = u.path or "/"
    if u.query:
        target += "?" + u.query
    # convenience: callers may write OData URLs with literal spaces/quotes; percent-encode what
    # http.client refuses, keep existing %-escapes and OData punctuation as they are
    target = urllib.parse.quote(target, safe="/?&=%$,()':@!*+;~-._")
    try:
        conn.request(method, target, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        pairs = resp.getheaders()
        status, reason = resp.status, resp.reason
    finally:
        conn.close()
    h = Headers(pairs)
    parsed = raw
    ctype = (h.get("Content-Type") or "").lower()
    if raw and "json" in ctype:
        try:
            kw = {"parse_float": decimal.Decimal} if decimal_floats else {}
            parsed = json.loads(raw.decode("utf-8-sig"), **kw)
        except ValueError:
            parsed = raw
    return Response(status, h, parsed, raw, reason)


# --------------------------------------------------------------------------- Web API client


class WebApi:
    """Small Dataverse Web API client for one emulated org (client-credentials auth)."""

    def __init__(self, org, ca_file=None, decimal_floats=False, timeout=60,
                 client_id=None, client_secret=None):
        self.org = org
        self.api_url = org["api_url"] if org["api_url"].endswith("/") else org["api_url"] + "/"
        self.ca_file = ca_file
        self.decimal_floats = decimal_floats
        self.timeout = timeout
        self.client_id = client_id or org["client_id"]
        self.client_secret = client_secret if client_secret is not None else org["client_secret"]
        self._token = None
        self._token_exp = 0.0
        self._lock = threading.Lock()
        self._ctx = ssl_context(ca_file) if self.api_url.startswith("https") else None

    # -- auth
    @property
    def scope(self):
        return self.org["url"].rstrip("/") + "/.default"

    def token_request(self, form, headers=None):
        """POST a raw form to the org's token endpoint. Returns Response."""
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return http_request("POST", self.org["token_url"], urllib.parse.urlencode(form), h,
                            ca_file=self.ca_file, timeout=self.timeout, context=self._ctx)

    def fetch_token(self):
        r = self.token_request({"client_id": self.client_id, "client_secret": self.client_secret,
                                "scope": self.scope, "grant_type": "client_credentials"})
        if r.status != 200 or not isinstance(r.body, dict) or "access_token" not in r.body:
            raise EmulatorError("token request failed: %r" % (r,))
        return r.body

    def token(self, force=False):
        with self._lock:
            if force or not self._token or time.time() > self._token_exp:
                t = self.fetch_token()
                self._token = t["access_token"]
                lifetime = int(t.get("expires_in", 3599))
                self._token_exp = time.time() + max(0, lifetime - min(60, lifetime // 2))
            return self._token

    def invalidate_token(self):
        with self._lock:
            self._token = None

    # -- requests
    def url(self, path):
        if path.startswith("http://") or path.startswith("https://"):
            return path
        return self.api_url + path.lstrip("/")

    def request(self, method, path, body=None, headers=None, auth=True, token=None,
                decimal_floats=None):
        h = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}
        if auth:
            h["Authorization"] = "Bearer " + (token or self.token())
        for k, v in (headers or {}).items():
            for existing in [x for x in h if x.lower() == k.lower()]:
                del h[existing]
            if v is not None:
                h[k] = v
        df = self.decimal_floats if decimal_floats is None else decimal_floats
        return http_request(method, self.url(path), body, h, ca_file=self.ca_file,
                            timeout=self.timeout, decimal_floats=df, context=self._ctx)

    def get(self, path, headers=None, **kw):
        return self.request("GET", path, headers=headers, **kw)

    def post(self, path, body=None, headers=None, **kw):
        return self.request("POST", path, body, headers, **kw)

    def create(self, entity_set, body, headers=None, representation=False, **kw):
        h = dict(headers or {})
        if representation:
            h["Prefer"] = "return=representation"
        return self.request("POST", entity_set, body, h, **kw)

    def patch(self, path, body, headers=None, representation=False, **kw):
        h = dict(headers or {})
        if representation:
            h["Prefer"] = "return=representation"
        return self.request("PATCH", path, body, h, **kw)

    def delete(self, path, headers=None, **kw):
        return self.request("DELETE", path, headers=headers, **kw)

    @staticmethod
    def query(select=None, filter=None, orderby=None, top=None, count=None, extra=None):
        parts = []
        if select:
            parts.append("$select=" + (select if isinstance(select, str) else ",".join(select)))
        if filter:
            parts.append("$filter=" + urllib.parse.quote(filter, safe="(),'=$"))
        if orderby:
            parts.append("$orderby=" + urllib.parse.quote(
                orderby if isinstance(orderby, str) else ",".join(orderby), safe=",$"))
        if top is not None:
            parts.append("$top=%d" % top)
        if count:
            parts.append("$count=true")
        if extra:
            parts.append(extra)
        return ("?" + "&".join(parts)) if parts else ""

    def list_all(self, entity_set, select=None, page_size=None, filter=None, orderby=None,
                 headers=None, max_pages=10000):
        """Follow @odata.nextLink. Returns (records, number_of_pages). Raises on non-200."""
        h = dict(headers or {})
        if page_size:
            h["Prefer"] = "odata.maxpagesize=%d" % page_size
        url = entity_set + self.query(select=select, filter=filter, orderby=orderby)
        records, pages = [], 0
        while url:
            r = self.request("GET", url, headers=h)
            if r.status != 200:
                raise EmulatorError("GET %s -> %r" % (url, r))
            pages += 1
            records.extend(r.body["value"])
            url = r.body.get("@odata.nextLink")
            if pages >= max_pages:
                raise EmulatorError("too many pages")
        return records, pages


# --------------------------------------------------------------------------- Emulator process


class Emulator:
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
        self.base_url = None
        self.info = None
        self.ca_file = None
        self.stdout_lines = []
        self.stderr_path = os.path.join(self.state_dir, "emulator.stderr.log")
        self.stdout_path = os.path.join(self.state_dir, "emulator.stdout.log")
        self._apis = {}

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

    # -- orgs / clients
    def org_names(self):
        return list(self.info["orgs"].keys())

    def org(self, name=None):
        orgs = self.info["orgs"]
        if name is None:
            name = next(iter(orgs))
        return orgs[name]

    def api(self, name=None, new=False, **kw):
        """WebApi for org `name` (default: first org); cached unless new=True or kwargs given."""
        if name is None:
            name = self.org_names()[0]
        if new or kw:
            return WebApi(self.org(name), ca_file=self.ca_file, **kw)
        if name not in self._apis:
            self._apis[name] = WebApi(self.org(name), ca_file=self.ca_file)
        return self._apis[name]

    # -- raw + control endpoints
    def http(self, method, path_or_url, body=None, headers=None, **kw):
        url = path_or_url if "://" in path_or_url else self.base_url + "/" + path_or_url.lstrip("/")
        return http_request(method, url, body, headers, ca_file=self.ca_file, **kw)

    def _control(self, method, path, body=None):
        r = self.http(method, "/_emulator/" + path.lstrip("/"), body,
                      {"Accept": "application/json"})
        if r.status >= 300:
            raise EmulatorError("%s /_emulator/%s -> %r" % (method, path, r))
        return r.body

    def stats(self):
        return self._control("GET", "stats")

    def reset_stats(self):
        r = self.http("POST", "/_emulator/stats/reset", {})
        if r.status == 404:
            r = self.http("POST", "/_emulator/stats", {"reset": True})
        if r.status == 404 or r.status == 405:
            r = self.http("DELETE", "/_emulator/stats")
        if r.status >= 300:
            raise EmulatorError("reset stats -> %r" % (r,))
        return r.body

    def faults(self, **kw):
        return self._control("POST", "faults", kw)

    def clear_faults(self):
        return self._control("POST", "faults", {"reset": True})

    def get_faults(self):
        return self._control("GET", "faults")

    def revoke_refresh_tokens(self, org=None):
        if org is None:
            org = self.org_names()[0]
        return self._control("POST", "orgs/%s/revoke-refresh-tokens" % org, {})

    def control_post(self, org, action, body=None):
        """POST /_emulator/orgs/<org>/<action> (e.g. secret-expired, expire-change-tracking)."""
        return self._control("POST", "orgs/%s/%s" % (org, action), body or {})

    def record(self, org, entity_set, record_id):
        """One record as the Web API renders it (control endpoint, no auth/stats), or None."""
        r = self.http("GET", "/_emulator/orgs/%s/%s/%s" % (org, entity_set, record_id), None,
                      {"Accept": "application/json"})
        if r.status == 404:
            return None
        if r.status != 200:
            raise EmulatorError("record %s/%s/%s -> %r" % (org, entity_set, record_id, r))
        return r.body

    def records(self, org, entity_set):
        """All records of a set as the Web API returns them (control endpoint, else paging)."""
        r = self.http("GET", "/_emulator/orgs/%s/%s" % (org, entity_set), None,
                      {"Accept": "application/json"})
        if r.status == 200 and isinstance(r.body, (dict, list)):
            return r.body["value"] if isinstance(r.body, dict) else r.body
        recs, _ = self.api(org).list_all(entity_set)
        return recs


# --------------------------------------------------------------------------- assertion helpers

GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
GUID_ANYCASE_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def assert_odata_error(resp, status, code=None, message=None, contains=None):
    """Assert a Web API error: HTTP status, {"error":{"code","message"}} shape.

    code: a string or a tuple of accepted codes; message: exact text; contains: substring(s).
    """
    assert resp.status == status, "expected HTTP %d, got %r" % (status, resp)
    err = resp.error
    assert err is not None, "no {'error': {...}} JSON body in %r" % (resp,)
    assert "code" in err and "message" in err, err
    if code is not None:
        codes = (code,) if isinstance(code, str) else tuple(code)
        assert err["code"] in codes or err["code"].lower() in [c.lower() for c in codes], \
            "error code %r not in %r (message %r)" % (err["code"], codes, err["message"])
    if message is not None:
        assert err["message"] == message, "message %r != %r" % (err["message"], message)
    if contains is not None:
        for c in ([contains] if isinstance(contains, str) else contains):
            assert c in err["message"], "%r not in message %r" % (c, err["message"])
    return err


# --------------------------------------------------------------------------- $batch helpers


def batch_body(boundary, parts, final_crlf=True):
    """Build a multipart/mixed $batch body with CRLF line ends.

    parts: list of either
      ("request", method, url, headers_dict, body_or_None, content_id_or_None)  # top-level request
      ("changeset", changeset_boundary, [ (method, url, headers, body, content_id), ... ])
    """
    L = []

    def req_lines(method, url, headers, body, content_id):
        out = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
        if content_id is not None:
            out.append("Content-ID: %s" % content_id)
        out += ["", "%s %s HTTP/1.1" % (method, url)]
        h = dict(headers or {})
        if body is not None and not any(k.lower() == "content-type" for k in h):
            h["Content-Type"] = "application/json;type=entry"
        for k, v in h.items():
            out.append("%s: %s" % (k, v))
        out.append("")
        if body is not None:
            out.append(body if isinstance(body, str) else json.dumps(body))
        return out

    for p in parts:
        L.append("--" + boundary)
        if p[0] == "request":
            _, method, url, headers, body, cid = p
            L += req_lines(method, url, headers, body, cid)
        else:
            _, cs, reqs = p
            L.append("Content-Type: multipart/mixed;boundary=%s" % cs)
            L.append("")
            for method, url, headers, body, cid in reqs:
                L.append("--" + cs)
                L += req_lines(method, url, headers, body, cid)
            L.append("--%s--" % cs)
        L.append("")
    L.append("--%s--" % boundary)
    text = "\r\n".join(L)
    if final_crlf:
        text += "\r\n"
    return text.encode("utf-8")


class BatchPart:
    def __init__(self, headers, status, reason, http_headers, body, in_changeset):
        self.headers = headers            # MIME part headers (Headers)
        self.status = status              # inner HTTP status
        self.reason = reason
        self.http_headers = http_headers  # inner HTTP response headers (Headers)
        self.body = body                  # parsed JSON or raw text
        self.in_changeset = in_changeset

    @property
    def content_id(self):
        return self.headers.get("Content-ID")

    def __repr__(self):
        return "BatchPart(%s %s, cid=%s, body=%r)" % (self.status, self.reason, self.content_id,
                                                    str(self.body)[:200])


def _boundary_of(ctype):
    m = re.search(r'boundary="?([^";]+)"?', ctype or "", re.I)
    return m.group(1) if m else None


def _split_multipart(text, boundary):
    chunks = re.split(r"(?:\r?\n)?--" + re.escape(boundary) + r"(--)?[ \t]*(?:\r?\n|$)", text)
    # re.split with a group yields [pre, g, chunk, g, chunk, ...]
    out = []
    i = 1
    while i < len(chunks):
        closing = chunks[i]
        content = chunks[i + 1] if i + 1 < len(chunks) else ""
        if closing:
            break
        out.append(content)
        i += 2
    return out


def _parse_headers_block(block):
    pairs = []
    for line in block.split("\r\n"):
        if not line.strip():
            continue
        k, _, v = line.partition(":")
        pairs.append((k.strip(), v.strip()))
    return Headers(pairs)


def parse_batch_response(resp):
    """Parse a $batch response (Response) into a flat list of BatchPart."""
    raw = resp.raw.decode("utf-8") if isinstance(resp.raw, (bytes, bytearray)) else resp.raw
    boundary = _boundary_of(resp.headers.get("Content-Type"))
    assert boundary, "no multipart boundary in %r" % resp.headers.get("Content-Type")
    parts = []

    def walk(text, bnd, in_cs):
        for chunk in _split_multipart(text, bnd):
            head, _, rest = chunk.partition("\r\n\r\n")
            h = _parse_headers_block(head)
            ct = h.get("Content-Type") or ""
            if ct.lower().startswith("multipart/mixed"):
                walk(rest, _boundary_of(ct), True)
                continue
            status_line, _, rest2 = rest.partition("\r\n")
            m = re.match(r"HTTP/1\.1 (\d{3}) ?(.*)", status_line)
            assert m, "bad status line in batch part: %r" % status_line
            ihead, _, ibody = rest2.partition("\r\n\r\n")
            ih = _parse_headers_block(ihead)
            body = ibody.strip("\r\n")
            if body:
                try:
                    body = json.loads(body)
                except ValueError:
                    pass
            parts.append(BatchPart(h, int(m.group(1)), m.group(2), ih, body, in_cs))

    walk(raw, boundary, False)
    return parts


# --------------------------------------------------------------------------- auth helpers
# Certificates and client assertions (private_key_jwt), PKCE, and the auth control endpoints
# (/_emulator/orgs/<org>/certificates, auth-fault, authorize-outcome, user-policy, not-member,
# resource-missing).  RSA signing is pure Python (the private key is read from its PEM).

import base64 as _base64
import hashlib as _hashlib
import secrets as _secrets
import uuid as _uuid


def make_certificate(directory, name="client", days=365, cn=None, bits=2048):
    """A self-signed RSA certificate made with the openssl CLI in `directory`.

    Returns {"cert_path", "key_path", "cert_pem", "key_pem"}."""
    key_path = os.path.join(directory, "%s.key" % name)
    cert_path = os.path.join(directory, "%s.pem" % name)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:%d" % bits, "-nodes", "-keyout", key_path,
                    "-out", cert_path, "-days", str(days), "-subj", "/CN=%s" % (cn or "dynfs-test-" + name)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.chmod(key_path, 0o600)
    with open(cert_path) as f:
        cert_pem = f.read()
    with open(key_path) as f:
        key_pem = f.read()
    return {"cert_path": cert_path, "key_path": key_path, "cert_pem": cert_pem, "key_pem": key_pem}


def _b64url(data):
    return _base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _tlv(buf, pos):
    tag, ln = buf[pos], buf[pos + 1]
    pos += 2
    if ln & 0x80:
        k = ln & 0x7F
        ln = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    return tag, pos, pos + ln


def _seq_items(buf, start, end):
    out = []
    while start < end:
        t, cs, ce = _tlv(buf, start)
        out.append((t, cs, ce))
        start = ce
    return out


def _pem_der(pem, label):
    m = re.search(r"-----BEGIN %s-----(.*?)-----END %s-----" % (label, label), pem, re.S)
    return _base64.b64decode("".join(m.group(1).split())) if m else None


def rsa_private_key(key_pem):
    """(n, e, d) of an RSA private key PEM (PKCS#8 "PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY")."""
    der = _pem_der(key_pem, "PRIVATE KEY")
    if der is not None:
        _, cs, ce = _tlv(der, 0)
        items = _seq_items(der, cs, ce)
        der = der[items[2][1]:items[2][2]]          # OCTET STRING holding RSAPrivateKey
    else:
        der = _pem_der(key_pem, "RSA PRIVATE KEY")
    _, cs, ce = _tlv(der, 0)
    ints = [int.from_bytes(der[a:b], "big") for _, a, b in _seq_items(der, cs, ce)]
    return ints[1], ints[2], ints[3]


def cert_thumbprints(cert_pem):
    """{"x5t": b64url(SHA-1(DER)), "x5t#S256": b64url(SHA-256(DER))} of the first certificate."""
    der = _pem_der(cert_pem, "CERTIFICATE")
    return {"x5t": _b64url(_hashlib.sha1(der).digest()), "x5t#S256": _b64url(_hashlib.sha256(der).digest())}


def rsa_sign(key_pem, data, alg="RS256"):
    """RS256 (PKCS#1 v1.5) or PS256 (PSS, MGF1-SHA-256, 32-byte salt) signature of `data`."""
    n, _, d = rsa_private_key(key_pem)
    k = (n.bit_length() + 7) // 8
    h = _hashlib.sha256(data).digest()
    if alg == "RS256":
        t = bytes.fromhex("3031300d060960864801650304020105000420") + h
        em = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    elif alg == "PS256":
        em_bits = n.bit_length() - 1
        em_len = (em_bits + 7) // 8
        salt = _secrets.token_bytes(32)
        hh = _hashlib.sha256(b"\x00" * 8 + h + salt).digest()
        db = b"\x00" * (em_len - 32 - 32 - 2) + b"\x01" + salt
        mask, c = b"", 0
        while len(mask) < len(db):
            mask += _hashlib.sha256(hh + c.to_bytes(4, "big")).digest()
            c += 1
        masked = bytearray(a ^ b for a, b in zip(db, mask))
        masked[0] &= 0xFF >> (8 * em_len - em_bits)
        em = bytes(masked) + hh + b"\xbc"
    else:
        raise ValueError("alg must be RS256 or PS256")
    return pow(int.from_bytes(em, "big"), d, n).to_bytes(k, "big")


def client_assertion(cert, client_id, audience, alg="RS256", thumbprint="x5t", lifetime=600, now=None,
                     claims=None, header=None, jti=None, drop=()):
    """A signed client assertion (JWT) as Entra's "certificate credentials" describe it.

    cert: a make_certificate() dict; thumbprint: "x5t" (SHA-1) or "x5t#S256"; claims/header:
    extra or overriding values; drop: claim names to leave out (e.g. ("jti",))."""
    now = int(time.time()) if now is None else int(now)
    head = {"alg": alg, "typ": "JWT"}
    head[thumbprint] = cert_thumbprints(cert["cert_pem"])[thumbprint]
    head.update(header or {})
    body = {"aud": audience, "iss": client_id, "sub": client_id, "jti": jti or str(_uuid.uuid4()),
            "nbf": now, "iat": now, "exp": now + lifetime}
    body.update(claims or {})
    for k in drop:
        body.pop(k, None)
    signing_input = (_b64url(json.dumps(head, separators=(",", ":")).encode()) + "." +
                     _b64url(json.dumps(body, separators=(",", ":")).encode()))
    return signing_input + "." + _b64url(rsa_sign(cert["key_pem"], signing_input.encode(), alg))


def pkce_pair(verifier=None):
    """(code_verifier, S256 code_challenge)."""
    verifier = verifier or _b64url(_secrets.token_bytes(48))
    return verifier, _b64url(_hashlib.sha256(verifier.encode()).digest())


def _emu_add_certificate(self, org, cert_pem, start=None, end=None):
    """POST /_emulator/orgs/<org>/certificates; returns {"x5t", "x5t#S256", "certificates": [...]}."""
    if start is None and end is None:
        r = self.http("POST", "/_emulator/orgs/%s/certificates" % org, cert_pem,
                      {"Content-Type": "application/x-pem-file", "Accept": "application/json"})
    else:
        r = self.http("POST", "/_emulator/orgs/%s/certificates" % org, {"pem": cert_pem, "start": start, "end": end})
    if r.status != 200:
        raise EmulatorError("add certificate -> %r" % (r,))
    return r.body


def _emu_remove_certificates(self, org):
    return self._control("DELETE", "orgs/%s/certificates" % org)


def _emu_auth_fault(self, org, aadsts=None, sticky=False):
    """Next eligible token request of `org` fails with AADSTS `aadsts` (sticky: until cleared)."""
    return self.control_post(org, "auth-fault", {"aadsts": aadsts, "sticky": sticky} if aadsts else {"aadsts": None})


def _emu_authorize_outcome(self, org, error=None, error_description=None):
    return self.control_post(org, "authorize-outcome", {"error": error, "error_description": error_description}
                             if error else {"error": None})


def _emu_user_policy(self, org, mfa=None, block=False):
    return self.control_post(org, "user-policy", {"mfa": mfa, "block": block})


def _emu_resource_missing(self, org, missing=True):
    return self.control_post(org, "resource-missing", {"missing": missing})


def _emu_not_member(self, org, principal=None, member=False):
    """principal: "app", "user", an object id or a client id; None clears the list."""
    return self.control_post(org, "not-member", {"principal": principal, "member": member}
                             if principal else {"principal": None})


def _emu_authorize(self, org, client_id=None, redirect_uri="http://127.0.0.1:8400/", scope=None, state=None,
                   code_challenge=None, method="S256", extra=None, url=None):
    """GET the authorize URL like a signed-in browser that does not follow the redirect.

    Returns (Response, params): params is the parsed query of the Location header ({} if none)."""
    o = self.org(org)
    q = {"client_id": client_id or o["public_client_id"], "response_type": "code", "redirect_uri": redirect_uri,
         "scope": scope or o["url"] + "/user_impersonation offline_access openid"}
    if state is not None:
        q["state"] = state
    if code_challenge is not None:
        q["code_challenge"] = code_challenge
        if method is not None:
            q["code_challenge_method"] = method
    q.update(extra or {})
    target = (url or o["authorize_url"]) + "?" + urllib.parse.urlencode({k: v for k, v in q.items() if v is not None})
    r = http_request("GET", target, ca_file=self.ca_file)
    loc = r.headers.get("Location") or ""
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query, keep_blank_values=True)) if loc else {}
    return r, params


Emulator.add_certificate = _emu_add_certificate
Emulator.remove_certificates = _emu_remove_certificates
Emulator.auth_fault = _emu_auth_fault
Emulator.authorize_outcome = _emu_authorize_outcome
Emulator.user_policy = _emu_user_policy
Emulator.resource_missing = _emu_resource_missing
Emulator.not_member = _emu_not_member
Emulator.authorize = _emu_authorize
