"""Backup and restore of whole sets with cp and rsync.

1. `cp -r mnt/contoso/accounts mnt/contoso/contacts backup/`: one file per record, the bytes
   the Web API gives for it; no write request.
2. Every record is deleted through the Web API; `rsync -a backup/<set>/ mnt/contoso/<set>/`
   recreates each one with its original id (rsync writes .<id>.json.XXXXXX, sets its
   modes/times, renames it to <id>.json: a create with that id): N creates, and every column
   valid for create (lookups included) and createdon equal to the backup.  Other read-only
   columns (modifiedon, versionnumber, ...) are the server's.
3. Some records are changed through the Web API; `cp -r backup/accounts backup/contacts
   mnt/contoso/` puts them back: one PATCH per changed record, nothing for the others (their
   files differ from the server only in read-only columns, and their versionnumber is not the
   server's: a backup being restored).

This module restores set by set in reference order, where every lookup finds its target at
once, so each record costs exactly one create (test_restore_tenant.py restores in any order,
with lookups left pending until their target is back).  The data set is prepared for that
before the backup: accounts refer to no contact (_primarycontactid_value cleared), parent
accounts sort before their children (rsync creates files in name order), accounts are
restored before contacts, and two contacts have a contact as parent customer (polymorphic
lookup) that sorts before them.  Inactive records cost one more request each (their state is
set after the create), and createdon is the original (overriddencreatedon).

The mount uses cache_ttl = 0: a restore normally happens long after the backup, when nothing
of the old listing is trusted any more (with a fresh listing rsync would skip every file whose
size and time match).  Each phase's action is a module fixture (`backup`: 1, `restored`: 2)
and its checks are a test; a later phase gets the earlier actions from those fixtures, so
each phase also runs alone (-k), and when an action fails, every test that needs it fails
(as an error in its setup) instead of being skipped.
"""

import os
import shutil
import types

import pytest

from lib.fixtures import emulator_fixture, mount_fixture
from lib import restore as restore_lib
from lib.mount import as_decimal, list_raw, loads_verbatim, render, stats_delta, strip_annotations
from lib.tools import assert_writes, run_tool

ORG = "contoso"
SETS = ("accounts", "contacts")
PK = {"accounts": "accountid", "contacts": "contactid"}
ENTITY = {"accounts": "account", "contacts": "contact"}
N = {"accounts": 50, "contacts": 30}
LOGICAL = "_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"
TOOL_TIMEOUT = 60


# --------------------------------------------------------------------------- fixtures

def _check(r, what):
    assert r.status in (200, 204), "%s -> %r" % (what, r)


def _prepare(emu):
    """Make a one-pass restore in reference order possible (see the module docstring)."""
    api = emu.api(ORG)
    accounts = sorted(r["accountid"] for r in emu.records(ORG, "accounts"))
    for r in emu.records(ORG, "accounts"):
        body = {}
        if r.get("_primarycontactid_value"):
            body["primarycontactid@odata.bind"] = None
        if r.get("_parentaccountid_value"):
            body["parentaccountid@odata.bind"] = None
        if body:
            _check(api.patch("accounts(%s)" % r["accountid"], body), "clear lookups")
    for i in range(4):      # parent sorts first
        _check(api.patch("accounts(%s)" % accounts[10 + i],
                         {"parentaccountid@odata.bind": "/accounts(%s)" % accounts[i]}),
               "set parent account")
    contacts = sorted(r["contactid"] for r in emu.records(ORG, "contacts"))
    for i in range(2):
        _check(api.patch("contacts(%s)" % contacts[5 + i],
                         {"parentcustomerid_contact@odata.bind": "/contacts(%s)" % contacts[i]}),
               "set parent contact")
    n = sum(1 for r in emu.records(ORG, "contacts")
            if r.get("_parentcustomerid_value") in set(accounts))
    assert n >= 10, "too few contacts with an account as parent customer (%d)" % n


remu = emulator_fixture(orgs=ORG, records=dict(N), seed=53, setup=_prepare)
rmnt = mount_fixture("remu", ini={"global": {"cache_ttl": 0}}, state_home=True)


@pytest.fixture(scope="module")
def backup(remu, rmnt, tmp_path_factory):
    """Phase 1's action: `cp -r` of both sets from the mount into .path; .cost: the requests
    it made (a Delta); .targets: {contact id: table of its parent customer} at that time."""
    d = str(tmp_path_factory.mktemp("backup"))
    cost = stats_delta(remu, lambda: sh(["cp", "-r", setdir(rmnt, "accounts"),
                                         setdir(rmnt, "contacts"), d + "/"]))
    targets = {k: v.get(LOGICAL) for k, v in
               server_records(remu, "contacts", annotations=True).items()}
    return types.SimpleNamespace(path=d, cost=cost, targets=targets)


@pytest.fixture(scope="module")
def restored(remu, rmnt, backup):
    """Phase 2's action: every record deleted through the Web API, then `rsync -a` of the
    backup into the emptied sets (accounts first: contacts refer to them); {set: Delta of
    its rsync}."""
    if not shutil.which("rsync"):
        pytest.fail("rsync is not installed (bash .ci/deps installs it)", pytrace=False)
    api = remu.api(ORG)
    for s in ("contacts", "accounts"):
        for rid in list(server_records(remu, s)):
            r = api.delete("%s(%s)" % (s, rid))
            assert r.status in (204, 404), r     # 404: removed by a cascade
        assert not server_records(remu, s), "%s not emptied" % s
    return {s: stats_delta(remu, lambda: sh(["rsync", "-a", os.path.join(backup.path, s) + "/",
                                             setdir(rmnt, s) + "/"]))
            for s in SETS}


# --------------------------------------------------------------------------- helpers

def setdir(m, s):
    return os.path.join(m.path, ORG, s)


def read(p):
    with open(p, "rb") as f:
        return f.read()


def sh(argv, timeout=TOOL_TIMEOUT):
    r = run_tool(argv, timeout)
    assert r.returncode == 0, "%r exited %d\nstdout: %s\nstderr: %s" % (
        argv, r.returncode, r.stdout[-3000:], r.stderr[-4000:])
    return r


def server_records(emu, s, annotations=False):
    """{id: record} of a set through the Web API (numbers verbatim); with ANNOTATIONS only the
    parent customer and the table it points to."""
    if annotations:
        recs, _ = emu.api(ORG).list_all(
            s, select=[PK[s], "_parentcustomerid_value"],
            headers={"Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"'})
        return {r[PK[s]]: r for r in recs}
    return restore_lib.server_records(emu, ORG, s, PK[s])


def mismatches(emu, backup, s):
    """{id: {column: (backup, server)}} for every backed-up record of S that is missing or
    differs in a column a restore brings back (lib.restore)."""
    return restore_lib.mismatches(emu, ORG, backup, s, PK[s], ENTITY[s])


# --------------------------------------------------------------------------- phases

def test_backup_with_cp(remu, backup):
    assert_writes(backup.cost, what="cp -r from the mount")
    for s in SETS:
        recs = list_raw(remu.api(ORG), s)
        assert len(recs) == N[s]
        files = sorted(os.listdir(os.path.join(backup.path, s)))
        assert files == sorted(rec[PK[s]] + ".json" for rec in recs), \
            "the backup of %s does not hold one file per record" % s
        wrong = [rec[PK[s]] for rec in recs
                 if read(os.path.join(backup.path, s, rec[PK[s]] + ".json"))
                 != render(strip_annotations(rec))]
        assert not wrong, "backup files of %s differ from the Web API's records: %r" % (s, wrong)
    assert sorted(set(backup.targets.values()) - {None}) == ["account", "contact"], \
        backup.targets


def test_restore_into_emptied_sets_with_rsync(remu, rmnt, backup, restored):
    for s in SETS:
        # an inactive record is created, then its state set: one more request each
        inactive = sum(1 for n in os.listdir(os.path.join(backup.path, s))
                       if as_decimal(loads_verbatim(read(os.path.join(backup.path, s, n)))
                                     .get("statecode")) != 0)
        assert_writes(restored[s], create=N[s], update=inactive, what="rsync -a backup/%s/" % s)
    for s in SETS:
        bad = mismatches(remu, backup.path, s)
        assert not bad, "%d %s not restored as backed up: %r" % (
            len(bad), s, dict(list(bad.items())[:5]))
        names = sorted(os.listdir(setdir(rmnt, s)))
        assert names == sorted(os.listdir(os.path.join(backup.path, s))), \
            "the restored folder %s does not list exactly the backed-up records" % s
    targets = {k: v.get(LOGICAL) for k, v in server_records(remu, "contacts", True).items()}
    assert targets == backup.targets, "polymorphic parent customers changed table"


def test_restore_changed_records_with_cp(remu, rmnt, backup, restored):
    api = remu.api(ORG)
    accounts = sorted(server_records(remu, "accounts"))
    acc = server_records(remu, "accounts")
    children = sorted(a for a, r in acc.items() if r.get("_parentaccountid_value"))
    con = server_records(remu, "contacts")
    by_account = sorted(c for c, r in con.items() if backup.targets.get(c) == "account")
    c_plain = next(c for c in sorted(con) if c not in by_account[:1])
    changes = [
        ("accounts", accounts[20], {"name": "Changed after the backup", "telephone1": "+1 555"}),
        ("accounts", accounts[21], {"revenue": 1234.5}),
        ("accounts", children[0], {"parentaccountid@odata.bind": None}),
        ("contacts", c_plain, {"lastname": "Changed-After-Backup"}),
        ("contacts", by_account[0],
         {"parentcustomerid_account@odata.bind": "/accounts(%s)" % next(
             a for a in accounts if a != con[by_account[0]]["_parentcustomerid_value"])}),
    ]
    assert len({c[1] for c in changes}) == len(changes)
    for s, rid, body in changes:
        _check(api.patch("%s(%s)" % (s, rid), body), "change %s(%s)" % (s, rid))
    still = {s: {rid for (cs, rid, _) in changes if cs == s} for s in SETS}
    for s in SETS:
        bad = mismatches(remu, backup.path, s)
        assert set(bad) == still[s], "the changes did not land as expected: %r" % bad

    r = stats_delta(remu, lambda: sh(["cp", "-r", os.path.join(backup.path, "accounts"),
                                      os.path.join(backup.path, "contacts"),
                                      os.path.join(rmnt.path, ORG) + "/"]))
    assert_writes(r, update=len(changes), what="cp -r backup/* over the records")
    for s in SETS:
        bad = mismatches(remu, backup.path, s)
        assert not bad, "%s not put back: %r" % (s, dict(list(bad.items())[:5]))
    targets = {k: v.get(LOGICAL) for k, v in server_records(remu, "contacts", True).items()}
    assert targets == backup.targets
