"""Record file content: the Web API record minus annotations, as sorted 2-space JSON.

The bytes must equal json.dumps(rec, indent=2, sort_keys=True, ensure_ascii=False) + "\\n"
except that number literals are kept verbatim from the server (money: 5000000.0000).
"""

import json
import os
import re
import shutil
import subprocess

import pytest

from lib.mount import (as_decimal, get_raw, list_raw, loads_decimal, normalise_numbers, odata_epoch,
                       render, strip_annotations)

SETS = [("accounts", "accountid"), ("contacts", "contactid")]


@pytest.fixture(scope="module")
def server(std_emu):
    """{(org, set): {id: record with verbatim number literals}} from the Web API."""
    out = {}
    for org in ("contoso",):
        api = std_emu.api(org)
        for es, key in SETS:
            out[(org, es)] = {r[key]: r for r in list_raw(api, es)}
    return out


def rec_path(mnt, es, rid, org="contoso"):
    return os.path.join(mnt.path, org, es, rid + ".json")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def first_diff(a, b):
    """A short description of where byte strings A and B first differ."""
    n = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))
    return "first difference at byte %d:\n  got:      %r\n  expected: %r" % (
        n, a[max(0, n - 60):n + 60], b[max(0, n - 60):n + 60])


@pytest.mark.parametrize("es,key", SETS)
def test_content_equals_web_api_record(mnt, server, es, key):
    recs = server[("contoso", es)]
    names = os.listdir(os.path.join(mnt.path, "contoso", es))
    assert len(names) == len(recs)
    bad = []
    for name in names:
        rid = name[:-len(".json")]
        got = loads_decimal(read(rec_path(mnt, es, rid)))
        want = as_decimal(strip_annotations(recs[rid]))
        if got != want:
            diff = {k for k in set(got) | set(want) if got.get(k, "<absent>") != want.get(k, "<absent>")}
            bad.append("%s: keys differ %s" % (rid, sorted(diff)[:10]))
    assert not bad, "%d of %d records differ, e.g.\n%s" % (len(bad), len(names), "\n".join(bad[:5]))


def test_annotations_are_removed(mnt, server):
    recs = server[("contoso", "accounts")]
    rid = next(iter(recs))
    assert any("@" in k for k in recs[rid]), "the server record should carry @odata.etag"
    got = json.loads(read(rec_path(mnt, "accounts", rid)))
    assert not [k for k in got if "@" in k]
    assert got["accountid"] == rid


@pytest.mark.parametrize("es,key", SETS)
def test_layout_sorted_keys_two_space_indent(mnt, server, es, key):
    """Byte layout, numbers normalised on both sides."""
    recs = server[("contoso", es)]
    bad = []
    for rid, rec in list(recs.items())[:120]:
        raw = read(rec_path(mnt, es, rid))
        want = render(strip_annotations(rec))
        if normalise_numbers(raw) != normalise_numbers(want):
            bad.append("%s: %s" % (rid, first_diff(raw, want)))
    assert not bad, "%d records not in canonical layout, e.g.\n%s" % (len(bad), bad[0])


@pytest.mark.parametrize("es,key", SETS)
def test_bytes_exact_with_verbatim_numbers(mnt, server, es, key):
    recs = server[("contoso", es)]
    bad = []
    for rid, rec in recs.items():
        raw = read(rec_path(mnt, es, rid))
        want = render(strip_annotations(rec))
        if raw != want:
            bad.append("%s: %s" % (rid, first_diff(raw, want)))
    assert not bad, "%d of %d files differ, e.g.\n%s" % (len(bad), len(recs), bad[0])


def test_file_ends_with_one_newline(mnt, server):
    rid = next(iter(server[("contoso", "contacts")]))
    raw = read(rec_path(mnt, "contacts", rid))
    assert raw.endswith(b"}\n") and not raw.endswith(b"\n\n"), raw[-20:]
    assert raw.startswith(b'{\n  "'), raw[:20]


def test_money_keeps_four_decimals(mnt, std_emu, server):
    recs = server[("contoso", "accounts")]
    found = 0
    for rid in list(recs)[:60]:
        _, text = get_raw(std_emu.api("contoso"), "accounts", rid)
        m = re.search(r'"revenue":\s*(-?\d+\.\d{4})\b', text)
        if not m:
            continue
        found += 1
        literal = m.group(1)
        raw = read(rec_path(mnt, "accounts", rid)).decode("utf-8")
        assert '  "revenue": %s,\n' % literal in raw, (
            "server sent revenue %s; file has %r" % (literal, re.findall(r'"revenue": [^\n]*', raw)))
    assert found, "no account among the first 60 has a 4-decimal revenue on the wire (emulator data?)"


SPECIAL = ['"Quoted"', "Back\\Slash", "Tab\t", "Ünïcödé ☃", "東京", "Zürich"]


def test_non_ascii_and_escapes_survive(mnt, std_emu, server):
    recs = server[("contoso", "accounts")]
    hits = {}
    for rid, rec in recs.items():
        for s in SPECIAL:
            if s in (rec.get("name") or "") and s not in hits:
                hits[s] = rid
    assert len(hits) >= 2, "emulator data has too few special names among %d accounts: %s" % (
        len(recs), sorted(hits))
    for s, rid in hits.items():
        name = recs[rid]["name"]
        raw = read(rec_path(mnt, "accounts", rid))
        assert json.loads(raw)["name"] == name
        # ensure_ascii=False: UTF-8 as is, only '"', '\\' and control characters escaped
        lit = json.dumps(name, ensure_ascii=False).encode("utf-8")
        assert b'  "name": ' + lit + b",\n" in raw, (name, re.findall(rb'"name": [^\n]*', raw))


def test_read_twice_gives_identical_bytes(mnt, server):
    for rid in list(server[("contoso", "contacts")])[:20]:
        p = rec_path(mnt, "contacts", rid)
        assert read(p) == read(p)


def test_partial_reads(mnt, server):
    rid = next(iter(server[("contoso", "accounts")]))
    p = rec_path(mnt, "accounts", rid)
    full = read(p)
    fd = os.open(p, os.O_RDONLY)
    try:
        chunks = []
        while True:
            b = os.read(fd, 97)
            if not b:
                break
            chunks.append(b)
        assert b"".join(chunks) == full
        for off in (0, 1, 100, len(full) // 2, len(full) - 1):
            assert os.pread(fd, 50, off) == full[off:off + 50], off
        assert os.pread(fd, 10, len(full)) == b""
        assert os.pread(fd, 10, len(full) + 1000) == b""
    finally:
        os.close(fd)


def test_custom_set_record_content(mnt, std_emu):
    r = std_emu.api("contoso").get("EntityDefinitions?$select=LogicalName,EntitySetName,IsCustomEntity,"
                               "PrimaryIdAttribute")
    custom = [d for d in r.body["value"] if d.get("IsCustomEntity")
              and d["EntitySetName"] != d["LogicalName"] + "s"][0]
    recs = list_raw(std_emu.api("contoso"), custom["EntitySetName"])
    assert recs, "emulator has no %s records" % custom["EntitySetName"]
    for rec in recs[:10]:
        rid = rec[custom["PrimaryIdAttribute"]]
        raw = read(rec_path(mnt, custom["EntitySetName"], rid))
        assert raw == render(strip_annotations(rec)), first_diff(raw, render(strip_annotations(rec)))


def test_unlisted_read_renders_same_bytes(mnt, std_emu, server, mount_factory):
    """A record read by GET (no listing) gives the same bytes as one filled by a listing."""
    fresh = mount_factory(std_emu.config_path, emu=std_emu)
    for rid in list(server[("contoso", "accounts")])[:5]:
        listed = read(rec_path(mnt, "accounts", rid))
        direct = read(rec_path(fresh, "accounts", rid))
        assert direct == listed, first_diff(direct, listed)


# ---------------------------------------------------------------- tools

def test_cat(mnt, server):
    rid = next(iter(server[("contoso", "contacts")]))
    p = rec_path(mnt, "contacts", rid)
    r = subprocess.run(["cat", p], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == read(p)


def test_jq(mnt, server):
    rid = next(iter(server[("contoso", "accounts")]))
    p = rec_path(mnt, "accounts", rid)
    r = subprocess.run(["jq", ".", p], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == json.loads(read(p))
    r = subprocess.run(["jq", "-r", ".accountid", p], stdout=subprocess.PIPE, timeout=30)
    assert r.stdout.decode().strip() == rid


def test_cp_r_copies_every_record(mnt, server, tmp_path):
    dst = str(tmp_path / "x")
    r = subprocess.run(["cp", "-r", os.path.join(mnt.path, "contoso", "accounts"), dst],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    recs = server[("contoso", "accounts")]
    assert sorted(os.listdir(dst)) == sorted(i + ".json" for i in recs)
    for rid, rec in recs.items():
        got = read(os.path.join(dst, rid + ".json"))
        assert loads_decimal(got) == as_decimal(strip_annotations(rec)), rid
        assert got == render(strip_annotations(rec)), rid


def test_rsync(mnt, server, tmp_path):
    if not shutil.which("rsync"):
        pytest.fail("rsync is not installed (apt-get install rsync)")
    dst = str(tmp_path / "y") + "/"
    r = subprocess.run(["rsync", "-a", os.path.join(mnt.path, "contoso", "contacts") + "/", dst],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    recs = server[("contoso", "contacts")]
    assert sorted(os.listdir(dst)) == sorted(i + ".json" for i in recs)
    for rid, rec in recs.items():
        p = os.path.join(dst, rid + ".json")
        assert read(p) == render(strip_annotations(rec)), rid
        # -a keeps the times: the copy's mtime is the record's modifiedon
        assert int(os.stat(p).st_mtime) == odata_epoch(rec["modifiedon"]), rid
