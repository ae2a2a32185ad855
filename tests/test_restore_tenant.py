"""Whole-tenant backup and restore, in any order (SEMANTICS.md "Restoring a backup").

The data set is circular: every account's primary contact is a contact, every contact's
parent customer is an account (two: a contact), some parent accounts sort after their
children, and some records of both sets are inactive.  `cp -r MOUNT/contoso backup/` takes
the backup; then every account and contact is deleted through the Web API and the backup
is put back through the mount:

- the whole tenant folder with one `rsync -a` (accounts first, as rsync walks it);
- contacts before accounts;
- accounts alone, an unmount (the binds still pending are kept), a new mount, contacts;
- accounts alone, dynfs killed with SIGKILL, the contacts made through the Web API, a new
  mount: its start-up pass applies the binds the killed one had noted.

After each, checked through the Web API: every record back with its id, every column a
create can set (lookups included) equal to the backup, createdon equal to the original
(overriddencreatedon), inactive records inactive, and nothing pending (.status and
user.dynfs.pending).  A hand edit naming a missing record still fails with EINVAL and is
rescued: only a restore defers.
"""

import concurrent.futures
import errno
import glob
import json
import os
import shutil
import signal
import time
import uuid

import pytest

from lib import restore as restore_lib
from lib.fixtures import emulator_fixture, mount_fixture
from lib.mount import Ini, as_decimal, loads_verbatim, render
from lib.tools import run_tool, write_close, xattr

ORG = "contoso"
SETS = ("accounts", "contacts")
PK = {"accounts": "accountid", "contacts": "contactid"}
ENTITY = {"accounts": "account", "contacts": "contact"}
N = {"accounts": 24, "contacts": 16}
INI = {"global": {"cache_ttl": 0, "log_level": "info"}, ORG: {"entities": "accounts, contacts"}}
TOOL_TIMEOUT = 120
# Lines the restores log on purpose (pending binds kept at unmount, the killed mount's state).
DYNFS_LOG_ALLOW = (r"is still pending", r"save failed")


def _ok(r, what):
    assert r.status in (200, 204), "%s -> %r" % (what, r)


def _circular(emu):
    """Accounts and contacts point at each other; some parents sort after their children;
    some records are inactive."""
    api = emu.api(ORG)
    acc = sorted(r["accountid"] for r in emu.records(ORG, "accounts"))
    con = sorted(r["contactid"] for r in emu.records(ORG, "contacts"))
    for i, a in enumerate(acc):
        body = {"primarycontactid@odata.bind": "/contacts(%s)" % con[i % len(con)],
                "parentaccountid@odata.bind": None}
        if i < 4:       # the parent sorts after the child
            body["parentaccountid@odata.bind"] = "/accounts(%s)" % acc[-1 - i]
        _ok(api.patch("accounts(%s)" % a, body), "link account")
    for i, c in enumerate(con):
        if i < 2:       # a contact as parent customer, sorting after this one
            body = {"parentcustomerid_contact@odata.bind": "/contacts(%s)" % con[-1 - i]}
        else:
            body = {"parentcustomerid_account@odata.bind": "/accounts(%s)" % acc[(3 * i) % len(acc)]}
        _ok(api.patch("contacts(%s)" % c, body), "link contact")
    for s, ids in (("accounts", acc[5:8]), ("contacts", con[5:7])):
        for rid in ids:
            _ok(api.patch("%s(%s)" % (s, rid), {"statecode": 1, "statuscode": 2}), "deactivate")


temu = emulator_fixture(orgs=ORG, records=dict(N), seed=71, setup=_circular)
tmnt = mount_fixture("temu", ini=INI, state_home=True)


# --------------------------------------------------------------------------- helpers

def sh(argv, timeout=TOOL_TIMEOUT):
    r = run_tool(argv, timeout)
    assert r.returncode == 0, "%r exited %d\nstdout: %s\nstderr: %s" % (
        argv, r.returncode, r.stdout[-3000:], r.stderr[-4000:])
    return r


def tenant(m):
    return os.path.join(m.path, ORG)


def pending_count(m):
    return int(xattr(tenant(m), "user.dynfs.pending_count"))


def delete_all(emu):
    api = emu.api(ORG)
    for s in ("contacts", "accounts"):
        for rid in list(restore_lib.server_records(emu, ORG, s, PK[s])):
            r = api.delete("%s(%s)" % (s, rid))
            assert r.status in (204, 404), r     # 404: gone with its parent (cascade)
        assert not restore_lib.server_records(emu, ORG, s, PK[s]), "%s not emptied" % s


def assert_restored(emu, m, backup):
    for s in SETS:
        bad = restore_lib.mismatches(emu, ORG, os.path.join(backup, ORG), s, PK[s], ENTITY[s])
        assert not bad, "%d %s not restored as backed up: %r" % (
            len(bad), s, dict(list(bad.items())[:4]))
    assert pending_count(m) == 0, xattr(tenant(m), "user.dynfs.pending")
    for s in SETS:
        for name in os.listdir(os.path.join(backup, ORG, s)):
            p = os.path.join(tenant(m), s, name)
            assert xattr(p, "user.dynfs.pending") is None, (p, xattr(p, "user.dynfs.pending"))


@pytest.fixture(scope="module")
def backup(temu, tmnt, tmp_path_factory):
    """`cp -r` of the whole tenant folder; also checks the data set is circular."""
    d = str(tmp_path_factory.mktemp("backup"))
    sh(["cp", "-r", tenant(tmnt), d + "/"])
    assert sorted(os.listdir(os.path.join(d, ORG))) == list(SETS)
    acc = restore_lib.server_records(temu, ORG, "accounts", "accountid")
    assert all(r.get("_primarycontactid_value") for r in acc.values())
    assert sum(1 for r in acc.values() if r.get("statecode")) >= 3
    return d


def rsync(src, dst):
    sh(["rsync", "-a", src.rstrip("/") + "/", dst.rstrip("/") + "/"])


def config(emu, m_dir, name, **global_keys):
    cfg = Ini.load(emu.config_path)
    for section, keys in INI.items():
        cfg[section].update({k: str(v) for k, v in keys.items()})
    cfg["global"].update({k: str(v) for k, v in global_keys.items()})
    return cfg.write(os.path.join(m_dir, name))


def accounts_alone(emu, backup, mount_factory, state_home, tmp_path):
    """Everything deleted, then the accounts alone restored on a mount of their own: every
    account's primary contact is pending.  (config, env, mount, pending count)"""
    cfg = config(emu, str(tmp_path), "accounts-alone.ini")
    env = {"XDG_STATE_HOME": state_home}
    delete_all(emu)
    m = mount_factory(cfg, env=env, emu=emu, allow=DYNFS_LOG_ALLOW)
    rsync(os.path.join(backup, ORG, "accounts"), os.path.join(tenant(m), "accounts"))
    n = pending_count(m)
    assert n >= N["accounts"], xattr(tenant(m), "user.dynfs.pending")
    return cfg, env, m, n


# --------------------------------------------------------------------------- tests

def test_whole_tenant_with_one_rsync(temu, tmnt, backup):
    """rsync walks accounts first: their primary contacts are not back yet, so those binds
    wait, and each is applied when its contact is created."""
    if not shutil.which("rsync"):
        pytest.fail("rsync is not installed (bash .ci/deps installs it)", pytrace=False)
    delete_all(temu)
    rsync(os.path.join(backup, ORG), tenant(tmnt))
    assert_restored(temu, tmnt, backup)
    log = tmnt.log_text()
    assert "pending lookup '_primarycontactid_value' applied" in log, log[-3000:]


def test_contacts_before_accounts(temu, tmnt, backup):
    delete_all(temu)
    for s in ("contacts", "accounts"):
        rsync(os.path.join(backup, ORG, s), os.path.join(tenant(tmnt), s))
    assert_restored(temu, tmnt, backup)


def test_accounts_then_remount_then_contacts(temu, backup, mount_factory, state_home,
                                             tmp_path):
    """What is pending when a mount ends is kept, reported, and applied by the next one."""
    cfg, env, m, n = accounts_alone(temu, backup, mount_factory, state_home, tmp_path)
    acc = sorted(os.listdir(os.path.join(backup, ORG, "accounts")))[0]
    want = restore_lib.read_backup(os.path.join(backup, ORG, "accounts", acc))
    shown = json.loads(xattr(os.path.join(tenant(m), "accounts", acc), "user.dynfs.pending"))
    assert shown["_primarycontactid_value"] == want["_primarycontactid_value"], shown
    m.stop(allow=DYNFS_LOG_ALLOW)
    assert "is still pending" in m.log_text()
    m2 = mount_factory(cfg, env=env, emu=temu, allow=DYNFS_LOG_ALLOW)
    assert pending_count(m2) == n
    rsync(os.path.join(backup, ORG, "contacts"), os.path.join(tenant(m2), "contacts"))
    assert_restored(temu, m2, backup)


def test_pending_bind_survives_kill_9(temu, backup, mount_factory, state_home, tmp_path):
    cfg, env, m, n = accounts_alone(temu, backup, mount_factory, state_home, tmp_path)
    os.killpg(m.proc.pid, signal.SIGKILL)
    m.proc.wait(10)
    m.force_stop()
    # The contacts come back without dynfs (their own lookups through the Web API too).
    api = temu.api(ORG)
    for name in sorted(os.listdir(os.path.join(backup, ORG, "contacts"))):
        c = restore_lib.read_backup(os.path.join(backup, ORG, "contacts", name))
        r = api.patch("contacts(%s)" % c["contactid"],
                      {"lastname": c["lastname"], "overriddencreatedon": c["createdon"]},
                      headers={"If-None-Match": "*"})
        assert r.status in (200, 204), r
    m2 = mount_factory(cfg, env=env, emu=temu, allow=DYNFS_LOG_ALLOW)
    # The new mount's start-up pass applies them: wait for it, boundedly.
    for _ in range(300):
        if pending_count(m2) == 0:
            break
        time.sleep(0.1)
    assert pending_count(m2) == 0, xattr(tenant(m2), "user.dynfs.pending")
    bad = restore_lib.mismatches(temu, ORG, os.path.join(backup, ORG), "accounts",
                                 "accountid", "account")
    assert not bad, dict(list(bad.items())[:4])
    # Put the contacts' own columns back for the tests after this one.
    rsync(os.path.join(backup, ORG, "contacts"), os.path.join(tenant(m2), "contacts"))
    assert_restored(temu, m2, backup)


def test_hand_edit_naming_a_missing_record_is_einval(temu, tmnt, backup, state_home):
    """An edit (same versionnumber as read) stays strict: EINVAL, rescued, nothing pending."""
    d = os.path.join(tenant(tmnt), "accounts")
    rid = sorted(os.listdir(os.path.join(backup, ORG, "accounts")))[1][:-len(".json")]
    p = os.path.join(d, rid + ".json")
    with open(p, "rb") as f:
        obj = loads_verbatim(f.read())
    gone = str(uuid.uuid4())
    obj["_primarycontactid_value"] = gone
    err = write_close(p, render(obj))
    assert err is not None and err.errno == errno.EINVAL, err
    x = xattr(p)
    assert "lookup '_primarycontactid_value'" in x and gone in x, x
    assert xattr(p, "user.dynfs.pending") is None
    assert pending_count(tmnt) == 0
    rescued = glob.glob(os.path.join(state_home, "dynfs", "rescue", ORG, "accounts",
                                     glob.escape(rid) + ".*.json"))
    assert len(rescued) == 1, rescued
    assert temu.record(ORG, "accounts", rid)["_primarycontactid_value"] != gone


def test_missing_owner_is_pending_then_settled_by_an_edit(temu, tmnt, backup):
    """A restored record whose owner does not exist is created (owned by the caller) with
    ownerid pending, shown on the record and in the tenant's status; an edit that sets the
    owner settles it."""
    name = sorted(os.listdir(os.path.join(backup, ORG, "accounts")))[3]
    obj = restore_lib.read_backup(os.path.join(backup, ORG, "accounts", name))
    real_owner = obj["_ownerid_value"]
    rid, ghost = str(uuid.uuid4()), str(uuid.uuid4())
    obj.update({"accountid": rid, "_ownerid_value": ghost, "_owninguser_value": ghost,
                "name": "Owned by nobody here"})
    p = os.path.join(tenant(tmnt), "accounts", rid + ".json")
    assert write_close(p, render(obj), flags=os.O_CREAT | os.O_EXCL) is None
    assert temu.record(ORG, "accounts", rid)["_ownerid_value"] != ghost
    assert json.loads(xattr(p, "user.dynfs.pending")) == {"_ownerid_value": ghost}
    assert pending_count(tmnt) == 1
    assert "accounts(%s) _ownerid_value -> systemusers(%s)" % (rid, ghost) in \
        xattr(tenant(tmnt), "user.dynfs.pending")
    with open(p, "rb") as f:
        now = loads_verbatim(f.read())
    now["_ownerid_value"] = real_owner
    assert write_close(p, render(now)) is None
    assert temu.record(ORG, "accounts", rid)["_ownerid_value"] == real_owner
    assert pending_count(tmnt) == 0 and xattr(p, "user.dynfs.pending") is None
    assert temu.api(ORG).delete("accounts(%s)" % rid).status == 204


# --------------------------------------------------------------------------- parallel writers

P_N = 2000


def _no_links(emu):
    """No lookup between the records: every create is one request whatever the order.  The
    test makes more requests than service protection allows in 5 minutes."""
    emu.faults(budget_requests=1000000)
    api = emu.api(ORG)
    for r in emu.records(ORG, "accounts"):
        body = {k: None for k, c in (("parentaccountid@odata.bind", "_parentaccountid_value"),
                                     ("primarycontactid@odata.bind", "_primarycontactid_value"))
                if r.get(c)}
        if body:
            _ok(api.patch("accounts(%s)" % r["accountid"], body), "unlink account")


pemu = emulator_fixture(orgs=ORG, records={"accounts": P_N}, seed=73, setup=_no_links)


def test_parallel_restore_with_8_writers(pemu, mount_factory, tmp_path):
    """`xargs -P8 -n200 cp -t`: 8 cp at once, each save a request of its own over the
    tenant's connections.  Each record is created exactly once (If-None-Match: *: a second
    create would be a 412), with its id and columns, and the requests are exactly one listing,
    one create per record and one state PATCH per inactive record.  The `ls` first lists the
    (empty) set: within cache_ttl, a name the listing lacks is known not to exist, where a
    mount that never listed the set would ask the server (cp looks each name up several
    times)."""
    cfg = config(pemu, str(tmp_path), "parallel.ini", cache_ttl=600)
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    m = mount_factory(cfg, env=env, emu=pemu, allow=DYNFS_LOG_ALLOW)
    backup = str(tmp_path / "backup")
    os.makedirs(os.path.join(backup, ORG))
    sh(["cp", "-r", os.path.join(tenant(m), "accounts"), os.path.join(backup, ORG) + "/"])
    m.stop(allow=DYNFS_LOG_ALLOW)
    files = sorted(os.listdir(os.path.join(backup, ORG, "accounts")))
    assert len(files) == P_N
    inactive = sum(1 for f in files if as_decimal(restore_lib.read_backup(
        os.path.join(backup, ORG, "accounts", f)).get("statecode")) != 0)
    api = pemu.api(ORG)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        gone = pool.map(lambda f: api.delete("accounts(%s)" % f[:-len(".json")]).status, files)
        assert set(gone) == {204}
    m2 = mount_factory(cfg, env=env, emu=pemu, allow=DYNFS_LOG_ALLOW)
    s0 = pemu.stats()
    sh(["sh", "-c", 'ls "$2" >/dev/null && cd "$1" && '
        'find . -name "*.json" -print0 | xargs -0 -P8 -n200 cp -t "$2"',
        "sh", os.path.join(backup, ORG, "accounts"), os.path.join(tenant(m2), "accounts")],
       timeout=600)
    s1 = pemu.stats()
    d = {k: s1["by_kind"].get(k, 0) - s0["by_kind"].get(k, 0) for k in s1["by_kind"]}
    st = {k: s1["by_status"].get(k, 0) - s0["by_status"].get(k, 0) for k in s1["by_status"]}
    assert (d["upsert"], d["update"], d["create"], d["delete"]) == (P_N, inactive, 0, 0), d
    assert st.get("412", 0) == 0 and st.get("201", 0) == P_N, st
    assert d["get"] == 0 and d["list"] == 1, d     # ls: the set is empty, no name is asked
    bad = restore_lib.mismatches(pemu, ORG, os.path.join(backup, ORG), "accounts", "accountid",
                                 "account")
    assert not bad, "%d not restored: %r" % (len(bad), dict(list(bad.items())[:3]))
    assert pending_count(m2) == 0


def test_record_deleted_while_edited_is_estale(temu, tmnt, backup, state_home):
    """The errno audit: an edit of a record deleted on the server meanwhile is a conflict
    (ESTALE), not ENOENT, which cp, rsync and editors would print about their own file."""
    name = sorted(os.listdir(os.path.join(backup, ORG, "accounts")))[2]
    p = os.path.join(tenant(tmnt), "accounts", name)
    with open(p, "rb") as f:
        obj = loads_verbatim(f.read())
    fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
    try:
        assert temu.api(ORG).delete("accounts(%s)" % name[:-len(".json")]).status == 204
        obj["name"] = "Edited after the delete"
        os.write(fd, render(obj))
    finally:
        try:
            os.close(fd)
            err = None
        except OSError as e:
            err = e
    assert err is not None and err.errno == errno.ESTALE, err
    assert "deleted on the server" in tmnt.log_text()
    assert glob.glob(os.path.join(state_home, "dynfs", "rescue", ORG, "accounts",
                                  glob.escape(name[:-len(".json")]) + ".*.json"))
    # the backup puts it back (a restore: a create with its id), so the module ends whole
    sh(["cp", os.path.join(backup, ORG, "accounts", name), p])
    assert temu.record(ORG, "accounts", name[:-len(".json")])["name"] != obj["name"]
