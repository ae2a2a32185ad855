"""What a restore must bring back, checked through the Web API (tests/test_restore*.py).

- create_columns(emu, org, entity): the columns a backup restores: readable, valid for
  create (lookups as _x_value), plus statecode (set right after the create) and createdon
  (kept through overriddencreatedon), minus overriddencreatedon (when the restore ran);
- server_records(emu, org, set, pk): {id: record} through the Web API, numbers verbatim;
- mismatches(emu, org, backup_dir, set, pk, entity): {id: {column: (backup, server)}} of
  every backed-up record that is missing or differs, and of records not in the backup.
"""

import os

from lib.mount import as_decimal, list_raw, loads_verbatim

_cols = {}


def create_columns(emu, org, entity):
    if (org, entity) not in _cols:
        r = emu.api(org).get("EntityDefinitions(LogicalName='%s')/Attributes?$select=LogicalName,"
                             "AttributeType,IsValidForCreate,IsValidForRead,AttributeOf" % entity)
        assert r.status == 200, r
        out = {"statecode", "createdon"}
        for a in r.body["value"]:
            if a.get("AttributeOf") or not a.get("IsValidForRead") or not a.get("IsValidForCreate"):
                continue
            if a["AttributeType"] in ("Virtual", "EntityName", "PartyList", "ManagedProperty"):
                continue
            n = a["LogicalName"]
            out.add("_%s_value" % n if a["AttributeType"] in ("Lookup", "Customer", "Owner") else n)
        out.discard("overriddencreatedon")
        _cols[(org, entity)] = out
    return _cols[(org, entity)]


def server_records(emu, org, s, pk):
    return {r[pk]: r for r in list_raw(emu.api(org), s)}


def read_backup(path):
    with open(path, "rb") as f:
        return loads_verbatim(f.read())


def mismatches(emu, org, backup, s, pk, entity):
    cols = create_columns(emu, org, entity)
    have = server_records(emu, org, s, pk)
    names = sorted(os.listdir(os.path.join(backup, s)))
    out = {}
    for name in names:
        rid = name[:-len(".json")]
        want = read_backup(os.path.join(backup, s, name))
        got = have.get(rid)
        if got is None:
            out[rid] = "missing on the server"
            continue
        diff = {c: (want.get(c), got.get(c)) for c in sorted(cols)
                if as_decimal(want.get(c)) != as_decimal(got.get(c))}
        if diff:
            out[rid] = diff
    for rid in set(have) - {n[:-len(".json")] for n in names}:
        out[rid] = "on the server but not in the backup"
    return out
