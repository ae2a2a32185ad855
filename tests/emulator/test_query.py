"""Collection query options: $select $filter $orderby $top $count $skip (reference §2.2, §2.4)."""

import urllib.parse

import pytest

from lib.client import assert_odata_error
from lib.fixtures import emulator_fixture

N_ACCOUNTS = 60


emu = emulator_fixture(orgs="contoso", records={"accounts": N_ACCOUNTS, "contacts": 30}, seed=21)


@pytest.fixture
def accounts(emu):
    return emu.records("contoso", "accounts")


@pytest.fixture
def contacts(emu):
    return emu.records("contoso", "contacts")


def q(api, entity_set, **opts):
    """GET entity_set with query options given as {'$filter': '...'} (values URL-encoded)."""
    parts = []
    for k, v in opts.items():
        parts.append("%s=%s" % (k.replace("_", "$", 1) if k.startswith("_") else k,
                                urllib.parse.quote(str(v), safe="(),'=$:")))
    return api.get(entity_set + ("?" + "&".join(parts) if parts else ""))


def ids(resp, pk="accountid"):
    assert resp.status == 200, resp
    assert "@odata.nextLink" not in resp.body
    return [r[pk] for r in resp.body["value"]]


def filt(api, expr, entity_set="accounts", pk="accountid", select=None):
    r = q(api, entity_set, **{"$filter": expr, "$select": select or pk})
    return set(ids(r, pk))


# ---------------------------------------------------------------- $select


def test_select(api, accounts):
    r = api.get("accounts?$select=name,revenue")
    assert r.status == 200, r
    assert r.body["@odata.context"].endswith("$metadata#accounts(name,revenue)"), r.body["@odata.context"]
    assert len(r.body["value"]) == len(accounts)
    for rec in r.body["value"]:
        keys = set(rec)
        assert {"name", "revenue", "accountid", "@odata.etag"} <= keys, keys
        assert keys <= {"name", "revenue", "accountid", "@odata.etag", "_transactioncurrencyid_value"}, keys


@pytest.mark.parametrize("option", ["$select=Name", "$filter=Name eq 'x'", "$orderby=Name"])
def test_unknown_property_400(api, option):
    r = api.get("accounts?" + urllib.parse.quote(option, safe="$='"))
    assert_odata_error(r, 400, code=("0x0", "", "0x80060888"),
                       message="Could not find a property named 'Name' on type 'Microsoft.Dynamics.CRM.account'.")


def test_unknown_entity_set_404(api):
    r = api.get("nosuchthings")
    assert_odata_error(r, 404, code=("0x8006088a", "0x80060888"),
                       message="Resource not found for the segment 'nosuchthings'.")


# ---------------------------------------------------------------- $filter


def test_filter_eq_guid_unquoted(api, accounts):
    target = accounts[7]["accountid"]
    assert filt(api, "accountid eq %s" % target) == {target}


def test_filter_guid_literal_v3_form_400(api, accounts):
    target = accounts[0]["accountid"]
    r = q(api, "accounts", **{"$filter": "accountid eq guid'%s'" % target})
    assert_odata_error(r, 400, code="0x80060888", contains="Unrecognized 'Edm.String' literal 'guid'")


def test_filter_lookup_value(api, contacts):
    withparent = [c for c in contacts if c.get("_parentcustomerid_value")]
    assert withparent, "sample contacts should have parent customers"
    pid = withparent[0]["_parentcustomerid_value"]
    expect = {c["contactid"] for c in contacts if c.get("_parentcustomerid_value") == pid}
    assert filt(api, "_parentcustomerid_value eq %s" % pid, "contacts", "contactid") == expect


def test_filter_ne(api, accounts):
    target = accounts[3]["accountid"]
    assert filt(api, "accountid ne %s" % target) == {a["accountid"] for a in accounts} - {target}


def test_filter_string_eq_case_insensitive(api, accounts):
    name = accounts[5]["name"]
    expect = {a["accountid"] for a in accounts if (a["name"] or "").lower() == name.lower()}
    lit = name.upper().replace("'", "''")
    assert filt(api, "name eq '%s'" % lit) == expect
    lit = name.lower().replace("'", "''")
    assert filt(api, "name eq '%s'" % lit) == expect


def test_filter_string_quote_escape(api):
    name = "O'Brien Quote Test Ltd"
    r = api.create("accounts", {"name": name})
    assert r.status == 204, r
    new_id = r.entity_id
    try:
        assert filt(api, "name eq 'o''brien quote test ltd'") == {new_id}
        assert filt(api, "contains(name,'n''b') and name eq 'O''Brien Quote Test Ltd'") == set()
        assert new_id in filt(api, "startswith(name,'O''Brien')")
    finally:
        api.delete("accounts(%s)" % new_id)


def numeric_pivot(accounts, field):
    vals = sorted(a[field] for a in accounts if a.get(field) is not None)
    assert len(vals) >= 5, "need sample values for %s" % field
    return vals[len(vals) // 2]


@pytest.mark.parametrize("op,fn", [
    ("gt", lambda x, p: x > p), ("ge", lambda x, p: x >= p),
    ("lt", lambda x, p: x < p), ("le", lambda x, p: x <= p),
    ("eq", lambda x, p: x == p), ("ne", lambda x, p: x != p)])
def test_filter_number_compare_versionnumber(api, accounts, op, fn):
    p = numeric_pivot(accounts, "versionnumber")
    expect = {a["accountid"] for a in accounts if fn(a["versionnumber"], p)}
    assert filt(api, "versionnumber %s %d" % (op, p)) == expect


@pytest.mark.parametrize("op,fn", [("gt", lambda x, p: x > p), ("le", lambda x, p: x <= p)])
def test_filter_money_compare(api, accounts, op, fn):
    p = numeric_pivot(accounts, "revenue")
    expect = {a["accountid"] for a in accounts if a.get("revenue") is not None and fn(a["revenue"], p)}
    assert filt(api, "revenue %s %s" % (op, p)) == expect


def test_filter_null(api, accounts):
    expect_null = {a["accountid"] for a in accounts if a.get("revenue") is None}
    expect_not = {a["accountid"] for a in accounts if a.get("revenue") is not None}
    assert filt(api, "revenue eq null") == expect_null
    assert filt(api, "revenue ne null") == expect_not


@pytest.mark.parametrize("op,fn", [("gt", lambda x, p: x > p), ("lt", lambda x, p: x < p),
                                   ("ge", lambda x, p: x >= p)])
def test_filter_datetime(api, accounts, op, fn):
    vals = sorted(a["createdon"] for a in accounts)
    p = vals[len(vals) // 2]
    expect = {a["accountid"] for a in accounts if fn(a["createdon"], p)}
    assert filt(api, "createdon %s %s" % (op, p)) == expect


def test_filter_and_or_not_parentheses(api, accounts):
    p = numeric_pivot(accounts, "versionnumber")
    a0, a1 = accounts[0]["accountid"], accounts[1]["accountid"]
    expr = "(accountid eq %s or accountid eq %s or versionnumber gt %d) and not (versionnumber eq %d)" % (
        a0, a1, p, accounts[0]["versionnumber"])
    expect = {a["accountid"] for a in accounts
              if (a["accountid"] in (a0, a1) or a["versionnumber"] > p)
              and not a["versionnumber"] == accounts[0]["versionnumber"]}
    assert filt(api, expr) == expect
    # precedence: and binds tighter than or
    expr2 = "accountid eq %s or accountid eq %s and versionnumber eq -1" % (a0, a1)
    assert filt(api, expr2) == {a0}


def test_filter_statecode(api, accounts):
    expect = {a["accountid"] for a in accounts if a["statecode"] == 0}
    assert filt(api, "statecode eq 0") == expect


def _substring(accounts):
    for a in accounts:
        n = a.get("name") or ""
        words = [w for w in n.split() if len(w) >= 4 and w.isalpha()]
        if words:
            return words[0][1:4]
    pytest.fail("no usable sample names")


def test_filter_contains_case_insensitive(api, accounts):
    sub = _substring(accounts)
    expect = {a["accountid"] for a in accounts if sub.lower() in (a["name"] or "").lower()}
    assert expect
    assert filt(api, "contains(name,'%s')" % sub.upper()) == expect


def test_filter_startswith_endswith(api, accounts):
    # a name without LIKE wildcards (% _ [ ]) so the Python expectation is literal
    name = [a["name"] for a in accounts[2:] if not set("%_[]") & set(a["name"])][0]
    pre, suf = name[:3], name[-3:]
    exp_pre = {a["accountid"] for a in accounts if (a["name"] or "").lower().startswith(pre.lower())}
    exp_suf = {a["accountid"] for a in accounts if (a["name"] or "").lower().endswith(suf.lower())}
    assert filt(api, "startswith(name,'%s')" % pre.replace("'", "''")) == exp_pre
    assert filt(api, "endswith(name,'%s')" % suf.replace("'", "''")) == exp_suf


def test_filter_syntax_error_400(api):
    r = q(api, "accounts", **{"$filter": "name eq"})
    assert r.status == 400, r
    assert r.error is not None


# ---------------------------------------------------------------- $orderby / $top


def test_orderby_multi_key(api, accounts):
    r = api.get("accounts?$select=statecode,versionnumber&$orderby=statecode asc,versionnumber desc")
    got = [(x["statecode"], x["versionnumber"]) for x in r.body["value"]]
    assert r.status == 200 and len(got) == len(accounts)
    assert got == sorted(got, key=lambda t: (t[0], -t[1]))


def test_orderby_desc_and_default_asc(api, accounts):
    r = api.get("accounts?$select=versionnumber&$orderby=versionnumber desc")
    got = [x["versionnumber"] for x in r.body["value"]]
    assert got == sorted((a["versionnumber"] for a in accounts), reverse=True)
    r = api.get("accounts?$select=versionnumber&$orderby=versionnumber")
    got = [x["versionnumber"] for x in r.body["value"]]
    assert got == sorted(a["versionnumber"] for a in accounts)


def test_orderby_string_case_insensitive(api, accounts):
    r = api.get("accounts?$select=name&$orderby=name asc")
    got = [x["name"] for x in r.body["value"]]
    assert sorted(got, key=lambda s: s.casefold()) == got or \
        [s.casefold() for s in got] == sorted(s.casefold() for s in got)


def test_top(api, accounts):
    r = api.get("accounts?$select=versionnumber&$orderby=versionnumber asc&$top=5")
    assert r.status == 200, r
    assert "@odata.nextLink" not in r.body
    assert [x["versionnumber"] for x in r.body["value"]] == sorted(a["versionnumber"] for a in accounts)[:5]


# ---------------------------------------------------------------- $count / $skip


def test_count(api, accounts):
    r = api.get("accounts?$select=name&$count=true")
    assert r.status == 200, r
    assert r.body["@odata.count"] == len(accounts)
    assert isinstance(r.body["@odata.count"], int)
    expect = sum(1 for a in accounts if a["statecode"] == 0)
    r = api.get("accounts?$select=name&$count=true&$filter=statecode%20eq%200")
    assert r.body["@odata.count"] == expect


def test_count_with_top_counts_all_matches(api, accounts):
    r = api.get("accounts?$select=name&$count=true&$top=3")
    assert r.status == 200, r
    assert len(r.body["value"]) == 3
    assert r.body["@odata.count"] == len(accounts)


def test_no_count_without_option(api):
    r = api.get("accounts?$select=name")
    assert "@odata.count" not in r.body


def test_skip_not_supported(api):
    r = api.get("accounts?$skip=10")
    assert_odata_error(r, 400, code="0x80060888", contains="Skip Clause is not supported in CRM")


def test_collection_count_segment_text_plain(api, accounts):
    r = api.get("accounts/$count")
    assert r.status == 200, r
    assert (r.headers.get("Content-Type") or "").startswith("text/plain")
    assert int(r.raw.decode("utf-8-sig").strip()) == len(accounts)


def test_filter_like_wildcards(api, accounts):
    # reference 2.2: % _ [] are SQL wildcards inside contains/startswith/endswith
    everyone = {a["accountid"] for a in accounts if a.get("name")}
    assert filt(api, "contains(name,'%')") == everyone
    assert filt(api, "startswith(name,'_')") == everyone
    first = accounts[0]["name"][0]
    expect = {a["accountid"] for a in accounts if a["name"][0].lower() == first.lower()}
    assert filt(api, "startswith(name,'[%s]')" % first) == expect


def test_filter_on_lookup_null(api, contacts):
    expect = {c["contactid"] for c in contacts if c.get("_parentcustomerid_value") is None}
    assert filt(api, "_parentcustomerid_value eq null", "contacts", "contactid") == expect


def test_filter_quoted_guid_on_lookup(api, contacts):
    # reference 2.2: the docs also show a quoted GUID for lookup values
    pid = [c for c in contacts if c.get("_parentcustomerid_value")][0]["_parentcustomerid_value"]
    expect = {c["contactid"] for c in contacts if c.get("_parentcustomerid_value") == pid}
    assert filt(api, "_parentcustomerid_value eq '%s'" % pid, "contacts", "contactid") == expect


def test_filter_type_mismatch_400(api):
    r = q(api, "accounts", **{"$filter": "versionnumber eq 'abc'"})
    assert r.status == 400, r


def test_paging_stable_under_concurrent_writes(api, accounts):
    h = {"Prefer": "odata.maxpagesize=10"}
    r = api.get("accounts?$select=name", headers=h)
    assert r.status == 200, r
    seen = [x["accountid"] for x in r.body["value"]]
    before = {a["accountid"] for a in accounts}
    # a create and a delete of a not-yet-returned row between pages
    later = sorted(before - set(seen))[0]
    new = api.create("accounts", {"name": "Inserted During Paging"}).entity_id
    assert api.delete("accounts(%s)" % later).status == 204
    try:
        nxt = r.body["@odata.nextLink"]
        while nxt:
            r = api.get(nxt, headers=h)
            assert r.status == 200, r
            seen += [x["accountid"] for x in r.body["value"]]
            nxt = r.body.get("@odata.nextLink")
        assert len(seen) == len(set(seen)), "duplicates while paging"
        assert (before - {later}) <= set(seen), "rows lost while paging"
        assert later not in seen
    finally:
        api.delete("accounts(%s)" % new)
