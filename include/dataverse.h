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

/*
 * dfs_dv_request with FLAGS.  DFS_DV_ONCE: a request that must not be
 * carried out twice (a write): an attempt the server may have acted on
 * (dfs_http_may_have_applied) is not sent again; the failure is returned
 * and not logged -- nor is a 412 -- so that the caller, which can read the
 * record back, settles and reports it.  Refusals (429, 503, no connection)
 * and 401 are retried as usual.
 */
#define DFS_DV_ONCE 1u
int dfs_dv_send(struct dfs_dv *dv, const char *method, const char *path,
		const char *const *headers, const char *body, size_t body_len,
		struct dfs_http_resp *resp, unsigned flags);

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

/* ---- writes (fs/dv_write.c) --------------------------------------------
 *
 * A write is reported done only when the answer proves it: a 2xx whose body
 * is the record (return=representation), or an empty 2xx with the ETag or
 * OData-EntityId header.  Any other outcome after the request went out -- a
 * body that is not the record (a sign-in page, a WAF), a redirect, a reset
 * or timeout, a body cut short, a 502/504, and for an update any 412 (its
 * own earlier attempt may have caused it, resent by libcurl on a dead
 * kept-alive connection) -- is settled by reading the record back and asking
 * CHECK whether it shows the change:
 *
 *   it does                          done (*REC is the record as read)
 *   it does not, record unchanged    sent again (at most max_retries times)
 *   it does not, changed by another  -ESTALE, a conflict
 *   the read fails                   -EIO with CHECK->unknown set: nobody
 *                                    knows whether the change is there
 *
 * ERR then holds a sentence saying what happened.
 */
struct dfs_dv_check {
	/* 1 if REC, the record as the server has it now, shows the change */
	int (*applied)(void *ctx, const cJSON *rec);
	void *ctx;
	int unknown;             /* out: failed without knowing whether it was carried out */
	int read_back;           /* out: the outcome was settled by reading the record back */
};

/*
 * PATCH record ID with BODY (only the changed columns), on condition that it
 * still has ETAG (If-Match; NULL: If-Match: *), asking for the new version
 * back (return=representation) so the cache is refreshed without another
 * GET.  Returns 0 with *REC the new record (or NULL if the server proved it
 * without sending one), or a negative errno with ERR holding the Dataverse
 * code and message or what happened (above).
 */
int dfs_dv_update(struct dfs_dv *dv, const struct dfs_entity *ent, const char *id,
		  const char *etag, const char *body, size_t body_len, cJSON **rec,
		  struct dfs_http_error *err, struct dfs_dv_check *check);

/*
 * Create record ID with BODY: an upsert (PATCH <set>(<id>)) that must not
 * overwrite (If-None-Match: *), so the id is chosen here and a retried
 * create can never make two records.  -ESTALE if ID already exists (and
 * does not show BODY).  Otherwise as dfs_dv_update.
 */
int dfs_dv_create(struct dfs_dv *dv, const struct dfs_entity *ent, const char *id,
		  const char *body, size_t body_len, cJSON **rec, struct dfs_http_error *err,
		  struct dfs_dv_check *check);

/* DELETE record ID.  Returns 0 -- also when the server says it is not
 * there (404): gone is what a delete wants, and the 404 may answer our own
 * earlier attempt -- or a negative errno with ERR filled.  A delete whose
 * answer was lost is settled by asking whether ID is gone. */
int dfs_dv_delete(struct dfs_dv *dv, const struct dfs_entity *ent, const char *id,
		  struct dfs_http_error *err);

/*
 * Whether record ID exists in entity set SET_NAME (for lookups whose target
 * is not one of the mounted sets).  Second kind of success: 1 when it does;
 * 0 when it does not (404); otherwise a negative errno.
 */
int dfs_dv_exists(struct dfs_dv *dv, const char *set_name, const char *id);

#endif
