/* dataverse.h - the Dataverse Web API client of one tenant.
 *
 * Owns the tenant's transport (struct dfs_http) and token source (struct
 * dfs_auth).  dfs_dv_request() is the single road every Web API call takes:
 * it adds the standard OData headers, retries what is transient (struct
 * dfs_retry, the policy token requests use too), renews the token once on
 * 401, and logs the Dataverse error code and message of a request that
 * finally fails.
 *
 * Return convention (util.h): 0 or a negative errno.  Two functions have a
 * second kind of success, and say so below: dfs_dv_get() returns 1 for "304,
 * not modified" and dfs_dv_exists() returns 1 for "found".
 */
#ifndef DFS_DATAVERSE_H
#define DFS_DATAVERSE_H

#include <cjson/cJSON.h>
#include "config.h"
#include "http.h"

struct dfs_dv;

struct dfs_entity {
	char *logical_name;   /* "account" */
	char *set_name;       /* "accounts" - the folder name */
	char *primary_id;     /* "accountid" */
	char *primary_name;   /* "name" */
	int change_tracking;  /* ChangeTrackingEnabled */
};

struct dfs_dv *dfs_dv_new(const struct dfs_tenant_config *tc, const struct dfs_config *cfg);
void dfs_dv_free(struct dfs_dv **dv);

/* "<url>/api/data/v9.2/" of this tenant. */
const char *dfs_dv_api_url(const struct dfs_dv *dv);
/* The tenant's transport and token source, for .status and SIGHUP. */
struct dfs_http *dfs_dv_http(const struct dfs_dv *dv);
struct dfs_auth *dfs_dv_auth(const struct dfs_dv *dv);
/* The configuration the client was made with. */
const struct dfs_tenant_config *dfs_dv_tenant(const struct dfs_dv *dv);
const struct dfs_config *dfs_dv_config(const struct dfs_dv *dv);

/* The error code of a change-tracking token the server no longer knows
 * (ExpiredVersionStamp, HTTP 400): a full listing is due. */
#define DFS_DV_EXPIRED_TOKEN "0x80044352"

/*
 * One Web API call.  PATH is relative to the API root ("accounts(<id>)") or an
 * absolute URL (an @odata.nextLink).  HEADERS are extra request headers.
 * Returns 0 when the server answered 2xx or 304 (RESP filled; check
 * resp->status for 304), else a negative errno from dfs_http_errno() (or the
 * token's, see dfs_auth_token); RESP then still holds the last response and
 * resp->err says why.
 */
int dfs_dv_request(struct dfs_dv *dv, const char *method, const char *path,
		   const char *const *headers, const char *body, size_t body_len,
		   struct dfs_http_resp *resp);

/*
 * dfs_dv_request for a GET whose 2xx body goes to SINK piece by piece as it
 * arrives (see dfs_http_sink_fn) instead of into resp->body, which then only
 * holds an error's body.
 */
int dfs_dv_stream(struct dfs_dv *dv, const char *path, const char *const *headers,
		  dfs_http_sink_fn *sink, void *sink_ctx, struct dfs_http_resp *resp);

/* GET WhoAmI: proves URL, TLS and credentials.  On failure ERR says why. */
int dfs_dv_whoami(struct dfs_dv *dv, struct dfs_http_error *err);

/*
 * The entity sets to show: the configured `entities`, or every table valid
 * for advanced find.  A configured set that does not exist is an error naming
 * it.  *OUT is malloc'd; free with dfs_dv_entities_free.
 */
int dfs_dv_entities(struct dfs_dv *dv, struct dfs_entity **out, size_t *n,
		    struct dfs_http_error *err);
void dfs_dv_entities_free(struct dfs_entity *ents, size_t n);

/*
 * GET one record.  Returns 0 with *REC the parsed record (numbers kept
 * verbatim, see json.h), or a negative errno (-ENOENT: it does not exist).
 * Second kind of success: with IF_NONE_MATCH (an ETag), 1 when the server
 * answered 304 (the record still has that ETag); *REC is then NULL.
 */
int dfs_dv_get(struct dfs_dv *dv, const struct dfs_entity *ent, const char *id,
	       const char *if_none_match, cJSON **rec);

/*
 * PATCH record ID with BODY (only the changed columns), on condition that it
 * still has ETAG (If-Match), asking for the new version back
 * (return=representation) so the cache is refreshed without another GET.
 * Returns 0 with *REC the new record (or NULL if the server sent none), or a
 * negative errno with ERR holding the Dataverse code and message.
 */
int dfs_dv_update(struct dfs_dv *dv, const struct dfs_entity *ent, const char *id,
		  const char *etag, const char *body, size_t body_len, cJSON **rec,
		  struct dfs_http_error *err);

/*
 * Create record ID with BODY: an upsert (PATCH <set>(<id>)) that must not
 * overwrite (If-None-Match: *), so the id is chosen here and a retried
 * create can never make two records.  -ESTALE if ID already exists.
 * Returns 0 with *REC the new record (or NULL), or a negative errno with ERR.
 */
int dfs_dv_create(struct dfs_dv *dv, const struct dfs_entity *ent, const char *id,
		  const char *body, size_t body_len, cJSON **rec, struct dfs_http_error *err);

/* DELETE record ID.  Returns 0 or a negative errno with ERR filled. */
int dfs_dv_delete(struct dfs_dv *dv, const struct dfs_entity *ent, const char *id,
		  struct dfs_http_error *err);

/*
 * Whether record ID exists in entity set SET_NAME (for lookups whose target
 * is not one of the mounted sets).  Second kind of success: 1 when it does;
 * 0 when it does not (404); otherwise a negative errno.
 */
int dfs_dv_exists(struct dfs_dv *dv, const char *set_name, const char *id);

#endif
