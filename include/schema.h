/* schema.h - the columns of one entity, and the body of a write.
 *
 * A record file holds what a GET returned: plain columns by their logical
 * name, lookups as "_<name>_value" (a GUID), read-only system columns beside
 * writable ones.  The Web API wants something else back: only columns valid
 * for the operation, and lookups as "<nav>@odata.bind": "/<set>(<id>)", where
 * the navigation property of a polymorphic lookup (Customer, Owner,
 * regarding) depends on the table the id belongs to (protocol reference 1.7,
 * 3.1, 3.2, 11.2).  This module learns the columns from the entity's
 * metadata and turns an edited record file into that body.
 *
 *   fs/schema.c       the metadata answers to a struct dfs_schema
 *   fs/schema_body.c  the body of a write (dfs_schema_body)
 *   fs/metadata.c     dfs_schema_fetch: asks the Web API for those answers
 *                     (the Dataverse layer; the only function here with I/O)
 *
 * All but dfs_schema_fetch are pure, so tests feed them JSON texts.
 */
#ifndef DFS_SCHEMA_H
#define DFS_SCHEMA_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "json.h"

/* IsValidForCreate / IsValidForUpdate / IsValidForRead. */
enum { DFS_COL_CREATE = 1, DFS_COL_UPDATE = 2, DFS_COL_READ = 4 };

struct dfs_lookup_target {
	char *entity;      /* ReferencedEntity logical name, "account" */
	char *set_name;    /* its EntitySetName, "accounts" */
	char *nav;         /* ReferencingEntityNavigationPropertyName, "parentcustomerid_account" */
};

struct dfs_column {
	char *name;        /* logical name, "parentcustomerid" */
	char *type;        /* AttributeType, "Lookup", "Customer", "Owner", "String", ... */
	unsigned flags;    /* DFS_COL_* from IsValidForCreate/Update/Read */
	/*
	 * Lookups only: one per ManyToOne relationship whose table has an
	 * entity set (a relationship to a table the Web API does not expose
	 * cannot be bound).  Owner columns get systemuser and team, the tables
	 * an owner is bound to, both through the column's one navigation
	 * property.  Every field of a target is non-NULL.
	 */
	struct dfs_lookup_target *targets;
	size_t n_targets;
};

/*
 * COLS holds the columns that are Web API properties (IsValidODataAttribute;
 * the *name / *yominame / *type helpers of lookups are not), sorted by name
 * with strcmp, so dfs_schema_column is a binary search.
 */
struct dfs_schema {
	char *entity;      /* logical name, "contact" */
	char *primary_id;  /* "contactid" */
	struct dfs_column *cols;
	size_t n_cols;
};

struct dfs_dv;
struct dfs_entity;
struct dfs_http_error;

/*
 * GET the entity's Attributes and ManyToOneRelationships (one request with
 * $expand and $select), plus the EntitySetName of every referenced entity
 * (one more request with a $filter on LogicalName, split in several when the
 * filter would make a long URL; none when the entity has no lookups).
 * Returns 0 with *OUT (free with dfs_schema_free), or a negative errno with
 * ERR (may be NULL) saying why.  In fs/metadata.c.
 */
int dfs_schema_fetch(struct dfs_dv *dv, const struct dfs_entity *ent, struct dfs_schema **out,
		     struct dfs_http_error *err);

/*
 * The metadata answers a schema is built from, gathered as they come:
 * DEF is the answer of EntityDefinitions(LogicalName='x') with Attributes
 * and ManyToOneRelationships expanded, SETS the {"LogicalName",
 * "EntitySetName"} entries of the referenced tables (NULL: none yet).
 * Start with both NULL; free with dfs_schema_answers_free.
 */
struct dfs_schema_answers {
	cJSON *def;
	cJSON *sets;
};

/*
 * Keep the definition answer TEXT (LEN bytes).  Returns 0, or -EIO with WHY
 * "EntityDefinitions answer is not JSON: ...".  Whether it holds what a
 * schema needs is dfs_schema_build's to say.
 */
int dfs_schema_add_definition(struct dfs_schema_answers *ans, const char *text, size_t len,
			      char *why, size_t cap);

/*
 * Add the entries of an entity set answer ({"value":[{"LogicalName",
 * "EntitySetName"}...]}); several answers add up.  Returns 0, -ENOMEM, or
 * -EIO with WHY saying what is wrong with the answer.
 */
int dfs_schema_add_sets(struct dfs_schema_answers *ans, const char *text, size_t len,
			char *why, size_t cap);

void dfs_schema_answers_free(struct dfs_schema_answers *ans);

/*
 * The tables whose entity sets the definition's lookups need, sorted and
 * unique: every ReferencedEntity that dfs_schema_is_name accepts, with
 * systemuser and team for an Owner column instead of "owner" (which has no
 * entity set).  Returns 0 with *NAMES (free() it; the strings point into
 * ANS->def), or -ENOMEM.
 */
int dfs_schema_referenced(const struct dfs_schema_answers *ans, const char ***names, size_t *n);

/* The EntitySetName the answers give ENTITY, or NULL. */
const char *dfs_schema_set_name(const struct dfs_schema_answers *ans, const char *entity);

/* Is S a logical name as the server makes them (letters, digits, '_')?
 * Only such names go into a URL or a $filter. */
int dfs_schema_is_name(const char *s);

/*
 * The schema from the answers.  PRIMARY_ID NULL means the definition's
 * PrimaryIdAttribute.  A lookup gets a target for each referenced table the
 * answers give an entity set.  Returns 0 with *OUT (free with
 * dfs_schema_free), -ENOMEM, or -EIO with WHY saying what the definition
 * lacks.
 */
int dfs_schema_build(const struct dfs_schema_answers *ans, const char *primary_id,
		     struct dfs_schema **out, char *why, size_t cap);

/*
 * dfs_schema_build from answers in hand: ENTITY_JSON the definition,
 * SETS_JSON (may be NULL) one entity set answer.  Returns 0, -ENOMEM, or
 * -EIO with WHY saying what is wrong with the answer.
 */
int dfs_schema_parse(const char *entity_json, size_t len, const char *sets_json, size_t sets_len,
		     const char *primary_id, struct dfs_schema **out, char *why, size_t cap);

void dfs_schema_free(struct dfs_schema **s);

/*
 * The column a record key belongs to: "name" -> name, "_parentcustomerid_value"
 * -> the lookup parentcustomerid (and *IS_LOOKUP_VALUE set; IS_LOOKUP_VALUE may
 * be NULL).  NULL if none - also for the bare name of a lookup, which is not
 * a record key ("parentcustomerid" is neither read nor written by that name).
 */
const struct dfs_column *dfs_schema_column(const struct dfs_schema *s, const char *key,
					   int *is_lookup_value);

/* The column named NAME, of whatever kind (a lookup by its bare name), or
 * NULL: for saying what a key that is not a record key was meant to be. */
const struct dfs_column *dfs_schema_find(const struct dfs_schema *s, const char *name);

/* True for Lookup, Customer and Owner columns. */
int dfs_schema_is_lookup(const struct dfs_column *col);

/* Columns hold the same value: dfs_json_same_value (json.h), which is
 * where the exact decimal comparison lives; this name stays for callers. */
static inline int dfs_schema_same_value(const cJSON *a, const cJSON *b)
{
	return dfs_json_same_value(a, b);
}

/*
 * Which target of a polymorphic lookup has record ID: set *T (one of
 * COL->targets) and return 0, DFS_SCHEMA_DEFER, -ENOENT if none, or another
 * negative errno.
 */
/* A resolver's "leave this lookup out of the body" (it keeps it elsewhere:
 * a restore's lookup whose target does not exist yet, pending.h). */
#define DFS_SCHEMA_DEFER 1

typedef int (*dfs_schema_resolve_fn)(void *ctx, const struct dfs_column *col, const char *id,
				     const struct dfs_lookup_target **t);

/*
 * Build the body of a write from FILE (the user's parsed record file).
 * BASE is the record's current version for an update, or NULL for a create.
 *
 * - Keys with '@' are annotations and never sent; "_x_value@Microsoft.
 *   Dynamics.CRM.lookuplogicalname" names the target table of polymorphic
 *   lookup x (then RESOLVE is not asked).  The primary key is never sent
 *   (it goes in the URL).  Other keys must be columns (see
 *   dfs_schema_column).
 * - Update: keys whose value equals BASE's (a key BASE lacks counts as null)
 *   and keys FILE lacks are not sent.  If FILE's versionnumber differs from
 *   BASE's, FILE is another version of the record (a restored backup, a
 *   copied record) and changed columns not valid for update are left out and
 *   counted in *DROPPED; otherwise it is an edit and such changes are an
 *   error.
 * - Create: columns valid for create are sent, nulls left out; non-null
 *   columns not valid for create are left out and counted in *DROPPED.
 * - A lookup becomes "<nav>@odata.bind": "/<set>(<id>)"; an update to null
 *   sends "<nav>@odata.bind": null for every navigation property of the
 *   lookup (clearing through another target's property does nothing, so the
 *   current target need not be known).
 * - Other values are copied verbatim (Raw numbers stay Raw).
 *
 * RESOLVE (may be NULL: then a polymorphic lookup without the annotation is
 * an error) is only called when FILE is otherwise valid.  Returns 0 with
 * *BODY a new object (empty: nothing to send) and *DROPPED (may be NULL);
 * -EINVAL with WHY one line naming every offending key; -ENOMEM; or what
 * RESOLVE returned, with WHY saying which lookup.
 */
int dfs_schema_body(const struct dfs_schema *s, const cJSON *file, const cJSON *base,
		    cJSON **body, int *dropped, char *why, size_t cap,
		    dfs_schema_resolve_fn resolve, void *ctx);

/*
 * Does REC (a record as the server has it now) show the write BODY (what
 * dfs_schema_body built and was sent)?  Every column sent must hold the
 * value sent -- numbers by decimal value, a column REC lacks as null -- and
 * every "<nav>@odata.bind" the id it bound (or null) in the lookup's
 * "_<column>_value".  1 if so, 0 if not (also for a navigation property S
 * does not know: what cannot be checked is not proven).  How a save whose
 * answer was lost learns whether it was carried out.
 */
int dfs_schema_applied(const struct dfs_schema *s, const cJSON *body, const cJSON *rec);

/* The lookup whose navigation property is NAV[0..LEN) ("parentcustomerid_account"), or NULL. */
const struct dfs_column *dfs_schema_nav_column(const struct dfs_schema *s, const char *nav,
					       size_t len);

#endif
