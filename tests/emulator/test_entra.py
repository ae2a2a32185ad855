"""Entra ID v2 token endpoint (reference §10)."""

import re
import time
import urllib.parse
import uuid

from lib.client import GUID_ANYCASE_RE, http_request
from lib.emuproc import Emulator
from lib.fixtures import emulator_fixture

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$")


emu = emulator_fixture(orgs="contoso,fabrikam", records={"accounts": 5, "contacts": 3}, seed=3)


def token_post(emu, org, form, url=None):
    api = emu.api(org)
    if url is None:
        return api.token_request(form)
    return http_request("POST", url, urllib.parse.urlencode(form),
                        {"Content-Type": "application/x-www-form-urlencoded"}, ca_file=emu.ca_file)


def cc_form(o, **over):
    f = {"client_id": o["client_id"], "client_secret": o["client_secret"],
         "scope": o["url"].rstrip("/") + "/.default", "grant_type": "client_credentials"}
    f.update(over)
    return {k: v for k, v in f.items() if v is not None}


def rt_form(o, refresh_token, **over):
    f = {"client_id": o["public_client_id"], "grant_type": "refresh_token",
         "refresh_token": refresh_token,
         "scope": o["url"].rstrip("/") + "/.default offline_access"}
    f.update(over)
    return f


def assert_aad_error(r, status, error, code):
    assert r.status == status, r
    b = r.body
    assert isinstance(b, dict), r
    assert b.get("error") == error, b
    desc = b.get("error_description", "")
    assert re.match(r"^AADSTS%d: " % code, desc), desc
    assert "\r\nTrace ID: " in desc, desc
    assert "\r\nCorrelation ID: " in desc, desc
    assert "\r\nTimestamp: " in desc, desc
    assert b.get("error_codes") == [code], b
    assert GUID_ANYCASE_RE.match(b.get("trace_id", "")), b
    assert GUID_ANYCASE_RE.match(b.get("correlation_id", "")), b
    assert TS_RE.match(b.get("timestamp", "")), b
    # the ids/timestamp in the description are the same as the fields
    assert b["trace_id"] in desc and b["correlation_id"] in desc and b["timestamp"] in desc, b
    return b


def test_client_credentials_success(emu):
    o = emu.org("contoso")
    r = token_post(emu, "contoso", cc_form(o))
    assert r.status == 200, r
    assert "no-store" in (r.headers.get("Cache-Control") or "")
    assert (r.headers.get("Content-Type") or "").startswith("application/json")
    b = r.body
    assert b["token_type"] == "Bearer"
    assert isinstance(b["expires_in"], int) and not isinstance(b["expires_in"], bool)
    assert isinstance(b["ext_expires_in"], int)
    assert b["expires_in"] > 60
    assert isinstance(b["access_token"], str) and len(b["access_token"]) > 10
    assert "refresh_token" not in b  # client credentials never returns a refresh token


def test_client_credentials_token_works(emu):
    o = emu.org("contoso")
    tok = token_post(emu, "contoso", cc_form(o)).body["access_token"]
    r = emu.api("contoso").get("WhoAmI", token=tok)
    assert r.status == 200, r


def test_client_secret_via_basic_auth(emu):
    import base64
    o = emu.org("contoso")
    cred = base64.b64encode(("%s:%s" % (urllib.parse.quote(o["client_id"]),
                                        urllib.parse.quote(o["client_secret"]))).encode()).decode()
    form = {"scope": o["url"].rstrip("/") + "/.default", "grant_type": "client_credentials"}
    r = emu.api("contoso").token_request(form, headers={"Authorization": "Basic " + cred})
    assert r.status == 200, r
    assert r.body["token_type"] == "Bearer"


def test_refresh_token_rotation(emu):
    o = emu.org("contoso")
    api = emu.api("contoso")
    r1 = api.token_request(rt_form(o, o["refresh_token"]))
    assert r1.status == 200, r1
    assert r1.body["token_type"] == "Bearer"
    assert isinstance(r1.body["expires_in"], int)
    rt1 = r1.body.get("refresh_token")
    assert rt1 and rt1 != o["refresh_token"], "refresh token must rotate"
    assert api.get("WhoAmI", token=r1.body["access_token"]).status == 200
    # the new refresh token works and rotates again
    r2 = api.token_request(rt_form(o, rt1))
    assert r2.status == 200, r2
    rt2 = r2.body.get("refresh_token")
    assert rt2 and rt2 not in (rt1, o["refresh_token"])
    assert api.get("WhoAmI", token=r2.body["access_token"]).status == 200


def test_refresh_token_old_one_not_revoked_by_rotation(emu):
    # reference §10.3: "rotate on every use - store the new one, old one is not revoked"
    o = emu.org("contoso")
    api = emu.api("contoso")
    r1 = api.token_request(rt_form(o, o["refresh_token"]))
    assert r1.status == 200, r1
    r2 = api.token_request(rt_form(o, o["refresh_token"]))
    assert r2.status == 200, r2


def test_wrong_secret_7000215(emu):
    o = emu.org("contoso")
    r = token_post(emu, "contoso", cc_form(o, client_secret="not-the-secret"))
    assert_aad_error(r, 401, "invalid_client", 7000215)


def test_unknown_client_700016(emu):
    o = emu.org("contoso")
    r = token_post(emu, "contoso", cc_form(o, client_id=str(uuid.uuid4())))
    assert_aad_error(r, 400, "unauthorized_client", 700016)


def test_unknown_tenant_90002(emu):
    o = emu.org("contoso")
    url = emu.base_url + "/%s/oauth2/v2.0/token" % uuid.uuid4()
    r = token_post(emu, "contoso", cc_form(o), url=url)
    b = assert_aad_error(r, 400, "invalid_request", 90002)
    assert b


def test_consent_missing_65001(emu):
    o = emu.org("contoso")
    # the unconsented app is a confidential client with its own secret (emulator.json
    # "unconsented_client_secret"); consent is checked after client authentication
    secret = o.get("unconsented_client_secret", o["client_secret"])
    r = token_post(emu, "contoso", cc_form(o, client_id=o["unconsented_client_id"], client_secret=secret))
    assert_aad_error(r, 400, "invalid_grant", 65001)


def test_bad_scope_70011(emu):
    o = emu.org("contoso")
    r = token_post(emu, "contoso", cc_form(o, scope="not a valid scope"))
    assert_aad_error(r, 400, "invalid_scope", 70011)


def test_missing_secret_7000218(emu):
    o = emu.org("contoso")
    r = token_post(emu, "contoso", cc_form(o, client_secret=None))
    assert r.status in (400, 401), r
    assert_aad_error(r, r.status, "invalid_client", 7000218)


def test_revoked_refresh_token_70008(emu):
    # use fabrikam so contoso's refresh token stays valid for the other tests
    o = emu.org("fabrikam")
    api = emu.api("fabrikam")
    r = api.token_request(rt_form(o, o["refresh_token"]))
    assert r.status == 200, r
    rotated = r.body["refresh_token"]
    emu.revoke_refresh_tokens("fabrikam")
    for rt in (o["refresh_token"], rotated):
        r = api.token_request(rt_form(o, rt))
        assert_aad_error(r, 400, "invalid_grant", 70008)
    # client credentials are not affected by revoking refresh tokens
    assert api.token_request(cc_form(o)).status == 200


def test_garbage_refresh_token(emu):
    o = emu.org("contoso")
    r = emu.api("contoso").token_request(rt_form(o, "garbage-refresh-token"))
    assert r.status == 400, r
    assert r.body["error"] == "invalid_grant", r.body


def test_token_of_org_a_rejected_by_org_b(emu):
    a, b = emu.api("contoso"), emu.api("fabrikam")
    tok = a.token()
    assert a.get("WhoAmI").status == 200
    r = b.get("WhoAmI", token=tok)
    assert r.status == 401, r


def test_no_token_401_with_challenge(emu):
    o = emu.org("contoso")
    r = emu.api("contoso").get("WhoAmI", auth=False)
    assert r.status == 401, r
    www = r.headers.get("WWW-Authenticate") or ""
    assert www.startswith("Bearer"), www
    assert "authorization_uri=" in www and o["tenant_id"] in www, www


def test_garbage_token_401(emu):
    r = emu.api("contoso").get("WhoAmI", token="eyJ0eXAiOiJKV1QifQ.garbage.garbage")
    assert r.status == 401, r


def test_access_token_expiry_cli():
    with Emulator(orgs="contoso", records={"accounts": 2, "contacts": 1}, seed=3,
                  token_lifetime=2) as e:
        api = e.api()
        t = api.fetch_token()
        assert t["expires_in"] <= 2, t
        tok = t["access_token"]
        assert api.get("WhoAmI", token=tok).status == 200
        time.sleep(3.2)
        r = api.get("WhoAmI", token=tok)
        assert r.status == 401, r
        # a fresh token works again
        assert api.get("WhoAmI", token=api.fetch_token()["access_token"]).status == 200


def test_success_headers_v2(emu):
    o = emu.org("contoso")
    r = token_post(emu, "contoso", cc_form(o))
    assert r.status == 200, r
    assert "no-cache" in (r.headers.get("Cache-Control") or "")
    assert r.headers.get("Pragma") == "no-cache"
    assert r.headers.get("Expires") == "-1"
    assert r.body["ext_expires_in"] >= r.body["expires_in"] > 0


def test_refresh_response_fields(emu):
    o = emu.org("contoso")
    api = emu.api("contoso")
    r = api.token_request(rt_form(o, o["refresh_token"]))
    assert r.status == 200, r
    assert isinstance(r.body.get("scope"), str) and r.body["scope"], r.body
    assert "id_token" not in r.body  # only with openid
    r = api.token_request(rt_form(o, r.body["refresh_token"],
                                  scope=o["url"] + "/user_impersonation openid profile offline_access"))
    assert r.status == 200, r
    assert r.body.get("id_token"), r.body
    assert r.body.get("refresh_token")


def test_ropc_password_grant(emu):
    o = emu.org("contoso")
    api = emu.api("contoso")
    form = {"client_id": o["public_client_id"], "grant_type": "password", "username": o["username"],
            "password": o["password"], "scope": o["url"] + "/user_impersonation offline_access"}
    r = api.token_request(form)
    assert r.status == 200, r
    assert r.body["token_type"] == "Bearer" and r.body.get("refresh_token")
    assert api.get("WhoAmI", token=r.body["access_token"]).status == 200
    r = api.token_request(dict(form, password="wrong-password"))
    assert_aad_error(r, 400, "invalid_grant", 50126)


def test_delegated_token_whoami_is_the_user(emu):
    o = emu.org("contoso")
    api = emu.api("contoso")
    app_user = api.get("WhoAmI").body["UserId"]
    r = api.token_request(rt_form(o, o["refresh_token"]))
    who = api.get("WhoAmI", token=r.body["access_token"]).body
    assert who["UserId"] != app_user, "delegated token should act as the user, not the app user"


def test_resource_parameter_on_v2_901002(emu):
    o = emu.org("contoso")
    r = token_post(emu, "contoso", cc_form(o, resource=o["url"]))
    assert_aad_error(r, 400, "invalid_request", 901002)


def test_scope_of_unknown_resource_500011(emu):
    o = emu.org("contoso")
    r = token_post(emu, "contoso", cc_form(o, scope="https://nosuchorg.example.com/.default"))
    assert_aad_error(r, 400, "invalid_resource", 500011)


def test_public_client_sending_secret_700025(emu):
    o = emu.org("contoso")
    r = emu.api("contoso").token_request(rt_form(o, o["refresh_token"], client_secret="x"))
    assert_aad_error(r, 401, "invalid_client", 700025)


def test_secret_expired_7000222(emu):
    o = emu.org("fabrikam")
    emu.control_post("fabrikam", "secret-expired", {"expired": True})
    try:
        r = emu.api("fabrikam").token_request(cc_form(o))
        assert_aad_error(r, 401, "invalid_client", 7000222)
    finally:
        emu.control_post("fabrikam", "secret-expired", {"expired": False})
    assert emu.api("fabrikam").token_request(cc_form(o)).status == 200


def test_tenant_segment_forms(emu):
    o = emu.org("contoso")
    # tenant GUID upper-case, and "organizations" for a user flow (reference 10.1)
    url = emu.base_url + "/%s/oauth2/v2.0/token" % o["tenant_id"].upper()
    assert token_post(emu, "contoso", cc_form(o), url=url).status == 200
    url = emu.base_url + "/organizations/oauth2/v2.0/token"
    r = token_post(emu, "contoso", rt_form(o, o["refresh_token"]), url=url)
    assert r.status == 200, r
    # client credentials cannot use "common"/"organizations"
    url = emu.base_url + "/common/oauth2/v2.0/token"
    r = token_post(emu, "contoso", cc_form(o), url=url)
    assert r.status == 400 and r.body["error"] == "invalid_request", r


def test_token_endpoint_get_not_allowed(emu):
    r = http_request("GET", emu.org("contoso")["token_url"], ca_file=emu.ca_file)
    assert r.status in (400, 405), r


def test_revoke_access_tokens_control(emu):
    """The control surface can invalidate every issued access token (for 401 tests)."""
    api = emu.api("contoso")
    old = api.token(force=True)
    assert api.request("GET", "WhoAmI", token=old).status == 200
    emu.control_post("contoso", "revoke-access-tokens")
    r = api.request("GET", "WhoAmI", token=old)
    assert r.status == 401, r
    assert "Bearer" in (r.headers.get("WWW-Authenticate") or ""), r.headers
    assert api.request("GET", "WhoAmI", token=api.token(force=True)).status == 200
