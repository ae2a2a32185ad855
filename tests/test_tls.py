"""dynfs over HTTPS: the emulator's own CA via ca_file; without it start-up fails cleanly."""

import os
import re

from lib.mount import Ini, list_raw, render, run_dynfs, strip_annotations


def test_tls_mount_lists_and_reads(tls_mnt, tls_emu):
    assert tls_emu.base_url.startswith("https://")
    assert Ini.load(tls_emu.config_path)["contoso"].get("ca_file"), "TLS config without ca_file"
    recs = {r["accountid"]: r for r in list_raw(tls_emu.api("contoso"), "accounts")}
    d = os.path.join(tls_mnt.path, "contoso", "accounts")
    assert set(os.listdir(d)) == {i + ".json" for i in recs}
    for rid in list(recs)[:5]:
        with open(os.path.join(d, rid + ".json"), "rb") as f:
            assert f.read() == render(strip_annotations(recs[rid]))


def test_tls_second_org(tls_mnt, tls_emu):
    ids = {r["contactid"] for r in tls_emu.records("fabrikam", "contacts")}
    assert set(os.listdir(os.path.join(tls_mnt.path, "fabrikam", "contacts"))) == {
        i + ".json" for i in ids}


def test_tls_url_xattr_is_https(tls_mnt, tls_emu):
    rid = tls_emu.records("contoso", "accounts")[0]["accountid"]
    p = os.path.join(tls_mnt.path, "contoso", "accounts", rid + ".json")
    url = os.getxattr(p, "user.dynfs.url").decode()
    assert url == "%saccounts(%s)" % (tls_emu.api("contoso").api_url, rid)
    assert url.startswith("https://")


def test_tls_without_ca_file_fails_before_mounting(tls_emu, dynfs_bin, tmp_path):
    ini = Ini.load(tls_emu.config_path)
    for t in ini.tenants():
        ini[t].pop("ca_file", None)
    cfg = ini.write(str(tmp_path / "noca.ini"))
    mnt = str(tmp_path / "mnt")
    os.mkdir(mnt)
    r = run_dynfs(dynfs_bin, ["-f", "-c", cfg, mnt], timeout=30, mountpoint=mnt)
    print("exit status %s\nreproduce: %s\n--- stderr ---\n%s" % (r.returncode, r.repro, r.stderr))
    assert not r.sanitizer, r.stderr
    assert 0 < r.returncode < 126, "expected a controlled failure, got %s\n%s" % (r.returncode, r.stderr)
    assert not r.was_mounted and not os.path.ismount(mnt)
    assert re.search(r"certificat|TLS|SSL", r.stderr, re.I), (
        "stderr does not mention the certificate problem:\n%s\nreproduce: %s" % (r.stderr, r.repro))
    for o in tls_emu.info["orgs"].values():
        assert o["client_secret"] not in r.stderr + r.stdout
