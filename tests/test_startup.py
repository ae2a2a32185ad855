"""Start-up: --help, --version, and configuration / connection errors.

Every error case runs `dynfs -f -c CONFIG MNT` with a 30 s limit and must end in a
controlled failure: non-zero exit (not a signal), nothing mounted, a clear message on
stderr, and no secret anywhere in the output.
"""

import errno
import json
import os
import re
import socket
import time
import uuid

import pytest

from lib.mount import Ini, line_of, run_dynfs


@pytest.fixture
def mnt_dir(tmp_path):
    d = str(tmp_path / "mnt")
    os.mkdir(d)
    return d


@pytest.fixture
def secrets(std_emu):
    return [o["client_secret"] for o in std_emu.info["orgs"].values()]


@pytest.fixture
def ini(std_emu):
    i = Ini.load(std_emu.config_path)
    assert set(i.tenants()) == {"contoso", "fabrikam"}, i.sections
    return i


def fails(dynfs_bin, cfg, mnt_dir, secrets, *must, extra=()):
    """Run dynfs on CFG; assert a controlled start-up failure whose stderr has each of MUST."""
    r = run_dynfs(dynfs_bin, ["-f", "-c", cfg] + list(extra) + [mnt_dir], timeout=30,
                  mountpoint=mnt_dir)
    ctx = "\nreproduce: %s\n--- stderr ---\n%s" % (r.repro, r.stderr)
    print("exit status %s%s" % (r.returncode, ctx))     # shown with -rP
    assert r.returncode != 0, "dynfs exited 0" + ctx
    assert 0 < r.returncode < 126, "not a controlled failure: status %s%s" % (r.returncode, ctx)
    assert not r.was_mounted, "dynfs mounted despite the error" + ctx
    assert not os.path.ismount(mnt_dir)
    assert r.stderr.strip(), "no message on stderr" + ctx
    assert not r.sanitizer, "sanitizer report on a start-up error path" + ctx
    for m in must:
        if hasattr(m, "search"):
            assert m.search(r.stderr), "%r not in stderr%s" % (m.pattern, ctx)
        else:
            assert m in r.stderr, "%r not in stderr%s" % (m, ctx)
    for s in secrets:
        assert s not in r.stderr and s not in r.stdout, "a client secret appears in the output" + ctx
    return r


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- command line

def test_help(dynfs_bin):
    r = run_dynfs(dynfs_bin, ["--help"], timeout=30)
    assert r.returncode == 0, r.stderr
    assert not r.sanitizer, r.stderr
    out = r.stdout + r.stderr
    assert re.search(r"usage", out, re.I), out
    assert "-c" in out and "MOUNTPOINT" in out.upper(), out


def test_version(dynfs_bin):
    r = run_dynfs(dynfs_bin, ["--version"], timeout=30)
    assert r.returncode == 0, r.stderr
    assert not r.sanitizer, r.stderr
    assert re.search(r"dynfs.*\d+\.\d+", r.stdout, re.I), r.stdout


def test_no_mountpoint(dynfs_bin, std_emu, secrets):
    r = run_dynfs(dynfs_bin, ["-f", "-c", std_emu.config_path], timeout=30)
    assert 0 < r.returncode < 126, (r.returncode, r.stderr)
    assert re.search(r"mount ?point", r.stderr, re.I), r.stderr
    assert not r.sanitizer, r.stderr
    for s in secrets:
        assert s not in r.stderr + r.stdout


def test_missing_config_file(dynfs_bin, mnt_dir, secrets, tmp_path):
    cfg = str(tmp_path / "does-not-exist.ini")
    fails(dynfs_bin, cfg, mnt_dir, secrets, cfg)


# ---------------------------------------------------------------- config errors


MISSING = {
    "url": ["url"],
    "client_id": ["client_id"],
    "client_secret": ["client_secret", "client_secret_file"],
    "tenant_id": ["tenant_id", "token_url"],
}


@pytest.mark.parametrize("key", sorted(MISSING))
def test_missing_required_key(dynfs_bin, ini, mnt_dir, secrets, tmp_path, key):
    for k in MISSING[key]:
        ini["contoso"].pop(k, None)
    cfg = ini.write(str(tmp_path / "c.ini"))
    fails(dynfs_bin, cfg, mnt_dir, secrets, key, "contoso")


def test_several_problems_all_reported(dynfs_bin, ini, mnt_dir, secrets, tmp_path):
    ini["global"]["bogus_global"] = "1"
    ini["contoso"]["colour"] = "blue"
    del ini["contoso"]["url"]
    del ini.sections["fabrikam"]["client_id"]
    cfg = ini.write(str(tmp_path / "c.ini"))
    r = fails(dynfs_bin, cfg, mnt_dir, secrets,
              "%s:%d" % (cfg, line_of(cfg, "bogus_global")), "bogus_global",
              "%s:%d" % (cfg, line_of(cfg, "colour")), "colour",
              "url", "client_id")
    # each missing key is reported against its own tenant
    lines = r.stderr.splitlines()
    assert any("contoso" in l and "url" in l for l in lines), r.stderr
    assert any("fabrikam" in l and "client_id" in l for l in lines), r.stderr


def test_unknown_entity_set(dynfs_bin, ini, mnt_dir, secrets, tmp_path):
    ini["contoso"]["entities"] = "accounts,nosuch"
    cfg = ini.write(str(tmp_path / "c.ini"))
    fails(dynfs_bin, cfg, mnt_dir, secrets, "nosuch")


def test_entities_subset(dynfs_bin, ini, tmp_path, mount_factory, std_emu):
    ini["contoso"]["entities"] = "accounts,contacts"
    cfg = ini.write(str(tmp_path / "c.ini"))
    m = mount_factory(cfg, emu=std_emu)
    assert sorted(os.listdir(os.path.join(m.path, "contoso"))) == ["accounts", "contacts"]
    assert "accounts" in os.listdir(os.path.join(m.path, "fabrikam"))


# ---------------------------------------------------------------- credentials and network

def test_wrong_client_secret(dynfs_bin, ini, mnt_dir, secrets, tmp_path):
    wrong = "wrong-" + uuid.uuid4().hex
    sf = tmp_path / "wrong.secret"
    sf.write_text(wrong + "\n")
    os.chmod(str(sf), 0o600)
    ini["contoso"].pop("client_secret", None)
    ini["contoso"]["client_secret_file"] = str(sf)
    cfg = ini.write(str(tmp_path / "c.ini"))
    r = fails(dynfs_bin, cfg, mnt_dir, secrets + [wrong], "AADSTS7000215",
              re.compile(r"secret.{0,60}value|value.{0,60}secret", re.I | re.S))
    assert "contoso" in r.stderr, r.stderr


def unhealthy_at_start(mount_factory, emu, cfg, tenant, other, errno_name):
    """dynfs mounts CFG although TENANT cannot be reached: its folder is there, what is in it
    fails with ERRNO_NAME, its .status says why, and OTHER works."""
    m = mount_factory(cfg, emu=emu)
    assert sorted(os.listdir(m.path)) == sorted([tenant, other])
    with pytest.raises(OSError) as e:
        os.listdir(os.path.join(m.path, tenant))
    assert e.value.errno == getattr(errno, errno_name), e.value
    with pytest.raises(OSError) as e:
        os.stat(os.path.join(m.path, tenant, "accounts"))
    assert e.value.errno == getattr(errno, errno_name), e.value
    with open(os.path.join(m.path, tenant, ".status")) as f:
        st = json.load(f)
    assert st["health"] == "unhealthy" and st["errno"] == errno_name, st
    assert "not connected" in st["reason"], st
    with open(os.path.join(m.path, ".status")) as f:
        whole = json.load(f)
    assert whole["health"] == "degraded" and whole["tenants"][tenant]["health"] == "unhealthy"
    assert "accounts" in os.listdir(os.path.join(m.path, other))
    assert "mounted, not connected yet" in m.log_text(), m.log_text()
    return m


def test_unreachable_url(dynfs_bin, ini, std_emu, tmp_path, mount_factory):
    port = closed_port()
    url = "http://127.0.0.1:%d/contoso" % port
    # keep the token request valid (scope of the real org) so the failure is the closed port
    ini["contoso"]["scope"] = std_emu.org("contoso")["url"].rstrip("/") + "/.default"
    ini["contoso"]["url"] = url
    cfg = ini.write(str(tmp_path / "c.ini"))
    m = unhealthy_at_start(mount_factory, std_emu, cfg, "contoso", "fabrikam", "ECONNREFUSED")
    assert "127.0.0.1:%d" % port in m.log_text()


def test_unreachable_token_endpoint(dynfs_bin, ini, tmp_path, std_emu, mount_factory):
    port = closed_port()
    ini["fabrikam"]["token_url"] = "http://127.0.0.1:%d/x/oauth2/v2.0/token" % port
    cfg = ini.write(str(tmp_path / "c.ini"))
    unhealthy_at_start(mount_factory, std_emu, cfg, "fabrikam", "contoso", "ECONNREFUSED")


def test_server_down_at_startup_recovers(dynfs_bin, ini, tmp_path, std_emu, mount_factory):
    """Every request fails with 5xx at start-up: mounted unhealthy; once the server is back,
    the tenant connects at the next access after the hold-off (5 s) by itself."""
    ini["global"]["max_retries"] = "0"
    del ini.sections["fabrikam"]
    cfg = ini.write(str(tmp_path / "c.ini"))
    std_emu.faults(server_error=1.0)
    try:
        m = mount_factory(cfg, emu=std_emu)
    finally:
        std_emu.clear_faults()
    t = os.path.join(m.path, "contoso")
    with open(os.path.join(t, ".status")) as f:
        st = json.load(f)
    assert st["health"] == "unhealthy" and st["connected"] is False, st
    deadline = time.monotonic() + 15
    while True:
        try:
            names = os.listdir(t)
            break
        except OSError as e:
            assert e.errno in (errno.EIO, errno.ETIMEDOUT), e
            assert time.monotonic() < deadline, "contoso did not connect by itself"
            time.sleep(0.5)
    assert "accounts" in names
    with open(os.path.join(t, ".status")) as f:
        st = json.load(f)
    assert st["health"] == "ok" and st["connected"] is True, st
    assert st["failed"] >= 1 and st["last_errors"][0]["status"] in (502, 503, 504), st


def test_check_stays_strict(dynfs_bin, ini, std_emu, tmp_path):
    port = closed_port()
    ini["contoso"]["url"] = "http://127.0.0.1:%d/contoso" % port
    cfg = ini.write(str(tmp_path / "c.ini"))
    r = run_dynfs(dynfs_bin, ["--check", "-c", cfg], timeout=30)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "contoso: FAILED" in r.stdout and "fabrikam: ok" in r.stdout, r.stdout


def test_no_secret_in_debug_log(std_emu, mount_factory, secrets):
    m = mount_factory(std_emu.config_path, extra_args=["-d"], emu=std_emu)
    d = os.path.join(m.path, "contoso", "accounts")
    name = sorted(os.listdir(d))[0]
    with open(os.path.join(d, name), "rb") as f:
        f.read()
    os.listdir(os.path.join(m.path, "fabrikam", "contacts"))
    m.stop()
    log = m.log_text()
    assert len(log) > 1000, "debug log suspiciously short:\n" + log
    for s in secrets:
        assert s not in log, "client secret in the -d log %s" % m.log_path
