"""Dataverse Web API (``/<org>/api/data/v9.2/...``): service document, WhoAmI, metadata,
record reads (collections with $select/$filter/$orderby/$top/$count, paging cookies, change
tracking), writes (create, update, upsert, delete) with validation.

Reference (ref = dataverse-protocol.md) sections are cited on each function.  HTTP plumbing,
authentication and service protection live in dvemu.py/control.py; $batch in batch.py, which
calls ``handle()`` for every part.
"""

import bisect
import json
import re
import time
import urllib.parse
import uuid
from decimal import Decimal, ROUND_HALF_EVEN, InvalidOperation

import metadata as md
import odata
from odata import ODataError, bad_query, dumps
from sampledata import create_defaults
from store import DEC4, now_utc

_encode_str = json.encoder.encode_basestring   # JSON string literal, non-ASCII kept (ensure_ascii=False)

JSON_CT = "application/json; odata.metadata=minimal"
MAX_PAGE = 5000


class Call:
    """One Web API request (top-level or a $batch part)."""

    def __init__(self, org, method, path, raw_query, headers, body, api_root, principal=None,
                 settings=None, in_batch=False, content_ids=None, full_url=None, capacity=None):
        self.org = org
        self.cat = org.catalog
        self.method = method
        self.path = path                  # decoded, relative to the service root, no leading "/"
        self.raw_query = raw_query or ""
        self.query = odata.parse_query(self.raw_query)
        self.headers = headers            # lower-case name -> value
        self.body = body or b""
        self.api = api_root               # absolute service root URL ending with "/"
        self.principal = principal or {}
        self.settings = settings
        self.in_batch = in_batch
        self.content_ids = content_ids if content_ids is not None else {}
        self.full_url = full_url or (api_root + path + ("?" + raw_query if raw_query else ""))
        self.prefer = parse_prefer(headers.get("prefer", ""))
        self.user_id = org.user_for_principal(self.principal)
        self.kind = "other"
        self.op = None         # finer kind for stats: list_first/list_next/delta_first/delta_next/count
        self.records = 0       # rows returned (list, delta, get)
        self.cost_s = 0.0      # modelled server time slept for the rows (sleep_cost)
        self.capacity = capacity  # control.Capacity shared by the org's requests, or None

    def opt(self, name):
        for k, v in self.query:
            if k == name:
                return v
        return None


class Response:
    def __init__(self, status, headers=None, body=b"", kind=None):
        self.status = status
        self.headers = headers or []
        self.body = body
        self.kind = kind


def parse_prefer(value):
    """``Prefer`` may carry several comma-joined preferences (ref 9)."""
    prefs = {}
    for m in re.finditer(r'\s*([\w.\-]+)(?:\s*=\s*("[^"]*"|[^,]*))?\s*(?:,|$)', value):
        if not m.group(1):
            continue
        v = m.group(2)
        if v is not None:
            v = v.strip()
            if v.startswith('"') and v.endswith('"'):
                v = v[1:-1]
        prefs[m.group(1).lower()] = v
    return prefs


def json_response(status, obj, headers=None):
    return Response(status, [("Content-Type", JSON_CT)] + (headers or []), dumps(obj))


def error_response(e):
    body = {"error": {"code": e.code, "message": e.message}}
    return Response(e.status, [("Content-Type", JSON_CT)] + list(e.headers), dumps(body))


def not_found_segment(seg):
    """Unknown entity set / segment (ref 2.2): 404 "Resource not found for the segment 'X'."."""
    return ODataError(404, "0x80060888", "Resource not found for the segment '%s'." % seg)


def does_not_exist(ent, rid):
    return ODataError(404, "0x80040217", "%s With Id = %s Does Not Exist" % (ent.logical, rid))


def etag_of(rec):
    return 'W/"%d"' % rec["versionnumber"]


# ================================================================================================
# Dispatch

_SEG_RE = re.compile(r"^([A-Za-z_$][A-Za-z0-9_.$]*)(?:\((.*?)\))?(?:/(.*))?$", re.S)


def classify(method, path):
    """Request kind for /_emulator/stats (see README)."""
    p = path.split("?", 1)[0]
    head = p.split("/", 1)[0].split("(", 1)[0]
    if p in ("", "$metadata") or head in ("EntityDefinitions", "RelationshipDefinitions",
                                          "GlobalOptionSetDefinitions", "$metadata"):
        return "metadata"
    if head == "$batch":
        return "batch"
    if head in ("WhoAmI",):
        return "other"
    m = _SEG_RE.match(p)
    if not m:
        return "other"
    keyed = m.group(2) is not None
    if method == "GET":
        return "get" if keyed else "list"
    if method == "POST" and not keyed:
        return "create"
    if method in ("PATCH", "PUT") and keyed:
        return "update"
    if method == "DELETE":
        return "delete"
    return "other"


def op_of(kind, path, raw_query):
    """The stats op (control.OPS) of a request, known before it is handled (for the ones that
    fail early: 401, 429, faults); handlers refine it in ``Call.op``."""
    if kind != "list":
        return None
    if path.split("?", 1)[0].endswith("/$count"):
        return "count"
    keys = {k for k, _ in odata.parse_query(raw_query)}
    nxt = "$skiptoken" in keys
    if "$deltatoken" in keys:
        return "delta_next" if nxt else "delta_first"
    return "list_next" if nxt else "list_first"


def handle(call):
    """Route a Web API call; always returns a Response (errors rendered per ref 5.1)."""
    try:
        return _route(call)
    except ODataError as e:
        return error_response(e)


def _route(call):
    path = call.path
    if path in ("", "/"):
        call.kind = "metadata"
        if call.method != "GET":
            raise _no_resource(call)
        return service_document(call)
    if path == "$metadata":
        call.kind = "metadata"
        return csdl(call)
    if path == "$batch":
        import batch
        return batch.handle(call)
    if path in ("WhoAmI", "WhoAmI()"):
        call.kind = "other"
        if call.method != "GET":
            raise _no_resource(call)
        return whoami(call)
    head = path.split("/", 1)[0].split("(", 1)[0]
    if head in ("EntityDefinitions", "RelationshipDefinitions", "GlobalOptionSetDefinitions"):
        call.kind = "metadata"
        if call.method != "GET":
            raise ODataError(405, "0x80060888", "The requested resource does not support http method '%s'."
                             % call.method)
        import metaapi
        return metaapi.handle(call)
    m = _SEG_RE.match(path)
    if not m:
        raise not_found_segment(path)
    set_name, key, rest = m.group(1), m.group(2), m.group(3)
    ent = call.cat.by_set.get(set_name)
    if ent is None:
        raise not_found_segment(set_name)
    if key is None:
        if rest in ("Microsoft.Dynamics.CRM.CreateMultiple", "Microsoft.Dynamics.CRM.UpdateMultiple"):
            call.kind = "create" if rest.endswith("CreateMultiple") else "update"
            if call.method != "POST":
                raise ODataError(405, "0x80060888", "The requested resource does not support http method '%s'."
                                 % call.method)
            return multiple(call, ent, rest.rsplit(".", 1)[1])
        if rest == "$count":
            call.kind = "list"
            return count_records(call, ent)
        if rest:
            raise not_found_segment(rest.split("/")[0])
        if call.method == "GET":
            call.kind = "list"
            return list_records(call, ent)
        if call.method == "POST":
            call.kind = "create"
            return create_record(call, ent)
        raise ODataError(405, "0x80060888", "The requested resource does not support http method '%s'." % call.method)
    rid = parse_key(ent, key)
    if rest:
        return property_request(call, ent, rid, rest)
    if call.method == "GET":
        call.kind = "get"
        return get_record(call, ent, rid)
    if call.method == "PATCH":
        call.kind = "update" if "if-match" in call.headers else "upsert"
        return patch_record(call, ent, rid)
    if call.method == "DELETE":
        call.kind = "delete"
        return delete_record(call, ent, rid)
    raise ODataError(405, "0x80060888", "The requested resource does not support http method '%s'." % call.method)


def _no_resource(call):
    """WhoAmI is a function: POST gives 404 with code "" (ref 1.4)."""
    return ODataError(404, "", "No HTTP resource was found that matches the request URI '%s'." % call.full_url)


def parse_key(ent, key):
    k = key.strip()
    if odata.is_guid(k):
        return k.lower()
    if "=" in k:
        name = k.split("=", 1)[0].strip()
        if name == ent.pk:
            v = k.split("=", 1)[1].strip()
            if odata.is_guid(v):
                return v.lower()
        raise ODataError(400, "0x80060888",
                         "The key '%s' is not defined as an alternate key for entity '%s'." % (name, ent.logical))
    raise bad_query("Bad Request - Error in query syntax.")


# ================================================================================================
# Service document, WhoAmI, CSDL (ref 1.2-1.4)


def service_document(call):
    sets = sorted(e.set_name for e in call.cat.entities.values())
    return json_response(200, {"@odata.context": call.api + "$metadata",
                               "value": [{"name": s, "kind": "EntitySet", "url": s} for s in sets]})


def whoami(call):
    org = call.org
    return json_response(200, {"@odata.context": call.api + "$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                               "BusinessUnitId": org.businessunit_id, "UserId": call.user_id,
                               "OrganizationId": org.organization_id})


_CSDL_CACHE = {}


def csdl(call):
    """A small CSDL document for the emulated tables (ref 1.3)."""
    cat = call.cat
    if id(cat) not in _CSDL_CACHE:
        out = ['<?xml version="1.0" encoding="utf-8"?>',
               '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">',
               '<edmx:DataServices><Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" '
               'xmlns="http://docs.oasis-open.org/odata/ns/edm">']
        for e in sorted(cat.entities.values(), key=lambda x: x.logical):
            out.append('<EntityType Name="%s"><Key><PropertyRef Name="%s" /></Key>' % (e.logical, e.pk))
            for prop, a in e.read_props:
                out.append('<Property Name="%s" Type="%s" />' % (prop, a.edm))
            for nav in sorted(e.navs.values(), key=lambda n: n.name):
                tgt = nav.targets[0] if len(nav.targets) == 1 else "principal"
                out.append('<NavigationProperty Name="%s" Type="mscrm.%s" Nullable="false" '
                           'Partner="%s"><ReferentialConstraint Property="%s" ReferencedProperty="%s" />'
                           '</NavigationProperty>' % (nav.name, tgt, nav.name, nav.attr.prop,
                                                      (cat.get(tgt).pk if cat.get(tgt) else "ownerid")))
            out.append("</EntityType>")
        out.append('<ComplexType Name="WhoAmIResponse"><Property Name="BusinessUnitId" Type="Edm.Guid" '
                   'Nullable="false" /><Property Name="UserId" Type="Edm.Guid" Nullable="false" />'
                   '<Property Name="OrganizationId" Type="Edm.Guid" Nullable="false" /></ComplexType>')
        out.append('<Function Name="WhoAmI"><ReturnType Type="mscrm.WhoAmIResponse" Nullable="false" /></Function>')
        out.append('<EntityContainer Name="System">')
        for e in sorted(cat.entities.values(), key=lambda x: x.set_name):
            out.append('<EntitySet Name="%s" EntityType="Microsoft.Dynamics.CRM.%s" />' % (e.set_name, e.logical))
        out.append('<FunctionImport Name="WhoAmI" Function="Microsoft.Dynamics.CRM.WhoAmI" />')
        out.append("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>")
        _CSDL_CACHE[id(cat)] = "".join(out).encode()
    return Response(200, [("Content-Type", "application/xml")], _CSDL_CACHE[id(cat)])


# ================================================================================================
# Rendering records (ref 2.1, 2.5, 11)

_ALLOWED_OPTIONS = {"$select", "$filter", "$orderby", "$top", "$count", "$skiptoken", "$expand", "$deltatoken",
                    "$format"}


def check_options(call):
    for k, _ in call.query:
        if k == "$skip":
            raise bad_query("Skip Clause is not supported in CRM")
        if k.startswith("$") and k not in _ALLOWED_OPTIONS:
            raise bad_query("The query parameter '%s' is not supported." % k)


def unknown_property(ent, name):
    return ODataError(400, "0x80060888", "Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'."
                      % (name, ent.logical))


def parse_select(call, ent):
    """$select -> (list of (prop, attr) to render, list of names for @odata.context) (ref 2.1, 2.2)."""
    sel = call.opt("$select")
    if sel is None or sel.strip() in ("", "*"):
        return None, None
    names = odata.split_list(sel)
    out, seen = [], set()
    for n in names:
        a = ent.props.get(n)
        if a is None:
            raise unknown_property(ent, n)
        if n not in seen:
            out.append((n, a))
            seen.add(n)
    extras = []
    if any(a.kind == "Money" for _, a in out) and "_transactioncurrencyid_value" in ent.props:
        extras.append("_transactioncurrencyid_value")
    for n, a in list(out):
        m = re.match(r"(address\d)_(?!composite)", n)
        if m and m.group(1) in ent.composites:
            extras.append(ent.composites[m.group(1)].prop)
    extras.append(ent.pk)
    for n in extras:
        if n not in seen:
            out.append((n, ent.props[n]))
            seen.add(n)
    return out, names


def parse_expand(call, ent):
    """$expand of single-valued navigation properties, optionally with a nested $select.
    Collection-valued navigation properties are not emulated (see README)."""
    exp = call.opt("$expand")
    if not exp:
        return []
    out = []
    for part in odata.split_list(exp):
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\))?$", part.strip(), re.S)
        if not m:
            raise bad_query("Syntax error in $expand '%s'." % exp)
        nav = ent.navs.get(m.group(1))
        if nav is None:
            raise unknown_property(ent, m.group(1))
        sel = None
        if m.group(2):
            for opt in m.group(2).split(";"):
                k, _, v = opt.partition("=")
                if k.strip() != "$select":
                    raise bad_query("The emulator supports only $select inside $expand ('%s')." % part)
                sel = odata.split_list(v)
        out.append((nav, sel))
    return out


def render_expanded(call, ent, rec, expand, want):
    """Add the expanded related records (or null) after the record's own properties."""
    out = {}
    for nav, sel in expand:
        rid = rec.get(nav.attr.prop)
        tgt = lookup_target(ent, nav.attr, rec) if rid else None
        if tgt is not None and nav.attr.kind != "Owner" and len(nav.targets) == 1 and tgt != nav.targets[0]:
            tgt = None  # e.g. parentcustomerid_account when the customer is a contact
        te = call.cat.get(tgt) if tgt else None
        trec = call.org.get(te.logical, rid) if te is not None else None
        if trec is None:
            out[nav.name] = None
            continue
        props = None
        if sel:
            props = []
            for n in sel:
                a = te.props.get(n)
                if a is None:
                    raise unknown_property(te, n)
                props.append((n, a))
            if te.pk not in sel:
                props.append((te.pk, te.props[te.pk]))
        out[nav.name] = render(call, te, trec, props, want)
    return out


def annotation_filter(call):
    """Which annotation terms were requested with odata.include-annotations (ref 2.5)."""
    v = call.prefer.get("odata.include-annotations")
    if v is None:
        return None
    pats = [p.strip() for p in v.split(",") if p.strip()]

    def want(term):
        for p in pats:
            if p == "*" or p == term or (p.endswith("*") and term.startswith(p[:-1])):
                return True
        return False
    return want


_FV = "OData.Community.Display.V1.FormattedValue"


def _fmt_number(v, places):
    q = Decimal(v).quantize(Decimal(1).scaleb(-places)) if places else Decimal(v).quantize(Decimal(1))
    return "{:,}".format(q)


def formatted(org, ent, attr, v, rec):
    """FormattedValue annotation text (user locale en-US, time zone UTC)."""
    k = attr.kind
    try:
        if k in ("Picklist", "State", "Status"):
            for o in attr.options:
                if o["Value"] == v:
                    return o["Label"]
            return None
        if k == "MultiSelect":
            labels = {o["Value"]: o["Label"] for o in attr.options}
            return "; ".join(labels.get(int(x), x) for x in str(v).split(","))
        if k == "Boolean":
            for o in attr.options or []:
                if o["Value"] == int(bool(v)):
                    return o["Label"]
            return "Yes" if v else "No"
        if k == "Money":
            return ("-" if v < 0 else "") + "$" + _fmt_number(abs(v), 2)
        if k in ("Integer", "BigInt"):
            return "{:,}".format(v)
        if k in ("Decimal", "Double"):
            return _fmt_number(v, attr.precision or 2)
        if k == "DateTime":
            d = odata.parse_datetime(v)
            if attr.edm == "Edm.Date" or attr.format == "DateOnly":
                return "%d/%d/%d" % (d.month, d.day, d.year)
            h = d.hour % 12 or 12
            return "%d/%d/%d %d:%02d %s" % (d.month, d.day, d.year, h, d.minute, "AM" if d.hour < 12 else "PM")
        if k in md.LOOKUP_KINDS:
            tgt = lookup_target(ent, attr, rec)
            te = org.catalog.get(tgt)
            if te is None:
                return None
            r = org.get(tgt, v)
            return r.get(te.primary_name) if r else None
    except (ValueError, TypeError, InvalidOperation):
        return None
    return None


def lookup_target(ent, attr, rec):
    t = rec.get("@lk:" + attr.logical)
    if t:
        return t
    if attr.kind == "Owner":
        return "systemuser"
    return attr.targets[0] if attr.targets else None


def render(call, ent, rec, props=None, want=None):
    """Render one record as an ordered dict (etag first, nulls explicit, ref 2.1)."""
    d = {"@odata.etag": etag_of(rec)}
    org = call.org
    for prop, a in (props if props is not None else ent.read_props):
        v = rec.get(prop)
        if want is not None and v is not None:
            if a.is_lookup:
                fv = formatted(org, ent, a, v, rec)
                if fv is not None and want(_FV):
                    d[prop + "@" + _FV] = fv
                tgt = lookup_target(ent, a, rec)
                if want("Microsoft.Dynamics.CRM.associatednavigationproperty"):
                    nav = a.logical
                    if len(a.targets) > 1 and a.kind != "Owner":
                        nav = "%s_%s" % (a.logical, tgt)
                    d[prop + "@Microsoft.Dynamics.CRM.associatednavigationproperty"] = nav
                if want("Microsoft.Dynamics.CRM.lookuplogicalname"):
                    d[prop + "@Microsoft.Dynamics.CRM.lookuplogicalname"] = tgt
            elif a.kind not in ("String", "Memo", "Uniqueidentifier", "EntityName", "Image") and want(_FV):
                fv = formatted(org, ent, a, v, rec)
                if fv is not None:
                    d[prop + "@" + _FV] = fv
        d[prop] = v
    return d


def context_for(call, ent, names, suffix=""):
    sel = "(%s)" % ",".join(names) if names else ""
    return "%s$metadata#%s%s%s" % (call.api, ent.set_name, sel, suffix)


def row_cost_us(settings, width):
    """Modelled server time of one returned row, in microseconds (README "Cost model"):
    ``record_cost_us + column_cost_us * width``, ``width`` = number of columns rendered."""
    return float(settings.get("record_cost_us") or 0) + float(settings.get("column_cost_us") or 0) * width


def sleep_cost(call, n, width=1):
    """Per-record cost (--record-cost-us, --column-cost-us / faults.record_cost_us,
    faults.column_cost_us): ``n`` rows of ``width`` columns each."""
    call.records += n
    if call.settings is None or n <= 0:
        return
    cost = n * row_cost_us(call.settings, width) / 1e6
    if cost > 0:
        call.cost_s += cost
        if call.capacity is not None:
            call.capacity.work(call.org.name, cost)
        else:
            time.sleep(cost)


def json_pieces(props):
    """Per-column pieces of a projection for row_json: (prop, ',"prop":null', ',"prop":')."""
    return [(p, ',"%s":null' % p, ',"%s":' % p) for p, _ in props]


def row_json(rec, pieces):
    """One row of a projection (``@odata.etag`` first, then the columns of ``pieces`` in order,
    explicit nulls) as compact JSON bytes: the same bytes as ``dumps(render(...))`` without
    annotations, built from pieces (about twice as fast as encoding a dict)."""
    out = ['{"@odata.etag":"W/\\"%d\\""' % rec["versionnumber"]]
    add = out.append
    get = rec.get
    for name, null, key in pieces:
        v = get(name)
        if v is None:
            add(null)
            continue
        t = type(v)
        if t is str:
            add(key + _encode_str(v))
        elif t is int:
            add(key + int.__repr__(v))
        elif t is bool:
            add(key + ("true" if v else "false"))
        elif t is Decimal:
            add(key + format(v, "f"))
        elif t is float:
            add(key + float.__repr__(v))
        else:
            add(key + dumps(v).decode("utf-8"))
    add("}")
    return "".join(out).encode("utf-8")


def full_json(ent, rec):
    """A record's full projection (every readable column) as JSON bytes.  The org keeps this
    per stored record (``Org.full_json``) so a full page is mostly a join."""
    pieces = getattr(ent, "_json_pieces", None)
    if pieces is None:
        pieces = ent._json_pieces = json_pieces(ent.read_props)
    return row_json(rec, pieces)


def _json_str(s):
    return json.dumps(s, ensure_ascii=False).encode("utf-8")


def collection_body(head, value, tail=None):
    """``{head..., "value": [...], tail...}`` from dicts ``head``/``tail`` and ``value``: the
    JSON bytes of the array, or a list of JSON bytes of its items (pre-rendered records)."""
    if isinstance(value, list):
        value = b"[" + b",".join(value) + b"]"
    out = [dumps(head)[:-1], b',"value":', value]
    out.append(b"," + dumps(tail)[1:] if tail else b"}")
    return b"".join(out)


# ================================================================================================
# Collections (ref 2.2-2.4, 7)


def _resolver(ent):
    def resolve(name):
        a = ent.props.get(name)
        if a is None:
            if "/" in name:
                raise bad_query("The emulator does not support navigation paths in $filter ('%s')." % name)
            raise unknown_property(ent, name)
        prop = name
        return (lambda rec: rec.get(prop)), a.edm
    return resolve


def _sort_key_fn(ent, orderby):
    cols = []
    for name, desc in orderby:
        cols.append((name, desc, ent.props[name].edm))
    pk = ent.pk

    def key(rec):
        parts = []
        for name, desc, edm in cols:
            sv = odata.sort_value(rec.get(name), edm)
            parts.append(odata.Rev(sv) if desc else sv)
        parts.append(odata.guid_sort_key(rec[pk]))
        return tuple(parts)
    return key


def _cookie_value(a, v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if a.edm == "Edm.Guid":
        return odata.brace_guid(v)
    if isinstance(v, Decimal):
        return format(v, "f")
    return str(v)


def _from_cookie(a, s):
    if s == "":
        return None
    try:
        k = a.kind
        if a.edm == "Edm.Guid":
            return s.strip("{}").lower()
        if k in ("Integer", "BigInt", "Picklist", "State", "Status"):
            return int(s)
        if k in ("Money", "Decimal"):
            return Decimal(s)
        if k == "Double":
            return float(s)
        if k == "Boolean":
            return s in ("1", "true", "True")
        return s
    except (ValueError, InvalidOperation):
        raise bad_query("The paging cookie is not valid.")


def _page_size(call):
    v = call.prefer.get("odata.maxpagesize")
    if v is None:
        return None
    try:
        n = int(v)
    except ValueError:
        return None
    if n <= 0:
        return None
    return min(n, MAX_PAGE)


def list_records(call, ent):
    check_options(call)
    org = call.org
    tracking = "odata.track-changes" in call.prefer
    if call.opt("$deltatoken") is not None:
        return delta_records(call, ent)
    if tracking:
        if not ent.change_tracking:
            raise ODataError(400, "0x80040203", "Change tracking is not enabled for entity '%s'." % ent.logical)
        for o in ("$filter", "$orderby", "$expand", "$top"):
            if call.opt(o) is not None:
                raise ODataError(400, "0x80060888",
                                 'The "%s" query parameter isn\'t supported when Change Tracking is enabled.' % o)
    props, names = parse_select(call, ent)
    flt = call.opt("$filter")
    pred = odata.compile_filter(flt, _resolver(ent)) if flt else None
    orderby = odata.parse_orderby(call.opt("$orderby") or "")
    for name, _ in orderby:
        if name not in ent.props:
            raise unknown_property(ent, name)
    top = call.opt("$top")
    if top is not None:
        try:
            top = int(top)
            if top < 0:
                raise ValueError
        except ValueError:
            raise bad_query("Invalid value '%s' for $top query option found. The $top query option requires a "
                            "non-negative integer value." % call.opt("$top"))
    count = (call.opt("$count") or "").lower() == "true"
    maxpage = _page_size(call)
    expand = parse_expand(call, ent)
    headers = []
    applied = []
    with org.lock:
        snapshot_version = org.version

    if maxpage is not None:
        size = maxpage
        applied.append("odata.maxpagesize=%d" % maxpage)
        top_limited = False
    elif top is not None:
        size = min(top, MAX_PAGE)
        top_limited = True
    else:
        size = MAX_PAGE
        top_limited = False

    page_no = 1
    track_version = snapshot_version
    keyfn = _sort_key_fn(ent, orderby)
    lastkey = None
    tok = call.opt("$skiptoken")
    call.op = "list_next" if tok else "list_first"
    if tok:
        c = odata.parse_skiptoken(tok)
        page_no = c["pagenumber"]
        if "trackingversion" in c["attrs"]:
            track_version = int(c["attrs"]["trackingversion"])
        cols = c["columns"]
        expect = [n for n, _ in orderby] + [ent.pk]
        if [n for n, _, _ in cols] != expect:
            raise bad_query("The paging cookie does not match the query.")
        fake = {}
        for (name, last, _first) in cols:
            fake[name] = _from_cookie(ent.props[name], last)
        if fake.get(ent.pk) is None:
            raise bad_query("The paging cookie is not valid.")
        lastkey = keyfn(fake)

    total = None
    if orderby:
        # general case: sort the (filtered) table by the $orderby keys, then the primary key
        with org.lock:
            rows = list(org.tables[ent.logical].values())
        if pred is not None:
            rows = [r for r in rows if pred(r) is True]
        total = len(rows)
        rows.sort(key=keyfn)
        if lastkey is not None:
            keys = [keyfn(r) for r in rows]
            rows = rows[bisect.bisect_right(keys, lastkey):]
        page = rows[:size]
        more = len(rows) > size and not top_limited
    else:
        # primary-key order: walk the table's uniqueidentifier index from the cookie (and from
        # the bounds a $filter puts on the key), so a page costs O(page), not O(table)
        keys, ids = org.sorted_ids(ent.logical)
        lo, hi = 0, len(keys)
        bounds = odata.key_bounds(flt, ent.pk) if flt else None
        if bounds is not None:
            lkey, linc, hkey, hinc = bounds
            if lkey is not None:
                lo = (bisect.bisect_left if linc else bisect.bisect_right)(keys, lkey)
            if hkey is not None:
                hi = (bisect.bisect_right if hinc else bisect.bisect_left)(keys, hkey)
        if lastkey is not None:
            lo = max(lo, bisect.bisect_right(keys, lastkey[0]))
        table = org.tables[ent.logical]
        want_n = size if top_limited else size + 1
        page = []
        i = lo
        while i < hi and len(page) < want_n:
            r = table.get(ids[i])
            i += 1
            if r is not None and (pred is None or pred(r) is True):
                page.append(r)
        more = len(page) > size
        del page[size:]
        if count:
            rows = list(table.values())
            total = len(rows) if pred is None else sum(1 for r in rows if pred(r) is True)
    width = len(props) if props is not None else len(ent.read_props)
    sleep_cost(call, len(page), width)

    want = annotation_filter(call)
    if want is not None:
        applied.append('odata.include-annotations="%s"' % call.prefer.get("odata.include-annotations"))
    if tracking:
        applied.append("odata.track-changes")
    head = {"@odata.context": context_for(call, ent, names)}
    if count:
        head["@odata.count"] = min(total, MAX_PAGE)
    if count or (want is not None and want("Microsoft.Dynamics.CRM.totalrecordcount")):
        head["@Microsoft.Dynamics.CRM.totalrecordcount"] = min(total, MAX_PAGE) if count else -1
        head["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = total > MAX_PAGE if count else False
    if expand:
        value = []
        for r in page:
            d = render(call, ent, r, props, want)
            d.update(render_expanded(call, ent, r, expand, want))
            value.append(d)
        value = dumps(value)
    elif props is None and want is None:
        value = [org.full_json(ent, r) for r in page]     # pre-rendered (Org.full_json)
    elif want is None:
        pieces = json_pieces(props)
        value = [row_json(r, pieces) for r in page]
    else:
        value = dumps([render(call, ent, r, props, want) for r in page])
    tail = {}
    if more:
        cols = []
        for name, _ in orderby:
            a = ent.props[name]
            cols.append((name, _cookie_value(a, page[-1].get(name)), _cookie_value(a, page[0].get(name))))
        cols.append((ent.pk, odata.brace_guid(page[-1][ent.pk]), odata.brace_guid(page[0][ent.pk])))
        extra = {"trackingversion": track_version} if tracking else None
        token = odata.make_skiptoken(page_no + 1, cols, extra)
        qs = odata.strip_query_option(call.raw_query, {"$skiptoken"})
        qs = (qs + "&" if qs else "") + "$skiptoken=" + odata.encode_skiptoken(token)
        tail["@odata.nextLink"] = "%s%s?%s" % (call.api, ent.set_name, qs)
    elif tracking:
        tail["@odata.deltaLink"] = _delta_link(call, ent, track_version)
    if applied:
        headers.append(("Preference-Applied", ",".join(applied)))
    return Response(200, [("Content-Type", JSON_CT)] + headers, collection_body(head, value, tail))


def _delta_link(call, ent, version):
    """deltaLink with ``$deltatoken=<version>!<MM/dd/yyyy HH:mm:ss>`` (ref 7)."""
    stamp = now_utc().strftime("%m/%d/%Y %H:%M:%S")
    token = odata._dotnet_urlencode("%d!%s" % (version, stamp))
    qs = odata.strip_query_option(call.raw_query, {"$skiptoken", "$deltatoken"})
    return "%s%s?%s$deltatoken=%s" % (call.api, ent.set_name, (qs + "&") if qs else "", token)


def _expired_token():
    return ODataError(400, "0x80044352", "Version stamp associated with the client has expired. "
                                         "Please perform a full sync.")


def parse_delta_token(org, tok):
    m = re.fullmatch(r"(\d+)!(\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2})", tok.strip())
    if not m:
        raise _expired_token()
    v = int(m.group(1))
    if v < org.min_track_version or v > org.version:
        raise _expired_token()
    return v


def delta_records(call, ent):
    """GET of a deltaLink: changed rows (full projection) then deletions (ref 7).

    Honours ``odata.maxpagesize``: further pages continue through a paging cookie in
    ``$skiptoken`` (the deltaLink's ``$deltatoken`` is kept); the new deltaLink comes on the
    last page and names the org version seen by the first page."""
    org = call.org
    if not ent.change_tracking:
        raise ODataError(400, "0x80040203", "Change tracking is not enabled for entity '%s'." % ent.logical)
    for o in ("$filter", "$orderby", "$expand", "$top"):
        if call.opt(o) is not None:
            raise ODataError(400, "0x80060888",
                             'The "%s" query parameter isn\'t supported when Change Tracking is enabled.' % o)
    props, names = parse_select(call, ent)
    tok = call.opt("$skiptoken")
    cursor = None
    with org.lock:
        since = parse_delta_token(org, call.opt("$deltatoken"))
        upto = org.version
        page_no = 1
        if tok:
            c = odata.parse_skiptoken(tok)
            try:
                upto = int(c["attrs"]["trackingversion"])
                cursor = (int(c["attrs"]["phase"]), int(c["columns"][0][1]), c["columns"][1][1].strip("{}").lower())
            except (KeyError, IndexError, ValueError):
                raise bad_query("The paging cookie is not valid.")
            page_no = c["pagenumber"]
        changed = [r for r in org.tables[ent.logical].values() if since < r["versionnumber"] <= upto]
        live = {r[ent.pk] for r in changed}
        deleted = [(v, rid) for v, lg, rid in org.deleted
                   if lg == ent.logical and since < v <= upto and rid not in live]
    items = [(0, r["versionnumber"], r[ent.pk], r) for r in changed] + [(1, v, rid, None) for v, rid in deleted]
    items.sort(key=lambda t: (t[0], t[1], odata.guid_sort_key(t[2])))
    if cursor is not None:
        ck = (cursor[0], cursor[1], odata.guid_sort_key(cursor[2]))
        items = [t for t in items if (t[0], t[1], odata.guid_sort_key(t[2])) > ck]
    size = _page_size(call) or MAX_PAGE
    page, more = items[:size], len(items) > size
    call.op = "delta_next" if tok else "delta_first"
    changed_n = sum(1 for t in page if t[3] is not None)
    sleep_cost(call, changed_n, len(props) if props is not None else len(ent.read_props))
    sleep_cost(call, len(page) - changed_n, 1)      # a deletion is one id
    want = annotation_filter(call)
    ctx_deleted = "%s$metadata#%s/$deletedEntity" % (call.api, ent.set_name)
    value = []
    for phase, _v, rid, rec in page:
        if rec is None:
            value.append(dumps({"@odata.context": ctx_deleted, "id": rid, "reason": "deleted"}))
        elif props is None and want is None:
            value.append(org.full_json(ent, rec))
        else:
            value.append(dumps(render(call, ent, rec, props, want)))
    head = {"@odata.context": context_for(call, ent, names, "/$delta")}
    body = {}
    if more:
        last, first = page[-1], page[0]
        token = odata.make_skiptoken(page_no + 1, [("versionnumber", str(last[1]), str(first[1])),
                                                   (ent.pk, odata.brace_guid(last[2]), odata.brace_guid(first[2]))],
                                     {"trackingversion": upto, "phase": last[0]}, istracking=True)
        qs = odata.strip_query_option(call.raw_query, {"$skiptoken"})
        body["@odata.nextLink"] = "%s%s?%s&$skiptoken=%s" % (call.api, ent.set_name, qs,
                                                            odata.encode_skiptoken(token))
    else:
        body["@odata.deltaLink"] = _delta_link(call, ent, upto)
    applied = []
    if _page_size(call):
        applied.append("odata.maxpagesize=%d" % _page_size(call))
    if "odata.track-changes" in call.prefer:
        applied.append("odata.track-changes")
    return Response(200, [("Content-Type", JSON_CT)] + ([("Preference-Applied", ",".join(applied))] if applied else []),
                    collection_body(head, value, body))


def count_records(call, ent):
    """``/accounts/$count``: text/plain, capped at 5000 (ref 2.1, 2.4)."""
    call.op = "count"
    flt = call.opt("$filter")
    pred = odata.compile_filter(flt, _resolver(ent)) if flt else None
    rows = call.org.snapshot(ent.logical)
    n = sum(1 for r in rows if pred is None or pred(r) is True)
    return Response(200, [("Content-Type", "text/plain;charset=utf-8")],
                    ("\ufeff%d" % min(n, MAX_PAGE)).encode("utf-8"))


# ================================================================================================
# Single records (ref 2.1, 2.6, 4)


def _if_none_match_hit(call, rec):
    inm = call.headers.get("if-none-match")
    if not inm or inm.strip() == "null" or want_annotations(call):
        return False
    tags = [t.strip() for t in inm.split(",")]
    return etag_of(rec) in tags or "*" in tags


def want_annotations(call):
    return "odata.include-annotations" in call.prefer


def get_record(call, ent, rid):
    check_options(call)
    props, names = parse_select(call, ent)
    expand = parse_expand(call, ent)
    rec = call.org.get(ent.logical, rid)
    if rec is None:
        raise does_not_exist(ent, rid)
    sleep_cost(call, 1, len(props) if props is not None else len(ent.read_props))
    if not expand and _if_none_match_hit(call, rec):
        return Response(304, [("Content-Type", JSON_CT), ("ETag", etag_of(rec))], b"")
    want = annotation_filter(call)
    if props is None and want is None and not expand:
        # pre-rendered record with the context spliced in front (same bytes as below)
        body = b'{"@odata.context":' + _json_str(context_for(call, ent, names, "/$entity")) + b"," + \
            call.org.full_json(ent, rec)[1:]
        return Response(200, [("Content-Type", JSON_CT), ("ETag", etag_of(rec))], body)
    body = {"@odata.context": context_for(call, ent, names, "/$entity")}
    body.update(render(call, ent, rec, props, want))
    if expand:
        body.update(render_expanded(call, ent, rec, expand, want))
    headers = [("ETag", etag_of(rec))]
    if want is not None:
        headers.append(("Preference-Applied", 'odata.include-annotations="%s"'
                        % call.prefer.get("odata.include-annotations")))
    return json_response(200, body, headers)


def property_request(call, ent, rid, rest):
    """``accounts(<id>)/name`` (GET/PUT/DELETE) and ``.../name/$value`` (ref 2.1, 3.2)."""
    parts = rest.split("/")
    prop = parts[0]
    org = call.org
    m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\))?$", prop)
    if m and m.group(1) in collection_navs(call.cat, ent):
        return collection_nav_request(call, ent, rid, m.group(1), m.group(2), parts[1:])
    a = ent.props.get(prop)
    nav = ent.navs.get(prop)
    if a is None and nav is None:
        raise not_found_segment(prop)
    if nav is not None and a is None and parts[1:] == ["$ref"] and call.method == "PUT":
        # set a single-valued navigation property (ref 3.4)
        call.kind = "update"
        payload = _parse_body(call, ent)
        target = payload.get("@odata.id") if isinstance(payload, dict) else None
        if not target:
            raise _invalid("0x0", "The payload must contain an '@odata.id' annotation.")
        with org.lock:
            old = org.get(ent.logical, rid)
            if old is None:
                raise does_not_exist(ent, rid)
            rec = dict(old)
            _bind(call, ent, rec, nav, target, creating=False)
            finish_write(call, ent, rec, created=False)
        return Response(204, [], b"")
    if call.method == "GET":
        call.kind = "get"
        rec = org.get(ent.logical, rid)
        if rec is None:
            raise does_not_exist(ent, rid)
        sleep_cost(call, 1)
        if nav is not None and a is None:
            # single-valued navigation property: the related record
            target_id = rec.get(nav.attr.prop)
            tgt = lookup_target(ent, nav.attr, rec)
            te = call.cat.get(tgt) if tgt else None
            if target_id is None or te is None or org.get(te.logical, target_id) is None:
                return Response(204, [], b"")
            trec = org.get(te.logical, target_id)
            props, names = parse_select(call, te)
            body = {"@odata.context": context_for(call, te, names, "/$entity")}
            body.update(render(call, te, trec, props, annotation_filter(call)))
            return json_response(200, body, [("ETag", etag_of(trec))])
        v = rec.get(prop)
        if len(parts) > 1:
            if parts[1] != "$value" or len(parts) > 2:
                raise not_found_segment(parts[1])
            if v is None:
                return Response(204, [], b"")
            text = format(v, "f") if isinstance(v, Decimal) else (
                ("true" if v else "false") if isinstance(v, bool) else str(v))
            return Response(200, [("Content-Type", "text/plain")], text.encode("utf-8"))
        if v is None:
            return Response(204, [], b"")
        return json_response(200, {"@odata.context": "%s$metadata#%s(%s)/%s" % (call.api, ent.set_name, rid, prop),
                                   "value": v})
    if call.method in ("PUT", "DELETE") and len(parts) == 1 and a is not None:
        call.kind = "update"
        if call.method == "PUT":
            try:
                payload = odata.loads(call.body)
            except ValueError:
                raise ODataError(400, "0x80048d19", "Stream was not readable")
            if not isinstance(payload, dict) or "value" not in payload:
                raise ODataError(400, "0x0", "A property with name 'value' is required in the payload.")
            value = payload["value"]
        else:
            value = None
        with org.lock:
            old = org.get(ent.logical, rid)
            if old is None:
                raise does_not_exist(ent, rid)
            rec = dict(old)
            apply_body(call, ent, rec, {prop: value}, creating=False)
            finish_write(call, ent, rec, created=False)
        return Response(204, [], b"")
    if call.method == "DELETE" and nav is not None and parts[1:] == ["$ref"]:
        call.kind = "update"
        with org.lock:
            old = org.get(ent.logical, rid)
            if old is None:
                raise does_not_exist(ent, rid)
            rec = dict(old)
            apply_body(call, ent, rec, {prop: None}, creating=False)
            finish_write(call, ent, rec, created=False)
        return Response(204, [], b"")
    raise ODataError(405, "0x80060888", "The requested resource does not support http method '%s'." % call.method)


# ================================================================================================
# Writes (ref 3, 4, 5.3, 11.2)


def _invalid(code, msg):
    return ODataError(400, code, msg)


def _type_error(v, edm):
    return _invalid("0x0", "Cannot convert the literal '%s' to the expected type '%s'." % (v, edm))


def _validation(msg):
    return _invalid("0x80044331", "A validation error occurred.  " + msg)


def convert_value(ent, a, v):
    """Validate and convert one JSON value for column ``a`` (ref 11.3)."""
    if v is None:
        if a.required == "SystemRequired" and not a.is_pk:
            raise _invalid("0x80040203", "Attribute '%s' cannot be set to NULL" % a.logical)
        return None
    k = a.kind
    if k in ("String", "Memo", "EntityName"):
        if not isinstance(v, str):
            raise _invalid("0x0", "Cannot convert a primitive value to the expected type 'Edm.String'. See the "
                                  "inner exception for more details.")
        if v == "":
            return None
        if a.maxlen and len(v) > a.maxlen:
            raise _validation("The length of the '%s' attribute of the '%s' entity exceeded the maximum allowed "
                              "length of '%d'." % (a.logical, ent.logical, a.maxlen))
        return v
    if k in ("Integer", "BigInt", "Picklist", "State", "Status"):
        if isinstance(v, bool) or not isinstance(v, (int, Decimal)):
            raise _type_error(v, a.edm)
        if isinstance(v, Decimal):
            if v != v.to_integral_value():
                raise _type_error(v, a.edm)
            v = int(v)
        if k in ("Picklist", "State", "Status"):
            if a.option_values and v not in a.option_values:
                raise _invalid("0x8004431a", "A validation error occurred. The value %d of '%s' on record of type "
                                             "'%s' is outside the valid range." % (v, a.logical, ent.logical))
        else:
            lo = a.minv if a.minv is not None else (-2**31 if k == "Integer" else -2**63)
            hi = a.maxv if a.maxv is not None else (2**31 - 1 if k == "Integer" else 2**63 - 1)
            if v < lo or v > hi:
                raise _validation("The value %d of '%s' on record of type '%s' is outside the valid range. "
                                  "Accepted range: %s to %s" % (v, a.logical, ent.logical, _n(lo), _n(hi)))
        return v
    if k == "MultiSelect":
        if not isinstance(v, str):
            raise _type_error(v, "Edm.String")
        if v == "":
            return None
        try:
            vals = [int(x) for x in v.split(",")]
        except ValueError:
            raise _type_error(v, "Collection(Microsoft.Dynamics.CRM.%s)" % a.logical)
        for x in vals:
            if x not in a.option_values:
                raise _invalid("0x8004431a", "A validation error occurred. The value %d of '%s' on record of type "
                                             "'%s' is outside the valid range." % (x, a.logical, ent.logical))
        return ",".join(str(x) for x in vals)
    if k == "Boolean":
        if not isinstance(v, bool):
            raise _type_error(v, "Edm.Boolean")
        return v
    if k in ("Money", "Decimal", "Double"):
        if isinstance(v, bool) or not isinstance(v, (int, Decimal)):
            raise _type_error(v, a.edm)
        d = Decimal(v)
        lo = Decimal(str(a.minv)) if a.minv is not None else None
        hi = Decimal(str(a.maxv)) if a.maxv is not None else None
        if (lo is not None and d < lo) or (hi is not None and d > hi):
            raise _validation("The value %s of '%s' on record of type '%s' is outside the valid range. Accepted "
                              "range: %s to %s" % (d, a.logical, ent.logical, _n(a.minv), _n(a.maxv)))
        places = a.precision if a.precision is not None else 2
        q = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
        if k == "Money":
            return q.quantize(DEC4)
        if k == "Decimal":
            return q
        return float(q)
    if k == "DateTime":
        if not isinstance(v, str):
            raise _type_error(v, a.edm)
        try:
            d = odata.parse_datetime(v)
        except ValueError:
            raise _type_error(v, a.edm)
        if d.year < 1753:
            raise _invalid("0x80040239", "DateTime is less than minumum value supported by CrmDateTime. Actual "
                                         "value: %s, Minimum value supported: 01/01/1753 00:00:00"
                           % d.strftime("%m/%d/%Y %H:%M:%S"))
        if a.edm == "Edm.Date":
            return d.strftime("%Y-%m-%d")
        return odata.fmt_datetime(d)
    if k == "Uniqueidentifier":
        if not odata.is_guid(v):
            raise _type_error(v, "Edm.Guid")
        return v.lower()
    if k == "Image":
        if not isinstance(v, str):
            raise _type_error(v, "Edm.Binary")
        import base64
        import binascii
        try:
            base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raise _type_error(v[:40], "Edm.Binary")
        return v
    raise _type_error(v, a.edm)


def _n(x):
    if isinstance(x, float) and x.is_integer():
        x = int(x)
    return "{:,}".format(x) if isinstance(x, int) else str(x)


def _undeclared(name):
    return _invalid("0x80048d19", "An undeclared property '%s' which only has property annotations in the payload "
                                  "but no property value was found in the payload. In OData, only declared navigation "
                                  "properties and declared named streams can be represented as properties without "
                                  "values." % name)


def _not_valid_for(ent, a, creating):
    op = "create" if creating else "update"
    return _invalid("0x80048d19", "Error identified in Payload provided by the user for Entity :'%s', For more "
                                  "information on this error please follow this help link "
                                  "https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : "
                                  "Microsoft.OData.ODataException: The property '%s' is not valid for %s on entity "
                                  "'%s' (IsValidFor%s = false)." % (ent.set_name, a.logical, op, ent.logical,
                                                                      op.capitalize()))


_BIND_RE = re.compile(r"^(?:.*?/api/data/v9\.\d/|/)?([A-Za-z_][A-Za-z0-9_]*)\(([^)]*)\)$")


def resolve_bind(call, nav, value):
    """``x@odata.bind`` value -> (target entity, id); forms /set(id), set(id), absolute URL, $n (ref 3.1)."""
    if not isinstance(value, str):
        raise _invalid("0x0", "A value for the navigation property '%s' must be a string URL." % nav.name)
    v = value.strip()
    if v.startswith("$"):
        m = re.match(r"^\$(\d+)$", v)
        ref = call.content_ids.get(m.group(1)) if m else None
        if ref is None:
            raise _invalid("0x0", "Content-ID Reference: '%s' does not exist in the batch context." % v)
        v = ref
    m = _BIND_RE.match(v)
    if not m:
        raise _invalid("0x80048d19", "Error identified in Payload provided by the user for Entity :'%s', For more "
                                     "information on this error please follow this help link "
                                     "https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : "
                                     "Microsoft.OData.ODataException: The URI '%s' is not valid for the navigation "
                                     "property '%s'." % ("", value, nav.name))
    set_name, key = m.group(1), m.group(2)
    te = call.cat.by_set.get(set_name)
    if te is None:
        raise not_found_segment(set_name)
    rid = parse_key(te, key)
    if te.logical not in nav.targets:
        raise _invalid("0x80048d19", "Error identified in Payload provided by the user for Entity :'', For more "
                                     "information on this error please follow this help link "
                                     "https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : "
                                     "Microsoft.OData.ODataException: A resource of type "
                                     "'Microsoft.Dynamics.CRM.%s' was found in a resource set that otherwise has "
                                     "entries of type '%s'." % (te.logical, "|".join(nav.targets)))
    if call.org.get(te.logical, rid) is None:
        raise does_not_exist(te, rid)
    return te, rid


def apply_body(call, ent, rec, body, creating, url_id=None):
    """Apply a JSON payload to ``rec`` (a private copy) with Dataverse's validation (ref 3, 5.3)."""
    if not isinstance(body, dict):
        raise _invalid("0x80048d19", "Error identified in Payload provided by the user for Entity :'%s'"
                       % ent.set_name)
    for k, v in body.items():
        if k.startswith("@"):
            continue  # @odata.type, @odata.context, @odata.etag ...
        if "@" in k:
            name, term = k.split("@", 1)
            if term != "odata.bind":
                continue  # other property annotations are ignored
            nav = ent.navs.get(name)
            if nav is None:
                raise _undeclared(name)
            _bind(call, ent, rec, nav, v, creating)
            continue
        nav = ent.navs.get(k)
        if nav is not None and k not in ent.props:
            if v is None:
                _bind(call, ent, rec, nav, None, creating)
                continue
            raise _invalid("0x0", "Deep insert through the navigation property '%s' is not supported by the "
                                  "emulator." % k)
        a = ent.props.get(k) or ent.by_logical.get(k)
        if a is None or not a.is_odata or (a.is_lookup and k == a.logical):
            raise _invalid("0x0", "Invalid property '%s' was found in entity 'Microsoft.Dynamics.CRM.%s'."
                           % (k, ent.logical))
        if a.is_lookup:
            raise _invalid("0x80060888", "CRM do not support direct update of Entity Reference properties, Use "
                                         "Navigation properties instead.")
        if a.is_pk:
            if creating:
                if not odata.is_guid(v):
                    raise _type_error(v, "Edm.Guid")
                if url_id is not None and v.lower() != url_id:
                    raise _invalid("0x80040203", "Entity Id in the payload does not match the Id in the URL.")
                rec[a.prop] = v.lower()
                continue
            if isinstance(v, str) and v.lower() == rec.get(a.prop):
                continue
            raise _not_valid_for(ent, a, False)
        if (creating and not a.create) or (not creating and not a.update):
            raise _not_valid_for(ent, a, creating)
        val = convert_value(ent, a, v)
        if val is None:
            rec.pop(a.prop, None)
        else:
            rec[a.prop] = val
        if a.kind == "Image":
            if val is None:
                for x in ("entityimage_timestamp", "entityimage_url", "entityimageid"):
                    rec.pop(x, None)
            else:
                rec["entityimageid"] = str(uuid.uuid4())
                rec["entityimage_timestamp"] = int(time.time() * 1000)
                rec["entityimage_url"] = ("/Image/download.aspx?Entity=%s&Attribute=entityimage&Id=%s&Timestamp=%d"
                                          % (ent.logical, rec.get(ent.pk), rec["entityimage_timestamp"]))
    # statecode/statuscode consistency
    if "statecode" in body or "statuscode" in body:
        st = ent.by_logical.get("statecode")
        su = ent.by_logical.get("statuscode")
        if st and su:
            if "statecode" in body and "statuscode" not in body and rec.get("statecode") is not None:
                for o in st.options:
                    if o["Value"] == rec["statecode"] and o.get("DefaultStatus") is not None:
                        rec["statuscode"] = o["DefaultStatus"]
            elif "statuscode" in body and rec.get("statuscode") is not None:
                for o in su.options:
                    if o["Value"] == rec["statuscode"] and o.get("State") is not None:
                        # statecode is not valid for create: a new row is in the default state
                        # (0), and a status of another state is refused, not a way to set it
                        if creating and o["State"] != 0:
                            raise _invalid("0x8004432b", "%d is not a valid status code for state code "
                                           "%sState.Active on %s." % (rec["statuscode"],
                                                                      ent.schema, ent.logical))
                        if "statecode" in body and rec.get("statecode") != o["State"]:
                            raise _invalid("0x8004432b", "%d is not a valid status code for state code %s on %s."
                                           % (rec["statuscode"], rec.get("statecode"), ent.logical))
                        rec["statecode"] = o["State"]


def _bind(call, ent, rec, nav, value, creating):
    a = nav.attr
    if (creating and not a.create) or (not creating and not a.update):
        raise _not_valid_for(ent, a, creating)
    if value is None:
        # clearing one navigation property of a polymorphic lookup clears the lookup (ref 1.7)
        cur = rec.get("@lk:" + a.logical) or lookup_target(ent, a, rec)
        if len(nav.targets) == 1 and a.kind != "Owner" and len(a.targets) > 1 and cur != nav.targets[0]:
            return
        if a.kind == "Owner":
            raise _invalid("0x80040203", "Attribute 'ownerid' cannot be set to NULL")
        rec.pop(a.prop, None)
        rec.pop("@lk:" + a.logical, None)
        return
    te, rid = resolve_bind(call, nav, value)
    rec[a.prop] = rid
    if len(a.targets) > 1 or a.kind == "Owner":
        rec["@lk:" + a.logical] = te.logical  # setting one target nulls the siblings (ref 1.7)
    if a.kind == "Owner":
        if te.logical == "team":
            rec["_owningteam_value"] = rid
            rec.pop("_owninguser_value", None)
        else:
            rec["_owninguser_value"] = rid
            rec.pop("_owningteam_value", None)


def finish_write(call, ent, rec, created):
    org = call.org
    if created:
        if "_ownerid_value" in ent.props and rec.get("_ownerid_value") is None:
            rec["_ownerid_value"] = call.user_id
            rec["@lk:ownerid"] = "systemuser"
            rec["_owninguser_value"] = call.user_id
        if "_owningbusinessunit_value" in ent.props:
            rec["_owningbusinessunit_value"] = org.businessunit_id
        if "statecode" in ent.props and rec.get("statecode") is None:
            rec["statecode"] = 0
        if "statuscode" in ent.props and rec.get("statuscode") is None:
            st = ent.by_logical["statecode"]
            rec["statuscode"] = next((o.get("DefaultStatus") for o in st.options
                                      if o["Value"] == rec["statecode"] and o.get("DefaultStatus")), 1)
    org.stamp(rec, call.user_id, created=created)
    if created and rec.get("overriddencreatedon"):
        # a migrated row: createdon takes the given date, and overriddencreatedon then holds
        # when the row was really created (its description: "Date and time that the record
        # was migrated")
        given = rec["overriddencreatedon"]
        rec["overriddencreatedon"] = rec["createdon"]
        rec["createdon"] = given if "T" in given else given + "T00:00:00Z"
    org.derive(ent, rec)
    org.put(ent.logical, rec[ent.pk], rec)


def _parse_body(call, ent):
    if not call.body.strip():
        raise _invalid("0x80048d19", "Error identified in Payload provided by the user for Entity :'%s', For more "
                                     "information on this error please follow this help link "
                                     "https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : "
                                     "Microsoft.OData.ODataException: An empty payload was found." % ent.set_name)
    try:
        return odata.loads(call.body)
    except (ValueError, UnicodeDecodeError) as e:
        raise _invalid("0x80048d19", "Error identified in Payload provided by the user for Entity :'%s', For more "
                                     "information on this error please follow this help link "
                                     "https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : "
                                     "Microsoft.OData.ODataException: Invalid JSON. %s" % (ent.set_name, e))


def _readonly_table(ent):
    return ODataError(403, "0x80040220", "Principal user is missing prvCreate%s privilege for entity '%s' "
                                         "(the emulator's system tables are read-only)." % (ent.schema, ent.logical))


def _entity_url(call, ent, rid):
    return "%s%s(%s)" % (call.api, ent.set_name, rid)


def _write_response(call, ent, rec, status_repr, created):
    """204 + OData-EntityId, or with return=representation 201/200 + body + ETag (ref 3.1, 3.3)."""
    rid = rec[ent.pk]
    if call.prefer.get("return") == "representation":
        props, names = parse_select(call, ent)
        body = {"@odata.context": context_for(call, ent, names, "/$entity")}
        body.update(render(call, ent, rec, props, annotation_filter(call)))
        return json_response(status_repr, body, [("ETag", etag_of(rec)),
                                                 ("Preference-Applied", "return=representation")])
    headers = [("OData-EntityId", _entity_url(call, ent, rid))]
    if call.in_batch:
        headers.insert(0, ("Location", _entity_url(call, ent, rid)))
    return Response(204, headers, b"")


def create_record(call, ent):
    """POST to a set (ref 3.1)."""
    if ent.read_only:
        raise _readonly_table(ent)
    body = _parse_body(call, ent)
    org = call.org
    rec = create_defaults(ent)
    with org.lock:
        apply_body(call, ent, rec, body, creating=True)
        rid = rec.get(ent.pk) or org.ids.next(time.time())  # NEWSEQUENTIALID (ref 13)
        rec[ent.pk] = rid
        if org.get(ent.logical, rid) is not None:
            raise ODataError(412, "0x80040237", "A record with matching key values already exists.")
        finish_write(call, ent, rec, created=True)
    return _write_response(call, ent, rec, 201, True)


def _etag_matches(header, rec):
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or etag_of(rec) in tags


def patch_record(call, ent, rid):
    """PATCH update/upsert implementing every row of the table in ref 3.3."""
    if ent.read_only:
        raise _readonly_table(ent)
    body = _parse_body(call, ent)
    org = call.org
    if_match = call.headers.get("if-match")
    if_none = call.headers.get("if-none-match")
    with org.lock:
        old = org.get(ent.logical, rid)
        if if_match is not None:
            if old is None:
                raise does_not_exist(ent, rid)
            if not _etag_matches(if_match, old):
                raise ODataError(412, "0x80060882", "The version of the existing record doesn't match the "
                                                    "RowVersion property provided.")
        if if_none is not None and if_none.strip() != "null":
            if old is not None and (if_none.strip() == "*" or _etag_matches(if_none, old)):
                raise ODataError(412, "0x80040237", "A record with matching key values already exists.")
        if old is None:
            rec = create_defaults(ent)
            rec[ent.pk] = rid
            apply_body(call, ent, rec, body, creating=True, url_id=rid)
            rec[ent.pk] = rid
            finish_write(call, ent, rec, created=True)
            created = True
        else:
            rec = dict(old)
            apply_body(call, ent, rec, body, creating=False)
            finish_write(call, ent, rec, created=False)
            created = False
    if call.prefer.get("return") == "representation":
        return _write_response(call, ent, rec, 201 if created else 200, created)
    return Response(204, [("OData-EntityId", _entity_url(call, ent, rid))], b"")


def delete_record(call, ent, rid):
    """DELETE (ref 3.4); If-Match honoured (ref 4)."""
    if ent.read_only:
        raise _readonly_table(ent)
    org = call.org
    with org.lock:
        old = org.get(ent.logical, rid)
        if old is None:
            raise does_not_exist(ent, rid)
        im = call.headers.get("if-match")
        if im is not None and not _etag_matches(im, old):
            raise ODataError(412, "0x80060882", "The version of the existing record doesn't match the RowVersion "
                                                "property provided.")
        _delete_cascade(call, ent, rid)
    return Response(204, [], b"")


def _delete_cascade(call, ent, rid):
    """Delete a row; notes (annotation.objectid) and parented contacts cascade, other lookups that
    point at the row are cleared (RemoveLink)."""
    org = call.org
    org.remove(ent.logical, rid)
    for other in call.cat.entities.values():
        if other.read_only:
            continue
        for a in other.attrs:
            if not a.is_lookup or a.prop is None or ent.logical not in a.targets:
                continue
            for r in list(org.tables[other.logical].values()):
                if r.get(a.prop) != rid or lookup_target(other, a, r) != ent.logical:
                    continue
                cascade = (other.logical == "annotation" and a.logical == "objectid") or \
                          (other.logical == "contact" and a.logical == "parentcustomerid")
                if org.get(other.logical, r[other.pk]) is None:
                    continue
                if cascade:
                    _delete_cascade(call, other, r[other.pk])
                else:
                    nr = dict(r)
                    nr.pop(a.prop, None)
                    nr.pop("@lk:" + a.logical, None)
                    org.stamp(nr, call.user_id)
                    org.put(other.logical, nr[other.pk], nr)


def urlquote(s):
    return urllib.parse.quote(s, safe="")


# ================================================================================================
# Collection-valued navigation properties (one-to-many) and $ref (ref 3.4)

_COLL_CACHE = {}


def collection_navs(cat, ent):
    """{nav name: (referencing entity, its single-valued Nav)} for relationships whose referenced
    table is ``ent``; the collection nav name is the relationship SchemaName (ref 1.7)."""
    key = (id(cat), ent.logical)
    if key not in _COLL_CACHE:
        out = {}
        for other in cat.entities.values():
            for r in other.m2o:
                if r["ReferencedEntity"] != ent.logical:
                    continue
                nav = other.navs.get(r["ReferencingEntityNavigationPropertyName"])
                if nav is not None:
                    out[r["ReferencedEntityNavigationPropertyName"]] = (other, nav)
        _COLL_CACHE[key] = out
    return _COLL_CACHE[key]


def collection_nav_request(call, ent, rid, name, relkey, rest):
    """GET set(id)/nav, GET/POST set(id)/nav/$ref, DELETE set(id)/nav(relid)/$ref or ?$id=."""
    org = call.org
    other, nav = collection_navs(call.cat, ent)[name]
    if org.get(ent.logical, rid) is None:
        raise does_not_exist(ent, rid)
    attr = nav.attr

    def related():
        out = []
        for r in org.snapshot(other.logical):
            if r.get(attr.prop) == rid and lookup_target(other, attr, r) == ent.logical:
                out.append(r)
        out.sort(key=lambda r: odata.guid_sort_key(r[other.pk]))
        return out
    if call.method == "GET" and relkey is None and rest in ([], ["$ref"]):
        call.kind = "list"
        call.op = "list_first"
        rows = related()
        sleep_cost(call, len(rows), 1 if rest == ["$ref"] else len(other.read_props))
        if rest == ["$ref"]:
            return json_response(200, {"@odata.context": call.api + "$metadata#Collection($ref)",
                                       "value": [{"@odata.id": "%s%s(%s)" % (call.api, other.set_name, r[other.pk])}
                                                 for r in rows]})
        props, names = parse_select(call, other)
        want = annotation_filter(call)
        return json_response(200, {"@odata.context": context_for(call, other, names),
                                   "value": [render(call, other, r, props, want) for r in rows]})
    if call.method == "POST" and relkey is None and rest == ["$ref"]:
        call.kind = "update"
        payload = _parse_body(call, ent)
        target = payload.get("@odata.id") if isinstance(payload, dict) else None
        if not isinstance(target, str):
            raise _invalid("0x0", "The payload must contain an '@odata.id' annotation.")
        te, oid = _parse_entity_url(call, target)
        if te is not other:
            raise _invalid("0x0", "The entity '%s' is not valid for the navigation property '%s'." % (te.logical, name))
        with org.lock:
            old = org.get(other.logical, oid)
            if old is None:
                raise does_not_exist(other, oid)
            rec = dict(old)
            _bind(call, other, rec, nav, "/%s(%s)" % (ent.set_name, rid), creating=False)
            finish_write(call, other, rec, created=False)
        return Response(204, [], b"")
    if call.method == "DELETE" and rest == ["$ref"]:
        call.kind = "update"
        if relkey is not None:
            oid = parse_key(other, relkey)
        else:
            idv = call.opt("$id")
            if not idv:
                raise bad_query("The $id query option is required to remove a reference from a collection.")
            te, oid = _parse_entity_url(call, idv)
            if te is not other:
                raise _invalid("0x0", "The entity '%s' is not valid for the navigation property '%s'."
                               % (te.logical, name))
        with org.lock:
            old = org.get(other.logical, oid)
            if old is None:
                raise does_not_exist(other, oid)
            if old.get(attr.prop) != rid:
                raise does_not_exist(other, oid)
            rec = dict(old)
            rec.pop(attr.prop, None)
            rec.pop("@lk:" + attr.logical, None)
            finish_write(call, other, rec, created=False)
        return Response(204, [], b"")
    raise ODataError(405, "0x80060888", "The requested resource does not support http method '%s'." % call.method)


def _parse_entity_url(call, url):
    m = _BIND_RE.match(url.strip())
    if not m:
        raise bad_query("The URI '%s' is not valid." % url)
    te = call.cat.by_set.get(m.group(1))
    if te is None:
        raise not_found_segment(m.group(1))
    return te, parse_key(te, m.group(2))


def multiple(call, ent, action):
    """Bound actions CreateMultiple / UpdateMultiple (ref 3.1): all-or-nothing, -> {"Ids": [...]}."""
    if ent.read_only:
        raise _readonly_table(ent)
    payload = _parse_body(call, ent)
    targets = payload.get("Targets") if isinstance(payload, dict) else None
    if not isinstance(targets, list) or not targets:
        raise _invalid("0x80040203", "Required field 'Targets' is missing or empty.")
    org = call.org
    ids = []
    with org.lock:
        own = org.txn is None  # inside a $batch change set the change set owns the transaction
        if own:
            org.begin()
        try:
            for t in targets:
                if not isinstance(t, dict):
                    raise _invalid("0x80040203", "Every item of 'Targets' must be an entity object.")
                t = {k: v for k, v in t.items() if k != "@odata.type"}
                if action == "CreateMultiple":
                    rec = create_defaults(ent)
                    apply_body(call, ent, rec, t, creating=True)
                    rid = rec.get(ent.pk) or org.ids.next(time.time())  # NEWSEQUENTIALID (ref 13)
                    rec[ent.pk] = rid
                    if org.get(ent.logical, rid) is not None:
                        raise ODataError(412, "0x80040237", "A record with matching key values already exists.")
                    finish_write(call, ent, rec, created=True)
                else:
                    rid = t.pop(ent.pk, None)
                    if not odata.is_guid(rid):
                        raise _invalid("0x80040203", "Every target of UpdateMultiple needs its primary key '%s'."
                                       % ent.pk)
                    rid = rid.lower()
                    old = org.get(ent.logical, rid)
                    if old is None:
                        raise does_not_exist(ent, rid)
                    rec = dict(old)
                    apply_body(call, ent, rec, t, creating=False)
                    finish_write(call, ent, rec, created=False)
                ids.append(rid)
        except BaseException:
            if own:
                org.rollback()
            raise
        else:
            if own:
                org.commit()
    if action == "UpdateMultiple":
        return Response(204, [], b"")
    return json_response(200, {"@odata.context": call.api + "$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse",
                               "Ids": ids})
