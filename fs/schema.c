/* schema.c - an entity's columns from its metadata answers, and the body of
 * a write built from an edited record file (see include/schema.h).
 *
 * Pure: no I/O.  fs/metadata.c asks the Web API for the answers and hands
 * their texts to dfs_schema_add_definition and dfs_schema_add_sets;
 * dfs_schema_build makes the columns of them.  The body of a write is built
 * in three passes (classify every key of the file, resolve polymorphic
 * lookups, emit), so one message can name every offending key and the
 * resolver, which costs requests, is only asked about a file that is
 * otherwise fine.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>

#include "buf.h"
#include "json.h"
#include "schema.h"
#include "util.h"

#define LOOKUP_HINT "@Microsoft.Dynamics.CRM.lookuplogicalname"
#define BIND_SUFFIX "@odata.bind"

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_null(const cJSON *item)
{
	return !item || cJSON_IsNull(item);
}

/* ---- schema ------------------------------------------------------------ */

int dfs_schema_is_lookup(const struct dfs_column *col)
{
	return col && col->type && (strcmp(col->type, "Lookup") == 0 ||
				    strcmp(col->type, "Customer") == 0 ||
				    strcmp(col->type, "Owner") == 0);
}

static void column_clear(struct dfs_column *c)
{
	size_t i;

	for (i = 0; i < c->n_targets; i++) {
		free(c->targets[i].entity);
		free(c->targets[i].set_name);
		free(c->targets[i].nav);
	}
	free(c->targets);
	free(c->name);
	free(c->type);
}

void dfs_schema_free(struct dfs_schema **sp)
{
	struct dfs_schema *s = *sp;
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n_cols; i++)
		column_clear(&s->cols[i]);
	free(s->cols);
	free(s->entity);
	free(s->primary_id);
	free(s);
	*sp = NULL;
}

static int cmp_col(const void *a, const void *b)
{
	return strcmp(((const struct dfs_column *)a)->name, ((const struct dfs_column *)b)->name);
}

static struct dfs_column *find_col(const struct dfs_schema *s, const char *name)
{
	struct dfs_column key = { .name = (char *)name };

	if (!s->n_cols)
		return NULL;
	return bsearch(&key, s->cols, s->n_cols, sizeof(*s->cols), cmp_col);
}

const struct dfs_column *dfs_schema_column(const struct dfs_schema *s, const char *key,
					   int *is_lookup_value)
{
	const struct dfs_column *c;
	size_t len;

	if (is_lookup_value)
		*is_lookup_value = 0;
	if (!s || !key)
		return NULL;
	len = strlen(key);
	/* "_x_value": the lookup x, the only name a lookup has in a record. */
	if (len > 7 && key[0] == '_' && strcmp(key + len - 6, "_value") == 0) {
		char name[256];

		if (len - 7 < sizeof(name)) {
			memcpy(name, key + 1, len - 7);
			name[len - 7] = '\0';
			c = find_col(s, name);
			if (dfs_schema_is_lookup(c)) {
				if (is_lookup_value)
					*is_lookup_value = 1;
				return c;
			}
		}
	}
	c = find_col(s, key);
	return c && !dfs_schema_is_lookup(c) ? c : NULL;
}

static const char *json_str(const cJSON *obj, const char *key)
{
	const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));

	return v && *v ? v : NULL;
}

/* A missing flag reads as false, except IsValidODataAttribute: an answer
 * that does not say is taken to mean every column is a property. */
static int json_flag(const cJSON *obj, const char *key, int dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

int dfs_schema_is_name(const char *s)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || is_digit(*s) || *s == '_'))
			return 0;
	return 1;
}

static const char *set_of(const cJSON *sets, const char *entity)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, sets) {
		const char *n = json_str(e, "LogicalName");

		if (n && strcmp(n, entity) == 0)
			return json_str(e, "EntitySetName");
	}
	return NULL;
}

static int add_target(struct dfs_column *c, const char *entity, const char *set_name,
		      const char *nav)
{
	struct dfs_lookup_target *t;
	size_t i;

	for (i = 0; i < c->n_targets; i++)
		if (strcmp(c->targets[i].entity, entity) == 0)
			return 0;
	t = realloc(c->targets, (c->n_targets + 1) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	c->targets = t;
	t = &c->targets[c->n_targets];
	t->entity = strdup(entity);
	t->set_name = strdup(set_name);
	t->nav = strdup(nav);
	if (!t->entity || !t->set_name || !t->nav) {
		free(t->entity);
		free(t->set_name);
		free(t->nav);
		return -ENOMEM;
	}
	c->n_targets++;
	return 0;
}

/* The tables an Owner column is bound to: ManyToOneRelationships name the
 * abstract "owner", which has no entity set of its own to bind with. */
static const char *const owner_tables[] = { "systemuser", "team" };

static int add_targets(struct dfs_schema *s, const cJSON *rel, const cJSON *sets)
{
	const char *attr = json_str(rel, "ReferencingAttribute");
	const char *entity = json_str(rel, "ReferencedEntity");
	const char *nav = json_str(rel, "ReferencingEntityNavigationPropertyName");
	const char *set_name;
	struct dfs_column *c;
	size_t i;
	int ret;

	if (!attr || !entity || !nav)
		return 0;
	c = find_col(s, attr);
	if (!dfs_schema_is_lookup(c))
		return 0;
	if (strcmp(c->type, "Owner") == 0) {
		for (i = 0; i < sizeof(owner_tables) / sizeof(*owner_tables); i++) {
			set_name = set_of(sets, owner_tables[i]);
			if (set_name && (ret = add_target(c, owner_tables[i], set_name, nav)) < 0)
				return ret;
		}
		return 0;
	}
	/* A table without an entity set cannot be bound to (fetch logs them). */
	set_name = set_of(sets, entity);
	return set_name ? add_target(c, entity, set_name, nav) : 0;
}

int dfs_schema_build(const struct dfs_schema_answers *ans, const char *primary_id,
		     struct dfs_schema **out, char *why, size_t cap)
{
	const cJSON *def = ans->def, *sets = ans->sets;
	const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(def, "Attributes");
	const cJSON *rels = cJSON_GetObjectItemCaseSensitive(def, "ManyToOneRelationships");
	const char *entity = json_str(def, "LogicalName");
	struct dfs_schema *s = NULL;
	const cJSON *a;
	size_t n = 0, i;
	int ret = -ENOMEM;

	*out = NULL;
	if (!primary_id)
		primary_id = json_str(def, "PrimaryIdAttribute");
	if (!cJSON_IsObject(def) || !entity || !cJSON_IsArray(attrs) || !cJSON_IsArray(rels) ||
	    !primary_id) {
		snprintf(why, cap, "entity definition lacks %s",
			 !cJSON_IsObject(def) ? "everything (not an object)" :
			 !entity ? "'LogicalName'" :
			 !cJSON_IsArray(attrs) ? "the 'Attributes' array" :
			 !cJSON_IsArray(rels) ? "the 'ManyToOneRelationships' array" :
			 "'PrimaryIdAttribute'");
		return -EIO;
	}
	if (!(s = calloc(1, sizeof(*s))))
		goto fail;
	if (!(s->entity = strdup(entity)) || !(s->primary_id = strdup(primary_id)))
		goto fail;
	if (!(s->cols = calloc((size_t)cJSON_GetArraySize(attrs) + 1, sizeof(*s->cols))))
		goto fail;
	cJSON_ArrayForEach(a, attrs) {
		const char *name = json_str(a, "LogicalName");
		const char *type = json_str(a, "AttributeType");
		struct dfs_column *c = &s->cols[n];

		/* Helpers such as parentcustomeridname are not Web API properties:
		 * no record carries them and no write may. */
		if (!name || !json_flag(a, "IsValidODataAttribute", 1))
			continue;
		c->name = strdup(name);
		c->type = strdup(type ? type : "");
		if (!c->name || !c->type) {
			s->n_cols = n + 1;
			goto fail;
		}
		c->flags = (json_flag(a, "IsValidForCreate", 0) ? DFS_COL_CREATE : 0) |
			   (json_flag(a, "IsValidForUpdate", 0) ? DFS_COL_UPDATE : 0) |
			   (json_flag(a, "IsValidForRead", 0) ? DFS_COL_READ : 0);
		n++;
	}
	s->n_cols = n;
	qsort(s->cols, n, sizeof(*s->cols), cmp_col);
	for (i = 0; i + 1 < n; i++) {
		if (strcmp(s->cols[i].name, s->cols[i + 1].name) == 0) {
			snprintf(why, cap, "entity definition lists column '%s' twice", s->cols[i].name);
			ret = -EIO;
			goto fail;
		}
	}
	cJSON_ArrayForEach(a, rels)
		if ((ret = add_targets(s, a, sets)) < 0)
			goto fail;
	*out = s;
	return 0;
fail:
	if (ret == -ENOMEM)
		snprintf(why, cap, "out of memory");
	dfs_schema_free(&s);
	return ret;
}

/* ---- metadata answers -------------------------------------------------- */

/* TEXT parsed, or NULL with WHY saying that WHAT's answer is not JSON. */
static cJSON *parse_answer(const char *what, const char *text, size_t len, char *why, size_t cap)
{
	char err[160];
	cJSON *root = dfs_json_parse(text, len, err, sizeof(err));

	if (!root)
		snprintf(why, cap, "%s answer is not JSON: %s", what, err);
	return root;
}

int dfs_schema_add_definition(struct dfs_schema_answers *ans, const char *text, size_t len,
			      char *why, size_t cap)
{
	cJSON *def = parse_answer("EntityDefinitions", text, len, why, cap);

	if (!def)
		return -EIO;
	/* Whether it holds what a schema needs is dfs_schema_build's to say,
	 * after the sets of its lookups have been asked for. */
	cJSON_Delete(ans->def);
	ans->def = def;
	return 0;
}

int dfs_schema_add_sets(struct dfs_schema_answers *ans, const char *text, size_t len,
			char *why, size_t cap)
{
	cJSON *root = parse_answer("entity set", text, len, why, cap), *value;
	int ret = -EIO;

	if (!root)
		return -EIO;
	value = cJSON_GetObjectItemCaseSensitive(root, "value");
	if (!cJSON_IsArray(value)) {
		snprintf(why, cap, "entity set answer has no 'value' array");
		goto out;
	}
	if (!ans->sets && !(ans->sets = cJSON_CreateArray())) {
		snprintf(why, cap, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	/* Moved, not copied: ROOT is thrown away. */
	while (value->child)
		cJSON_AddItemToArray(ans->sets, cJSON_DetachItemViaPointer(value, value->child));
	ret = 0;
out:
	cJSON_Delete(root);
	return ret;
}

void dfs_schema_answers_free(struct dfs_schema_answers *ans)
{
	cJSON_Delete(ans->def);
	cJSON_Delete(ans->sets);
	ans->def = NULL;
	ans->sets = NULL;
}

const char *dfs_schema_set_name(const struct dfs_schema_answers *ans, const char *entity)
{
	return set_of(ans->sets, entity);
}

int dfs_schema_parse(const char *entity_json, size_t len, const char *sets_json, size_t sets_len,
		     const char *primary_id, struct dfs_schema **out, char *why, size_t cap)
{
	struct dfs_schema_answers ans = { NULL, NULL };
	int ret;

	*out = NULL;
	if ((ret = dfs_schema_add_definition(&ans, entity_json, len, why, cap)) < 0)
		goto out;
	if (sets_json && (ret = dfs_schema_add_sets(&ans, sets_json, sets_len, why, cap)) < 0)
		goto out;
	ret = dfs_schema_build(&ans, primary_id, out, why, cap);
out:
	dfs_schema_answers_free(&ans);
	return ret;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Lookup columns are told by the attributes' AttributeType, so an Owner
 * column asks for systemuser and team. */
int dfs_schema_referenced(const struct dfs_schema_answers *ans, const char ***names, size_t *n)
{
	const cJSON *def = ans->def;
	const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(def, "Attributes");
	const cJSON *rels = cJSON_GetObjectItemCaseSensitive(def, "ManyToOneRelationships");
	const cJSON *x;
	const char **v;
	size_t cap = 2, i, j;
	int owner = 0;

	cJSON_ArrayForEach(x, attrs) {
		const char *type = json_str(x, "AttributeType");

		if (type && strcmp(type, "Owner") == 0)
			owner = 1;
	}
	cap += (size_t)cJSON_GetArraySize(rels);
	if (!(v = calloc(cap, sizeof(*v))))
		return -ENOMEM;
	*n = 0;
	if (owner)
		for (i = 0; i < sizeof(owner_tables) / sizeof(*owner_tables); i++)
			v[(*n)++] = owner_tables[i];
	cJSON_ArrayForEach(x, rels) {
		const char *e = json_str(x, "ReferencedEntity");

		if (dfs_schema_is_name(e) && strcmp(e, "owner") != 0)
			v[(*n)++] = e;
	}
	qsort(v, *n, sizeof(*v), cmp_str);
	for (i = j = 0; i < *n; i++)
		if (j == 0 || strcmp(v[j - 1], v[i]) != 0)
			v[j++] = v[i];
	*n = j;
	*names = v;
	return 0;
}

/* ---- write bodies ------------------------------------------------------ */

enum act { ACT_SKIP, ACT_COPY, ACT_BIND, ACT_CLEAR };

struct action {
	enum act what;
	const cJSON *item;
	const struct dfs_column *col;
	const struct dfs_lookup_target *t; /* ACT_BIND; NULL until resolved */
	char id[DFS_GUID_LEN + 1];	/* ACT_BIND, lower case */
};

/* What is wrong with a file, gathered so one message names every key. */
struct problems {
	struct dfs_buf unknown;	/* "'a', 'b'" */
	size_t n_unknown;
	struct dfs_buf fixed;	/* changed columns not valid for update */
	size_t n_fixed;
	struct dfs_buf other;	/* whole clauses, "; "-separated */
};

/*
 * Keys and values come from the user's file and may hold anything: in a
 * message they go through dfs_printable, cut after SHOWN_MAX bytes.
 */
#define SHOWN_MAX 160
#define SHOWN_SIZE (SHOWN_MAX + 4)	/* room for "..." and the NUL */

static const char *buf_str(const struct dfs_buf *b)
{
	return b->data ? b->data : "";
}

static void add_name(struct dfs_buf *b, size_t *n, const char *key)
{
	char tmp[SHOWN_SIZE];

	(void)dfs_buf_appendf(b, "%s'%s'", *n ? ", " : "", dfs_printable(key, (size_t)-1, tmp, sizeof(tmp)));
	++*n;
}

static void add_clause(struct problems *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_clause(struct problems *p, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	(void)dfs_buf_appendf(&p->other, "%s%s", p->other.len ? "; " : "", line);
}

static int has_problems(const struct problems *p)
{
	return p->n_unknown || p->n_fixed || p->other.len;
}

static void explain(const struct problems *p, const char *entity, char *why, size_t cap)
{
	struct dfs_buf b;

	dfs_buf_init(&b, 0);
	if (p->n_unknown)
		(void)dfs_buf_appendf(&b, "unknown column%s %s: entity '%s' has no such column%s",
				      p->n_unknown > 1 ? "s" : "", buf_str(&p->unknown), entity,
				      p->n_unknown > 1 ? "s" : "");
	if (p->n_fixed)
		(void)dfs_buf_appendf(&b, "%scolumn%s %s cannot be changed (not valid for update)",
				      b.len ? "; " : "", p->n_fixed > 1 ? "s" : "", buf_str(&p->fixed));
	if (p->other.len)
		(void)dfs_buf_appendf(&b, "%s%s", b.len ? "; " : "", buf_str(&p->other));
	snprintf(why, cap, "%s", b.data ? b.data : "out of memory");
	dfs_buf_free(&b);
}

static void problems_free(struct problems *p)
{
	dfs_buf_free(&p->unknown);
	dfs_buf_free(&p->fixed);
	dfs_buf_free(&p->other);
}

/* "account", "account or contact", "account, contact or lead". */
static void target_names(const struct dfs_column *col, char *out, size_t cap)
{
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; i < col->n_targets && len < cap; i++) {
		int k = snprintf(out + len, cap - len, "%s%s",
				 i == 0 ? "" : i + 1 == col->n_targets ? " or " : ", ",
				 col->targets[i].entity);

		if (k < 0)
			break;
		len += (size_t)k;
	}
}

/* Equal lookup values: GUIDs compare regardless of case. */
static int same_lookup(const cJSON *a, const cJSON *b)
{
	if (cJSON_IsString(a) && cJSON_IsString(b))
		return strcasecmp(a->valuestring, b->valuestring) == 0;
	return dfs_json_same_value(a, b);
}

/* Pick the target of a lookup to be set to A->id (NULL: ask the resolver). */
static void choose_target(const struct dfs_column *col, const cJSON *file, const char *key,
			  struct action *a, struct problems *p)
{
	char hint_key[300], names[256], tmp[SHOWN_SIZE];
	const char *hint;
	size_t i;

	if (col->n_targets == 1) {
		a->t = &col->targets[0];
		return;
	}
	if (snprintf(hint_key, sizeof(hint_key), "%s" LOOKUP_HINT, key) >= (int)sizeof(hint_key))
		return;
	hint = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(file, hint_key));
	if (!hint)
		return;
	for (i = 0; i < col->n_targets; i++) {
		if (strcmp(col->targets[i].entity, hint) == 0) {
			a->t = &col->targets[i];
			return;
		}
	}
	target_names(col, names, sizeof(names));
	add_clause(p, "lookup '%s': '%s' (from '%s') is not one of its tables (%s)", col->name,
		   dfs_printable(hint, (size_t)-1, tmp, sizeof(tmp)), hint_key, names);
}

/* A changed column not valid for update: in a restore it is left out and
 * counted, in an edit it is an error. */
static void changed_fixed(int restore, const char *key, struct problems *p, int *dropped)
{
	if (restore)
		++*dropped;
	else
		add_name(&p->fixed, &p->n_fixed, key);
}

/* First pass: what to do with one member of FILE. */
static void classify(const struct dfs_schema *s, const cJSON *file, const cJSON *base,
		     int restore, const cJSON *item, struct action *a, struct problems *p,
		     int *dropped)
{
	const char *key = item->string;
	const struct dfs_column *col;
	int lv;

	a->what = ACT_SKIP;
	a->item = item;
	if (!key || strchr(key, '@'))
		return;
	/* The id is the URL's business; changing it is not an update. */
	if (strcmp(key, s->primary_id) == 0) {
		if (base && !dfs_json_same_value(item, cJSON_GetObjectItemCaseSensitive(base, key)))
			changed_fixed(restore, key, p, dropped);
		return;
	}
	col = dfs_schema_column(s, key, &lv);
	if (!col) {
		size_t len = strlen(key);

		add_name(&p->unknown, &p->n_unknown, key);
		if (dfs_schema_is_lookup(find_col(s, key)))
			add_clause(p, "lookup '%s' is written as '_%s_value'", key, key);
		else if (len > 7 && key[0] == '_' && strcmp(key + len - 6, "_value") == 0 &&
			 len - 7 < 256) {
			char name[256];

			memcpy(name, key + 1, len - 7);
			name[len - 7] = '\0';
			if (find_col(s, name))
				add_clause(p, "column '%s' is not a lookup and is written as '%s'",
					   name, name);
		}
		return;
	}
	if (base) {
		const cJSON *was = cJSON_GetObjectItemCaseSensitive(base, key);

		if (lv ? same_lookup(item, was) : dfs_json_same_value(item, was))
			return;
		if (!(col->flags & DFS_COL_UPDATE)) {
			changed_fixed(restore, key, p, dropped);
			return;
		}
	} else {
		if (is_null(item))
			return;
		if (!(col->flags & DFS_COL_CREATE)) {
			++*dropped;
			return;
		}
	}
	a->col = col;
	if (!lv) {
		a->what = ACT_COPY;
		return;
	}
	if (col->n_targets == 0) {
		add_clause(p, "lookup '%s' cannot be %s: none of its tables is available through the Web API",
			   col->name, is_null(item) ? "cleared" : "set");
		return;
	}
	if (is_null(item)) {
		a->what = ACT_CLEAR;
		return;
	}
	if (!cJSON_IsString(item) ||
	    dfs_guid_parse(item->valuestring, strlen(item->valuestring), 0, a->id) < 0) {
		char tmp[SHOWN_SIZE];

		add_clause(p, "lookup '%s': %s%s%s is not a record id (a GUID)", col->name,
			   cJSON_IsString(item) ? "'" : "",
			   cJSON_IsString(item) ? dfs_printable(item->valuestring, (size_t)-1, tmp, sizeof(tmp)) : "the value",
			   cJSON_IsString(item) ? "'" : "");
		return;
	}
	a->what = ACT_BIND;
	choose_target(col, file, key, a, p);
}

static int add_bind(cJSON *body, const char *nav, cJSON *value)
{
	char *key = NULL;
	int ok;

	if (!value || asprintf(&key, "%s" BIND_SUFFIX, nav) < 0) {
		cJSON_Delete(value);
		return -ENOMEM;
	}
	ok = cJSON_AddItemToObject(body, key, value);
	free(key);
	if (!ok) {
		cJSON_Delete(value);
		return -ENOMEM;
	}
	return 0;
}

/* Third pass: the body, in the file's order. */
static int emit(const struct action *a, cJSON *body)
{
	char *ref;
	size_t i, j;
	int ret;

	switch (a->what) {
	case ACT_SKIP:
		return 0;
	case ACT_COPY: {
		cJSON *copy = cJSON_Duplicate(a->item, 1);

		if (!copy || !cJSON_AddItemToObject(body, a->item->string, copy)) {
			cJSON_Delete(copy);
			return -ENOMEM;
		}
		return 0;
	}
	case ACT_BIND:
		if (asprintf(&ref, "/%s(%s)", a->t->set_name, a->id) < 0)
			return -ENOMEM;
		ret = add_bind(body, a->t->nav, cJSON_CreateString(ref));
		free(ref);
		return ret;
	case ACT_CLEAR:
		/* Clearing through another target's navigation property leaves a
		 * polymorphic lookup as it is; nulling all of them clears it
		 * whatever it points at. */
		for (i = 0; i < a->col->n_targets; i++) {
			for (j = 0; j < i; j++)
				if (strcmp(a->col->targets[j].nav, a->col->targets[i].nav) == 0)
					break;
			if (j < i)
				continue;
			if ((ret = add_bind(body, a->col->targets[i].nav, cJSON_CreateNull())) < 0)
				return ret;
		}
		return 0;
	}
	return 0;
}

int dfs_schema_body(const struct dfs_schema *s, const cJSON *file, const cJSON *base,
		    cJSON **body, int *dropped, char *why, size_t cap,
		    dfs_schema_resolve_fn resolve, void *ctx)
{
	struct problems p;
	struct action *acts = NULL;
	const cJSON *item, *ver;
	char names[256];
	size_t n = 0, i;
	int restore = 0, drops = 0, ret;

	*body = NULL;
	if (dropped)
		*dropped = 0;
	if (why && cap)
		why[0] = '\0';
	memset(&p, 0, sizeof(p));
	dfs_buf_init(&p.unknown, 0);
	dfs_buf_init(&p.fixed, 0);
	dfs_buf_init(&p.other, 0);
	if (!cJSON_IsObject(file)) {
		snprintf(why, cap, "a record file must hold one JSON object");
		return -EINVAL;
	}
	if (base && !cJSON_IsObject(base)) {
		snprintf(why, cap, "the record's current version is not a JSON object");
		return -EIO;
	}
	/* Another version of the record (a restored backup, a copy of another
	 * record) carries its own system columns; an edit of this version has
	 * no business changing them. */
	ver = cJSON_GetObjectItemCaseSensitive(file, "versionnumber");
	if (base && ver && !dfs_json_same_value(ver, cJSON_GetObjectItemCaseSensitive(base, "versionnumber")))
		restore = 1;

	cJSON_ArrayForEach(item, file)
		n++;
	if (n && !(acts = calloc(n, sizeof(*acts)))) {
		ret = -ENOMEM;
		goto oom;
	}
	i = 0;
	cJSON_ArrayForEach(item, file)
		classify(s, file, base, restore, item, &acts[i++], &p, &drops);
	if (has_problems(&p)) {
		ret = -EINVAL;
		goto bad;
	}

	/* Probing costs requests, so only a file that is otherwise fine gets it. */
	for (i = 0; i < n; i++) {
		struct action *a = &acts[i];
		const struct dfs_lookup_target *t = NULL;
		size_t k;

		if (a->what != ACT_BIND || a->t)
			continue;
		target_names(a->col, names, sizeof(names));
		if (!resolve) {
			add_clause(&p, "lookup '%s': cannot tell which of %s has id %s", a->col->name,
				   names, a->id);
			continue;
		}
		ret = resolve(ctx, a->col, a->id, &t);
		if (ret == -ENOENT) {
			add_clause(&p, "lookup '%s': no %s with id %s", a->col->name, names, a->id);
			continue;
		}
		for (k = 0; ret == 0 && t && k < a->col->n_targets; k++)
			if (t == &a->col->targets[k])
				break;
		if (ret == 0 && (!t || k == a->col->n_targets))
			ret = -EIO;	/* not one of this column's targets */
		if (ret < 0) {
			snprintf(why, cap, "lookup '%s': cannot tell which of %s has id %s: %s",
				 a->col->name, names, a->id, strerror(-ret));
			goto out;
		}
		a->t = t;
	}
	if (has_problems(&p)) {
		ret = -EINVAL;
		goto bad;
	}

	if (!(*body = cJSON_CreateObject())) {
		ret = -ENOMEM;
		goto oom;
	}
	for (i = 0; i < n; i++)
		if ((ret = emit(&acts[i], *body)) < 0)
			goto oom;
	if (dropped)
		*dropped = drops;
	ret = 0;
	goto out;

bad:
	explain(&p, s->entity, why, cap);
	goto out;
oom:
	snprintf(why, cap, "out of memory");
	cJSON_Delete(*body);
	*body = NULL;
out:
	free(acts);
	problems_free(&p);
	return ret;
}
