"""The directory tree: tenants, entity sets, one <id>.json per record; a second organisation."""

import os
import stat

import pytest

from lib.mount import Ini
from lib.client import GUID_RE


def set_ids(emu, org, entity_set, key):
    return {r[key] for r in emu.records(org, entity_set)}


@pytest.fixture(scope="module")
def entity_defs(std_emu):
    r = std_emu.api("contoso").get(
        "EntityDefinitions?$select=LogicalName,EntitySetName,IsCustomEntity,PrimaryIdAttribute")
    assert r.status == 200, r
    return r.body["value"]


@pytest.fixture(scope="module")
def custom_set(entity_defs):
    """The emulator's custom table, whose set name is not logical name + 's'."""
    odd = [d for d in entity_defs if d.get("IsCustomEntity") and d.get("EntitySetName")
           and d["EntitySetName"] != d["LogicalName"] + "s"]
    assert odd, "the emulator has no custom entity with an irregular set name"
    return odd[0]


def test_root_lists_tenants(mnt, std_emu):
    tenants = Ini.load(std_emu.config_path).tenants()
    assert sorted(tenants) == ["contoso", "fabrikam"], tenants
    assert sorted(os.listdir(mnt.path)) == sorted(tenants)


def test_root_and_tenants_are_directories(mnt):
    assert stat.S_ISDIR(os.stat(mnt.path).st_mode)
    for t in ("contoso", "fabrikam"):
        st = os.stat(os.path.join(mnt.path, t))
        assert stat.S_ISDIR(st.st_mode), oct(st.st_mode)


def test_tenant_lists_entity_sets(mnt, entity_defs, custom_set):
    names = os.listdir(os.path.join(mnt.path, "contoso"))
    assert len(names) == len(set(names)), "duplicate entries: %s" % sorted(names)
    for want in ("accounts", "contacts", custom_set["EntitySetName"]):
        assert want in names, "%s missing from %s" % (want, sorted(names))
    known = {d["EntitySetName"] for d in entity_defs if d.get("EntitySetName")}
    assert set(names) <= known, "not entity sets: %s" % sorted(set(names) - known)


def test_custom_set_uses_entity_set_name(mnt, custom_set):
    d = os.path.join(mnt.path, "contoso", custom_set["EntitySetName"])
    assert stat.S_ISDIR(os.stat(d).st_mode)
    wrong = os.path.join(mnt.path, "contoso", custom_set["LogicalName"] + "s")
    assert not os.path.exists(wrong), "%s should not exist" % wrong


def test_entity_sets_are_directories(mnt):
    for s in ("accounts", "contacts"):
        assert stat.S_ISDIR(os.stat(os.path.join(mnt.path, "contoso", s)).st_mode)


@pytest.mark.parametrize("entity_set,key", [("accounts", "accountid"), ("contacts", "contactid")])
def test_set_lists_every_record(mnt, std_emu, entity_set, key):
    names = os.listdir(os.path.join(mnt.path, "contoso", entity_set))
    expect = {i + ".json" for i in set_ids(std_emu, "contoso", entity_set, key)}
    assert len(names) == len(set(names)), "duplicate entries"
    assert set(names) == expect, ("missing %s, extra %s"
                                  % (sorted(expect - set(names))[:5], sorted(set(names) - expect)[:5]))
    assert len(names) >= 200


def test_custom_set_lists_every_record(mnt, std_emu, custom_set):
    es, key = custom_set["EntitySetName"], custom_set["PrimaryIdAttribute"]
    expect = {i + ".json" for i in set_ids(std_emu, "contoso", es, key)}
    assert expect, "the emulator should have %s records (new_categories=...)" % es
    assert set(os.listdir(os.path.join(mnt.path, "contoso", es))) == expect


def test_record_names_are_lowercase_guids(mnt):
    for name in os.listdir(os.path.join(mnt.path, "contoso", "accounts")):
        assert name.endswith(".json"), name
        assert GUID_RE.match(name[:-5]), name


def test_listing_is_stable(mnt):
    d = os.path.join(mnt.path, "contoso", "contacts")
    assert sorted(os.listdir(d)) == sorted(os.listdir(d))


def test_scandir_types(mnt):
    d = os.path.join(mnt.path, "contoso", "contacts")
    with os.scandir(d) as it:
        entries = list(it)
    assert entries
    for e in entries[:50]:
        assert e.is_file(follow_symlinks=False), e.name
        assert not e.is_dir(follow_symlinks=False), e.name


# ---------------------------------------------------------------- a second organisation

def test_second_org_lists_its_own_records(mnt, std_emu):
    names = set(os.listdir(os.path.join(mnt.path, "fabrikam", "accounts")))
    fab = {i + ".json" for i in set_ids(std_emu, "fabrikam", "accounts", "accountid")}
    con = {i + ".json" for i in set_ids(std_emu, "contoso", "accounts", "accountid")}
    assert fab and not fab & con, "the emulator's orgs should not share ids"
    assert names == fab
    assert not names & set(os.listdir(os.path.join(mnt.path, "contoso", "accounts")))


def test_second_org_record_content(mnt, std_emu):
    from lib.mount import as_decimal, loads_decimal, strip_annotations
    rec = std_emu.records("fabrikam", "contacts")[7]
    path = os.path.join(mnt.path, "fabrikam", "contacts", rec["contactid"] + ".json")
    with open(path, "rb") as f:
        got = loads_decimal(f.read())
    api = std_emu.api("fabrikam")
    r = api.request("GET", "contacts(%s)" % rec["contactid"], decimal_floats=True)
    assert r.status == 200, r
    assert got == as_decimal(strip_annotations(r.body))


def test_record_of_one_org_absent_from_the_other(mnt, std_emu):
    rid = std_emu.records("fabrikam", "accounts")[0]["accountid"]
    with pytest.raises(FileNotFoundError):
        os.stat(os.path.join(mnt.path, "contoso", "accounts", rid + ".json"))
    assert os.path.isfile(os.path.join(mnt.path, "fabrikam", "accounts", rid + ".json"))
