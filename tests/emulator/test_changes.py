"""Change tracking (reference §7)."""

import urllib.parse

import pytest

from lib.client import assert_odata_error
from lib.fixtures import emulator_fixture

TRACK = {"Prefer": "odata.track-changes"}


emu = emulator_fixture(orgs="contoso", records={"accounts": 25, "contacts": 5}, seed=8)


def initial_sync(api, select="name,telephone1", page_size=None):
    h = dict(TRACK)
    if page_size:
        h["Prefer"] = "odata.track-changes,odata.maxpagesize=%d" % page_size
    r = api.get("accounts?$select=" + select, headers=h)
    pages = [r]
    while r.status == 200 and "@odata.nextLink" in r.body:
        r = api.get(r.body["@odata.nextLink"], headers=h)
        pages.append(r)
    return pages


def test_initial_sync_delta_link(api):
    pages = initial_sync(api)
    assert len(pages) == 1
    r = pages[0]
    assert r.status == 200, r
    assert "odata.track-changes" in (r.headers.get("Preference-Applied") or ""), r.headers
    assert len(r.body["value"]) == 25
    dl = r.body.get("@odata.deltaLink")
    assert dl and dl.startswith(api.api_url + "accounts?"), r.body.keys()
    qs = urllib.parse.parse_qs(urllib.parse.urlsplit(dl).query)
    assert qs["$select"] == ["name,telephone1"], qs
    assert qs["$deltatoken"][0], qs
    assert "@odata.nextLink" not in r.body


def test_initial_sync_paged_delta_link_on_last_page_only(api):
    pages = initial_sync(api, page_size=10)
    assert [len(p.body["value"]) for p in pages] == [10, 10, 5]
    for p in pages[:-1]:
        assert "@odata.deltaLink" not in p.body
        assert "@odata.nextLink" in p.body
    assert "@odata.deltaLink" in pages[-1].body
    ids = [x["accountid"] for p in pages for x in p.body["value"]]
    assert len(set(ids)) == 25


def test_delta_after_update_create_delete(api):
    r0 = initial_sync(api)[-1]
    dl = r0.body["@odata.deltaLink"]
    recs = r0.body["value"]
    upd, dele = recs[0]["accountid"], recs[1]["accountid"]
    assert api.patch("accounts(%s)" % upd, {"name": "Changed Name"}).status == 204
    c = api.create("accounts", {"name": "Brand New", "telephone1": "555"})
    assert c.status == 204, c
    new = c.entity_id
    assert api.delete("accounts(%s)" % dele).status == 204

    r = api.get(dl)
    assert r.status == 200, r
    b = r.body
    assert b["@odata.context"].endswith("/$delta"), b["@odata.context"]
    vals = b["value"]
    changed = {v["accountid"]: v for v in vals if "accountid" in v}
    deleted = [v for v in vals if v.get("reason") == "deleted"]
    assert set(changed) == {upd, new}, vals
    assert changed[upd]["name"] == "Changed Name"
    assert changed[new]["name"] == "Brand New" and changed[new]["telephone1"] == "555"
    assert "@odata.etag" in changed[upd]
    assert len(deleted) == 1, vals
    d = deleted[0]
    assert d["id"] == dele
    assert d["@odata.context"].endswith("$metadata#accounts/$deletedEntity"), d
    assert set(d) == {"@odata.context", "id", "reason"}, d
    # new/updated first, deletions last
    assert vals[-1] is d
    dl2 = b.get("@odata.deltaLink")
    assert dl2 and dl2 != dl

    # no further changes -> empty delta
    r2 = api.get(dl2)
    assert r2.status == 200 and r2.body["value"] == [], r2
    assert r2.body.get("@odata.deltaLink")

    # delta tokens are reusable: the old link reports the same changes again
    r3 = api.get(dl)
    assert r3.status == 200
    assert {v.get("accountid") or v.get("id") for v in r3.body["value"]} == {upd, new, dele}


def test_delta_only_tracks_selected_set(api, emu):
    r0 = initial_sync(api)[-1]
    dl = r0.body["@odata.deltaLink"]
    cid = emu.records("contoso", "contacts")[0]["contactid"]
    assert api.patch("contacts(%s)" % cid, {"lastname": "Elsewhere"}).status == 204
    r = api.get(dl)
    assert r.status == 200 and r.body["value"] == [], r


@pytest.mark.parametrize("option", ["$filter=statecode%20eq%200", "$orderby=name", "$top=5"])
def test_track_changes_with_unsupported_option_400(api, option):
    r = api.get("accounts?$select=name&" + option, headers=TRACK)
    name = option.split("=")[0]
    assert_odata_error(r, 400, contains='The "%s" query parameter isn\'t supported when Change Tracking '
                                        'is enabled.' % name)


def test_garbage_delta_token_400(api):
    r = api.get("accounts?$select=name&$deltatoken=garbage-token")
    assert_odata_error(r, 400, code="0x80044352")


def test_delta_token_shape(api):
    # reference §7: token decodes to "<version>!<MM/dd/yyyy HH:mm:ss>"
    dl = initial_sync(api)[-1].body["@odata.deltaLink"]
    tok = urllib.parse.parse_qs(urllib.parse.urlsplit(dl).query)["$deltatoken"][0]
    import re
    assert re.match(r"^\d+!\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}$", tok), tok


def test_expired_delta_token(api, emu):
    dl = initial_sync(api)[-1].body["@odata.deltaLink"]
    emu.control_post("contoso", "expire-change-tracking")
    r = api.get(dl)
    assert_odata_error(r, 400, code="0x80044352",
                       message="Version stamp associated with the client has expired. Please perform a full sync.")
    # a new initial sync works again
    r = initial_sync(api)[-1]
    assert r.status == 200 and r.body.get("@odata.deltaLink")


def test_track_changes_not_enabled_entity(api):
    """A table without change tracking refuses Prefer: odata.track-changes with a 400 (it
    does not quietly answer an untracked listing)."""
    r = api.get("EntityDefinitions?$select=LogicalName,EntitySetName,ChangeTrackingEnabled"
                "&$filter=ChangeTrackingEnabled eq false")
    assert r.status == 200, r
    defs = [d for d in r.body["value"] if d.get("EntitySetName")]
    assert defs, "the emulator has no table without change tracking: %r" % r.body["value"]
    assert all(d["ChangeTrackingEnabled"] is False for d in defs), defs
    d = defs[0]
    r = api.get(d["EntitySetName"], headers=TRACK)
    assert_odata_error(r, 400, code="0x80040203", contains=d["LogicalName"])
    assert "odata.track-changes" not in (r.headers.get("Preference-Applied") or ""), r.headers
