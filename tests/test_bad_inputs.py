"""The table of bad inputs: file contents, names, configurations and server answers.

Each row is (category, case, input, expected errno, expected message, expected server
effect), and each is checked for all four of:

- the errno the program sees (None: the call succeeds);
- the message the user sees: user.dynfs.error for a save, the daemon's log line for a
  name or a server answer, `dynfs --check`'s report and the mount's stderr for a config;
- the server: no write request at all, or exactly the one expected, and the record as it
  was (or as written, when the row is a success);
- the daemon still alive and mounted afterwards (a config row: nothing mounted).

One mount serves each category.  Rows are independent; a server row that throttles its
tenant for ten minutes, and one whose listing succeeds (and is kept), run on mounts of
their own.
"""

import collections
import errno
import json
import os
import re
import uuid

import pytest

from lib.fixtures import emulator_fixture, faults_cleared, mount_fixture
from lib.mount import Ini, loads_verbatim, render, run_dynfs, stats_delta
from lib.tools import rescued as rescued_in, writes, xattr

ORG = "contoso"
SET = "accounts"
FILE_MAX = 64 * 1024 * 1024

bemu = emulator_fixture(orgs=ORG, records={"accounts": 120, "contacts": 12,
                                           "new_categories": 5}, seed=97)
contents_mnt = mount_fixture("bemu", state_home=True)
names_mnt = mount_fixture("bemu", state_home=True)
server_mnt = mount_fixture("bemu", ini={"global": {"op_timeout": 4, "max_retries": 2}},
                           state_home=True)
listed_mnt = mount_fixture("bemu")
throttled_mnt = mount_fixture("bemu", ini={"global": {"op_timeout": 4, "max_retries": 2}},
                              state_home=True)
_faults = faults_cleared("bemu")

Row = collections.namedtuple("Row", "category case input errno message effect")

# Server effects
NONE = "no request that writes, the record unchanged"
REFUSED = "one PATCH, refused: the record unchanged"
UPDATE = "one PATCH: the record changed"
CREATE = "one create"
CREATE_REFUSED = "one create, refused: no record made"
NO_REQUEST = "no request at all"
WHOAMI = "--check signs in and calls WhoAmI (the tenant is fine); the mount sends nothing"
ONE_GET = "one GET, answered 404"

DVERR = {"error": {"code": "0x80040216", "message": "An unexpected error occurred."}}


def with_(obj, **cols):
    out = dict(obj)
    out.update(cols)
    return out


def name_literal(obj, text):
    """OBJ rendered with TEXT, as it is, for the string inside the name's quotes."""
    return render(with_(obj, name="@NAME@")).replace(b"@NAME@", text)


def first_line_prefix(raw, text):
    """RAW (a record file) with TEXT put in as its first member."""
    return raw.replace(b"{\n", b"{\n" + text + b"\n", 1)


# --------------------------------------------------------------------------- file contents
# input: a function (file bytes, parsed record) -> bytes written over an existing record,
# or ("new", bytes) for a new file in the set folder.

C = "contents"
CONTENTS = [
    Row(C, "broken JSON", lambda raw, o: b'{ "name": ', errno.EINVAL,
        "invalid JSON: line 1, column 11: expected a value, found end of input", NONE),
    Row(C, "an array", lambda raw, o: b"[1, 2]\n", errno.EINVAL,
        "a record file must hold one JSON object", NONE),
    Row(C, "a string", lambda raw, o: b'"x"\n', errno.EINVAL,
        "a record file must hold one JSON object", NONE),
    Row(C, "blanks only", lambda raw, o: b"  \n\n", errno.EINVAL,
        "invalid JSON: line 3, column 1: expected a value, found end of input", NONE),
    Row(C, "empty file (truncated, never written)", lambda raw, o: b"", None, None, NONE),
    Row(C, "trailing garbage", lambda raw, o: raw + b"xyz\n", errno.EINVAL,
        "expected end of input after the JSON value, found 'xyz'", NONE),
    Row(C, "two objects", lambda raw, o: raw + b"{}\n", errno.EINVAL,
        "expected end of input after the JSON value, found '{'", NONE),
    Row(C, "duplicate key", lambda raw, o: first_line_prefix(raw, b'  "name": "dup one",'),
        errno.EINVAL, "duplicate key 'name'", NONE),
    Row(C, "NaN", lambda raw, o: first_line_prefix(raw, b'  "revenue": NaN,'), errno.EINVAL,
        "expected a value, found 'NaN'", NONE),
    Row(C, "Infinity", lambda raw, o: first_line_prefix(raw, b'  "revenue": -Infinity,'),
        errno.EINVAL, "expected a digit after '-', found 'Infinity'", NONE),
    Row(C, "nesting 5000 deep", lambda raw, o: first_line_prefix(
        raw, b'  "description": ' + b"[" * 5000 + b"]" * 5000 + b","), errno.EINVAL,
        "nesting deeper than 64 levels", NONE),
    Row(C, "byte order mark", lambda raw, o: b"\xef\xbb\xbf" + raw, errno.EINVAL,
        "found a byte order mark (U+FEFF)", NONE),
    Row(C, "not UTF-8", lambda raw, o: render(with_(o, name="latin")).replace(b"latin", b"lat\xe9n"),
        errno.EINVAL, "invalid UTF-8 in string: byte 0xe9 followed by 0x6e", NONE),
    Row(C, "raw newline in a string",
        lambda raw, o: render(with_(o, name="a")).replace(b'"a"', b'"a\nb"'), errno.EINVAL,
        "unescaped control character U+000A in string (write it as \\n)", NONE),
    Row(C, "escaped NUL in a string", lambda raw, o: name_literal(o, b"ab\\u0000cd"),
        errno.EINVAL, "'\\u0000' in string is not supported (strings cannot contain NUL)", NONE),
    Row(C, "lone surrogate", lambda raw, o: name_literal(o, b"ab\\ud800cd"), errno.EINVAL,
        "lone surrogate '\\ud800' in string", NONE),
    Row(C, "overlong UTF-8", lambda raw, o: name_literal(o, b"\xc0\xaf"), errno.EINVAL,
        "invalid UTF-8 byte 0xc0 in string", NONE),
    Row(C, "surrogate pair (an emoji)", lambda raw, o: name_literal(o, b"ab\\ud83d\\ude00cd"),
        None, None, UPDATE),
    Row(C, "column named in another case", lambda raw, o: render(with_(o, Name="x")),
        errno.EINVAL, "unknown column 'Name': entity 'account' has no such column", NONE),
    Row(C, "empty key", lambda raw, o: render(with_(o, **{"": 1})), errno.EINVAL,
        "unknown column '': entity 'account' has no such column", NONE),
    Row(C, "unknown column", lambda raw, o: render(with_(o, nosuchcolumn=1)), errno.EINVAL,
        "unknown column 'nosuchcolumn': entity 'account' has no such column", NONE),
    Row(C, "read-only column changed",
        lambda raw, o: render(with_(o, createdon="2001-01-01T00:00:00Z")), errno.EINVAL,
        "column 'createdon' cannot be changed (not valid for update)", NONE),
    Row(C, "primary key changed", lambda raw, o: render(with_(o, accountid=str(uuid.uuid4()))),
        errno.EINVAL, "column 'accountid' is the record's id and cannot be changed", NONE),
    Row(C, "lookup that is not a GUID",
        lambda raw, o: render(with_(o, _parentaccountid_value="not-a-guid")), errno.EINVAL,
        "lookup 'parentaccountid': 'not-a-guid' is not a record id (a GUID)", NONE),
    Row(C, "number for a text column", lambda raw, o: render(with_(o, name=5)), errno.EINVAL,
        "the server refused the change: 0x0 Cannot convert a primitive value to the expected "
        "type 'Edm.String'", REFUSED),
    Row(C, "object for a text column", lambda raw, o: render(with_(o, name={"a": 1})),
        errno.EINVAL, "Cannot convert a primitive value to the expected type 'Edm.String'",
        REFUSED),
    Row(C, "text for a choice", lambda raw, o: render(with_(o, statecode="Active")),
        errno.EINVAL, "Cannot convert the literal 'Active' to the expected type 'Edm.Int32'",
        REFUSED),
    Row(C, "text for money", lambda raw, o: render(with_(o, revenue="lots")), errno.EINVAL,
        "Cannot convert the literal 'lots' to the expected type 'Edm.Decimal'", REFUSED),
    Row(C, "name over its maximum length", lambda raw, o: render(with_(o, name="x" * 5000)),
        errno.EINVAL, "exceeded the maximum allowed length of '160'", REFUSED),
    Row(C, "integer out of range", lambda raw, o: render(with_(o, numberofemployees=99999999999)),
        errno.EINVAL, "The value 99999999999 of 'numberofemployees' on record of type 'account' "
        "is outside the valid range", REFUSED),
    Row(C, "number 1e400", lambda raw, o: render(with_(o, numberofemployees=1)).replace(
        b'"numberofemployees": 1', b'"numberofemployees": 1e400'), errno.EINVAL,
        "is outside the valid range", REFUSED),
    Row(C, "annotation key changed", lambda raw, o: render(with_(
        o, **{"name@OData.Community.Display.V1.FormattedValue": "x"})), None, None, NONE),
    Row(C, "file over 64 MiB", lambda raw, o: raw[:-2] + b" " * FILE_MAX + b"}\n",
        errno.EFBIG, "grew past 64 MiB", NONE),
    Row(C, "new file: a number as primary key",
        ("new", render({"name": "Numbered", "accountid": 5})), errno.EINVAL,
        "column 'accountid' is the record's id and must be a GUID string such as "
        "\"7eb682f1-ca75-e511-80d4-00155d2a68d1\", not 5", NONE),
    Row(C, "new file: an upper-case primary key",
        ("new-upper", None), None, None, CREATE),
    Row(C, "new file: broken JSON", ("new", b"{ not json\n"), errno.EINVAL,
        "invalid JSON: line 1, column 3", NONE),
    Row(C, "new file: a lookup to no record", ("new", render(
        {"name": "Orphan", "_parentaccountid_value": "6c1b2f0e-9d3e-4a57-8f0b-0d7c3e2a1b55"})),
        errno.EINVAL, "lookup '_parentaccountid_value': there is no record "
        "6c1b2f0e-9d3e-4a57-8f0b-0d7c3e2a1b55 in accounts", CREATE_REFUSED),
]


def rescued(state_home, stem, data):
    return rescued_in(state_home, ORG, SET, stem, data)


Saved = collections.namedtuple("Saved", "write_err close_err written")


def save_all(p, data, flags=os.O_WRONLY | os.O_TRUNC):
    """Write DATA to P in 1 MiB writes (until one fails) and close: Saved(the OSError of
    the write that failed or None, that of the close (the save) or None, bytes written)."""
    fd = os.open(p, flags, 0o644)
    write_err, close_err, n = None, None, 0
    try:
        for i in range(0, len(data), 1 << 20):
            n += os.write(fd, data[i:i + (1 << 20)])
    except OSError as e:
        write_err = e
    try:
        os.close(fd)
    except OSError as e:
        close_err = e
    return Saved(write_err, close_err, n)


def save(p, data, flags=os.O_WRONLY | os.O_TRUNC):
    """The first OSError of save_all(P, DATA, FLAGS), or None."""
    r = save_all(p, data, flags)
    return r.write_err or r.close_err


def run_contents(row, bemu, request, state_home, fresh):
    m = request.getfixturevalue("contents_mnt")
    d = os.path.join(m.path, ORG, SET)
    if isinstance(row.input, tuple):
        kind, data = row.input
        rid = str(uuid.uuid4())
        name = "bad-%s.json" % re.sub(r"\W+", "-", row.case)
        p = os.path.join(d, name)
        if kind == "new-upper":
            data = render({"name": "Upper", "accountid": rid.upper()})
        n0 = len(bemu.records(ORG, SET))
        delta = stats_delta(bemu, lambda: save_all(p, data, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
        stem, before = name[:-5], None
    else:
        rid = next(fresh)
        p = os.path.join(d, rid + ".json")
        with open(p, "rb") as f:
            raw = f.read()
        data = row.input(raw, loads_verbatim(raw))
        before = bemu.record(ORG, SET, rid)
        delta = stats_delta(bemu, lambda: save_all(p, data))
        stem = rid
    saved = delta.result
    err = saved.write_err or saved.close_err
    try:
        assert (err.errno if err else None) == row.errno, "%s: %r" % (row.case, err)
        msg = xattr(p)
        if row.errno is None:
            assert msg is None, msg
        else:
            assert msg and msg.startswith("save failed: ") and row.message in msg, msg
            # every byte the file took is kept (a write past the cap took none)
            assert rescued(state_home, stem, data[:saved.written]), "no rescue copy of %s" % p
            assert saved.close_err is not None and saved.close_err.errno == row.errno, saved
        w = writes(delta)
        if row.effect == NONE:
            assert w == dict(update=0, create=0, delete=0, batch=0), delta
        elif row.effect == REFUSED:
            assert w == dict(update=1, create=0, delete=0, batch=0), delta
            assert delta.status.get("400") == 1, delta
        elif row.effect == CREATE_REFUSED:
            assert w == dict(update=0, create=1, delete=0, batch=0), delta
            assert len(bemu.records(ORG, SET)) == n0, "a record was created"
        elif row.effect == CREATE:
            assert w == dict(update=0, create=1, delete=0, batch=0), delta
            assert xattr(p, "user.dynfs.id") == rid
            assert bemu.record(ORG, SET, rid)["name"] == "Upper"
        elif row.effect == UPDATE:
            assert w == dict(update=1, create=0, delete=0, batch=0), delta
            assert bemu.record(ORG, SET, rid)["name"] == json.loads(data)["name"]
        if before is not None and row.effect != UPDATE:
            assert bemu.record(ORG, SET, rid) == before, "the record changed"
        elif row.effect == NONE:
            assert len(bemu.records(ORG, SET)) == n0, "a record was created"
    finally:
        if before is None and os.path.lexists(p):
            os.unlink(p)
    return m


# --------------------------------------------------------------------------- names
# input: (operation, name or names) in the set folder ("{rid}": a record's id; a leading
# "/" names a path from the mount's root).

N = "names"
NAMES = [
    Row(N, "digits for a GUID", ("stat", "1234.json"), errno.ENOENT, None, NO_REQUEST),
    Row(N, "GUID with a non-hex digit", ("stat", "00000000-0000-0000-0000-00000000000g.json"),
        errno.ENOENT, None, NO_REQUEST),
    Row(N, "GUID of no record, set never listed",
        ("stat", "/contoso/contacts/6c1b2f0e-9d3e-4a57-8f0b-0d7c3e2a1b55.json"), errno.ENOENT,
        None, ONE_GET),
    Row(N, "GUID of no record, set listed", ("stat", "6c1b2f0e-9d3e-4a57-8f0b-0d7c3e2a1b55.json"),
        errno.ENOENT, None, NO_REQUEST),
    Row(N, "OData injection", ("stat", "x' or 1 eq 1.json"), errno.ENOENT, None, NO_REQUEST),
    Row(N, "OData injection after an id", ("stat", "{rid}')?$filter=name eq 'a.json"),
        errno.ENOENT, None, NO_REQUEST),
    Row(N, "key syntax as a name", ("stat", "accounts({rid}).json"), errno.ENOENT, None,
        NO_REQUEST),
    Row(N, "upper-case GUID", ("stat", "{RID}.json"), errno.ENOENT, None, NO_REQUEST),
    Row(N, "GUID in braces", ("stat", "{{{rid}}}.json"), errno.ENOENT, None, NO_REQUEST),
    Row(N, "upper-case suffix", ("stat", "{rid}.JSON"), errno.ENOENT, None, NO_REQUEST),
    Row(N, "no suffix", ("stat", "{rid}"), errno.ENOENT, None, NO_REQUEST),
    Row(N, "trailing blank", ("stat", "{rid}.json "), errno.ENOENT, None, NO_REQUEST),
    Row(N, "double suffix", ("stat", "{rid}.json.json"), errno.ENOENT, None, NO_REQUEST),
    Row(N, "escape sequence", ("stat", "\x1b[31m.json"), errno.ENOENT, None, NO_REQUEST),
    Row(N, "newline", ("stat", "a\nb.json"), errno.ENOENT, None, NO_REQUEST),
    Row(N, "255 bytes", ("stat", "a" * 250 + ".json"), errno.ENOENT, None, NO_REQUEST),
    Row(N, "256 bytes", ("stat", "a" * 256), errno.ENAMETOOLONG, None, NO_REQUEST),
    Row(N, "record used as a folder", ("stat", "{rid}.json/x"), errno.ENOTDIR, None,
        NO_REQUEST),
    Row(N, "set that does not exist", ("stat", "/contoso/nosuchset/{rid}.json"), errno.ENOENT,
        None, NO_REQUEST),
    Row(N, "tenant that does not exist", ("stat", "/nosuchtenant/accounts/{rid}.json"),
        errno.ENOENT, None, NO_REQUEST),
    Row(N, "file at the root", ("create", "/x.json"), errno.EPERM,
        "create /x.json: not possible: records are files in the entity set folders", NO_REQUEST),
    Row(N, "file in a tenant folder", ("create", "/contoso/x.json"), errno.EPERM,
        "create /contoso/x.json: not possible", NO_REQUEST),
    Row(N, "file in a set that does not exist", ("create", "/contoso/nosuchset/x.json"),
        errno.ENOENT, None, NO_REQUEST),
    Row(N, "new tenant folder", ("mkdir", "/newtenant"), errno.EPERM,
        "mkdir /newtenant: not possible: folders are the tenants of the config", NO_REQUEST),
    Row(N, "new set folder", ("mkdir", "/contoso/newset"), errno.EPERM,
        "mkdir /contoso/newset: not possible", NO_REQUEST),
    Row(N, "folder in a set", ("mkdir", "sub"), errno.EPERM, "mkdir /contoso/accounts/sub: "
        "not possible", NO_REQUEST),
    Row(N, "record renamed to another id", ("rename", "{rid}.json", "{rid2}.json"), errno.EPERM,
        "a record's file name is its id", NO_REQUEST),
    Row(N, "symbolic link renamed onto a record", ("symlink-rename", "{rid}.json"),
        errno.EINVAL, "a symbolic link cannot be saved as a record", NO_REQUEST),
    Row(N, "new record named in Greek", ("new", "Ωmega.json"), None, None, CREATE),
    Row(N, "new record named like an injection", ("new", "x' or 1 eq 1.json"), None, None,
        CREATE),
    Row(N, "new record with a newline in its name", ("new", "new\nline.json"), None, None,
        CREATE),
]


def run_names(row, bemu, request, fresh):
    m = request.getfixturevalue("names_mnt")
    d = os.path.join(m.path, ORG, SET)
    rid, rid2 = next(fresh), next(fresh)
    args = [a.replace("{rid}", rid).replace("{RID}", rid.upper()).replace("{rid2}", rid2)
            for a in row.input[1:]]
    args = [a.replace("{{", "{").replace("}}", "}") for a in args]
    paths = [m.path + a if a.startswith("/") else os.path.join(d, a) for a in args]
    op = row.input[0]
    start = len(m.log_text())

    def go():
        try:
            if op == "stat":
                os.stat(paths[0])
            elif op == "create":
                os.close(os.open(paths[0], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            elif op == "mkdir":
                os.mkdir(paths[0])
            elif op == "rename":
                os.rename(paths[0], paths[1])
            elif op == "symlink-rename":
                link = os.path.join(d, "bad-link")
                os.symlink("/etc/passwd", link)
                try:
                    os.rename(link, paths[0])
                finally:
                    os.unlink(link)
            elif op == "new":
                err = save(paths[0], render({"name": "named %r" % args[0]}),
                           os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                if err:
                    raise err
                return xattr(paths[0], "user.dynfs.id")
        except OSError as e:
            return e
        return None

    if op == "stat":
        # each name once: a listing, or an earlier row, must not answer from the cache
        os.listdir(d)
    delta = stats_delta(bemu, go)
    res = delta.result
    got = res.errno if isinstance(res, OSError) else None
    assert got == row.errno, "%s: %r" % (row.case, res)
    if row.message:
        log = m.log_text()[start:]
        assert row.message in log, log[-2000:]
    total = sum(v for k, v in delta.items() if k != "token")
    if row.effect == NO_REQUEST:
        assert total == 0, delta
    elif row.effect == ONE_GET:
        assert total == 1 and delta["get"] == 1 and delta.status.get("404") == 1, delta
    elif row.effect == CREATE:
        assert writes(delta) == dict(update=0, create=1, delete=0, batch=0), delta
        assert bemu.record(ORG, SET, res)["name"] == "named %r" % args[0]
        os.unlink(paths[0])
    if op == "rename" or op == "symlink-rename":
        assert bemu.writes(ORG, SET, rid) == 0
        with open(os.path.join(d, rid + ".json"), "rb") as f:
            assert loads_verbatim(f.read())["accountid"] == rid
    return m


# --------------------------------------------------------------------------- configurations
# input: a function (Ini of a working config) -> the config's text.  Each is run with
# `dynfs --check` (the row's errno column is its exit status: 1 for a wrong file, 2 for a
# tenant that fails; the message on stdout) and mounted (refused: non-zero exit, the
# message on stderr, nothing mounted).  Neither sends a request, except --check's sign-in
# and WhoAmI for a tenant whose own section is fine.


def tenant_edit(**keys):
    def f(ini):
        i = ini.copy()
        for k, v in keys.items():
            if v is None:
                i[ORG].pop(k, None)
            else:
                i[ORG][k] = v
        return i.text()
    return f


def global_edit(**keys):
    def f(ini):
        i = ini.copy()
        i["global"].update(keys)
        return i.text()
    f.global_only = True    # --check still tries the tenant, whose own keys are fine
    return f


def text_edit(fn):
    return lambda ini: fn(ini.text())


def section_named(name):
    def f(ini):
        sec = "\n".join("%s = %s" % kv for kv in ini[ORG].items())
        return "[global]\n\n[%s]\n%s\n" % (name, sec)
    return f


def token_store(content):
    """The tenant signing in with the refresh token of a token store holding CONTENT (a
    store cut short or spoilt by hand: dynfs itself replaces it whole)."""
    def f(ini):
        i = ini.copy()
        sec = i[ORG]
        for k in ("tenant_id", "client_secret_file"):
            sec.pop(k, None)
        sec.update(auth="refresh_token", client_id=f.public_client_id, token_store="@STORE@")
        return i.text()
    f.store = content
    return f


G = "configs"
CONFIGS = [
    Row(G, "unknown key", tenant_edit(colour="blue"), 1, "bad.ini:11: unknown key 'colour' in [contoso]",
        NO_REQUEST),
    Row(G, "unknown global key", global_edit(cache_tll="5"), 1,
        "bad.ini:3: unknown key 'cache_tll' in [global]", WHOAMI),
    Row(G, "not a number", global_edit(cache_ttl="soon"), 1,
        "bad.ini:2: invalid value for 'cache_ttl': 'soon' (expected a whole number from 0 to 31536000)",
        WHOAMI),
    Row(G, "negative number", global_edit(cache_ttl="-5"), 1,
        "invalid value for 'cache_ttl': '-5'", WHOAMI),
    Row(G, "number too large", global_edit(cache_ttl="99999999999999999999"), 1,
        "invalid value for 'cache_ttl': '99999999999999999999'", WHOAMI),
    Row(G, "op_timeout 0", global_edit(op_timeout="0"), 1,
        "invalid value for 'op_timeout': '0' (expected a whole number from 1 to 86400)",
        WHOAMI),
    Row(G, "not a boolean", tenant_edit(read_only="maybe"), 1,
        "invalid value for 'read_only': 'maybe' (expected true/false, yes/no, on/off or 1/0)",
        NO_REQUEST),
    Row(G, "unknown log level", global_edit(log_level="chatty"), 1,
        "invalid value for 'log_level': 'chatty' (expected error, warn, info or debug)",
        WHOAMI),
    Row(G, "unknown auth", tenant_edit(auth="kerberos"), 1, "unsupported auth 'kerberos'",
        NO_REQUEST),
    Row(G, "url missing", tenant_edit(url=None), 1, "[contoso]: missing required key 'url'",
        NO_REQUEST),
    Row(G, "url not a URL", tenant_edit(url="not a url"), 1,
        "invalid value for 'url': 'not a url' (expected an http:// or https:// URL)", NO_REQUEST),
    Row(G, "url ftp://", tenant_edit(url="ftp://example.com/"), 1,
        "(expected an http:// or https:// URL)", NO_REQUEST),
    Row(G, "url with a fragment", lambda ini: tenant_edit(url=ini[ORG]["url"] + "#frag")(ini), 1,
        "carries a fragment (#..., not shown)", NO_REQUEST),
    Row(G, "two secrets", tenant_edit(client_secret="abc"), 1,
        "'client_secret' (line 11) and 'client_secret_file' (line 8) exclude each other",
        NO_REQUEST),
    Row(G, "secret file missing", tenant_edit(client_secret_file="/nonexistent/secret"), 1,
        "cannot read '/nonexistent/secret': No such file or directory", NO_REQUEST),
    Row(G, "ca_file missing", tenant_edit(ca_file="/nonexistent/ca.pem"), 1,
        "invalid value for 'ca_file': cannot read '/nonexistent/ca.pem'", NO_REQUEST),
    Row(G, "token_url not http", lambda ini: tenant_edit(
        token_url=ini[ORG]["token_url"].replace("http", "ftp"))(ini), 1,
        "invalid value for 'token_url': 'ftp://", NO_REQUEST),
    Row(G, "duplicate section", text_edit(lambda t: t + "\n[contoso]\nurl = https://y/\n"), 1,
        "duplicate section [contoso] (first on line 4)", NO_REQUEST),
    Row(G, "duplicate key", text_edit(lambda t: t.replace(
        "auth =", "auth = client_credentials\nauth =", 1)), 1, "duplicate key 'auth' in [contoso]",
        NO_REQUEST),
    Row(G, "line without '='", text_edit(lambda t: t + "\njust some words\n"), 1,
        "syntax error: expected 'key = value', '[section]' or a comment", NO_REQUEST),
    Row(G, "section without ']'", text_edit(lambda t: t.replace("[contoso]", "[contoso")), 1,
        "syntax error: missing ']' after '[contoso'", NO_REQUEST),
    Row(G, "empty file", lambda ini: "", 1, "no tenants configured", NO_REQUEST),
    Row(G, "NUL byte", lambda ini: "\x00\xff garbage\n", 1, ":1: syntax error: NUL byte in line",
        NO_REQUEST),
    Row(G, "line over 64 KiB", tenant_edit(client_id="x" * 100000), 1,
        "line too long (more than 65536 bytes)", NO_REQUEST),
    Row(G, "section name with '/'", section_named("a/b"), 1,
        "invalid section name [a/b]: it contains '/'", NO_REQUEST),
    Row(G, "section name '..'", section_named(".."), 1,
        "invalid section name [..]: '.' and '..' are reserved", NO_REQUEST),
    Row(G, "section name with an escape", section_named("x\x1by"), 1,
        "invalid section name [x\\x1by]: it contains control characters", NO_REQUEST),
    Row(G, "secret command that wants a shell",
        tenant_edit(client_secret_file=None, client_secret_command="cat /x/secret | head -1"), 1,
        "it looks like it wants a shell (|), but the command runs without one", NO_REQUEST),
    Row(G, "token store not JSON", token_store(b"{garbage"), 2,
        "contoso.token holds no refresh token: sign in again with 'dynfs login'", NO_REQUEST),
    Row(G, "token store empty", token_store(b""), 2,
        "contoso.token holds no refresh token: sign in again with 'dynfs login'", NO_REQUEST),
    Row(G, "token store cut short", token_store(b'{"refresh_token": "0.AUo'), 2,
        "contoso.token holds no refresh token: sign in again with 'dynfs login'", NO_REQUEST),
    Row(G, "token store with a number", token_store(b'{"refresh_token": 5}\n'), 2,
        "contoso.token holds no refresh token: sign in again with 'dynfs login'", NO_REQUEST),
]


def run_configs(row, bemu, dynfs_bin, tmp_path):
    ini = Ini.load(bemu.config_path)
    ini.sections = {"global": {"cache_ttl": "60"}, ORG: ini[ORG]}
    if hasattr(row.input, "store"):
        row.input.public_client_id = bemu.org(ORG)["public_client_id"]
    text = row.input(ini)
    if hasattr(row.input, "store"):
        store = str(tmp_path / "contoso.token")
        fd = os.open(store, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, row.input.store)
        os.close(fd)
        text = text.replace("@STORE@", store)
    cfg = str(tmp_path / "bad.ini")
    fd = os.open(cfg, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    secret = bemu.org(ORG)["client_secret"]

    def both():
        return (run_dynfs(dynfs_bin, ["--check", "-c", cfg]),
                run_dynfs(dynfs_bin, ["-f", "-c", cfg, str(mnt)], mountpoint=str(mnt)))

    delta = stats_delta(bemu, both)
    check, mount = delta.result
    out = check.stdout + check.stderr
    assert check.returncode == row.errno, out     # 1: the file is wrong; 2: a tenant failed
    assert row.message in check.stdout, check.stdout
    assert "\x1b" not in out, "a control character reached the terminal"
    if not getattr(row.input, "global_only", False):
        assert not re.search(r"^\S*: ok \(", check.stdout, re.M), check.stdout
    assert mount.returncode not in (0, None) and 0 < mount.returncode < 126, mount.stderr
    assert not mount.was_mounted and not os.path.ismount(str(mnt))
    assert row.message in mount.stderr, mount.stderr
    for r in (check, mount):
        assert not r.sanitizer, r.stderr
        assert secret not in r.stdout + r.stderr
    if row.effect == WHOAMI:
        assert dict((k, v) for k, v in delta.items() if v) == {"token": 1, "other": 1}, delta
    else:
        assert sum(delta.values()) == 0, delta


# --------------------------------------------------------------------------- server answers
# input: (operation, fault rule): the rule strikes the one record's (or listing's)
# requests; the operation is a read of a record no one read before, a save of one, or a
# listing.  effect: the exact requests (GET/PATCH counts), or the record unchanged.

S = "server"
LOGIN = "<!DOCTYPE html><html><title>Sign in</title><body>Session expired</body></html>"
SERVER = [
    Row(S, "HTML with 200 to a read", ("read", dict(status=200, body=LOGIN, count=0)),
        errno.EIO, "is not a JSON object: line 1, column 1: expected a value, found '<'",
        {"get": 1}),
    Row(S, "empty body with 200", ("read", dict(body="", content_type="application/json",
                                                count=0)),
        errno.EIO, "is not a JSON object: line 1, column 1: expected a value, found end of input",
        {"get": 1}),
    Row(S, "JSON array with 200", ("read", dict(json=[1, 2, 3], count=0)), errno.EIO,
        "is not a JSON object", {"get": 1}),
    Row(S, "body cut short", ("read", dict(apply=True, deliver="truncate", bytes=30,
                                           then="close", count=0)),
        errno.EIO, "transfer closed with", {"get": 3}),
    Row(S, "Content-Length too large", ("read", dict(apply=True, content_length=100000,
                                                     count=0)),
        errno.EIO, "transfer closed with", {"get": 3}),
    Row(S, "Content-Length too small", ("read", dict(apply=True, content_length=10, count=0)),
        errno.EIO, "is not a JSON object: line 1, column 2", {"get": 1}),
    Row(S, "connection reset", ("read", dict(deliver="reset", count=0)), errno.EIO,
        "Connection reset by peer", {"get": 3}),
    Row(S, "500 with a Dataverse error", ("read", dict(status=500, json=DVERR, count=0)),
        errno.EIO, "HTTP 500 0x80040216 'An unexpected error occurred.'", {"get": 1}),
    Row(S, "401 forever", ("read", dict(status=401, json={"error": {
        "code": "0x80072560", "message": "The user is not a member of the organization."}},
        count=0)), errno.EACCES, "HTTP 401 0x80072560 'The user is not a member of the "
        "organization.' (request id none) - add the app as an application user", None),
    Row(S, "403", ("read", dict(status=403, json={"error": {
        "code": "0x80040220", "message": "Principal user is missing prvReadAccount privilege."}},
        count=0)), errno.EACCES, "HTTP 403 0x80040220", {"get": 1}),
    Row(S, "HTML with 400", ("read", dict(status=400, body=LOGIN, count=0)), errno.EINVAL,
        "HTTP 400", {"get": 1}),
    Row(S, "redirect to another host", ("read", dict(status=302, headers={
        "Location": "http://evil.example/"}, body="", count=0)), errno.EIO,
        "redirected (HTTP 302) to evil.example/: a sign-in page or a proxy stands in the way",
        {"get": 1}),
    Row(S, "429 with Retry-After 1, once", ("read", dict(status=429, headers={"Retry-After": 1},
        json={"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit"}},
        count=1)), None, "HTTP 429 0x80072322, retry 1 in 1000 ms", {"get": 2}),
    Row(S, "100 MB body", ("read", dict(apply=True, size=100 * 1024 * 1024,
                                        content_type="application/json", count=0)),
        errno.EIO, "is not a JSON object", {"get": 1}),
    Row(S, "HTML with 200 to a save", ("save", dict(status=200, body=LOGIN, count=0)),
        errno.EIO, "the server did not take the change: HTTP 200 with a body that is not the "
        "record", "unchanged"),
    Row(S, "HTML with 400 to a save", ("save", dict(status=400, body=LOGIN, count=0)),
        errno.EINVAL, "the server refused the change: HTTP 400", {"update": 1}),
    Row(S, "403 to a save", ("save", dict(status=403, json={"error": {
        "code": "0x80040220", "message": "Principal user is missing prvWriteAccount privilege."}},
        count=0)), errno.EACCES, "0x80040220 Principal user is missing prvWriteAccount privilege",
        {"update": 1}),
    Row(S, "413 to a save", ("save", dict(status=413, body="Request Entity Too Large",
                                          count=0)),
        errno.EFBIG, "the server refused the change: HTTP 413", {"update": 1}),
    Row(S, "412 to every attempt of a save", ("save", dict(status=412, json={"error": {
        "code": "0x80060882", "message": "The version of the existing record doesn't match"}},
        count=0)), errno.EIO, "the server did not take the change: HTTP 412", "unchanged"),
    Row(S, "nextLink to another host", ("list", "foreign"), errno.EIO,
        "the server sent a link to another place (http://evil.example:9/", None),
    Row(S, "nextLink cycle of three pages", ("list", "cycle"), errno.EIO,
        "the server sent the same @odata.nextLink again, stopping", None),
    Row(S, "listing page without \"value\"", ("list", "novalue"), errno.EIO,
        "new_categories: page 1 has no \"value\" array: not an OData collection", None),
    Row(S, "listing \"value\" not an array", ("list", "scalar"), errno.EIO,
        "new_categories: page 1 has no \"value\" array", None),
    Row(S, "listing items that are not records", ("list", "items"), None,
        "contoso: contacts: record without a usable 'contactid' skipped", None),
    Row(S, "429 with Retry-After 600", ("read", dict(status=429, headers={"Retry-After": 600},
        json={"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit"}},
        count=1)), errno.EAGAIN, "HTTP 429 0x80072322 'Number of requests exceeded the limit",
        {"get": 1}),
]


def list_rules(bemu, kind):
    base = bemu.org(ORG)["url"].rstrip("/") + "/api/data/v9.2/"
    if kind == "foreign":
        return "contacts", [dict(method="GET", path=r"contacts\?", count=0, json={
            "value": [], "@odata.nextLink": "http://evil.example:9/contoso/api/data/v9.2/"
                                            "contacts?$skiptoken=x"})]
    if kind == "novalue":
        return "new_categories", [dict(method="GET", path=r"new_categories\?", count=0,
                                       json={"@odata.context": "x"})]
    if kind == "scalar":
        return "new_categories", [dict(method="GET", path=r"new_categories\?", count=0,
                                       json={"value": "none"})]
    if kind == "items":
        return "contacts", [dict(method="GET", path=r"contacts\?", count=0, json={"value": [
            {"contactid": "not-a-guid", "versionnumber": 1}, "x", 5, {"name": "no id"}]})]
    u = base + "new_categories?$select=new_categoryid&$skiptoken="
    return "new_categories", [
        dict(method="GET", path="skiptoken=A", json={"value": [], "@odata.nextLink": u + "B"},
             count=0),
        dict(method="GET", path="skiptoken=B", json={"value": [], "@odata.nextLink": u + "C"},
             count=0),
        dict(method="GET", path="skiptoken=C", json={"value": [], "@odata.nextLink": u + "A"},
             count=0),
        dict(method="GET", path=r"new_categories\?", json={"value": [],
                                                           "@odata.nextLink": u + "A"}, count=0)]


def run_server(row, bemu, request, state_home, fresh):
    # a throttled tenant waits ten minutes, a listing that succeeds is kept: mounts of their own
    m = request.getfixturevalue("throttled_mnt" if row.errno == errno.EAGAIN else
                                "listed_mnt" if row.input == ("list", "items") else "server_mnt")
    op, spec = row.input
    start = len(m.log_text())
    if op == "list":
        es, rules = list_rules(bemu, spec)
        p = os.path.join(m.path, ORG, es)
        for r in rules:
            bemu.rule(**r)

        def go():
            try:
                return os.listdir(p)
            except OSError as e:
                return e
    else:
        rid = next(fresh)
        p = os.path.join(m.path, ORG, SET, rid + ".json")
        if op == "save":
            with open(p, "rb") as f:
                data = render(with_(loads_verbatim(f.read()), name="bad input %s" % rid[:8]))
        before = bemu.record(ORG, SET, rid)
        bemu.rule(path=r"accounts\(%s\)" % rid, method="GET" if op == "read" else "PATCH",
                  **spec)

        def go():
            try:
                if op == "read":
                    with open(p, "rb") as f:
                        return f.read()
                return save(p, data)
            except OSError as e:
                return e
    try:
        delta = stats_delta(bemu, go)
    finally:
        bemu.clear_rules()
    res = delta.result
    got = res.errno if isinstance(res, OSError) else None
    assert got == row.errno, "%s: %r" % (row.case, res)
    if op == "read" and got is None:
        assert loads_verbatim(res)["accountid"] == rid
    if op == "list" and got is None:
        assert res == [], res
    log = m.log_text()[start:]
    assert row.message in log, log[-3000:]
    if op == "save":
        msg = xattr(p)
        assert msg and msg.startswith("save failed: ") and row.message in msg, msg
        assert rescued(state_home, rid, data), "no rescue copy"
        assert bemu.record(ORG, SET, rid) == before, "the record changed"
    if isinstance(row.effect, dict):
        got_counts = {k: delta[k] for k in row.effect}
        assert got_counts == row.effect, delta
        if op == "read":
            assert writes(delta) == dict(update=0, create=0, delete=0, batch=0), delta
    return m


# --------------------------------------------------------------------------- the table

TABLE = CONTENTS + NAMES + CONFIGS + SERVER


def test_table_size():
    """At least 60 bad inputs, in four categories, no case named twice."""
    per = collections.Counter(r.category for r in TABLE)
    assert set(per) == {C, N, G, S} and len(TABLE) >= 60, per
    names = [(r.category, r.case) for r in TABLE]
    assert len(set(names)) == len(names)


@pytest.fixture(scope="module")
def fresh(bemu):
    """Ids of sample records no row used before."""
    return iter(r["accountid"] for r in bemu.records(ORG, SET))


@pytest.mark.parametrize("row", TABLE, ids=["%s: %s" % (r.category, r.case) for r in TABLE])
def test_bad_input(row, bemu, request, dynfs_bin, state_home, fresh, tmp_path):
    if row.category == C:
        m = run_contents(row, bemu, request, state_home, fresh)
    elif row.category == N:
        m = run_names(row, bemu, request, fresh)
    elif row.category == G:
        run_configs(row, bemu, dynfs_bin, tmp_path)
        return
    else:
        m = run_server(row, bemu, request, state_home, fresh)
    m.assert_alive("after %s: %s" % (row.category, row.case))
