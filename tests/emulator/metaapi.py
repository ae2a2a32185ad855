"""Metadata endpoints: EntityDefinitions, Attributes, relationships (ref 1.5-1.7).

Metadata is never paged; MetadataId is always returned even if not selected (ref 1.5).
Type-specific attribute properties (MaxLength, Precision, OptionSet...) need a cast segment
such as ``Attributes/Microsoft.Dynamics.CRM.StringAttributeMetadata`` (ref 1.6); selecting
them on the base collection fails like the real service.
"""

import re

import metadata as md
import odata
from odata import ODataError, bad_query
from webapi import json_response, not_found_segment

_KEY_RE = re.compile(r"^\(\s*(?:LogicalName\s*=\s*'([^']*)'|([0-9a-fA-F-]{36}))\s*\)")
_ATTR_KEY_RE = re.compile(r"^\(\s*(?:LogicalName\s*=\s*'([^']*)'|([0-9a-fA-F-]{36}))\s*\)")
_CAST_PREFIX = "Microsoft.Dynamics.CRM."


def _no_prop(name, typ):
    return ODataError(400, "0x80060888", "Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'."
                      % (name, typ))


def _entity_props():
    e = next(iter(_CAT.entities.values())) if _CAT else None
    return set(md.entity_definition(e)) if e else set()


_CAT = None


def _project(d, select, always=("MetadataId",), keep_type=False):
    if select is None:
        return d
    out = {}
    if keep_type and "@odata.type" in d:
        out["@odata.type"] = d["@odata.type"]
    for k in select:
        out[k] = d.get(k)
    for k in always:
        if k in d:
            out[k] = d[k]
    return out


def _parse_select(call, allowed, typ):
    sel = call.opt("$select")
    if sel is None or sel.strip() == "":
        return None
    names = odata.split_list(sel)
    for n in names:
        if n not in allowed:
            raise _no_prop(n, typ)
    return names


def _filter(call, items):
    flt = call.opt("$filter")
    if not flt:
        return items

    def resolve(path):
        parts = path.split("/")

        def get(obj):
            v = obj
            for p in parts:
                if not isinstance(v, dict):
                    return None
                v = v.get(p)
            return v
        return get, "any"
    pred = odata.compile_filter(flt, resolve)
    return [i for i in items if pred(i) is True]


def _expand(call):
    """Parse $expand=Attributes($select=a,b),ManyToOneRelationships -> {name: select or None}."""
    exp = call.opt("$expand")
    out = {}
    if not exp:
        return out
    for part in odata.split_list(exp):
        m = re.match(r"^(\w+)(?:\((.*)\))?$", part.strip(), re.S)
        if not m:
            raise bad_query("Syntax error in $expand '%s'." % exp)
        sel = None
        if m.group(2):
            sm = re.search(r"\$select=([^;)]*)", m.group(2))
            if sm:
                sel = odata.split_list(sm.group(1))
        out[m.group(1)] = sel
    return out


def _check_opts(call):
    for k, _ in call.query:
        if k.startswith("$") and k not in ("$select", "$filter", "$expand", "$orderby"):
            if k == "$skip":
                raise bad_query("Skip Clause is not supported in CRM")
            raise bad_query("The query parameter '%s' is not supported for metadata." % k)


def handle(call):
    global _CAT
    _CAT = call.cat
    _check_opts(call)
    path = call.path
    if path.startswith("GlobalOptionSetDefinitions"):
        return json_response(200, {"@odata.context": call.api + "$metadata#GlobalOptionSetDefinitions", "value": []})
    if path.startswith("RelationshipDefinitions"):
        rels = [dict(r, **{"@odata.type": "#Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata"})
                for e in call.cat.entities.values() for r in e.m2o]
        rest = path[len("RelationshipDefinitions"):]
        if rest.startswith("/Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata"):
            rest = rest[len("/Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata"):]
        m = re.match(r"^\(SchemaName='([^']*)'\)$", rest)
        if m:
            for r in rels:
                if r["SchemaName"] == m.group(1):
                    r = dict(r)
                    r["@odata.context"] = call.api + "$metadata#RelationshipDefinitions/$entity"
                    return json_response(200, r)
            raise ODataError(404, "0x80040217", "Could not find relationship '%s'." % m.group(1))
        if rest:
            raise not_found_segment(rest.strip("/"))
        rels = _filter(call, rels)
        return json_response(200, {"@odata.context": call.api + "$metadata#RelationshipDefinitions", "value": rels})

    rest = path[len("EntityDefinitions"):]
    ents = sorted(call.cat.entities.values(), key=lambda e: e.logical)
    eprops = _entity_props() | {"Attributes", "ManyToOneRelationships", "OneToManyRelationships",
                                "ManyToManyRelationships", "Keys"}
    if rest == "":
        sel = _parse_select(call, eprops, "EntityMetadata")
        items = [md.entity_definition(e) for e in ents]
        items = _filter(call, items)
        exp = _expand(call)
        out = []
        for d in items:
            e = call.cat.get(d["LogicalName"])
            p = _project(d, sel)
            _apply_expand(call, e, p, exp)
            out.append(p)
        ctx = call.api + "$metadata#EntityDefinitions" + ("(%s)" % ",".join(sel) if sel else "")
        return json_response(200, {"@odata.context": ctx, "value": out})
    m = _KEY_RE.match(rest)
    if not m:
        raise not_found_segment("EntityDefinitions" + rest.split("/")[0])
    ent = None
    if m.group(1) is not None:
        ent = call.cat.get(m.group(1))
    else:
        for e in ents:
            if e.metadata_id == m.group(2).lower():
                ent = e
    if ent is None:
        key = m.group(1) if m.group(1) is not None else m.group(2)
        raise ODataError(404, "0x80040217", "Could not find entity with name '%s'." % key
                         if m.group(1) is not None else "Could not find entity with MetadataId '%s'." % key)
    rest = rest[m.end():]
    base_ctx = "%s$metadata#EntityDefinitions('%s')" % (call.api, ent.metadata_id)
    if rest == "":
        sel = _parse_select(call, eprops, "EntityMetadata")
        d = _project(md.entity_definition(ent), sel)
        _apply_expand(call, ent, d, _expand(call))
        ctx = call.api + "$metadata#EntityDefinitions" + ("(%s)" % ",".join(sel) if sel else "") + "/$entity"
        out = {"@odata.context": ctx}
        out.update(d)
        return json_response(200, out)
    if not rest.startswith("/"):
        raise not_found_segment(rest)
    seg, _, tail = rest[1:].partition("/")
    if seg.startswith("Attributes"):
        return _attributes(call, ent, rest[1 + len("Attributes"):], base_ctx)
    if seg in ("ManyToOneRelationships", "OneToManyRelationships", "ManyToManyRelationships", "Keys"):
        if seg == "ManyToOneRelationships":
            items = list(ent.m2o)
        elif seg == "OneToManyRelationships":
            items = [r for e in ents for r in e.m2o if r["ReferencedEntity"] == ent.logical]
        else:
            items = []
        allowed = set(items[0]) if items else {"SchemaName", "MetadataId"}
        allowed |= {"SchemaName", "ReferencingAttribute", "ReferencingEntity", "ReferencedEntity",
                    "ReferencedAttribute", "ReferencingEntityNavigationPropertyName",
                    "ReferencedEntityNavigationPropertyName"}
        sel = _parse_select(call, allowed, "OneToManyRelationshipMetadata")
        items = _filter(call, items)
        ctx = "%s/%s%s" % (base_ctx, seg, "(%s)" % ",".join(sel) if sel else "")
        return json_response(200, {"@odata.context": ctx, "value": [_project(i, sel) for i in items]})
    raise not_found_segment(seg)


def _apply_expand(call, ent, d, exp):
    for name, sel in exp.items():
        if name == "Attributes":
            d["Attributes"] = [_project(md.attribute_definition(a), sel, keep_type=True) for a in ent.attrs]
        elif name == "ManyToOneRelationships":
            d[name] = [_project(r, sel) for r in ent.m2o]
        elif name == "OneToManyRelationships":
            d[name] = [_project(r, sel) for e in call.cat.entities.values() for r in e.m2o
                       if r["ReferencedEntity"] == ent.logical]
        elif name in ("ManyToManyRelationships", "Keys"):
            d[name] = []
        else:
            raise _no_prop(name, "EntityMetadata")


def _attr_type_keys(odata_type):
    """Properties of a derived attribute metadata type (base properties + its own)."""
    for kind, info in md.KINDS.items():
        if info[0] == odata_type:
            a = md.Attr("x", {"LogicalName": "x", "AttributeType": kind if kind != "MultiSelect" else "Virtual",
                              "AttributeTypeName": "MultiSelectPicklistType" if kind == "MultiSelect" else None})
            if kind == "MultiSelect":
                a.kind = "MultiSelect"
            keys = set(md.attribute_definition(a)) - {"@odata.type"}
            if kind in ("Picklist", "State", "Status", "MultiSelect", "Boolean"):
                keys |= {"OptionSet", "GlobalOptionSet"}
            return keys
    return None


def _attributes(call, ent, rest, base_ctx):
    """``.../Attributes``, ``(LogicalName='x')``, cast segments, $expand=OptionSet (ref 1.6)."""
    key = None
    m = _ATTR_KEY_RE.match(rest)
    if m:
        key = m.group(1) if m.group(1) is not None else m.group(2).lower()
        rest = rest[m.end():]
    cast = None
    if rest.startswith("/" + _CAST_PREFIX):
        cast = rest[1 + len(_CAST_PREFIX):]
        rest = ""
    if rest:
        raise not_found_segment(rest.strip("/"))
    attrs = ent.attrs
    if cast is not None:
        allowed = _attr_type_keys(cast)
        if allowed is None:
            raise not_found_segment(_CAST_PREFIX + cast)
        attrs = [a for a in attrs if a.odata_type == cast]
        typ = cast
    else:
        allowed = md.base_attribute_keys()
        typ = "AttributeMetadata"
    sel = _parse_select(call, allowed | {"MetadataId"}, typ)
    exp = _expand(call)
    for name in exp:
        if name not in ("OptionSet", "GlobalOptionSet") or cast is None:
            raise _no_prop(name, typ)

    def one(a):
        d = md.attribute_definition(a)
        p = _project(d, sel, keep_type=True)
        for name in exp:
            if name == "OptionSet":
                p["OptionSet"] = md.option_set(a)
            else:
                p["GlobalOptionSet"] = None
        return p
    if key is not None:
        found = None
        for a in ent.attrs:
            if a.logical == key or a.metadata_id == key:
                found = a
        if found is None or (cast is not None and found.odata_type != cast):
            raise ODataError(404, "0x80040217", "Could not find attribute with %s '%s' on entity '%s'."
                             % ("LogicalName" if m.group(1) is not None else "MetadataId", key, ent.logical))
        ctx = "%s/Attributes(%s)%s%s/$entity" % (base_ctx, found.metadata_id,
                                                 "/" + _CAST_PREFIX + cast if cast else "",
                                                 "(%s)" % ",".join(sel) if sel else "")
        out = {"@odata.context": ctx}
        out.update(one(found))
        return json_response(200, out)
    full = _filter(call, [md.attribute_definition(a) for a in attrs])
    keep = {d["MetadataId"] for d in full}
    items = [one(a) for a in attrs if a.metadata_id in keep]
    ctx = "%s/Attributes%s%s" % (base_ctx, "/" + _CAST_PREFIX + cast if cast else "",
                                 "(%s)" % ",".join(sel) if sel else "")
    return json_response(200, {"@odata.context": ctx, "value": items})
