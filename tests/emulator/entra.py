"""Microsoft Entra ID v2 token endpoint emulation: ``POST /{tenant}/oauth2/v2.0/token``.

Reference (ref = dataverse-protocol.md): 10.1 (endpoints, form encoding, HTTP Basic),
10.2 (grants), 10.3 (success response), 10.4 (error shape), 10.5 (AADSTS codes),
10.7 (the Web API's 401 challenge that points here).

Structure, so that later grants slot in without touching the rest:
  * ``Directory`` knows tenants (one per org), app registrations and the user of each org.
  * ``Directory.token()`` resolves the tenant, authenticates the client (``_client_auth``:
    secret today; certificate assertions later), then dispatches on ``grant_type`` through
    ``GRANTS`` (client_credentials, refresh_token, password today; device code,
    authorization code + PKCE later).
  * Tokens are HS256 JWTs signed with a per-process key; ``Directory.verify()`` is what the
    Web API calls.
"""

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.parse
import uuid
import datetime as _dt

import x509

DATAVERSE_APP_ID = "00000007-0000-0000-c000-000000000000"  # ref 10.1
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW = 300        # Entra tolerates 5 minutes of clock skew on assertion nbf/exp
CERT_DOC = "Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."
USER_GRANTS = ("password", "refresh_token", "authorization_code", "device_code",
               "urn:ietf:params:oauth:grant-type:device_code")


class EntraError(Exception):
    """An AADSTS error (ref 10.4)."""

    def __init__(self, code, error, message, status=400, suberror=None, headers=None):
        super().__init__(message)
        self.code = code
        self.error = error
        self.message = message
        self.status = status
        self.suberror = suberror
        self.headers = headers or []


class AdfsError(Exception):
    """An AD FS OAuth error: ``error`` + ``MSISnnnn: ...`` description, always HTTP 400."""

    def __init__(self, error, message):
        super().__init__(message)
        self.error = error
        self.message = message


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def error_body(e):
    """Error JSON exactly as ref 10.4."""
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    desc = "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" % (e.code, e.message, trace, corr, now)
    body = {"error": e.error, "error_description": desc, "error_codes": [e.code], "timestamp": now,
            "trace_id": trace, "correlation_id": corr,
            "error_uri": "https://login.microsoftonline.com/error?code=%d" % e.code}
    if e.suberror:
        body["suberror"] = e.suberror
    return body


class App:
    """An app registration in a tenant."""

    def __init__(self, client_id, org, name, confidential, secret=None, consented=True):
        self.client_id = client_id
        self.org = org
        self.name = name
        self.confidential = confidential
        self.secret = secret
        self.consented = consented


class RefreshToken:
    def __init__(self, org, client_id, oid, scopes, mfa=False, adfs=False):
        self.org = org
        self.client_id = client_id
        self.oid = oid
        self.scopes = scopes
        self.issued = time.time()
        self.used_at = None
        self.revoked = False
        self.mfa = mfa            # issued after an (interactive) multi-factor sign-in
        self.adfs = adfs          # issued by the AD FS endpoint (not redeemable at Entra)


class KeyCredential:
    """A certificate registered on an app (Graph keyCredential: start/end default to the
    certificate's notBefore/notAfter)."""

    def __init__(self, cert, start=None, end=None):
        self.cert = cert
        self.start = start if start is not None else cert.not_before.timestamp()
        self.end = end if end is not None else cert.not_after.timestamp()

    def describe(self):
        iso = lambda t: _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
        return {"x5t": self.cert.x5t, "x5t#S256": self.cert.x5t_s256, "thumbprint": self.cert.thumbprint,
                "subject": self.cert.subject, "start": iso(self.start), "end": iso(self.end)}


class AuthCode:
    def __init__(self, org, client_id, redirect_uri, scope, challenge, method, expires, mfa):
        self.org = org
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.challenge = challenge
        self.method = method
        self.expires = expires
        self.mfa = mfa
        self.redeemed = False


class DeviceCode:
    def __init__(self, org, client_id, scope, expires):
        self.org = org
        self.client_id = client_id
        self.scope = scope
        self.expires = expires
        self.state = "pending"      # pending | approved | declined | redeemed
        self.interval = 5           # seconds the client must wait between polls
        self.last_poll = None
        self.user_code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(9))
        self.device_code = "DAQABAAEAAAD" + _b64url(secrets.token_bytes(96))


class Directory:
    def __init__(self, orgs, settings):
        self.orgs = orgs                  # name -> store.Org
        self.settings = settings          # control.Settings (token_lifetime, refresh_grace)
        self.key = secrets.token_bytes(32)
        self.lock = threading.Lock()
        self.by_tenant = {}
        self.apps = {}
        self.refresh_tokens = {}
        self.passwords = {}
        self.device_codes = {}      # device_code -> DeviceCode
        self.auth_codes = {}        # code -> AuthCode
        self.keys = {}              # client_id -> [KeyCredential]
        self.used_jti = {}          # (client_id, jti) -> expiry (only with the assertion_replay setting)
        self.faults = {}            # org name -> {"code", "sticky"} (auth-fault control)
        self.policies = {}          # org name -> {"mfa": None|"required"|"registration", "block": bool}
        self.authorize_outcomes = {}  # org name -> (error, error_description), one-shot
        self.resource_missing = set()  # org names whose Dataverse resource principal is "deleted"
        for org in orgs.values():
            org.not_members = set()     # principals (oid/appid) the Web API answers 403 0x80072560
            self.by_tenant[org.tenant_id] = org
            self.by_tenant[org.domain] = org
            self.by_tenant["%s.onmicrosoft.com" % org.name] = org
            org.client_secret = _secret()
            org.unconsented_client_secret = _secret()
            org.password = _secret()[:20] + "!a1"
            self.apps[org.client_id] = App(org.client_id, org, "dynfs-%s" % org.name, True, org.client_secret)
            self.apps[org.public_client_id] = App(org.public_client_id, org, "dynfs-cli", False)
            self.apps[org.unconsented_client_id] = App(org.unconsented_client_id, org, "dynfs-unconsented",
                                                       True, org.unconsented_client_secret, consented=False)
            scopes = "%s/user_impersonation offline_access" % org.url if org.url else "offline_access"
            org.refresh_token = self._new_refresh_token(org, org.public_client_id, org.admin_object_id, scopes)

    # -- public API --------------------------------------------------------------------------
    def token(self, tenant_seg, form, basic=None, endpoint=None):
        """Handle a token request.  ``endpoint`` is the URL the client called (the audience
        its client assertion must name).  Returns (status, headers, body-dict)."""
        try:
            if "resource" in form:
                raise EntraError(901002, "invalid_request", "The 'resource' request parameter is not supported.")
            grant = form.get("grant_type")
            if not grant:
                raise EntraError(900144, "invalid_request",
                                 "The request body must contain the following parameter: 'grant_type'.")
            handler = GRANTS.get(grant)
            if handler is None:
                raise EntraError(70003, "unsupported_grant_type",
                                 "The app requested an unsupported grant type '%s'." % grant)
            org = self._tenant(tenant_seg, grant, form)
            self._injected_fault(org, grant, "client", tenant_seg, form)
            app = self._client_auth(org, form, basic, grant, endpoint)
            self._injected_fault(org, grant, "grant", tenant_seg, form)
            body = handler(self, org, app, form)
            headers = [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache"), ("Expires", "-1"),
                       ("X-Content-Type-Options", "nosniff"), ("x-ms-request-id", str(uuid.uuid4())),
                       ("Content-Type", "application/json; charset=utf-8")]
            return 200, headers, body
        except EntraError as e:
            headers = [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache"), ("Expires", "-1"),
                       ("Content-Type", "application/json; charset=utf-8")] + list(e.headers)
            if e.status == 401:
                headers.append(("WWW-Authenticate", 'Basic realm="%s"' % (tenant_seg,)))
            return e.status, headers, error_body(e)

    def devicecode(self, tenant_seg, form):
        """``POST /{tenant}/oauth2/v2.0/devicecode`` (ref 10.2): no ``verification_uri_complete``."""
        try:
            if "resource" in form:
                raise EntraError(901002, "invalid_request", "The 'resource' request parameter is not supported.")
            org = self._tenant(tenant_seg, "device_code", form)
            client_id = form.get("client_id")
            app = self.apps.get(client_id or "")
            if app is None or app.org is not org:
                raise EntraError(700016, "unauthorized_client",
                                 "Application with identifier '%s' was not found in the directory '%s'. This can "
                                 "happen if the application has not been installed by the administrator of the "
                                 "tenant or consented to by any user in the tenant. You may have sent your "
                                 "authentication request to the wrong tenant." % (client_id, org.domain))
            self._scopes(org, form.get("scope"), "device_code")
            life = int(self.settings.get("device_expires_in"))
            dc = DeviceCode(org, app.client_id, form.get("scope"), time.time() + life)
            dc.interval = int(self.settings.get("device_interval"))
            with self.lock:
                self.device_codes[dc.device_code] = dc
            uri = "https://microsoft.com/devicelogin"
            body = {"user_code": dc.user_code, "device_code": dc.device_code, "verification_uri": uri,
                    "expires_in": life, "interval": int(self.settings.get("device_interval")),
                    "message": "To sign in, use a web browser to open the page %s and enter the code %s to "
                               "authenticate." % (uri, dc.user_code)}
            return 200, [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache"),
                         ("Content-Type", "application/json; charset=utf-8")], body
        except EntraError as e:
            return e.status, [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache"),
                              ("Content-Type", "application/json; charset=utf-8")], error_body(e)

    def device_decide(self, org, user_code, approve=True):
        """Control surface: the user approves/declines a device code (by user_code, or the latest)."""
        with self.lock:
            cands = [d for d in self.device_codes.values() if d.org is org and d.state == "pending"
                     and (user_code is None or d.user_code == user_code)]
            if not cands:
                return None
            dc = cands[-1]
            dc.state = "approved" if approve else "declined"
            return dc.user_code

    def verify(self, token, org):
        """Validate a bearer token for ``org``; returns the claims or raises ValueError(reason)."""
        parts = token.split(".")
        if len(parts) != 3:
            raise ValueError("malformed")
        signing_input = (parts[0] + "." + parts[1]).encode()
        sig = hmac.new(self.key, signing_input, hashlib.sha256).digest()
        try:
            given = _b64url_dec(parts[2])
            claims = json.loads(_b64url_dec(parts[1]))
        except (ValueError, TypeError):
            raise ValueError("malformed")
        if not hmac.compare_digest(sig, given):
            raise ValueError("signature")
        if claims.get("aud", "").rstrip("/") != org.url.rstrip("/") or claims.get("tid") != org.tenant_id:
            raise ValueError("audience")
        now = time.time()
        if claims.get("exp", 0) <= now:
            raise ValueError("expired")
        if claims.get("nbf", 0) > now + 300:
            raise ValueError("not yet valid")
        return claims

    def rotate_signing_key(self):
        """Invalidate every access token issued so far (control surface)."""
        self.key = secrets.token_bytes(32)

    def revoke_refresh_tokens(self, org):
        with self.lock:
            for rt in self.refresh_tokens.values():
                if rt.org is org:
                    rt.revoked = True

    def reissue_initial_refresh_token(self, org):
        """After the server knows its URL, issue the refresh token written to emulator.json."""
        with self.lock:
            self.refresh_tokens.pop(getattr(org, "refresh_token", None), None)
        org.refresh_token = self._new_refresh_token(
            org, org.public_client_id, org.admin_object_id, "%s/user_impersonation offline_access" % org.url)

    # -- steps -----------------------------------------------------------------------------
    def _tenant(self, seg, grant, form):
        org = self.by_tenant.get(seg) or self.by_tenant.get(seg.lower())
        if org is not None:
            return org
        if seg in ("organizations", "common"):
            if seg == "common" and grant == "password":
                raise EntraError(9001023, "invalid_request",
                                 "The grant type isn't supported over the /common or /consumers endpoints. Please use "
                                 "the /organizations or tenant-specific endpoint.")
            if grant == "client_credentials":
                raise EntraError(50059, "invalid_request",
                                 "No tenant-identifying information found in either the request or implied by "
                                 "any provided credentials.")
            app = self.apps.get(form.get("client_id", ""))
            if app is not None:
                return app.org
            raise EntraError(700016, "unauthorized_client",
                             "Application with identifier '%s' was not found in the directory '%s'. This can happen "
                             "if the application has not been installed by the administrator of the tenant or "
                             "consented to by any user in the tenant. You may have sent your authentication request "
                             "to the wrong tenant." % (form.get("client_id", ""), seg))
        import re
        if not re.fullmatch(r"[0-9a-fA-F-]{36}|[A-Za-z0-9.-]+\.[A-Za-z]{2,}", seg):
            raise EntraError(900023, "invalid_request",
                             "Specified tenant identifier '%s' is neither a valid DNS name, nor a valid external "
                             "domain." % seg)
        raise EntraError(90002, "invalid_request",
                         "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing "
                         "into the correct cloud. Check with your subscription administrator, this may happen if "
                         "there are no active subscriptions for the tenant." % seg)

    def _client_auth(self, org, form, basic, grant, endpoint=None):
        """Identify and authenticate the client: secret in the body or HTTP Basic (ref 10.1), or
        a certificate-signed client assertion (private_key_jwt, see ``_verify_assertion``)."""
        client_id = form.get("client_id")
        secret = form.get("client_secret")
        if basic is not None:
            bid, bsecret = basic
            client_id = client_id or bid
            secret = secret if secret is not None else bsecret
        if not client_id:
            raise EntraError(900144, "invalid_request",
                             "The request body must contain the following parameter: 'client_id'.")
        app = self.apps.get(client_id)
        if app is None or app.org is not org:
            raise EntraError(700016, "unauthorized_client",
                             "Application with identifier '%s' was not found in the directory '%s'. This can happen "
                             "if the application has not been installed by the administrator of the tenant or "
                             "consented to by any user in the tenant. You may have sent your authentication request "
                             "to the wrong tenant." % (client_id, org.domain))
        if "client_assertion" in form or "client_assertion_type" in form:
            if not app.confidential:
                raise EntraError(700025, "invalid_client",
                                 "Client is public so neither 'client_assertion' nor 'client_secret' should be "
                                 "presented.", status=401)
            if not form.get("client_assertion_type"):
                raise EntraError(900144, "invalid_request",
                                 "The request body must contain the following parameter: 'client_assertion_type'.")
            if form["client_assertion_type"] != JWT_BEARER:
                raise EntraError(90011, "invalid_request", "Unexpected client assertion type.")
            if not form.get("client_assertion"):
                raise EntraError(900144, "invalid_request",
                                 "The request body must contain the following parameter: 'client_assertion'.")
            self._verify_assertion(org, app, form["client_assertion"], endpoint)
            return app
        if not app.confidential:
            if secret:
                raise EntraError(700025, "invalid_client",
                                 "Client is public so neither 'client_assertion' nor 'client_secret' should be "
                                 "presented.", status=401)
            if grant == "client_credentials":
                raise EntraError(7000218, "invalid_client",
                                 "The request body must contain the following parameter: 'client_assertion' or "
                                 "'client_secret'.", status=401)
            return app
        if not secret:
            raise EntraError(7000218, "invalid_client",
                             "The request body must contain the following parameter: 'client_assertion' or "
                             "'client_secret'.", status=401)
        if not hmac.compare_digest(secret.encode(), app.secret.encode()):
            raise EntraError(7000215, "invalid_client",
                             "Invalid client secret provided. Ensure the secret being sent in the request is the "
                             "client secret value, not the client secret ID, for a secret added to app '%s'."
                             % app.client_id, status=401)
        if org.secret_expired and app.client_id == org.client_id:
            raise EntraError(7000222, "invalid_client",
                             "The provided client secret keys for app '%s' are expired. Visit the Azure portal to "
                             "create new keys for your app: https://aka.ms/NewClientSecret, or consider using "
                             "certificate credentials for added security: https://aka.ms/certCreds." % app.client_id,
                             status=401)
        return app

    # -- certificate credentials -------------------------------------------------------------------
    def register_certificate(self, org, pem, start=None, end=None, client_id=None):
        """Control surface: add the certificate(s) of a PEM text to an app of ``org`` (default: the
        confidential app).  ``start``/``end`` (epoch seconds) override the key's validity like
        Graph keyCredential startDateTime/endDateTime.  Returns the descriptions of the added keys."""
        cid = client_id or org.client_id
        app = self.apps.get(cid)
        if app is None or app.org is not org or not app.confidential:
            raise ValueError("no confidential app %s in org %s" % (cid, org.name))
        ders = x509.parse_pem(pem)
        if not ders:
            raise ValueError("no PEM CERTIFICATE block in the body")
        added = [KeyCredential(x509.Certificate(d), start, end) for d in ders]
        with self.lock:
            keys = self.keys.setdefault(cid, [])
            keys[:] = [k for k in keys if k.cert.x5t_s256 not in {a.cert.x5t_s256 for a in added}] + added
        return [k.describe() for k in added]

    def certificates(self, org, client_id=None):
        with self.lock:
            return [k.describe() for k in self.keys.get(client_id or org.client_id, [])]

    def remove_certificates(self, org, client_id=None):
        with self.lock:
            return len(self.keys.pop(client_id or org.client_id, []))

    def _assertion_audiences(self, org, endpoint):
        base = org.url.rsplit("/", 1)[0]
        auds = set()
        if endpoint:
            auds.add(endpoint.rstrip("/").lower())
        for alias in (org.tenant_id, org.domain, "%s.onmicrosoft.com" % org.name):
            for form in ("%s/%s/oauth2/v2.0/token", "%s/%s/oauth2/token", "%s/%s/v2.0", "%s/%s"):
                auds.add((form % (base, alias)).lower())
        return auds

    def _verify_assertion(self, org, app, assertion, endpoint):
        """private_key_jwt as Entra checks it (Microsoft identity platform "certificate
        credentials"): header alg RS256/PS256 and x5t / x5t#S256 naming a registered key; the
        key's validity; the signature; aud = the token endpoint; iss = sub = client_id; exp/nbf
        with 5 minutes of skew; jti present."""
        def malformed():
            return EntraError(50027, "invalid_client", "JWT token is invalid or malformed.", status=401)
        parts = assertion.split(".")
        if len(parts) != 3:
            raise malformed()
        try:
            header = json.loads(x509.b64url_dec(parts[0]))
            claims = json.loads(x509.b64url_dec(parts[1]))
            sig = x509.b64url_dec(parts[2])
        except (ValueError, UnicodeDecodeError):
            raise malformed()
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise malformed()
        alg = header.get("alg")
        if alg not in ("RS256", "PS256"):
            raise EntraError(5002738, "invalid_client",
                             "Invalid JWT token. '%s' is not a supported signature algorithm. Supported signing "
                             "algorithms are: 'RS256, PS256'" % (alg,), status=401)
        s256, sha1 = header.get("x5t#S256"), header.get("x5t")
        given = s256 if isinstance(s256, str) else sha1 if isinstance(sha1, str) else ""
        try:
            thumb = x509.b64url_dec(given).hex().upper()
        except ValueError:
            thumb = given
        with self.lock:
            keys = list(self.keys.get(app.client_id, []))
        key = None
        for k in keys:
            if (isinstance(s256, str) and s256 == k.cert.x5t_s256) or (isinstance(sha1, str) and sha1 == k.cert.x5t):
                key = k
                break
        portal = ("Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys "
                  "for app Id '%s'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments "
                  "if you are not using a national cloud." % app.client_id)
        if key is None:
            raise EntraError(700027, "invalid_client",
                             "Client assertion failed signature validation. [Reason - The key was not found., "
                             "Thumbprint of key used by client: '%s', %s]" % (thumb, portal), status=401)
        stamp = lambda t: _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%m/%d/%Y %H:%M:%S")  # noqa
        found = "Found key 'Start=%s, End=%s'" % (stamp(key.start), stamp(key.end))
        now = time.time()
        if now > key.end or now < key.start:
            why = "The key used is expired." if now > key.end else "The key used is not yet valid."
            raise EntraError(700027, "invalid_client",
                             "Client assertion failed signature validation. [Reason - %s, Thumbprint of key used "
                             "by client: '%s', %s, %s]" % (why, thumb, found, portal), status=401)
        signing_input = (parts[0] + "." + parts[1]).encode()
        if not x509.verify(alg, key.cert.n, key.cert.e, signing_input, sig):
            raise EntraError(700027, "invalid_client",
                             "Client assertion failed signature validation. [Reason - The provided signature value "
                             "did not match the expected signature value., Thumbprint of key used by client: '%s', "
                             "%s]" % (thumb, found), status=401)
        aud = claims.get("aud")
        if isinstance(aud, list):
            if len(aud) > 1:
                raise EntraError(5002741, "invalid_client",
                                 "Number of audience values in the provided client credential exceed maximum "
                                 "allowed. %d audience values provided, maximum allowed is 1." % len(aud), status=401)
            aud = aud[0] if aud else None
        if not isinstance(aud, str) or aud.rstrip("/").lower() not in self._assertion_audiences(org, endpoint):
            raise EntraError(700023, "invalid_client",
                             "Client assertion audience claim does not match Realm issuer. " + CERT_DOC, status=401)
        if claims.get("iss") != app.client_id:
            raise EntraError(700021, "invalid_client",
                             "Client assertion application identifier doesn't match 'client_id' parameter. "
                             + CERT_DOC, status=401)
        if claims.get("sub") != claims.get("iss"):
            raise EntraError(50048, "invalid_client", "Subject mismatches Issuer claim in the client assertion.",
                             status=401)
        exp, nbf = claims.get("exp"), claims.get("nbf", 0)
        if not _is_num(exp) or not _is_num(nbf):
            raise malformed()
        if now > exp + CLOCK_SKEW or nbf > now + CLOCK_SKEW:
            iso = lambda t: _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime(  # noqa: E731
                "%Y-%m-%dT%H:%M:%S.%f") + "0Z"
            raise EntraError(700024, "invalid_client",
                             "Client assertion is not within its valid time range. Current time: %s, assertion "
                             "valid from %s, expiry time of assertion %s. %s" % (iso(now), iso(nbf), iso(exp),
                                                                                CERT_DOC), status=401)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise malformed()
        if self.settings.get("assertion_replay"):
            with self.lock:
                for k in [k for k, v in self.used_jti.items() if v < now]:
                    del self.used_jti[k]
                if (app.client_id, jti) in self.used_jti:
                    raise EntraError(50013, "invalid_client",
                                     "Assertion is invalid. The assertion with jti '%s' has already been used." % jti,
                                     status=401)
                self.used_jti[(app.client_id, jti)] = exp + CLOCK_SKEW

    # -- injected faults and org policies ---------------------------------------------------------
    def set_fault(self, org, code, sticky=False):
        if code is None:
            self.faults.pop(org.name, None)
            return None
        if code not in FAULTS:
            raise ValueError("unsupported aadsts %r (supported: %s)"
                             % (code, ", ".join(str(c) for c in sorted(FAULTS))))
        self.faults[org.name] = {"aadsts": code, "sticky": bool(sticky)}
        return dict(self.faults[org.name])

    def _injected_fault(self, org, grant, stage, tenant_seg, form):
        """Raise the org's pending ``auth-fault`` if this request is one it applies to."""
        f = self.faults.get(org.name)
        if f is None:
            return
        code = f["aadsts"]
        kind, error, status, text, suberror = FAULTS[code]
        if (kind in ("client", "tenant")) != (stage == "client"):
            return
        if kind == "user" and grant not in USER_GRANTS:
            return
        if kind == "refresh" and grant != "refresh_token":
            return
        if kind == "password" and grant != "password":
            return
        with self.lock:
            if self.faults.get(org.name) is not f:
                return
            if not f["sticky"]:
                del self.faults[org.name]
        if kind == "user" and grant != "password" and code in (50076, 50079, 53003):
            error = "interaction_required"
        cid = form.get("client_id", "")
        issued = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(days=91)
        raise EntraError(code, error, text.format(tenant=tenant_seg, client_id=cid, domain=org.domain,
                                                  resource=org.url, app=DATAVERSE_APP_ID,
                                                  issued=issued.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
                                                  inactive="90.00:00:00"), status=status, suberror=suberror)

    def set_policy(self, org, mfa=None, block=False):
        if mfa not in (None, "required", "registration"):
            raise ValueError("mfa must be null, \"required\" or \"registration\"")
        self.policies[org.name] = {"mfa": mfa, "block": bool(block)}
        return dict(self.policies[org.name])

    def policy(self, org):
        return self.policies.get(org.name) or {"mfa": None, "block": False}

    def _check_policy(self, org, grant, mfa_done):
        """Conditional Access as the emulator models it: ``block`` denies every user flow
        (53003); ``mfa`` denies non-interactive sign-ins that did not do MFA (50076/50079)."""
        pol = self.policy(org)
        error = "invalid_grant" if grant in ("password", "device_code", "authorization_code") else \
            "interaction_required"
        if pol["block"]:
            raise EntraError(53003, error, FAULTS[53003][3])
        if pol["mfa"] and not mfa_done:
            code = 50076 if pol["mfa"] == "required" else 50079
            raise EntraError(code, error, FAULTS[code][3].format(app=DATAVERSE_APP_ID), suberror="basic_action")

    def _check_consent(self, app):
        if not app.consented:
            raise EntraError(65001, "invalid_grant",
                             "The user or administrator has not consented to use the application with ID '%s' named "
                             "'%s'. Send an interactive authorization request for this user and resource."
                             % (app.client_id, app.name), suberror="consent_required")

    def _scopes(self, org, scope, grant, required=True):
        """Validate ``scope`` against the org's resource (ref 10.1, 10.5).

        Returns (resource permission list, other OIDC scopes)."""
        if not scope or not scope.strip():
            if not required:
                return [], []
            if grant == "client_credentials":
                raise EntraError(900144, "invalid_request",
                                 "The request body must contain the following parameter: 'scope'.")
            raise EntraError(70011, "invalid_scope", "The provided request must include a 'scope' input parameter.")
        perms, oidc, resources = [], [], set()
        for s in scope.split():
            if s in ("openid", "profile", "offline_access", "email"):
                oidc.append(s)
                continue
            if "://" not in s or "/" not in s.split("://", 1)[1]:
                raise EntraError(70011, "invalid_scope",
                                 "The provided value for the input parameter 'scope' is not valid. The scope %s is "
                                 "not valid." % scope)
            res, perm = s.rsplit("/", 1)
            res = res.rstrip("/")
            resources.add(res.lower())
            perms.append(perm)
        if len(resources) > 1:
            raise EntraError(70011, "invalid_scope",
                             "The provided value for the input parameter 'scope' is not valid. The scope %s is not "
                             "valid. Scopes for multiple resources were requested." % scope)
        if resources:
            res = resources.pop()
            if res != org.url.rstrip("/").lower() or org.name in self.resource_missing:
                raise EntraError(500011, "invalid_resource",
                                 "The resource principal named %s was not found in the tenant named %s. This can "
                                 "happen if the application has not been installed by the administrator of the "
                                 "tenant or consented to by any user in the tenant. You might have sent your "
                                 "authentication request to the wrong tenant." % (res, org.domain))
        elif grant == "client_credentials" or required:
            raise EntraError(70011, "invalid_scope",
                             "The provided value for the input parameter 'scope' is not valid. The scope %s is not "
                             "valid." % scope)
        if grant == "client_credentials" and perms != [".default"]:
            raise EntraError(1002012, "invalid_scope",
                             "The provided value for scope %s is not valid. Client credential flows must have a "
                             "scope value with /.default suffixed to the resource identifier (application ID URI)."
                             % scope)
        for p in perms:
            if p not in (".default", "user_impersonation"):
                raise EntraError(65005, "invalid_client",
                                 "The application '%s' asked for scope '%s' that doesn't exist on the resource "
                                 "'%s'. Contact the app vendor." % ("app", p, DATAVERSE_APP_ID))
        return perms, oidc

    def _lifetime(self):
        return int(self.settings.get("token_lifetime"))

    def _access_token(self, org, app, oid, user=None, scp=None, mfa=False, iss=None, life=None):
        now = int(time.time())
        life = self._lifetime() if life is None else life
        claims = {"aud": org.url, "iss": iss or "https://sts.windows.net/%s/" % org.tenant_id, "iat": now, "nbf": now,
                  "exp": now + life, "appid": app.client_id, "appidacr": "1" if app.confidential else "0",
                  "idp": "https://sts.windows.net/%s/" % org.tenant_id, "oid": oid, "sub": oid,
                  "tid": org.tenant_id, "uti": _b64url(secrets.token_bytes(16)), "ver": "1.0"}
        if user:
            claims.update({"upn": user, "unique_name": user, "name": "Admin User", "scp": scp or "user_impersonation",
                           "amr": ["pwd", "mfa"] if mfa else ["pwd"]})
        header = {"typ": "JWT", "alg": "HS256", "kid": "dvemu"}
        signing_input = _b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
            _b64url(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(self.key, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64url(sig), life

    def _new_refresh_token(self, org, client_id, oid, scopes, mfa=False, adfs=False):
        tok = "1.A" + _b64url(secrets.token_bytes(48)) + "." + _b64url(secrets.token_bytes(24))
        with self.lock:
            self.refresh_tokens[tok] = RefreshToken(org, client_id, oid, scopes, mfa=mfa, adfs=adfs)
        return tok

    def _user_response(self, org, app, oid, perms, oidc, mfa=False):
        scp = " ".join(perms) if perms else "user_impersonation"
        at, life = self._access_token(org, app, oid, user=org.username, scp="user_impersonation", mfa=mfa)
        granted = ["%s/%s" % (org.url, p) for p in (perms or ["user_impersonation"])]
        body = {"token_type": "Bearer", "scope": " ".join(granted + [s for s in oidc if s != "openid"]),
                "expires_in": life, "ext_expires_in": life, "access_token": at}
        if life > 600:
            body["refresh_in"] = life // 2
        if "offline_access" in oidc:
            body["refresh_token"] = self._new_refresh_token(org, app.client_id, oid, body["scope"], mfa=mfa)
        if "openid" in oidc:
            body["id_token"] = self._id_token(org, app, oid)
        del scp
        return body

    def _id_token(self, org, app, oid):
        now = int(time.time())
        claims = {"aud": app.client_id, "iss": "https://login.microsoftonline.com/%s/v2.0" % org.tenant_id,
                  "iat": now, "nbf": now, "exp": now + 3600, "oid": oid, "sub": oid, "tid": org.tenant_id,
                  "preferred_username": org.username, "name": "Admin User", "ver": "2.0"}
        head = _b64url(b'{"typ":"JWT","alg":"HS256"}') + "." + _b64url(json.dumps(claims).encode())
        return head + "." + _b64url(hmac.new(self.key, head.encode(), hashlib.sha256).digest())

    # -- authorization endpoint (auth code + PKCE) -----------------------------------------------
    def set_authorize_outcome(self, org, error=None, description=None):
        if error:
            self.authorize_outcomes[org.name] = (error, description or "")
        else:
            self.authorize_outcomes.pop(org.name, None)

    @staticmethod
    def _redirect_registered(app, uri):
        """The emulated app registrations list the loopback redirect URIs ``http://localhost`` and
        ``http://127.0.0.1`` (any port - Entra ignores the port of loopback URIs - and, as a
        simplification, any path) plus, for the public client, the native-client page."""
        try:
            u = urllib.parse.urlsplit(uri)
            u.port
        except ValueError:
            return False
        if u.scheme == "http" and u.hostname in ("localhost", "127.0.0.1", "::1") and not u.fragment:
            return True
        return not app.confidential and uri == "https://login.microsoftonline.com/common/oauth2/nativeclient"

    def authorize(self, tenant_seg, q):
        """``GET /{tenant}/oauth2/v2.0/authorize`` for a browser that is already signed in as the
        org's admin and has consented.  Returns ("redirect", location) or ("page", status, html):
        problems with the tenant, the client or the redirect URI itself are shown on an error page
        (Entra never redirects to an unverified URI); everything else is redirected back with
        ``error``/``error_description``/``state``."""
        state = q.get("state")
        try:
            org = self._tenant(tenant_seg, "authorization_code", q)
            cid = q.get("client_id")
            if not cid:
                raise EntraError(900144, "invalid_request",
                                 "The request body must contain the following parameter: 'client_id'.")
            app = self.apps.get(cid)
            if app is None or app.org is not org:
                raise EntraError(700016, "unauthorized_client", _NOT_FOUND.format(client_id=cid, domain=org.domain))
            redirect = q.get("redirect_uri")
            if not redirect:
                raise EntraError(900971, "invalid_request", "No reply address provided.")
            if not self._redirect_registered(app, redirect):
                raise EntraError(50011, "invalid_request",
                                 "The redirect URI '%s' specified in the request does not match the redirect URIs "
                                 "configured for the application '%s'. Make sure the redirect URI sent in the request "
                                 "matches one added to your application in the Azure portal. Navigate to "
                                 "https://aka.ms/redirectUriMismatchError to learn more about how to fix this."
                                 % (redirect, cid))
            if self.policy(org)["block"]:
                raise EntraError(53003, "access_denied", FAULTS[53003][3])
        except EntraError as e:
            return ("page", 400, _error_page(e))
        try:
            with self.lock:
                outcome = self.authorize_outcomes.pop(org.name, None)
            if outcome is not None:
                return ("redirect", _add_query(redirect, [("error", outcome[0]),
                                                          ("error_description", outcome[1])] +
                                               ([("state", state)] if state is not None else [])))
            rtype = q.get("response_type")
            if not rtype:
                raise EntraError(900144, "invalid_request",
                                 "The request body must contain the following parameter: 'response_type'.")
            if rtype != "code":
                raise EntraError(700051, "unsupported_response_type",
                                 "response_type '%s' is not enabled for the application." % rtype)
            self._scopes(org, q.get("scope"), "authorization_code")
            if not app.consented:
                raise EntraError(65001, "consent_required", FAULTS[65001][3].format(client_id=cid),
                                 suberror="consent_required")
            challenge, method = q.get("code_challenge"), q.get("code_challenge_method")
            if method is not None and not challenge:
                raise EntraError(900144, "invalid_request",
                                 "The request body must contain the following parameter: 'code_challenge'.")
            if challenge is not None:
                method = method or "plain"
                if method not in ("S256", "plain"):
                    raise EntraError(90100, "invalid_request",
                                     "code_challenge_method parameter is empty or not valid. Supported values are "
                                     "'S256' and 'plain'.")
                if not 43 <= len(challenge) <= 128:
                    raise EntraError(501491, "invalid_request", "Invalid size of Code_Challenge parameter.")
            code = "1.A" + _b64url(secrets.token_bytes(64)) + "." + _b64url(secrets.token_bytes(96))
            ac = AuthCode(org, cid, redirect, q.get("scope"), challenge, method,
                          time.time() + float(self.settings.get("auth_code_lifetime")),
                          mfa=bool(self.policy(org)["mfa"]))
            with self.lock:
                self.auth_codes[code] = ac
            params = [("code", code)] + ([("state", state)] if state is not None else []) + \
                [("session_state", str(uuid.uuid4()))]
            return ("redirect", _add_query(redirect, params))
        except EntraError as e:
            b = error_body(e)
            params = [("error", b["error"]), ("error_description", b["error_description"]),
                      ("error_uri", b["error_uri"])] + ([("state", state)] if state is not None else [])
            return ("redirect", _add_query(redirect, params))

    def grant_authorization_code(self, org, app, form):
        """Redeem an authorization code (ref 10.2): single use (54005), ``auth_code_lifetime``
        (70008), same client and tenant, same redirect_uri (500112), PKCE (501481)."""
        code = form.get("code")
        if not code:
            raise EntraError(900144, "invalid_request",
                             "The request body must contain the following parameter: 'code'.")
        redirect = form.get("redirect_uri")
        verifier = form.get("code_verifier")
        with self.lock:
            ac = self.auth_codes.get(code)
            if ac is None:
                raise EntraError(70000, "invalid_grant", "The provided value for the 'code' parameter is not valid.")
            if ac.org is not org:
                raise EntraError(700005, "invalid_grant",
                                 "Provided Authorization Code is intended to use against other tenant, thus rejected.")
            if ac.client_id != app.client_id:
                raise EntraError(70000, "invalid_grant",
                                 "The provided value for the 'code' parameter is not valid. The code was issued to a "
                                 "different client.")
            if ac.redeemed:
                raise EntraError(54005, "invalid_grant",
                                 "OAuth2 Authorization code was already redeemed, please retry with a new valid code "
                                 "or use an existing refresh token.")
            if time.time() > ac.expires:
                raise EntraError(70008, "invalid_grant", _EXPIRED_GRANT)
            if not redirect:
                raise EntraError(900144, "invalid_request",
                                 "The request body must contain the following parameter: 'redirect_uri'.")
            if redirect != ac.redirect_uri:
                raise EntraError(500112, "invalid_client",
                                 "The reply address '%s' does not match the reply address '%s' provided when "
                                 "requesting Authorization code." % (redirect, ac.redirect_uri), status=401)
            if ac.challenge is not None:
                if not verifier:
                    raise EntraError(900144, "invalid_request",
                                     "The request body must contain the following parameter: 'code_verifier'.")
                import re
                ok = re.fullmatch(r"[A-Za-z0-9._~-]{43,128}", verifier) is not None
                derived = _b64url(hashlib.sha256(verifier.encode()).digest()) if ac.method == "S256" else verifier
                if not ok or not hmac.compare_digest(derived.encode(), ac.challenge.encode()):
                    raise EntraError(501481, "invalid_grant",
                                     "The Code_Verifier does not match the code_challenge supplied in the "
                                     "authorization request.")
            ac.redeemed = True
        self._check_consent(app)
        if form.get("scope"):
            self._scopes(org, form.get("scope"), "authorization_code")
        perms, oidc = self._scopes(org, ac.scope, "authorization_code")
        self._check_policy(org, "authorization_code", True)
        return self._user_response(org, app, org.admin_object_id, perms, oidc, mfa=ac.mfa)

    # -- AD FS (on-premises IFD, ref 10.8) ---------------------------------------------------------
    def adfs_token(self, form, basic=None, issuer=None):
        """``POST /adfs/oauth2/token`` in the AD FS 2016 style (MS-OAPX): ``resource`` instead of
        ``scope``; grants password, refresh_token, client_credentials.  Errors are
        ``{"error", "error_description": "MSISnnnn: ..."}`` with HTTP 400.  Returns
        (status, headers, body)."""
        hdrs = [("Cache-Control", "no-store"), ("Pragma", "no-cache"),
                ("Content-Type", "application/json;charset=UTF-8")]
        try:
            body = self._adfs(form, basic, issuer)
            return 200, hdrs, body
        except AdfsError as e:
            return 400, hdrs, {"error": e.error, "error_description": e.message}

    def _adfs(self, form, basic, issuer):
        grant = form.get("grant_type")
        if grant not in ("password", "refresh_token", "client_credentials"):
            raise AdfsError("unsupported_grant_type",
                            "MSIS9611: The authorization server does not support the requested 'grant_type'. The "
                            "authorization server only supports 'authorization_code', 'client_credentials', "
                            "'password' or 'refresh_token' as the grant type.")
        client_id = form.get("client_id") or (basic[0] if basic else None)
        secret = form.get("client_secret") if form.get("client_secret") is not None else (basic[1] if basic else None)
        app = self.apps.get(client_id or "")
        if app is None:
            raise AdfsError("invalid_client", "MSIS9607: The 'client_id' parameter in the request is invalid. No "
                                              "registered client is found with this identifier.")
        if app.confidential:
            if not secret or not hmac.compare_digest(secret.encode(), app.secret.encode()):
                raise AdfsError("invalid_client", "MSIS9622: Client authentication failed. Please verify the "
                                                  "credential provided for client authentication is valid.")
        elif secret:
            raise AdfsError("invalid_client", "MSIS9622: Client authentication failed. Please verify the credential "
                                              "provided for client authentication is valid.")
        resource = form.get("resource") or ""
        org = None
        for o in self.orgs.values():
            if resource.rstrip("/").lower() == o.url.rstrip("/").lower():
                org = o
        if org is None or org.name in self.resource_missing:
            raise AdfsError("invalid_resource", "MSIS9602: The received 'resource' parameter is invalid. The "
                                                "authorization server can not find a registered resource with the "
                                                "specified identifier.")
        if app.org is not org or not app.consented:
            raise AdfsError("unauthorized_client", "MSIS9605: The client is not allowed to access the requested "
                                                   "resource.")
        lifetime = self._lifetime()
        life = 3600 if lifetime == 3599 else lifetime     # AD FS default access token lifetime: 1 hour
        rt_life = 28800                                   # AD FS 2016 default SSO lifetime: 8 hours [INFER]
        if grant == "client_credentials":
            if not app.confidential:
                raise AdfsError("unauthorized_client", "MSIS9605: The client is not allowed to access the "
                                                       "requested resource.")
            at, life = self._access_token(org, app, org.app_object_id, iss=issuer, life=life)
            return {"access_token": at, "token_type": "bearer", "expires_in": life, "resource": resource}
        if grant == "password":
            user = (form.get("username") or "").lower()
            names = (org.username, "%s\\admin" % org.name, "%s\\admin" % org.domain.split(".")[0])
            if user not in names or not hmac.compare_digest((form.get("password") or "").encode(),
                                                             org.password.encode()):
                raise AdfsError("invalid_grant", "MSIS9659: Invalid 'username' or 'password'.")
            refresh = self._new_refresh_token(org, app.client_id, org.admin_object_id, resource, adfs=True)
        else:
            tok = form.get("refresh_token") or ""
            with self.lock:
                rt = self.refresh_tokens.get(tok)
                bad = (rt is None or not rt.adfs or rt.revoked or rt.org is not org or rt.client_id != app.client_id
                       or time.time() - rt.issued > rt_life)
            if bad:
                raise AdfsError("invalid_grant", "MSIS9614: The refresh token received in 'refresh_token' parameter "
                                                 "is invalid.")
            refresh = None                                # AD FS does not rotate refresh tokens [INFER]
        at, life = self._access_token(org, app, org.admin_object_id, user=org.username, iss=issuer, life=life)
        body = {"access_token": at, "token_type": "bearer", "expires_in": life, "resource": resource}
        if refresh:
            body["refresh_token"] = refresh
            body["refresh_token_expires_in"] = rt_life
        return body

    # -- grants ----------------------------------------------------------------------------------
    def grant_client_credentials(self, org, app, form):
        self._scopes(org, form.get("scope"), "client_credentials")
        self._check_consent(app)
        at, life = self._access_token(org, app, org.app_object_id)
        return {"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": at}

    def grant_refresh_token(self, org, app, form):
        """Refresh (ref 10.2, 10.3): rotation - every success returns a new refresh token; a used
        token stays valid for ``refresh_grace`` seconds after its first use, then 70008; revoked or
        unknown -> 70008; older than ``refresh_token_max_inactive`` seconds -> 700082."""
        tok = form.get("refresh_token")
        if not tok:
            raise EntraError(900144, "invalid_request",
                             "The request body must contain the following parameter: 'refresh_token'.")
        self._check_consent(app)
        with self.lock:
            rt = self.refresh_tokens.get(tok)
            now = time.time()
            grace = float(self.settings.get("refresh_grace"))
            expired = (rt is None or rt.revoked or rt.org is not org or rt.adfs
                       or (rt.used_at is not None and now - rt.used_at > grace))
            if rt is not None and not expired and rt.client_id != app.client_id:
                raise EntraError(70000, "invalid_grant",
                                 "Provided grant is invalid or malformed. The refresh token was issued to a "
                                 "different client.")
            if expired:
                raise EntraError(70008, "invalid_grant", _EXPIRED_GRANT)
            max_inactive = float(self.settings.get("refresh_token_max_inactive"))
            if now - rt.issued > max_inactive:
                raise EntraError(700082, "invalid_grant",
                                 "The refresh token has expired due to inactivity. The token was issued on %s and was "
                                 "inactive for %s." % (
                                     _dt.datetime.fromtimestamp(rt.issued, _dt.timezone.utc).strftime(
                                         "%Y-%m-%dT%H:%M:%S.0000000Z"),
                                     str(_dt.timedelta(seconds=int(max_inactive)))))
        self._check_policy(org, "refresh_token", rt.mfa)
        with self.lock:
            if rt.used_at is None:
                rt.used_at = now
        scope = form.get("scope")
        if scope:
            perms, oidc = self._scopes(org, scope, "refresh_token")
        else:
            perms, oidc = self._scopes(org, rt.scopes, "refresh_token")
        if "offline_access" not in oidc:
            oidc.append("offline_access")  # a refresh grant always returns a new refresh token
        return self._user_response(org, app, rt.oid, perms, oidc, mfa=rt.mfa)

    def grant_device_code(self, org, app, form):
        """Device code polling (ref 10.2, 10.5): authorization_pending (70016) until the user
        approves through the control surface; authorization_declined; expired_token (70019)."""
        code = form.get("device_code") or form.get("code")
        if not code:
            raise EntraError(900144, "invalid_request",
                             "The request body must contain the following parameter: 'device_code'.")
        with self.lock:
            dc = self.device_codes.get(code)
            if dc is None or dc.org is not org or dc.client_id != app.client_id:
                raise EntraError(70000, "invalid_grant", "Provided grant is invalid or malformed.")
            now = time.time()
            if now > dc.expires:
                raise EntraError(70019, "expired_token", "Verification code expired.")
            # RFC 8628 3.5: polling faster than the interval (0.5 s of slack for timer
            # jitter), or a slow_down fault, is answered with slow_down, and the interval
            # grows by 5 s.  Entra's documentation does not list slow_down [INFER].
            early = dc.last_poll is not None and now - dc.last_poll < dc.interval - 0.5
            dc.last_poll = now
            if dc.state == "pending" and (early or self.settings.take("device_slow_down")):
                dc.interval += 5
                raise EntraError(70016, "slow_down",
                                 "OAuth 2.0 device flow error. Polling too frequently: wait %d seconds "
                                 "between requests." % dc.interval)
            if dc.state == "pending":
                raise EntraError(70016, "authorization_pending",
                                 "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
            if dc.state == "declined":
                raise EntraError(70000, "authorization_declined", "The end user declined the authorization request.")
            if dc.state == "redeemed":
                raise EntraError(54005, "invalid_grant", "OAuth2 Authorization code was already redeemed, please "
                                                         "retry with a new valid code or use an existing refresh "
                                                         "token.")
            dc.state = "redeemed"
        self._check_consent(app)
        perms, oidc = self._scopes(org, dc.scope, "device_code")
        self._check_policy(org, "device_code", True)   # interactive: the user did MFA in the browser
        return self._user_response(org, app, org.admin_object_id, perms, oidc, mfa=bool(self.policy(org)["mfa"]))

    def grant_password(self, org, app, form):
        """ROPC (ref 10.2): username + password; 50126 on bad credentials."""
        user, pw = form.get("username", ""), form.get("password", "")
        perms, oidc = self._scopes(org, form.get("scope"), "password")
        self._check_consent(app)
        if user.lower() != org.username or not hmac.compare_digest(pw.encode(), org.password.encode()):
            raise EntraError(50126, "invalid_grant",
                             "Error validating credentials due to invalid username or password.")
        self._check_policy(org, "password", False)     # ROPC can never satisfy MFA
        return self._user_response(org, app, org.admin_object_id, perms, oidc)


def _add_query(url, params):
    """Append query parameters to a redirect URI (that may already have a query)."""
    sep = "&" if "?" in url else "?"
    return url + sep + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def _error_page(e):
    """The sign-in error page Entra shows when it cannot redirect (HTML)."""
    b = error_body(e)
    import html
    msg = html.escape("AADSTS%d: %s" % (e.code, e.message))
    return ("<!DOCTYPE html>\r\n<html><head><title>Sign in to your account</title></head><body>\r\n"
            "<div id=\"login_workload_logo_text\">Sorry, but we're having trouble signing you in.</div>\r\n"
            "<div id=\"errorMessage\">%s</div>\r\n<div>Request Id: %s</div>\r\n<div>Correlation Id: %s</div>\r\n"
            "<div>Timestamp: %s</div>\r\n</body></html>\r\n" % (msg, b["trace_id"], b["correlation_id"],
                                                                  b["timestamp"])).encode("utf-8")


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _secret():
    """Entra-style client secret value (40 chars, contains '~' like real ones)."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    body = "".join(secrets.choice(alphabet) for _ in range(37))
    return body[:3] + "8Q~" + body[3:]


_NOT_FOUND = ("Application with identifier '{client_id}' was not found in the directory '{domain}'. This can happen if "
              "the application has not been installed by the administrator of the tenant or consented to by any "
              "user in the tenant. You may have sent your authentication request to the wrong tenant.")
_EXPIRED_GRANT = ("The provided authorization code or refresh token has expired due to inactivity. Send a new "
                  "interactive authorization request for this user and resource.")

# Errors the auth-fault control can inject: code -> (applies to, error, HTTP status, message, suberror).
# "applies to": client/tenant = any grant, raised before client authentication; any = any grant,
# after it; user = user flows; refresh = grant_type=refresh_token; password = ROPC.  For user
# flows other than ROPC, 50076/50079/53003 come back as interaction_required (ref 10.5).
FAULTS = {
    90002: ("tenant", "invalid_request", 400,
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the "
            "correct cloud. Check with your subscription administrator, this may happen if there are no active "
            "subscriptions for the tenant.", None),
    700016: ("client", "unauthorized_client", 400, _NOT_FOUND, None),
    7000215: ("client", "invalid_client", 401,
              "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
              "value, not the client secret ID, for a secret added to app '{client_id}'.", None),
    7000222: ("client", "invalid_client", 401,
              "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create "
              "new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for "
              "added security: https://aka.ms/certCreds.", None),
    65001: ("any", "invalid_grant", 400,
            "The user or administrator has not consented to use the application with ID '{client_id}'. Send an "
            "interactive authorization request for this user and resource.", "consent_required"),
    500011: ("any", "invalid_resource", 400,
             "The resource principal named {resource} was not found in the tenant named {domain}. This can happen if "
             "the application has not been installed by the administrator of the tenant or consented to by any user "
             "in the tenant. You might have sent your authentication request to the wrong tenant.", None),
    70008: ("refresh", "invalid_grant", 400, _EXPIRED_GRANT, None),
    700082: ("refresh", "invalid_grant", 400,
             "The refresh token has expired due to inactivity. The token was issued on {issued} and was inactive "
             "for {inactive}.", None),
    700084: ("refresh", "invalid_grant", 400,
             "The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime "
             "of 1.00:00:00, which can't be extended. It is now expired and a new sign in request must be sent by "
             "the SPA to the sign in page.", None),
    50173: ("refresh", "invalid_grant", 400,
            "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might "
            "have changed or reset their password.", None),
    70043: ("refresh", "invalid_grant", 400,
            "The refresh token has expired or is invalid due to sign-in frequency checks by conditional access.",
            None),
    50126: ("password", "invalid_grant", 400, "Error validating credentials due to invalid username or password.",
            None),
    50076: ("user", "invalid_grant", 400,
            "Due to a configuration change made by your administrator, or because you moved to a new location, you "
            "must use multi-factor authentication to access '{app}'.", "basic_action"),
    50079: ("user", "invalid_grant", 400,
            "Due to a configuration change made by your administrator, or because you moved to a new location, you "
            "must enroll in multi-factor authentication to access '{app}'.", "basic_action"),
    53003: ("user", "invalid_grant", 400,
            "Access has been blocked by Conditional Access policies. The access policy does not allow token "
            "issuance.", None),
}

GRANTS = {
    "client_credentials": Directory.grant_client_credentials,
    "refresh_token": Directory.grant_refresh_token,
    "password": Directory.grant_password,
    "urn:ietf:params:oauth:grant-type:device_code": Directory.grant_device_code,
    "device_code": Directory.grant_device_code,
    "authorization_code": Directory.grant_authorization_code,
}
