"""OData helpers: JSON with verbatim decimals, $filter/$orderby/$select parsing, paging cookies.

Reference: /work/shared/docs/dataverse-protocol.md (cited as "ref") sections 2.2-2.4 and 11.3.
Everything here is independent of HTTP and of the store so it can be reused by the metadata
endpoints (EntityDefinitions $filter) and by $batch.
"""

import datetime as _dt
import json
import re
import urllib.parse
from decimal import Decimal, InvalidOperation

# --------------------------------------------------------------------------------------------
# Errors


class ODataError(Exception):
    """An error that maps to a Dataverse error body ``{"error":{"code":..,"message":..}}``.

    ref 5.1 (shape), 5.3 (codes)."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []


def bad_query(message):
    """400 with code 0x80060888, used for URI/query parse errors (ref 2.2, 5.3)."""
    return ODataError(400, "0x80060888", message)


# --------------------------------------------------------------------------------------------
# JSON: Money/Decimal values must be written verbatim ("5000000.0000", ref 2.1, 11.3).
# Python's json cannot emit a Decimal as a bare number, so Decimals are turned into marker
# strings "\x00<digits>" and the quotes around them removed after encoding.  A real string
# containing U+0000 is encoded as "\u0000..." too, but Dataverse strings never contain NUL.

_MARK = "\x00"
_MARK_RE = re.compile(r'"\\u0000(-?[0-9.]+(?:E[-+]?[0-9]+)?)"')


def _default(o):
    if isinstance(o, Decimal):
        return _MARK + format(o, "f")
    raise TypeError("not JSON serializable: %r" % type(o))


def mark_decimal(d):
    """Return the marker form of a Decimal (for pre-rendered dicts)."""
    return _MARK + format(d, "f")


def dumps(obj):
    """Serialise ``obj`` to compact UTF-8 JSON bytes with Decimals as verbatim numbers."""
    s = json.dumps(obj, default=_default, ensure_ascii=False, separators=(",", ":"))
    if "\\u0000" in s:
        s = _MARK_RE.sub(r"\1", s)
    return s.encode("utf-8")


def loads(data):
    """Parse request JSON; floats become Decimal so money keeps its digits (ref 11.3)."""
    if isinstance(data, bytes):
        data = data.decode("utf-8-sig")
    return json.loads(data, parse_float=Decimal)


# --------------------------------------------------------------------------------------------
# Date helpers (ref 11.3: UTC, second precision, "Z")


def fmt_datetime(d):
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(s):
    """Parse an ISO 8601 date/time; returns an aware UTC datetime or raises ValueError."""
    s = s.strip()
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
                     r"(Z|z|[+-]\d{2}:?\d{2})?)?", s)
    if not m:
        raise ValueError(s)
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    dt = _dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0))
    if tz and tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        tz = tz[1:].replace(":", "")
        off = _dt.timedelta(hours=int(tz[:2]), minutes=int(tz[2:]))
        dt = dt - sign * off
    return dt.replace(tzinfo=_dt.timezone.utc)


def canon_datetime(s):
    return fmt_datetime(parse_datetime(s))


# --------------------------------------------------------------------------------------------
# GUIDs

GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_guid(s):
    return isinstance(s, str) and GUID_RE.fullmatch(s) is not None


def guid_sort_key(g):
    """SQL Server ``uniqueidentifier`` order (ref 13) as a string that sorts like the GUIDs.

    SQL Server compares the 16 bytes of a GUID in its storage (.NET ``Guid.ToByteArray``)
    layout, in the byte order 10-15, 8-9, 6-7, 4-5, 0-3.  The first three string groups are
    stored little-endian, so in terms of the lower-case string
    ``00112233-4455-6677-8899-aabbccddeeff`` the key is
    ``aabbccddeeff`` ``8899`` ``7766`` ``5544`` ``33221100``: the last group is the most
    significant and the first two hex digits the least.  That is the order of the primary key
    for paging and ``$orderby``, and of ``gt``/``lt`` on GUIDs in ``$filter``; clients must not
    assume textual GUID order.  The key is a bijection, so equal keys mean equal GUIDs."""
    return (g[24:36] + g[19:23] + g[16:18] + g[14:16] + g[11:13] + g[9:11]
            + g[6:8] + g[4:6] + g[2:4] + g[0:2])


def guid_from_sort_key(k):
    """Inverse of guid_sort_key (tests and tools)."""
    return "%s-%s-%s-%s-%s" % (k[30:32] + k[28:30] + k[26:28] + k[24:26], k[22:24] + k[20:22],
                               k[18:20] + k[16:18], k[12:16], k[0:12])


# --------------------------------------------------------------------------------------------
# Query option helpers


def parse_query(qs):
    """Parse a raw query string into an ordered list of (name, value) (values decoded once)."""
    return urllib.parse.parse_qsl(qs, keep_blank_values=True)


def split_list(text):
    """Split "a, b ,c" honouring parentheses (for $select/$orderby/$expand)."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    if cur or out:
        out.append("".join(cur).strip())
    return [x for x in out if x != ""]


def parse_orderby(text):
    """Return [(name, descending)] for "$orderby=name asc,createdon desc" (ref 2.2)."""
    items = []
    for part in split_list(text):
        bits = part.split()
        if not bits or len(bits) > 2:
            raise bad_query("Syntax error at position %d in '%s'." % (len(part), text))
        desc = False
        if len(bits) == 2:
            d = bits[1].lower()
            if d not in ("asc", "desc"):
                raise bad_query("Syntax error at position %d in '%s'." % (len(text), text))
            desc = d == "desc"
        items.append((bits[0], desc))
    return items


# --------------------------------------------------------------------------------------------
# $filter: tokenizer, parser and compiler to Python closures (ref 2.2)

_TOKEN_RES = [
    ("guid", re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-])")),
    ("datetime", re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})")),
    ("date", re.compile(r"\d{4}-\d{2}-\d{2}(?![\w:])")),
    ("number", re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?[mMdDfFlL]?(?![\w])")),
    ("ident", re.compile(r"[A-Za-z_$][A-Za-z0-9_./$]*")),
]

_CMP_OPS = {"eq", "ne", "gt", "ge", "lt", "le"}
_KEYWORDS = _CMP_OPS | {"and", "or", "not"}


class _Tok:
    __slots__ = ("kind", "value", "pos")

    def __init__(self, kind, value, pos):
        self.kind, self.value, self.pos = kind, value, pos

    def __repr__(self):
        return "%s:%r" % (self.kind, self.value)


def tokenize(text):
    toks, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "(),":
            toks.append(_Tok(c, c, i))
            i += 1
            continue
        if c == "'":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise bad_query("There is an unterminated string literal at position %d in '%s'." % (i, text))
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        buf.append("'")
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            toks.append(_Tok("string", "".join(buf), i))
            i = j + 1
            continue
        for kind, rx in _TOKEN_RES:
            m = rx.match(text, i)
            if m:
                val = m.group(0)
                end = m.end()
                if kind == "ident" and end < n and text[end] == "'":
                    # typed literal: guid'..', datetime'..' (OData v3, rejected) or an enum
                    # literal such as Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'.
                    k = text.find("'", end + 1)
                    if k < 0:
                        raise bad_query("There is an unterminated string literal at position %d in '%s'." % (end, text))
                    lit = text[i:k + 1]
                    if "." not in val:
                        raise bad_query("Unrecognized 'Edm.String' literal '%s' at '%d' in '%s'." % (lit, i, text))
                    toks.append(_Tok("enum", text[end + 1:k], i))
                    end = k + 1
                elif kind == "ident" and val in ("true", "false"):
                    toks.append(_Tok("bool", val == "true", i))
                elif kind == "ident" and val == "null":
                    toks.append(_Tok("null", None, i))
                elif kind == "ident" and val in _KEYWORDS:
                    toks.append(_Tok("kw", val, i))
                else:
                    toks.append(_Tok(kind, val, i))
                i = end
                break
        else:
            raise bad_query("Syntax error: character '%s' is not valid at position %d in '%s'." % (c, i, text))
    return toks


class _Parser:
    """Recursive-descent parser producing a small AST of tuples:
    ("or",a,b) ("and",a,b) ("not",a) ("cmp",op,l,r) ("func",name,[args]) ("prop",name)
    ("lit",edm_type,value)."""

    def __init__(self, text):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self):
        t = self.peek()
        if t is None:
            raise bad_query("Syntax error at position %d in '%s'." % (len(self.text), self.text))
        self.i += 1
        return t

    def parse(self):
        node = self.parse_or()
        if self.peek() is not None:
            t = self.peek()
            raise bad_query("Syntax error at position %d in '%s'." % (t.pos, self.text))
        return node

    def parse_or(self):
        node = self.parse_and()
        while self.peek() is not None and self.peek().kind == "kw" and self.peek().value == "or":
            self.take()
            node = ("or", node, self.parse_and())
        return node

    def parse_and(self):
        node = self.parse_not()
        while self.peek() is not None and self.peek().kind == "kw" and self.peek().value == "and":
            self.take()
            node = ("and", node, self.parse_not())
        return node

    def parse_not(self):
        t = self.peek()
        if t is not None and t.kind == "kw" and t.value == "not":
            self.take()
            return ("not", self.parse_not())
        return self.parse_cmp()

    def parse_cmp(self):
        left = self.parse_primary()
        t = self.peek()
        if t is not None and t.kind == "kw" and t.value in _CMP_OPS:
            self.take()
            right = self.parse_primary()
            return ("cmp", t.value, left, right)
        return left

    def parse_primary(self):
        t = self.take()
        if t.kind == "(":
            node = self.parse_or()
            c = self.take()
            if c.kind != ")":
                raise bad_query("')' or operator expected at position %d in '%s'." % (c.pos, self.text))
            return node
        if t.kind == "string":
            return ("lit", "Edm.String", t.value)
        if t.kind == "enum":
            return ("lit", "enum", t.value)
        if t.kind == "bool":
            return ("lit", "Edm.Boolean", t.value)
        if t.kind == "null":
            return ("lit", "null", None)
        if t.kind == "guid":
            return ("lit", "Edm.Guid", t.value.lower())
        if t.kind == "datetime":
            return ("lit", "Edm.DateTimeOffset", canon_datetime(t.value))
        if t.kind == "date":
            return ("lit", "Edm.Date", t.value)
        if t.kind == "number":
            v = t.value.rstrip("mMdDfFlL")
            if re.fullmatch(r"-?\d+", v):
                iv = int(v)
                return ("lit", "Edm.Int32" if -2**31 <= iv < 2**31 else "Edm.Int64", iv)
            return ("lit", "Edm.Decimal", Decimal(v))
        if t.kind == "ident":
            nxt = self.peek()
            if nxt is not None and nxt.kind == "(":
                self.take()
                args = []
                if self.peek() is not None and self.peek().kind == ")":
                    self.take()
                else:
                    while True:
                        args.append(self.parse_or())
                        c = self.take()
                        if c.kind == ")":
                            break
                        if c.kind != ",":
                            raise bad_query("')' or ',' expected at position %d in '%s'." % (c.pos, self.text))
                return ("func", t.value, args)
            return ("prop", t.value)
        raise bad_query("Syntax error at position %d in '%s'." % (t.pos, self.text))


def parse_filter(text):
    return _Parser(text).parse()


def key_bounds(text, pk):
    """Bounds that a $filter puts on the primary key ``pk``: ``(low, low_inclusive, high,
    high_inclusive)`` in guid_sort_key space (None = unbounded), from comparisons of ``pk``
    with a GUID literal ANDed at the top level; None when there are none.  Used only to narrow
    the rows a page scans: the whole filter is still applied to each of them."""
    try:
        ast = parse_filter(text)
    except ODataError:
        return None
    conj, todo = [], [ast]
    while todo:
        n = todo.pop()
        if n[0] == "and":
            todo += [n[1], n[2]]
        else:
            conj.append(n)
    lo = hi = None
    found = False
    for n in conj:
        if n[0] != "cmp":
            continue
        op, left, right = n[1], n[2], n[3]
        if right[0] == "prop" and left[0] == "lit":
            left, right = right, left
            op = {"gt": "lt", "lt": "gt", "ge": "le", "le": "ge"}.get(op, op)
        if left != ("prop", pk) or right[0] != "lit" or not is_guid(right[2]):
            continue
        k = guid_sort_key(right[2].lower())
        if op in ("gt", "ge", "eq"):
            b = (k, op != "gt")
            if lo is None or b[0] > lo[0] or (b[0] == lo[0] and not b[1]):
                lo = b
            found = True
        if op in ("lt", "le", "eq"):
            b = (k, op != "lt")
            if hi is None or b[0] < hi[0] or (b[0] == hi[0] and not b[1]):
                hi = b
            found = True
    if not found:
        return None
    return (lo[0] if lo else None, lo[1] if lo else True, hi[0] if hi else None, hi[1] if hi else True)


_NUMERIC = {"Edm.Int32", "Edm.Int64", "Edm.Decimal", "Edm.Double", "Edm.Byte", "Edm.Int16", "Edm.Single"}
_OPNAMES = {"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual",
            "lt": "LessThan", "le": "LessThanOrEqual"}


def _compatible(ptype, ltype):
    if ltype in ("null", "any") or ptype == "any":
        return True
    if ptype in _NUMERIC:
        return ltype in _NUMERIC
    if ptype == "Edm.String":
        return ltype in ("Edm.String", "enum")
    if ptype == "Edm.Guid":
        return ltype in ("Edm.Guid", "Edm.String")
    if ptype == "Edm.DateTimeOffset":
        return ltype in ("Edm.DateTimeOffset", "Edm.Date")
    if ptype == "Edm.Date":
        return ltype in ("Edm.Date", "Edm.DateTimeOffset")
    if ptype == "Edm.Boolean":
        return ltype == "Edm.Boolean"
    if ptype == "enum":
        return ltype in ("enum", "Edm.String")
    return ptype == ltype


def _norm_lit(ptype, ltype, v):
    """Normalise a literal to the comparison domain of a property type."""
    if v is None:
        return None
    if ptype == "Edm.String" or ptype == "enum" or (ptype == "any" and isinstance(v, str)
                                                      and ltype in ("Edm.String", "enum")):
        return v.casefold()
    if ptype == "Edm.Guid":
        if ltype == "Edm.String" and not is_guid(v):
            raise bad_query("Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).")
        return guid_sort_key(v.lower())  # gt/lt compare in uniqueidentifier order (ref 13)
    if ptype == "Edm.DateTimeOffset":
        return v + "T00:00:00Z" if ltype == "Edm.Date" else v
    if ptype == "Edm.Date":
        return v[:10]
    return v


def _norm_val(ptype, v):
    if v is None:
        return None
    if isinstance(v, str):
        if ptype == "Edm.Guid":
            return guid_sort_key(v.lower())
        if ptype in ("Edm.DateTimeOffset", "Edm.Date"):
            return v
        return v.casefold()
    if isinstance(v, bool):
        return v
    return v


def _like_regex(pattern, mode):
    """SQL LIKE semantics for contains/startswith/endswith: % _ [] are wildcards (ref 2.2)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:j]
                if body.startswith("^"):
                    body = "^" + body[1:].replace("\\", "\\\\")
                else:
                    body = body.replace("\\", "\\\\")
                out.append("[" + body + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    rx = "".join(out)
    if mode == "contains":
        rx = ".*" + rx + ".*"
    elif mode == "startswith":
        rx = rx + ".*"
    elif mode == "endswith":
        rx = ".*" + rx
    return re.compile(rx, re.IGNORECASE | re.DOTALL)


def compile_filter(text, resolve):
    """Compile a $filter expression.

    ``resolve(name)`` returns ``(getter, edm_type)`` for a property path or raises ODataError.
    Returns a predicate ``f(obj) -> bool`` using SQL three-valued logic (NULL comparisons are
    unknown and therefore excluded, as in the SQL that Dataverse runs)."""
    ast = parse_filter(text)

    def operand(node):
        kind = node[0]
        if kind == "prop":
            getter, ptype = resolve(node[1])
            return ("prop", getter, ptype)
        if kind == "lit":
            return ("lit", node[2], node[1])
        raise bad_query("The operand of a binary operator must be a property or a literal in '%s'." % text)

    def comp(node):
        kind = node[0]
        if kind == "or":
            a, b = comp(node[1]), comp(node[2])

            def f(o):
                x = a(o)
                if x is True:
                    return True
                y = b(o)
                if y is True:
                    return True
                if x is None or y is None:
                    return None
                return False
            return f
        if kind == "and":
            a, b = comp(node[1]), comp(node[2])

            def f(o):
                x = a(o)
                if x is False:
                    return False
                y = b(o)
                if y is False:
                    return False
                if x is None or y is None:
                    return None
                return True
            return f
        if kind == "not":
            a = comp(node[1])

            def f(o):
                x = a(o)
                return None if x is None else not x
            return f
        if kind == "cmp":
            return comp_cmp(node[1], node[2], node[3])
        if kind == "func":
            return comp_func(node[1], node[2])
        if kind == "prop":
            getter, ptype = resolve(node[1])
            if ptype not in ("Edm.Boolean", "any"):
                raise bad_query("The $filter expression must evaluate to a single boolean value.")
            return lambda o: getter(o)
        if kind == "lit" and node[1] == "Edm.Boolean":
            v = node[2]
            return lambda o: v
        raise bad_query("The $filter expression must evaluate to a single boolean value.")

    def comp_cmp(op, l, r):
        lo, ro = operand(l), operand(r)
        if lo[0] == "lit" and ro[0] == "prop":
            lo, ro = ro, lo
            op = {"gt": "lt", "lt": "gt", "ge": "le", "le": "ge"}.get(op, op)
        if lo[0] == "lit":
            lv, rv = lo[1], ro[1]
            res = _apply(op, lv, rv)
            return lambda o: res
        _, getter, ptype = lo
        if ro[0] == "prop":
            _, g2, t2 = ro

            def f(o):
                return _apply(op, _norm_val(ptype, getter(o)), _norm_val(t2, g2(o)))
            return f
        lit, ltype = ro[1], ro[2]
        if not _compatible(ptype, ltype):
            raise bad_query("A binary operator with incompatible types was detected. Found operand types "
                            "'%s' and '%s' for operator kind '%s'." % (ptype, ltype, _OPNAMES[op]))
        if ltype == "null" and op not in ("eq", "ne"):
            return lambda o: None
        lv = _norm_lit(ptype, ltype, lit)
        if lv is None:
            if op == "eq":
                return lambda o: getter(o) is None
            return lambda o: getter(o) is not None

        def f(o):
            return _apply(op, _norm_val(ptype, getter(o)), lv)
        return f

    def comp_func(name, args):
        lname = name
        if lname in ("contains", "startswith", "endswith"):
            if len(args) != 2 or args[0][0] != "prop" or args[1][0] != "lit" or args[1][1] != "Edm.String":
                raise bad_query("The '%s' function requires a property and a string literal." % name)
            getter, ptype = resolve(args[0][1])
            if ptype not in ("Edm.String", "any"):
                raise bad_query("No function signature for the function with name '%s' matches the specified "
                                "arguments. The function signatures considered are: %s(Edm.String Nullable=true, "
                                "Edm.String Nullable=true)." % (name, name))
            rx = _like_regex(args[1][2], lname)

            def f(o):
                v = getter(o)
                if v is None:
                    return None
                return rx.fullmatch(v) is not None
            return f
        raise bad_query("An unknown function with name '%s' was found. This may also be a function import or "
                        "a key lookup on a navigation property, which is not allowed." % name)

    return comp(ast)


def _apply(op, a, b):
    if a is None or b is None:
        return None  # SQL: comparisons with NULL are unknown ("eq null" is compiled separately)
    try:
        if op == "eq":
            return a == b
        if op == "ne":
            return a != b
        if op == "gt":
            return a > b
        if op == "ge":
            return a >= b
        if op == "lt":
            return a < b
        if op == "le":
            return a <= b
    except TypeError:
        return None
    return None


# --------------------------------------------------------------------------------------------
# Sorting


class Rev:
    """Wrap a sort key to reverse its order (for "desc")."""
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v

    def __lt__(self, other):
        return other.v < self.v

    def __gt__(self, other):
        return other.v > self.v

    def __eq__(self, other):
        return self.v == other.v

    def __le__(self, other):
        return other.v <= self.v

    def __ge__(self, other):
        return other.v >= self.v


def sort_value(v, edm=None):
    """Sort key element: NULL first (SQL Server ascending), strings case-insensitive, GUIDs in
    uniqueidentifier order (``edm`` = "Edm.Guid")."""
    if v is None:
        return (0,)
    if edm == "Edm.Guid" and isinstance(v, str):
        return (1, guid_sort_key(v.lower()))
    if isinstance(v, str):
        return (1, v.casefold())
    if isinstance(v, bool):
        return (1, int(v))
    return (1, v)


# --------------------------------------------------------------------------------------------
# Paging cookie (ref 2.3)
#
#   $skiptoken=<cookie pagenumber="2" pagingcookie="%3ccookie%20page%3d%221%22%3e%3caccountid
#   %20last%3d%22%7bGUID%7d%22%20first%3d%22%7bGUID%7d%22%20%2f%3e%3c%2fcookie%3e"
#   istracking="False" />     (the whole value URL-encoded once more in the link)


def _xml_attr(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
             .replace('"', "&quot;"))


def _xml_unattr(s):
    return (s.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
             .replace("&apos;", "'").replace("&amp;", "&"))


def _dotnet_urlencode(s):
    """HttpUtility.UrlEncode style used inside the cookie: lower-case hex escapes."""
    q = urllib.parse.quote(s, safe="")
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), q)


def brace_guid(g):
    return "{" + g.upper() + "}"


def make_skiptoken(pagenumber, columns, extra_attrs=None, istracking=False):
    """Build the (decoded) $skiptoken value.

    ``columns`` is a list of (attribute name, last value string, first value string); the
    primary key column must be last.  ``extra_attrs`` are extra attributes on the inner cookie
    element (the emulator keeps its change-tracking snapshot version there; the cookie is
    opaque to clients, ref 2.3)."""
    inner = '<cookie page="%d"' % (pagenumber - 1)
    for k, v in (extra_attrs or {}).items():
        inner += ' %s="%s"' % (k, _xml_attr(str(v)))
    inner += ">"
    for name, last, first in columns:
        inner += '<%s last="%s" first="%s" />' % (name, _xml_attr(last), _xml_attr(first))
    inner += "</cookie>"
    return '<cookie pagenumber="%d" pagingcookie="%s" istracking="%s" />' % (
        pagenumber, _dotnet_urlencode(inner), "True" if istracking else "False")


def encode_skiptoken(token):
    """URL-encode a skiptoken value for the nextLink query string (upper-case hex, '=' and '/' kept)."""
    return urllib.parse.quote(token, safe="=/")


_OUTER_RE = re.compile(r'^\s*<cookie\s+pagenumber="(\d+)"\s+pagingcookie="([^"]*)"(?:\s+istracking="(\w+)")?\s*/>\s*$')
_INNER_RE = re.compile(r'^<cookie page="(\d+)"([^>]*)>(.*)</cookie>$', re.S)
_ATTR_RE = re.compile(r'(\w+)="([^"]*)"')
_COL_RE = re.compile(r'<(\w+) last="([^"]*)" first="([^"]*)" />')


def parse_skiptoken(token):
    """Parse a decoded $skiptoken.  Returns dict(pagenumber, columns=[(name,last,first)],
    attrs={...}, istracking) or raises ODataError."""
    m = _OUTER_RE.match(token)
    if not m:
        raise bad_query("The skip token '%s' is not valid." % token[:200])
    inner = urllib.parse.unquote(m.group(2))
    mi = _INNER_RE.match(inner)
    if not mi:
        raise bad_query("The paging cookie is not valid.")
    attrs = {k: _xml_unattr(v) for k, v in _ATTR_RE.findall(mi.group(2))}
    cols = [(n, _xml_unattr(l), _xml_unattr(f)) for n, l, f in _COL_RE.findall(mi.group(3))]
    return {"pagenumber": int(m.group(1)), "columns": cols, "attrs": attrs,
            "istracking": (m.group(3) or "False") == "True"}


def strip_query_option(raw_qs, names):
    """Remove options named in ``names`` from a raw query string, keeping the rest verbatim."""
    keep = []
    for part in raw_qs.split("&") if raw_qs else []:
        if not part:
            continue
        key = urllib.parse.unquote_plus(part.split("=", 1)[0])
        if key in names:
            continue
        keep.append(part)
    return "&".join(keep)


def to_decimal(v):
    try:
        return Decimal(v)
    except (InvalidOperation, TypeError, ValueError):
        return None
