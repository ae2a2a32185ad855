/* test_schema.c - unit tests for fs/schema.c: column metadata, value
 * comparison and the bodies of writes.
 *
 * Prints one line per failed check and, at the end, "N passed, N failed";
 * exits 1 if anything failed.  The metadata below is the emulator's answer
 * (tests/emulator) to the requests dfs_schema_fetch sends, cut down to the
 * columns and relationships the tests use.  dfs_dv_request and the two
 * libcurl helpers are replaced by stubs that serve canned answers and
 * record what was asked, so fetch is tested without a server.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dataverse.h"
#include "http.h"
#include "json.h"
#include "schema.h"

static int n_passed, n_failed;

static void check(int ok, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void check(int ok, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		n_passed++;
		return;
	}
	n_failed++;
	fprintf(stderr, "FAIL test_schema.c:%d: ", line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define CHECK(cond, ...) check(!!(cond), __LINE__, __VA_ARGS__)

static const char *str(const char *s)
{
	return s ? s : "(null)";
}

static int streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* ---- canned metadata ---------------------------------------------------- */

/* GET EntityDefinitions(LogicalName='contact')?$select=...&$expand=... (trimmed). */
static const char contact_def[] =
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
static const char contact_sets[] =
	"{\"@odata.context\":\"http://127.0.0.1:38021/contoso/api/data/v9.2/$metadata#EntityDefinitions(LogicalName,EntitySetName)\",\"value\":[{\"LogicalName\":\"account\",\"EntitySetName\":\"accounts\",\"MetadataId\":\"2025ff38-593f-5605-9c9c-2e3b2363868e\"},{\"LogicalName\":\"contact\",\"EntitySetName\":\"contacts\",\"MetadataId\":\"cc0ad977-b570-56b1-b627-e0be95235418\"},{\"LogicalName\":\"systemuser\",\"EntitySetName\":\"systemusers\",\"MetadataId\":\"3d1f9749-ddef-540a-9581-ffefa4e561f0\"},{\"LogicalName\":\"team\",\"EntitySetName\":\"teams\",\"MetadataId\":\"52412862-26d5-5ba9-a5b8-a74b109ce1b7\"},{\"LogicalName\":\"transactioncurrency\",\"EntitySetName\":\"transactioncurrencies\",\"MetadataId\":\"62e2bf6a-1a14-5d69-bda7-7453c260e0b0\"}]}"
;

/* ---- stubs for the Web API ---------------------------------------------- */

#define MAX_CALLS 32

static struct {
	int n;
	char *path[MAX_CALLS];
	int fail_at;		/* 1-based call that fails with -EACCES, 0 = none */
	const char *answer[MAX_CALLS]; /* canned bodies by call; NULL = generated */
} stub;

static void stub_reset(void)
{
	int i;

	for (i = 0; i < stub.n; i++)
		free(stub.path[i]);
	memset(&stub, 0, sizeof(stub));
}

static char *unescape(const char *s)
{
	char *r = malloc(strlen(s) + 1), *o = r;
	unsigned v;

	for (; *s; s++) {
		if (*s == '%' && sscanf(s + 1, "%2x", &v) == 1) {
			*o++ = (char)v;
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return r;
}

/* An entity-set answer naming every table in the $filter of PATH, with
 * set name "<name>s". */
static void sets_answer(const char *path, struct dfs_buf *out)
{
	char *q = unescape(path), *p = q, *e;
	int n = 0;

	dfs_buf_appendf(out, "{\"@odata.context\":\"x\",\"value\":[");
	while ((p = strstr(p, "LogicalName eq '"))) {
		p += strlen("LogicalName eq '");
		if (!(e = strchr(p, '\'')))
			break;
		dfs_buf_appendf(out, "%s{\"LogicalName\":\"%.*s\",\"EntitySetName\":\"%.*ss\"}",
				n++ ? "," : "", (int)(e - p), p, (int)(e - p), p);
		p = e;
	}
	dfs_buf_appendf(out, "]}");
	free(q);
}

int dfs_dv_request(struct dfs_dv *dv, const char *method, const char *path,
		   const char *const *headers, const char *body, size_t body_len,
		   struct dfs_http_resp *resp)
{
	int i = stub.n;

	if (i < MAX_CALLS)
		stub.path[stub.n++] = strdup(path);
	if (strcmp(method, "GET") != 0 || body || headers)
		return -EPROTO;
	if (stub.fail_at == i + 1) {
		resp->status = 403;
		snprintf(resp->err.code, sizeof(resp->err.code), "0x80040220");
		snprintf(resp->err.message, sizeof(resp->err.message), "no privilege");
		return -EACCES;
	}
	resp->status = 200;
	if (i < MAX_CALLS && stub.answer[i])
		return dfs_buf_append(&resp->body, stub.answer[i], strlen(stub.answer[i]));
	sets_answer(path, &resp->body);
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* JSON with ' for " so the tests stay readable (no test value holds a '). */
static cJSON *J(const char *text)
{
	char err[160], *t = strdup(text), *p;
	cJSON *v;

	for (p = t; *p; p++)
		if (*p == '\'')
			*p = '"';
	v = dfs_json_parse(t, strlen(t), err, sizeof(err));
	if (!v)
		fprintf(stderr, "test_schema.c: bad test JSON (%s): %s\n", err, text);
	free(t);
	return v;
}

static char *compact(const cJSON *v)
{
	struct dfs_buf b;
	char *s;

	if (!v)
		return strdup("(none)");
	dfs_buf_init(&b, 0);
	dfs_json_render_compact(v, &b);
	s = dfs_buf_detach(&b, NULL);
	dfs_buf_free(&b);
	return s;
}

/* With ' for ", like J. */
static char *squote(char *s)
{
	char *p;

	for (p = s; p && *p; p++)
		if (*p == '"')
			*p = '\'';
	return s;
}

static struct dfs_schema *contact_schema(void)
{
	struct dfs_schema *s = NULL;
	char why[256];
	int ret;

	ret = dfs_schema_parse(contact_def, sizeof(contact_def) - 1, contact_sets,
			       sizeof(contact_sets) - 1, "contactid", &s, why, sizeof(why));
	if (ret < 0)
		fprintf(stderr, "test_schema.c: contact metadata: %s\n", why);
	return s;
}

/* dfs_schema_parse of NUL-terminated texts (SETS may be NULL). */
static int parse(const char *def, const char *sets, const char *primary_id,
		 struct dfs_schema **out, char *why, size_t cap)
{
	return dfs_schema_parse(def, strlen(def), sets, sets ? strlen(sets) : 0, primary_id, out,
				why, cap);
}

static const struct dfs_lookup_target *target(const struct dfs_column *c, const char *entity)
{
	size_t i;

	for (i = 0; c && i < c->n_targets; i++)
		if (streq(c->targets[i].entity, entity))
			return &c->targets[i];
	return NULL;
}

/* ---- ids ---------------------------------------------------------------- */

#define ME    "c0000000-0000-4000-8000-000000000001"
#define ACC1  "a0000000-0000-4000-8000-000000000001"
#define ACC2  "a0000000-0000-4000-8000-000000000002"
#define CON2  "c0000000-0000-4000-8000-000000000002"
#define USER1 "50000000-0000-4000-8000-000000000001"
#define USER2 "50000000-0000-4000-8000-000000000002"
#define TEAM1 "7e000000-0000-4000-8000-000000000001"
#define CUR1  "cc000000-0000-4000-8000-000000000001"
#define CUR2  "cc000000-0000-4000-8000-000000000002"
#define SLA1  "5a000000-0000-4000-8000-000000000001"
#define GONE  "dead0000-0000-4000-8000-000000000001"

/* A contact as GET returns it (annotations included). */
static const char base_text[] =
	"{'@odata.etag':'W/\\'1001\\'','contactid':'" ME "','firstname':'Ada','lastname':'Lovelace',"
	"'fullname':'Ada Lovelace','annualincome':5000000.0000,'annualincome_base':5000000.0000,"
	"'creditlimit':null,'numberofchildren':2,'donotemail':false,'description':null,"
	"'createdon':'2020-01-01T00:00:00Z','modifiedon':'2021-06-01T12:00:00Z','versionnumber':1001,"
	"'_parentcustomerid_value':'" ACC1 "','_ownerid_value':'" USER1 "','_owninguser_value':'" USER1 "',"
	"'_createdby_value':'" USER1 "','_transactioncurrencyid_value':'" CUR1 "',"
	"'_preferredsystemuserid_value':'" USER2 "','_slaid_value':null,'_accountid_value':null,"
	"'exchangerate':1.0000000000,'birthdate':'1815-12-10','emailaddress1':'ada@example.com',"
	"'overriddencreatedon':null}";

/* The record file of BASE_TEXT edited by CHANGES: members replace or add,
 * a member whose value is the string '-' removes the key. */
static cJSON *edited(const char *changes)
{
	cJSON *f = J(base_text), *ch = J(changes), *c, *next;

	for (c = f->child; c; c = next) {
		next = c->next;
		if (strchr(c->string, '@'))
			cJSON_DeleteItemFromObjectCaseSensitive(f, c->string);
	}
	for (c = ch->child; c; c = c->next) {
		if (cJSON_IsString(c) && streq(c->valuestring, "-"))
			cJSON_DeleteItemFromObjectCaseSensitive(f, c->string);
		else if (cJSON_GetObjectItemCaseSensitive(f, c->string))
			cJSON_ReplaceItemInObjectCaseSensitive(f, c->string, cJSON_Duplicate(c, 1));
		else
			cJSON_AddItemToObject(f, c->string, cJSON_Duplicate(c, 1));
	}
	cJSON_Delete(ch);
	return f;
}

/* A resolver that answers from a table and counts its calls. */
struct resolver {
	int calls;
	int ret;		/* returned when not 0 */
	const char *entity;	/* target to answer */
	char last_col[64], last_id[64];
};

static int resolve(void *ctx, const struct dfs_column *col, const char *id,
		   const struct dfs_lookup_target **t)
{
	struct resolver *r = ctx;

	r->calls++;
	snprintf(r->last_col, sizeof(r->last_col), "%s", col->name);
	snprintf(r->last_id, sizeof(r->last_id), "%s", id);
	if (r->ret)
		return r->ret;
	*t = target(col, r->entity);
	return *t ? 0 : -ENOENT;
}

/*
 * Run dfs_schema_body on FILE (consumed) against BASE (NULL: create) and
 * check the outcome: WANT_RET, and WANT (the body with ' for ", or the WHY
 * text when WANT_RET < 0), and WANT_DROPPED.
 */
static void expect_body(int line, const struct dfs_schema *s, cJSON *file, const char *base,
			struct resolver *r, int want_ret, const char *want, int want_dropped)
{
	cJSON *b = base ? J(base) : NULL, *body = (cJSON *)1;
	char why[1024];
	char *got = NULL;
	int dropped = -1, ret;

	memset(why, 'x', sizeof(why));
	why[sizeof(why) - 1] = '\0';
	ret = dfs_schema_body(s, file, b, &body, &dropped, why, sizeof(why),
			      r ? resolve : NULL, r);
	if (ret == 0)
		got = squote(compact(body));
	check(ret == want_ret, line, "returned %d (%s), want %d", ret, ret ? why : "", want_ret);
	if (ret == 0 && want_ret == 0) {
		check(streq(got, want), line, "body\n  got:  %s\n  want: %s", got, want);
		check(dropped == want_dropped, line, "dropped %d, want %d", dropped, want_dropped);
	} else if (ret < 0 && want_ret < 0) {
		check(streq(why, want), line, "why\n  got:  %s\n  want: %s", why, want);
		check(body == NULL, line, "no body on failure");
	}
	free(got);
	cJSON_Delete(body);
	cJSON_Delete(b);
	cJSON_Delete(file);
}

#define BODY(s, file, base, r, want, dropped) \
	expect_body(__LINE__, s, file, base, r, 0, want, dropped)
#define FAILS(s, file, base, r, err, why) \
	expect_body(__LINE__, s, file, base, r, err, why, 0)

/* ---- dfs_schema_same_value ---------------------------------------------- */

static void same(int line, const char *a, const char *b, int want)
{
	cJSON *x = J(a), *y = J(b);
	int got = dfs_schema_same_value(x, y), back = dfs_schema_same_value(y, x);

	check(got == want && back == want, line, "same_value(%s, %s) = %d/%d, want %d", a, b,
	      got, back, want);
	cJSON_Delete(x);
	cJSON_Delete(y);
}

#define SAME(a, b) same(__LINE__, a, b, 1)
#define DIFF(a, b) same(__LINE__, a, b, 0)

static void test_same_value(void)
{
	cJSON *d, *r;

	SAME("1", "1.0000");
	SAME("1", "1e0");
	SAME("1", "0.1e1");
	SAME("1", "10E-1");
	SAME("1", "100e-2");
	SAME("1.5", "1.50");
	SAME("0.1", "0.10");
	SAME("0.001", "1e-3");
	SAME("120", "1.2e+2");
	SAME("5000000.0000", "5000000");
	SAME("5000000.0000", "5e6");
	SAME("0", "0.0000");
	SAME("0", "-0");
	SAME("0", "0e99");
	SAME("-2.50", "-2.5");
	DIFF("1", "-1");
	DIFF("1", "10");
	DIFF("1", "0.1");
	DIFF("1", "1.0001");
	DIFF("0", "0.0001");
	DIFF("12", "21");
	/* Money: 19 significant digits, beyond what a double tells apart. */
	SAME("922337203685477.5807", "922337203685477.58070");
	SAME("922337203685477.5807", "9223372036854775807e-4");
	DIFF("922337203685477.5807", "922337203685477.5806");
	DIFF("1234567890123456789", "1234567890123456788");
	DIFF("-922337203685477.5807", "922337203685477.5807");
	SAME("1e400", "10e399");
	/* Absurd exponents compare by their text rather than overflow. */
	SAME("1e99999999999999999999", "1e99999999999999999999");
	DIFF("1e99999999999999999999", "1e99999999999999999998");

	SAME("'abc'", "'abc'");
	DIFF("'abc'", "'ABC'");
	DIFF("'1'", "1");
	SAME("null", "null");
	DIFF("null", "false");
	DIFF("null", "0");
	DIFF("null", "''");
	SAME("true", "true");
	DIFF("true", "false");
	SAME("[1,'a',null]", "[1.0,'a',null]");
	DIFF("[1,2]", "[2,1]");
	DIFF("[1]", "[1,1]");
	SAME("{'a':1,'b':[2]}", "{'b':[2.00],'a':1}");
	DIFF("{'a':1}", "{'a':1,'b':2}");
	DIFF("{'a':1}", "{'b':1}");
	DIFF("{}", "[]");

	/* A missing column holds null; a cJSON_Number compares by value too. */
	d = cJSON_CreateNumber(1.5);
	r = J("1.50");
	CHECK(dfs_schema_same_value(d, r) && dfs_schema_same_value(r, d), "double 1.5 == raw 1.50");
	cJSON_Delete(r);
	cJSON_Delete(d);
	r = J("null");
	CHECK(dfs_schema_same_value(NULL, r) && dfs_schema_same_value(NULL, NULL), "absent == null");
	cJSON_Delete(r);
	r = J("0");
	CHECK(!dfs_schema_same_value(NULL, r), "absent != 0");
	cJSON_Delete(r);
}

/* ---- dfs_schema_parse / dfs_schema_column -------------------------------- */

static void test_parse(void)
{
	struct dfs_schema *s = contact_schema(), *t = NULL;
	const struct dfs_column *c;
	const struct dfs_lookup_target *x;
	char why[256];
	size_t i;
	int lv, ret;

	CHECK(s != NULL, "contact metadata parses");
	if (!s)
		return;
	CHECK(streq(s->entity, "contact") && streq(s->primary_id, "contactid"), "entity %s, id %s",
	      str(s->entity), str(s->primary_id));
	/* 28 attributes, of which 3 are not Web API properties. */
	CHECK(s->n_cols == 25, "%zu columns", s->n_cols);
	for (i = 0; i + 1 < s->n_cols; i++)
		if (strcmp(s->cols[i].name, s->cols[i + 1].name) >= 0)
			break;
	CHECK(i + 1 >= s->n_cols, "columns sorted by name");

	c = dfs_schema_column(s, "lastname", &lv);
	CHECK(c && streq(c->name, "lastname") && streq(c->type, "String") && !lv &&
	      c->flags == (DFS_COL_CREATE | DFS_COL_UPDATE | DFS_COL_READ) && c->n_targets == 0,
	      "lastname");
	c = dfs_schema_column(s, "createdon", NULL);
	CHECK(c && c->flags == DFS_COL_READ, "createdon is read-only");
	c = dfs_schema_column(s, "overriddencreatedon", NULL);
	CHECK(c && c->flags == (DFS_COL_CREATE | DFS_COL_READ), "overriddencreatedon create-only");
	c = dfs_schema_column(s, "contactid", NULL);
	CHECK(c && c->flags == (DFS_COL_CREATE | DFS_COL_READ), "contactid");

	c = dfs_schema_column(s, "_parentcustomerid_value", &lv);
	CHECK(c && streq(c->name, "parentcustomerid") && streq(c->type, "Customer") && lv &&
	      c->n_targets == 2, "_parentcustomerid_value -> parentcustomerid");
	x = target(c, "account");
	CHECK(x && streq(x->set_name, "accounts") && streq(x->nav, "parentcustomerid_account"),
	      "parentcustomerid -> account");
	x = target(c, "contact");
	CHECK(x && streq(x->set_name, "contacts") && streq(x->nav, "parentcustomerid_contact"),
	      "parentcustomerid -> contact");
	CHECK(dfs_schema_is_lookup(c), "a Customer column is a lookup");

	/* Owner: the relationship names "owner"; binds go to users and teams. */
	c = dfs_schema_column(s, "_ownerid_value", &lv);
	CHECK(c && lv && streq(c->type, "Owner") && c->n_targets == 2, "_ownerid_value");
	x = target(c, "systemuser");
	CHECK(x && streq(x->set_name, "systemusers") && streq(x->nav, "ownerid"), "owner -> user");
	x = target(c, "team");
	CHECK(x && streq(x->set_name, "teams") && streq(x->nav, "ownerid"), "owner -> team");

	c = dfs_schema_column(s, "_transactioncurrencyid_value", &lv);
	CHECK(c && lv && c->n_targets == 1 &&
	      streq(c->targets[0].set_name, "transactioncurrencies") &&
	      streq(c->targets[0].nav, "transactioncurrencyid"), "currency lookup");
	c = dfs_schema_column(s, "_createdby_value", &lv);
	CHECK(c && lv && c->flags == DFS_COL_READ && c->n_targets == 1 &&
	      streq(c->targets[0].entity, "systemuser"), "createdby: read-only lookup");
	/* 'sla' has no entity set here, so slaid has nothing to bind to. */
	c = dfs_schema_column(s, "_slaid_value", &lv);
	CHECK(c && lv && c->n_targets == 0, "slaid has no bindable target");

	lv = 7;
	CHECK(!dfs_schema_column(s, "parentcustomerid", &lv) && lv == 0,
	      "the bare name of a lookup is not a record key");
	CHECK(!dfs_schema_column(s, "parentcustomeridname", NULL), "helper columns are not columns");
	CHECK(!dfs_schema_column(s, "owneridtype", NULL), "type helpers are not columns");
	CHECK(!dfs_schema_column(s, "_lastname_value", NULL), "_x_value of a non-lookup");
	CHECK(!dfs_schema_column(s, "_value", NULL) && !dfs_schema_column(s, "__value", NULL) &&
	      !dfs_schema_column(s, "", NULL) && !dfs_schema_column(s, "nosuch", NULL),
	      "odd keys");
	dfs_schema_free(&s);
	CHECK(s == NULL, "free clears the pointer");
	dfs_schema_free(&s);

	/* PrimaryIdAttribute from the answer when the caller has none. */
	ret = dfs_schema_parse(contact_def, sizeof(contact_def) - 1, NULL, 0, NULL, &t, why,
			       sizeof(why));
	CHECK(ret == 0 && t && streq(t->primary_id, "contactid"), "primary id from the answer");
	c = t ? dfs_schema_column(t, "_parentcustomerid_value", NULL) : NULL;
	CHECK(c && c->n_targets == 0, "no sets answer: no bindable targets");
	dfs_schema_free(&t);

	ret = parse("{\"LogicalName\":", NULL, "x", &t, why, sizeof(why));
	CHECK(ret == -EIO && !t && streq(why, "EntityDefinitions answer is not JSON: line 1, column 16: "
						   "expected a value, found end of input"),
	      "bad JSON: %d %s", ret, why);
	ret = parse("{\"LogicalName\":\"x\",\"ManyToOneRelationships\":[]}", NULL, "xid", &t, why,
		    sizeof(why));
	CHECK(ret == -EIO && !t && streq(why, "entity definition lacks the 'Attributes' array"),
	      "no Attributes: %d %s", ret, why);
	ret = parse("[]", NULL, "xid", &t, why, sizeof(why));
	CHECK(ret == -EIO && !t, "not an object: %s", why);
	ret = parse("{\"LogicalName\":\"x\",\"Attributes\":[],\"ManyToOneRelationships\":[]}",
		    "{\"value\":{}}", "xid", &t, why, sizeof(why));
	CHECK(ret == -EIO && !t && streq(why, "entity set answer has no 'value' array"),
	      "sets without value: %d %s", ret, why);
	ret = parse("{\"LogicalName\":\"x\",\"Attributes\":[],\"ManyToOneRelationships\":[]}",
		    NULL, NULL, &t, why, sizeof(why));
	CHECK(ret == -EIO && !t && streq(why, "entity definition lacks 'PrimaryIdAttribute'"),
	      "no primary id: %d %s", ret, why);
	ret = parse("{\"LogicalName\":\"x\",\"Attributes\":[{\"LogicalName\":\"a\"},"
		    "{\"LogicalName\":\"a\"}],\"ManyToOneRelationships\":[]}", NULL, "xid", &t,
		    why, sizeof(why));
	CHECK(ret == -EIO && !t && streq(why, "entity definition lists column 'a' twice"),
	      "duplicate column: %d %s", ret, why);
	/* Odd members are ignored, not fatal. */
	ret = parse("{\"LogicalName\":\"x\",\"Attributes\":[1,{},{\"LogicalName\":\"a\","
		    "\"IsValidForCreate\":\"yes\"}],\"ManyToOneRelationships\":[null,"
		    "{\"ReferencingAttribute\":\"a\"}]}", NULL, "xid", &t, why, sizeof(why));
	CHECK(ret == 0 && t && t->n_cols == 1 && t->cols[0].flags == 0 && streq(t->cols[0].type, ""),
	      "odd members: %d %s", ret, why);
	dfs_schema_free(&t);
}

/* ---- dfs_schema_fetch ---------------------------------------------------- */

static const char want_def_path[] =
	"EntityDefinitions(LogicalName='contact')?$select=LogicalName,PrimaryIdAttribute"
	"&$expand=Attributes($select=LogicalName,AttributeType,IsValidForCreate,IsValidForUpdate,"
	"IsValidForRead,IsValidODataAttribute),ManyToOneRelationships($select=ReferencingAttribute,"
	"ReferencedEntity,ReferencingEntityNavigationPropertyName)";

static void test_fetch(void)
{
	struct dfs_entity ent = { .logical_name = "contact", .set_name = "contacts",
				  .primary_id = "contactid" };
	struct dfs_dv *dv = (struct dfs_dv *)&ent; /* never dereferenced by the stubs */
	struct dfs_http_error err = { "", "" };
	struct dfs_schema *s = NULL;
	const struct dfs_column *c;
	struct dfs_buf big;
	char *filter;
	int ret, i, names, seen[120];

	/* Two requests: the definition, then the sets of all referenced tables. */
	stub_reset();
	stub.answer[0] = contact_def;
	stub.answer[1] = contact_sets;
	ret = dfs_schema_fetch(dv, &ent, &s, &err);
	CHECK(ret == 0 && s, "fetch contact: %d %s", ret, err.message);
	CHECK(stub.n == 2, "fetch contact: %d requests", stub.n);
	CHECK(streq(stub.path[0], want_def_path), "definition request\n  got:  %s\n  want: %s",
	      str(stub.path[0]), want_def_path);
	CHECK(streq(stub.path[1], "EntityDefinitions?$select=LogicalName,EntitySetName&$filter="
		    "LogicalName%20eq%20%27account%27%20or%20LogicalName%20eq%20%27contact%27%20or%20"
		    "LogicalName%20eq%20%27sla%27%20or%20LogicalName%20eq%20%27systemuser%27%20or%20"
		    "LogicalName%20eq%20%27team%27%20or%20LogicalName%20eq%20%27transactioncurrency%27"),
	      "sets request: %s", str(stub.path[1]));
	c = s ? dfs_schema_column(s, "_parentcustomerid_value", NULL) : NULL;
	CHECK(c && c->n_targets == 2, "fetched schema has the lookups");
	dfs_schema_free(&s);

	/* No lookups: one request. */
	stub_reset();
	stub.answer[0] = "{\"LogicalName\":\"contact\",\"Attributes\":[{\"LogicalName\":\"contactid\","
			 "\"AttributeType\":\"Uniqueidentifier\"}],\"ManyToOneRelationships\":[]}";
	ret = dfs_schema_fetch(dv, &ent, &s, &err);
	CHECK(ret == 0 && s && s->n_cols == 1 && stub.n == 1, "no lookups: %d, %d requests", ret,
	      stub.n);
	dfs_schema_free(&s);

	/* A regarding lookup to 120 tables: the set names in a few requests of
	 * bounded length, every table asked for once. */
	stub_reset();
	dfs_buf_init(&big, 0);
	dfs_buf_appendf(&big, "{\"LogicalName\":\"contact\",\"PrimaryIdAttribute\":\"contactid\","
			"\"Attributes\":[{\"LogicalName\":\"regardingobjectid\",\"AttributeType\":\"Lookup\","
			"\"IsValidForCreate\":true,\"IsValidForUpdate\":true,\"IsValidForRead\":true,"
			"\"IsValidODataAttribute\":true}],\"ManyToOneRelationships\":[");
	for (i = 0; i < 120; i++)
		dfs_buf_appendf(&big, "%s{\"ReferencingAttribute\":\"regardingobjectid\",\"ReferencedEntity\":"
				"\"new_somewhatlongtablename%03d\",\"ReferencingEntityNavigationPropertyName\":"
				"\"regardingobjectid_new_somewhatlongtablename%03d\"}", i ? "," : "", i, i);
	dfs_buf_appendf(&big, "]}");
	stub.answer[0] = big.data;
	ret = dfs_schema_fetch(dv, &ent, &s, &err);
	CHECK(ret == 0 && s, "120 targets: %d %s", ret, err.message);
	CHECK(stub.n >= 3 && stub.n <= 5, "120 targets: %d requests", stub.n);
	memset(seen, 0, sizeof(seen));
	names = 0;
	for (i = 1; i < stub.n; i++) {
		char *p;
		int k;

		CHECK(strlen(stub.path[i]) < 2600, "request %d is %zu bytes long", i,
		      strlen(stub.path[i]));
		filter = unescape(stub.path[i]);
		for (p = filter; (p = strstr(p, "new_somewhatlongtablename")); p += 25)
			if (sscanf(p + 25, "%3d", &k) == 1 && k >= 0 && k < 120) {
				seen[k]++;
				names++;
			}
		free(filter);
	}
	for (i = 0; i < 120 && seen[i] == 1; i++)
		;
	CHECK(i == 120 && names == 120, "every table asked for once (%d names)", names);
	c = s ? dfs_schema_column(s, "_regardingobjectid_value", NULL) : NULL;
	CHECK(c && c->n_targets == 120 && streq(c->targets[7].set_name, "new_somewhatlongtablename007s") &&
	      streq(c->targets[7].nav, "regardingobjectid_new_somewhatlongtablename007"),
	      "120 targets with sets and navs");
	dfs_schema_free(&s);
	dfs_buf_free(&big);

	/* A failed request: the server's error comes back. */
	stub_reset();
	stub.answer[0] = contact_def;
	stub.fail_at = 2;
	ret = dfs_schema_fetch(dv, &ent, &s, &err);
	CHECK(ret == -EACCES && !s && streq(err.code, "0x80040220") && streq(err.message, "no privilege"),
	      "failed sets request: %d %s %s", ret, err.code, err.message);

	stub_reset();
	stub.answer[0] = "<html>oops</html>";
	ret = dfs_schema_fetch(dv, &ent, &s, &err);
	CHECK(ret == -EIO && !s && stub.n == 1 &&
	      streq(err.message, "EntityDefinitions answer is not JSON: line 1, column 1: expected a value, "
				 "found '<'"), "garbage answer: %d %s", ret, err.message);

	stub_reset();
	stub.answer[0] = "{\"LogicalName\":\"contact\"}";
	ret = dfs_schema_fetch(dv, &ent, &s, &err);
	CHECK(ret == -EIO && !s && streq(err.message, "entity definition lacks the 'Attributes' array"),
	      "answer without attributes: %d %s", ret, err.message);

	stub_reset();
	ent.logical_name = "contact') or (x";
	ret = dfs_schema_fetch(dv, &ent, &s, &err);
	CHECK(ret == -EINVAL && stub.n == 0, "odd logical name refused: %d", ret);
	stub_reset();
}

/* ---- dfs_schema_body: updates -------------------------------------------- */

#define HINT "@Microsoft.Dynamics.CRM.lookuplogicalname"

static void test_update(const struct dfs_schema *s)
{
	struct resolver r = { 0 };

	/* The file as read: nothing to send. */
	BODY(s, edited("{}"), base_text, &r, "{}", 0);
	BODY(s, J("{}"), base_text, &r, "{}", 0);
	/* Columns the file leaves out are left as they are. */
	BODY(s, edited("{'lastname':'-','firstname':'-','createdon':'-','_ownerid_value':'-'}"),
	     base_text, &r, "{}", 0);
	/* What changed, verbatim, in the file's order. */
	BODY(s, edited("{'lastname':'Byron','firstname':'Augusta Ada','emailaddress1':null}"),
	     base_text, &r, "{'firstname':'Augusta Ada','lastname':'Byron','emailaddress1':null}", 0);
	/* Numbers by value: tools rewrite 5000000.0000 as 5000000 or 5e6. */
	BODY(s, edited("{'annualincome':5000000,'numberofchildren':2.0,'exchangerate':1}"), base_text,
	     &r, "{}", 0);
	BODY(s, edited("{'annualincome':5e6,'numberofchildren':20e-1,'versionnumber':1001.0}"),
	     base_text, &r, "{}", 0);
	/* Money keeps all 19 digits as written. */
	BODY(s, edited("{'annualincome':922337203685477.5807}"), base_text, &r,
	     "{'annualincome':922337203685477.5807}", 0);
	BODY(s, edited("{'annualincome':5000000.0001}"), base_text, &r,
	     "{'annualincome':5000000.0001}", 0);
	BODY(s, edited("{'numberofchildren':3.0}"), base_text, &r, "{'numberofchildren':3.0}", 0);
	/* A column BASE does not carry holds null. */
	BODY(s, J("{'contactid':'" ME "','versionnumber':1001,'emailaddress1':null,'description':'x',"
		  "'_slaid_value':null}"), "{'contactid':'" ME "','versionnumber':1001}", &r,
	     "{'description':'x'}", 0);
	/* Annotations are not data, whatever they say. */
	BODY(s, edited("{'@odata.etag':'W/1','lastname@OData.Community.Display.V1.FormattedValue':'x',"
		       "'@odata.context':'y','parentcustomerid_account@odata.bind':'/accounts(" ACC2 ")'}"),
	     base_text, &r, "{}", 0);
	/* Arrays and objects pass through (the server judges them). */
	BODY(s, edited("{'description':['a',{'b':1.50}]}"), base_text, &r,
	     "{'description':['a',{'b':1.50}]}", 0);
	CHECK(r.calls == 0, "no lookup, no probe (%d)", r.calls);
}

static void test_unknown(const struct dfs_schema *s)
{
	struct resolver r = { 0 };
	char key[320], want[400];

	FAILS(s, edited("{'foo':1}"), base_text, &r, -EINVAL,
	      "unknown column 'foo': entity 'contact' has no such column");
	FAILS(s, edited("{'foo':1,'lastname':'B','bar':null}"), base_text, &r, -EINVAL,
	      "unknown columns 'foo', 'bar': entity 'contact' has no such columns");
	/* Unknown even when unchanged from null, and on a create. */
	FAILS(s, J("{'lastname':'x','foo':null}"), NULL, &r, -EINVAL,
	      "unknown column 'foo': entity 'contact' has no such column");
	FAILS(s, edited("{'parentcustomerid':'" ACC2 "'}"), base_text, &r, -EINVAL,
	      "unknown column 'parentcustomerid': entity 'contact' has no such column; "
	      "lookup 'parentcustomerid' is written as '_parentcustomerid_value'");
	FAILS(s, edited("{'_lastname_value':'x'}"), base_text, &r, -EINVAL,
	      "unknown column '_lastname_value': entity 'contact' has no such column; "
	      "column 'lastname' is not a lookup and is written as 'lastname'");
	FAILS(s, edited("{'parentcustomeridname':'Contoso'}"), base_text, &r, -EINVAL,
	      "unknown column 'parentcustomeridname': entity 'contact' has no such column");
	/* Odd keys are just unknown. */
	memset(key, 'a', sizeof(key));
	memcpy(key, "{'_", 3);
	memcpy(key + 300, "_value':1}", 11);
	snprintf(want, sizeof(want), "unknown column '%.*s...': entity 'contact' has no such column",
		 160, key + 2);
	FAILS(s, J(key), base_text, &r, -EINVAL, want);
	/* Control characters would break the one line. */
	FAILS(s, J("{'a\\nb':1,'_transactioncurrencyid_value':'x\\ty'}"), base_text, &r, -EINVAL,
	      "unknown column 'a?b': entity 'contact' has no such column; "
	      "lookup 'transactioncurrencyid': 'x?y' is not a record id (a GUID)");
	FAILS(s, J("{'':1}"), base_text, &r, -EINVAL,
	      "unknown column '': entity 'contact' has no such column");
}

static void test_edit_or_restore(const struct dfs_schema *s)
{
	struct resolver r = { 0 };

	/* An edit (same versionnumber, or none) may not change system columns. */
	FAILS(s, edited("{'createdon':'2019-01-01T00:00:00Z'}"), base_text, &r, -EINVAL,
	      "column 'createdon' cannot be changed (not valid for update)");
	FAILS(s, edited("{'createdon':'2019-01-01T00:00:00Z','lastname':'B',"
			"'modifiedon':'2019-01-01T00:00:00Z'}"), base_text, &r, -EINVAL,
	      "columns 'createdon', 'modifiedon' cannot be changed (not valid for update)");
	FAILS(s, edited("{'versionnumber':'-','fullname':'Ada Byron'}"), base_text, &r, -EINVAL,
	      "column 'fullname' cannot be changed (not valid for update)");
	FAILS(s, edited("{'versionnumber':1001.000,'annualincome_base':1}"), base_text, &r, -EINVAL,
	      "column 'annualincome_base' cannot be changed (not valid for update)");
	FAILS(s, edited("{'_createdby_value':'" USER2 "','_accountid_value':'" ACC1 "'}"), base_text,
	      &r, -EINVAL,
	      "columns '_createdby_value', '_accountid_value' cannot be changed (not valid for update)");
	FAILS(s, edited("{'contactid':'" CON2 "'}"), base_text, &r, -EINVAL,
	      "column 'contactid' cannot be changed (not valid for update)");
	FAILS(s, edited("{'createdon':null,'foo':1}"), base_text, &r, -EINVAL,
	      "unknown column 'foo': entity 'contact' has no such column; "
	      "column 'createdon' cannot be changed (not valid for update)");
	/* Unchanged system columns are fine in an edit. */
	BODY(s, edited("{'createdon':'2020-01-01T00:00:00Z','lastname':'B'}"), base_text, &r,
	     "{'lastname':'B'}", 0);

	/* Another version (restored backup): system columns are left out and counted. */
	BODY(s, edited("{'versionnumber':900,'createdon':'2019-01-01T00:00:00Z','modifiedon':"
		       "'2019-02-01T00:00:00Z','lastname':'Byron','_createdby_value':'" USER2 "',"
		       "'fullname':'Ada Byron','annualincome_base':1}"), base_text, &r,
	     "{'lastname':'Byron'}", 6);
	/* cp other.json this.json: even the id differs. */
	BODY(s, edited("{'contactid':'" CON2 "','versionnumber':5,'firstname':'Grace'}"), base_text,
	     &r, "{'firstname':'Grace'}", 2);
	BODY(s, edited("{'versionnumber':5}"), base_text, &r, "{}", 1);
	BODY(s, edited("{'versionnumber':null}"), base_text, &r, "{}", 1);
	/* A version the base lacks is another version too. */
	BODY(s, J("{'versionnumber':7,'createdon':'2019-01-01T00:00:00Z'}"), "{'contactid':'" ME "'}",
	     &r, "{}", 2);
	/* Restoring does not excuse unknown columns or bad lookups. */
	FAILS(s, edited("{'versionnumber':5,'foo':1}"), base_text, &r, -EINVAL,
	      "unknown column 'foo': entity 'contact' has no such column");
	/* Writable lookups are restored, read-only ones dropped. */
	BODY(s, edited("{'versionnumber':5,'_transactioncurrencyid_value':'" CUR2 "',"
		       "'_owninguser_value':'" USER2 "'}"), base_text, &r,
	     "{'transactioncurrencyid@odata.bind':'/transactioncurrencies(" CUR2 ")'}", 2);
}

static void test_lookups(const struct dfs_schema *s)
{
	struct resolver r = { 0 };

	/* One target: no question which. */
	BODY(s, edited("{'_transactioncurrencyid_value':'" CUR2 "'}"), base_text, &r,
	     "{'transactioncurrencyid@odata.bind':'/transactioncurrencies(" CUR2 ")'}", 0);
	BODY(s, edited("{'_transactioncurrencyid_value':'CC000000-0000-4000-8000-000000000002'}"),
	     base_text, &r,
	     "{'transactioncurrencyid@odata.bind':'/transactioncurrencies(" CUR2 ")'}", 0);
	BODY(s, edited("{'_transactioncurrencyid_value':'CC000000-0000-4000-8000-000000000001'}"),
	     base_text, &r, "{}", 0);
	/* A hint on a single-target lookup changes nothing. */
	BODY(s, edited("{'_transactioncurrencyid_value':'" CUR2 "','_transactioncurrencyid_value"
		       HINT "':'account'}"), base_text, &r,
	     "{'transactioncurrencyid@odata.bind':'/transactioncurrencies(" CUR2 ")'}", 0);
	BODY(s, edited("{'_preferredsystemuserid_value':null}"), base_text, &r,
	     "{'preferredsystemuserid@odata.bind':null}", 0);
	BODY(s, edited("{'_slaid_value':null,'_accountid_value':'-'}"), base_text, &r, "{}", 0);
	CHECK(r.calls == 0, "single-target lookups need no probe (%d)", r.calls);

	FAILS(s, edited("{'_transactioncurrencyid_value':'USD'}"), base_text, &r, -EINVAL,
	      "lookup 'transactioncurrencyid': 'USD' is not a record id (a GUID)");
	FAILS(s, edited("{'_transactioncurrencyid_value':'{" CUR2 "}'}"), base_text, &r, -EINVAL,
	      "lookup 'transactioncurrencyid': '{" CUR2 "}' is not a record id (a GUID)");
	FAILS(s, edited("{'_transactioncurrencyid_value':42}"), base_text, &r, -EINVAL,
	      "lookup 'transactioncurrencyid': the value is not a record id (a GUID)");
	FAILS(s, edited("{'_transactioncurrencyid_value':'USD','_parentcustomerid_value':"
			"'c0000000-0000-4000-8000-00000000000g'}"), base_text, &r, -EINVAL,
	      "lookup 'parentcustomerid': 'c0000000-0000-4000-8000-00000000000g' is not a record id "
	      "(a GUID); lookup 'transactioncurrencyid': 'USD' is not a record id (a GUID)");
	FAILS(s, edited("{'_slaid_value':'" SLA1 "'}"), base_text, &r, -EINVAL,
	      "lookup 'slaid' cannot be set: none of its tables is available through the Web API");

	/* Polymorphic, with the annotation naming the table: no probe. */
	BODY(s, edited("{'_parentcustomerid_value':'" CON2 "','_parentcustomerid_value" HINT
		       "':'contact'}"), base_text, &r,
	     "{'parentcustomerid_contact@odata.bind':'/contacts(" CON2 ")'}", 0);
	CHECK(r.calls == 0, "the hint spares the probe (%d)", r.calls);
	FAILS(s, edited("{'_parentcustomerid_value':'" CON2 "','_parentcustomerid_value" HINT
			"':'lead'}"), base_text, &r, -EINVAL,
	      "lookup 'parentcustomerid': 'lead' (from '_parentcustomerid_value" HINT "') is not one "
	      "of its tables (account or contact)");
	/* A hint beside an unchanged value is not looked at. */
	BODY(s, edited("{'_parentcustomerid_value" HINT "':'lead'}"), base_text, &r, "{}", 0);

	/* Without the annotation the caller probes. */
	r.entity = "account";
	BODY(s, edited("{'_parentcustomerid_value':'" ACC2 "'}"), base_text, &r,
	     "{'parentcustomerid_account@odata.bind':'/accounts(" ACC2 ")'}", 0);
	CHECK(r.calls == 1 && streq(r.last_col, "parentcustomerid") && streq(r.last_id, ACC2),
	      "resolver asked once about %s %s (%d)", r.last_col, r.last_id, r.calls);
	r.entity = "contact";
	BODY(s, edited("{'_parentcustomerid_value':'C0000000-0000-4000-8000-000000000002'}"),
	     base_text, &r, "{'parentcustomerid_contact@odata.bind':'/contacts(" CON2 ")'}", 0);
	CHECK(r.calls == 2 && streq(r.last_id, CON2), "resolver gets the id lower-cased: %s",
	      r.last_id);
	r.entity = NULL;
	FAILS(s, edited("{'_parentcustomerid_value':'" GONE "'}"), base_text, &r, -EINVAL,
	      "lookup 'parentcustomerid': no account or contact with id " GONE);
	r.ret = -EIO;
	FAILS(s, edited("{'_parentcustomerid_value':'" GONE "'}"), base_text, &r, -EIO,
	      "lookup 'parentcustomerid': cannot tell which of account or contact has id " GONE
	      ": Input/output error");
	r.ret = 0;
	FAILS(s, edited("{'_parentcustomerid_value':'" GONE "'}"), base_text, NULL, -EINVAL,
	      "lookup 'parentcustomerid': cannot tell which of account or contact has id " GONE);
	/* Nothing is probed for a file that fails anyway. */
	r.calls = 0;
	r.entity = "account";
	FAILS(s, edited("{'_parentcustomerid_value':'" ACC2 "','foo':1}"), base_text, &r, -EINVAL,
	      "unknown column 'foo': entity 'contact' has no such column");
	CHECK(r.calls == 0, "no probe for a bad file (%d)", r.calls);

	/* Clearing a polymorphic lookup: through every navigation property. */
	BODY(s, edited("{'_parentcustomerid_value':null}"), base_text, &r,
	     "{'parentcustomerid_account@odata.bind':null,'parentcustomerid_contact@odata.bind':null}", 0);
	CHECK(r.calls == 0, "a clear needs no probe (%d)", r.calls);

	/* Owner: users and teams through the one property ownerid. */
	BODY(s, edited("{'_ownerid_value':'" TEAM1 "','_ownerid_value" HINT "':'team'}"), base_text,
	     &r, "{'ownerid@odata.bind':'/teams(" TEAM1 ")'}", 0);
	r.entity = "systemuser";
	BODY(s, edited("{'_ownerid_value':'" USER2 "'}"), base_text, &r,
	     "{'ownerid@odata.bind':'/systemusers(" USER2 ")'}", 0);
	CHECK(r.calls == 1 && streq(r.last_col, "ownerid"), "owner probed (%d)", r.calls);
	BODY(s, edited("{'_ownerid_value':null}"), base_text, &r, "{'ownerid@odata.bind':null}", 0);
}

/* ---- dfs_schema_body: creates -------------------------------------------- */

static void test_create(const struct dfs_schema *s)
{
	struct resolver r = { 0 };
	cJSON *body = NULL;
	char why[16];
	int ret;

	/* A restored backup: everything valid for create, nulls and the id left
	 * out, system columns dropped and counted, lookups as binds. */
	r.entity = "account";
	BODY(s, edited("{'_ownerid_value" HINT "':'systemuser'}"), NULL, &r,
	     "{'firstname':'Ada','lastname':'Lovelace','annualincome':5000000.0000,"
	     "'numberofchildren':2,'donotemail':false,"
	     "'parentcustomerid_account@odata.bind':'/accounts(" ACC1 ")',"
	     "'ownerid@odata.bind':'/systemusers(" USER1 ")',"
	     "'transactioncurrencyid@odata.bind':'/transactioncurrencies(" CUR1 ")',"
	     "'preferredsystemuserid@odata.bind':'/systemusers(" USER2 ")',"
	     "'birthdate':'1815-12-10','emailaddress1':'ada@example.com'}", 8);
	CHECK(r.calls == 1 && streq(r.last_col, "parentcustomerid"), "create probes (%d)", r.calls);

	/* A new file: create-only columns go, nulls (lookups too) do not. */
	BODY(s, J("{'contactid':'" ME "','lastname':'New','overriddencreatedon':'2001-01-01T00:00:00Z',"
		  "'_parentcustomerid_value':null,'creditlimit':null,'createdon':null,"
		  "'_createdby_value':null,'annualincome':0.10}"), NULL, &r,
	     "{'lastname':'New','overriddencreatedon':'2001-01-01T00:00:00Z','annualincome':0.10}", 0);
	BODY(s, J("{'lastname':'New','fullname':'Someone Else','versionnumber':3}"), NULL, &r,
	     "{'lastname':'New'}", 2);
	BODY(s, J("{}"), NULL, &r, "{}", 0);
	FAILS(s, J("{'lastname':'New','_transactioncurrencyid_value':'usd'}"), NULL, &r, -EINVAL,
	      "lookup 'transactioncurrencyid': 'usd' is not a record id (a GUID)");
	FAILS(s, J("{'lastname':'New','_slaid_value':'" SLA1 "'}"), NULL, &r, -EINVAL,
	      "lookup 'slaid' cannot be set: none of its tables is available through the Web API");
	r.entity = NULL;
	FAILS(s, J("{'lastname':'New','_parentcustomerid_value':'" GONE "'}"), NULL, &r, -EINVAL,
	      "lookup 'parentcustomerid': no account or contact with id " GONE);

	/* Odd input never crashes. */
	FAILS(s, J("[1,2]"), base_text, &r, -EINVAL, "a record file must hold one JSON object");
	FAILS(s, J("'text'"), NULL, &r, -EINVAL, "a record file must hold one JSON object");
	FAILS(s, NULL, NULL, &r, -EINVAL, "a record file must hold one JSON object");
	FAILS(s, J("{}"), "[]", &r, -EIO, "the record's current version is not a JSON object");
	/* A short WHY is cut, not overrun; DROPPED may be NULL. */
	ret = dfs_schema_body(s, NULL, NULL, &body, NULL, why, sizeof(why), NULL, NULL);
	CHECK(ret == -EINVAL && !body && strlen(why) == sizeof(why) - 1, "short why: %s", why);
	{
		cJSON *f = J("{'lastname':'x'}");

		ret = dfs_schema_body(s, f, NULL, &body, NULL, why, sizeof(why), NULL, NULL);
		CHECK(ret == 0 && body && body->child, "no DROPPED pointer");
		cJSON_Delete(body);
		cJSON_Delete(f);
	}
}

int main(void)
{
	struct dfs_schema *s;

	test_same_value();
	test_parse();
	test_fetch();
	s = contact_schema();
	if (s) {
		test_update(s);
		test_unknown(s);
		test_edit_or_restore(s);
		test_lookups(s);
		test_create(s);
		dfs_schema_free(&s);
	} else {
		n_failed++;
	}
	stub_reset();
	printf("test_schema: %d passed, %d failed\n", n_passed, n_failed);
	return n_failed ? 1 : 0;
}
