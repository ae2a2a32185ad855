"""$batch (reference §8)."""

import json
import re
import uuid

from lib.client import assert_odata_error
from lib.fixtures import emulator_fixture
from lib.multipart import batch_body, parse_batch_response

emu = emulator_fixture(orgs="contoso", records={"accounts": 40, "contacts": 20}, seed=11)


def send(api, body, boundary="batch_AAA123", headers=None):
    h = {"Content-Type": "multipart/mixed;boundary=%s" % boundary}
    h.update(headers or {})
    return api.request("POST", "$batch", body, h)


def u(api, path):
    return api.api_url + path


def test_batch_get_parts(api, emu):
    acc = emu.records("contoso", "accounts")[0]
    body = batch_body("batch_AAA123", [
        ("request", "GET", u(api, "accounts(%s)?$select=name" % acc["accountid"]), {"Accept": "application/json"}, None, None),
        ("request", "GET", u(api, "WhoAmI"), {"Accept": "application/json"}, None, None),
    ])
    r = send(api, body)
    assert r.status == 200, r
    ct = r.headers.get("Content-Type") or ""
    assert ct.startswith("multipart/mixed") and re.search(r"boundary=batchresponse_[0-9a-f-]{36}", ct), ct
    parts = parse_batch_response(r)
    assert [p.status for p in parts] == [200, 200], parts
    assert parts[0].body["name"] == acc["name"]
    assert parts[0].headers.get("Content-Type") == "application/http"
    assert (parts[0].headers.get("Content-Transfer-Encoding") or "").lower() == "binary"
    assert "UserId" in parts[1].body


def test_batch_relative_urls(api, emu):
    acc = emu.records("contoso", "accounts")[0]
    base_path = api.api_url.split("//", 1)[1].split("/", 1)[1]  # "contoso/api/data/v9.2/"
    body = batch_body("batch_rel", [
        ("request", "GET", "/" + base_path + "accounts(%s)?$select=name" % acc["accountid"], None, None, None),
        ("request", "GET", "accounts(%s)?$select=name" % acc["accountid"], None, None, None),
    ])
    r = send(api, body, "batch_rel")
    assert r.status == 200, r
    parts = parse_batch_response(r)
    assert [p.status for p in parts] == [200, 200], parts


def test_changeset_creates_with_content_id_reference(api):
    aid_name = "Batch Parent %s" % uuid.uuid4().hex[:6]
    body = batch_body("batch_B1", [
        ("changeset", "changeset_C1", [
            ("POST", u(api, "accounts"), None, {"name": aid_name}, "1"),
            ("POST", u(api, "contacts"), None, {"lastname": "Batchchild", "parentcustomerid_account@odata.bind": "$1"}, "2"),
            ("PATCH", "$1", None, {"telephone1": "555-0199"}, "3"),
        ])])
    r = send(api, body, "batch_B1")
    assert r.status == 200, r
    parts = parse_batch_response(r)
    assert [p.status for p in parts] == [204, 204, 204], parts
    assert [p.content_id for p in parts] == ["1", "2", "3"]
    assert all(p.in_changeset for p in parts)
    assert re.search(r"boundary=changesetresponse_", r.raw.decode()), r.raw[:300]
    acc_url = parts[0].http_headers.get("OData-EntityId")
    con_url = parts[1].http_headers.get("OData-EntityId")
    assert acc_url and con_url, parts[0].http_headers
    assert parts[0].http_headers.get("Location") == acc_url
    aid = re.search(r"\(([0-9a-f-]{36})\)$", acc_url).group(1)
    cid = re.search(r"\(([0-9a-f-]{36})\)$", con_url).group(1)
    acc = api.get("accounts(%s)" % aid).body
    assert acc["name"] == aid_name and acc["telephone1"] == "555-0199"
    assert api.get("contacts(%s)" % cid).body["_parentcustomerid_value"] == aid


def test_changeset_failure_rolls_back(api):
    first = str(uuid.uuid4())
    body = batch_body("batch_B2", [
        ("changeset", "changeset_C2", [
            ("POST", u(api, "accounts"), None, {"accountid": first, "name": "Should vanish"}, "1"),
            ("POST", u(api, "accounts"), None, {"name": "bad", "nosuchcolumn": 1}, "2"),
        ])])
    r = send(api, body, "batch_B2")
    assert r.status == 400, r
    parts = parse_batch_response(r)
    assert parts[-1].status == 400, parts
    assert isinstance(parts[-1].body, dict) and "error" in parts[-1].body, parts[-1]
    assert api.get("accounts(%s)" % first).status == 404, "change set was not rolled back"


def test_changeset_failure_rolls_back_updates_and_deletes(api):
    a = api.create("accounts", {"name": "Keep me"}).entity_id
    b = api.create("accounts", {"name": "Do not delete"}).entity_id
    body = batch_body("batch_B3", [
        ("changeset", "changeset_C3", [
            ("PATCH", u(api, "accounts(%s)" % a), None, {"name": "Changed"}, "1"),
            ("DELETE", u(api, "accounts(%s)" % b), None, None, "2"),
            ("PATCH", u(api, "accounts(%s)" % a), {"If-Match": 'W/"1"'}, {"name": "Stale"}, "3"),
        ])])
    r = send(api, body, "batch_B3")
    assert r.status == 400, r
    assert api.get("accounts(%s)" % a).body["name"] == "Keep me"
    assert api.get("accounts(%s)" % b).status == 200


def _three_creates(api, ids):
    return [
        ("request", "POST", u(api, "accounts"), None, {"accountid": ids[0], "name": "one"}, None),
        ("request", "POST", u(api, "accounts"), None, {"name": "two", "nosuchcolumn": 1}, None),
        ("request", "POST", u(api, "accounts"), None, {"accountid": ids[2], "name": "three"}, None),
    ]


def test_stop_on_error_default(api):
    ids = [str(uuid.uuid4()) for _ in range(3)]
    r = send(api, batch_body("batch_S", _three_creates(api, ids)), "batch_S")
    assert r.status == 400, r
    parts = parse_batch_response(r)
    assert [p.status for p in parts] == [204, 400], parts
    assert_err = parts[1].body["error"]
    assert "code" in assert_err and "message" in assert_err
    assert api.get("accounts(%s)" % ids[0]).status == 200   # no transaction outside change sets
    assert api.get("accounts(%s)" % ids[2]).status == 404   # not executed


def test_continue_on_error(api):
    ids = [str(uuid.uuid4()) for _ in range(3)]
    r = send(api, batch_body("batch_K", _three_creates(api, ids)), "batch_K",
             headers={"Prefer": "odata.continue-on-error"})
    assert r.status == 200, r
    parts = parse_batch_response(r)
    assert [p.status for p in parts] == [204, 400, 204], parts
    assert api.get("accounts(%s)" % ids[0]).status == 200
    assert api.get("accounts(%s)" % ids[2]).status == 200
    assert "odata.continue-on-error" in (r.headers.get("Preference-Applied") or "")


def test_missing_final_crlf_400(api):
    body = batch_body("batch_N", [("request", "GET", u(api, "WhoAmI"), None, None, None)], final_crlf=False)
    assert not body.endswith(b"\r\n")
    r = send(api, body, "batch_N")
    assert_odata_error(r, 400, code="0x80048d19")


def test_undeclared_content_id_reference(api):
    body = batch_body("batch_U", [
        ("changeset", "changeset_U", [
            ("POST", u(api, "contacts"), None, {"lastname": "x", "parentcustomerid_account@odata.bind": "$9"}, "1"),
        ])])
    r = send(api, body, "batch_U")
    assert r.status == 400, r
    assert "Content-ID Reference: '$9' does not exist in the batch context." in r.raw.decode(), r.raw[:500]


def test_batch_inner_response_json(api, emu):
    acc = emu.records("contoso", "accounts")[0]
    body = batch_body("batch_J", [
        ("request", "GET", u(api, "accounts(%s)?$select=name" % acc["accountid"]), None, None, None)])
    r = send(api, body, "batch_J")
    parts = parse_batch_response(r)
    assert "json" in (parts[0].http_headers.get("Content-Type") or ""), parts[0].http_headers
    assert parts[0].body["@odata.etag"].startswith('W/"')
    json.dumps(parts[0].body)


def test_get_inside_changeset_rejected(api, emu):
    acc = emu.records("contoso", "accounts")[0]
    body = batch_body("batch_G", [
        ("changeset", "changeset_G", [
            ("GET", u(api, "accounts(%s)?$select=name" % acc["accountid"]), None, None, "1"),
        ])])
    r = send(api, body, "batch_G")
    assert r.status == 400, r


def test_batch_part_response_headers(api):
    body = batch_body("batch_H", [
        ("changeset", "changeset_H", [("POST", u(api, "accounts"), None, {"name": "hdrs"}, "1")])])
    r = send(api, body, "batch_H")
    assert r.status == 200, r
    p = parse_batch_response(r)[0]
    assert p.status == 204 and p.reason == "No Content"
    assert p.http_headers.get("OData-Version") == "4.0"
    assert p.headers.get("Content-ID") == "1"


def test_batch_return_representation_part(api):
    body = batch_body("batch_R", [
        ("changeset", "changeset_R", [("POST", u(api, "accounts"), {"Prefer": "return=representation"},
                                       {"name": "rep in batch"}, "1")])])
    r = send(api, body, "batch_R")
    assert r.status == 200, r
    p = parse_batch_response(r)[0]
    assert p.status == 201 and p.body["name"] == "rep in batch", p


def test_batch_unauthenticated_401(api):
    body = batch_body("batch_X", [("request", "GET", u(api, "WhoAmI"), None, None, None)])
    r = api.request("POST", "$batch", body, {"Content-Type": "multipart/mixed;boundary=batch_X"}, auth=False)
    assert r.status == 401, r


def test_batch_bad_content_type_400(api):
    r = api.request("POST", "$batch", b"hello\r\n", {"Content-Type": "text/plain"})
    assert r.status == 400, r


def test_batch_over_1000_parts_rejected(api):
    parts = [("request", "GET", u(api, "WhoAmI"), None, None, None)] * 1001
    r = send(api, batch_body("batch_big", parts), "batch_big")
    assert r.status == 400, r
