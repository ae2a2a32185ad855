"""Deterministic sample records shaped like real ones (ref 11.1: ~150 properties per account,
most null; lookups as ``_x_value``; money with 4 decimals; UTC second-precision dates).

Everything is derived from ``--seed`` and the org name, so two runs with the same arguments
produce byte-identical data.  Only non-null values are stored; the renderer fills in the
nulls from the table's column plan, which keeps 12,000 accounts cheap in memory and time.
"""

import base64
import calendar
import datetime as _dt
import random
from decimal import Decimal

from odata import fmt_datetime
from store import DEC4, SequentialIds, rng_guid

EPOCH = _dt.datetime(2025, 1, 1, tzinfo=_dt.timezone.utc)  # fixed "now" for generated history

ID_MODES = ("sequential", "random", "mixed")
MIXED_RANDOM_SHARE = 0.2     # --ids mixed: this share of rows has a client-chosen (v4) id
RUN_LENGTH = (1000, 20000)   # rows per run of the SQL server's sequence (node + clock seq)
# lookups between generated rows, remapped when the sample ids are replaced
LOOKUPS = ("_parentaccountid_value", "_primarycontactid_value", "_parentcustomerid_value", "_objectid_value",
           "_new_accountid_value")

COMPANY = ["Contoso", "Fabrikam", "Adventure Works", "Northwind Traders", "Tailspin Toys",
           "Wide World Importers", "Litware", "Proseware", "Woodgrove Bank", "Alpine Ski House",
           "Coho Winery", "Fourth Coffee", "Lucerne Publishing", "Margie's Travel", "Trey Research",
           "Blue Yonder Airlines", "City Power & Light", "Humongous Insurance", "Wingtip Toys",
           "Graphic Design Institute", "Müller Maschinenbau", "Ångström Optics", "東京 Trading",
           "Société Générale du Café", "Łódź Logistics", "São Paulo Têxteis", "Zürich Rück", "Ørsted Vind",
           "Nordwind Energie", "Consolidated Messenger", "School of Fine Art", "VanArsdel", "Relecloud",
           "Bellows College", "Southridge Video", "Datum Corporation", "Best For You Organics",
           "Munson's Pickles and Preserves", "Olympia Sports", "Happy Tails Kennels"]
SUFFIX = ["Inc.", "Ltd", "GmbH", "LLC", "S.A.", "Group", "Holdings", "Partners", "AG", "Co."]
SPECIAL_NAMES = ["A/B Testing Corp", 'The "Quoted" Company', "Back\\Slash Ltd", "Trailing Dot Inc.",
                 "Percent 100% Systems", "Tab\tSeparated Ltd", "Ünïcödé ☃ Snowman GmbH"]
FIRST = ["Anna", "Ben", "Chloé", "David", "Emma", "Frank", "Grace", "Hiro", "Isabel", "Jack", "Kai",
         "Léa", "Mateo", "Nina", "Omar", "Priya", "Quinn", "Rosa", "Søren", "Tomás", "Uma", "Viktor",
         "Wei", "Xenia", "Yusuf", "Zoë", "Björn", "José", "Łukasz", "Ólafur", "さくら", "Алексей"]
LAST = ["Smith", "Müller", "Ångström", "O'Brien", "García", "Johnson", "Tanaka", "Nguyễn", "Dvořák",
        "Kowalski", "Rossi", "Silva", "Jensen", "Novak", "Þórsson", "佐藤", "Ivanova", "Schmidt",
        "Dubois", "Hernández", "Lee", "Patel", "Cohen", "Andersson", "Papadopoulos"]
CITIES = [("Redmond", "WA", "98052", "USA", 47.67399, -122.12151), ("Seattle", "WA", "98101", "USA", 47.60621, -122.33207),
          ("München", "BY", "80331", "Germany", 48.13743, 11.57549), ("Tōkyō", "13", "100-0001", "Japan", 35.68950, 139.69171),
          ("London", None, "EC1A 1BB", "United Kingdom", 51.50735, -0.12776), ("São Paulo", "SP", "01000-000", "Brazil", -23.55052, -46.63331),
          ("Zürich", "ZH", "8001", "Switzerland", 47.37689, 8.54169), ("Toronto", "ON", "M5H 2N2", "Canada", 43.65348, -79.38393),
          ("Sydney", "NSW", "2000", "Australia", -33.86882, 151.20929), ("Paris", None, "75001", "France", 48.85661, 2.35222)]
STREETS = ["Main St", "Microsoft Way", "Hauptstraße", "Rue de Rivoli", "Baker Street", "Avenida Paulista",
           "Bahnhofstrasse", "King St W", "George St", "Elm Street", "Oak Avenue"]
JOBS = ["Purchasing Manager", "CEO", "CTO", "Sales Representative", "Engineer", "Buyer", "Office Manager",
        "Consultant", "Accountant", "Head of IT"]
DESCRIPTIONS = [
    "Key account for the northern region.",
    'Customer said: "ship it yesterday".\nFollow up next week.',
    "Path C:\\Temp\\exports\\ is used for their nightly export.",
    "Multi-line note:\r\nline two\r\nline three with tab\tand trailing space ",
    "Prefers e-mail; avoid calls before 10:00 (UTC+01:00).",
    "Emoji test \U0001F600 and CJK 東京 and RTL עברית.",
    "Contains <xml> & 'quotes' and a backtick `x`.",
]


def _date(rng, start_years=6):
    created = EPOCH - _dt.timedelta(seconds=rng.randint(0, start_years * 365 * 86400))
    modified = created + _dt.timedelta(seconds=rng.randint(0, int((EPOCH - created).total_seconds())))
    return created, modified


def _money(rng, lo, hi):
    """A Money value between lo and hi with cents, stored with 4 decimals (ref 11.3)."""
    return (Decimal(rng.randint(lo * 100, hi * 100)) / 100).quantize(DEC4)


def _phone(rng):
    return "+1 %03d-%03d-%04d" % (rng.randint(200, 999), rng.randint(200, 999), rng.randint(0, 9999))


def create_defaults(entity):
    """Values the platform fills on create: boolean DefaultValue, single-option choices.

    Used for generated rows and for records created through the Web API alike."""
    d = {}
    for a in entity.attrs:
        if a.prop is None or not a.read:
            continue
        if a.kind == "Boolean" and a.default is not None:
            d[a.prop] = bool(a.default)
        elif a.kind == "Picklist" and len(a.options) == 1 and a.create:
            d[a.prop] = a.options[0]["Value"]
    if "preferredcontactmethodcode" in entity.props:
        d["preferredcontactmethodcode"] = 1
    return d


class Generator:
    def __init__(self, org, seed, id_mode="mixed"):
        if id_mode not in ID_MODES:
            raise ValueError("id mode must be one of %s" % ", ".join(ID_MODES))
        self.org = org
        self.seed = seed
        self.id_mode = id_mode
        self.cat = org.catalog
        self.defaults = {e: create_defaults(self.cat.get(e)) for e in self.cat.entities}

    def rng(self, what):
        return random.Random("%s/%s/%s" % (self.seed, self.org.name, what))

    def _system(self, rng, rec, created, modified, owner):
        rec["createdon"] = fmt_datetime(created)
        rec["modifiedon"] = fmt_datetime(modified)
        rec["_createdby_value"] = owner
        rec["_modifiedby_value"] = rng.choice(self.org.user_ids)
        rec["_ownerid_value"] = owner
        rec["@lk:ownerid"] = "systemuser"
        rec["_owninguser_value"] = owner
        rec["_owningbusinessunit_value"] = self.org.businessunit_id
        rec["timezoneruleversionnumber"] = 4
        rec["@modified"] = modified

    def _address(self, rng, rec, prefix="address1"):
        city, state, postal, country, lat, lon = rng.choice(CITIES)
        rec[prefix + "_line1"] = "%d %s" % (rng.randint(1, 9999), rng.choice(STREETS))
        rec[prefix + "_city"] = city
        if state:
            rec[prefix + "_stateorprovince"] = state
        rec[prefix + "_postalcode"] = postal
        rec[prefix + "_country"] = country
        rec[prefix + "_latitude"] = round(lat + rng.uniform(-0.05, 0.05), 5)
        rec[prefix + "_longitude"] = round(lon + rng.uniform(-0.05, 0.05), 5)
        rec[prefix + "_addressid"] = rng_guid(rng)

    def _state(self, rng, rec):
        if rng.random() < 0.1:
            rec["statecode"], rec["statuscode"] = 1, 2
        else:
            rec["statecode"], rec["statuscode"] = 0, 1

    # ----------------------------------------------------------------------------------------
    def accounts(self, n):
        rng = self.rng("account")
        ent = self.cat.get("account")
        industry = [o["Value"] for o in ent.by_logical["industrycode"].options]
        ctype = [o["Value"] for o in ent.by_logical["customertypecode"].options]
        out, ids = [], []
        specials = {}
        if n >= 20:
            for nm in SPECIAL_NAMES:
                specials[rng.randrange(n)] = nm
        combos = len(COMPANY) * len(SUFFIX)
        order = list(range(combos))
        rng.shuffle(order)
        for i in range(n):
            rid = rng_guid(rng)
            created, modified = _date(rng)
            owner = rng.choice(self.org.user_ids)
            rec = dict(self.defaults["account"])
            rec["accountid"] = rid
            k = order[i % combos]
            name = "%s %s" % (COMPANY[k % len(COMPANY)], SUFFIX[k // len(COMPANY)])
            if i >= combos:
                name += " %d" % (i // combos + 1)
            name = specials.get(i, name)
            if i > 10 and i % 97 == 0:
                name = out[i - 5]["name"]  # real data has duplicate names
            rec["name"] = name
            rec["accountnumber"] = "ACC-%06d" % (i + 1)
            rec["telephone1"] = _phone(rng)
            if rng.random() < 0.3:
                rec["fax"] = _phone(rng)
            slug = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())[:20] or "example"
            rec["websiteurl"] = "https://www.%s.example" % slug
            rec["emailaddress1"] = "info@%s.example" % slug
            self._address(rng, rec)
            rec["address1_addresstypecode"] = rng.choice([1, 2, 3, 4])
            if rng.random() < 0.2:
                self._address(rng, rec, "address2")
            rec["industrycode"] = rng.choice(industry)
            rec["customertypecode"] = rng.choice(ctype)
            rec["accountcategorycode"] = rng.choice([1, 2])
            if rng.random() < 0.8:
                rec["revenue"] = _money(rng, 1000, 500000000)
            if rng.random() < 0.3:
                rec["creditlimit"] = _money(rng, 100, 100000)
            rec["numberofemployees"] = rng.randint(1, 250000)
            if rng.random() < 0.25:
                rec["description"] = rng.choice(DESCRIPTIONS)
            if rng.random() < 0.1:
                rec["tickersymbol"] = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4))
            if ids and rng.random() < 0.1:
                rec["_parentaccountid_value"] = rng.choice(ids)
            self._state(rng, rec)
            self._system(rng, rec, created, modified, owner)
            out.append(rec)
            ids.append(rid)
        return out

    def contacts(self, n, account_ids):
        rng = self.rng("contact")
        ent = self.cat.get("contact")
        gender = [o["Value"] for o in ent.by_logical["gendercode"].options]
        family = [o["Value"] for o in ent.by_logical["familystatuscode"].options]
        out = []
        for i in range(n):
            rid = rng_guid(rng)
            created, modified = _date(rng)
            owner = rng.choice(self.org.user_ids)
            rec = dict(self.defaults["contact"])
            rec["contactid"] = rid
            first, last = rng.choice(FIRST), rng.choice(LAST)
            rec["firstname"], rec["lastname"] = first, last
            if rng.random() < 0.15:
                rec["middlename"] = rng.choice(FIRST)[0] + "."
            mail_first = "".join(ch for ch in first.lower() if ch.isascii() and ch.isalpha()) or "user"
            mail_last = "".join(ch for ch in last.lower() if ch.isascii() and ch.isalpha()) or "x"
            rec["emailaddress1"] = "%s.%s%d@example.com" % (mail_first, mail_last, i)
            rec["jobtitle"] = rng.choice(JOBS)
            rec["telephone1"] = _phone(rng)
            if rng.random() < 0.5:
                rec["mobilephone"] = _phone(rng)
            self._address(rng, rec)
            rec["gendercode"] = rng.choice(gender)
            rec["familystatuscode"] = rng.choice(family)
            if rng.random() < 0.4:
                rec["birthdate"] = "%04d-%02d-%02d" % (rng.randint(1950, 2002), rng.randint(1, 12), rng.randint(1, 28))
            if rng.random() < 0.3:
                rec["annualincome"] = _money(rng, 20000, 400000)
            if rng.random() < 0.15:
                rec["description"] = rng.choice(DESCRIPTIONS)
            if account_ids and rng.random() < 0.8:
                rec["_parentcustomerid_value"] = rng.choice(account_ids)
                rec["@lk:parentcustomerid"] = "account"
            self._state(rng, rec)
            self._system(rng, rec, created, modified, owner)
            out.append(rec)
        return out

    def annotations(self, n, account_ids, contact_ids):
        rng = self.rng("annotation")
        out = []
        for i in range(n):
            rid = rng_guid(rng)
            created, modified = _date(rng, 3)
            owner = rng.choice(self.org.user_ids)
            rec = dict(self.defaults["annotation"])
            rec["annotationid"] = rid
            rec["subject"] = "Note %d: %s" % (i + 1, rng.choice(["Call summary", "Meeting", "Contract", "Follow-up",
                                                                  "Résumé", "Quote request"]))
            rec["notetext"] = rng.choice(DESCRIPTIONS)
            target = None
            if account_ids and (not contact_ids or rng.random() < 0.6):
                target = ("account", rng.choice(account_ids))
            elif contact_ids:
                target = ("contact", rng.choice(contact_ids))
            if target:
                rec["_objectid_value"] = target[1]
                rec["@lk:objectid"] = target[0]
                rec["objecttypecode"] = target[0]
            if rng.random() < 0.3:
                body = ("Attachment %d of the emulator.\n" % i).encode() * rng.randint(1, 20)
                rec["isdocument"] = True
                rec["filename"] = "attachment-%d.txt" % (i + 1)
                rec["mimetype"] = "text/plain"
                rec["documentbody"] = base64.b64encode(body).decode()
                rec["filesize"] = len(body)
            rec["_ownerid_value"] = owner
            rec["@lk:ownerid"] = "systemuser"
            rec["_owninguser_value"] = owner
            rec["_owningbusinessunit_value"] = self.org.businessunit_id
            rec["createdon"] = fmt_datetime(created)
            rec["modifiedon"] = fmt_datetime(modified)
            rec["_createdby_value"] = owner
            rec["_modifiedby_value"] = owner
            rec["@modified"] = modified
            out.append(rec)
        return out

    def categories(self, n, account_ids):
        rng = self.rng("new_category")
        words = ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel", "India", "Juliett",
                 "Kilo", "Lima", "Mike", "Café", "Straße"]
        out = []
        for i in range(n):
            rid = rng_guid(rng)
            created, modified = _date(rng, 2)
            owner = rng.choice(self.org.user_ids)
            rec = dict(self.defaults["new_category"])
            rec["new_categoryid"] = rid
            rec["new_name"] = "%s %s" % (words[i % len(words)], i // len(words) + 1)
            rec["new_code"] = "CAT-%04d" % (i + 1)
            if rng.random() < 0.5:
                rec["new_description"] = rng.choice(DESCRIPTIONS)
            rec["new_budget"] = _money(rng, 100, 1000000)
            rec["new_priority"] = rng.choice([100000000, 100000001, 100000002, 100000003])
            tags = sorted(rng.sample([100000000, 100000001, 100000002, 100000003], rng.randint(0, 2)))
            if tags:
                rec["new_tags"] = ",".join(str(t) for t in tags)
            rec["new_isactive"] = rng.random() < 0.8
            rec["new_startdate"] = "%04d-%02d-%02d" % (rng.randint(2020, 2025), rng.randint(1, 12), rng.randint(1, 28))
            rec["new_sequence"] = i + 1
            rec["new_score"] = Decimal(rng.randint(0, 10000)) / 100
            rec["new_ratio"] = round(rng.random(), 5)
            if account_ids:
                rec["_new_accountid_value"] = rng.choice(account_ids)
            self._state(rng, rec)
            self._system(rng, rec, created, modified, owner)
            out.append(rec)
        return out

    # ----------------------------------------------------------------------------------------
    def assign_ids(self, rows):
        """Replace the generated rows' ids per ``id_mode`` (ref 13).

        ``random``: keep the random v4 ids.  ``sequential``: every row gets a server-assigned
        NEWSEQUENTIALID-style id in creation order, all tables sharing the org's SQL server,
        which restarts (new node and clock sequence) every RUN_LENGTH rows.  ``mixed``
        (default): MIXED_RANDOM_SHARE of the rows keep a client-chosen v4 id (imports,
        migrations, upserts), the rest are sequential.  Lookups are remapped.  The org's
        server-assigned ids (POST) continue the last run."""
        org = self.org
        rng = self.rng("ids")
        seq = SequentialIds(rng)
        org.ids = seq
        if self.id_mode == "random":
            return
        share = MIXED_RANDOM_SHARE if self.id_mode == "mixed" else 0.0
        flat = [(r["createdon"], pk, r) for _, pk, rs in rows for r in rs]
        flat.sort(key=lambda t: (t[0], t[2][t[1]]))
        remap = {}
        left = rng.randint(*RUN_LENGTH)
        stamp = None
        secs = 0
        for created, pk, r in flat:
            if share and rng.random() < share:
                continue
            if left <= 0:
                seq.new_run()
                left = rng.randint(*RUN_LENGTH)
            left -= 1
            if created != stamp:
                stamp = created
                c = created
                secs = calendar.timegm((int(c[0:4]), int(c[5:7]), int(c[8:10]), int(c[11:13]), int(c[14:16]),
                                        int(c[17:19])))
            new = seq.next(secs)
            remap[r[pk]] = new
            r[pk] = new
        for _, _, rs in rows:
            for r in rs:
                for k in LOOKUPS:
                    v = r.get(k)
                    if v is not None and v in remap:
                        r[k] = remap[v]

    def populate(self, counts):
        """Fill the org.  ``counts`` maps entity set name -> number of rows."""
        org = self.org
        org.seed_system_rows(EPOCH - _dt.timedelta(days=6 * 365 + 30))
        n_acc = counts.get("accounts", 0)
        n_con = counts.get("contacts", 0)
        accs = self.accounts(n_acc)
        acc_ids = [r["accountid"] for r in accs]
        cons = self.contacts(n_con, acc_ids)
        con_ids = [r["contactid"] for r in cons]
        if con_ids:
            link = self.rng("primarycontact")
            for r in accs:
                if link.random() < 0.6:
                    r["_primarycontactid_value"] = link.choice(con_ids)
        anns = self.annotations(counts.get("annotations", 0), acc_ids, con_ids)
        cats = self.categories(counts.get("new_categories", 0), acc_ids)
        rows = [("account", "accountid", accs), ("contact", "contactid", cons),
                ("annotation", "annotationid", anns), ("new_category", "new_categoryid", cats)]
        self.assign_ids(rows)
        # versions follow modification order, like a real row-version column
        flat = [(r["@modified"], logical, pk, r) for logical, pk, rs in rows for r in rs]
        flat.sort(key=lambda t: (t[0], t[3][t[2]]))
        for _, logical, pk, r in flat:
            del r["@modified"]
            org.derive(self.cat.get(logical), r)
            r["versionnumber"] = org.next_version()
            org.tables[logical][r[pk]] = r
