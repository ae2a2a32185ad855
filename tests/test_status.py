"""The status surface: MOUNT/.status and MOUNT/<tenant>/.status (hidden, read-only JSON),
the same facts as user.dynfs.* attributes of the folders, df's figures, the log line of a
failed operation, and the debug line of each HTTP request (never a secret or a token).
"""

import errno
import json
import os
import re

import pytest

from lib.fixtures import emulator_fixture, mount_fixture

st_emu = emulator_fixture(orgs="contoso,fabrikam", records={"accounts": 25, "contacts": 5},
                          seed=23)
st_mnt = mount_fixture("st_emu")
dbg_mnt = mount_fixture("st_emu", ini={"global": {"max_retries": 1}}, extra_args=["-d"])


def status(*parts):
    with open(os.path.join(*parts, ".status")) as f:
        return json.load(f)


def test_status_files_are_hidden_and_read_only(st_mnt):
    root = st_mnt.path
    assert ".status" not in os.listdir(root)
    assert ".status" not in os.listdir(os.path.join(root, "contoso"))
    for p in (os.path.join(root, ".status"), os.path.join(root, "contoso", ".status")):
        st = os.stat(p)
        assert st.st_mode & 0o777 == 0o444 and st.st_size > 0
        with open(p, "rb") as f:
            assert len(f.read()) > 50
        with pytest.raises(PermissionError):
            open(p, "w")
        with pytest.raises(OSError) as e:
            os.unlink(p)
        assert e.value.errno in (errno.EPERM, errno.EACCES)
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(root, "contoso", "accounts", ".status"))


def test_mount_status(st_mnt, st_emu):
    os.listdir(os.path.join(st_mnt.path, "contoso", "accounts"))
    s = status(st_mnt.path)
    assert s["health"] == "ok" and s["tenants_unhealthy"] == 0, s
    assert set(s["tenants"]) == {"contoso", "fabrikam"}
    assert s["tenants"]["contoso"]["url"] == st_emu.org("contoso")["url"].rstrip("/")
    assert s["mountpoint"] == os.path.realpath(st_mnt.path)
    assert s["pid"] == st_mnt.proc.pid
    assert s["cache"]["records_listed"] >= 25 and s["cache"]["memory_bytes"] > 0, s
    assert s["cache"]["limit_bytes"] == 256 << 20
    assert s["settings"]["cache_ttl"] == "60", s


def test_tenant_status(st_mnt):
    t = os.path.join(st_mnt.path, "fabrikam")
    before = status(t)
    assert before["health"] == "ok" and before["reason"] is None and before["connected"]
    assert before["auth"] == "client_credentials"
    assert 0 < before["token_expires_in"] <= 3600
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", before["token_expires"])
    assert before["entity_sets"] >= 2
    os.listdir(os.path.join(t, "contacts"))
    after = status(t)
    # A small set: one page of ids, one of records.
    assert after["requests"]["list"] == before["requests"]["list"] + 2
    assert after["requests_total"] == sum(after["requests"].values())
    assert after["listed"]["contacts"]["records"] == 5
    assert after["records_listed"] >= 5
    assert after["listings_in_progress"] == 0
    assert after["throttled"] == 0 and after["last_errors"] == []


def test_folder_xattrs(st_mnt):
    t = os.path.join(st_mnt.path, "contoso")
    names = os.listxattr(t)
    for n in ("user.dynfs.health", "user.dynfs.requests", "user.dynfs.token_expires",
              "user.dynfs.last_errors", "user.dynfs.throttled", "user.dynfs.status"):
        assert n in names, names
    assert os.getxattr(t, "user.dynfs.health") == b"ok"
    assert json.loads(os.getxattr(t, "user.dynfs.requests"))["token"] >= 1
    assert json.loads(os.getxattr(t, "user.dynfs.status"))["tenant"] == "contoso"
    assert json.loads(os.getxattr(st_mnt.path, "user.dynfs.status"))["health"] == "ok"
    with pytest.raises(OSError) as e:
        os.getxattr(t, "user.dynfs.nosuch")
    assert e.value.errno == errno.ENODATA


def test_df(st_mnt):
    os.listdir(os.path.join(st_mnt.path, "contoso", "accounts"))
    v = os.statvfs(st_mnt.path)
    # the memory writes may use: local_size, 1G by default, nearly all of it free
    assert v.f_blocks * v.f_frsize == 1 << 30 and v.f_bavail > v.f_blocks // 2
    listed = status(st_mnt.path)["cache"]["records_listed"]
    assert v.f_files - v.f_ffree == listed and listed >= 25


def test_failed_save_is_logged_once_with_request_id(dbg_mnt, st_emu):
    d = os.path.join(dbg_mnt.path, "contoso", "accounts")
    name = sorted(os.listdir(d))[0]
    with open(os.path.join(d, name)) as f:
        rec = json.load(f)
    rec["name"] = "x" * 5000          # longer than the column's MaxLength: HTTP 400
    with pytest.raises(OSError) as e:
        with open(os.path.join(d, name), "w") as f:
            json.dump(rec, f)
    assert e.value.errno == errno.EINVAL
    s = status(dbg_mnt.path, "contoso")
    err = s["last_errors"][0]
    assert err["status"] == 400 and err["method"] == "PATCH" and err["code"], err
    assert err["message"] and err["request_id"], err
    lines = [l for l in dbg_mnt.log_text().splitlines()
             if l.startswith("dynfs: save /contoso/accounts/%s failed" % name)]
    assert len(lines) == 1, dbg_mnt.log_text()[-3000:]
    assert "HTTP 400" in lines[0] and err["code"] in lines[0] and err["request_id"] in lines[0]


def test_throttling_counted(dbg_mnt, st_emu):
    d = os.path.join(dbg_mnt.path, "fabrikam", "accounts")
    before = status(dbg_mnt.path, "fabrikam")
    st_emu.faults(throttle=1.0, retry_after=0)
    try:
        with pytest.raises(OSError) as e:
            os.listdir(d)
    finally:
        st_emu.clear_faults()
    assert e.value.errno == errno.EAGAIN
    after = status(dbg_mnt.path, "fabrikam")
    assert after["throttled"] - before["throttled"] == 2      # max_retries = 1
    assert after["retried"] - before["retried"] == 1
    assert after["last_errors"][0]["status"] == 429
    assert "list /fabrikam/accounts failed" in dbg_mnt.log_text()


def test_debug_log_one_line_per_request_and_no_secret(dbg_mnt, st_emu):
    os.listdir(os.path.join(dbg_mnt.path, "contoso", "contacts"))
    log = dbg_mnt.log_text()
    assert re.search(r"http: GET 127\.0\.0\.1:\d+/contoso/api/data/v9\.2/contacts: 200 in \d+ ms",
                     log), log[-3000:]
    assert re.search(r"http: POST \S+/oauth2/v2\.0/token: 200 in \d+ ms", log)
    for o in st_emu.info["orgs"].values():
        assert o["client_secret"] not in log
    assert "Bearer" not in log and "Authorization" not in log
    assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.", log), "a token in the log"
