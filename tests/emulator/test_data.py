"""Sample data: determinism, real column names, system columns, referential integrity."""

import json
import os

import pytest

from lib.client import DATETIME_RE, GUID_RE
from lib.emuproc import Emulator
from lib.fixtures import emulator_fixture

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = "/work/shared/data/entities"
for _cand in (os.path.join(HERE, "..", "..", "..", "shared", "data", "entities"),):
    if os.path.isdir(_cand):
        SHARED = _cand

RECORDS = {"accounts": 30, "contacts": 20}
SYSTEM = ["createdon", "modifiedon", "versionnumber", "_ownerid_value", "_createdby_value", "_modifiedby_value",
          "_owningbusinessunit_value", "statecode", "statuscode"]


def load(name, where=None):
    p = os.path.join(where or os.path.join(HERE, "entities"), name + ".json")
    if not os.path.exists(p):
        p = os.path.join(SHARED, name + ".json")
    with open(p) as f:
        return json.load(f)


# two emulators started alike: the data must be the same
emu = emulator_fixture(orgs="contoso", records=RECORDS, seed=42)
twin = emulator_fixture(orgs="contoso", records=RECORDS, seed=42)


@pytest.fixture(scope="module")
def pair(emu, twin):
    return emu, twin


@pytest.fixture(scope="module")
def accounts(emu):
    return emu.records("contoso", "accounts")


@pytest.fixture(scope="module")
def contacts(emu):
    return emu.records("contoso", "contacts")


def test_entity_files_copied():
    for n in ("account", "contact"):
        p = os.path.join(HERE, "entities", n + ".json")
        assert os.path.exists(p), p
        with open(p) as f, open(os.path.join(SHARED, n + ".json")) as g:
            assert json.load(f) == json.load(g)


def test_counts(accounts, contacts):
    assert len(accounts) == RECORDS["accounts"]
    assert len(contacts) == RECORDS["contacts"]


def test_deterministic_for_seed(pair):
    a, b = pair
    for s in ("accounts", "contacts"):
        ra = sorted(a.records("contoso", s), key=lambda r: r[s[:-1] + "id"])
        rb = sorted(b.records("contoso", s), key=lambda r: r[s[:-1] + "id"])
        assert ra == rb, s


def test_different_seed_differs(accounts):
    with Emulator(orgs="contoso", records={"accounts": 5, "contacts": 1}, seed=43) as e:
        other = e.records("contoso", "accounts")
    assert not ({r["accountid"] for r in other} & {r["accountid"] for r in accounts})


def expected_properties(entity):
    ref = load(entity)
    lookups = {a["LogicalName"] for a in ref["Attributes"] if a["AttributeType"] in ("Lookup", "Customer", "Owner")}
    props = set()
    for a in ref["Attributes"]:
        n, t = a["LogicalName"], a["AttributeType"]
        if not a.get("IsValidForRead", True) or t == "EntityName":
            continue
        if t in ("Lookup", "Customer", "Owner"):
            props.add("_%s_value" % n)
            continue
        helper = (t == "String" and not a["IsValidForCreate"] and not a["IsValidForUpdate"]
                  and (n.endswith("name")) and any(n.startswith(l) for l in lookups | {"sla", "masteraccountid",
                                                                                        "mastercontactid"}))
        if helper:
            continue
        props.add(n)
    return props


@pytest.mark.parametrize("entity,set_", [("account", "accounts"), ("contact", "contacts")])
def test_real_column_names(emu, entity, set_):
    recs = emu.records("contoso", set_)
    missing = expected_properties(entity) - set(recs[0])
    assert not missing, "columns of the reference %s table missing from records: %s" % (entity, sorted(missing))


def test_no_invented_columns(accounts):
    ref = load("account")
    names = {a["LogicalName"] for a in ref["Attributes"]}
    for k in accounts[0]:
        if k.startswith("@"):
            continue
        base = k[1:-6] if k.startswith("_") and k.endswith("_value") else k
        assert base in names, "column %r not in the reference account table" % k


@pytest.mark.parametrize("set_", ["accounts", "contacts"])
def test_system_columns(emu, set_):
    pk = set_[:-1] + "id"
    vers = []
    for r in emu.records("contoso", set_):
        assert GUID_RE.match(r[pk]), r[pk]
        for k in SYSTEM:
            assert r.get(k) is not None, (k, r[pk])
        assert DATETIME_RE.match(r["createdon"]) and DATETIME_RE.match(r["modifiedon"])
        assert r["createdon"] <= r["modifiedon"]
        assert r["@odata.etag"] == 'W/"%d"' % r["versionnumber"]
        vers.append(r["versionnumber"])
    assert len(set(vers)) == len(vers), "versionnumber (rowversion) must be unique"


def test_contacts_parent_points_at_existing_accounts(accounts, contacts):
    acc_ids = {a["accountid"] for a in accounts}
    con_ids = {c["contactid"] for c in contacts}
    parents = [c["_parentcustomerid_value"] for c in contacts if c.get("_parentcustomerid_value")]
    assert len(parents) >= len(contacts) // 2, "most sample contacts should have a parent customer"
    for p in parents:
        assert p in acc_ids or p in con_ids, p
    assert any(p in acc_ids for p in parents)


def test_account_primary_contact_points_at_existing_contacts(accounts, contacts):
    con_ids = {c["contactid"] for c in contacts}
    for a in accounts:
        v = a.get("_primarycontactid_value")
        assert v is None or v in con_ids, v
        v = a.get("_parentaccountid_value")
        assert v is None or v in {x["accountid"] for x in accounts}, v


def test_contact_fullname(contacts):
    for c in contacts:
        if c.get("firstname") and c.get("lastname"):
            assert c["fullname"] == "%s %s" % (c["firstname"], c["lastname"]), c


def test_names_populated(accounts, contacts):
    assert all(a.get("name") for a in accounts)
    assert all(c.get("lastname") for c in contacts)


@pytest.mark.parametrize("entity,set_", [("account", "accounts"), ("contact", "contacts")])
def test_values_respect_metadata(emu, entity, set_):
    ref = {a["LogicalName"]: a for a in load(entity)["Attributes"]}
    for r in emu.records("contoso", set_):
        for k, v in r.items():
            a = ref.get(k)
            if a is None or v is None:
                continue
            t = a["AttributeType"]
            if t in ("String", "Memo") and a.get("MaxLength"):
                assert isinstance(v, str) and len(v) <= a["MaxLength"], (k, v)
            if t in ("Picklist", "State", "Status") and a.get("Options"):
                assert v in {o["Value"] for o in a["Options"]}, (k, v)
            if t == "Boolean":
                assert isinstance(v, bool), (k, v)
            if t in ("Integer", "BigInt"):
                assert isinstance(v, int) and not isinstance(v, bool), (k, v)
            if t == "DateTime":
                assert DATETIME_RE.match(v) or (len(v) == 10 and v[4] == "-"), (k, v)
            if t == "Uniqueidentifier":
                assert GUID_RE.match(v), (k, v)


def test_some_optional_columns_populated(accounts):
    # realistic sample rows: a good share of ordinary columns carry values
    filled = [k for k in ("revenue", "telephone1", "address1_city", "emailaddress1", "websiteurl",
                          "numberofemployees", "accountnumber") if any(a.get(k) is not None for a in accounts)]
    assert len(filled) >= 5, filled


def test_default_extra_sets_and_notes(emu, accounts, contacts):
    notes = emu.records("contoso", "annotations")
    assert notes, "annotations sample rows expected by default"
    owners = {a["accountid"] for a in accounts} | {c["contactid"] for c in contacts}
    for n in notes:
        v = n.get("_objectid_value")
        assert v is None or v in owners, v
    cats = emu.records("contoso", "new_categories")
    assert cats and all(GUID_RE.match(c["new_categoryid"]) for c in cats)
