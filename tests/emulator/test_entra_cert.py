"""Certificate client assertions (private_key_jwt) at the v2 token endpoint (reference 10.2)."""

import shutil
import tempfile
import time
import urllib.parse
import uuid

import pytest

from lib.crypto import client_assertion, make_certificate
from lib.fixtures import emulator_fixture
from test_entra import assert_aad_error

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def certs():
    d = tempfile.mkdtemp(prefix="dvemu-certs-")
    try:
        yield {"good": make_certificate(d, "good"), "other": make_certificate(d, "other"),
               "dir": d}
    finally:
        shutil.rmtree(d, ignore_errors=True)


bare_emu = emulator_fixture(orgs="contoso,fabrikam", records={"accounts": 3, "contacts": 2}, seed=5)


@pytest.fixture(scope="module")
def emu(bare_emu, certs):
    """The emulator with the "good" certificate registered for contoso's app."""
    bare_emu.add_certificate("contoso", certs["good"]["cert_pem"])
    return bare_emu


def form(o, assertion, **over):
    f = {"client_id": o["client_id"], "scope": o["url"] + "/.default", "grant_type": "client_credentials",
         "client_assertion_type": JWT_BEARER, "client_assertion": assertion}
    f.update(over)
    return {k: v for k, v in f.items() if v is not None}


def post(emu, org, f):
    return emu.api(org).token_request(f)


def test_register_answers_thumbprints(emu, certs):
    import base64
    import hashlib
    import re
    pem = certs["other"]["cert_pem"]
    der = base64.b64decode("".join(re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END", pem, re.S).group(1).split()))
    out = emu.add_certificate("fabrikam", pem)
    assert out["x5t"] == base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()
    assert out["x5t#S256"] == base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    listed = emu.http("GET", "/_emulator/orgs/fabrikam/certificates").body["certificates"]
    assert [c["x5t"] for c in listed] == [out["x5t"]]
    assert emu.remove_certificates("fabrikam")["removed"] == 1
    assert emu.http("GET", "/_emulator/orgs/fabrikam/certificates").body["certificates"] == []
    r = emu.http("POST", "/_emulator/orgs/fabrikam/certificates", "not a certificate")
    assert r.status == 400, r


@pytest.mark.parametrize("alg,thumb", [("RS256", "x5t"), ("RS256", "x5t#S256"), ("PS256", "x5t#S256"),
                                       ("PS256", "x5t")])
def test_client_credentials_with_assertion(emu, certs, alg, thumb):
    o = emu.org("contoso")
    a = client_assertion(certs["good"], o["client_id"], o["token_url"], alg=alg, thumbprint=thumb)
    r = post(emu, "contoso", form(o, a))
    assert r.status == 200, r
    assert "refresh_token" not in r.body
    who = emu.api("contoso").get("WhoAmI", token=r.body["access_token"])
    assert who.status == 200 and who.body["UserId"] == o["app_user_id"], who


def test_audience_forms(emu, certs):
    o = emu.org("contoso")
    base = emu.base_url
    for aud in (o["token_url"] + "/", "%s/%s/v2.0" % (base, o["tenant_id"]),
                "%s/contoso.example/oauth2/v2.0/token" % base):
        r = post(emu, "contoso", form(o, client_assertion(certs["good"], o["client_id"], aud)))
        assert r.status == 200, (aud, r)
    # the endpoint actually called, in another tenant form
    url = "%s/contoso.onmicrosoft.com/oauth2/v2.0/token" % base
    r = emu.http("POST", url, urllib.parse.urlencode(form(o, client_assertion(certs["good"], o["client_id"], url))),
                 {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r


def test_wrong_audience_700023(emu, certs):
    o = emu.org("contoso")
    for aud in ("https://login.microsoftonline.com/%s/oauth2/v2.0/token" % o["tenant_id"],
                emu.org("fabrikam")["token_url"]):
        r = post(emu, "contoso", form(o, client_assertion(certs["good"], o["client_id"], aud)))
        assert_aad_error(r, 401, "invalid_client", 700023)
    a = client_assertion(certs["good"], o["client_id"], o["token_url"],
                         claims={"aud": [o["token_url"], emu.base_url + "/x"]})
    assert_aad_error(post(emu, "contoso", form(o, a)), 401, "invalid_client", 5002741)


def test_unknown_key_700027(emu, certs):
    o = emu.org("contoso")
    r = post(emu, "contoso", form(o, client_assertion(certs["other"], o["client_id"], o["token_url"])))
    b = assert_aad_error(r, 401, "invalid_client", 700027)
    assert "The key was not found" in b["error_description"]
    a = client_assertion(certs["good"], o["client_id"], o["token_url"], header={"x5t": "AAAA"})
    assert_aad_error(post(emu, "contoso", form(o, a)), 401, "invalid_client", 700027)


def test_bad_signature_700027(emu, certs):
    o = emu.org("contoso")
    a = client_assertion(certs["good"], o["client_id"], o["token_url"])
    head, body, sig = a.split(".")
    # a different payload under the same signature
    forged = client_assertion(certs["good"], o["client_id"], o["token_url"], jti="other").split(".")[1]
    r = post(emu, "contoso", form(o, ".".join([head, forged, sig])))
    b = assert_aad_error(r, 401, "invalid_client", 700027)
    assert "did not match the expected signature" in b["error_description"]
    # signed by another key but naming the registered certificate
    from lib.crypto import cert_thumbprints
    a = client_assertion(certs["other"], o["client_id"], o["token_url"],
                         header={"x5t": cert_thumbprints(certs["good"]["cert_pem"])["x5t"]})
    assert_aad_error(post(emu, "contoso", form(o, a)), 401, "invalid_client", 700027)


def test_time_range_700024(emu, certs):
    o = emu.org("contoso")
    now = time.time()
    expired = client_assertion(certs["good"], o["client_id"], o["token_url"], now=now - 1000, lifetime=600)
    b = assert_aad_error(post(emu, "contoso", form(o, expired)), 401, "invalid_client", 700024)
    assert "Current time:" in b["error_description"]
    future = client_assertion(certs["good"], o["client_id"], o["token_url"], now=now + 900)
    assert_aad_error(post(emu, "contoso", form(o, future)), 401, "invalid_client", 700024)
    # within the 5-minute clock skew: accepted
    skewed = client_assertion(certs["good"], o["client_id"], o["token_url"], now=now - 800, lifetime=600)
    assert post(emu, "contoso", form(o, skewed)).status == 200
    early = client_assertion(certs["good"], o["client_id"], o["token_url"], now=now + 200)
    assert post(emu, "contoso", form(o, early)).status == 200


def test_issuer_and_subject(emu, certs):
    o = emu.org("contoso")
    a = client_assertion(certs["good"], o["client_id"], o["token_url"], claims={"iss": str(uuid.uuid4())})
    assert_aad_error(post(emu, "contoso", form(o, a)), 401, "invalid_client", 700021)
    a = client_assertion(certs["good"], o["client_id"], o["token_url"], claims={"sub": "someone"})
    assert_aad_error(post(emu, "contoso", form(o, a)), 401, "invalid_client", 50048)


def test_malformed_50027(emu, certs):
    o = emu.org("contoso")
    for bad in ("not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30"):
        assert_aad_error(post(emu, "contoso", form(o, bad)), 401, "invalid_client", 50027)
    a = client_assertion(certs["good"], o["client_id"], o["token_url"], drop=("jti",))
    assert_aad_error(post(emu, "contoso", form(o, a)), 401, "invalid_client", 50027)
    a = client_assertion(certs["good"], o["client_id"], o["token_url"], drop=("exp",))
    assert_aad_error(post(emu, "contoso", form(o, a)), 401, "invalid_client", 50027)
    a = client_assertion(certs["good"], o["client_id"], o["token_url"], header={"alg": "HS256"})
    assert_aad_error(post(emu, "contoso", form(o, a)), 401, "invalid_client", 5002738)


def test_assertion_type_and_missing_credentials(emu, certs):
    o = emu.org("contoso")
    a = client_assertion(certs["good"], o["client_id"], o["token_url"])
    assert_aad_error(post(emu, "contoso", form(o, a, client_assertion_type=None)), 400, "invalid_request", 900144)
    assert_aad_error(post(emu, "contoso", form(o, a, client_assertion_type="urn:x")), 400, "invalid_request", 90011)
    assert_aad_error(post(emu, "contoso", form(o, None, client_assertion_type=None)), 401, "invalid_client", 7000218)
    # a public client must not present an assertion
    r = post(emu, "contoso", form(o, a, client_id=o["public_client_id"]))
    assert_aad_error(r, 401, "invalid_client", 700025)


def test_reuse_accepted_unless_replay_checking(emu, certs):
    """Entra accepts a reused assertion within its lifetime (MSAL caches signed assertions);
    the assertion_replay setting makes the emulator reject a second use of a jti."""
    o = emu.org("contoso")
    a = client_assertion(certs["good"], o["client_id"], o["token_url"])
    assert post(emu, "contoso", form(o, a)).status == 200
    assert post(emu, "contoso", form(o, a)).status == 200
    emu.faults(assertion_replay=1)
    try:
        a = client_assertion(certs["good"], o["client_id"], o["token_url"])
        assert post(emu, "contoso", form(o, a)).status == 200
        assert_aad_error(post(emu, "contoso", form(o, a)), 401, "invalid_client", 50013)
        b = client_assertion(certs["good"], o["client_id"], o["token_url"])
        assert post(emu, "contoso", form(o, b)).status == 200
    finally:
        emu.clear_faults()


def test_expired_and_future_key(emu, certs):
    o = emu.org("fabrikam")
    now = time.time()
    emu.add_certificate("fabrikam", certs["other"]["cert_pem"], start=now - 86400 * 400, end=now - 86400)
    try:
        a = client_assertion(certs["other"], o["client_id"], o["token_url"])
        b = assert_aad_error(post(emu, "fabrikam", form(o, a)), 401, "invalid_client", 700027)
        assert "The key used is expired" in b["error_description"]
        emu.add_certificate("fabrikam", certs["other"]["cert_pem"], start=now + 86400, end=now + 86400 * 10)
        b = assert_aad_error(post(emu, "fabrikam", form(o, a)), 401, "invalid_client", 700027)
        assert "not yet valid" in b["error_description"]
        # re-registering with the certificate's own validity replaces the key
        emu.add_certificate("fabrikam", certs["other"]["cert_pem"])
        assert post(emu, "fabrikam", form(o, a)).status == 200
    finally:
        emu.remove_certificates("fabrikam")


def test_certificate_of_other_org_not_accepted(emu, certs):
    o = emu.org("fabrikam")
    a = client_assertion(certs["good"], o["client_id"], o["token_url"])
    assert_aad_error(post(emu, "fabrikam", form(o, a)), 401, "invalid_client", 700027)


def test_assertion_for_refresh_token_grant(emu, certs):
    """A confidential client authenticates its refresh (and code) redemptions with an assertion."""
    o = emu.org("contoso")
    api = emu.api("contoso")
    r = api.token_request({"client_id": o["client_id"], "client_secret": o["client_secret"], "grant_type": "password",
                           "username": o["username"], "password": o["password"],
                           "scope": o["url"] + "/user_impersonation offline_access"})
    assert r.status == 200, r
    a = client_assertion(certs["good"], o["client_id"], o["token_url"])
    f = {"client_id": o["client_id"], "grant_type": "refresh_token", "refresh_token": r.body["refresh_token"],
         "client_assertion_type": JWT_BEARER, "client_assertion": a}
    r2 = api.token_request(f)
    assert r2.status == 200, r2
    assert r2.body["refresh_token"] != r.body["refresh_token"]
    bad = dict(f, client_assertion=client_assertion(certs["other"], o["client_id"], o["token_url"]),
               refresh_token=r2.body["refresh_token"])
    assert_aad_error(api.token_request(bad), 401, "invalid_client", 700027)


def test_secret_still_works_and_expired_secret_does_not_affect_assertions(emu, certs):
    o = emu.org("contoso")
    assert emu.api("contoso").token_request({"client_id": o["client_id"], "client_secret": o["client_secret"],
                                             "scope": o["url"] + "/.default",
                                             "grant_type": "client_credentials"}).status == 200
    emu.control_post("contoso", "secret-expired", {"expired": True})
    try:
        a = client_assertion(certs["good"], o["client_id"], o["token_url"])
        assert post(emu, "contoso", form(o, a)).status == 200
    finally:
        emu.control_post("contoso", "secret-expired", {"expired": False})


def test_key_validity_is_the_certificates(emu, certs):
    """Without start/end the key lives from the certificate's notBefore to its notAfter."""
    import datetime
    import subprocess
    out = subprocess.run(["openssl", "x509", "-noout", "-startdate", "-enddate", "-in", certs["good"]["cert_path"]],
                         capture_output=True, text=True, check=True).stdout
    dates = dict(line.split("=", 1) for line in out.strip().splitlines())
    fmt = lambda s: datetime.datetime.strptime(s.strip(), "%b %d %H:%M:%S %Y %Z").strftime(  # noqa: E731
        "%Y-%m-%dT%H:%M:%SZ")
    listed = emu.http("GET", "/_emulator/orgs/contoso/certificates").body["certificates"]
    assert len(listed) == 1
    assert listed[0]["start"] == fmt(dates["notBefore"]) and listed[0]["end"] == fmt(dates["notAfter"]), listed
    assert listed[0]["subject"] == "dynfs-test-good"
