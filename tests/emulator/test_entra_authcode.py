"""Authorization code + PKCE: the authorize endpoint (as a browser that does not follow the
redirect) and the code redemption (reference 10.2)."""

import time
import urllib.parse

import pytest

from lib.client import http_request
from lib.crypto import pkce_pair
from lib.fixtures import emulator_fixture
from test_entra import assert_aad_error

REDIRECT = "http://127.0.0.1:53117/callback"


emu = emulator_fixture(orgs="contoso,fabrikam", records={"accounts": 3, "contacts": 2}, seed=7)


def redeem(emu, org, code, verifier, redirect=REDIRECT, client_id=None, **extra):
    o = emu.org(org)
    f = {"client_id": client_id or o["public_client_id"], "grant_type": "authorization_code", "code": code,
         "redirect_uri": redirect, "code_verifier": verifier, "scope": o["url"] + "/user_impersonation"}
    f.update(extra)
    return emu.api(org).token_request({k: v for k, v in f.items() if v is not None})


def sign_in(emu, org="contoso", redirect=REDIRECT, **kw):
    verifier, challenge = pkce_pair()
    r, p = emu.authorize(org, redirect_uri=redirect, state="st&=/ x", code_challenge=challenge, **kw)
    assert r.status == 302, r
    assert "code" in p, p
    return p["code"], verifier


def test_authorize_redirects_with_code_and_state(emu):
    verifier, challenge = pkce_pair()
    r, p = emu.authorize("contoso", redirect_uri=REDIRECT, state="a b&c=d/é", code_challenge=challenge)
    assert r.status == 302, r
    loc = r.headers["Location"]
    assert loc.startswith(REDIRECT + "?"), loc
    assert p["state"] == "a b&c=d/é"
    assert len(p["code"]) > 40 and "error" not in p
    t = redeem(emu, "contoso", p["code"], verifier)
    assert t.status == 200, t
    b = t.body
    assert b["token_type"] == "Bearer" and b.get("refresh_token") and b.get("id_token"), b
    assert "no-store" in t.headers.get("Cache-Control")
    who = emu.api("contoso").get("WhoAmI", token=b["access_token"])
    assert who.status == 200 and who.body["UserId"] == emu.org("contoso")["user_id"], who
    # the refresh token works for the public client
    o = emu.org("contoso")
    r2 = emu.api("contoso").token_request({"client_id": o["public_client_id"], "grant_type": "refresh_token",
                                           "refresh_token": b["refresh_token"]})
    assert r2.status == 200, r2


def test_no_offline_access_no_refresh_token(emu):
    o = emu.org("contoso")
    verifier, challenge = pkce_pair()
    r, p = emu.authorize("contoso", redirect_uri=REDIRECT, code_challenge=challenge,
                         scope=o["url"] + "/user_impersonation")
    t = redeem(emu, "contoso", p["code"], verifier)
    assert t.status == 200, t
    assert "refresh_token" not in t.body and "id_token" not in t.body
    assert "state" not in p  # nothing to echo


@pytest.mark.parametrize("uri", ["http://localhost:1/", "http://localhost/", "http://127.0.0.1:65000/x/y",
                                 "http://localhost:8400"])
def test_loopback_redirect_any_port(emu, uri):
    code, verifier = sign_in(emu, redirect=uri)
    assert redeem(emu, "contoso", code, verifier, redirect=uri).status == 200


@pytest.mark.parametrize("uri", ["https://evil.example/cb", "http://192.168.1.5:8400/", "ftp://localhost/",
                                 "http://localhost.evil.example/"])
def test_unregistered_redirect_uri_error_page_50011(emu, uri):
    r, p = emu.authorize("contoso", redirect_uri=uri, state="s")
    assert r.status == 400, r
    assert r.headers.get("Location") is None
    assert (r.headers.get("Content-Type") or "").startswith("text/html")
    text = r.raw.decode()
    assert "AADSTS50011" in text and o_escape(uri) in text, text


def o_escape(s):
    import html
    return html.escape(s)


def test_errors_shown_not_redirected(emu):
    o = emu.org("contoso")
    # unknown client, unknown tenant, missing redirect URI: error page, never a redirect
    r, _ = emu.authorize("contoso", client_id="00000000-0000-0000-0000-000000000001", redirect_uri=REDIRECT)
    assert r.status == 400 and b"AADSTS700016" in r.raw, r
    url = emu.base_url + "/11111111-2222-3333-4444-555555555555/oauth2/v2.0/authorize"
    r, _ = emu.authorize("contoso", redirect_uri=REDIRECT, url=url)
    assert r.status == 400 and b"AADSTS90002" in r.raw, r
    r, _ = emu.authorize("contoso", redirect_uri=None)
    assert r.status == 400 and b"AADSTS900971" in r.raw, r
    # the other org's client is unknown in this tenant
    r, _ = emu.authorize("contoso", client_id=emu.org("fabrikam")["public_client_id"], redirect_uri=REDIRECT)
    assert r.status == 400 and b"AADSTS700016" in r.raw, r
    assert o


def test_errors_redirected_with_state(emu):
    o = emu.org("contoso")
    r, p = emu.authorize("contoso", redirect_uri=REDIRECT, state="xyz", scope="not a scope")
    assert r.status == 302, r
    assert p["error"] == "invalid_scope" and p["state"] == "xyz", p
    assert p["error_description"].startswith("AADSTS70011: "), p
    assert "\r\nTrace ID: " in p["error_description"]
    r, p = emu.authorize("contoso", redirect_uri=REDIRECT, state="xyz", extra={"response_type": "token"})
    assert p["error"] == "unsupported_response_type", p
    r, p = emu.authorize("contoso", redirect_uri=REDIRECT, state="xyz", code_challenge="a" * 43, method="S512")
    assert p["error"] == "invalid_request" and "code_challenge_method" in p["error_description"], p
    r, p = emu.authorize("contoso", redirect_uri=REDIRECT, state="xyz", code_challenge="short")
    assert p["error"] == "invalid_request" and p["error_description"].startswith("AADSTS501491"), p
    r, p = emu.authorize("contoso", redirect_uri=REDIRECT, state="xyz", scope="https://other.example/.default")
    assert p["error"] == "invalid_resource", p
    r, p = emu.authorize("contoso", client_id=o["unconsented_client_id"], redirect_uri=REDIRECT, state="xyz")
    assert p["error"] == "consent_required" and "AADSTS65001" in p["error_description"], p


def test_authorize_outcome_one_shot(emu):
    emu.authorize_outcome("contoso", "access_denied", "AADSTS65004: User declined to consent to access the app.")
    r, p = emu.authorize("contoso", redirect_uri=REDIRECT, state="s1")
    assert r.status == 302, r
    assert p == {"error": "access_denied", "error_description":
                 "AADSTS65004: User declined to consent to access the app.", "state": "s1"}, p
    code, verifier = sign_in(emu)                       # one-shot: the next one works
    assert redeem(emu, "contoso", code, verifier).status == 200
    emu.authorize_outcome("contoso", "access_denied", "x")
    emu.authorize_outcome("contoso")                    # {} resets
    code, verifier = sign_in(emu)
    assert redeem(emu, "contoso", code, verifier).status == 200


def test_code_single_use_54005(emu):
    code, verifier = sign_in(emu)
    assert redeem(emu, "contoso", code, verifier).status == 200
    assert_aad_error(redeem(emu, "contoso", code, verifier), 400, "invalid_grant", 54005)


def test_pkce_mismatch_501481(emu):
    code, verifier = sign_in(emu)
    other, _ = pkce_pair()
    assert_aad_error(redeem(emu, "contoso", code, other), 400, "invalid_grant", 501481)
    assert_aad_error(redeem(emu, "contoso", code, "tooshort"), 400, "invalid_grant", 501481)
    assert_aad_error(redeem(emu, "contoso", code, None), 400, "invalid_request", 900144)
    # a failed verifier does not burn the code
    assert redeem(emu, "contoso", code, verifier).status == 200


def test_plain_challenge(emu):
    verifier, _ = pkce_pair()
    r, p = emu.authorize("contoso", redirect_uri=REDIRECT, code_challenge=verifier, method="plain")
    assert r.status == 302 and "code" in p, p
    assert_aad_error(redeem(emu, "contoso", p["code"], pkce_pair()[0]), 400, "invalid_grant", 501481)
    assert redeem(emu, "contoso", p["code"], verifier).status == 200


def test_redirect_uri_must_match_500112(emu):
    code, verifier = sign_in(emu)
    r = redeem(emu, "contoso", code, verifier, redirect="http://127.0.0.1:53118/callback")
    assert_aad_error(r, 401, "invalid_client", 500112)
    assert_aad_error(redeem(emu, "contoso", code, verifier, redirect=None), 400, "invalid_request", 900144)
    assert redeem(emu, "contoso", code, verifier).status == 200


def test_code_bound_to_client_and_tenant(emu):
    o = emu.org("contoso")
    code, verifier = sign_in(emu)
    r = redeem(emu, "contoso", code, verifier, client_id=o["client_id"], client_secret=o["client_secret"])
    assert_aad_error(r, 400, "invalid_grant", 70000)
    f = emu.org("fabrikam")
    r = http_request("POST", f["token_url"], urllib.parse.urlencode(
        {"client_id": o["public_client_id"], "grant_type": "authorization_code", "code": code,
         "redirect_uri": REDIRECT, "code_verifier": verifier}),
        {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status in (400, 401) and r.body["error"] in ("unauthorized_client", "invalid_grant"), r
    assert_aad_error(redeem(emu, "contoso", "garbage", verifier), 400, "invalid_grant", 70000)


def test_code_expires_70008(emu):
    emu.faults(auth_code_lifetime=0.4)
    try:
        code, verifier = sign_in(emu)
        time.sleep(0.6)
        assert_aad_error(redeem(emu, "contoso", code, verifier), 400, "invalid_grant", 70008)
    finally:
        emu.clear_faults()


def test_confidential_client_needs_credentials(emu):
    o = emu.org("contoso")
    verifier, challenge = pkce_pair()
    r, p = emu.authorize("contoso", client_id=o["client_id"], redirect_uri=REDIRECT, code_challenge=challenge)
    assert r.status == 302 and "code" in p, p
    r = redeem(emu, "contoso", p["code"], verifier, client_id=o["client_id"])
    assert_aad_error(r, 401, "invalid_client", 7000218)
    r = redeem(emu, "contoso", p["code"], verifier, client_id=o["client_id"], client_secret=o["client_secret"])
    assert r.status == 200, r


def test_stats_count_authorize_and_redeem(emu):
    emu.reset_stats()
    code, verifier = sign_in(emu)
    redeem(emu, "contoso", code, verifier)
    st = emu.stats()
    assert st["by_org"]["contoso"]["by_kind"]["token"] == 2, st
    assert st["by_status"].get("302") == 1 and st["by_status"].get("200") == 1, st


def test_well_known_lists_authorization_code(emu):
    o = emu.org("contoso")
    r = emu.http("GET", "/%s/v2.0/.well-known/openid-configuration" % o["tenant_id"])
    assert "authorization_code" in r.body["grant_types_supported"]
    assert r.body["authorization_endpoint"] == o["authorize_url"]
    assert "S256" in r.body["code_challenge_methods_supported"]
