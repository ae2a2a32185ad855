"""Table and column metadata: the real account/contact/annotation columns (entities/*.json, from
Microsoft's entity reference) plus a custom table and a few system tables, and their
EntityDefinitions / Attributes / ManyToOneRelationships JSON renderings.

Reference: dataverse-protocol.md (ref) 1.5 (EntityDefinitions), 1.6 (Attributes), 1.7
(relationships), 11.2 (read-only columns), 11.3 (value formats); entities/README.md for the
gaps filled here (AttributeOf, navigation property names, ObjectTypeCode, ChangeTrackingEnabled).
"""

import json
import os
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ENTITY_DIR = os.path.join(HERE, "entities")
NS = uuid.UUID("6f1c3b52-8d0e-4e8a-9a57-3d1b2f9d7c10")


def meta_guid(*parts):
    """Deterministic MetadataId (system metadata ids are the same in every org)."""
    return str(uuid.uuid5(NS, "/".join(parts)))


# AttributeType -> (@odata.type suffix, AttributeTypeName, Edm type, AttributeType on the wire)
KINDS = {
    "String": ("StringAttributeMetadata", "StringType", "Edm.String", "String"),
    "Memo": ("MemoAttributeMetadata", "MemoType", "Edm.String", "Memo"),
    "Integer": ("IntegerAttributeMetadata", "IntegerType", "Edm.Int32", "Integer"),
    "BigInt": ("BigIntAttributeMetadata", "BigIntType", "Edm.Int64", "BigInt"),
    "Decimal": ("DecimalAttributeMetadata", "DecimalType", "Edm.Decimal", "Decimal"),
    "Double": ("DoubleAttributeMetadata", "DoubleType", "Edm.Double", "Double"),
    "Money": ("MoneyAttributeMetadata", "MoneyType", "Edm.Decimal", "Money"),
    "Boolean": ("BooleanAttributeMetadata", "BooleanType", "Edm.Boolean", "Boolean"),
    "DateTime": ("DateTimeAttributeMetadata", "DateTimeType", "Edm.DateTimeOffset", "DateTime"),
    "Picklist": ("PicklistAttributeMetadata", "PicklistType", "Edm.Int32", "Picklist"),
    "State": ("StateAttributeMetadata", "StateType", "Edm.Int32", "State"),
    "Status": ("StatusAttributeMetadata", "StatusType", "Edm.Int32", "Status"),
    "Lookup": ("LookupAttributeMetadata", "LookupType", "Edm.Guid", "Lookup"),
    "Customer": ("LookupAttributeMetadata", "CustomerType", "Edm.Guid", "Customer"),
    "Owner": ("LookupAttributeMetadata", "OwnerType", "Edm.Guid", "Owner"),
    "Uniqueidentifier": ("UniqueIdentifierAttributeMetadata", "UniqueidentifierType", "Edm.Guid", "Uniqueidentifier"),
    "EntityName": ("EntityNameAttributeMetadata", "EntityNameType", "Edm.String", "EntityName"),
    # images, files and multi-select choices are AttributeType Virtual (ref 1.6)
    "Image": ("ImageAttributeMetadata", "ImageType", "Edm.Binary", "Virtual"),
    "File": ("FileAttributeMetadata", "FileType", "Edm.Guid", "Virtual"),
    "MultiSelect": ("MultiSelectPicklistAttributeMetadata", "MultiSelectPicklistType", "Edm.String", "Virtual"),
}
LOOKUP_KINDS = ("Lookup", "Customer", "Owner")


def label(text, lang=1033):
    """Label complex type (ref 1.5)."""
    if text is None:
        return {"LocalizedLabels": [], "UserLocalizedLabel": None}
    loc = {"Label": text, "LanguageCode": lang, "IsManaged": True,
           "MetadataId": meta_guid("label", text), "HasChanged": None}
    return {"LocalizedLabels": [loc], "UserLocalizedLabel": dict(loc)}


def managed(value, name):
    return {"Value": value, "CanBeChanged": True, "ManagedPropertyLogicalName": name}


class Attr:
    """One column.  ``prop`` is its Web API property name (``_x_value`` for lookups) or None when
    it is not exposed as an OData property (AttributeOf helpers, unreadable columns)."""

    def __init__(self, entity, d):
        self.entity = entity
        self.logical = d["LogicalName"]
        self.schema = d.get("SchemaName") or self.logical
        self.kind = d["AttributeType"]
        if d.get("AttributeTypeName") == "MultiSelectPicklistType":
            self.kind = "MultiSelect"
        self.create = bool(d.get("IsValidForCreate"))
        self.update = bool(d.get("IsValidForUpdate"))
        self.read = bool(d.get("IsValidForRead"))
        self.required = d.get("RequiredLevel") or "None"
        self.maxlen = d.get("MaxLength")
        self.precision = d.get("Precision")
        self.precision_source = d.get("PrecisionSource")
        self.minv = d.get("MinValue")
        self.maxv = d.get("MaxValue")
        self.format = d.get("Format")
        self.format_name = d.get("FormatName")
        self.dt_behavior = d.get("DateTimeBehavior")
        self.targets = d.get("Targets") or []
        self.options = d.get("Options") or []
        self.attribute_of = d.get("AttributeOf")
        self.display = d.get("DisplayName")
        self.description = d.get("Description")
        self.default = d.get("DefaultValue")
        self.custom = bool(d.get("IsCustomAttribute"))
        self.is_pk = False
        self.is_primary_name = False
        self.metadata_id = meta_guid("attr", entity, self.logical)
        info = KINDS.get(self.kind, KINDS["String"])
        self.odata_type, self.type_name, self.edm, self.wire_type = info
        if self.kind == "DateTime" and self.dt_behavior == "DateOnly":
            self.edm = "Edm.Date"
        self.prop = None
        self.option_values = {o["Value"] for o in self.options}

    @property
    def is_lookup(self):
        return self.kind in LOOKUP_KINDS

    @property
    def is_odata(self):
        return self.attribute_of is None


class Nav:
    """A single-valued navigation property usable in ``x@odata.bind`` (ref 1.7)."""

    def __init__(self, name, attr, targets):
        self.name = name
        self.attr = attr  # Attr of the lookup
        self.targets = targets  # list of target logical names


class Entity:
    def __init__(self, d, otc, change_tracking, adv_find=True, custom=False, read_only=False,
                 is_activity=False):
        self.logical = d["LogicalName"]
        self.set_name = d["EntitySetName"]
        self.schema = d.get("SchemaName") or self.logical
        self.collection_schema = d.get("CollectionSchemaName") or self.schema + "s"
        self.logical_collection = d.get("LogicalCollectionName") or self.set_name
        self.pk = d["PrimaryIdAttribute"]
        self.primary_name = d.get("PrimaryNameAttribute")
        self.otc = otc
        self.change_tracking = change_tracking
        self.adv_find = adv_find
        self.custom = custom
        self.read_only = read_only
        self.is_activity = is_activity
        self.ownership = d.get("OwnershipType") or "UserOwned"
        self.display = d.get("DisplayName") or self.schema
        self.display_collection = d.get("DisplayCollectionName") or self.display + "s"
        self.description = d.get("Description")
        self.metadata_id = meta_guid("entity", self.logical)
        self.attrs = []
        self.by_logical = {}
        for ad in d["Attributes"]:
            a = Attr(self.logical, ad)
            self.attrs.append(a)
            self.by_logical[a.logical] = a
        self.raw_m2o = d.get("ManyToOneRelationships") or []
        self.props = {}       # wire property name -> Attr (readable OData properties)
        self.read_props = []  # ordered list of (prop, Attr) rendered without $select
        self.navs = {}        # navigation property name -> Nav
        self.m2o = []         # relationship dicts (filled by finish())
        self.money = []
        self.composites = {}  # "address1" -> Attr of address1_composite

    # ------------------------------------------------------------------------------------
    def finish(self, catalog):
        """Derive AttributeOf, property names, navigation properties and relationships."""
        lookups = {a.logical for a in self.attrs if a.is_lookup}
        for a in self.attrs:
            if a.logical == self.pk:
                a.is_pk = True
            if a.logical == self.primary_name:
                a.is_primary_name = True
            if a.attribute_of is None:
                a.attribute_of = _helper_of(a, lookups)
        for a in self.attrs:
            if not a.is_odata or not a.read:
                continue
            a.prop = "_%s_value" % a.logical if a.is_lookup else a.logical
            self.props[a.prop] = a
            self.read_props.append((a.prop, a))
            if a.kind == "Money" and not a.logical.endswith("_base"):
                self.money.append(a)
            if a.logical.endswith("_composite"):
                self.composites[a.logical[:-len("_composite")]] = a
        # writable lookups that are not readable still need a property for validation
        for a in self.attrs:
            if a.is_lookup and a.prop is None and a.is_odata:
                a.prop = "_%s_value" % a.logical
        self._build_relationships(catalog)

    def _build_relationships(self, catalog):
        """ManyToOneRelationships with the gaps of the reference data filled (README: single-target
        lookups: nav name = lookup name; polymorphic: one per target; owner: ``ownerid``)."""
        by_attr_target = {}
        for r in self.raw_m2o:
            attr = r.get("ReferencingAttribute") or _guess_referencing(r["SchemaName"], self.logical)
            if attr is None or attr not in self.by_logical:
                continue
            by_attr_target[(attr, r["ReferencedEntity"])] = r
        for a in self.attrs:
            if not a.is_lookup:
                continue
            if a.kind == "Owner":
                targets = ["owner"]
            else:
                targets = list(a.targets)
            poly = len(targets) > 1
            nav_targets = []
            for t in targets:
                r = by_attr_target.get((a.logical, t), {})
                nav = r.get("ReferencingEntityNavigationPropertyName")
                if not nav:
                    if a.custom:
                        nav = a.schema
                    else:
                        nav = "%s_%s" % (a.logical, t) if poly else a.logical
                schema = r.get("SchemaName") or _synth_rel_name(self.logical, a.logical, t, poly)
                ref_attr = r.get("ReferencedAttribute")
                target_ent = catalog.get(t)
                if not ref_attr:
                    ref_attr = target_ent.pk if target_ent else ("ownerid" if t == "owner" else t + "id")
                self.m2o.append({
                    "SchemaName": schema,
                    "ReferencingEntity": self.logical,
                    "ReferencingAttribute": a.logical,
                    "ReferencingEntityNavigationPropertyName": nav,
                    "ReferencedEntity": t,
                    "ReferencedAttribute": ref_attr,
                    "ReferencedEntityNavigationPropertyName": schema,
                    "RelationshipType": "OneToManyRelationship",
                    "IsCustomRelationship": a.custom,
                    "IsValidForAdvancedFind": True,
                    "SecurityTypes": "Append" if a.logical not in _SYSTEM_LOOKUPS else "None",
                    "IsHierarchical": a.logical == "parentaccountid",
                    "MetadataId": meta_guid("rel", schema, self.logical, a.logical, t),
                })
                if t == "owner":
                    self.navs[nav] = Nav(nav, a, ["systemuser", "team"])
                elif a.create or a.update:
                    if nav in self.navs:
                        self.navs[nav].targets.append(t)
                    else:
                        self.navs[nav] = Nav(nav, a, [t])
                    nav_targets.append(nav)
                else:
                    # read-only lookups still have a navigation property (for $expand) but
                    # cannot be bound
                    self.navs.setdefault(nav, Nav(nav, a, [t]))
            a.navs = nav_targets

    def odata_type_name(self):
        return "Microsoft.Dynamics.CRM." + self.logical


_SYSTEM_LOOKUPS = {"createdby", "modifiedby", "createdonbehalfby", "modifiedonbehalfby",
                   "owningbusinessunit", "owninguser", "owningteam", "createdbyexternalparty",
                   "modifiedbyexternalparty"}


def _helper_of(a, lookups):
    """AttributeOf for *name/*yominame/*type helper columns of lookups (ref 1.6)."""
    n = a.logical
    if a.kind == "EntityName":
        for suf in ("typecode", "type"):
            if n.endswith(suf) and n[:-len(suf)] in lookups:
                return n[:-len(suf)]
        return None
    if a.kind != "String" or a.create or a.update:
        return None
    for suf in ("yominame", "name"):
        if n.endswith(suf):
            base = n[:-len(suf)]
            if base in lookups:
                return base
            special = {"masteraccountid": "masterid", "mastercontactid": "masterid", "sla": "slaid"}
            if base in special and special[base] in lookups:
                return special[base]
    return None


def _guess_referencing(schema, entity):
    s = schema.lower()
    for suffix in ("createdonbehalfby", "modifiedonbehalfby", "createdby", "modifiedby"):
        if s.startswith("lk_") and s.endswith(suffix):
            return suffix
    table = [("business_unit_", "owningbusinessunit"), ("transactioncurrency_", "transactioncurrencyid"),
             ("team_", "owningteam"), ("user_", "owninguser"), ("system_user_", "preferredsystemuserid"),
             ("manualsla_", "slaid"), ("sla_", "slainvokedid"), ("owner_", "ownerid")]
    if s.endswith("_owning_user"):
        return "owninguser"
    for prefix, attr in table:
        if s.startswith(prefix):
            return attr
    return None


def _synth_rel_name(entity, attr, target, poly):
    if attr in ("createdby", "modifiedby", "createdonbehalfby", "modifiedonbehalfby"):
        return "lk_%s_%s" % (entity, attr)
    if attr == "owningbusinessunit":
        return "business_unit_%s" % entity
    if attr == "owninguser":
        return "user_%s" % entity
    if attr == "owningteam":
        return "team_%s" % entity
    if attr == "ownerid":
        return "owner_%s" % entity
    if attr == "transactioncurrencyid":
        return "transactioncurrency_%s" % entity
    return "%s_%s_%s" % (target, entity, attr)


# --------------------------------------------------------------------------------------------
# Hand-written tables: one custom table and the system tables lookups point at.


def _a(logical, atype, c=True, u=True, r=True, schema=None, **kw):
    d = {"LogicalName": logical, "SchemaName": schema or logical, "AttributeType": atype,
         "IsValidForCreate": c, "IsValidForUpdate": u, "IsValidForRead": r,
         "RequiredLevel": kw.pop("req", "None")}
    if atype == "MultiSelect":
        d["AttributeType"] = "Virtual"
        d["AttributeTypeName"] = "MultiSelectPicklistType"
    d.update({"MaxLength": kw.pop("maxlen", None), "Precision": kw.pop("precision", None),
              "MinValue": kw.pop("minv", None), "MaxValue": kw.pop("maxv", None),
              "Format": kw.pop("fmt", None), "FormatName": kw.pop("fmtname", None),
              "Targets": kw.pop("targets", None), "Options": kw.pop("options", None),
              "DateTimeBehavior": kw.pop("dtb", None), "DisplayName": kw.pop("display", None),
              "Description": kw.pop("desc", None), "AttributeOf": kw.pop("attribute_of", None),
              "PrecisionSource": kw.pop("psource", None), "IsCustomAttribute": kw.pop("custom", False)})
    if atype == "String" and d["FormatName"] is None:
        d["FormatName"] = "Text"
        d["Format"] = "Text"
    if atype == "DateTime" and d["Format"] is None:
        d["Format"] = "DateAndTime"
        d["DateTimeBehavior"] = d["DateTimeBehavior"] or "UserLocal"
    d.update(kw)
    return d


_STATE = [{"Value": 0, "Label": "Active", "DefaultStatus": 1, "InvariantName": "Active"},
          {"Value": 1, "Label": "Inactive", "DefaultStatus": 2, "InvariantName": "Inactive"}]
_STATUS = [{"Value": 1, "Label": "Active", "State": 0}, {"Value": 2, "Label": "Inactive", "State": 1}]
_BOOL = [{"Value": 0, "Label": "No"}, {"Value": 1, "Label": "Yes"}]


def _system_columns(entity, owned=True, money=False, custom=False):
    """The system columns every (custom) table gets (ref 11.1, 11.2)."""
    ro = dict(c=False, u=False)
    cols = [
        _a("createdon", "DateTime", **ro, display="Created On"),
        _a("modifiedon", "DateTime", **ro, display="Modified On"),
        _a("createdby", "Lookup", **ro, targets=["systemuser"], display="Created By"),
        _a("createdbyname", "String", **ro, maxlen=100),
        _a("createdbyyominame", "String", **ro, maxlen=100),
        _a("modifiedby", "Lookup", **ro, targets=["systemuser"], display="Modified By"),
        _a("modifiedbyname", "String", **ro, maxlen=100),
        _a("modifiedbyyominame", "String", **ro, maxlen=100),
        _a("createdonbehalfby", "Lookup", **ro, targets=["systemuser"]),
        _a("modifiedonbehalfby", "Lookup", **ro, targets=["systemuser"]),
        _a("versionnumber", "BigInt", **ro, minv=-9223372036854775808, maxv=9223372036854775807),
        _a("importsequencenumber", "Integer", u=False, minv=-2147483648, maxv=2147483647),
        _a("overriddencreatedon", "DateTime", u=False, fmt="DateOnly"),
        _a("timezoneruleversionnumber", "Integer", minv=-1, maxv=2147483647),
        _a("utcconversiontimezonecode", "Integer", minv=-1, maxv=2147483647),
        _a("statecode", "State", c=False, req="SystemRequired", options=_STATE, display="Status"),
        _a("statuscode", "Status", options=_STATUS, display="Status Reason"),
    ]
    if owned:
        cols += [
            _a("ownerid", "Owner", targets=["systemuser", "team"], req="SystemRequired", display="Owner"),
            _a("owneridtype", "EntityName", req="SystemRequired"),
            _a("owneridname", "String", **ro, maxlen=100),
            _a("owneridyominame", "String", **ro, maxlen=100),
            _a("owningbusinessunit", "Lookup", **ro, targets=["businessunit"]),
            _a("owninguser", "Lookup", **ro, targets=["systemuser"]),
            _a("owningteam", "Lookup", **ro, targets=["team"]),
        ]
    if money:
        cols += [
            _a("transactioncurrencyid", "Lookup", targets=["transactioncurrency"], display="Currency"),
            _a("transactioncurrencyidname", "String", **ro, maxlen=100),
            _a("exchangerate", "Decimal", **ro, precision=12, minv=1e-12, maxv=100000000000),
        ]
    return cols


def custom_category():
    """Custom table ``new_category`` whose EntitySetName ``new_categories`` is not logical+"s"."""
    pick = [{"Value": 100000000, "Label": "Low"}, {"Value": 100000001, "Label": "Normal"},
            {"Value": 100000002, "Label": "High"}, {"Value": 100000003, "Label": "Critical"}]
    tags = [{"Value": 100000000, "Label": "Internal"}, {"Value": 100000001, "Label": "Billable"},
            {"Value": 100000002, "Label": "Strategic"}, {"Value": 100000003, "Label": "Archived"}]
    cols = [
        _a("new_categoryid", "Uniqueidentifier", u=False, req="SystemRequired", schema="new_CategoryId",
           display="Category", custom=True),
        _a("new_name", "String", maxlen=100, req="ApplicationRequired", schema="new_Name", display="Name",
           custom=True),
        _a("new_code", "String", maxlen=20, schema="new_Code", display="Code", custom=True),
        _a("new_description", "Memo", maxlen=2000, fmt="TextArea", schema="new_Description",
           display="Description", custom=True),
        _a("new_budget", "Money", precision=2, psource=2, minv=-922337203685477, maxv=922337203685477,
           schema="new_Budget", display="Budget", custom=True),
        _a("new_budget_base", "Money", c=False, u=False, precision=4, psource=2, minv=-922337203685477,
           maxv=922337203685477, schema="new_budget_Base", custom=True),
        _a("new_priority", "Picklist", options=pick, schema="new_Priority", display="Priority", custom=True),
        _a("new_tags", "MultiSelect", options=tags, schema="new_Tags", display="Tags", custom=True),
        _a("new_isactive", "Boolean", options=_BOOL, schema="new_IsActive", display="Is Active", custom=True,
           DefaultValue=True),
        _a("new_startdate", "DateTime", fmt="DateOnly", dtb="DateOnly", schema="new_StartDate",
           display="Start Date", custom=True),
        _a("new_sequence", "Integer", minv=-2147483648, maxv=2147483647, schema="new_Sequence",
           display="Sequence", custom=True),
        _a("new_score", "Decimal", precision=2, minv=-100000000000, maxv=100000000000, schema="new_Score",
           display="Score", custom=True),
        _a("new_ratio", "Double", precision=5, minv=-100000000000, maxv=100000000000, schema="new_Ratio",
           display="Ratio", custom=True),
        _a("new_website", "String", maxlen=200, fmt="Url", fmtname="Url", schema="new_Website",
           display="Website", custom=True),
        _a("new_accountid", "Lookup", targets=["account"], schema="new_AccountId", display="Account",
           custom=True),
        _a("new_accountidname", "String", c=False, u=False, maxlen=160, schema="new_AccountIdName", custom=True),
        _a("new_accountidyominame", "String", c=False, u=False, maxlen=160, custom=True),
    ] + _system_columns("new_category", money=True)
    return {"LogicalName": "new_category", "EntitySetName": "new_categories", "SchemaName": "new_Category",
            "CollectionSchemaName": "new_Categories", "LogicalCollectionName": "new_categories",
            "PrimaryIdAttribute": "new_categoryid", "PrimaryNameAttribute": "new_name",
            "DisplayName": "Category", "DisplayCollectionName": "Categories", "OwnershipType": "UserOwned",
            "Description": "Project categories (custom table of the emulator).", "Attributes": cols,
            "ManyToOneRelationships": [
                {"SchemaName": "new_account_new_category", "ReferencingAttribute": "new_accountid",
                 "ReferencingEntityNavigationPropertyName": "new_AccountId", "ReferencedEntity": "account",
                 "ReferencedAttribute": "accountid"}]}


def system_tables():
    ro = dict(c=False, u=False)
    su = {"LogicalName": "systemuser", "EntitySetName": "systemusers", "SchemaName": "SystemUser",
          "PrimaryIdAttribute": "systemuserid", "PrimaryNameAttribute": "fullname", "DisplayName": "User",
          "DisplayCollectionName": "Users", "OwnershipType": "BusinessOwned",
          "Description": "Person with access to the Microsoft CRM system and who owns objects in the Microsoft CRM database.",
          "Attributes": [
              _a("systemuserid", "Uniqueidentifier", u=False, req="SystemRequired"),
              _a("fullname", "String", **ro, maxlen=200, display="Full Name"),
              _a("firstname", "String", maxlen=256), _a("lastname", "String", maxlen=256),
              _a("domainname", "String", maxlen=1024, req="SystemRequired", display="User Name"),
              _a("internalemailaddress", "String", maxlen=100, fmt="Email", fmtname="Email"),
              _a("azureactivedirectoryobjectid", "Uniqueidentifier", u=False),
              _a("applicationid", "Uniqueidentifier", u=False),
              _a("isdisabled", "Boolean", **ro, options=_BOOL),
              _a("accessmode", "Picklist", options=[{"Value": 0, "Label": "Read-Write"},
                                                    {"Value": 4, "Label": "Non-interactive"}]),
              _a("title", "String", maxlen=128),
              _a("businessunitid", "Lookup", targets=["businessunit"], req="SystemRequired"),
              _a("businessunitidname", "String", **ro, maxlen=160),
              _a("createdon", "DateTime", **ro), _a("modifiedon", "DateTime", **ro),
              _a("createdby", "Lookup", **ro, targets=["systemuser"]),
              _a("modifiedby", "Lookup", **ro, targets=["systemuser"]),
              _a("versionnumber", "BigInt", **ro)]}
    team = {"LogicalName": "team", "EntitySetName": "teams", "SchemaName": "Team",
            "PrimaryIdAttribute": "teamid", "PrimaryNameAttribute": "name", "DisplayName": "Team",
            "DisplayCollectionName": "Teams", "OwnershipType": "BusinessOwned",
            "Attributes": [
                _a("teamid", "Uniqueidentifier", u=False, req="SystemRequired"),
                _a("name", "String", maxlen=160, req="SystemRequired"),
                _a("teamtype", "Picklist", options=[{"Value": 0, "Label": "Owner"}, {"Value": 1, "Label": "Access"}]),
                _a("isdefault", "Boolean", **ro, options=_BOOL),
                _a("businessunitid", "Lookup", targets=["businessunit"]),
                _a("createdon", "DateTime", **ro), _a("modifiedon", "DateTime", **ro),
                _a("versionnumber", "BigInt", **ro)]}
    bu = {"LogicalName": "businessunit", "EntitySetName": "businessunits", "SchemaName": "BusinessUnit",
          "PrimaryIdAttribute": "businessunitid", "PrimaryNameAttribute": "name",
          "DisplayName": "Business Unit", "DisplayCollectionName": "Business Units", "OwnershipType": "BusinessOwned",
          "Attributes": [
              _a("businessunitid", "Uniqueidentifier", u=False, req="SystemRequired"),
              _a("name", "String", maxlen=160, req="SystemRequired"),
              _a("parentbusinessunitid", "Lookup", targets=["businessunit"]),
              _a("isdisabled", "Boolean", **ro, options=_BOOL),
              _a("createdon", "DateTime", **ro), _a("modifiedon", "DateTime", **ro),
              _a("versionnumber", "BigInt", **ro)]}
    cur = {"LogicalName": "transactioncurrency", "EntitySetName": "transactioncurrencies",
           "SchemaName": "TransactionCurrency", "PrimaryIdAttribute": "transactioncurrencyid",
           "PrimaryNameAttribute": "currencyname", "DisplayName": "Currency", "DisplayCollectionName": "Currencies",
           "OwnershipType": "OrganizationOwned",
           "Attributes": [
               _a("transactioncurrencyid", "Uniqueidentifier", u=False, req="SystemRequired"),
               _a("currencyname", "String", maxlen=100, req="SystemRequired"),
               _a("isocurrencycode", "String", maxlen=5, req="SystemRequired"),
               _a("currencysymbol", "String", maxlen=13, req="SystemRequired"),
               _a("currencyprecision", "Integer", minv=0, maxv=4),
               _a("exchangerate", "Decimal", precision=12, minv=1e-12, maxv=100000000000),
               _a("statecode", "State", c=False, options=_STATE), _a("statuscode", "Status", options=_STATUS),
               _a("createdon", "DateTime", **ro), _a("modifiedon", "DateTime", **ro),
               _a("versionnumber", "BigInt", **ro)]}
    org = {"LogicalName": "organization", "EntitySetName": "organizations", "SchemaName": "Organization",
           "PrimaryIdAttribute": "organizationid", "PrimaryNameAttribute": "name",
           "DisplayName": "Organization", "DisplayCollectionName": "Organizations", "OwnershipType": "None",
           "Attributes": [
               _a("organizationid", "Uniqueidentifier", **ro),
               _a("name", "String", **ro, maxlen=160),
               _a("languagecode", "Integer", **ro),
               _a("basecurrencyid", "Lookup", **ro, targets=["transactioncurrency"]),
               _a("createdon", "DateTime", **ro), _a("modifiedon", "DateTime", **ro),
               _a("versionnumber", "BigInt", **ro)]}
    return [su, team, bu, cur, org]


# ObjectTypeCode and ChangeTrackingEnabled are null in the reference data (README); these are
# the well-known values.
_OTC = {"account": 1, "contact": 2, "annotation": 5, "systemuser": 8, "team": 9, "businessunit": 10,
        "organization": 1019, "transactioncurrency": 9105, "new_category": 10447}


class Catalog:
    """All tables of an org (identical for every org)."""

    def __init__(self):
        self.entities = {}
        for name in ("account", "contact", "annotation"):
            with open(os.path.join(ENTITY_DIR, name + ".json"), encoding="utf-8") as f:
                d = json.load(f)
            e = Entity(d, _OTC[name], change_tracking=name in ("account", "contact"), adv_find=True)
            self.entities[name] = e
        self.entities["new_category"] = Entity(custom_category(), _OTC["new_category"], change_tracking=True,
                                               custom=True)
        for d in system_tables():
            self.entities[d["LogicalName"]] = Entity(d, _OTC[d["LogicalName"]], change_tracking=False,
                                                     adv_find=False, read_only=True)
        for e in self.entities.values():
            e.finish(self.entities)
        self.by_set = {e.set_name: e for e in self.entities.values()}

    def get(self, logical):
        return self.entities.get(logical)


# --------------------------------------------------------------------------------------------
# JSON renderings (ref 1.5-1.7)


def entity_definition(e):
    return {
        "MetadataId": e.metadata_id,
        "LogicalName": e.logical,
        "SchemaName": e.schema,
        "EntitySetName": e.set_name,
        "LogicalCollectionName": e.logical_collection,
        "CollectionSchemaName": e.collection_schema,
        "PrimaryIdAttribute": e.pk,
        "PrimaryNameAttribute": e.primary_name,
        "PrimaryImageAttribute": "entityimage" if "entityimage" in e.by_logical else None,
        "ObjectTypeCode": e.otc,
        "ChangeTrackingEnabled": e.change_tracking,
        "IsValidForAdvancedFind": e.adv_find,
        "IsIntersect": False,
        "IsActivity": e.is_activity,
        "IsActivityParty": False,
        "IsCustomEntity": e.custom,
        "IsManaged": not e.custom,
        "IsLogicalEntity": False,
        "IsPrivate": False,
        "IsBPFEntity": False,
        "IsStateModelAware": "statecode" in e.by_logical,
        "IsOptimisticConcurrencyEnabled": True,
        "IsAvailableOffline": True,
        "IsChildEntity": False,
        "HasNotes": e.logical in ("account", "contact", "new_category"),
        "HasActivities": e.logical in ("account", "contact"),
        "OwnershipType": e.ownership,
        "TableType": "Standard",
        "ExternalName": None,
        "ExternalCollectionName": None,
        "IntroducedVersion": "1.0" if e.custom else "5.0.0.0",
        "DisplayName": label(e.display),
        "DisplayCollectionName": label(e.display_collection),
        "Description": label(e.description),
        "IsCustomizable": managed(True, "iscustomizable"),
        "IsAuditEnabled": managed(False, "canmodifyauditsettings"),
        "CanChangeTrackingBeEnabled": managed(True, "canchangetrackingbeenabled"),
        "IsValidForQueue": managed(False, "canmodifyqueuesettings"),
        "IsRenameable": managed(True, "isrenameable"),
        "IsMappable": managed(True, "ismappable"),
        "HasChanged": None,
    }


_ATTR_BASE_KEYS = None


def attribute_definition(a, full=True):
    """Render one attribute with its derived-type properties (ref 1.6)."""
    d = {
        "@odata.type": "#Microsoft.Dynamics.CRM." + a.odata_type,
        "MetadataId": a.metadata_id,
        "LogicalName": a.logical,
        "SchemaName": a.schema,
        "EntityLogicalName": a.entity,
        "AttributeType": a.wire_type,
        "AttributeTypeName": {"Value": a.type_name},
        "AttributeOf": a.attribute_of,
        "IsPrimaryId": a.is_pk,
        "IsPrimaryName": a.is_primary_name,
        "IsValidForCreate": a.create,
        "IsValidForUpdate": a.update,
        "IsValidForRead": a.read,
        "IsValidODataAttribute": a.is_odata,
        "IsCustomAttribute": a.custom,
        "IsLogical": False,
        "IsManaged": not a.custom,
        "IsSecured": False,
        "IsFilterable": a.read,
        "IsSearchable": a.read and a.is_odata,
        "IsRetrievable": a.read,
        "IsValidForForm": a.is_odata,
        "IsValidForGrid": a.is_odata,
        "IsRequiredForForm": a.required in ("SystemRequired", "ApplicationRequired"),
        "RequiredLevel": {"Value": a.required, "CanBeChanged": a.required != "SystemRequired",
                          "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"},
        "IsValidForAdvancedFind": managed(a.read and a.is_odata, "canmodifysearchsettings"),
        "IsAuditEnabled": managed(True, "canmodifyauditsettings"),
        "IsCustomizable": managed(True, "iscustomizable"),
        "IsRenameable": managed(True, "isrenameable"),
        "DisplayName": label(a.display),
        "Description": label(a.description),
        "SourceType": 0,
        "IntroducedVersion": "1.0" if a.custom else "5.0.0.0",
        "DeprecatedVersion": None,
        "ExternalName": None,
        "HasChanged": None,
    }
    if not full:
        return d
    k = a.kind
    if k in ("String", "Memo"):
        d["MaxLength"] = a.maxlen
        d["DatabaseLength"] = (a.maxlen or 0) * 2
        d["Format"] = a.format or ("TextArea" if k == "Memo" else "Text")
        d["ImeMode"] = "Auto"
        if k == "String":
            d["FormatName"] = {"Value": a.format_name or "Text"}
            d["YomiOf"] = None
            d["IsLocalizable"] = False
            d["FormulaDefinition"] = None
    elif k in ("Integer", "BigInt"):
        d["MinValue"] = a.minv
        d["MaxValue"] = a.maxv
        if k == "Integer":
            d["Format"] = a.format or "None"
    elif k in ("Decimal", "Double", "Money"):
        d["Precision"] = a.precision
        d["MinValue"] = a.minv
        d["MaxValue"] = a.maxv
        d["ImeMode"] = "Auto"
        if k == "Money":
            d["PrecisionSource"] = a.precision_source if a.precision_source is not None else 2
            d["IsBaseCurrency"] = a.logical.endswith("_base")
            d["CalculationOf"] = None
    elif k == "DateTime":
        d["Format"] = a.format or "DateAndTime"
        d["DateTimeBehavior"] = {"Value": a.dt_behavior or "UserLocal"}
        d["CanChangeDateTimeBehavior"] = managed(False, "canchangedatetimebehavior")
        d["MinSupportedValue"] = "1753-01-01T00:00:00Z"
        d["MaxSupportedValue"] = "9999-12-30T23:59:59Z"
        d["ImeMode"] = "Auto"
    elif k in ("Lookup", "Customer", "Owner"):
        d["Targets"] = list(a.targets)
        d["Format"] = None
    elif k == "Boolean":
        d["DefaultValue"] = bool(a.default) if a.default is not None else False
    elif k in ("Picklist", "State", "Status", "MultiSelect"):
        d["DefaultFormValue"] = None
    elif k == "Image":
        d["MaxHeight"] = 144
        d["MaxWidth"] = 144
        d["MaxSizeInKB"] = 10240
        d["IsPrimaryImage"] = True
        d["CanStoreFullImage"] = True
    return d


_ATTR_TYPE_KEYS = {"MaxLength", "DatabaseLength", "Format", "ImeMode", "FormatName", "YomiOf", "IsLocalizable",
                   "FormulaDefinition", "MinValue", "MaxValue", "Precision", "PrecisionSource", "IsBaseCurrency",
                   "CalculationOf", "DateTimeBehavior", "CanChangeDateTimeBehavior", "MinSupportedValue",
                   "MaxSupportedValue", "Targets", "DefaultValue", "DefaultFormValue", "MaxHeight", "MaxWidth",
                   "MaxSizeInKB", "IsPrimaryImage", "CanStoreFullImage", "OptionSet", "GlobalOptionSet"}


def base_attribute_keys():
    """Properties declared on the base type AttributeMetadata (selectable without a cast)."""
    global _ATTR_BASE_KEYS
    if _ATTR_BASE_KEYS is None:
        d = attribute_definition(Attr("x", {"LogicalName": "x", "AttributeType": "String"}), full=False)
        _ATTR_BASE_KEYS = set(d) - {"@odata.type"}
    return _ATTR_BASE_KEYS


def option_set(a):
    """OptionSet for $expand=OptionSet on a cast segment (ref 1.6)."""
    def opt(o):
        d = {"Value": o["Value"], "Color": None, "IsManaged": True, "ExternalValue": "", "ParentValues": [],
             "Tag": None, "IsHidden": False, "MetadataId": None, "HasChanged": None,
             "Label": label(o.get("Label")), "Description": label(None)}
        if a.kind == "State":
            d["DefaultStatus"] = o.get("DefaultStatus")
            d["InvariantName"] = o.get("InvariantName")
        if a.kind == "Status":
            d["State"] = o.get("State")
            d["TransitionData"] = None
        return d
    base = {"MetadataId": meta_guid("optionset", a.entity, a.logical), "HasChanged": None,
            "IsCustomOptionSet": a.custom, "IsGlobal": False, "IsManaged": not a.custom,
            "Name": "%s_%s" % (a.entity, a.logical), "ExternalTypeName": None,
            "OptionSetType": {"Picklist": "Picklist", "State": "State", "Status": "Status",
                              "MultiSelect": "Picklist", "Boolean": "Boolean"}.get(a.kind, "Picklist"),
            "IntroducedVersion": "5.0.0.0", "ParentOptionSetName": None,
            "Description": label(None), "DisplayName": label(a.display),
            "IsCustomizable": managed(True, "iscustomizable")}
    if a.kind == "Boolean":
        opts = {o["Value"]: o for o in (a.options or _BOOL)}
        base["TrueOption"] = opt(opts.get(1, {"Value": 1, "Label": "Yes"}))
        base["FalseOption"] = opt(opts.get(0, {"Value": 0, "Label": "No"}))
    else:
        base["Options"] = [opt(o) for o in a.options]
    return base
