#!/usr/bin/python3
"""dvemu - a local emulator of the Dataverse Web API and Entra ID for dynfs tests.

Usage:
  /usr/bin/python3 tests/emulator/dvemu.py --state-dir DIR [--port 0] [--tls]
      [--orgs contoso,fabrikam] [--records accounts=2000,contacts=500] [--seed N]
      [--latency-ms N] [--record-cost-us N] [--column-cost-us N] [--dop-hint N] [--capacity N]
      [--ids sequential|random|mixed] [--token-lifetime S] [--onprem a,b] [-v]

When ready it writes DIR/emulator.json and DIR/dynfs.ini (atomically), then prints exactly
one line "ready <base url>" on stdout.  See README.md for the contract and the control
surface (/_emulator/...).  Python standard library only.

Wire behaviour follows /work/shared/docs/dataverse-protocol.md ("ref"); every module cites
the sections it implements.
"""

import argparse
import base64
import datetime
import http
import http.server
import json
import os
import re
import signal
import socket
import ssl
import struct
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
import weakref

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import control  # noqa: E402
import entra  # noqa: E402
import metadata  # noqa: E402
import odata  # noqa: E402
import faultrules  # noqa: E402
import sampledata  # noqa: E402
import store  # noqa: E402
import ntlm  # noqa: E402
import webapi  # noqa: E402
import x509  # noqa: E402

DEFAULT_RECORDS = {"accounts": 50, "contacts": 100, "annotations": 20, "new_categories": 20}
GENERATED_SETS = set(DEFAULT_RECORDS)
API_RE = re.compile(r"^/([^/]+)/api/data/(v9\.[0-2])(?:/(.*))?$", re.S)
TOKEN_RE = re.compile(r"^/([^/]+)/oauth2/v2\.0/token/?$")
DEVICECODE_RE = re.compile(r"^/([^/]+)/oauth2/v2\.0/devicecode/?$")
WELL_KNOWN_RE = re.compile(r"^/([^/]+)/v2\.0/\.well-known/openid-configuration/?$")
AUTHORIZE_RE = re.compile(r"^/([^/]+)/oauth2/v2\.0/authorize/?$")
ADFS_TOKEN_PATHS = ("/adfs/oauth2/token", "/adfs/oauth2/token/")
ADFS_WELL_KNOWN = ("/adfs/.well-known/openid-configuration", "/adfs/.well-known/openid-configuration/")

VERBOSE = False


def log(msg):
    sys.stderr.write("dvemu: %s\n" % msg)
    sys.stderr.flush()


# ================================================================================================
# Server


class Emulator:
    """Holds orgs, the directory and the control objects; shared by all handler threads."""

    def __init__(self, args):
        self.args = args
        self.catalog = metadata.Catalog()
        self.settings = control.Settings(latency_ms=float(args.latency_ms), record_cost_us=float(args.record_cost_us),
                                         column_cost_us=float(args.column_cost_us), dop_hint=int(args.dop_hint),
                                         capacity=int(args.capacity),
                                         token_lifetime=int(args.token_lifetime), seed=int(args.seed))
        self.stats = control.Stats()
        self.limiter = control.Limiter(self.settings)
        self.capacity = control.Capacity(self.settings)
        self.rules = faultrules.Rules()
        self.orgs = {}
        for name in args.orgs:
            org = store.Org(name, args.seed, self.catalog)
            sampledata.Generator(org, args.seed, args.ids).populate(args.records)
            org.renderer = webapi.full_json
            org.warm()
            self.orgs[name] = org
        self.directory = None
        self.base_url = None
        self.ca_file = None
        self.onprem = set(args.onprem)        # orgs whose Web API wants Windows authentication (NTLM)
        for org in self.orgs.values():
            org.ntlm_domain = org.name.upper().replace("-", "")[:15]   # NetBIOS domain name
            org.ntlm_username = "admin"

    def bind_urls(self, base_url):
        self.base_url = base_url
        for org in self.orgs.values():
            org.url = "%s/%s" % (base_url, org.name)
            org.api_root = org.url + "/api/data/v9.2/"
        self.directory = entra.Directory(self.orgs, self.settings)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, addr, handler, emu, tls=None):
        self.emu = emu
        self.tls = tls                    # control.TlsFaults, or None for plain HTTP
        self.resets = weakref.WeakSet()   # connections to end with a TCP RST (faultrules)
        super().__init__(addr, handler)

    def shutdown_request(self, request):
        # A shutdown() would send a FIN first; a reset connection is closed with linger 0
        # and nothing else, so the client sees ECONNRESET.
        if request in self.resets:
            self.close_request(request)
            return
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        if VERBOSE:
            super().handle_error(request, client_address)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, a kept-alive
    # connection would hold the body until the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server_version = "dvemu/1.0"
    sys_version = ""
    timeout = 300

    def version_string(self):
        return self.server_version

    def setup(self):
        tls = self.server.tls
        if tls is not None:
            # TLS handshake in the handler thread so a slow client (or a stall fault) never
            # blocks accept()
            self.request.settimeout(30)
            self.request = tls.context.wrap_socket(self.request, server_side=True)
        super().setup()

    def log_message(self, fmt, *args):
        if VERBOSE:
            log("%s %s" % (self.address_string(), fmt % args))

    # -- plumbing ----------------------------------------------------------------------------
    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:
                        trailer = self.rfile.readline(65537)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status, headers, body=b""):
        rule, self._rule = getattr(self, "_rule", None), None
        if rule is not None:
            # a rule with "apply": the request was carried out; its answer is spoilt
            return self._deliver(rule, *rule.answer(status, headers, body))
        self.send_response(status, http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_
                           else "")
        has_len = False
        for k, v in headers:
            if k.lower() == "content-length":
                has_len = True
            self.send_header(k, v)
        if status not in (204, 304) and not has_len:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)
        self.wfile.flush()

    def _json(self, status, obj, extra=None):
        self._send(status, [("Content-Type", "application/json; charset=utf-8")] + (extra or []),
                   json.dumps(obj, ensure_ascii=False).encode("utf-8"))

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self):
        self._dispatch()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _dispatch(self):
        try:
            self._dispatch_inner()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # an emulator bug: answer 500 and keep serving
            if VERBOSE:
                import traceback
                traceback.print_exc()
            self.close_connection = True
            try:
                self._send(500, [("Content-Type", "application/json; charset=utf-8")],
                           json.dumps({"error": {"code": "0x80040216", "message": "dvemu internal error: %s"
                                                 % e}}).encode())
            except OSError:
                pass

    def _dispatch_inner(self):
        emu = self.server.emu
        self.op = None          # stats op of this request (control.OPS), set for Web API calls
        self._rule = None       # a faultrules.Rule with "apply" that spoils this request's answer
        split = urllib.parse.urlsplit(self.path)
        path, query = split.path, split.query
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self._send(400, [("Content-Type", "text/plain")], b"Bad Request")
            return
        if path.startswith("/_emulator/") or path == "/_emulator":
            return self._control(emu, path, query, body)
        rule = emu.rules.pick(self.command, urllib.parse.unquote(self.path))
        if rule is not None:
            self.close_connection = True
            if not rule.apply:
                return self._spoil(emu, rule, path, query)
            self._rule = rule
        if path in ADFS_TOKEN_PATHS:
            return self._adfs_token(emu, body)
        if path in ADFS_WELL_KNOWN:
            return self._adfs_well_known(emu)
        m = TOKEN_RE.match(path)
        if m:
            return self._token(emu, urllib.parse.unquote(m.group(1)), body, endpoint=emu.base_url + path)
        m = AUTHORIZE_RE.match(path)
        if m:
            return self._authorize(emu, urllib.parse.unquote(m.group(1)), query)
        m = DEVICECODE_RE.match(path)
        if m:
            return self._token(emu, urllib.parse.unquote(m.group(1)), body, device=True)
        m = WELL_KNOWN_RE.match(path)
        if m:
            return self._well_known(emu, m.group(1))
        m = API_RE.match(path)
        if m and m.group(1) in emu.orgs:
            return self._webapi(emu, emu.orgs[m.group(1)], m.group(2), urllib.parse.unquote(m.group(3) or ""),
                                query, body)
        self._send(404, [("Content-Type", "text/html")], b"<html><body><h1>404 - Not Found</h1></body></html>")

    # -- faults ------------------------------------------------------------------------------
    def _faults(self, emu, org_name, kind, entra_style=False):
        """Apply probabilistic faults and latency.  Returns True if the request was consumed."""
        fault, status = emu.settings.draw_fault()
        if fault == "drop":
            emu.stats.record(org_name, kind, "dropped", op=self.op)
            self._drop()
            return True
        if fault is None:
            return False
        self._latency(emu)
        if fault == "server_error":
            emu.stats.record(org_name, kind, status, op=self.op)
            bodies = {
                503: (b"<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/strict.dtd\">"
                      b"\r\n<HTML><HEAD><TITLE>Service Unavailable</TITLE>\r\n<META HTTP-EQUIV=\"Content-Type\" "
                      b"Content-Type=\"text/html; charset=us-ascii\"></HEAD>\r\n<BODY><h2>Service Unavailable</h2>"
                      b"\r\n<hr><p>HTTP Error 503. The service is unavailable.</p>\r\n</BODY></HTML>\r\n", "text/html"),
                502: (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
                      b"Gateway</h1></center>\r\n</body>\r\n</html>\r\n", "text/html"),
                504: (b"The gateway did not receive a response from the object in time.", "text/plain"),
            }
            b, ct = bodies[status]
            self._send(status, [("Content-Type", ct), ("x-ms-service-request-id", str(uuid.uuid4()))], b)
            return True
        if fault == "throttle":
            ra = str(int(emu.settings.get("retry_after")))
            emu.stats.record(org_name, kind, 429, op=self.op)
            if entra_style:
                e = entra.EntraError(50196, "temporarily_unavailable",
                                     "The server terminated an operation because it encountered a client request "
                                     "loop. Please contact your app vendor.", status=429)
                self._json(429, entra.error_body(e), [("Retry-After", ra), ("Cache-Control", "no-store, no-cache")])
            else:
                limit = int(emu.settings.get("budget_requests"))
                window = int(emu.settings.get("budget_window"))
                body = {"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit of %d over "
                                                                     "time window of %d seconds." % (limit, window)}}
                self._send(429, self._common() + [("Content-Type", webapi.JSON_CT), ("Retry-After", ra)],
                           odata.dumps(body))
            return True
        return False

    # -- targeted faults (faultrules.py) -----------------------------------------------------
    def _stats_key(self, emu, path, query):
        """(org, kind, op) under which a request a rule answered instead is counted."""
        m = API_RE.match(path)
        if m and m.group(1) in emu.orgs:
            rest = urllib.parse.unquote(m.group(3) or "")
            kind = webapi.classify(self.command, rest)
            if kind == "update" and self.command == "PATCH" and not self.headers.get("If-Match"):
                kind = "upsert"
            return m.group(1), kind, webapi.op_of(kind, rest, query)
        for rx in (TOKEN_RE, DEVICECODE_RE):
            m = rx.match(path)
            if m:
                d = emu.directory.by_tenant.get(urllib.parse.unquote(m.group(1)))
                return (d.name if d is not None else None), "token", None
        if path in ADFS_TOKEN_PATHS:
            return None, "token", None
        return None, "other", None

    def _spoil(self, emu, rule, path, query):
        """A rule without "apply": the request is not carried out; the rule answers."""
        org, kind, op = self._stats_key(emu, path, query)
        status, headers, body = rule.answer()
        lost = rule.deliver in ("reset", "close", "silent")
        emu.stats.record(org, kind, "dropped" if lost else status, op=op)
        self._deliver(rule, status, headers, body)

    def _reset(self):
        """End the connection with a TCP RST (see Server.shutdown_request)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.server.resets.add(self.connection)

    def _deliver(self, rule, status, headers, body):
        """Send STATUS, HEADERS, BODY the way RULE says (faultrules.py)."""
        spec = rule.spec
        self.close_connection = True
        rule.wait(float(spec.get("delay_ms", 0)) / 1000.0)
        how = rule.deliver
        if how == "reset":
            return self._reset()
        if how == "close":
            return self._drop()
        if how == "silent":
            rule.wait(float(spec.get("seconds", 600)))
            return self._drop()
        if self.command == "HEAD":
            body = b""
        self.send_response(status, http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_
                           else "")
        for k, v in headers:
            self.send_header(k, v)
        if "content_length" in spec:
            self.send_header("Content-Length", str(spec["content_length"]))
        elif status not in (204, 304) or body:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        if how in ("truncate", "stall"):
            self.wfile.write(body[:spec.get("bytes", len(body) // 2)])
            self.wfile.flush()
            if how == "stall":
                rule.wait(float(spec.get("seconds", 600)))
            if spec.get("then") == "reset":
                return self._reset()
            return self._drop()
        if how == "trickle":
            step = spec.get("chunk", 16)
            pause = float(spec.get("interval_ms", 1000)) / 1000.0
            for i in range(0, len(body), step):
                if i:
                    rule.wait(pause)
                self.wfile.write(body[i:i + step])
                self.wfile.flush()
            return None
        if body:
            self.wfile.write(body)
        self.wfile.flush()
        return None

    def _latency(self, emu):
        """--latency-ms / faults.latency_ms: a sleep in this handler thread only."""
        lat = float(emu.settings.get("latency_ms") or 0)
        if lat > 0:
            time.sleep(lat / 1000.0)

    # -- token endpoint (ref 10) -------------------------------------------------------------
    def _token(self, emu, tenant, body, device=False, endpoint=None):
        org_name = None
        d = emu.directory.by_tenant.get(tenant)
        if d is not None:
            org_name = d.name
        if self._faults(emu, org_name, "token", entra_style=True):
            return
        self._latency(emu)
        if self.command != "POST":
            emu.stats.record(org_name, "token", 405)
            self._send(405, [("Content-Type", "text/plain"), ("Allow", "POST")], b"Method Not Allowed")
            return
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        basic = self._basic()
        if device:
            status, headers, obj = emu.directory.devicecode(tenant, form)
        else:
            status, headers, obj = emu.directory.token(tenant, form, basic, endpoint=endpoint)
        emu.stats.record(org_name, "token", status)
        self._send(status, headers, json.dumps(obj).encode("utf-8"))

    def _basic(self):
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                raw = base64.b64decode(auth[6:].strip()).decode("utf-8")
                cid, _, sec = raw.partition(":")
                return (urllib.parse.unquote_plus(cid), urllib.parse.unquote_plus(sec))
            except (ValueError, UnicodeDecodeError):
                return None
        return None

    def _authorize(self, emu, tenant, query):
        """The browser side of auth code + PKCE: never follows up, just answers 302 or an error page."""
        d = emu.directory.by_tenant.get(tenant)
        org_name = d.name if d is not None else None
        if self.command not in ("GET", "HEAD"):
            emu.stats.record(org_name, "token", 405)
            self._send(405, [("Content-Type", "text/plain"), ("Allow", "GET")], b"Method Not Allowed")
            return
        q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        out = emu.directory.authorize(tenant, q)
        if out[0] == "redirect":
            emu.stats.record(org_name, "token", 302)
            self._send(302, [("Location", out[1]), ("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache"),
                             ("Content-Type", "text/html; charset=utf-8")], b"")
        else:
            emu.stats.record(org_name, "token", out[1])
            self._send(out[1], [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache"),
                                ("Content-Type", "text/html; charset=utf-8")], out[2])

    # -- AD FS (ref 10.8) --------------------------------------------------------------------------
    def _adfs_token(self, emu, body):
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        org_name = None
        res = (form.get("resource") or "").rstrip("/").lower()
        for o in emu.orgs.values():
            if o.url.lower() == res:
                org_name = o.name
        if self._faults(emu, org_name, "token"):
            return
        self._latency(emu)
        if self.command != "POST":
            emu.stats.record(org_name, "token", 405)
            self._send(405, [("Content-Type", "text/plain"), ("Allow", "POST")], b"Method Not Allowed")
            return
        status, headers, obj = emu.directory.adfs_token(form, self._basic(), issuer=adfs_issuer(emu))
        emu.stats.record(org_name, "token", status)
        # AD FS (.NET) escapes apostrophes in JSON strings as \u0027
        self._send(status, headers, json.dumps(obj).replace("'", "\\u0027").encode("utf-8"))

    def _adfs_well_known(self, emu):
        b = emu.base_url + "/adfs"
        self._json(200, {
            "issuer": b, "authorization_endpoint": b + "/oauth2/authorize/", "token_endpoint": b + "/oauth2/token/",
            "jwks_uri": b + "/discovery/keys", "token_endpoint_auth_methods_supported":
                ["client_secret_post", "client_secret_basic", "private_key_jwt", "windows_client_authentication"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token", "code token",
                                         "code id_token token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials",
                                      "urn:ietf:params:oauth:grant-type:jwt-bearer", "implicit", "password",
                                      "srv_challenge", "urn:ietf:params:oauth:grant-type:device_code", "device_code"],
            "subject_types_supported": ["pairwise"], "scopes_supported": ["openid", "profile", "email",
                                                                           "allatclaims", "user_impersonation"],
            "id_token_signing_alg_values_supported": ["RS256"], "token_endpoint_auth_signing_alg_values_supported":
                ["RS256"], "access_token_issuer": adfs_issuer(emu), "claims_supported": ["aud", "iss", "iat", "exp",
                                                                                        "auth_time", "nonce", "at_hash",
                                                                                        "c_hash", "sub", "upn",
                                                                                        "unique_name", "pwd_url",
                                                                                        "pwd_exp", "sid"],
            "microsoft_multi_refresh_token": True, "userinfo_endpoint": b + "/userinfo",
            "capabilities": [], "end_session_endpoint": b + "/oauth2/logout",
            "as_access_token_token_binding_supported": True, "as_refresh_token_token_binding_supported": True,
            "resource_access_token_token_binding_supported": True, "op_id_token_token_binding_supported": True,
            "rp_id_token_token_binding_supported": True, "frontchannel_logout_supported": True,
            "frontchannel_logout_session_supported": True, "device_authorization_endpoint": b + "/oauth2/devicecode",
        })

    def _well_known(self, emu, tenant):
        org = emu.directory.by_tenant.get(tenant)
        tid = org.tenant_id if org else tenant
        base = emu.base_url
        self._json(200, {
            "token_endpoint": "%s/%s/oauth2/v2.0/token" % (base, tid),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "issuer": "%s/%s/v2.0" % (base, tid),
            "authorization_endpoint": "%s/%s/oauth2/v2.0/authorize" % (base, tid),
            "device_authorization_endpoint": "%s/%s/oauth2/v2.0/devicecode" % (base, tid),
            "code_challenge_methods_supported": ["plain", "S256"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "grant_types_supported": sorted(entra.GRANTS),
            "tenant_region_scope": "EU",
        })

    # -- Web API (ref 1-9) ------------------------------------------------------------------
    def _common(self):
        out = [("OData-Version", "4.0"), ("REQ_ID", str(uuid.uuid4())),
               ("x-ms-service-request-id", str(uuid.uuid4())), ("Cache-Control", "no-cache"),
               ("Access-Control-Expose-Headers", "Preference-Applied,OData-EntityId,Location,ETag,OData-Version,"
                                                 "Content-Encoding,Transfer-Encoding,Content-Length,Retry-After"),
               ("Set-Cookie", "ARRAffinity=%s; path=/; secure; HttpOnly" % ("0" * 8 + "dvemu" + "0" * 51))]
        dop = int(self.server.emu.settings.get("dop_hint") or 0)
        if dop > 0:
            out.append(("x-ms-dop-hint", str(dop)))   # suggested parallelism (ref 6.2, 13)
        return out

    def _webapi(self, emu, org, version, rest, query, body):
        kind = webapi.classify(self.command, rest)
        self.op = webapi.op_of(kind, rest, query)
        hdrs = {k.lower(): v for k, v in self.headers.items()}
        if "prefer" in hdrs:
            hdrs["prefer"] = ", ".join(self.headers.get_all("Prefer"))
        if kind == "update" and self.command == "PATCH" and "if-match" not in hdrs:
            kind = "upsert"
        if self._faults(emu, org.name, kind):
            return
        if org.name in emu.onprem:
            claims = self._windows_auth(emu, org, kind)
            if claims is None:
                return
        else:
            auth = self.headers.get("Authorization", "")
            claims = None
            if auth[:7].lower() == "bearer ":
                try:
                    claims = emu.directory.verify(auth[7:].strip(), org)
                except ValueError:
                    claims = None
            if claims is None:
                # ref 10.7: challenge naming the authority and the resource; empty body
                challenge = "Bearer authorization_uri=%s/%s/oauth2/authorize, resource_id=%s/" % (
                    emu.base_url, org.tenant_id, org.url)
                emu.stats.record(org.name, kind, 401, op=self.op)
                self._send(401, self._common() + [("WWW-Authenticate", challenge), ("Content-Length", "0")], b"")
                return
        principal = claims.get("oid")
        if principal in org.not_members or claims.get("appid") in org.not_members:
            # no application user / systemuser for this principal in the environment (ref 5.3)
            emu.stats.record(org.name, kind, 403, op=self.op)
            self._send(403, self._common() + [("Content-Type", webapi.JSON_CT)],
                       odata.dumps({"error": {"code": "0x80072560",
                                              "message": "The user is not a member of the organization."}}))
            return
        denied = emu.limiter.enter(principal)
        if denied is not None:
            retry, code, msg = denied
            emu.stats.record(org.name, kind, 429, op=self.op)
            self._send(429, self._common() + [("Content-Type", webapi.JSON_CT), ("Retry-After", str(retry))],
                       odata.dumps({"error": {"code": code, "message": msg}}))
            return
        start = time.monotonic()
        emu.stats.enter()
        try:
            self._latency(emu)  # inside the concurrency window, like slow server work
            api = "%s/api/data/%s/" % (org.url, version)
            full = "%s%s%s" % (emu.base_url, self.path.split("?", 1)[0], ("?" + query) if query else "")
            call = webapi.Call(org, self.command, rest, query, hdrs, body, api, principal=claims,
                               settings=emu.settings, full_url=full, capacity=emu.capacity)
            try:
                resp = webapi.handle(call)
            except Exception as e:  # pragma: no cover - emulator bug; keep serving
                if VERBOSE:
                    import traceback
                    traceback.print_exc()
                resp = webapi.error_response(odata.ODataError(500, "0x80040216", "An unexpected error occurred: %s"
                                                              % e))
            if call.kind == "update" and self.command == "PATCH" and "if-match" not in hdrs:
                call.kind = "upsert"
        finally:
            emu.stats.leave()
            emu.limiter.leave(principal, time.monotonic() - start)
        headers = self._common() + resp.headers + emu.limiter.headers(principal)
        emu.stats.record(org.name, call.kind or kind, resp.status, op=call.op or self.op, records=call.records,
                         nbytes=len(resp.body), server_s=float(emu.settings.get("latency_ms") or 0) / 1000.0
                         + call.cost_s)
        self._send(resp.status, headers, resp.body)

    # -- Windows authentication (on-premises, ref 10.8) -------------------------------------------
    IIS_401 = (b"<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/"
               b"xhtml1-strict.dtd\">\r\n<html xmlns=\"http://www.w3.org/1999/xhtml\">\r\n<head>\r\n"
               b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\"/>\r\n"
               b"<title>401 - Unauthorized: Access is denied due "
               b"to invalid credentials.</title>\r\n</head>\r\n<body>\r\n<div id=\"header\"><h1>Server Error</h1></div>"
               b"\r\n<div id=\"content\">\r\n <div class=\"content-container\"><fieldset>\r\n  <h2>401 - Unauthorized: "
               b"Access is denied due to invalid credentials.</h2>\r\n  <h3>You do not have permission to view this "
               b"directory or page using the credentials that you supplied.</h3>\r\n </fieldset></div>\r\n</div>\r\n"
               b"</body>\r\n</html>\r\n")

    def _windows_auth(self, emu, org, kind):
        """NTLM on an on-premises org (IIS with Windows authentication): 401 ``Negotiate`` +
        ``NTLM`` challenges; type 1 -> 401 with the type 2 challenge on the same connection;
        type 3 verified (NTLMv2) -> the connection is authenticated as the org's user for all
        later requests on it.  Returns the caller's claims, or None after answering 401."""
        def deny(challenges):
            emu.stats.record(org.name, kind, 401, op=self.op)
            self._send(401, [("Content-Type", "text/html"), ("X-Powered-By", "ASP.NET")]
                       + [("WWW-Authenticate", c) for c in challenges],
                       self.IIS_401)
            return None
        state = getattr(self, "ntlm_state", None)
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        scheme = scheme.strip().lower()
        if scheme in ("ntlm", "negotiate") and token.strip():
            try:
                msg = base64.b64decode(token.strip(), validate=True)
            except ValueError:
                msg = b""
            mtype = ntlm.message_type(msg)
            if mtype == 1:
                chal, out = ntlm.challenge(msg, org.ntlm_domain, org.domain)
                self.ntlm_state = {"org": org.name, "challenge": chal, "user": None}
                return deny(["%s %s" % ("Negotiate" if scheme == "negotiate" else "NTLM",
                                        base64.b64encode(out).decode())])
            if mtype == 3 and state and state.get("challenge") and state["org"] == org.name:
                try:
                    a = ntlm.parse_authenticate(msg)
                except ValueError:
                    a = None
                self.ntlm_state = None
                user, dom = (a["user"].lower(), a["domain"].lower()) if a else ("", "")
                known = ((user == org.ntlm_username.lower() and dom in (org.ntlm_domain.lower(), org.domain))
                         or (user == org.username and dom in ("", org.ntlm_domain.lower(), org.domain)))
                if a and known and ntlm.verify_v2(a, state["challenge"], org.password):
                    self.ntlm_state = {"org": org.name, "challenge": None, "user": a["user"]}
                    return {"oid": org.admin_object_id, "upn": org.username, "amr": ["wia"]}
            return deny(["Negotiate", "NTLM"])
        if state and state.get("user") and state["org"] == org.name:
            return {"oid": org.admin_object_id, "upn": org.username, "amr": ["wia"]}
        return deny(["Negotiate", "NTLM"])

    # -- control surface --------------------------------------------------------------------
    def _control(self, emu, path, query, body):
        parts = [p for p in path.split("/") if p][1:]
        if len(parts) == 3 and parts[0] == "orgs" and parts[1] in emu.orgs and parts[2] == "certificates":
            return self._control_certificates(emu, emu.orgs[parts[1]], body)
        try:
            data = json.loads(body) if body.strip() else {}
        except ValueError:
            return self._json(400, {"error": "body is not JSON"})
        m = self.command
        if parts == ["stats"] and m == "GET":
            return self._json(200, emu.stats.snapshot())
        if parts == ["stats", "reset"] and m == "POST":
            emu.stats.reset()
            return self._json(200, emu.stats.snapshot())
        if parts == ["faults"]:
            if m == "GET":
                return self._json(200, emu.settings.snapshot())
            if m == "POST":
                try:
                    out = emu.settings.merge(data)
                except ValueError as e:
                    return self._json(400, {"error": str(e)})
                if isinstance(data, dict) and data.get("reset"):
                    emu.rules.delete()          # a full reset ends the targeted faults too
                    if self.server.tls is not None:
                        self.server.tls.set({"reset": True})
                return self._json(200, out)
        if parts[:1] == ["rules"]:
            return self._control_rules(emu, parts[1:], data)
        if parts == ["tls"] and m in ("GET", "POST"):
            if self.server.tls is None:
                return self._json(409, {"error": "the emulator serves plain HTTP (start it with --tls)"})
            try:
                return self._json(200, self.server.tls.set(data) if m == "POST" else self.server.tls.snapshot())
            except ValueError as e:
                return self._json(400, {"error": str(e)})
        if parts == ["info"] and m == "GET":
            return self._json(200, emulator_json(emu))
        if parts == ["orgs"] and m == "GET":
            return self._json(200, sorted(emu.orgs))
        if len(parts) >= 3 and parts[0] == "orgs" and parts[1] in emu.orgs:
            org = emu.orgs[parts[1]]
            action = parts[2]
            if m == "POST" and len(parts) == 3:
                if action == "secret-expired":
                    org.secret_expired = bool(data.get("expired", True))
                    return self._json(200, {"org": org.name, "secret_expired": org.secret_expired})
                if action == "revoke-refresh-tokens":
                    emu.directory.revoke_refresh_tokens(org)
                    return self._json(200, {"org": org.name, "revoked": True})
                if action == "revoke-access-tokens":
                    # A new signing key: every access token issued so far now gets 401,
                    # as after a key rollover or a revoked session (all orgs).
                    emu.directory.rotate_signing_key()
                    return self._json(200, {"org": org.name, "revoked": True})
                if action == "issue-refresh-token":
                    emu.directory.reissue_initial_refresh_token(org)
                    return self._json(200, {"org": org.name, "refresh_token": org.refresh_token})
                if action in ("device-approve", "device-decline"):
                    code = emu.directory.device_decide(org, data.get("user_code"), action == "device-approve")
                    if code is None:
                        return self._json(404, {"error": "no pending device code"})
                    return self._json(200, {"org": org.name, "user_code": code,
                                            "state": "approved" if action == "device-approve" else "declined"})
                if action == "onprem":
                    if data.get("enabled", True):
                        emu.onprem.add(org.name)
                    else:
                        emu.onprem.discard(org.name)
                    return self._json(200, {"org": org.name, "onprem": org.name in emu.onprem})
                if action == "auth-fault":
                    try:
                        code = data.get("aadsts")
                        f = emu.directory.set_fault(org, int(code) if code is not None else None,
                                                    data.get("sticky", False))
                    except (TypeError, ValueError) as e:
                        return self._json(400, {"error": str(e)})
                    return self._json(200, {"org": org.name, "fault": f})
                if action == "authorize-outcome":
                    emu.directory.set_authorize_outcome(org, data.get("error"), data.get("error_description"))
                    return self._json(200, {"org": org.name, "outcome": data.get("error") and
                                            {"error": data["error"],
                                             "error_description": data.get("error_description", "")}})
                if action == "user-policy":
                    try:
                        pol = emu.directory.set_policy(org, data.get("mfa"), data.get("block", False))
                    except ValueError as e:
                        return self._json(400, {"error": str(e)})
                    return self._json(200, {"org": org.name, "policy": pol})
                if action == "resource-missing":
                    if data.get("missing", True):
                        emu.directory.resource_missing.add(org.name)
                    else:
                        emu.directory.resource_missing.discard(org.name)
                    return self._json(200, {"org": org.name, "resource_missing": org.name in
                                            emu.directory.resource_missing})
                if action == "not-member":
                    p = data.get("principal")
                    alias = {"app": org.app_object_id, "user": org.admin_object_id}
                    if p is None:
                        org.not_members.clear()
                    elif data.get("member"):
                        org.not_members.discard(alias.get(p, p))
                    else:
                        org.not_members.add(alias.get(p, p))
                    return self._json(200, {"org": org.name, "not_members": sorted(org.not_members)})
                if action == "expire-change-tracking":
                    with org.lock:
                        org.min_track_version = org.version + 1
                    return self._json(200, {"org": org.name, "min_version": org.min_track_version})
            ent = emu.catalog.by_set.get(action)
            if ent is not None and m == "GET" and len(parts) in (3, 4):
                call = webapi.Call(org, "GET", action, "", {}, b"", org.api_root, settings=None)
                if len(parts) == 4:
                    rec = org.get(ent.logical, parts[3].lower())
                    writes = [("X-Dvemu-Writes", str(org.writes.get((ent.logical, parts[3].lower()), 0)))]
                    column = dict(urllib.parse.parse_qsl(query)).get("history")
                    if column:
                        # what each write carried out on the record left in COLUMN, oldest first
                        hist = org.history.get((ent.logical, parts[3].lower()), [])
                        return self._json(200, {"writes": len(hist), "history": [r.get(column) for r in hist]},
                                          writes)
                    if rec is None:
                        return self._json(404, {"error": "not found"}, writes)
                    out = {"@odata.context": webapi.context_for(call, ent, None, "/$entity")}
                    out.update(webapi.render(call, ent, rec))
                    return self._send(200, [("Content-Type", "application/json; charset=utf-8")] + writes,
                                      odata.dumps(out))
                rows = sorted(org.snapshot(ent.logical), key=lambda r: odata.guid_sort_key(r[ent.pk]))
                out = {"@odata.context": webapi.context_for(call, ent, None),
                       "value": [webapi.render(call, ent, r) for r in rows]}
                return self._send(200, [("Content-Type", "application/json; charset=utf-8")], odata.dumps(out))
        return self._json(404, {"error": "unknown control endpoint %s %s" % (m, path)})


    def _control_rules(self, emu, rest, data):
        """``/_emulator/rules``: GET lists the rules with their counters, POST adds one (or a
        list, or ``{"rules": [...]}``), DELETE removes all; ``/_emulator/rules/<id>``: GET or
        DELETE one (faultrules.py)."""
        m = self.command
        if not rest:
            if m == "GET":
                return self._json(200, {"rules": emu.rules.describe()})
            if m == "POST":
                try:
                    return self._json(200, {"rules": emu.rules.add(data)})
                except ValueError as e:
                    return self._json(400, {"error": str(e)})
            if m == "DELETE":
                return self._json(200, {"deleted": emu.rules.delete()})
            return self._json(405, {"error": "GET, POST or DELETE"})
        if len(rest) == 1 and rest[0].isdigit():
            rid = int(rest[0])
            if m == "GET":
                found = [r for r in emu.rules.describe() if r["id"] == rid]
                return self._json(200, found[0]) if found else self._json(404, {"error": "no rule %d" % rid})
            if m == "DELETE":
                n = emu.rules.delete(rid)
                return self._json(200, {"deleted": n}) if n else self._json(404, {"error": "no rule %d" % rid})
            return self._json(405, {"error": "GET or DELETE"})
        return self._json(404, {"error": "unknown control endpoint"})

    def _control_certificates(self, emu, org, body):
        """``/_emulator/orgs/<org>/certificates``: POST a PEM certificate (text body, or JSON
        ``{"pem": ..., "start": epoch, "end": epoch}``) for the org's confidential app; GET lists;
        DELETE removes all."""
        d = emu.directory
        if self.command == "GET":
            return self._json(200, {"org": org.name, "certificates": d.certificates(org)})
        if self.command == "DELETE":
            return self._json(200, {"org": org.name, "removed": d.remove_certificates(org)})
        if self.command != "POST":
            return self._json(405, {"error": "GET, POST or DELETE"})
        text = body.decode("utf-8", "replace")
        start = end = None
        if text.lstrip().startswith("{"):
            try:
                obj = json.loads(text)
                text, start, end = obj["pem"], obj.get("start"), obj.get("end")
            except (ValueError, KeyError, TypeError):
                return self._json(400, {"error": "JSON body needs \"pem\""})
        try:
            added = d.register_certificate(org, text, start, end)
        except ValueError as e:
            return self._json(400, {"error": str(e)})
        out = {"org": org.name, "client_id": org.client_id, "certificates": added}
        out.update({"x5t": added[0]["x5t"], "x5t#S256": added[0]["x5t#S256"]})
        return self._json(200, out)


# ================================================================================================
# Start-up: TLS material, emulator.json, dynfs.ini


def make_tls(state_dir, mode="good", stall_s=30.0):
    """The test CA (``DIR/ca.pem``), its server certificate (SAN IP:127.0.0.1, DNS:localhost and
    the control surface's name, ``DIR/server.pem``) and the bad certificates of the TLS faults
    (see control.TlsFaults), all through x509.py and the openssl CLI."""
    d = os.path.join(state_dir, "tls")
    os.makedirs(d, exist_ok=True)
    ca = x509.make_ca(state_dir, "ca", "dvemu test CA")
    other_ca = x509.make_ca(d, "unknown-ca", "dvemu CA nobody trusts")
    names = ["IP:127.0.0.1", "DNS:localhost"]
    now = datetime.datetime.now(datetime.timezone.utc)
    certs = {
        "good": x509.make_server_cert(state_dir, "server", ca, names + ["DNS:" + control.CONTROL_SNI]),
        "wrong_host": x509.make_server_cert(d, "wrong-host", ca, ["DNS:another-host.example"]),
        "expired": x509.make_server_cert(d, "expired", ca, names, now - datetime.timedelta(days=60),
                                         now - datetime.timedelta(days=1)),
        "unknown_ca": x509.make_server_cert(d, "unknown-ca-server", other_ca, names),
    }
    contexts = {}
    for m, (crt, key) in certs.items():
        contexts[m] = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        contexts[m].load_cert_chain(crt, key)
        # No session tickets: a resumed session skips the certificate, and a client must meet
        # the certificate of the moment on each new connection (as after a server restart).
        contexts[m].options |= ssl.OP_NO_TICKET
        contexts[m].num_tickets = 0
    return control.TlsFaults(contexts, mode, stall_s), ca[0]


def atomic_write(path, text, mode=0o644):
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def adfs_issuer(emu):
    """AD FS puts ``http://<host>/adfs/services/trust`` in ``iss`` (always http)."""
    return "http://%s/adfs/services/trust" % emu.base_url.split("://", 1)[1]


def emulator_json(emu):
    st = emu.args.state_dir
    host = emu.base_url.split("://", 1)[1]
    orgs = {}
    for org in emu.orgs.values():
        orgs[org.name] = {
            "url": org.url,
            "api_url": org.api_root,
            "tenant_id": org.tenant_id,
            "token_url": "%s/%s/oauth2/v2.0/token" % (emu.base_url, org.tenant_id),
            "authority_host": host,
            "authority": "%s/%s" % (emu.base_url, org.tenant_id),
            "client_id": org.client_id,
            "client_secret": org.client_secret,
            "client_secret_file": os.path.join(st, "%s.secret" % org.name),
            "public_client_id": org.public_client_id,
            "unconsented_client_id": org.unconsented_client_id,
            "unconsented_client_secret": org.unconsented_client_secret,
            "refresh_token": org.refresh_token,
            "username": org.username,
            "password": org.password,
            "organization_id": org.organization_id,
            "user_id": org.admin_user_id,
            "app_user_id": org.app_user_id,
            "businessunit_id": org.businessunit_id,
            # added for the auth flows (existing keys above are unchanged)
            "authorize_url": "%s/%s/oauth2/v2.0/authorize" % (emu.base_url, org.tenant_id),
            "redirect_uri": "http://localhost/",
            "adfs_token_url": "%s/adfs/oauth2/token" % emu.base_url,
            "adfs_resource": org.url,
            "user_object_id": org.admin_object_id,
            "app_object_id": org.app_object_id,
            "onprem": org.name in emu.onprem,
            "ntlm_domain": org.ntlm_domain, "ntlm_username": org.ntlm_username, "ntlm_password": org.password,
        }
    return {"base_url": emu.base_url, "ca_file": emu.ca_file, "pid": os.getpid(), "orgs": orgs,
            "control_sni": control.CONTROL_SNI if emu.ca_file else None}


def dynfs_ini(emu):
    st = emu.args.state_dir
    out = ["[global]", "cache_ttl = 60", ""]
    for org in emu.orgs.values():
        out += ["[%s]" % org.name, "url = %s" % org.url, "tenant_id = %s" % org.tenant_id,
                "client_id = %s" % org.client_id,
                "client_secret_file = %s" % os.path.join(st, "%s.secret" % org.name),
                "auth = client_credentials",
                "token_url = %s/%s/oauth2/v2.0/token" % (emu.base_url, org.tenant_id)]
        if emu.ca_file:
            out.append("ca_file = %s" % emu.ca_file)
        out.append("")
    return "\n".join(out)


def parse_records(spec):
    counts = dict(DEFAULT_RECORDS)
    if not spec:
        return counts
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, n = item.partition("=")
        if not sep or not n.strip().isdigit():
            raise argparse.ArgumentTypeError("bad --records item '%s' (want set=N)" % item)
        name = name.strip()
        if name not in GENERATED_SETS:
            raise argparse.ArgumentTypeError("--records: unknown entity set '%s' (known: %s)"
                                             % (name, ", ".join(sorted(GENERATED_SETS))))
        counts[name] = int(n)
    return counts


def parse_orgs(spec):
    names = [x.strip() for x in spec.split(",") if x.strip()]
    for n in names:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", n):
            raise argparse.ArgumentTypeError("bad org name '%s' (lower-case letters, digits, '-')" % n)
    if not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError("--orgs needs distinct names")
    return names


def main(argv=None):
    global VERBOSE
    ap = argparse.ArgumentParser(prog="dvemu.py", description="Dataverse Web API + Entra ID emulator")
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--tls-fault", choices=control.TLS_MODES, default="good",
                    help="certificate served from the start (with --tls; switchable at /_emulator/tls)")
    ap.add_argument("--tls-stall-s", type=float, default=30.0,
                    help="seconds a stalled TLS handshake waits before its ServerHello")
    ap.add_argument("--orgs", type=parse_orgs, default=["contoso"])
    ap.add_argument("--records", type=parse_records, default=dict(DEFAULT_RECORDS))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--latency-ms", type=float, default=0)
    ap.add_argument("--record-cost-us", type=float, default=0,
                    help="modelled server time per returned row, in microseconds")
    ap.add_argument("--column-cost-us", type=float, default=0,
                    help="modelled server time per returned row and rendered column, in microseconds")
    ap.add_argument("--dop-hint", type=int, default=4, help="x-ms-dop-hint on Web API answers (0: none)")
    ap.add_argument("--capacity", type=int, default=0,
                    help="requests of one org whose row cost is worked on at once (0: unlimited)")
    ap.add_argument("--ids", choices=sampledata.ID_MODES, default="mixed",
                    help="ids of the sample rows: sequential (NEWSEQUENTIALID), random (v4) or mixed")
    ap.add_argument("--token-lifetime", type=int, default=3599)
    ap.add_argument("--onprem", type=lambda v: [x.strip() for x in v.split(",") if x.strip()], default=[],
                    help="comma-separated orgs whose Web API requires Windows authentication (NTLM)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    VERBOSE = args.verbose
    unknown = [o for o in args.onprem if o not in args.orgs]
    if unknown:
        ap.error("--onprem: unknown org(s) %s" % ", ".join(unknown))
    if args.tls_fault != "good" and not args.tls:
        ap.error("--tls-fault needs --tls")
    args.state_dir = os.path.abspath(args.state_dir)
    os.makedirs(args.state_dir, exist_ok=True)

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    t0 = time.monotonic()
    emu = Emulator(args)
    tls = None
    if args.tls:
        tls, emu.ca_file = make_tls(args.state_dir, args.tls_fault, args.tls_stall_s)
    server = Server(("127.0.0.1", args.port), Handler, emu, tls)
    port = server.server_address[1]
    emu.bind_urls("%s://127.0.0.1:%d" % ("https" if args.tls else "http", port))
    for org in emu.orgs.values():
        atomic_write(os.path.join(args.state_dir, "%s.secret" % org.name), org.client_secret + "\n", 0o600)
    atomic_write(os.path.join(args.state_dir, "emulator.json"), json.dumps(emulator_json(emu), indent=2) + "\n",
                 0o600)
    atomic_write(os.path.join(args.state_dir, "dynfs.ini"), dynfs_ini(emu), 0o600)
    th = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    th.start()
    if VERBOSE:
        log("started in %.2fs: %s orgs=%s records=%s" % (time.monotonic() - t0, emu.base_url,
                                                          ",".join(args.orgs), args.records))
    sys.stdout.write("ready %s\n" % emu.base_url)
    sys.stdout.flush()
    while not stop.is_set():
        stop.wait(0.2)
    server.shutdown()
    server.server_close()
    if VERBOSE:
        log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
