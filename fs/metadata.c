/* metadata.c - an entity's schema fetched from the Web API: dfs_schema_fetch
 * (declared in include/schema.h).
 *
 * The Dataverse side of schema.c: which metadata requests to send, sending
 * them through dfs_dv_request, and logging what went wrong.  What the
 * answers mean is schema.c's business (dfs_schema_add_definition,
 * dfs_schema_add_sets, dfs_schema_build), so it is tested on JSON texts
 * without a server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dataverse.h"
#include "http.h"
#include "log.h"
#include "schema.h"
#include "banned.h"

/*
 * Longest $filter of one entity-set request before it is split.  Metadata
 * requests are GETs, so the filter is in the URL; a table with a regarding
 * lookup (annotation.objectid) references dozens of tables, and proxies in
 * front of on-premises servers often stop at a few kB of URL.
 */
#define MAX_SET_FILTER 1800

/* dfs_schema_add_definition or dfs_schema_add_sets. */
typedef int (*add_answer_fn)(struct dfs_schema_answers *ans, const char *text, size_t len,
			     char *why, size_t cap);

/* An answer the server should not have given: logged, and told to ERR. */
static int bad_answer(const char *entity, const char *why, struct dfs_http_error *err)
{
	dfs_err("schema of '%s': %s", entity, why);
	if (err) {
		err->code[0] = '\0';
		snprintf(err->message, sizeof(err->message), "%s", why);
	}
	return -EIO;
}

/* GET PATH and hand the answer to ADD. */
static int get_answer(struct dfs_dv *dv, const char *entity, const char *path, add_answer_fn add,
		      struct dfs_schema_answers *ans, struct dfs_http_error *err)
{
	struct dfs_http_resp resp;
	char why[256];
	int ret;

	dfs_http_resp_init(&resp);
	ret = dfs_dv_request(dv, "GET", path, NULL, NULL, 0, &resp);
	if (ret < 0) {
		/* dfs_dv_request has logged it, with the tenant. */
		if (err)
			*err = resp.err;
		goto out;
	}
	ret = add(ans, resp.body.data ? resp.body.data : "", resp.body.len, why, sizeof(why));
	if (ret == -EIO)
		bad_answer(entity, why, err);
out:
	dfs_http_resp_free(&resp);
	return ret;
}

/* One request for the entity sets of NAMES. */
static int fetch_sets(struct dfs_dv *dv, const char *entity, const char *const *names, size_t n,
		      struct dfs_schema_answers *ans, struct dfs_http_error *err)
{
	struct dfs_buf filter, path;
	char *esc = NULL;
	size_t i;
	int ret;

	dfs_buf_init(&filter, 0);
	dfs_buf_init(&path, 0);
	for (i = 0; i < n; i++)
		if ((ret = dfs_buf_appendf(&filter, "%sLogicalName eq '%s'", i ? " or " : "",
					   names[i])) < 0)
			goto out;
	if (!(esc = dfs_http_escape(filter.data))) {
		ret = -ENOMEM;
		goto out;
	}
	if ((ret = dfs_buf_appendf(&path, "EntityDefinitions?$select=LogicalName,EntitySetName"
				   "&$filter=%s", esc)) < 0)
		goto out;
	ret = get_answer(dv, entity, path.data, dfs_schema_add_sets, ans, err);
out:
	free(esc);
	dfs_buf_free(&filter);
	dfs_buf_free(&path);
	return ret;
}

/* Name the referenced tables the server gave no entity set for: lookups
 * cannot be set to their records, which is worth a line when one is tried. */
static void log_unbindable(const char *entity, const char *const *names, size_t n,
			   const struct dfs_schema_answers *ans)
{
	struct dfs_buf b;
	size_t i, missing = 0;

	if (dfs_log_get_level() < DFS_LOG_DEBUG)
		return;
	dfs_buf_init(&b, 0);
	for (i = 0; i < n; i++) {
		if (dfs_schema_set_name(ans, names[i]))
			continue;
		if (missing++ < 8)
			(void)dfs_buf_appendf(&b, "%s%s", missing > 1 ? ", " : "", names[i]);
	}
	if (missing)
		dfs_debug("schema of '%s': no entity set for %zu referenced table(s): %s%s", entity,
			  missing, b.data ? b.data : "", missing > 8 ? ", ..." : "");
	dfs_buf_free(&b);
}

int dfs_schema_fetch(struct dfs_dv *dv, const struct dfs_entity *ent, struct dfs_schema **out,
		     struct dfs_http_error *err)
{
	struct dfs_schema_answers ans = { NULL, NULL };
	struct dfs_buf path;
	const char **names = NULL;
	size_t n = 0, i, j, len, lookups = 0;
	int ret, requests = 0;
	char why[256];

	*out = NULL;
	dfs_buf_init(&path, 0);
	if (!dfs_schema_is_name(ent->logical_name)) {
		if (err)
			snprintf(err->message, sizeof(err->message),
				 "entity logical name is not an identifier");
		return -EINVAL;
	}
	/* Only what writes need: the full attribute metadata of a table is
	 * several hundred kB. */
	if ((ret = dfs_buf_appendf(&path, "EntityDefinitions(LogicalName='%s')"
				   "?$select=LogicalName,PrimaryIdAttribute"
				   "&$expand=Attributes($select=LogicalName,AttributeType,"
				   "IsValidForCreate,IsValidForUpdate,IsValidForRead,IsValidODataAttribute),"
				   "ManyToOneRelationships($select=ReferencingAttribute,ReferencedEntity,"
				   "ReferencingEntityNavigationPropertyName)", ent->logical_name)) < 0)
		goto out;
	requests++;
	if ((ret = get_answer(dv, ent->logical_name, path.data, dfs_schema_add_definition, &ans,
			      err)) < 0)
		goto out;
	if ((ret = dfs_schema_referenced(&ans, &names, &n)) < 0)
		goto out;
	/* As few requests as the URL length allows. */
	for (i = 0; i < n; i = j) {
		for (j = i, len = 0; j < n; j++) {
			size_t more = strlen(names[j]) + sizeof(" or LogicalName eq ''");

			if (j > i && len + more > MAX_SET_FILTER)
				break;
			len += more;
		}
		requests++;
		if ((ret = fetch_sets(dv, ent->logical_name, names + i, j - i, &ans, err)) < 0)
			goto out;
	}
	if ((ret = dfs_schema_build(&ans, ent->primary_id, out, why, sizeof(why))) < 0) {
		if (ret == -EIO)
			bad_answer(ent->logical_name, why, err);
		goto out;
	}
	for (i = 0; i < (*out)->n_cols; i++)
		lookups += dfs_schema_is_lookup(&(*out)->cols[i]);
	dfs_debug("schema of '%s': %zu columns, %zu lookups, %zu referenced tables, %d request(s)",
		  ent->logical_name, (*out)->n_cols, lookups, n, requests);
	log_unbindable(ent->logical_name, names, n, &ans);
out:
	if (ret < 0)
		dfs_debug("schema of '%s' failed after %d request(s): %s", ent->logical_name,
			  requests, strerror(-ret));
	free(names);
	dfs_schema_answers_free(&ans);
	dfs_buf_free(&path);
	return ret;
}
