"""Hostile names, answers and configurations.

- Whatever a file name, a record or a server message holds, every log line stays one line,
  with control characters escaped (\\n, \\x1b): no forged lines, no terminal escape
  sequences reaching whoever reads the log.
- A URL key is read with libcurl's URL API; a user name, password, query or fragment in it is
  refused when the configuration is loaded, and never echoed.
- A secret command that looks like it wants a shell says so.
- --check checks `entities` against the sets the tenant has.
"""

import errno
import os

from lib.fixtures import emulator_fixture, mount_fixture
from lib.mount import Ini, loads_verbatim, render, run_dynfs
from lib.tools import write_close, xattr

ORG = "contoso"
SET = "accounts"

hemu = emulator_fixture(orgs=ORG, records={"accounts": 10, "contacts": 2}, seed=59)
hmnt = mount_fixture("hemu", state_home=True)


def test_control_characters_in_a_name_are_escaped_in_the_log(hemu, hmnt):
    name = "evil\n12:00:00 dynfs: forged line\x1b[31m\x07.json"
    p = os.path.join(hmnt.path, ORG, SET, name)
    err = None
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"{ this is not JSON\n")
    try:
        os.close(fd)
    except OSError as e:
        err = e
    assert err is not None and err.errno == errno.EINVAL, err
    log = hmnt.log_text()
    assert "\x1b" not in log and "\x07" not in log, "a terminal escape reached the log"
    assert "\nforged line" not in log and "\n12:00:00 dynfs: forged" not in log, log[-2000:]
    assert "evil\\n12:00:00 dynfs: forged line\\x1b[31m\\x07" in log, log[-2000:]
    # the attribute keeps the name as it is: it is no log line
    assert "save failed" in xattr(p)
    os.unlink(p)


def test_control_characters_in_a_server_message_are_escaped(hemu, hmnt):
    rid = hemu.records(ORG, SET)[0]["accountid"]
    p = os.path.join(hmnt.path, ORG, SET, rid + ".json")
    with open(p, "rb") as f:
        obj = loads_verbatim(f.read())
    obj["name"] = "Renamed"
    hemu.rule(method="PATCH", status=400, json={"error": {
        "code": "0x80040203", "message": "bad value\n\x1b[2Jcleared your screen"}})
    try:
        err = write_close(p, render(obj))
    finally:
        hemu.clear_faults()
    assert err is not None and err.errno == errno.EINVAL, err
    log = hmnt.log_text()
    assert "\x1b" not in log
    assert "bad value\\n\\x1b[2Jcleared your screen" in log, log[-2000:]


# --------------------------------------------------------------------------- configurations

def test_check_names_entity_sets_the_tenant_lacks(hemu, dynfs_bin, tmp_path):
    ini = Ini.load(hemu.config_path)
    ini[ORG]["entities"] = "accounts, Contacts, nosuchset"
    cfg = ini.write(str(tmp_path / "entities.ini"))
    r = run_dynfs(dynfs_bin, ["--check", "-c", cfg])
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout.strip() == ("contoso: FAILED: entities: no entity set named 'Contacts' "
                                "(did you mean 'contacts'?); no entity set named 'nosuchset'"), r.stdout
    ini[ORG]["entities"] = "accounts, contacts"
    r = run_dynfs(dynfs_bin, ["--check", "-c", ini.write(str(tmp_path / "ok.ini"))])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == ("contoso: ok (auth = client_credentials, WhoAmI answered, "
                                "every entity set found)"), r.stdout


def test_url_with_a_password_is_refused_and_not_shown(hemu, dynfs_bin, tmp_path):
    ini = Ini.load(hemu.config_path)
    url = ini[ORG]["url"]
    ini[ORG]["url"] = url.replace("://", "://admin:Zq9-secret-in-url@")
    ini[ORG]["token_url"] += "?client_secret=Zq9-secret-in-query"
    cfg = ini.write(str(tmp_path / "userinfo.ini"))
    for args in (["--check", "-c", cfg], ["-f", "-c", cfg, str(tmp_path)]):
        r = run_dynfs(dynfs_bin, args, mountpoint=str(tmp_path))
        assert r.returncode == 1 and not r.was_mounted, r.stdout + r.stderr
        out = r.stdout + r.stderr
        assert "carries a user name or password (not shown)" in out, out
        assert "carries a query (?..., not shown)" in out, out
        assert "Zq9-secret" not in out and "admin:" not in out, out
