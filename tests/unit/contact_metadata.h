/* contact_metadata.h - the emulator's metadata answers for contact, shared
 * by test_schema.c (which parses them) and test_metadata.c (which serves
 * them in place of the server).
 *
 * The answers are what tests/emulator gives the requests dfs_schema_fetch
 * sends, cut down to the columns and relationships the tests use.
 */
#ifndef DFS_TEST_CONTACT_METADATA_H
#define DFS_TEST_CONTACT_METADATA_H

/* GET EntityDefinitions(LogicalName='contact')?$select=...&$expand=... (trimmed). */
static const char contact_def[] __attribute__((unused)) =
	"{\"@odata.context\":\"http://127.0.0.1:38021/contoso/api/data/v9.2/$metadata#EntityDefinitions(LogicalName,PrimaryIdAttribute)/$entity\",\"LogicalName\":\"contact\",\"PrimaryIdAttribute\":\"contactid\",\"MetadataId\":\"cc0ad977-b570-56b1-b627-e0be95235418\",\"Attributes\":["
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.MoneyAttributeMetadata\",\"LogicalName\":\"annualincome\",\"AttributeType\":\"Money\",\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"6c82cfee-81d7-5770-8a01-ec7c22570659\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.DateTimeAttributeMetadata\",\"LogicalName\":\"birthdate\",\"AttributeType\":\"DateTime\",\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"0e7022e4-7509-5a5f-b5b3-92d84b33a3a2\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.UniqueIdentifierAttributeMetadata\",\"LogicalName\":\"contactid\",\"AttributeType\":\"Uniqueidentifier\",\"IsValidForCreate\":true,\"IsValidForUpdate\":false,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"a231710d-2ccd-5f9a-8848-9005d6d2c454\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.MoneyAttributeMetadata\",\"LogicalName\":\"creditlimit\",\"AttributeType\":\"Money\",\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"a13f612f-3e19-5db2-b69d-21b8d4d381b0\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.MemoAttributeMetadata\",\"LogicalName\":\"description\",\"AttributeType\":\"Memo\",\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"1be3d035-3d22-541f-9dee-0ea83724915a\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.BooleanAttributeMetadata\",\"LogicalName\":\"donotemail\",\"AttributeType\":\"Boolean\",\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"a10a0ae8-e7f5-5a1b-b61d-2e21a17c928d\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.StringAttributeMetadata\",\"LogicalName\":\"emailaddress1\",\"AttributeType\":\"String\",\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"90495f39-b767-50d1-b06a-bbdd320f127e\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.StringAttributeMetadata\",\"LogicalName\":\"firstname\",\"AttributeType\":\"String\",\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"24f56123-418f-5144-9d72-0ab3939f0c45\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.StringAttributeMetadata\",\"LogicalName\":\"lastname\",\"AttributeType\":\"String\",\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"678f3e2e-d199-556b-926f-b356d23ec89b\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.IntegerAttributeMetadata\",\"LogicalName\":\"numberofchildren\",\"AttributeType\":\"Integer\",\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"8722d02c-4b5d-5990-8b40-0444f254b635\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.DateTimeAttributeMetadata\",\"LogicalName\":\"overriddencreatedon\",\"AttributeType\":\"DateTime\",\"IsValidForCreate\":true,\"IsValidForUpdate\":false,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"f88421c5-c475-53fa-a4f4-d561747d23f4\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.LookupAttributeMetadata\",\"LogicalName\":\"ownerid\",\"AttributeType\":\"Owner\",\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"45c10035-05f1-5ed1-95ef-a0da383c27d2\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.EntityNameAttributeMetadata\",\"LogicalName\":\"owneridtype\",\"AttributeType\":\"EntityName\",\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,\"IsValidODataAttribute\":false,\"MetadataId\":\"20e7561d-3b3f-5d0a-bfee-b1dacfe2adfb\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.LookupAttributeMetadata\",\"LogicalName\":\"parentcustomerid\",\"AttributeType\":\"Customer\",\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"2c7b2703-fb68-5d3e-a56e-386892b9e6d6\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.EntityNameAttributeMetadata\",\"LogicalName\":\"parentcustomeridtype\",\"AttributeType\":\"EntityName\",\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,\"IsValidODataAttribute\":false,\"MetadataId\":\"ab597c16-72fa-5634-800c-63688540b12b\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.LookupAttributeMetadata\",\"LogicalName\":\"preferredsystemuserid\",\"AttributeType\":\"Lookup\",\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"e0afecbf-f807-5afe-94b0-9d2ee85c7495\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.LookupAttributeMetadata\",\"LogicalName\":\"slaid\",\"AttributeType\":\"Lookup\",\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"1eb6c534-57bd-5d35-bec2-b50a94713f52\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.LookupAttributeMetadata\",\"LogicalName\":\"transactioncurrencyid\",\"AttributeType\":\"Lookup\",\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"2e9878fb-9a2d-5436-b876-b4fd17eaf694\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.LookupAttributeMetadata\",\"LogicalName\":\"accountid\",\"AttributeType\":\"Lookup\",\"IsValidForCreate\":false,\"IsValidForUpdate\":false,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"35b05147-a724-5a3b-81c5-4687bcae2ab9\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.MoneyAttributeMetadata\",\"LogicalName\":\"annualincome_base\",\"AttributeType\":\"Money\",\"IsValidForCreate\":false,\"IsValidForUpdate\":false,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"22cee951-2251-55e9-98e7-71cebebfbac5\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.LookupAttributeMetadata\",\"LogicalName\":\"createdby\",\"AttributeType\":\"Lookup\",\"IsValidForCreate\":false,\"IsValidForUpdate\":false,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"c972a803-c937-5b4a-9a98-b071d450beb7\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.DateTimeAttributeMetadata\",\"LogicalName\":\"createdon\",\"AttributeType\":\"DateTime\",\"IsValidForCreate\":false,\"IsValidForUpdate\":false,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"a6e5a6f9-d137-5d2f-9275-8283b60bba3e\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.DecimalAttributeMetadata\",\"LogicalName\":\"exchangerate\",\"AttributeType\":\"Decimal\",\"IsValidForCreate\":false,\"IsValidForUpdate\":false,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"85444343-6282-5981-b4ca-fcb50371dd05\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.StringAttributeMetadata\",\"LogicalName\":\"fullname\",\"AttributeType\":\"String\",\"IsValidForCreate\":false,\"IsValidForUpdate\":false,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"1a4d29a1-c92b-5bea-8db4-c5980529c673\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.DateTimeAttributeMetadata\",\"LogicalName\":\"modifiedon\",\"AttributeType\":\"DateTime\",\"IsValidForCreate\":false,\"IsValidForUpdate\":false,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"ecfb38ac-67ff-595c-a3d9-8da5d6a4ae86\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.LookupAttributeMetadata\",\"LogicalName\":\"owninguser\",\"AttributeType\":\"Lookup\",\"IsValidForCreate\":false,\"IsValidForUpdate\":false,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"465fb336-9e32-553a-b9e0-60116711a597\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.StringAttributeMetadata\",\"LogicalName\":\"parentcustomeridname\",\"AttributeType\":\"String\",\"IsValidForCreate\":false,\"IsValidForUpdate\":false,\"IsValidForRead\":true,\"IsValidODataAttribute\":false,\"MetadataId\":\"ab6cdb36-62b9-5171-b961-6378ac82c2a3\"},"
	"{\"@odata.type\":\"#Microsoft.Dynamics.CRM.BigIntAttributeMetadata\",\"LogicalName\":\"versionnumber\",\"AttributeType\":\"BigInt\",\"IsValidForCreate\":false,\"IsValidForUpdate\":false,\"IsValidForRead\":true,\"IsValidODataAttribute\":true,\"MetadataId\":\"262e3df5-f33f-54f6-a7bb-a2ced4c8d786\"}"
	"],\"ManyToOneRelationships\":["
	"{\"ReferencingAttribute\":\"ownerid\",\"ReferencedEntity\":\"owner\",\"ReferencingEntityNavigationPropertyName\":\"ownerid\",\"MetadataId\":\"20225b1b-98b4-505c-92b3-2a9bc2c4d5bd\"},"
	"{\"ReferencingAttribute\":\"parentcustomerid\",\"ReferencedEntity\":\"account\",\"ReferencingEntityNavigationPropertyName\":\"parentcustomerid_account\",\"MetadataId\":\"cc1975da-6282-5117-b1c8-acda44866a46\"},"
	"{\"ReferencingAttribute\":\"parentcustomerid\",\"ReferencedEntity\":\"contact\",\"ReferencingEntityNavigationPropertyName\":\"parentcustomerid_contact\",\"MetadataId\":\"42859fd8-82c4-5d6e-8512-66b8143d8c1a\"},"
	"{\"ReferencingAttribute\":\"preferredsystemuserid\",\"ReferencedEntity\":\"systemuser\",\"ReferencingEntityNavigationPropertyName\":\"preferredsystemuserid\",\"MetadataId\":\"df2e92e5-70a8-59d5-8f65-38cdea3140bb\"},"
	"{\"ReferencingAttribute\":\"slaid\",\"ReferencedEntity\":\"sla\",\"ReferencingEntityNavigationPropertyName\":\"slaid\",\"MetadataId\":\"720eca82-231a-5ad3-8617-494879c9b195\"},"
	"{\"ReferencingAttribute\":\"transactioncurrencyid\",\"ReferencedEntity\":\"transactioncurrency\",\"ReferencingEntityNavigationPropertyName\":\"transactioncurrencyid\",\"MetadataId\":\"c79d2ba8-f6da-5f3d-860a-7f9753301033\"},"
	"{\"ReferencingAttribute\":\"accountid\",\"ReferencedEntity\":\"account\",\"ReferencingEntityNavigationPropertyName\":\"accountid\",\"MetadataId\":\"4ec18d2d-ba9d-5026-863a-578e34ca67c4\"},"
	"{\"ReferencingAttribute\":\"createdby\",\"ReferencedEntity\":\"systemuser\",\"ReferencingEntityNavigationPropertyName\":\"createdby\",\"MetadataId\":\"96f40bac-53dd-563c-9979-dfd273244bc6\"},"
	"{\"ReferencingAttribute\":\"owninguser\",\"ReferencedEntity\":\"systemuser\",\"ReferencingEntityNavigationPropertyName\":\"owninguser\",\"MetadataId\":\"11eb7071-b8df-5d19-a0f6-d52a6e6d2855\"}"
	"]}"
;

/* GET EntityDefinitions?$select=LogicalName,EntitySetName&$filter=... for the
 * tables contact's lookups reference ('sla' has no set in the emulator). */
static const char contact_sets[] __attribute__((unused)) =
	"{\"@odata.context\":\"http://127.0.0.1:38021/contoso/api/data/v9.2/$metadata#EntityDefinitions(LogicalName,EntitySetName)\",\"value\":[{\"LogicalName\":\"account\",\"EntitySetName\":\"accounts\",\"MetadataId\":\"2025ff38-593f-5605-9c9c-2e3b2363868e\"},{\"LogicalName\":\"contact\",\"EntitySetName\":\"contacts\",\"MetadataId\":\"cc0ad977-b570-56b1-b627-e0be95235418\"},{\"LogicalName\":\"systemuser\",\"EntitySetName\":\"systemusers\",\"MetadataId\":\"3d1f9749-ddef-540a-9581-ffefa4e561f0\"},{\"LogicalName\":\"team\",\"EntitySetName\":\"teams\",\"MetadataId\":\"52412862-26d5-5ba9-a5b8-a74b109ce1b7\"},{\"LogicalName\":\"transactioncurrency\",\"EntitySetName\":\"transactioncurrencies\",\"MetadataId\":\"62e2bf6a-1a14-5d69-bda7-7453c260e0b0\"}]}"
;

#endif
