"""Create / update / upsert / delete / bind / validation (reference §3, §4, §5.3)."""

import re
import time
import uuid

import pytest

from lib.client import GUID_RE, assert_odata_error
from lib.fixtures import emulator_fixture

emu = emulator_fixture(orgs="contoso", records={"accounts": 40, "contacts": 20}, seed=11)

DUP_MSG = "A record with matching key values already exists."
ROWVER_MSG = "The version of the existing record doesn't match the RowVersion property provided."


def new_id():
    return str(uuid.uuid4())


def get(api, aid, select=None):
    return api.get("accounts(%s)%s" % (aid, "?$select=" + select if select else ""))


def make_account(api, **fields):
    body = {"name": "Test %s" % uuid.uuid4().hex[:8]}
    body.update(fields)
    r = api.create("accounts", body)
    assert r.status == 204, r
    return r.entity_id


@pytest.fixture(scope="module")
def contact_ids(emu):
    return [c["contactid"] for c in emu.records("contoso", "contacts")]


# ---------------------------------------------------------------- create


def test_create_204_entityid(api):
    r = api.create("accounts", {"name": "Created One", "revenue": 5000000, "creditonhold": False,
                                "accountcategorycode": 1})
    assert r.status == 204, r
    assert r.raw == b""
    eid = r.headers.get("OData-EntityId")
    m = re.match(re.escape(api.api_url) + r"accounts\(([0-9a-f-]{36})\)$", eid or "")
    assert m, eid
    assert GUID_RE.match(m.group(1))
    assert r.headers.get("OData-Version") == "4.0"
    g = get(api, m.group(1))
    assert g.status == 200, g
    b = g.body
    assert b["name"] == "Created One" and b["accountcategorycode"] == 1 and b["creditonhold"] is False
    assert float(b["revenue"]) == 5000000
    assert b["statecode"] == 0
    for k in ("createdon", "modifiedon", "_createdby_value", "_ownerid_value", "versionnumber"):
        assert b[k] is not None, k


def test_create_money_written_reads_back_4_decimals(api):
    aid = make_account(api, revenue=12345.5)
    r = get(api, aid, "revenue")
    assert re.search(r'"revenue": ?12345\.5000[,}\s]', r.raw.decode()), r.raw


def test_create_return_representation(api):
    r = api.create("accounts", {"name": "Rep One"}, representation=True)
    assert r.status == 201, r
    assert r.headers.get("Preference-Applied") == "return=representation"
    b = r.body
    assert b["name"] == "Rep One" and GUID_RE.match(b["accountid"])
    assert b["@odata.etag"] == 'W/"%d"' % b["versionnumber"]
    assert r.headers.get("ETag") == b["@odata.etag"]
    assert "$entity" in b["@odata.context"]
    assert "OData-EntityId" not in r.headers


def test_create_return_representation_with_select(api):
    r = api.request("POST", "accounts?$select=name,accountnumber", {"name": "Rep Sel", "accountnumber": "A-1"},
                    {"Prefer": "return=representation"})
    assert r.status == 201, r
    keys = {k for k in r.body if not k.startswith("@")}
    assert keys == {"name", "accountnumber", "accountid"}, keys


def test_create_client_supplied_key_and_duplicate(api):
    aid = new_id()
    r = api.create("accounts", {"accountid": aid, "name": "Own Key"})
    assert r.status == 204, r
    assert r.entity_id == aid
    assert get(api, aid).body["name"] == "Own Key"
    r = api.create("accounts", {"accountid": aid, "name": "Dup Key"})
    assert_odata_error(r, 412, code="0x80040237", message=DUP_MSG)
    assert get(api, aid).body["name"] == "Own Key"


def test_create_contact_fullname_computed(api):
    r = api.create("contacts", {"firstname": "Ada", "lastname": "Lovelace"}, representation=True)
    assert r.status == 201, r
    assert r.body["fullname"] == "Ada Lovelace"


# ---------------------------------------------------------------- upsert table (§3.3)

UPSERT_CASES = [
    # (id, headers, exists, expected status, expect_change, expect_created)
    ("none-exists", {}, True, 204, True, False),
    ("none-absent", {}, False, 204, True, True),
    ("inm-null-exists", {"If-None-Match": "null"}, True, 204, True, False),
    ("inm-null-absent", {"If-None-Match": "null"}, False, 204, True, True),
    ("im-star-exists", {"If-Match": "*"}, True, 204, True, False),
    ("im-star-absent", {"If-Match": "*"}, False, 404, False, False),
    ("inm-star-exists", {"If-None-Match": "*"}, True, 412, False, False),
    ("inm-star-absent", {"If-None-Match": "*"}, False, 204, True, True),
    ("im-etag-match", {"If-Match": "CURRENT"}, True, 204, True, False),
    ("im-etag-stale", {"If-Match": 'W/"1"'}, True, 412, False, False),
    ("im-etag-absent", {"If-Match": 'W/"1"'}, False, 404, False, False),
]


@pytest.mark.parametrize("rep", [False, True], ids=["plain", "representation"])
@pytest.mark.parametrize("case", UPSERT_CASES, ids=[c[0] for c in UPSERT_CASES])
def test_upsert_table(api, case, rep):
    _, headers, exists, status, changes, created = case
    aid = new_id()
    if exists:
        r = api.create("accounts", {"accountid": aid, "name": "Before"})
        assert r.status == 204, r
        before = get(api, aid).body
    headers = dict(headers)
    if headers.get("If-Match") == "CURRENT":
        headers["If-Match"] = before["@odata.etag"]
    r = api.patch("accounts(%s)" % aid, {"name": "After"}, headers=headers, representation=rep)
    if rep and status == 204:
        status = 201 if created else 200
    if status == 404:
        assert_odata_error(r, 404, code="0x80040217", message="account With Id = %s Does Not Exist" % aid)
    elif status == 412:
        if "If-None-Match" in headers:
            assert_odata_error(r, 412, code="0x80040237", message=DUP_MSG)
        else:
            assert_odata_error(r, 412, code="0x80060882", message=ROWVER_MSG)
    else:
        assert r.status == status, r
        if status == 204:
            assert r.raw == b""
            assert r.headers.get("OData-EntityId") == api.api_url + "accounts(%s)" % aid, r.headers
        else:
            assert r.body["name"] == "After" and r.body["accountid"] == aid
            assert r.headers.get("ETag") == r.body["@odata.etag"]
            assert r.headers.get("Preference-Applied") == "return=representation"
    after = get(api, aid)
    if changes:
        assert after.status == 200 and after.body["name"] == "After"
        if exists:
            assert after.body["versionnumber"] > before["versionnumber"]
    elif exists:
        assert after.body["name"] == "Before" and after.body["versionnumber"] == before["versionnumber"]
    else:
        assert after.status == 404, "record must not have been created"


def test_update_returns_entity_id_and_changes_version(api):
    aid = make_account(api)
    b1 = get(api, aid).body
    time.sleep(1.1)
    r = api.patch("accounts(%s)" % aid, {"telephone1": "555-0100"}, headers={"If-Match": "*"})
    assert r.status == 204, r
    b2 = get(api, aid).body
    assert b2["telephone1"] == "555-0100"
    assert b2["versionnumber"] > b1["versionnumber"]
    assert b2["@odata.etag"] != b1["@odata.etag"]
    assert b2["modifiedon"] > b1["modifiedon"]
    assert b2["createdon"] == b1["createdon"]
    assert b2["name"] == b1["name"]


def test_patch_upsert_create_sets_system_columns(api):
    aid = new_id()
    r = api.patch("accounts(%s)" % aid, {"name": "Upserted"}, representation=True)
    assert r.status == 201, r
    for k in ("createdon", "modifiedon", "versionnumber", "_ownerid_value"):
        assert r.body[k] is not None, k


# ---------------------------------------------------------------- delete


def test_delete(api):
    aid = make_account(api)
    r = api.delete("accounts(%s)" % aid)
    assert r.status == 204, r
    assert get(api, aid).status == 404
    r = api.delete("accounts(%s)" % aid)
    assert_odata_error(r, 404, code="0x80040217", message="account With Id = %s Does Not Exist" % aid)


def test_delete_if_match_stale_412(api):
    aid = make_account(api)
    r = api.delete("accounts(%s)" % aid, headers={"If-Match": 'W/"1"'})
    assert_odata_error(r, 412, code="0x80060882", message=ROWVER_MSG)
    assert get(api, aid).status == 200
    etag = get(api, aid).body["@odata.etag"]
    assert api.delete("accounts(%s)" % aid, headers={"If-Match": etag}).status == 204


def test_delete_collection_405(api):
    r = api.delete("accounts")
    assert r.status == 405, r   # reference 5.2: DELETE/PATCH on a collection -> 405


# ---------------------------------------------------------------- validation


def test_unknown_property_400(api):
    r = api.create("accounts", {"name": "x", "nosuchcolumn": 1})
    assert_odata_error(r, 400, contains="Invalid property 'nosuchcolumn' was found in entity "
                                        "'Microsoft.Dynamics.CRM.account'")
    aid = make_account(api)
    r = api.patch("accounts(%s)" % aid, {"nosuchcolumn": 1})
    assert_odata_error(r, 400, contains="nosuchcolumn")


@pytest.mark.parametrize("column,value", [("createdon", "2020-01-01T00:00:00Z"), ("versionnumber", 5),
                                          ("modifiedon", "2020-01-01T00:00:00Z"),
                                          ("_parentaccountid_value", "00000000-0000-0000-0000-000000000001")])
@pytest.mark.parametrize("op", ["create", "update"])
def test_read_only_column_400(api, column, value, op):
    if op == "create":
        r = api.create("accounts", {"name": "ro", column: value})
    else:
        aid = make_account(api)
        before = get(api, aid).body
        r = api.patch("accounts(%s)" % aid, {column: value})
    assert r.status == 400, r
    assert r.error is not None
    if op == "update":
        after = get(api, aid).body
        assert after["versionnumber"] == before["versionnumber"]


def test_primary_key_not_updatable(api):
    aid = make_account(api)
    r = api.patch("accounts(%s)" % aid, {"accountid": new_id()})
    assert r.status == 400, r


def test_string_too_long_400(api):
    r = api.create("accounts", {"name": "x" * 161})
    assert_odata_error(r, 400, contains=["exceeded the maximum allowed length",
                                         "The length of the 'name' attribute of the 'account' entity "
                                         "exceeded the maximum allowed length of '160'"])
    r = api.create("accounts", {"name": "y" * 160})
    assert r.status == 204, r
    aid = r.entity_id
    r = api.patch("accounts(%s)" % aid, {"telephone1": "1" * 51})
    assert_odata_error(r, 400, contains="exceeded the maximum allowed length of '50'")


def test_wrong_type_400(api):
    r = api.create("accounts", {"name": "t", "numberofemployees": "many"})
    assert r.status == 400, r


def test_invalid_json_400(api):
    r = api.request("POST", "accounts", b"{not json", {"Content-Type": "application/json"})
    assert r.status == 400, r


# ---------------------------------------------------------------- binds


@pytest.mark.parametrize("form", ["/contacts(%s)", "contacts(%s)", "ABS"])
def test_bind_lookup_forms(api, contact_ids, form):
    cid = contact_ids[0]
    ref = (api.api_url + "contacts(%s)" % cid) if form == "ABS" else form % cid
    r = api.create("accounts", {"name": "Bound", "primarycontactid@odata.bind": ref})
    assert r.status == 204, r
    assert get(api, r.entity_id).body["_primarycontactid_value"] == cid


def test_bind_then_clear_with_null(api, contact_ids):
    aid = make_account(api, **{"primarycontactid@odata.bind": "/contacts(%s)" % contact_ids[1]})
    assert get(api, aid).body["_primarycontactid_value"] == contact_ids[1]
    r = api.patch("accounts(%s)" % aid, {"primarycontactid@odata.bind": None})
    assert r.status == 204, r
    assert get(api, aid).body["_primarycontactid_value"] is None


def test_clear_lookup_with_delete_ref(api, contact_ids):
    aid = make_account(api, **{"primarycontactid@odata.bind": "/contacts(%s)" % contact_ids[2]})
    r = api.delete("accounts(%s)/primarycontactid/$ref" % aid)
    assert r.status == 204, r
    assert get(api, aid).body["_primarycontactid_value"] is None


def test_polymorphic_bind_on_contact(api, emu, contact_ids):
    acc = emu.records("contoso", "accounts")[0]["accountid"]
    r = api.create("contacts", {"lastname": "Poly", "parentcustomerid_account@odata.bind": "/accounts(%s)" % acc})
    assert r.status == 204, r
    cid = r.entity_id
    assert api.get("contacts(%s)" % cid).body["_parentcustomerid_value"] == acc
    r = api.patch("contacts(%s)" % cid, {"parentcustomerid_contact@odata.bind": "/contacts(%s)" % contact_ids[0]})
    assert r.status == 204, r
    assert api.get("contacts(%s)" % cid).body["_parentcustomerid_value"] == contact_ids[0]


def test_polymorphic_base_name_rejected(api, emu):
    acc = emu.records("contoso", "accounts")[0]["accountid"]
    r = api.create("contacts", {"lastname": "Poly", "parentcustomerid@odata.bind": "/accounts(%s)" % acc})
    assert_odata_error(r, 400, code="0x80048d19", contains="An undeclared property 'parentcustomerid'")


def test_unknown_nav_property_400(api, contact_ids):
    r = api.create("accounts", {"name": "x", "nosuchnav@odata.bind": "/contacts(%s)" % contact_ids[0]})
    assert_odata_error(r, 400, code="0x80048d19")


def test_bind_to_missing_record_fails(api):
    r = api.create("accounts", {"name": "x", "primarycontactid@odata.bind": "/contacts(%s)" % new_id()})
    assert r.status in (400, 404), r
    assert r.error is not None


def test_bind_wrong_target_set_fails(api, emu):
    acc = emu.records("contoso", "accounts")[0]["accountid"]
    r = api.create("accounts", {"name": "x", "primarycontactid@odata.bind": "/accounts(%s)" % acc})
    assert r.status == 400, r


# ---------------------------------------------------------------- single properties, $ref, misc (3.1-3.4)


def test_put_single_property_and_delete_property(api):
    aid = make_account(api, description="to be cleared")
    r = api.request("PUT", "accounts(%s)/name" % aid, {"value": "Put Name"})
    assert r.status == 204, r
    assert get(api, aid).body["name"] == "Put Name"
    r = api.delete("accounts(%s)/description" % aid)
    assert r.status == 204, r
    assert get(api, aid).body["description"] is None


def test_set_single_valued_ref(api, contact_ids):
    aid = make_account(api)
    r = api.request("PUT", "accounts(%s)/primarycontactid/$ref" % aid,
                    {"@odata.id": api.api_url + "contacts(%s)" % contact_ids[3]})
    assert r.status == 204, r
    assert get(api, aid).body["_primarycontactid_value"] == contact_ids[3]


def test_clear_lookup_with_plain_null(api, contact_ids):
    aid = make_account(api, **{"primarycontactid@odata.bind": "/contacts(%s)" % contact_ids[4]})
    r = api.patch("accounts(%s)" % aid, {"primarycontactid": None})
    assert r.status == 204, r
    assert get(api, aid).body["_primarycontactid_value"] is None


def test_overriddencreatedon_sets_createdon(api):
    r = api.create("accounts", {"name": "migrated", "overriddencreatedon": "2015-03-04T05:06:07Z"},
                   representation=True)
    assert r.status == 201, r
    assert r.body["createdon"] == "2015-03-04T05:06:07Z"
    # ... and overriddencreatedon says when the row was really made (migrated)
    assert r.body["overriddencreatedon"] == r.body["modifiedon"], r.body


def test_money_companion_base_computed(api):
    r = api.create("accounts", {"name": "base", "revenue": 1000}, representation=True)
    assert r.status == 201, r
    assert r.body["revenue_base"] is not None
    assert r.body["_transactioncurrencyid_value"] is not None


def test_state_change(api):
    aid = make_account(api)
    r = api.patch("accounts(%s)" % aid, {"statecode": 1, "statuscode": 2})
    assert r.status == 204, r
    b = get(api, aid).body
    assert (b["statecode"], b["statuscode"]) == (1, 2)


def test_statecode_not_valid_for_create(api):
    """statecode is IsValidForCreate=false (shared/data/entities): a create carrying it is
    refused and nothing is created; an inactive row is made by a create, then a PATCH."""
    aid = new_id()
    r = api.patch("accounts(%s)" % aid, {"name": "inactive", "statecode": 1},
                  headers={"If-None-Match": "*"})
    assert r.status == 400, r
    assert get(api, aid).status == 404


@pytest.mark.parametrize("status,ok", [(1, True), (2, False)])
def test_statuscode_on_create_must_be_of_the_default_state(api, status, ok):
    """A create's statuscode must belong to the default state (Active, 0): 2 (Inactive) is
    refused instead of making the row inactive."""
    r = api.create("accounts", {"name": "status %d" % status, "statuscode": status},
                   representation=True)
    if ok:
        assert r.status == 201, r
        assert (r.body["statecode"], r.body["statuscode"]) == (0, status)
    else:
        assert r.status == 400, r
        assert r.error["code"] == "0x8004432b", r.error


def test_invalid_choice_value_400(api):
    r = api.create("accounts", {"name": "bad choice", "accountcategorycode": 999})
    assert r.status == 400, r


def test_patch_on_collection_405(api):
    r = api.patch("accounts", {"name": "x"})
    assert r.status == 405, r   # reference 5.2


def test_create_multiple(api):
    r = api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple",
                 {"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.account", "name": "cm1"},
                              {"@odata.type": "Microsoft.Dynamics.CRM.account", "name": "cm2"}]})
    assert r.status == 200, r
    ids = r.body["Ids"]
    assert len(ids) == 2
    assert [get(api, i).body["name"] for i in ids] == ["cm1", "cm2"]


def test_write_to_custom_entity(api):
    r = api.create("new_categories", {"new_name": "Custom row"}, representation=True)
    assert r.status == 201, r
    assert r.body["new_name"] == "Custom row"
    eid = r.headers.get("OData-EntityId") or ""
    assert "OData-EntityId" not in r.headers or "new_categories(" in eid


def test_datetime_before_1753_400(api):
    r = api.create("accounts", {"name": "old", "lastonholdtime": "1700-01-01T00:00:00Z"})
    assert r.status == 400, r


def test_integer_out_of_range_400(api):
    r = api.create("accounts", {"name": "big", "numberofemployees": 10 ** 12})
    assert r.status == 400, r


def test_write_value_value_types_roundtrip(api):
    r = api.create("accounts", {"name": "types", "numberofemployees": 42, "creditonhold": True,
                                "address1_latitude": 47.639583, "description": "line1\r\nline2 \"q\" \\ é ☃"},
                   representation=True)
    assert r.status == 201, r
    b = r.body
    assert b["numberofemployees"] == 42 and b["creditonhold"] is True
    assert b["description"] == "line1\r\nline2 \"q\" \\ é ☃"
    assert abs(b["address1_latitude"] - 47.63958) < 1e-9, b["address1_latitude"]  # precision 5 (ref 11.3)


# ---------------------------------------------------------------- concurrency


def _parallel(fns):
    import threading
    out = [None] * len(fns)
    bar = threading.Barrier(len(fns))

    def run(i):
        bar.wait()
        out[i] = fns[i]()
    ts = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return out


def test_concurrent_if_match_exactly_one_wins(api):
    aid = make_account(api)
    etag = get(api, aid).body["@odata.etag"]
    api.token()
    res = _parallel([lambda i=i: api.patch("accounts(%s)" % aid, {"name": "w%d" % i}, headers={"If-Match": etag})
                     for i in range(8)])
    assert sorted(r.status for r in res) == [204] + [412] * 7, res


def test_concurrent_creates_unique_versions(api):
    api.token()
    res = _parallel([lambda i=i: api.create("accounts", {"name": "cc%d" % i}, representation=True)
                     for i in range(12)])
    assert all(r.status == 201 for r in res), res
    vs = [r.body["versionnumber"] for r in res]
    assert len(set(vs)) == len(vs), vs
