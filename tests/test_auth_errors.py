"""What the user sees when a tenant is refused: every mapped Entra ID / AD FS / Dataverse
error comes with its one-line fix, in `dynfs --check` and at mount start-up; and
`dynfs --check` reports a whole config (every problem of every tenant, then one line
per tenant) with a non-zero exit status when anything fails.
"""

import json
import os
import re
import signal
import time

import pytest

from lib.auth import assert_no_secrets, config, org_secrets, tenant, write_private
from lib.fixtures import emulator_fixture
from lib.mount import run_dynfs


eemu = emulator_fixture(orgs="contoso,fabrikam", records={"accounts": 5, "contacts": 5}, seed=8)


@pytest.fixture
def faulty(eemu):
    try:
        yield eemu
    finally:
        eemu.auth_fault("contoso")
        eemu.user_policy("contoso")
        eemu.not_member("contoso")
        eemu.clear_faults()


def check(dynfs_bin, cfg, env=None):
    r = run_dynfs(dynfs_bin, ["--check", "-c", cfg], timeout=60, env=env)
    assert not r.sanitizer, r.stderr
    return r


# AADSTS code -> (flow, words of the fix).  TROUBLESHOOTING.md lists the same.
MAPPED = {
    7000215: ("client_credentials", "use the secret's Value, not its Secret ID"),
    7000222: ("client_credentials", "the client secret has expired: create a new one"),
    700016: ("client_credentials", "no app with this client_id in this tenant"),
    90002: ("client_credentials", "tenant not found: check tenant_id"),
    65001: ("client_credentials", "admin consent is missing"),
    500011: ("client_credentials", "no Dataverse environment at this url"),
    70008: ("refresh_token", "sign in again with 'dynfs login'"),
    700082: ("refresh_token", "expired after a long time unused: sign in again with 'dynfs login'"),
    50126: ("password", "wrong username or password"),
    50076: ("password", "needs multi-factor sign-in: use auth = refresh_token and 'dynfs login'"),
    50079: ("password", "must register for multi-factor sign-in"),
    53003: ("refresh_token", "blocked by a Conditional Access policy"),
}


def flow_config(emu, tmp_path, flow, name="contoso"):
    o = emu.org("contoso")
    keys = {}
    if flow == "refresh_token":
        store = str(tmp_path / "rt.token")
        write_private(store, '{"refresh_token": "%s"}\n'
                      % emu.control_post("contoso", "issue-refresh-token")["refresh_token"])
        keys["token_store"] = store
    elif flow == "password":
        keys["password_file"] = write_private(str(tmp_path / "pw"), o["password"] + "\n")
    return config(str(tmp_path / "c.ini"), {name: tenant(emu, "contoso", flow, **keys)})


@pytest.mark.parametrize("code", sorted(MAPPED))
def test_mapped_error_in_check(faulty, tmp_path, dynfs_bin, code):
    flow, fix = MAPPED[code]
    cfg = flow_config(faulty, tmp_path, flow)
    faulty.auth_fault("contoso", code)
    r = check(dynfs_bin, cfg)
    out = r.stdout
    print(out)          # shown with -rP: the line a user reads
    assert r.returncode == 2, out + r.stderr
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("contoso: FAILED: "), out
    assert "AADSTS%d:" % code in lines[0] and fix in lines[0], lines[0]
    assert_no_secrets(out + r.stderr, org_secrets(faulty), "--check output")


@pytest.mark.parametrize("code", [7000215, 700016])
def test_mapped_error_at_mount_startup(faulty, tmp_path, dynfs_bin, code):
    """A mistake in the configuration stops dynfs before it mounts."""
    flow, fix = MAPPED[code]
    cfg = flow_config(faulty, tmp_path, flow)
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    faulty.auth_fault("contoso", code)
    r = run_dynfs(dynfs_bin, ["-f", "-c", cfg, mnt], timeout=60, mountpoint=mnt)
    assert r.returncode == 2 and not r.was_mounted, r.stderr
    assert "AADSTS%d" % code in r.stderr and fix in r.stderr, r.stderr
    assert_no_secrets(r.stderr + r.stdout, org_secrets(faulty), "start-up output")


@pytest.mark.parametrize("code", [7000222, 70008])
def test_expired_credentials_at_startup_mount_unhealthy(faulty, tmp_path, mount_factory, code):
    """An expired secret or refresh token may be fixed while mounted: the tenant is mounted
    unhealthy, says why in its .status and its files, and recovers by itself (here at once,
    after SIGHUP; the fault is one-shot)."""
    flow, fix = MAPPED[code]
    cfg = flow_config(faulty, tmp_path, flow)
    faulty.auth_fault("contoso", code)
    m = mount_factory(cfg, emu=faulty)
    t = os.path.join(m.path, "contoso")
    with open(os.path.join(t, ".status")) as f:
        st = json.load(f)
    assert st["health"] == "unhealthy" and "AADSTS%d" % code in st["reason"], st
    with pytest.raises(PermissionError):
        os.listdir(t)
    log = m.log_text()
    assert "AADSTS%d" % code in log and fix in log, log
    os.kill(m.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while True:
        try:
            assert "accounts" in os.listdir(t)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with open(os.path.join(t, ".status")) as f:
        assert json.load(f)["health"] == "ok"
    assert_no_secrets(m.log_text(), org_secrets(faulty), "daemon log")


def test_invalid_scope(faulty, tmp_path, dynfs_bin):
    cfg = config(str(tmp_path / "c.ini"), {"contoso": tenant(faulty, "contoso", scope="no-scope")})
    r = check(dynfs_bin, cfg)
    assert "AADSTS70011" in r.stdout and "the scope is invalid" in r.stdout, r.stdout


def test_adfs_wrong_password(faulty, tmp_path, dynfs_bin):
    o = faulty.org("contoso")
    pw = write_private(str(tmp_path / "pw"), "nope\n")
    cfg = config(str(tmp_path / "c.ini"), {"contoso": tenant(
        faulty, "contoso", "password", token_url=o["adfs_token_url"], resource=o["adfs_resource"],
        password_file=pw)})
    r = check(dynfs_bin, cfg)
    assert r.returncode == 2
    assert "MSIS9659" in r.stdout and "wrong username or password (AD FS)" in r.stdout, r.stdout


def test_not_a_member_of_the_organization(faulty, tmp_path, dynfs_bin):
    cfg = config(str(tmp_path / "c.ini"), {"contoso": tenant(faulty, "contoso")})
    faulty.not_member("contoso", "app")
    r = check(dynfs_bin, cfg)
    assert r.returncode == 2
    assert "not a member of the organization" in r.stdout, r.stdout
    assert "add the app as an application user" in r.stdout and "Power Platform admin center" \
        in r.stdout, r.stdout
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    r = run_dynfs(dynfs_bin, ["-f", "-c", cfg, mnt], timeout=60, mountpoint=mnt)
    assert r.returncode == 2 and "add the app as an application user" in r.stderr, r.stderr


def test_check_whole_config(eemu, tmp_path, dynfs_bin):
    """Several tenants, several missing keys, one wrong secret, one fine tenant."""
    wrong = write_private(str(tmp_path / "wrong.secret"), "Xy8Q~wrong-secret-value\n")
    sections = {
        "contoso": tenant(eemu, "contoso"),
        "fabrikam": tenant(eemu, "fabrikam", client_secret_file=wrong),
        "nourl": tenant(eemu, "contoso", url=None, client_id=None),
        "nouser": tenant(eemu, "contoso", "password", username=None, token_store="/tmp/x"),
    }
    cfg = config(str(tmp_path / "c.ini"), sections)
    with open(cfg, "a") as f:
        f.write("colour = blue\n")       # an unknown key, in [nouser]
    r = check(dynfs_bin, cfg)
    out = r.stdout
    print(out)
    assert r.returncode != 0, out
    lines = out.splitlines()
    # every problem of every tenant, each once
    for want in ("[nourl]: missing required key 'url'",
                 "[nourl]: missing required key 'client_id'",
                 "[nouser]: missing required key 'username'",
                 "[nouser]: missing required key 'password_file'",
                 "'token_store' is not used with auth = password",
                 "unknown key 'colour' in [nouser]"):
        assert sum(want in l for l in lines) == 1, (want, out)
    # then one line per tenant, in file order
    tenant_lines = [l for l in lines if re.match(r"^(contoso|fabrikam|nourl|nouser): ", l)]
    assert [l.split(":")[0] for l in tenant_lines] == ["contoso", "fabrikam", "nourl", "nouser"], out
    assert tenant_lines[0].startswith("contoso: ok"), out
    assert tenant_lines[1].startswith("fabrikam: FAILED: invalid_client: AADSTS7000215") and \
        "Value, not its Secret ID" in tenant_lines[1], out
    assert tenant_lines[2] == "nourl: invalid configuration (2 problems listed above)", out
    assert tenant_lines[3].startswith("nouser: invalid configuration ("), out
    assert_no_secrets(out + r.stderr, org_secrets(eemu) + ["Xy8Q~wrong-secret-value"], "--check output")
    assert r.stderr == "", r.stderr


def test_check_all_ok(eemu, dynfs_bin):
    r = check(dynfs_bin, eemu.config_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == ["contoso: ok (auth = client_credentials, WhoAmI answered)",
                                     "fabrikam: ok (auth = client_credentials, WhoAmI answered)"]


def test_check_unreadable_config(tmp_path, dynfs_bin):
    r = check(dynfs_bin, str(tmp_path / "missing.ini"))
    assert r.returncode == 1 and "cannot open" in r.stdout + r.stderr


# ---------------------------------------------------------------- the documentation

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def doc(name):
    with open(os.path.join(REPO, name), encoding="utf-8") as f:
        return f.read()


def test_troubleshooting_lists_every_mapped_error():
    t = doc("TROUBLESHOOTING.md")
    for code in list(MAPPED) + [700027, 7000218, 700025, 70011, 70000, 1002012, 900023]:
        assert "| AADSTS%d |" % code in t, code
    assert "MSIS9659" in t and "not a member of the organization" in t


def test_example_config_shows_every_flow():
    ex = doc("dynfs.ini.example")
    for kind in ("client_credentials", "refresh_token", "password", "ntlm", "negotiate"):
        assert re.search(r"^;?auth = %s$" % kind, ex, re.M) or kind == "client_credentials", kind
    for key in ("client_secret_file", "client_secret_env", "client_secret_command", "client_secret",
                "certificate_file", "private_key_file", "token_store", "redirect_port", "username",
                "password_file", "password_env", "password_command", "password", "resource",
                "authority_host", "token_url", "scope"):
        assert re.search(r"^;?%s =" % key, ex, re.M), key


def test_login_documented():
    assert "dynfs login" in doc("README.md") and "--browser" in doc("README.md")
    man = doc("man/dynfs.1")
    assert '.SH "DYNFS LOGIN"' in man and "\\-\\-check" in man
