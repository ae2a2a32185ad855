/* test_metadata.c - unit tests for fs/metadata.c: which metadata requests
 * dfs_schema_fetch sends, and what it makes of their answers and failures.
 *
 * metadata.c is the one file of the schema that does I/O, and its only road
 * to the server is dfs_dv_request: this test links a stand-in for it that
 * serves canned answers and records what was asked.  (What the answers mean
 * is tested on JSON texts in test_schema.c.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"
#include "contact_metadata.h"
#include "dataverse.h"
#include "http.h"
#include "schema.h"

/* ---- a stand-in for the Web API ----------------------------------------- */

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

	/* The definition request fails: nothing more is asked. */
	stub_reset();
	stub.fail_at = 1;
	ret = dfs_schema_fetch(dv, &ent, &s, &err);
	CHECK(ret == -EACCES && !s && stub.n == 1 && streq(err.code, "0x80040220") &&
	      streq(err.message, "no privilege"), "failed definition request: %d, %d requests",
	      ret, stub.n);

	stub_reset();
	stub.answer[0] = contact_def;
	stub.answer[1] = "{\"value\":";
	ret = dfs_schema_fetch(dv, &ent, &s, &err);
	CHECK(ret == -EIO && !s && stub.n == 2 && streq(err.code, "") &&
	      streq(err.message, "entity set answer is not JSON: line 1, column 10: expected a "
				 "value, found end of input"), "garbage sets answer: %d %s", ret,
	      err.message);

	stub_reset();
	stub.answer[0] = contact_def;
	stub.answer[1] = "{\"value\":null}";
	ret = dfs_schema_fetch(dv, &ent, &s, &err);
	CHECK(ret == -EIO && !s && streq(err.message, "entity set answer has no 'value' array"),
	      "sets answer without value: %d %s", ret, err.message);

	/* No entity set for any table: the lookups have nothing to bind to. */
	stub_reset();
	stub.answer[0] = contact_def;
	stub.answer[1] = "{\"value\":[]}";
	ret = dfs_schema_fetch(dv, &ent, &s, &err);
	CHECK(ret == 0 && s && s->n_cols == 25, "empty sets answer: %d", ret);
	CHECK(s && dfs_schema_column(s, "_parentcustomerid_value", NULL)->n_targets == 0,
	      "empty sets answer: no targets");
	dfs_schema_free(&s);

	/* ERR may be NULL. */
	stub_reset();
	stub.answer[0] = "[]";
	ret = dfs_schema_fetch(dv, &ent, &s, NULL);
	CHECK(ret == -EIO && !s, "NULL err: %d", ret);
	stub_reset();
	ent.logical_name = "contact') or (x";
	ret = dfs_schema_fetch(dv, &ent, &s, &err);
	CHECK(ret == -EINVAL && stub.n == 0, "odd logical name refused: %d", ret);
	stub_reset();
}

int main(void)
{
	test_fetch();
	return check_report("test_metadata");
}
