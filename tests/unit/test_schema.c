/* test_schema.c - unit tests for fs/schema.c: the columns from metadata
 * answers, and the bodies of writes.
 *
 * schema.c does no I/O, so everything here is JSON texts in and structures
 * out.  The metadata is the emulator's answer for contact
 * (contact_metadata.h); what dfs_schema_fetch asks the server for is
 * test_metadata.c's part.  Exact value comparison is json_value.c's and is
 * tested in test_json.c; here only through the body builder and the
 * dfs_schema_same_value name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"
#include "json.h"
#include "schema.h"

#include "contact_metadata.h"

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
	check_at(ret == want_ret, __FILE__, line, "returned %d (%s), want %d", ret, ret ? why : "",
		 want_ret);
	if (ret == 0 && want_ret == 0) {
		check_at(streq(got, want), __FILE__, line, "body\n  got:  %s\n  want: %s", got,
			 want);
		check_at(dropped == want_dropped, __FILE__, line, "dropped %d, want %d", dropped,
			 want_dropped);
	} else if (ret < 0 && want_ret < 0) {
		check_at(streq(why, want), __FILE__, line, "why\n  got:  %s\n  want: %s", why, want);
		check_at(body == NULL, __FILE__, line, "no body on failure");
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

/* The comparison itself is json_value.c's (test_json.c); the old name is
 * still what fsops.c calls. */
static void test_same_value(void)
{
	cJSON *x = J("[5000000.0000,'a',{'b':1e0}]"), *y = J("[5e6,'a',{'b':1.0}]");

	CHECK(dfs_schema_same_value(x, y) && dfs_json_same_value(x, y), "same value, either name");
	cJSON_ReplaceItemInArray(y, 1, cJSON_CreateString("b"));
	CHECK(!dfs_schema_same_value(x, y) && !dfs_json_same_value(x, y), "other value, either name");
	cJSON_Delete(x);
	cJSON_Delete(y);
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

/* ---- metadata answers ---------------------------------------------------- */

/* A string literal and its length. */
#define TEXT(lit) lit, sizeof(lit) - 1

/* NAMES[0..N) joined with ' ', for comparing. */
static void joined(const char *const *names, size_t n, char *out, size_t cap)
{
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; i < n && len < cap; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? " " : "", names[i]);
}

/* The referenced tables of definition DEF, joined. */
static void referenced(int line, const char *def, const char *want)
{
	struct dfs_schema_answers ans = { NULL, NULL };
	const char **names = NULL;
	char why[256], got[512];
	size_t n = 99;
	int ret;

	ret = dfs_schema_add_definition(&ans, def, strlen(def), why, sizeof(why));
	if (ret == 0)
		ret = dfs_schema_referenced(&ans, &names, &n);
	if (ret == 0)
		joined(names, n, got, sizeof(got));
	check_at(ret == 0 && streq(got, want), __FILE__, line, "referenced tables: %d '%s', want '%s'", ret,
	      ret ? why : got, want);
	free(names);
	dfs_schema_answers_free(&ans);
}

static void test_answers(void)
{
	static const struct {
		const char *text;
		int total;	/* entries gathered after it */
	} sets[] = {
		{ "{\"value\":[{\"LogicalName\":\"account\",\"EntitySetName\":\"accounts\"},"
		  "{\"LogicalName\":\"team\",\"EntitySetName\":\"teams\"}]}", 2 },
		{ "{\"value\":[]}", 2 },
		{ "{\"value\":[{\"LogicalName\":\"contact\",\"EntitySetName\":\"contacts\"},"
		  "{\"LogicalName\":\"sla\",\"EntitySetName\":\"\"}]}", 4 },
	};
	struct dfs_schema_answers ans = { NULL, NULL };
	const struct dfs_column *c;
	struct dfs_schema *s = NULL;
	const char **names = NULL;
	char why[256];
	size_t n, i;
	int ret;

	CHECK(dfs_schema_is_name("contact") && dfs_schema_is_name("new_Table_1") &&
	      dfs_schema_is_name("_"), "logical names");
	CHECK(!dfs_schema_is_name(NULL) && !dfs_schema_is_name("") &&
	      !dfs_schema_is_name("contact') or (x") && !dfs_schema_is_name("a b") &&
	      !dfs_schema_is_name("a-b") && !dfs_schema_is_name("m\xc3\xbcller"),
	      "not logical names");

	/* The tables contact's sets are asked for: Owner brings users and teams. */
	referenced(__LINE__, contact_def,
		   "account contact sla systemuser team transactioncurrency");
	referenced(__LINE__, "{\"Attributes\":[{\"AttributeType\":\"Owner\"}]}",
		   "systemuser team");
	/* "owner" has no set, odd names are never asked for, each table once. */
	referenced(__LINE__, "{\"ManyToOneRelationships\":[{\"ReferencedEntity\":\"owner\"},"
		   "{\"ReferencedEntity\":\"b\"},{\"ReferencedEntity\":\"a\"},"
		   "{\"ReferencedEntity\":\"b\"},{\"ReferencedEntity\":\"x') or (1\"},"
		   "{\"ReferencedEntity\":\"\"},{},{\"ReferencedEntity\":7}]}", "a b");
	referenced(__LINE__, "{}", "");
	referenced(__LINE__, "[]", "");
	ret = dfs_schema_referenced(&ans, &names, &n);
	CHECK(ret == 0 && n == 0, "no definition, no tables: %d %zu", ret, n);
	free(names);

	/* Set answers add up; a table without one has no target. */
	ret = dfs_schema_add_definition(&ans, TEXT(contact_def), why, sizeof(why));
	CHECK(ret == 0 && ans.def && !ans.sets, "definition kept: %d", ret);
	CHECK(!dfs_schema_set_name(&ans, "account"), "no sets yet");
	/* LEN is what counts, not the NUL. */
	ret = dfs_schema_add_sets(&ans, "{\"value\":[]}", 0, why, sizeof(why));
	CHECK(ret == -EIO && streq(why, "entity set answer is not JSON: line 1, column 1: "
					"expected a value, found end of input"),
	      "empty sets answer: %d %s", ret, why);
	for (i = 0; i < sizeof(sets) / sizeof(*sets); i++) {
		ret = dfs_schema_add_sets(&ans, sets[i].text, strlen(sets[i].text), why, sizeof(why));
		CHECK(ret == 0 && cJSON_GetArraySize(ans.sets) == sets[i].total,
		      "sets answer %zu: %d %s", i, ret, ret ? why : "");
	}
	CHECK(streq(dfs_schema_set_name(&ans, "account"), "accounts") &&
	      streq(dfs_schema_set_name(&ans, "contact"), "contacts") &&
	      !dfs_schema_set_name(&ans, "sla") && !dfs_schema_set_name(&ans, "systemuser"),
	      "set names from both answers");
	ret = dfs_schema_add_sets(&ans, TEXT("{\"values\":[]}"), why, sizeof(why));
	CHECK(ret == -EIO && streq(why, "entity set answer has no 'value' array") &&
	      cJSON_GetArraySize(ans.sets) == 4, "sets answer without value: %d %s", ret, why);
	ret = dfs_schema_build(&ans, NULL, &s, why, sizeof(why));
	CHECK(ret == 0 && s && streq(s->primary_id, "contactid"), "build: %d %s", ret,
	      ret ? why : "");
	c = s ? dfs_schema_column(s, "_parentcustomerid_value", NULL) : NULL;
	CHECK(c && c->n_targets == 2 && target(c, "account") && target(c, "contact"),
	      "parentcustomerid from two answers");
	c = s ? dfs_schema_column(s, "_ownerid_value", NULL) : NULL;
	CHECK(c && c->n_targets == 1 && streq(c->targets[0].set_name, "teams"),
	      "owner: only team has a set");
	c = s ? dfs_schema_column(s, "_slaid_value", NULL) : NULL;
	CHECK(c && c->n_targets == 0, "an empty set name is none");
	dfs_schema_free(&s);

	/* A later definition replaces the first; a bad one leaves it. */
	ret = dfs_schema_add_definition(&ans, TEXT("{\"LogicalName\":\"x\"}"), why, sizeof(why));
	CHECK(ret == 0, "second definition: %d", ret);
	ret = dfs_schema_add_definition(&ans, TEXT("{\"LogicalName\":"), why, sizeof(why));
	CHECK(ret == -EIO && streq(why, "EntityDefinitions answer is not JSON: line 1, column 16: "
					"expected a value, found end of input"),
	      "bad definition: %s", why);
	ret = dfs_schema_build(&ans, "xid", &s, why, sizeof(why));
	CHECK(ret == -EIO && !s && streq(why, "entity definition lacks the 'Attributes' array"),
	      "the second definition is the one built: %d %s", ret, why);
	dfs_schema_answers_free(&ans);
	CHECK(!ans.def && !ans.sets, "answers freed");
	dfs_schema_answers_free(&ans);
	ret = dfs_schema_build(&ans, "xid", &s, why, sizeof(why));
	CHECK(ret == -EIO && !s && streq(why, "entity definition lacks everything (not an object)"),
	      "no definition: %d %s", ret, why);
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
	/* Control characters would break the one line: escaped. */
	FAILS(s, J("{'a\\nb':1,'_transactioncurrencyid_value':'x\\ty'}"), base_text, &r, -EINVAL,
	      "unknown column 'a\\nb': entity 'contact' has no such column; "
	      "lookup 'transactioncurrencyid': 'x\\ty' is not a record id (a GUID)");
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

/* ---- dfs_schema_applied: does the server's record show a write? ------ */

static void applied(int line, const struct dfs_schema *s, const char *body, const char *rec,
		    int want)
{
	cJSON *b = J(body), *r = J(rec);
	int got = dfs_schema_applied(s, b, r);

	check_at(got == want, __FILE__, line, "applied(%s) = %d, want %d", body, got, want);
	cJSON_Delete(b);
	cJSON_Delete(r);
}

#define APPLIED(s, body, rec, want) applied(__LINE__, s, body, rec, want)

static void test_applied(const struct dfs_schema *s)
{
	APPLIED(s, "{}", base_text, 1);
	APPLIED(s, "{'firstname':'Ada','numberofchildren':2.0}", base_text, 1);
	/* Money comes back with its scale; a column the record lacks is null. */
	APPLIED(s, "{'annualincome':5e6,'creditlimit':null,'address1_city':null}", base_text, 1);
	APPLIED(s, "{'firstname':'Grace'}", base_text, 0);
	APPLIED(s, "{'firstname':'Ada','lastname':'Hopper'}", base_text, 0);
	APPLIED(s, "{'description':'x'}", base_text, 0);
	/* Binds show in the lookup's _value, whatever the case of the id. */
	APPLIED(s, "{'parentcustomerid_account@odata.bind':'/accounts(" ACC1 ")'}", base_text, 1);
	APPLIED(s, "{'parentcustomerid_contact@odata.bind':'/contacts(A0000000-0000-4000-8000-"
		   "000000000001)'}", base_text, 1);
	APPLIED(s, "{'parentcustomerid_account@odata.bind':'/accounts(" ACC2 ")'}", base_text, 0);
	APPLIED(s, "{'parentcustomerid_account@odata.bind':null,"
		   "'parentcustomerid_contact@odata.bind':null}", base_text, 0);
	APPLIED(s, "{'preferredsystemuserid@odata.bind':'/systemusers("
		   USER2 ")'}", base_text, 1);
	APPLIED(s, "{'ownerid@odata.bind':'/systemusers(" USER1 ")'}", base_text, 1);
	/* What cannot be checked is not proven. */
	APPLIED(s, "{'nosuchnav@odata.bind':null}", base_text, 0);
	APPLIED(s, "{'ownerid@odata.bind':'/systemusers(USD)'}", base_text, 0);
	APPLIED(s, "{'firstname':'Ada'}", "[1]", 0);
}

int main(void)
{
	struct dfs_schema *s;

	test_same_value();
	test_parse();
	test_answers();
	s = contact_schema();
	CHECK(s != NULL, "contact metadata parses for the body tests");
	if (s) {
		test_update(s);
		test_unknown(s);
		test_edit_or_restore(s);
		test_lookups(s);
		test_create(s);
		test_applied(s);
		dfs_schema_free(&s);
	}
	return check_report("test_schema");
}
