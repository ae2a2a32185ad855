"""AD FS token endpoint (on-premises IFD, reference 10.8): /adfs/oauth2/token with resource=."""

import json
import urllib.parse

from lib.client import http_request
from lib.fixtures import emulator_fixture


emu = emulator_fixture(orgs="contoso,fabrikam", records={"accounts": 3, "contacts": 2}, seed=9)


def adfs(emu, form, url=None):
    return http_request("POST", url or emu.org("contoso")["adfs_token_url"], urllib.parse.urlencode(form),
                        {"Content-Type": "application/x-www-form-urlencoded"}, ca_file=emu.ca_file)


def pw_form(o, **over):
    f = {"grant_type": "password", "client_id": o["public_client_id"], "resource": o["adfs_resource"],
         "username": o["username"], "password": o["password"]}
    f.update(over)
    return {k: v for k, v in f.items() if v is not None}


def assert_msis(r, error, msis):
    assert r.status == 400, r
    assert set(r.body) == {"error", "error_description"}, r.body
    assert r.body["error"] == error, r.body
    assert r.body["error_description"].startswith("MSIS%d: " % msis), r.body
    assert b"'" not in r.raw  # apostrophes are \u0027-escaped like AD FS does
    return r.body


def test_password_grant(emu):
    o = emu.org("contoso")
    assert o["adfs_token_url"] == emu.base_url + "/adfs/oauth2/token"
    r = adfs(emu, pw_form(o))
    assert r.status == 200, r
    b = r.body
    assert b["token_type"] == "bearer" and b["expires_in"] == 3600, b
    assert b["resource"] == o["adfs_resource"]
    assert b["refresh_token"] and isinstance(b["refresh_token_expires_in"], int)
    assert "scope" not in b and "ext_expires_in" not in b
    who = emu.api("contoso").get("WhoAmI", token=b["access_token"])
    assert who.status == 200 and who.body["UserId"] == o["user_id"], who
    # not valid for another org
    assert emu.api("fabrikam").get("WhoAmI", token=b["access_token"]).status == 401


def test_resource_trailing_slash_and_domain_username(emu):
    o = emu.org("contoso")
    r = adfs(emu, pw_form(o, resource=o["url"] + "/", username="CONTOSO\\admin"))
    assert r.status == 200, r
    assert r.body["resource"] == o["url"] + "/"
    assert emu.api("contoso").get("WhoAmI", token=r.body["access_token"]).status == 200
    assert adfs(emu, pw_form(o), url=emu.base_url + "/adfs/oauth2/token/").status == 200


def test_bad_password_msis9659(emu):
    o = emu.org("contoso")
    b = assert_msis(adfs(emu, pw_form(o, password="nope")), "invalid_grant", 9659)
    assert b["error_description"] == "MSIS9659: Invalid 'username' or 'password'."
    assert_msis(adfs(emu, pw_form(o, username="someone@contoso.example")), "invalid_grant", 9659)


def test_unknown_client_resource_grant(emu):
    o = emu.org("contoso")
    assert_msis(adfs(emu, pw_form(o, client_id="00000000-0000-0000-0000-00000000abcd")), "invalid_client", 9607)
    assert_msis(adfs(emu, pw_form(o, resource="https://nosuch.example/")), "invalid_resource", 9602)
    assert_msis(adfs(emu, pw_form(o, resource=None)), "invalid_resource", 9602)
    assert_msis(adfs(emu, pw_form(o, grant_type="urn:ietf:params:oauth:grant-type:saml2-bearer")),
                "unsupported_grant_type", 9611)
    # a client of another org may not access this resource
    assert_msis(adfs(emu, pw_form(o, client_id=emu.org("fabrikam")["public_client_id"])), "unauthorized_client",
                9605)


def test_confidential_client_secret(emu):
    o = emu.org("contoso")
    assert_msis(adfs(emu, pw_form(o, client_id=o["client_id"])), "invalid_client", 9622)
    assert_msis(adfs(emu, pw_form(o, client_id=o["client_id"], client_secret="x")), "invalid_client", 9622)
    r = adfs(emu, pw_form(o, client_id=o["client_id"], client_secret=o["client_secret"]))
    assert r.status == 200, r
    r = adfs(emu, {"grant_type": "client_credentials", "client_id": o["client_id"], "client_secret": o["client_secret"],
                   "resource": o["adfs_resource"]})
    assert r.status == 200 and "refresh_token" not in r.body, r
    who = emu.api("contoso").get("WhoAmI", token=r.body["access_token"])
    assert who.status == 200 and who.body["UserId"] == o["app_user_id"], who


def test_refresh_token_grant(emu):
    o = emu.org("contoso")
    rt = adfs(emu, pw_form(o)).body["refresh_token"]
    f = {"grant_type": "refresh_token", "client_id": o["public_client_id"], "resource": o["adfs_resource"],
         "refresh_token": rt}
    r = adfs(emu, f)
    assert r.status == 200, r
    assert emu.api("contoso").get("WhoAmI", token=r.body["access_token"]).status == 200
    assert "refresh_token" not in r.body      # AD FS keeps the refresh token
    assert adfs(emu, f).status == 200         # ... so it can be used again
    assert_msis(adfs(emu, dict(f, refresh_token="garbage")), "invalid_grant", 9614)
    # an Entra refresh token is not an AD FS one, and vice versa
    assert_msis(adfs(emu, dict(f, refresh_token=o["refresh_token"])), "invalid_grant", 9614)
    r = emu.api("contoso").token_request({"client_id": o["public_client_id"], "grant_type": "refresh_token",
                                          "refresh_token": rt})
    assert r.status == 400 and r.body["error"] == "invalid_grant", r
    emu.revoke_refresh_tokens("contoso")
    assert_msis(adfs(emu, f), "invalid_grant", 9614)


def test_well_known(emu):
    r = emu.http("GET", "/adfs/.well-known/openid-configuration")
    assert r.status == 200, r
    assert r.body["token_endpoint"] == emu.base_url + "/adfs/oauth2/token/"
    assert r.body["issuer"] == emu.base_url + "/adfs"
    assert "password" in r.body["grant_types_supported"]


def test_adfs_counted_as_token(emu):
    emu.reset_stats()
    adfs(emu, pw_form(emu.org("fabrikam")))
    st = emu.stats()
    assert st["by_org"]["fabrikam"]["by_kind"]["token"] == 1, json.dumps(st)
