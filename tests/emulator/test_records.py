"""Single-record reads, ETags, conditional GET, value formats (reference §2.1, §2.6, §4, §11)."""

import decimal
import json
import re
import uuid

import pytest

from lib.client import DATETIME_RE, GUID_ANYCASE_RE, GUID_RE, assert_odata_error
from lib.fixtures import emulator_fixture

emu = emulator_fixture(orgs="contoso", records={"accounts": 40, "contacts": 20}, seed=11)

WELL_KNOWN = ["accountid", "name", "createdon", "modifiedon", "versionnumber", "statecode", "statuscode",
              "_ownerid_value", "_createdby_value", "_modifiedby_value", "_owningbusinessunit_value",
              "_transactioncurrencyid_value", "revenue", "creditonhold", "telephone1", "emailaddress1",
              "address1_city", "address1_composite", "_parentaccountid_value", "_primarycontactid_value",
              "accountnumber", "description", "websiteurl", "overriddencreatedon"]


@pytest.fixture(scope="module")
def accounts(emu):
    return emu.records("contoso", "accounts")


@pytest.fixture(scope="module")
def one(accounts):
    return accounts[0]["accountid"]


def test_full_projection(api, one):
    r = api.get("accounts(%s)" % one)
    assert r.status == 200, r
    b = r.body
    props = [k for k in b if "@" not in k]
    assert len(props) >= 120, "only %d properties: %s" % (len(props), props)
    missing = [k for k in WELL_KNOWN if k not in b]
    assert not missing, missing
    assert any(b[k] is None for k in props), "empty columns must be explicit nulls"
    assert b["accountid"] == one
    assert b["@odata.context"].endswith("$metadata#accounts/$entity"), b["@odata.context"]
    assert r.headers.get("OData-Version") == "4.0"
    assert (r.headers.get("Content-Type") or "").startswith("application/json")


def test_etag_equals_versionnumber(api, one):
    r = api.get("accounts(%s)" % one)
    b = r.body
    assert isinstance(b["versionnumber"], int)
    assert b["@odata.etag"] == 'W/"%d"' % b["versionnumber"]
    assert r.headers.get("ETag") == b["@odata.etag"]


def test_collection_records_have_etags(api):
    r = api.get("accounts?$select=name,versionnumber")
    for rec in r.body["value"]:
        assert rec["@odata.etag"] == 'W/"%d"' % rec["versionnumber"], rec


def test_select_single_record(api, one):
    r = api.get("accounts(%s)?$select=name,revenue" % one)
    assert r.status == 200, r
    keys = {k for k in r.body}
    assert {"name", "revenue", "accountid", "@odata.etag", "@odata.context"} <= keys
    assert keys <= {"name", "revenue", "accountid", "@odata.etag", "@odata.context",
                    "_transactioncurrencyid_value"}, keys
    assert r.body["@odata.context"].endswith("$metadata#accounts(name,revenue)/$entity"), r.body


def test_single_property(api, accounts):
    a = accounts[1]
    r = api.get("accounts(%s)/name" % a["accountid"])
    assert r.status == 200, r
    assert r.body["value"] == a["name"]


def test_if_none_match_current_304(api, one):
    r = api.get("accounts(%s)" % one)
    etag = r.headers["ETag"]
    r2 = api.get("accounts(%s)" % one, headers={"If-None-Match": etag})
    assert r2.status == 304, r2
    assert r2.raw == b""
    assert r2.headers.get("OData-Version") == "4.0"


def test_if_none_match_stale_200(api, one):
    r = api.get("accounts(%s)" % one, headers={"If-None-Match": 'W/"1"'})
    assert r.status == 200, r
    assert r.body["accountid"] == one


def test_if_none_match_null_200(api, one):
    r = api.get("accounts(%s)" % one, headers={"If-None-Match": "null"})
    assert r.status == 200, r


def test_not_found(api):
    gid = str(uuid.uuid4())
    r = api.get("accounts(%s)" % gid)
    assert_odata_error(r, 404, code="0x80040217", message="account With Id = %s Does Not Exist" % gid)


def test_not_found_contact(api):
    gid = str(uuid.uuid4())
    r = api.get("contacts(%s)" % gid)
    assert_odata_error(r, 404, code="0x80040217", message="contact With Id = %s Does Not Exist" % gid)


def test_bad_key_400(api):
    r = api.get("accounts(not-a-guid)")
    assert r.status in (400, 404), r
    assert r.error is not None


def test_money_four_decimals_raw(api, accounts):
    with_rev = [a for a in accounts if a.get("revenue") is not None]
    assert with_rev, "sample data should populate revenue"
    r = api.get("accounts(%s)" % with_rev[0]["accountid"])
    text = r.raw.decode("utf-8")
    assert re.search(r'"revenue": ?-?\d+\.\d{4}[,}\s]', text), text[:500]
    # every Money value in a whole page: 4 fractional digits in the JSON text
    r = api.get("accounts?$select=revenue,creditlimit,marketcap", decimal_floats=True)
    assert r.status == 200
    for rec in r.body["value"]:
        for k in ("revenue", "creditlimit", "marketcap"):
            v = rec.get(k)
            if v is not None:
                assert isinstance(v, decimal.Decimal) and v.as_tuple().exponent == -4, (k, v)


def test_money_base_and_currency(api, accounts):
    a = [x for x in accounts if x.get("revenue") is not None][0]
    r = api.get("accounts(%s)" % a["accountid"])
    b = r.body
    assert GUID_RE.match(b["_transactioncurrencyid_value"]), b["_transactioncurrencyid_value"]
    assert "revenue_base" in b


def test_guids_lower_case(api, accounts):
    r = api.get("accounts(%s)" % accounts[2]["accountid"])
    for k, v in r.body.items():
        if isinstance(v, str) and GUID_ANYCASE_RE.match(v):
            assert GUID_RE.match(v), (k, v)
    for k in ("_ownerid_value", "_createdby_value", "_owningbusinessunit_value"):
        assert GUID_RE.match(r.body[k]), (k, r.body[k])


def test_datetime_format(api, accounts):
    r = api.get("accounts(%s)" % accounts[3]["accountid"])
    b = r.body
    assert DATETIME_RE.match(b["createdon"]) and DATETIME_RE.match(b["modifiedon"]), b
    for k, v in b.items():
        if isinstance(v, str) and re.match(r"^\d{4}-\d{2}-\d{2}T", v):
            assert DATETIME_RE.match(v), (k, v)


def test_value_types(api, accounts):
    b = api.get("accounts(%s)" % accounts[4]["accountid"]).body
    assert isinstance(b["statecode"], int) and isinstance(b["statuscode"], int)
    assert isinstance(b["creditonhold"], (bool, type(None)))
    assert isinstance(b["versionnumber"], int)


def test_contact_record(api, emu):
    c = emu.records("contoso", "contacts")[0]
    r = api.get("contacts(%s)" % c["contactid"])
    assert r.status == 200, r
    b = r.body
    props = [k for k in b if "@" not in k]
    assert len(props) >= 150, len(props)
    for k in ("contactid", "fullname", "firstname", "lastname", "_parentcustomerid_value", "emailaddress1"):
        assert k in b, k
    assert b["@odata.etag"] == 'W/"%d"' % b["versionnumber"]


def test_raw_json_is_valid_utf8_json(api, one):
    r = api.get("accounts(%s)" % one)
    json.loads(r.raw.decode("utf-8"))


# ---------------------------------------------------------------- annotations (reference 2.5, 4)

ANN = {"Prefer": 'odata.include-annotations="*"'}


def test_annotations_on_request(api, emu):
    c = [x for x in emu.records("contoso", "contacts") if x.get("_parentcustomerid_value")][0]
    r = api.get("contacts(%s)" % c["contactid"], headers=ANN)
    assert r.status == 200, r
    assert r.headers.get("Preference-Applied") == 'odata.include-annotations="*"'
    b = r.body
    assert b["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] in ("account", "contact")
    assert b["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"].startswith(
        "parentcustomerid_")
    assert isinstance(b["_parentcustomerid_value@OData.Community.Display.V1.FormattedValue"], str)
    assert isinstance(b["statecode@OData.Community.Display.V1.FormattedValue"], str)
    # property annotations come before the value
    text = r.raw.decode()
    assert text.index('"_parentcustomerid_value@') < text.index('"_parentcustomerid_value"')


def test_no_annotations_by_default(api, one):
    b = api.get("accounts(%s)" % one).body
    assert not [k for k in b if "@" in k and not k.startswith("@odata.")], b.keys()


def test_selected_annotations_only(api, emu):
    c = [x for x in emu.records("contoso", "contacts") if x.get("_parentcustomerid_value")][0]
    r = api.get("contacts(%s)?$select=_parentcustomerid_value,statecode" % c["contactid"],
                headers={"Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"'})
    ann = [k for k in r.body if "@" in k and not k.startswith("@odata.")]
    assert ann == ["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"], ann


def test_no_304_with_annotations(api, one):
    etag = api.get("accounts(%s)" % one).headers["ETag"]
    h = dict(ANN)
    h["If-None-Match"] = etag
    r = api.get("accounts(%s)" % one, headers=h)
    assert r.status == 200, r


def test_304_after_change_is_200(api, emu):
    aid = api.create("accounts", {"name": "etag change"}).entity_id
    etag = api.get("accounts(%s)" % aid).headers["ETag"]
    assert api.patch("accounts(%s)" % aid, {"name": "etag changed"}).status == 204
    r = api.get("accounts(%s)" % aid, headers={"If-None-Match": etag})
    assert r.status == 200 and r.headers["ETag"] != etag, r


def test_repeated_prefer_headers(api, emu):
    # reference 9: several preferences may be comma-joined or sent as repeated headers
    import http.client
    import urllib.parse as up
    u = up.urlsplit(api.api_url + "accounts?$select=name,statecode")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.putrequest("GET", u.path + "?" + u.query)
        conn.putheader("Authorization", "Bearer " + api.token())
        conn.putheader("Accept", "application/json")
        conn.putheader("Prefer", "odata.maxpagesize=3")
        conn.putheader("Prefer", 'odata.include-annotations="*"')
        conn.endheaders()
        resp = conn.getresponse()
        body = json.loads(resp.read())
        pa = ", ".join(resp.headers.get_all("Preference-Applied") or [])
    finally:
        conn.close()
    assert resp.status == 200
    assert len(body["value"]) == 3 and "@odata.nextLink" in body
    assert "statecode@OData.Community.Display.V1.FormattedValue" in body["value"][0]
    assert "odata.maxpagesize=3" in pa and "odata.include-annotations" in pa, pa


def test_null_single_property_204(api, emu):
    aid = api.create("accounts", {"name": "null prop"}).entity_id
    r = api.get("accounts(%s)/description" % aid)
    assert r.status == 204, r


def test_expand_single_valued_navigation(api, emu):
    c = [x for x in emu.records("contoso", "contacts")
         if x.get("_parentcustomerid_value") and
         emu.record("contoso", "accounts", x["_parentcustomerid_value"])][0]
    r = api.get("contacts(%s)?$select=fullname&$expand=parentcustomerid_account($select=name)" % c["contactid"])
    assert r.status == 200, r
    exp = r.body["parentcustomerid_account"]
    assert exp["accountid"] == c["_parentcustomerid_value"] and "name" in exp, exp
