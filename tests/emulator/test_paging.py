"""Server-driven paging (reference §2.3, §2.4). One 12,000-account emulator for the module."""

import re
import urllib.parse

import pytest

from lib.fixtures import emulator_fixture

N = 12000
COOKIE_RE = re.compile(r'^<cookie pagenumber="(\d+)" pagingcookie="([^"]*)" istracking="False" />$')
INNER_RE = re.compile(r'^<cookie page="(\d+)"><accountid last="\{([0-9A-F-]{36})\}" '
                      r'first="\{([0-9A-F-]{36})\}" /></cookie>$')


emu = emulator_fixture(orgs="contoso", records={"accounts": N, "contacts": 10}, seed=5)


@pytest.fixture(scope="module")
def first_page(api):
    r = api.get("accounts?$select=name,accountnumber")
    assert r.status == 200, r
    return r


def split_link(link):
    u = urllib.parse.urlsplit(link)
    # keep raw (undecoded) pairs and decoded pairs
    raw = [p.split("=", 1) for p in u.query.split("&")]
    return u, raw, urllib.parse.parse_qs(u.query, keep_blank_values=True)


def test_default_page_size_5000(first_page):
    assert len(first_page.body["value"]) == 5000
    assert "@odata.nextLink" in first_page.body


def test_next_link_shape(api, first_page):
    link = first_page.body["@odata.nextLink"]
    assert link.startswith(api.api_url + "accounts?"), link
    u, raw, qs = split_link(link)
    assert qs["$select"] == ["name,accountnumber"], qs
    assert "$skiptoken" in qs
    m = COOKIE_RE.match(qs["$skiptoken"][0])
    assert m, qs["$skiptoken"][0]
    assert m.group(1) == "2"
    inner_once = m.group(2)
    # doubly encoded: after the URL decoding of the query the inner cookie is still %-encoded
    assert "<" not in inner_once and '"' not in inner_once and "%" in inner_once, inner_once
    inner = urllib.parse.unquote(inner_once)
    mi = INNER_RE.match(inner)
    assert mi, inner
    assert mi.group(1) == "1"
    recs = first_page.body["value"]
    assert mi.group(2) == recs[-1]["accountid"].upper()
    assert mi.group(3) == recs[0]["accountid"].upper()
    # the raw link is percent-encoded (no literal '<', '"' or spaces)
    assert not re.search(r'[<>" ]', link), link


def test_page_through_all_default(api):
    recs, pages = api.list_all("accounts", select=["name"])
    assert pages == 3
    ids = [r["accountid"] for r in recs]
    assert len(ids) == N
    assert len(set(ids)) == N


def test_page_sizes_and_last_page_has_no_next_link(api):
    r = api.get("accounts?$select=name")
    sizes = []
    while True:
        assert r.status == 200, r
        sizes.append(len(r.body["value"]))
        nxt = r.body.get("@odata.nextLink")
        if not nxt:
            break
        r = api.get(nxt)
    assert sizes == [5000, 5000, 2000]


def test_second_page_cookie_advances(api, first_page):
    r2 = api.get(first_page.body["@odata.nextLink"])
    assert r2.status == 200, r2
    link = r2.body["@odata.nextLink"]
    _, _, qs = split_link(link)
    m = COOKIE_RE.match(qs["$skiptoken"][0])
    assert m and m.group(1) == "3", qs
    mi = INNER_RE.match(urllib.parse.unquote(m.group(2)))
    assert mi and mi.group(1) == "2"
    assert mi.group(2) == r2.body["value"][-1]["accountid"].upper()
    ids1 = {x["accountid"] for x in first_page.body["value"]}
    ids2 = {x["accountid"] for x in r2.body["value"]}
    assert not ids1 & ids2


def test_maxpagesize_preference(api):
    h = {"Prefer": "odata.maxpagesize=1000"}
    r = api.get("accounts?$select=name", headers=h)
    assert r.status == 200, r
    assert r.headers.get("Preference-Applied") == "odata.maxpagesize=1000"
    assert len(r.body["value"]) == 1000
    assert "@odata.nextLink" in r.body


def test_maxpagesize_combined_with_other_preferences(api):
    h = {"Prefer": 'odata.include-annotations="*",odata.maxpagesize=7'}
    r = api.get("accounts?$select=name", headers=h)
    assert r.status == 200, r
    assert len(r.body["value"]) == 7
    assert "odata.maxpagesize=7" in (r.headers.get("Preference-Applied") or "")


def test_maxpagesize_exact_multiple(api):
    recs, pages = api.list_all("accounts", select=["name"], page_size=4000)
    assert pages == 3
    assert len({r["accountid"] for r in recs}) == N == len(recs)


def test_maxpagesize_clamped_to_5000(api):
    r = api.get("accounts?$select=name", headers={"Prefer": "odata.maxpagesize=10000"})
    assert r.status == 200, r
    assert len(r.body["value"]) == 5000
    assert "@odata.nextLink" in r.body


def test_top_ignored_with_maxpagesize(api):
    r = api.get("accounts?$select=name&$top=3", headers={"Prefer": "odata.maxpagesize=7"})
    assert r.status == 200, r
    assert len(r.body["value"]) == 7
    assert "@odata.nextLink" in r.body


def test_top_without_maxpagesize_has_no_next_link(api):
    r = api.get("accounts?$select=name&$top=10")
    assert r.status == 200, r
    assert len(r.body["value"]) == 10
    assert "@odata.nextLink" not in r.body


def test_count_capped_at_5000(api):
    r = api.get("accounts?$select=name&$count=true", headers={"Prefer": "odata.maxpagesize=10"})
    assert r.status == 200, r
    assert r.body["@odata.count"] == 5000


def test_paging_with_filter_and_orderby(api):
    # reference set: every record, fetched unfiltered
    allrecs, _ = api.list_all("accounts", select=["name", "versionnumber", "statecode"])
    vs = sorted(r["versionnumber"] for r in allrecs)
    pivot = vs[len(vs) // 3]
    expect = [r for r in allrecs if r["versionnumber"] > pivot]
    assert len(expect) > 5000
    recs, pages = api.list_all("accounts", select=["name", "versionnumber"],
                               filter="versionnumber gt %d" % pivot,
                               orderby="name asc,versionnumber desc", page_size=1500)
    ids = [r["accountid"] for r in recs]
    assert len(ids) == len(set(ids)), "duplicates across pages"
    assert set(ids) == {r["accountid"] for r in expect}
    assert pages == -(-len(expect) // 1500)
    keys = [(r["name"].casefold(), -r["versionnumber"]) for r in recs]
    assert keys == sorted(keys), "order not kept across pages"


def test_paging_with_orderby_non_unique_key(api):
    # statecode has few distinct values: ties must still page without loss or duplicates
    recs, pages = api.list_all("accounts", select=["statecode"], orderby="statecode desc",
                               page_size=2500)
    ids = [r["accountid"] for r in recs]
    assert len(ids) == N and len(set(ids)) == N
    sc = [r["statecode"] for r in recs]
    assert sc == sorted(sc, reverse=True)


def test_next_link_keeps_filter(api):
    r = api.get("accounts?$select=name&$filter=statecode%20eq%200",
                headers={"Prefer": "odata.maxpagesize=10"})
    assert r.status == 200, r
    link = r.body["@odata.nextLink"]
    _, _, qs = split_link(link)
    assert qs["$filter"] == ["statecode eq 0"], qs
    assert qs["$select"] == ["name"], qs


def test_count_limit_annotations(api):
    r = api.get("accounts?$select=name&$count=true",
                headers={"Prefer": 'odata.include-annotations="*",odata.maxpagesize=10'})
    assert r.status == 200, r
    assert r.body["@odata.count"] == 5000
    assert r.body.get("@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded") is True, r.body.keys()


def test_full_projection_page_of_5000(api):
    # the heaviest realistic call: a full page of full records
    r = api.get("accounts")
    assert r.status == 200, r
    assert len(r.body["value"]) == 5000
    assert len(r.body["value"][0]) > 120


def test_paging_with_orderby_nullable_column(api):
    recs, pages = api.list_all("accounts", select=["revenue"], orderby="revenue desc", page_size=3000)
    ids = [r["accountid"] for r in recs]
    assert len(ids) == N and len(set(ids)) == N
    vals = [r["revenue"] for r in recs]
    nonnull = [v for v in vals if v is not None]
    assert nonnull == sorted(nonnull, reverse=True)
    # SQL Server: NULLs sort lowest, i.e. last in descending order
    k = len(nonnull)
    assert all(v is None for v in vals[k:]), "nulls must come last in desc order"
