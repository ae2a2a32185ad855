"""HTTP clients for the Dataverse + Entra ID emulator (tests/emulator/dvemu.py).

- http_request(): one request on a fresh connection, returns a Response
  (status, headers, body) with JSON bodies parsed;
- WebApi: a small Dataverse Web API client for one org (client-credentials token);
- EmulatorClient: the emulator's control surface (/_emulator/...: stats, faults, auth
  outcomes, certificates) and a browser-like authorize request; lib.emuproc.Emulator is the
  running process that is also such a client;
- checks of Web API answers: assert_odata_error(), GUID_RE, DATETIME_RE.

Only the Python standard library is used.
"""

import decimal
import http.client
import json
import re
import ssl
import threading
import time
import urllib.parse


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


class _NamedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address that presents ``server_name`` in SNI and in the certificate check."""

    def __init__(self, host, port, server_name, **kw):
        super().__init__(host, port, **kw)
        self.server_name = server_name

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_name)


def http_request(method, url, body=None, headers=None, ca_file=None, timeout=60,
                 decimal_floats=False, context=None, server_name=None):
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
        if server_name:
            conn = _NamedHTTPSConnection(u.hostname, u.port or 443, server_name, timeout=timeout, context=ctx)
        else:
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



# --------------------------------------------------------------------------- the control surface


class EmulatorClient:
    """What a test asks a running emulator: its orgs (emulator.json), Web API clients, raw
    requests and the control endpoints (/_emulator/...).  base_url, info and ca_file are
    set by whoever knows them (lib.emuproc.Emulator once the process is ready)."""

    def __init__(self, base_url=None, info=None, ca_file=None):
        self.base_url = base_url
        self.info = info
        self.ca_file = ca_file
        self._apis = {}

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
        if "/_emulator/" in url and (self.info or {}).get("control_sni"):
            # the control surface is reached with its own server name, which the emulator's
            # TLS faults spare (tests/emulator/control.py TlsFaults)
            kw.setdefault("server_name", self.info["control_sni"])
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

    def rule(self, **spec):
        """Add a targeted fault (POST /_emulator/rules, see tests/emulator/faultrules.py);
        returns the rule with its id and counters."""
        return self._control("POST", "rules", spec)["rules"][0]

    def rules(self):
        """Every rule with its counters (matched, fired, active)."""
        return self._control("GET", "rules")["rules"]

    def rule_state(self, rid):
        return self._control("GET", "rules/%d" % rid)

    def clear_rules(self, rid=None):
        """Delete rule RID, or all rules (waiting answers end at once)."""
        return self._control("DELETE", "rules" if rid is None else "rules/%d" % rid)

    def tls_mode(self, mode=None, stall_s=None, reset=False):
        """The certificate the emulator serves (POST /_emulator/tls): "good", "wrong_host",
        "expired", "unknown_ca" or "stall" (no ServerHello for stall_s seconds).  Without
        arguments, only the current state and handshake counts."""
        body = {k: v for k, v in (("mode", mode), ("stall_s", stall_s)) if v is not None}
        if reset:
            body["reset"] = True
        return self._control("POST" if body else "GET", "tls", body or None)

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

    def history(self, org, entity_set, record_id, column):
        """The value COLUMN had after each create or update the Web API carried out on the
        record, oldest first: a value set once appears once."""
        r = self.http("GET", "/_emulator/orgs/%s/%s/%s?history=%s" % (org, entity_set, record_id,
                                                                      column), None,
                      {"Accept": "application/json"})
        if r.status != 200:
            raise EmulatorError("history of %s/%s/%s -> %r" % (org, entity_set, record_id, r))
        return r.body["history"]

    def writes(self, org, entity_set, record_id):
        """How many creates and updates the Web API carried out on the record since the
        emulator started (0 for a sample row never written; counted after a delete too)."""
        r = self.http("GET", "/_emulator/orgs/%s/%s/%s" % (org, entity_set, record_id), None,
                      {"Accept": "application/json"})
        if r.status not in (200, 404):
            raise EmulatorError("record %s/%s/%s -> %r" % (org, entity_set, record_id, r))
        return int(r.headers.get("X-Dvemu-Writes") or 0)

    def records(self, org, entity_set):
        """All records of a set as the Web API returns them (control endpoint, else paging)."""
        r = self.http("GET", "/_emulator/orgs/%s/%s" % (org, entity_set), None,
                      {"Accept": "application/json"})
        if r.status == 200 and isinstance(r.body, (dict, list)):
            return r.body["value"] if isinstance(r.body, dict) else r.body
        recs, _ = self.api(org).list_all(entity_set)
        return recs


    # -- auth control endpoints (/_emulator/orgs/<org>/...)
    def add_certificate(self, org, cert_pem, start=None, end=None):
        """POST /_emulator/orgs/<org>/certificates; returns {"x5t", "x5t#S256", "certificates": [...]}."""
        if start is None and end is None:
            r = self.http("POST", "/_emulator/orgs/%s/certificates" % org, cert_pem,
                          {"Content-Type": "application/x-pem-file", "Accept": "application/json"})
        else:
            r = self.http("POST", "/_emulator/orgs/%s/certificates" % org,
                          {"pem": cert_pem, "start": start, "end": end})
        if r.status != 200:
            raise EmulatorError("add certificate -> %r" % (r,))
        return r.body

    def remove_certificates(self, org):
        return self._control("DELETE", "orgs/%s/certificates" % org)

    def auth_fault(self, org, aadsts=None, sticky=False):
        """Next eligible token request of `org` fails with AADSTS `aadsts` (sticky: until
        cleared); no aadsts clears it."""
        return self.control_post(org, "auth-fault",
                                 {"aadsts": aadsts, "sticky": sticky} if aadsts else {"aadsts": None})

    def authorize_outcome(self, org, error=None, error_description=None):
        return self.control_post(org, "authorize-outcome",
                                 {"error": error, "error_description": error_description}
                                 if error else {"error": None})

    def user_policy(self, org, mfa=None, block=False):
        return self.control_post(org, "user-policy", {"mfa": mfa, "block": block})

    def resource_missing(self, org, missing=True):
        return self.control_post(org, "resource-missing", {"missing": missing})

    def not_member(self, org, principal=None, member=False):
        """principal: "app", "user", an object id or a client id; None clears the list."""
        return self.control_post(org, "not-member", {"principal": principal, "member": member}
                                 if principal else {"principal": None})

    def authorize(self, org, client_id=None, redirect_uri="http://127.0.0.1:8400/", scope=None,
                  state=None, code_challenge=None, method="S256", extra=None, url=None):
        """GET the authorize URL like a signed-in browser that does not follow the redirect.

        Returns (Response, params): params is the parsed query of the Location header ({} if none)."""
        o = self.org(org)
        q = {"client_id": client_id or o["public_client_id"], "response_type": "code",
             "redirect_uri": redirect_uri,
             "scope": scope or o["url"] + "/user_impersonation offline_access openid"}
        if state is not None:
            q["state"] = state
        if code_challenge is not None:
            q["code_challenge"] = code_challenge
            if method is not None:
                q["code_challenge_method"] = method
        q.update(extra or {})
        target = (url or o["authorize_url"]) + "?" + urllib.parse.urlencode(
            {k: v for k, v in q.items() if v is not None})
        r = http_request("GET", target, ca_file=self.ca_file)
        loc = r.headers.get("Location") or ""
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query,
                                             keep_blank_values=True)) if loc else {}
        return r, params


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

