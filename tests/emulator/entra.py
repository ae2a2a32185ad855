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
import uuid
import datetime as _dt

DATAVERSE_APP_ID = "00000007-0000-0000-c000-000000000000"  # ref 10.1


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
    def __init__(self, org, client_id, oid, scopes):
        self.org = org
        self.client_id = client_id
        self.oid = oid
        self.scopes = scopes
        self.issued = time.time()
        self.used_at = None
        self.revoked = False


class DeviceCode:
    def __init__(self, org, client_id, scope, expires):
        self.org = org
        self.client_id = client_id
        self.scope = scope
        self.expires = expires
        self.state = "pending"      # pending | approved | declined | redeemed
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
        for org in orgs.values():
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
    def token(self, tenant_seg, form, basic=None):
        """Handle a token request.  Returns (status, headers, body-dict)."""
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
            app = self._client_auth(org, form, basic, grant)
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
            life = 900
            dc = DeviceCode(org, app.client_id, form.get("scope"), time.time() + life)
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

    def _client_auth(self, org, form, basic, grant):
        """Identify and authenticate the client (secret in body or HTTP Basic, ref 10.1)."""
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
        if "client_assertion" in form:
            # certificate credentials: a later issue
            raise EntraError(700027, "invalid_client",
                             "Client assertion failed signature validation. (emulator: certificate credentials are "
                             "not implemented yet)", status=401)
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
            if res != org.url.rstrip("/").lower():
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

    def _access_token(self, org, app, oid, user=None, scp=None):
        now = int(time.time())
        life = self._lifetime()
        claims = {"aud": org.url, "iss": "https://sts.windows.net/%s/" % org.tenant_id, "iat": now, "nbf": now,
                  "exp": now + life, "appid": app.client_id, "appidacr": "1" if app.confidential else "0",
                  "idp": "https://sts.windows.net/%s/" % org.tenant_id, "oid": oid, "sub": oid,
                  "tid": org.tenant_id, "uti": _b64url(secrets.token_bytes(16)), "ver": "1.0"}
        if user:
            claims.update({"upn": user, "unique_name": user, "name": "Admin User", "scp": scp or "user_impersonation",
                           "amr": ["pwd"]})
        header = {"typ": "JWT", "alg": "HS256", "kid": "dvemu"}
        signing_input = _b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
            _b64url(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(self.key, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64url(sig), life

    def _new_refresh_token(self, org, client_id, oid, scopes):
        tok = "1.A" + _b64url(secrets.token_bytes(48)) + "." + _b64url(secrets.token_bytes(24))
        with self.lock:
            self.refresh_tokens[tok] = RefreshToken(org, client_id, oid, scopes)
        return tok

    def _user_response(self, org, app, oid, perms, oidc):
        scp = " ".join(perms) if perms else "user_impersonation"
        at, life = self._access_token(org, app, oid, user=org.username, scp="user_impersonation")
        granted = ["%s/%s" % (org.url, p) for p in (perms or ["user_impersonation"])]
        body = {"token_type": "Bearer", "scope": " ".join(granted + [s for s in oidc if s != "openid"]),
                "expires_in": life, "ext_expires_in": life, "access_token": at}
        if life > 600:
            body["refresh_in"] = life // 2
        if "offline_access" in oidc:
            body["refresh_token"] = self._new_refresh_token(org, app.client_id, oid, body["scope"])
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

    # -- grants ----------------------------------------------------------------------------------
    def grant_client_credentials(self, org, app, form):
        self._scopes(org, form.get("scope"), "client_credentials")
        self._check_consent(app)
        at, life = self._access_token(org, app, org.app_object_id)
        return {"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": at}

    def grant_refresh_token(self, org, app, form):
        tok = form.get("refresh_token")
        if not tok:
            raise EntraError(900144, "invalid_request",
                             "The request body must contain the following parameter: 'refresh_token'.")
        self._check_consent(app)
        with self.lock:
            rt = self.refresh_tokens.get(tok)
            now = time.time()
            grace = float(self.settings.get("refresh_grace"))
            expired = (rt is None or rt.revoked or rt.org is not org
                       or (rt.used_at is not None and now - rt.used_at > grace))
            if rt is not None and not expired and rt.client_id != app.client_id:
                raise EntraError(70000, "invalid_grant",
                                 "Provided grant is invalid or malformed. The refresh token was issued to a "
                                 "different client.")
            if expired:
                raise EntraError(70008, "invalid_grant",
                                 "The provided authorization code or refresh token has expired due to inactivity. "
                                 "Send a new interactive authorization request for this user and resource.")
            if rt.used_at is None:
                rt.used_at = now
        scope = form.get("scope")
        if scope:
            perms, oidc = self._scopes(org, scope, "refresh_token")
        else:
            perms, oidc = self._scopes(org, rt.scopes, "refresh_token")
        if "offline_access" not in oidc:
            oidc.append("offline_access")  # a refresh grant always returns a new refresh token
        return self._user_response(org, app, rt.oid, perms, oidc)

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
            if time.time() > dc.expires:
                raise EntraError(70019, "expired_token", "Verification code expired.")
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
        return self._user_response(org, app, org.admin_object_id, perms, oidc)

    def grant_password(self, org, app, form):
        """ROPC (ref 10.2): username + password; 50126 on bad credentials."""
        user, pw = form.get("username", ""), form.get("password", "")
        perms, oidc = self._scopes(org, form.get("scope"), "password")
        self._check_consent(app)
        if user.lower() != org.username or not hmac.compare_digest(pw.encode(), org.password.encode()):
            raise EntraError(50126, "invalid_grant",
                             "Error validating credentials due to invalid username or password.")
        return self._user_response(org, app, org.admin_object_id, perms, oidc)


def _secret():
    """Entra-style client secret value (40 chars, contains '~' like real ones)."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    body = "".join(secrets.choice(alphabet) for _ in range(37))
    return body[:3] + "8Q~" + body[3:]


GRANTS = {
    "client_credentials": Directory.grant_client_credentials,
    "refresh_token": Directory.grant_refresh_token,
    "password": Directory.grant_password,
    "urn:ietf:params:oauth:grant-type:device_code": Directory.grant_device_code,
    "device_code": Directory.grant_device_code,
    # later: "authorization_code" (+ PKCE), certificate client assertions, NTLM (on-premises)
}
