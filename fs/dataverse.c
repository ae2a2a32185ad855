/* dataverse.c - the Web API of one tenant (see include/dataverse.h).
 *
 * Layout: dfs_dv_request() is the one road to the server: standard headers,
 * a token from auth.c (renewed once on 401), the retry policy of http.h
 * (warn_retry() words its warning), and log_failure() for a request that
 * fails for good.  The rest are its callers: WhoAmI, entity metadata and
 * single-record reads (listings: collection.c and listing.c; the writes are
 * in dv_write.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>

#include "auth.h"
#include "buf.h"
#include "dataverse.h"
#include "http_failure.h"
#include "jsonmember.h"
#include "json.h"
#include "log.h"
#include "secret.h"
#include "banned.h"

#define API_PATH "/api/data/v9.2/"
#define MAX_BODY (1024UL * 1024 * 1024) /* metadata can be large; pages of records are streamed */
#define MAX_STD_HEADERS 8
#define MAX_HEADERS 24

struct dfs_dv {
	const struct dfs_tenant_config *tc;
	const struct dfs_config *cfg;
	struct dfs_http *http;
	struct dfs_auth *auth;
	char *api;
};

struct dfs_dv *dfs_dv_new(const struct dfs_tenant_config *tc, const struct dfs_config *cfg)
{
	struct dfs_http_opts ho = {
		.ca_file = tc->ca_file,
		.connect_timeout = cfg->connect_timeout,
		.timeout = cfg->timeout,
		.max_body = MAX_BODY,
	};
	struct dfs_dv *dv = calloc(1, sizeof(*dv));

	if (!dv)
		return NULL;
	dv->tc = tc;
	dv->cfg = cfg;
	if (asprintf(&dv->api, "%s" API_PATH, tc->url) < 0) {
		dv->api = NULL;
		goto fail;
	}
	if (!(dv->http = dfs_http_new(&ho)))
		goto fail;
	if (!(dv->auth = dfs_auth_new(tc, dv->http)))
		goto fail;
	return dv;
fail:
	dfs_dv_free(&dv);
	return NULL;
}

void dfs_dv_free(struct dfs_dv **dvp)
{
	struct dfs_dv *dv = *dvp;

	if (!dv)
		return;
	dfs_auth_free(&dv->auth);
	dfs_http_free(&dv->http);
	free(dv->api);
	free(dv);
	*dvp = NULL;
}

const char *dfs_dv_api_url(const struct dfs_dv *dv)
{
	return dv->api;
}

struct dfs_http *dfs_dv_http(const struct dfs_dv *dv)
{
	return dv->http;
}

struct dfs_auth *dfs_dv_auth(const struct dfs_dv *dv)
{
	return dv->auth;
}

const struct dfs_tenant_config *dfs_dv_tenant(const struct dfs_dv *dv)
{
	return dv->tc;
}

const struct dfs_config *dfs_dv_config(const struct dfs_dv *dv)
{
	return dv->cfg;
}

static int has_header(const char *const *headers, const char *name)
{
	size_t n = strlen(name), i;

	for (i = 0; headers && headers[i]; i++)
		if (strncasecmp(headers[i], name, n) == 0 && headers[i][n] == ':')
			return 1;
	return 0;
}

/* Shorten a URL for a log line: the path after the API root, capped. */
static const char *loggable(const struct dfs_dv *dv, const char *url, char *buf, size_t cap)
{
	size_t n = strlen(dv->api);

	if (strncmp(url, dv->api, n) == 0)
		url += n;
	snprintf(buf, cap, "%s", url);
	if (strlen(url) >= cap && cap > 4)
		memcpy(buf + cap - 4, "...", 4);
	return buf;
}

/* What a retry warning names: the tenant, the method and the URL. */
struct request_desc {
	const struct dfs_dv *dv;
	const char *method;
	const char *url;
};

/*
 * The warning before a Web API request is sent again.  In a FUSE operation
 * only the first retry warns: a failed operation's one line counts the
 * retries, a successful one says it had to wait.
 */
static void warn_retry(void *ctx, const struct dfs_http_resp *resp, int retry, long delay_ms)
{
	const struct request_desc *d = ctx;
	enum dfs_log_level level = retry > 1 && dfs_log_in_op() ? DFS_LOG_DEBUG : DFS_LOG_WARN;
	char shown[160];

	loggable(d->dv, d->url, shown, sizeof(shown));
	if (resp->status)
		dfs_log(level, "%s: %s %s: HTTP %ld%s%s, retry %d in %ld ms", d->dv->tc->name, d->method,
			 shown, resp->status, resp->err.code[0] ? " " : "", resp->err.code, retry,
			 delay_ms);
	else
		dfs_log(level, "%s: %s %s: %s, retry %d in %ld ms", d->dv->tc->name, d->method,
			shown, resp->err.message, retry, delay_ms);
}

/* Log a request that failed for good, with the hint for its error if there is one. */
static void log_failure(const struct request_desc *d, const char *const *headers,
			const struct dfs_http_resp *resp)
{
	const char *hint = dfs_auth_hint(resp->err.message); /* "not a member of the organization" */
	char shown[160];

	/* In a FUSE operation its one line says all this (http.h's last
	 * failure); elsewhere (start-up, SIGHUP, reader threads) this is it. */
	enum dfs_log_level level = dfs_log_in_op() ? DFS_LOG_DEBUG : DFS_LOG_ERR;

	loggable(d->dv, d->url, shown, sizeof(shown));
	if (!resp->status) {
		dfs_log(level, "%s: %s %s failed: %s", d->dv->tc->name, d->method, shown,
			resp->err.message);
		return;
	}
	/* A missing record is an everyday answer (stat of a new name), and so
	 * is "it exists" to a create that must not overwrite, and an expired
	 * change-tracking token (the caller lists the set anew): not errors. */
	dfs_log(resp->status == 404 || (resp->status == 412 && has_header(headers, "If-None-Match")) ||
		strcmp(resp->err.code, DFS_DV_EXPIRED_TOKEN) == 0 ? DFS_LOG_DEBUG : level,
		"%s: %s %s failed: HTTP %ld %s%s'%s'%s%s", d->dv->tc->name, d->method, shown,
		resp->status, resp->err.code, resp->err.code[0] ? " " : "", resp->err.message,
		hint ? " - " : "", hint ? hint : "");
}

/* dfs_dv_send, with a 2xx body going to SINK when there is one. */
static int request(struct dfs_dv *dv, const char *method, const char *path,
		   const char *const *headers, const char *body, size_t body_len,
		   dfs_http_sink_fn *sink, void *sink_ctx, struct dfs_http_resp *resp,
		   unsigned flags)
{
	const char *hdrs[MAX_HEADERS];
	struct dfs_http_req req = { 0 };
	struct request_desc desc = { dv, method, NULL };
	struct dfs_retry retry = DFS_RETRY_INIT((int)dv->cfg->max_retries, warn_retry, &desc);
	char *url = NULL, *token = NULL;
	int ret, renewed = 0;
	size_t n = 0, i;
	double outer;

	if (strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0)
		url = strdup(path);
	else if (asprintf(&url, "%s%s", dv->api, path) < 0)
		url = NULL;
	if (!url)
		return -ENOMEM;
	desc.url = url;

	/* The headers every Web API request carries (protocol reference 9). */
	hdrs[n++] = "Accept: application/json";
	hdrs[n++] = "OData-MaxVersion: 4.0";
	hdrs[n++] = "OData-Version: 4.0";
	if (!has_header(headers, "If-None-Match"))
		hdrs[n++] = "If-None-Match: null";
	for (i = 0; headers && headers[i] && n < MAX_HEADERS - 1; i++)
		hdrs[n++] = headers[i];
	hdrs[n] = NULL;

	req.method = method;
	req.url = url;
	req.headers = hdrs;
	req.body = body;
	req.body_len = body_len;
	req.content_type = body ? "application/json; charset=utf-8" : NULL;
	req.sink = sink;
	req.sink_ctx = sink_ctx;
	req.once = (flags & DFS_DV_ONCE) != 0;

	/* One request, its token, retries and waits: op_timeout in all. */
	outer = dfs_http_deadline_set(dfs_now() + dv->cfg->op_timeout);
	for (;;) {
		dfs_secret_free(token);
		token = NULL;
		ret = dfs_auth_token(dv->auth, &token, &resp->err);
		if (ret < 0) {
			resp->status = 0;
			goto out;
		}
		dfs_auth_apply(dv->auth, &req, token);
		ret = dfs_http_perform(dv->http, &req, resp);
		if (ret == 0 && resp->status == 401 && !renewed) {
			/* Expired or revoked token: renew once and resend. */
			dfs_auth_reject(dv->auth, token);
			renewed = 1;
			continue;
		}
		/* A 3xx other than 304 is not the Web API's answer (http.h). */
		if (ret == 0 && (resp->status < 300 || resp->status == 304))
			goto out;
		/* Sent again, a write that was carried out would be carried out
		 * twice, or meet the 412 it caused itself: the caller finds out. */
		if ((flags & DFS_DV_ONCE) && dfs_http_may_have_applied(resp))
			break;
		if (!dfs_retry_again(&retry, resp))
			break;
	}

	/* A 401 is no failure to http.c (it renews the token); twice is. */
	if (ret == 0 && resp->status == 401) {
		struct dfs_http_failure f;

		dfs_http_failure_note(&req, resp, &f);
	}
	if (ret == 0)
		ret = dfs_http_errno(resp->status, CURLE_OK);
	if (retry.past_deadline) {
		size_t used = strlen(resp->err.message);

		snprintf(resp->err.message + used, sizeof(resp->err.message) - used, "%s%s",
			 used ? "; " : "", retry.why);
		dfs_http_failure_explain(retry.why);
	}
	/* What the caller settles (above, and a 412 it reads back) is its to log;
	 * a sink that stopped the transfer has said why itself. */
	if ((!(flags & DFS_DV_ONCE) || (resp->status != 412 && !dfs_http_may_have_applied(resp))) &&
	    (!sink || resp->curl_code != CURLE_WRITE_ERROR))
		log_failure(&desc, headers, resp);
out:
	dfs_http_deadline_restore(outer);
	dfs_secret_free(token);
	free(url);
	return ret;
}

int dfs_dv_request(struct dfs_dv *dv, const char *method, const char *path,
		   const char *const *headers, const char *body, size_t body_len,
		   struct dfs_http_resp *resp)
{
	return request(dv, method, path, headers, body, body_len, NULL, NULL, resp, 0);
}

int dfs_dv_send(struct dfs_dv *dv, const char *method, const char *path,
		const char *const *headers, const char *body, size_t body_len,
		struct dfs_http_resp *resp, unsigned flags)
{
	return request(dv, method, path, headers, body, body_len, NULL, NULL, resp, flags);
}

int dfs_dv_stream(struct dfs_dv *dv, const char *path, const char *const *headers,
		  dfs_http_sink_fn *sink, void *sink_ctx, struct dfs_http_resp *resp)
{
	return request(dv, "GET", path, headers, NULL, 0, sink, sink_ctx, resp, 0);
}

int dfs_dv_whoami(struct dfs_dv *dv, struct dfs_http_error *err)
{
	struct dfs_http_resp resp;
	int ret;

	dfs_http_resp_init(&resp);
	ret = dfs_dv_request(dv, "GET", "WhoAmI", NULL, NULL, 0, &resp);
	if (ret < 0 && err)
		*err = resp.err;
	dfs_http_resp_free(&resp);
	return ret;
}

void dfs_dv_entities_free(struct dfs_entity *ents, size_t n)
{
	size_t i;

	for (i = 0; ents && i < n; i++) {
		free(ents[i].logical_name);
		free(ents[i].set_name);
		free(ents[i].primary_id);
		free(ents[i].primary_name);
	}
	free(ents);
}

/* A copy of OBJ's string member KEY, or NULL when it is missing or empty. */
static char *json_strdup(const cJSON *obj, const char *key)
{
	const char *s = dfs_cjson_str(obj, key);

	return s && *s ? strdup(s) : NULL;
}

static int cmp_entity(const void *a, const void *b)
{
	return strcmp(((const struct dfs_entity *)a)->set_name,
		      ((const struct dfs_entity *)b)->set_name);
}

/*
 * Fill E from one EntityDefinitions entry.  -EINVAL when it lacks a name, a
 * set name or a primary id (or memory ran out copying them): it is skipped.
 */
static int entity_from_json(const cJSON *def, struct dfs_entity *e)
{
	memset(e, 0, sizeof(*e));
	e->logical_name = json_strdup(def, "LogicalName");
	e->set_name = json_strdup(def, "EntitySetName");
	e->primary_id = json_strdup(def, "PrimaryIdAttribute");
	e->primary_name = json_strdup(def, "PrimaryNameAttribute");
	e->change_tracking = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(def, "ChangeTrackingEnabled"));
	if (!e->logical_name || !e->set_name || !e->primary_id) {
		free(e->logical_name);
		free(e->set_name);
		free(e->primary_id);
		free(e->primary_name);
		memset(e, 0, sizeof(*e));
		return -EINVAL;
	}
	return 0;
}

int dfs_dv_entities(struct dfs_dv *dv, struct dfs_entity **out, size_t *nout,
		    struct dfs_http_error *err)
{
	const struct dfs_tenant_config *tc = dv->tc;
	struct dfs_http_resp resp;
	struct dfs_buf q, filter;
	struct dfs_entity *ents = NULL;
	cJSON *root = NULL, *value, *def;
	char *esc = NULL;
	size_t n = 0, i, j, cap;
	int ret;

	dfs_http_resp_init(&resp);
	dfs_buf_init(&q, 0);
	dfs_buf_init(&filter, 0);
	if (tc->n_entities) {
		for (i = 0; i < tc->n_entities; i++)
			if ((ret = dfs_buf_appendf(&filter, "%sEntitySetName eq '%s'", i ? " or " : "",
						   tc->entities[i])) < 0)
				goto out;
	} else if ((ret = dfs_buf_appendf(&filter, "IsValidForAdvancedFind eq true")) < 0) {
		goto out;
	}
	if (!(esc = dfs_http_escape(filter.data))) {
		ret = -ENOMEM;
		goto out;
	}
	if ((ret = dfs_buf_appendf(&q, "EntityDefinitions?$select=LogicalName,EntitySetName,"
				   "PrimaryIdAttribute,PrimaryNameAttribute,ChangeTrackingEnabled"
				   "&$filter=%s", esc)) < 0)
		goto out;
	ret = dfs_dv_request(dv, "GET", q.data, NULL, NULL, 0, &resp);
	if (ret < 0) {
		if (err)
			*err = resp.err;
		goto out;
	}
	root = cJSON_ParseWithLength(resp.body.data, resp.body.len);
	value = root ? cJSON_GetObjectItemCaseSensitive(root, "value") : NULL;
	if (!cJSON_IsArray(value)) {
		dfs_err("%s: EntityDefinitions answer has no 'value' array", tc->name);
		ret = -EIO;
		goto out;
	}
	cap = (size_t)cJSON_GetArraySize(value);
	ents = calloc(cap ? cap : 1, sizeof(*ents));
	if (!ents) {
		ret = -ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(def, value)
		if (entity_from_json(def, &ents[n]) == 0)
			n++;

	if (tc->n_entities) {
		/* Keep the configured order, and name every set that does not exist. */
		struct dfs_entity *ordered = calloc(tc->n_entities, sizeof(*ordered));
		int missing = 0;

		if (!ordered) {
			ret = -ENOMEM;
			goto out;
		}
		for (i = 0; i < tc->n_entities; i++) {
			for (j = 0; j < n; j++)
				if (ents[j].set_name && strcmp(ents[j].set_name, tc->entities[i]) == 0)
					break;
			if (j == n) {
				dfs_err("%s: entities: no entity set named '%s' (names are case-sensitive,"
					" e.g. 'accounts')", tc->name, tc->entities[i]);
				missing++;
				continue;
			}
			ordered[i] = ents[j];
			memset(&ents[j], 0, sizeof(ents[j]));
		}
		dfs_dv_entities_free(ents, n);
		ents = ordered;
		n = tc->n_entities;
		if (missing) {
			if (err)
				snprintf(err->message, sizeof(err->message),
					 "%d configured entity set(s) do not exist", missing);
			ret = -ENOENT;
			goto out;
		}
	} else {
		qsort(ents, n, sizeof(*ents), cmp_entity);
	}
	*out = ents;
	*nout = n;
	ents = NULL;
	ret = 0;
out:
	if (ents)
		dfs_dv_entities_free(ents, n);
	cJSON_Delete(root);
	free(esc);
	dfs_buf_free(&q);
	dfs_buf_free(&filter);
	dfs_http_resp_free(&resp);
	return ret;
}

int dfs_dv_get(struct dfs_dv *dv, const struct dfs_entity *ent, const char *id,
	       const char *if_none_match, cJSON **rec)
{
	char inm[160], errbuf[160], path[256];
	const char *hdrs[] = { inm, NULL };
	struct dfs_http_resp resp;
	int ret;

	*rec = NULL;
	dfs_http_resp_init(&resp);
	snprintf(path, sizeof(path), "%s(%s)", ent->set_name, id);
	if (if_none_match)
		snprintf(inm, sizeof(inm), "If-None-Match: %s", if_none_match);
	ret = dfs_dv_request(dv, "GET", path, if_none_match ? hdrs : NULL, NULL, 0, &resp);
	if (ret < 0)
		goto out;
	if (resp.status == 304) {
		ret = 1;
		goto out;
	}
	*rec = dfs_json_parse(resp.body.data, resp.body.len, errbuf, sizeof(errbuf));
	if (!cJSON_IsObject(*rec)) {
		dfs_err("%s: %s: record %s is not a JSON object: %s", dv->tc->name, ent->set_name,
			id, errbuf);
		cJSON_Delete(*rec);
		*rec = NULL;
		ret = -EIO;
	}
out:
	dfs_http_resp_free(&resp);
	return ret;
}

int dfs_dv_exists(struct dfs_dv *dv, const char *set_name, const char *id)
{
	struct dfs_http_resp resp;
	char path[256];
	int ret;

	dfs_http_resp_init(&resp);
	snprintf(path, sizeof(path), "%s(%s)", set_name, id);
	ret = dfs_dv_request(dv, "GET", path, NULL, NULL, 0, &resp);
	dfs_http_resp_free(&resp);
	if (ret == -ENOENT)
		return 0;
	return ret < 0 ? ret : 1;
}
