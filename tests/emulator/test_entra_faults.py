"""Triggering every auth failure the driver handles: injected AADSTS faults, user policies
(MFA, Conditional Access), a missing resource, Dataverse's 403 "not a member", and refresh
token rotation / expiry (reference 10.3-10.5)."""

import time
import urllib.parse
import uuid

import pytest

from lib.client import http_request
from lib.crypto import pkce_pair
from lib.fixtures import emulator_fixture
from test_entra import assert_aad_error


emu = emulator_fixture(orgs="contoso,fabrikam", records={"accounts": 3, "contacts": 2}, seed=13)


@pytest.fixture(autouse=True)
def clean(emu):
    yield
    for org in ("contoso", "fabrikam"):
        emu.auth_fault(org)
        emu.user_policy(org)
        emu.resource_missing(org, False)
        emu.not_member(org)
    emu.clear_faults()


def cc(o, **over):
    f = {"client_id": o["client_id"], "client_secret": o["client_secret"], "scope": o["url"] + "/.default",
         "grant_type": "client_credentials"}
    f.update(over)
    return f


def ropc(o, **over):
    f = {"client_id": o["public_client_id"], "grant_type": "password", "username": o["username"],
         "password": o["password"], "scope": o["url"] + "/user_impersonation offline_access"}
    f.update(over)
    return f


def refresh(o, rt, **over):
    f = {"client_id": o["public_client_id"], "grant_type": "refresh_token", "refresh_token": rt}
    f.update(over)
    return f


def fresh_rt(emu, org="contoso"):
    return emu.control_post(org, "issue-refresh-token")["refresh_token"]


# -- bad input: every code reachable without a control endpoint ------------------------------------

def test_bad_input_codes(emu):
    o = emu.org("contoso")
    api = emu.api("contoso")
    assert_aad_error(api.token_request(cc(o, client_secret="wrong")), 401, "invalid_client", 7000215)
    assert_aad_error(api.token_request(cc(o, client_id=str(uuid.uuid4()))), 400, "unauthorized_client", 700016)
    url = "%s/%s/oauth2/v2.0/token" % (emu.base_url, uuid.uuid4())
    r = http_request("POST", url, urllib.parse.urlencode(cc(o)), {"Content-Type": "application/x-www-form-urlencoded"})
    assert_aad_error(r, 400, "invalid_request", 90002)
    assert_aad_error(api.token_request(cc(o, client_id=o["unconsented_client_id"],
                                          client_secret=o["unconsented_client_secret"])), 400, "invalid_grant", 65001)
    assert_aad_error(api.token_request(ropc(o, password="wrong")), 400, "invalid_grant", 50126)
    assert_aad_error(api.token_request(ropc(o, username="nobody@contoso.example")), 400, "invalid_grant", 50126)
    assert_aad_error(api.token_request(refresh(o, "garbage")), 400, "invalid_grant", 70008)
    assert_aad_error(api.token_request(cc(o, scope=emu.org("fabrikam")["url"] + "/.default")), 400,
                     "invalid_resource", 500011)


# -- auth-fault: one-shot and sticky ---------------------------------------------------------------

@pytest.mark.parametrize("code,grant,error,status", [
    (7000215, "cc", "invalid_client", 401),
    (7000222, "cc", "invalid_client", 401),
    (700016, "cc", "unauthorized_client", 400),
    (90002, "cc", "invalid_request", 400),
    (65001, "cc", "invalid_grant", 400),
    (500011, "cc", "invalid_resource", 400),
    (70008, "refresh", "invalid_grant", 400),
    (700082, "refresh", "invalid_grant", 400),
    (50126, "ropc", "invalid_grant", 400),
    (50076, "ropc", "invalid_grant", 400),
    (50076, "refresh", "interaction_required", 400),
    (50079, "ropc", "invalid_grant", 400),
    (53003, "ropc", "invalid_grant", 400),
    (53003, "refresh", "interaction_required", 400),
    (50173, "refresh", "invalid_grant", 400),
])
def test_auth_fault_one_shot(emu, code, grant, error, status):
    o = emu.org("contoso")
    api = emu.api("contoso")
    forms = {"cc": lambda: cc(o), "ropc": lambda: ropc(o), "refresh": lambda: refresh(o, fresh_rt(emu))}
    emu.auth_fault("contoso", code)
    b = assert_aad_error(api.token_request(forms[grant]()), status, error, code)
    if code in (50076, 50079):
        assert b.get("suberror") == "basic_action", b
    if code == 65001:
        assert b.get("suberror") == "consent_required", b
    assert api.token_request(forms[grant]()).status == 200      # one-shot


def test_auth_fault_waits_for_an_eligible_request(emu):
    o = emu.org("contoso")
    api = emu.api("contoso")
    emu.auth_fault("contoso", 50076)
    assert api.token_request(cc(o)).status == 200                # client credentials: not a user flow
    assert emu.api("fabrikam").token_request(ropc(emu.org("fabrikam"))).status == 200   # other org
    assert_aad_error(api.token_request(ropc(o)), 400, "invalid_grant", 50076)
    emu.auth_fault("contoso", 70008)
    assert api.token_request(ropc(o)).status == 200               # 70008 waits for a refresh
    assert_aad_error(api.token_request(refresh(o, fresh_rt(emu))), 400, "invalid_grant", 70008)


def test_auth_fault_sticky_and_clear(emu):
    o = emu.org("contoso")
    api = emu.api("contoso")
    emu.auth_fault("contoso", 7000222, sticky=True)
    for _ in range(3):
        assert_aad_error(api.token_request(cc(o)), 401, "invalid_client", 7000222)
    emu.auth_fault("contoso")
    assert api.token_request(cc(o)).status == 200
    r = emu.http("POST", "/_emulator/orgs/contoso/auth-fault", {"aadsts": 12345})
    assert r.status == 400, r


# -- user policies -----------------------------------------------------------------------------------

def test_mfa_required(emu):
    o = emu.org("contoso")
    api = emu.api("contoso")
    old_rt = fresh_rt(emu)                  # obtained without MFA
    emu.user_policy("contoso", mfa="required")
    b = assert_aad_error(api.token_request(ropc(o)), 400, "invalid_grant", 50076)
    assert b["suberror"] == "basic_action"
    b = assert_aad_error(api.token_request(refresh(o, old_rt)), 400, "interaction_required", 50076)
    assert b["suberror"] == "basic_action"
    assert api.token_request(cc(o)).status == 200              # app-only: no MFA
    # interactive sign-in satisfies MFA; its refresh token keeps working
    verifier, challenge = pkce_pair()
    r, p = emu.authorize("contoso", redirect_uri="http://localhost:9/", code_challenge=challenge)
    t = api.token_request({"client_id": o["public_client_id"], "grant_type": "authorization_code",
                           "code": p["code"], "redirect_uri": "http://localhost:9/", "code_verifier": verifier})
    assert t.status == 200, t
    t2 = api.token_request(refresh(o, t.body["refresh_token"]))
    assert t2.status == 200, t2
    # device code too
    dc = emu.http("POST", "/%s/oauth2/v2.0/devicecode" % o["tenant_id"],
                  urllib.parse.urlencode({"client_id": o["public_client_id"],
                                          "scope": o["url"] + "/user_impersonation offline_access"}),
                  {"Content-Type": "application/x-www-form-urlencoded"}).body
    emu.control_post("contoso", "device-approve", {"user_code": dc["user_code"]})
    t3 = api.token_request({"client_id": o["public_client_id"], "grant_type":
                            "urn:ietf:params:oauth:grant-type:device_code", "device_code": dc["device_code"]})
    assert t3.status == 200, t3
    assert api.token_request(refresh(o, t3.body["refresh_token"])).status == 200
    emu.user_policy("contoso")
    assert api.token_request(ropc(o)).status == 200


def test_mfa_registration_50079(emu):
    o = emu.org("contoso")
    emu.user_policy("contoso", mfa="registration")
    b = assert_aad_error(emu.api("contoso").token_request(ropc(o)), 400, "invalid_grant", 50079)
    assert b["suberror"] == "basic_action"


def test_conditional_access_block_53003(emu):
    o = emu.org("contoso")
    api = emu.api("contoso")
    rt = fresh_rt(emu)
    emu.user_policy("contoso", block=True)
    assert_aad_error(api.token_request(ropc(o)), 400, "invalid_grant", 53003)
    assert_aad_error(api.token_request(refresh(o, rt)), 400, "interaction_required", 53003)
    r, p = emu.authorize("contoso", redirect_uri="http://localhost:9/")
    assert r.status == 400 and b"AADSTS53003" in r.raw and not p, r
    assert api.token_request(cc(o)).status == 200
    r = emu.http("POST", "/_emulator/orgs/contoso/user-policy", {"mfa": "sometimes"})
    assert r.status == 400, r


# -- missing resource, not a member ------------------------------------------------------------------

def test_resource_missing_500011(emu):
    o = emu.org("contoso")
    api = emu.api("contoso")
    emu.resource_missing("contoso")
    b = assert_aad_error(api.token_request(cc(o)), 400, "invalid_resource", 500011)
    assert o["url"].lower() in b["error_description"].lower()
    assert_aad_error(api.token_request(refresh(o, fresh_rt(emu))), 400, "invalid_resource", 500011)
    assert emu.api("fabrikam").token_request(cc(emu.org("fabrikam"))).status == 200
    emu.resource_missing("contoso", False)
    assert api.token_request(cc(o)).status == 200


def test_not_member_403(emu):
    o = emu.org("contoso")
    api = emu.api("contoso")
    app_token = api.token(force=True)
    user_token = api.token_request(ropc(o)).body["access_token"]
    emu.not_member("contoso", "app")
    r = api.get("WhoAmI", token=app_token)
    assert r.status == 403, r
    assert r.body == {"error": {"code": "0x80072560", "message": "The user is not a member of the organization."}}
    assert api.get("accounts?$top=1", token=app_token).status == 403
    assert api.get("WhoAmI", token=user_token).status == 200       # only that principal
    emu.not_member("contoso")
    assert api.get("WhoAmI", token=app_token).status == 200
    # by object id / client id
    emu.not_member("contoso", o["user_object_id"])
    assert api.get("WhoAmI", token=user_token).status == 403
    emu.not_member("contoso", o["user_object_id"], member=True)
    assert api.get("WhoAmI", token=user_token).status == 200
    emu.not_member("contoso", o["client_id"])
    assert api.get("WhoAmI", token=app_token).status == 403
    assert emu.stats()["by_status"].get("403", 0) >= 1


# -- refresh token rotation and expiry ------------------------------------------------------------------

def test_rotation_old_token_dies_after_grace(emu):
    o = emu.org("fabrikam")
    api = emu.api("fabrikam")
    emu.faults(refresh_grace=0.4)
    rt0 = fresh_rt(emu, "fabrikam")
    r1 = api.token_request(refresh(o, rt0))
    assert r1.status == 200, r1
    rt1 = r1.body["refresh_token"]
    assert rt1 != rt0
    assert api.token_request(refresh(o, rt0)).status == 200   # within the grace period
    time.sleep(0.6)
    b = assert_aad_error(api.token_request(refresh(o, rt0)), 400, "invalid_grant", 70008)
    assert "expired" in b["error_description"]
    r2 = api.token_request(refresh(o, rt1))                    # the rotated one is fine
    assert r2.status == 200 and r2.body["refresh_token"] not in (rt0, rt1), r2


def test_refresh_token_inactivity_700082(emu):
    o = emu.org("fabrikam")
    api = emu.api("fabrikam")
    rt = fresh_rt(emu, "fabrikam")
    emu.faults(refresh_token_max_inactive=0.4)
    time.sleep(0.6)
    b = assert_aad_error(api.token_request(refresh(o, rt)), 400, "invalid_grant", 700082)
    assert "inactive" in b["error_description"]


def test_revoked_70008(emu):
    o = emu.org("fabrikam")
    rt = fresh_rt(emu, "fabrikam")
    emu.revoke_refresh_tokens("fabrikam")
    assert_aad_error(emu.api("fabrikam").token_request(refresh(o, rt)), 400, "invalid_grant", 70008)


def test_ropc_not_over_common_9001023(emu):
    o = emu.org("contoso")
    for seg, ok in (("common", False), ("organizations", True)):
        url = "%s/%s/oauth2/v2.0/token" % (emu.base_url, seg)
        r = http_request("POST", url, urllib.parse.urlencode(ropc(o)),
                         {"Content-Type": "application/x-www-form-urlencoded"})
        if ok:
            assert r.status == 200, r
        else:
            assert_aad_error(r, 400, "invalid_request", 9001023)


def _device_code(emu, o):
    r = emu.http("POST", "/%s/oauth2/v2.0/devicecode" % o["tenant_id"],
                 urllib.parse.urlencode({"client_id": o["public_client_id"],
                                         "scope": o["url"] + "/user_impersonation offline_access"}),
                 {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r
    return r.body


def _poll(emu, o, dc):
    return emu.api("contoso").token_request({
        "client_id": o["public_client_id"], "device_code": dc["device_code"],
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code"})


def test_device_code_polling_states(emu):
    """pending -> slow_down when polled before the interval (it grows by 5 s) -> approved ->
    tokens once; declined; expired after device_expires_in."""
    o = emu.org("contoso")
    emu.faults(device_interval=2)
    dc = _device_code(emu, o)
    assert dc["interval"] == 2 and dc["expires_in"] == 900
    assert_aad_error(_poll(emu, o, dc), 400, "authorization_pending", 70016)
    b = assert_aad_error(_poll(emu, o, dc), 400, "slow_down", 70016)    # at once: too early
    assert "7 seconds" in b["error_description"], b
    emu.control_post("contoso", "device-approve", {"user_code": dc["user_code"]})
    t = _poll(emu, o, dc)
    assert t.status == 200 and t.body["refresh_token"], t
    assert_aad_error(_poll(emu, o, dc), 400, "invalid_grant", 54005)    # redeemed once only

    dc = _device_code(emu, o)
    emu.control_post("contoso", "device-decline", {"user_code": dc["user_code"]})
    assert_aad_error(_poll(emu, o, dc), 400, "authorization_declined", 70000)

    emu.faults(device_slow_down=1)               # a forced slow_down on the first poll
    dc = _device_code(emu, o)
    assert_aad_error(_poll(emu, o, dc), 400, "slow_down", 70016)
    assert emu.get_faults()["device_slow_down"] == 0

    emu.faults(device_expires_in=1)
    dc = _device_code(emu, o)
    assert dc["expires_in"] == 1
    time.sleep(1.2)
    assert_aad_error(_poll(emu, o, dc), 400, "expired_token", 70019)
