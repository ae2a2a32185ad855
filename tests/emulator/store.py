"""Per-org data: identities, records, row versions, the change log and transactions.

Reference (ref = dataverse-protocol.md): 2.6 (ETag = versionnumber), 7 (change tracking: a
per-org version counter and a log of deletions), 8 (change sets are transactions), 11
(record shape and system columns).

Records are sparse dicts keyed by Web API property name (``_x_value`` for lookups); absent
keys are null.  Records are never mutated in place: writers copy, change and ``put`` the new
dict, so readers can iterate a snapshot without holding the lock and a transaction journal
can restore old versions.  Hidden per-record bookkeeping uses keys starting with "@" (e.g.
``@lk:ownerid`` = target table of a polymorphic lookup) and is never rendered.
"""

import datetime as _dt
import random
import threading
import uuid
from decimal import Decimal

from odata import fmt_datetime, guid_sort_key

DEC4 = Decimal("0.0001")
RATE = Decimal("1.0000000000")


def det_guid(seed, *parts):
    """Deterministic GUID from --seed and names (ids of tenants, apps, users, records)."""
    return str(uuid.uuid5(uuid.UUID("0d5f7a3e-1c2b-4e6f-8a9b-112233445566"), "%s/%s" % (seed, "/".join(parts))))


def rng_guid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# 100-ns intervals between the UUID epoch (1582-10-15) and the Unix epoch
UUID_EPOCH_OFFSET = 0x01B21DD213814000
AZURE_OUI = "000d3a"       # MAC prefix of Azure VMs; real Dataverse ids end in 000d3a......


class SequentialIds:
    """Server-assigned ids the way Dataverse makes them (ref 13): SQL Server NEWSEQUENTIALID.

    NEWSEQUENTIALID is a version-1 (time + MAC) UUID whose first three groups are byte-swapped
    so that SQL Server's uniqueidentifier order (odata.guid_sort_key) is creation order:
    ``<time_low LE>-<time_mid LE>-<time_hi|1 LE>-<clock seq>-<node>``, e.g.
    ``5531d753-95af-e711-a94e-000d3a11e605``.  The first group changes fastest; the clock
    sequence and node (the last two groups) stay the same for a whole *run* of the SQL
    server, and a restart (``new_run``) starts a new node and clock sequence."""

    def __init__(self, rng):
        self.rng = rng
        self.t = 0
        self.new_run()

    def new_run(self):
        r = self.rng
        self.node = AZURE_OUI + "%06x" % r.getrandbits(24)
        self.clock_seq = 0x8000 | r.getrandbits(14)           # RFC 4122 variant 10xx
        self.tail = "%04x-%s" % (self.clock_seq, self.node)

    def next(self, unix_seconds=None):
        """The next id; ``unix_seconds`` (creation time) moves the clock forward, never back."""
        if unix_seconds is not None:
            t = int(unix_seconds * 10000000) + UUID_EPOCH_OFFSET
            self.t = t if t > self.t else self.t + 1
        else:
            self.t += 1
        t = self.t
        lo, mid, hi = t & 0xFFFFFFFF, (t >> 32) & 0xFFFF, ((t >> 48) & 0x0FFF) | 0x1000
        return "%02x%02x%02x%02x-%02x%02x-%02x%02x-%s" % (
            lo & 0xFF, (lo >> 8) & 0xFF, (lo >> 16) & 0xFF, lo >> 24,
            mid & 0xFF, mid >> 8, hi & 0xFF, hi >> 8, self.tail)


def now_utc():
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


class Transaction:
    def __init__(self, org):
        self.org = org
        self.journal = []
        self.version = org.version
        self.deleted_len = len(org.deleted)


class Org:
    """One Dataverse environment + its Entra tenant."""

    def __init__(self, name, seed, catalog):
        self.name = name
        self.seed = seed
        self.catalog = catalog
        g = lambda *p: det_guid(seed, name, *p)  # noqa: E731
        self.tenant_id = g("tenant")
        self.organization_id = g("organization")
        self.businessunit_id = g("businessunit")
        self.team_id = g("team")
        self.currency_id = g("currency")
        self.client_id = g("app")
        self.app_object_id = g("app-sp")            # service principal object id (token oid)
        self.app_user_id = g("app-user")            # systemuserid of the application user
        self.public_client_id = g("public-app")
        self.unconsented_client_id = g("unconsented-app")
        self.admin_object_id = g("admin-oid")
        self.admin_user_id = g("admin-user")
        self.username = "admin@%s.example" % name
        self.domain = "%s.example" % name
        self.lock = threading.RLock()
        self.version = 1000000
        self.tables = {logical: {} for logical in catalog.entities}
        self.deleted = []          # [(version, logical, id)] - change log of deletions (ref 7)
        self.min_track_version = 0  # delta tokens older than this are expired (ref 7)
        self.txn = None
        self.user_ids = [self.admin_user_id]  # owners used by the sample data
        self.url = None            # set when the server knows its port
        self.secret_expired = False
        # server-assigned ids (POST without an id), continuing the sample data's last run
        self.ids = SequentialIds(random.Random("%s/%s/sequential-ids" % (seed, name)))
        # full-projection JSON of each stored record: {logical: {id: (record, bytes)}},
        # refreshed on write (``put``) and checked by identity (records are never mutated)
        self.rendered = {logical: {} for logical in catalog.entities}
        self.renderer = None       # fn(entity, record) -> bytes, set by webapi
        # primary keys in uniqueidentifier order, rebuilt after a create or delete
        self.index = {logical: None for logical in catalog.entities}
        # writes carried out per record through the Web API (creates and updates): what a test
        # counts to prove a change landed exactly once (control endpoint, X-Dvemu-Writes)
        self.writes = {}
        # ... and the record after each of them (records are never mutated: references)
        self.history = {}

    # -- versions and journal ----------------------------------------------------------------
    def next_version(self):
        with self.lock:
            self.version += 1
            return self.version

    def begin(self):
        """Start a change-set transaction (ref 8).  Caller holds ``self.lock``."""
        self.txn = Transaction(self)
        return self.txn

    def commit(self):
        self.txn = None

    def rollback(self):
        t = self.txn
        if t is None:
            return
        for logical, rid, old in reversed(t.journal):
            self.index[logical] = None
            if old is None:
                self.tables[logical].pop(rid, None)
            else:
                self.tables[logical][rid] = old
        self.version = t.version
        del self.deleted[t.deleted_len:]
        self.txn = None

    def _journal(self, logical, rid):
        if self.txn is not None:
            self.txn.journal.append((logical, rid, self.tables[logical].get(rid)))

    # -- records --------------------------------------------------------------------------
    def get(self, logical, rid):
        return self.tables[logical].get(rid)

    def snapshot(self, logical):
        with self.lock:
            return list(self.tables[logical].values())

    def put(self, logical, rid, rec):
        with self.lock:
            self._journal(logical, rid)
            self.writes[(logical, rid)] = self.writes.get((logical, rid), 0) + 1
            self.history.setdefault((logical, rid), []).append(rec)
            table = self.tables[logical]
            if rid not in table:
                self.index[logical] = None
            table[rid] = rec
        if self.renderer is not None:
            self.rendered[logical][rid] = (rec, self.renderer(self.catalog.get(logical), rec))

    def remove(self, logical, rid):
        with self.lock:
            self._journal(logical, rid)
            rec = self.tables[logical].pop(rid, None)
            if rec is not None:
                self.index[logical] = None
                self.rendered[logical].pop(rid, None)
                self.deleted.append((self.next_version(), logical, rid))
            return rec

    def full_json(self, ent, rec):
        """The record's full-projection JSON (bytes, ``@odata.etag`` first), rendered once per
        stored version of the record."""
        rid = rec[ent.pk]
        cache = self.rendered[ent.logical]
        hit = cache.get(rid)
        if hit is not None and hit[0] is rec:
            return hit[1]
        data = self.renderer(ent, rec)
        cache[rid] = (rec, data)
        return data

    def sorted_ids(self, logical):
        """``(keys, ids)``: the table's primary keys in uniqueidentifier order (keys are
        odata.guid_sort_key strings, for bisect).  Rebuilt lazily after creates/deletes."""
        idx = self.index[logical]
        if idx is None:
            with self.lock:
                idx = self.index[logical]
                if idx is None:
                    pairs = sorted((guid_sort_key(rid), rid) for rid in self.tables[logical])
                    idx = ([k for k, _ in pairs], [r for _, r in pairs])
                    self.index[logical] = idx
        return idx

    def warm(self):
        """Render every record and build every index (start-up), so first reads are cheap."""
        for logical, table in self.tables.items():
            ent = self.catalog.get(logical)
            if self.renderer is not None:
                cache = self.rendered[logical]
                render = self.renderer
                for rid, rec in table.items():
                    cache[rid] = (rec, render(ent, rec))
            self.sorted_ids(logical)

    # -- derived columns --------------------------------------------------------------------
    def derive(self, entity, rec):
        """Recompute computed columns: *_composite, *_base, exchangerate, fullname (ref 11.2)."""
        for prefix, attr in entity.composites.items():
            lines = [rec.get(prefix + "_line1"), rec.get(prefix + "_line2"), rec.get(prefix + "_line3")]
            city = rec.get(prefix + "_city")
            state = rec.get(prefix + "_stateorprovince")
            postal = rec.get(prefix + "_postalcode")
            cityline = ", ".join(x for x in (city, " ".join(y for y in (state, postal) if y)) if x)
            parts = [x for x in lines + [cityline, rec.get(prefix + "_country")] if x]
            rec[attr.prop] = "\r\n".join(parts) if parts else None
            if rec[attr.prop] is None:
                del rec[attr.prop]
        has_money = False
        for m in entity.money:
            base = m.logical + "_base"
            v = rec.get(m.prop)
            if base in entity.props:
                if v is None:
                    rec.pop(base, None)
                else:
                    rec[base] = (v / RATE).quantize(DEC4)
            if v is not None:
                has_money = True
        if "exchangerate" in entity.props and "_transactioncurrencyid_value" in entity.props:
            if has_money and rec.get("_transactioncurrencyid_value") is None:
                rec["_transactioncurrencyid_value"] = self.currency_id
            if rec.get("_transactioncurrencyid_value") is not None:
                rec["exchangerate"] = RATE
        if entity.logical == "contact":
            names = [rec.get("firstname"), rec.get("lastname")]
            full = " ".join(x for x in names if x)
            if full:
                rec["fullname"] = full
            else:
                rec.pop("fullname", None)
            yomi = " ".join(x for x in (rec.get("yomifirstname"), rec.get("yomilastname")) if x)
            if yomi:
                rec["yomifullname"] = yomi
            else:
                rec.pop("yomifullname", None)
        if entity.logical == "systemuser":
            full = " ".join(x for x in (rec.get("firstname"), rec.get("lastname")) if x)
            if full:
                rec["fullname"] = full

    def stamp(self, rec, user_id, created=False, when=None):
        """System columns written on every create/update (ref 11.1)."""
        when = fmt_datetime(when or now_utc())
        if created:
            rec["createdon"] = when
            rec["_createdby_value"] = user_id
        rec["modifiedon"] = when
        rec["_modifiedby_value"] = user_id
        rec["versionnumber"] = self.next_version()

    # -- system rows ------------------------------------------------------------------------
    def seed_system_rows(self, when):
        """Users, team, business unit, currency and organization rows (lookup targets)."""
        ts = fmt_datetime(when)
        v = self.next_version

        def base(pk, rid, **kw):
            d = {pk: rid, "createdon": ts, "modifiedon": ts, "versionnumber": v()}
            d.update(kw)
            return d
        self.tables["businessunit"][self.businessunit_id] = base(
            "businessunitid", self.businessunit_id, name=self.name, isdisabled=False)
        self.tables["team"][self.team_id] = base(
            "teamid", self.team_id, name=self.name, teamtype=0, isdefault=True,
            _businessunitid_value=self.businessunit_id)
        self.tables["transactioncurrency"][self.currency_id] = base(
            "transactioncurrencyid", self.currency_id, currencyname="US Dollar", isocurrencycode="USD",
            currencysymbol="$", currencyprecision=2, exchangerate=RATE, statecode=0, statuscode=1)
        self.tables["organization"][self.organization_id] = base(
            "organizationid", self.organization_id, name=self.name, languagecode=1033,
            _basecurrencyid_value=self.currency_id)
        rng = random.Random("%s/%s/users" % (self.seed, self.name))
        users = [
            (self.admin_user_id, "Admin", "User", self.username, self.admin_object_id, None, 0),
            (self.app_user_id, "# dynfs", "app", "%s@%s" % (self.client_id, "app.example"),
             self.app_object_id, self.client_id, 4),
        ]
        for first, last in (("Dana", "Whitaker"), ("Jürgen", "Schröder"), ("Aiko", "Tanaka"), ("Sam", "O'Neil")):
            uid = rng_guid(rng)
            slug = lambda x: "".join(c for c in x.lower().replace("ü", "ue").replace("ö", "oe")  # noqa: E731
                                     if c.isascii() and c.isalnum())
            users.append((uid, first, last, "%s.%s@%s" % (slug(first), slug(last), self.domain),
                          rng_guid(rng), None, 0))
            self.user_ids.append(uid)
        for uid, first, last, dom, oid, appid, mode in users:
            rec = base("systemuserid", uid, firstname=first, lastname=last, domainname=dom,
                       internalemailaddress=dom if appid is None else None, azureactivedirectoryobjectid=oid,
                       isdisabled=False, accessmode=mode, _businessunitid_value=self.businessunit_id,
                       _createdby_value=self.admin_user_id, _modifiedby_value=self.admin_user_id)
            if appid:
                rec["applicationid"] = appid
            rec = {k: val for k, val in rec.items() if val is not None}
            self.derive(self.catalog.get("systemuser"), rec)
            self.tables["systemuser"][uid] = rec
        self.owner_for = {"systemuser": self.user_ids}

    def user_for_principal(self, principal):
        """systemuserid of the caller of a token (app user or the interactive user)."""
        if principal and principal.get("oid") == self.admin_object_id:
            return self.admin_user_id
        return self.app_user_id
