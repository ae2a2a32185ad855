"""WhoAmI, service document, EntityDefinitions, Attributes, relationships (reference §1)."""

import json
import os

import pytest

from lib.client import GUID_RE, assert_odata_error
from lib.fixtures import emulator_fixture

emu = emulator_fixture(orgs="contoso", records={"accounts": 40, "contacts": 20}, seed=11)

SHARED_ENTITIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                               "shared", "data", "entities")
if not os.path.isdir(SHARED_ENTITIES):
    SHARED_ENTITIES = "/work/shared/data/entities"
LOCAL_ENTITIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "entities")


def load_entity(name):
    for d in (LOCAL_ENTITIES, SHARED_ENTITIES):
        p = os.path.join(d, name + ".json")
        if os.path.exists(p):
            with open(p) as f:
                return json.load(f)
    pytest.skip("no entity json for %s" % name)


ENTITY_SELECT = ("LogicalName,EntitySetName,SchemaName,PrimaryIdAttribute,PrimaryNameAttribute,"
                 "ObjectTypeCode,ChangeTrackingEnabled,IsValidForAdvancedFind,IsIntersect,IsActivity,"
                 "IsCustomEntity,OwnershipType,IsOptimisticConcurrencyEnabled")


@pytest.fixture(scope="module")
def entity_defs(api):
    r = api.get("EntityDefinitions?$select=%s&$filter=IsValidForAdvancedFind eq true" % ENTITY_SELECT)
    assert r.status == 200, r
    return r


def by_logical(defs):
    return {d["LogicalName"]: d for d in defs.body["value"]}


# ---------------------------------------------------------------- WhoAmI


def test_whoami(api):
    r = api.get("WhoAmI")
    assert r.status == 200, r
    assert r.headers.get("OData-Version") == "4.0"
    assert (r.headers.get("Content-Type") or "").startswith("application/json")
    b = r.body
    for k in ("UserId", "BusinessUnitId", "OrganizationId"):
        assert GUID_RE.match(b[k]), (k, b[k])
    assert b["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"), b
    assert b["@odata.context"].startswith(api.api_url)


def test_whoami_post_is_404(api):
    r = api.post("WhoAmI", {})
    assert_odata_error(r, 404, code="", contains="No HTTP resource was found that matches the request URI")


@pytest.mark.parametrize("version", ["v9.0", "v9.1"])
def test_older_api_versions_work(api, version):
    url = api.api_url.replace("/v9.2/", "/%s/" % version)
    r = api.get(url + "WhoAmI")
    assert r.status == 200, r


def test_service_document_lists_entity_sets(api, entity_defs):
    r = api.get("")
    assert r.status == 200, r
    assert r.body["@odata.context"].endswith("$metadata"), r.body
    names = {e["name"]: e for e in r.body["value"]}
    for s in ("accounts", "contacts"):
        assert names[s]["kind"] == "EntitySet" and names[s]["url"] == s
    for d in entity_defs.body["value"]:
        if d.get("EntitySetName"):
            assert d["EntitySetName"] in names, d


def test_entity_set_names_are_case_sensitive(api):
    r = api.get("Accounts")
    assert_odata_error(r, 404, code=("0x8006088a", "0x80060888"),
                       message="Resource not found for the segment 'Accounts'.")


# ---------------------------------------------------------------- EntityDefinitions


def test_entity_definitions_list(entity_defs):
    b = entity_defs.body
    assert "#EntityDefinitions(" in b["@odata.context"], b["@odata.context"]
    defs = by_logical(entity_defs)
    acc, con = defs["account"], defs["contact"]
    assert acc["EntitySetName"] == "accounts"
    assert acc["PrimaryIdAttribute"] == "accountid"
    assert acc["PrimaryNameAttribute"] == "name"
    assert con["EntitySetName"] == "contacts"
    assert con["PrimaryIdAttribute"] == "contactid"
    assert con["PrimaryNameAttribute"] == "fullname"
    for d in b["value"]:
        assert isinstance(d["ChangeTrackingEnabled"], bool), d
        assert isinstance(d["IsValidForAdvancedFind"], bool), d
        assert d["IsValidForAdvancedFind"] is True, d  # the $filter applied
        assert GUID_RE.match(d["MetadataId"]), d      # always returned even if not selected
    assert acc["ChangeTrackingEnabled"] is True


def test_entity_definitions_select_limits_properties(api):
    r = api.get("EntityDefinitions?$select=LogicalName,EntitySetName")
    assert r.status == 200, r
    for d in r.body["value"]:
        extra = set(k for k in d if not k.startswith("@")) - {"LogicalName", "EntitySetName", "MetadataId"}
        assert not extra, extra


def test_entity_definitions_filter_logicalname(api):
    r = api.get("EntityDefinitions?$select=LogicalName,EntitySetName&$filter=LogicalName eq 'contact'")
    assert r.status == 200, r
    assert [d["LogicalName"] for d in r.body["value"]] == ["contact"]


def test_metadata_is_never_paged(api):
    all_ = api.get("EntityDefinitions?$select=LogicalName")
    r = api.get("EntityDefinitions?$select=LogicalName", headers={"Prefer": "odata.maxpagesize=1"})
    assert r.status == 200, r
    assert "@odata.nextLink" not in r.body
    assert len(r.body["value"]) == len(all_.body["value"]) >= 3


def test_entity_definition_by_key(api):
    r = api.get("EntityDefinitions(LogicalName='account')?$select=LogicalName,EntitySetName,PrimaryIdAttribute")
    assert r.status == 200, r
    b = r.body
    assert "value" not in b, "keyed GET must return a bare object"
    assert b["LogicalName"] == "account" and b["EntitySetName"] == "accounts"
    assert b["PrimaryIdAttribute"] == "accountid"
    assert GUID_RE.match(b["MetadataId"])
    assert "$entity" in b["@odata.context"], b["@odata.context"]
    # by MetadataId too
    r2 = api.get("EntityDefinitions(%s)?$select=LogicalName" % b["MetadataId"])
    assert r2.status == 200 and r2.body["LogicalName"] == "account", r2


def test_entity_definition_unknown_key_404(api):
    r = api.get("EntityDefinitions(LogicalName='nosuchentity')")
    assert r.status == 404, r
    assert r.error is not None


def test_custom_entity_with_irregular_set_name(api):
    r = api.get("EntityDefinitions?$select=LogicalName,EntitySetName,IsCustomEntity,PrimaryIdAttribute")
    assert r.status == 200, r
    odd = [d for d in r.body["value"] if d.get("IsCustomEntity") and d.get("EntitySetName")
           and d["EntitySetName"] != d["LogicalName"] + "s"]
    assert odd, "expected a custom entity whose EntitySetName is not LogicalName+'s'"
    d = odd[0]
    r = api.get(d["EntitySetName"])
    assert r.status == 200, r
    assert isinstance(r.body["value"], list)
    r = api.get(d["LogicalName"] + "s")
    assert r.status == 404, r


# ---------------------------------------------------------------- Attributes

ATTR_SELECT = ("LogicalName,SchemaName,AttributeType,AttributeTypeName,IsValidForCreate,IsValidForUpdate,"
               "IsValidForRead,IsPrimaryId,IsPrimaryName,AttributeOf,IsValidODataAttribute,RequiredLevel")


@pytest.fixture(scope="module")
def account_attrs(api):
    r = api.get("EntityDefinitions(LogicalName='account')/Attributes?$select=" + ATTR_SELECT)
    assert r.status == 200, r
    return {a["LogicalName"]: a for a in r.body["value"]}


def test_attributes_shape(account_attrs):
    for a in account_attrs.values():
        t = a["@odata.type"]
        assert t.startswith("#Microsoft.Dynamics.CRM.") and t.endswith("AttributeMetadata"), a
        assert isinstance(a["IsValidForCreate"], bool) and isinstance(a["IsValidForUpdate"], bool), a
        assert isinstance(a["AttributeType"], str), a
        assert GUID_RE.match(a["MetadataId"]), a
    n = account_attrs["name"]
    assert n["AttributeType"] == "String" and n["IsValidForCreate"] and n["IsValidForUpdate"]
    assert n["@odata.type"] == "#Microsoft.Dynamics.CRM.StringAttributeMetadata"
    assert n["IsPrimaryName"] is True
    c = account_attrs["createdon"]
    assert c["AttributeType"] == "DateTime" and not c["IsValidForCreate"] and not c["IsValidForUpdate"]
    assert c["@odata.type"] == "#Microsoft.Dynamics.CRM.DateTimeAttributeMetadata"
    rev = account_attrs["revenue"]
    assert rev["AttributeType"] == "Money"
    assert rev["@odata.type"] == "#Microsoft.Dynamics.CRM.MoneyAttributeMetadata"
    pk = account_attrs["accountid"]
    assert pk["AttributeType"] == "Uniqueidentifier" and pk["IsPrimaryId"] is True
    assert pk["IsValidForCreate"] is True and pk["IsValidForUpdate"] is False
    assert account_attrs["primarycontactid"]["AttributeType"] == "Lookup"
    assert account_attrs["versionnumber"]["AttributeType"] == "BigInt"
    assert isinstance(n["RequiredLevel"], dict) and "Value" in n["RequiredLevel"], n["RequiredLevel"]


def test_attributes_match_reference_columns(account_attrs):
    ref = load_entity("account")
    missing, wrong = [], []
    for a in ref["Attributes"]:
        got = account_attrs.get(a["LogicalName"])
        if got is None:
            missing.append(a["LogicalName"])
            continue
        for k in ("AttributeType", "IsValidForCreate", "IsValidForUpdate"):
            want = a.get(k)
            if k == "AttributeType" and want in ("Image", "File", "MultiSelect"):
                want = "Virtual"  # reference 1.6: images/files/multi-select are Virtual on the wire
            if want is not None and got.get(k) != want:
                wrong.append((a["LogicalName"], k, got.get(k), want))
    assert not missing, "columns of the reference account table missing: %s" % missing
    assert not wrong, wrong


def test_single_attribute_by_key(api):
    r = api.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='name')"
                "?$select=LogicalName,AttributeType")
    assert r.status == 200, r
    assert r.body["LogicalName"] == "name" and r.body["AttributeType"] == "String"
    assert "value" not in r.body


def test_attribute_filter(api):
    r = api.get("EntityDefinitions(LogicalName='account')/Attributes?$select=LogicalName,AttributeType"
                "&$filter=AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Money'")
    assert r.status == 200, r
    vals = r.body["value"]
    assert vals and all(a["AttributeType"] == "Money" for a in vals)
    assert "revenue" in {a["LogicalName"] for a in vals}


# ---------------------------------------------------------------- relationships

REL_SELECT = ("SchemaName,ReferencingAttribute,ReferencingEntityNavigationPropertyName,ReferencedEntity,"
              "ReferencedAttribute,ReferencedEntityNavigationPropertyName")


def test_many_to_one_contact_polymorphic(api):
    r = api.get("EntityDefinitions(LogicalName='contact')/ManyToOneRelationships?$select=" + REL_SELECT)
    assert r.status == 200, r
    rels = {x["ReferencingEntityNavigationPropertyName"]: x for x in r.body["value"]}
    pa = rels.get("parentcustomerid_account")
    pc = rels.get("parentcustomerid_contact")
    assert pa and pc, sorted(k for k in rels if k)
    assert pa["ReferencingAttribute"] == "parentcustomerid" and pa["ReferencedEntity"] == "account"
    assert pc["ReferencingAttribute"] == "parentcustomerid" and pc["ReferencedEntity"] == "contact"
    assert pa["ReferencedAttribute"] == "accountid"
    assert "parentcustomerid" not in rels


def test_many_to_one_account(api):
    r = api.get("EntityDefinitions(LogicalName='account')/ManyToOneRelationships?$select=" + REL_SELECT)
    assert r.status == 200, r
    rels = {x["ReferencingEntityNavigationPropertyName"]: x for x in r.body["value"]}
    assert rels["primarycontactid"]["ReferencedEntity"] == "contact"
    assert rels["primarycontactid"]["ReferencingAttribute"] == "primarycontactid"
    assert rels["parentaccountid"]["ReferencedEntity"] == "account"
    for x in r.body["value"]:
        assert isinstance(x["SchemaName"], str) and x["SchemaName"], x


# ---------------------------------------------------------------- more of reference 1.3-1.7


def test_csdl_metadata(api):
    r = api.get("$metadata", headers={"Accept": "application/xml"})
    assert r.status == 200, r
    assert "xml" in (r.headers.get("Content-Type") or ""), r.headers
    text = r.raw.decode("utf-8")
    assert 'Namespace="Microsoft.Dynamics.CRM"' in text and 'Alias="mscrm"' in text
    assert '<EntitySet Name="accounts"' in text and '<EntitySet Name="contacts"' in text
    assert 'Name="_parentcustomerid_value" Type="Edm.Guid"' in text


def test_entity_definition_complex_properties(api):
    r = api.get("EntityDefinitions(LogicalName='account')?$select=LogicalName,IsCustomizable,"
                "CanChangeTrackingBeEnabled,DisplayName,OwnershipType,ObjectTypeCode")
    assert r.status == 200, r
    b = r.body
    for k in ("IsCustomizable", "CanChangeTrackingBeEnabled"):
        assert set(b[k]) >= {"Value", "CanBeChanged", "ManagedPropertyLogicalName"}, b[k]
        assert isinstance(b[k]["Value"], bool)
    dn = b["DisplayName"]
    assert dn["LocalizedLabels"][0]["LanguageCode"] == 1033 and dn["LocalizedLabels"][0]["Label"]
    assert dn["UserLocalizedLabel"]["Label"] == dn["LocalizedLabels"][0]["Label"]
    assert b["OwnershipType"] == "UserOwned"
    assert b["ObjectTypeCode"] == 1


def test_entity_definitions_enum_filter(api):
    r = api.get("EntityDefinitions?$select=LogicalName,OwnershipType"
                "&$filter=OwnershipType eq Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'")
    assert r.status == 200, r
    names = {d["LogicalName"] for d in r.body["value"]}
    assert {"account", "contact"} <= names
    assert all(d["OwnershipType"] == "UserOwned" for d in r.body["value"])


def test_entity_definitions_managed_property_filter(api):
    r = api.get("EntityDefinitions?$select=LogicalName&$filter=CanChangeTrackingBeEnabled/Value eq true")
    assert r.status == 200, r
    assert "account" in {d["LogicalName"] for d in r.body["value"]}


def test_attribute_cast_segment(api):
    r = api.get("EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.MoneyAttributeMetadata"
                "?$select=LogicalName,Precision")
    assert r.status == 200, r
    vals = {a["LogicalName"]: a for a in r.body["value"]}
    assert "revenue" in vals and "name" not in vals
    assert isinstance(vals["revenue"]["Precision"], int)
    r = api.get("EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.StringAttributeMetadata"
                "?$select=LogicalName,MaxLength&$filter=LogicalName eq 'name'")
    assert r.status == 200, r
    assert r.body["value"][0]["MaxLength"] == 160


def test_picklist_options_expand(api):
    r = api.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='accountcategorycode')"
                "/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName"
                "&$expand=OptionSet($select=Options),GlobalOptionSet($select=Options)")
    assert r.status == 200, r
    opts = r.body["OptionSet"]["Options"]
    by_val = {o["Value"]: o for o in opts}
    assert set(by_val) == {1, 2}
    assert by_val[1]["Label"]["UserLocalizedLabel"]["Label"] == "Preferred Customer"


def test_helper_columns_not_odata(api):
    r = api.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='createdbyname')"
                "?$select=LogicalName,AttributeOf,IsValidODataAttribute")
    assert r.status == 200, r
    assert r.body["AttributeOf"] == "createdby"
    assert r.body["IsValidODataAttribute"] is False
    r = api.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='name')"
                "?$select=LogicalName,AttributeOf,IsValidODataAttribute")
    assert r.body["IsValidODataAttribute"] is True and r.body["AttributeOf"] is None


def test_relationship_definitions_cast(api):
    r = api.get("RelationshipDefinitions/Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata"
                "?$select=SchemaName,ReferencingEntity,ReferencedEntity&$filter=ReferencedEntity eq 'account'")
    assert r.status == 200, r
    vals = r.body["value"]
    assert vals and all(v["ReferencedEntity"] == "account" for v in vals)
    assert "contact" in {v["ReferencingEntity"] for v in vals}


def test_one_to_many_relationships(api):
    r = api.get("EntityDefinitions(LogicalName='account')/OneToManyRelationships"
                "?$select=SchemaName,ReferencingEntity,ReferencingAttribute,ReferencedEntityNavigationPropertyName")
    assert r.status == 200, r
    refs = {(v["ReferencingEntity"], v["ReferencingAttribute"]) for v in r.body["value"]}
    assert ("contact", "parentcustomerid") in refs, refs


def test_whoami_service_headers(api):
    r = api.get("WhoAmI")
    assert GUID_RE.match(r.headers.get("REQ_ID") or ""), r.headers
    assert r.headers.get("x-ms-service-request-id")
    assert (r.headers.get("x-ms-ratelimit-burst-remaining-xrm-requests") or "").isdigit()
    import re
    assert re.match(r"^\d{1,3}(,\d{3})*\.\d{2}$", r.headers.get("x-ms-ratelimit-time-remaining-xrm-requests") or ""), \
        r.headers
