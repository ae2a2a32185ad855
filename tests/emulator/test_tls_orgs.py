"""TLS, several orgs and their isolation, CLI outputs (emulator.json, dynfs.ini, secret files)."""

import configparser
import os
import ssl
import urllib.parse

import pytest

from lib.client import GUID_RE, WebApi, http_request
from lib.emuproc import Emulator
from lib.fixtures import emulator_fixture

ORG_KEYS = ("url", "api_url", "tenant_id", "token_url", "authority_host", "client_id", "client_secret",
            "client_secret_file", "public_client_id", "refresh_token", "username", "password",
            "unconsented_client_id")


emu = emulator_fixture(tls=True, orgs="contoso,fabrikam", records={"accounts": 8, "contacts": 4},
                       seed=2)


plain = emulator_fixture(orgs="contoso", records={"accounts": 2, "contacts": 1}, seed=2)


# ---------------------------------------------------------------- TLS


def test_https_base_url_and_ca_file(emu):
    assert emu.base_url.startswith("https://127.0.0.1:"), emu.base_url
    assert emu.info["base_url"] == emu.base_url
    assert emu.ca_file == os.path.join(emu.state_dir, "ca.pem")
    with open(emu.ca_file) as f:
        assert "-----BEGIN CERTIFICATE-----" in f.read()
    for o in emu.info["orgs"].values():
        for k in ("url", "api_url", "token_url"):
            assert o[k].startswith("https://"), (k, o[k])


def test_tls_verified_with_ca(emu):
    api = emu.api("contoso")
    assert api.get("WhoAmI").status == 200
    ctx = ssl.create_default_context(cafile=emu.ca_file)
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_tls_fails_without_ca(emu):
    ctx = ssl.create_default_context()  # system trust store only
    with pytest.raises(ssl.SSLError):
        http_request("GET", emu.org("contoso")["api_url"] + "WhoAmI", context=ctx)


def test_tls_token_endpoint_fails_without_ca(emu):
    ctx = ssl.create_default_context()
    with pytest.raises(ssl.SSLError):
        http_request("POST", emu.org("contoso")["token_url"], "grant_type=client_credentials",
                     {"Content-Type": "application/x-www-form-urlencoded"}, context=ctx)


def test_plain_http_rejected_on_tls_port(emu):
    url = emu.base_url.replace("https://", "http://") + "/contoso/api/data/v9.2/WhoAmI"
    try:
        r = http_request("GET", url, timeout=5)
    except Exception:  # noqa: BLE001 - connection reset/closed is the expected outcome
        return
    assert r.status >= 400, r


# ---------------------------------------------------------------- two orgs


def test_orgs_are_distinct(emu):
    a, b = emu.org("contoso"), emu.org("fabrikam")
    for k in ("tenant_id", "client_id", "client_secret", "public_client_id", "refresh_token", "url",
              "api_url", "token_url"):
        assert a[k] != b[k], k


def test_orgs_have_distinct_data(emu):
    ra = emu.records("contoso", "accounts")
    rb = emu.records("fabrikam", "accounts")
    assert len(ra) == len(rb) == 8
    assert not ({x["accountid"] for x in ra} & {x["accountid"] for x in rb})
    wa, wb = emu.api("contoso").get("WhoAmI").body, emu.api("fabrikam").get("WhoAmI").body
    assert wa["OrganizationId"] != wb["OrganizationId"]


def test_writes_isolated_between_orgs(emu):
    a, b = emu.api("contoso"), emu.api("fabrikam")
    r = a.create("accounts", {"name": "only in contoso"})
    assert r.status == 204, r
    assert a.get("accounts(%s)" % r.entity_id).status == 200
    assert b.get("accounts(%s)" % r.entity_id).status == 404


def test_cross_org_token_rejected(emu):
    a, b = emu.api("contoso"), emu.api("fabrikam")
    assert b.get("WhoAmI", token=a.token()).status == 401
    assert a.get("WhoAmI", token=b.token()).status == 401


def test_client_of_other_tenant_unknown(emu):
    a, b = emu.org("contoso"), emu.org("fabrikam")
    api = WebApi(a, ca_file=emu.ca_file, client_id=b["client_id"], client_secret=b["client_secret"])
    r = api.token_request({"client_id": b["client_id"], "client_secret": b["client_secret"],
                           "scope": a["url"] + "/.default", "grant_type": "client_credentials"})
    assert r.status == 400 and r.body["error"] == "unauthorized_client", r
    assert r.body["error_codes"] == [700016]


def test_scope_of_other_org_rejected(emu):
    a, b = emu.org("contoso"), emu.org("fabrikam")
    r = emu.api("contoso").token_request({"client_id": a["client_id"], "client_secret": a["client_secret"],
                                          "scope": b["url"] + "/.default", "grant_type": "client_credentials"})
    assert r.status in (400, 401), r
    assert "error" in r.body


# ---------------------------------------------------------------- emulator.json / dynfs.ini


def check_info(e, tls):
    info = e.info
    assert info["base_url"] == e.base_url
    assert info["pid"] == e.pid
    if tls:
        assert info["ca_file"] == os.path.join(e.state_dir, "ca.pem")
    else:
        assert info["ca_file"] is None
    host = urllib.parse.urlsplit(e.base_url).netloc
    for name, o in info["orgs"].items():
        for k in ORG_KEYS:
            assert k in o and o[k], (name, k)
        assert o["url"] == e.base_url + "/" + name
        assert o["api_url"] == o["url"] + "/api/data/v9.2/"
        assert o["token_url"] == e.base_url + "/%s/oauth2/v2.0/token" % o["tenant_id"]
        assert o["authority_host"] == host
        for k in ("tenant_id", "client_id", "public_client_id", "unconsented_client_id"):
            assert GUID_RE.match(o[k]), (k, o[k])
        assert o["client_secret_file"] == os.path.join(e.state_dir, name + ".secret")
        with open(o["client_secret_file"]) as f:
            assert f.read().strip() == o["client_secret"]


def test_emulator_json_tls(emu):
    assert sorted(emu.info["orgs"]) == ["contoso", "fabrikam"]
    check_info(emu, tls=True)


def test_emulator_json_plain(plain):
    assert plain.base_url.startswith("http://127.0.0.1:")
    assert list(plain.info["orgs"]) == ["contoso"]
    check_info(plain, tls=False)


def check_ini(e, tls):
    cp = configparser.ConfigParser()
    assert cp.read(e.config_path) == [e.config_path]
    assert "global" in cp.sections()
    for name, o in e.info["orgs"].items():
        assert name in cp.sections(), cp.sections()
        s = cp[name]
        assert s["url"] == o["url"]
        assert s["tenant_id"] == o["tenant_id"]
        assert s["client_id"] == o["client_id"]
        assert s["client_secret_file"] == o["client_secret_file"]
        assert s["auth"] == "client_credentials"
        assert s["token_url"] == o["token_url"]
        if tls:
            assert s["ca_file"] == e.ca_file
        else:
            assert not s.get("ca_file")
        assert "client_secret" not in s or not s.get("client_secret"), "secret belongs in the file"


def test_dynfs_ini_tls(emu):
    check_ini(emu, tls=True)


def test_dynfs_ini_plain(plain):
    check_ini(plain, tls=False)


def test_ready_line_is_base_url(plain):
    ready = [l for l in plain.stdout_lines if l.startswith("ready ")]
    assert ready == ["ready " + plain.base_url], plain.stdout_lines


def test_default_orgs_and_sigterm(tmp_path):
    e = Emulator(state_dir=str(tmp_path), records={"accounts": 1, "contacts": 1}, seed=1)
    with e:
        assert e.org_names(), e.info
        assert e.api().get("WhoAmI").status == 200
        p = e.proc
    assert p.returncode is not None
    assert p.returncode in (0, -15), p.returncode   # exits promptly on SIGTERM


def test_secret_files_private(emu):
    import stat
    for name, o in emu.info["orgs"].items():
        mode = stat.S_IMODE(os.stat(o["client_secret_file"]).st_mode)
        assert mode & 0o077 == 0, (o["client_secret_file"], oct(mode))
    for p in (emu.config_path, os.path.join(emu.state_dir, "emulator.json")):
        assert stat.S_IMODE(os.stat(p).st_mode) & 0o077 == 0, p
