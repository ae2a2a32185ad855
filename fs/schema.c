/* schema.c - an entity's columns from its metadata answers (see
 * include/schema.h).
 *
 * Pure: no I/O.  fs/metadata.c asks the Web API for the answers and hands
 * their texts to dfs_schema_add_definition and dfs_schema_add_sets;
 * dfs_schema_build makes the columns of them.  schema_body.c turns a record
 * file into the body of a write with those columns.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "json.h"
#include "schema.h"
#include "banned.h"

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
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

const struct dfs_column *dfs_schema_find(const struct dfs_schema *s, const char *name)
{
	return s && name ? find_col(s, name) : NULL;
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
