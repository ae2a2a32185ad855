/* status.c - the mount's health as JSON (see include/status.h).
 *
 * Everything is read from the modules that own it through their own
 * accessors, each under its own lock: the token from auth.c, counters and
 * the last errors from the tenant's transport (http.c), listings from the
 * set caches, memory from the cache pool.  A status is a snapshot, made
 * when the file is opened (or its size asked for).
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "nodes.h"
#include "json.h"
#include "status.h"

/* Pending lookups listed in .status; pending_count has them all. */
#define STATUS_PENDING_MAX 100
#include "version.h"
#include "pending.h"
#include "banned.h"

static const char *errno_name(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "EIO";
}

/* "2024-05-06T07:08:09Z" into BUF. */
static const char *iso_time(time_t t, char *buf, size_t cap)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, cap, "%lld", (long long)t);
	return buf;
}

/* Health of T: NULL when it is fine, else why not (into WHY). */
static const char *tenant_trouble(struct dfs_tenant *t, char *why, size_t cap, int *err)
{
	struct dfs_auth_state as;

	if (!dfs_tenant_ready(t)) {
		pthread_mutex_lock(&t->connect_lock);
		*err = t->connect_errno ? -t->connect_errno : EAGAIN;
		snprintf(why, cap, "not connected: %s", t->connect_errno ? t->connect_why
			 : "connecting");
		pthread_mutex_unlock(&t->connect_lock);
		return why;
	}
	dfs_auth_state(dfs_dv_auth(t->dv), &as);
	if (as.unhealthy || (as.last_errno && as.expires_in <= 0)) {
		*err = -as.last_errno;
		snprintf(why, cap, "%s: %s%s%s", as.unhealthy ? "access refused" : "no token",
			 as.last_err.code, as.last_err.code[0] ? ": " : "", as.last_err.message);
		return why;
	}
	return NULL;
}

static void add_errors(cJSON *obj, const struct dfs_http_stats *st)
{
	cJSON *arr = cJSON_AddArrayToObject(obj, "last_errors"), *e;
	char when[32];
	size_t i;

	for (i = 0; arr && i < st->n_errors; i++) {
		const struct dfs_http_failure *f = &st->errors[i];

		if (!(e = cJSON_CreateObject()))
			return;
		cJSON_AddItemToArray(arr, e);
		cJSON_AddStringToObject(e, "time", iso_time(f->at, when, sizeof(when)));
		cJSON_AddStringToObject(e, "method", f->method);
		cJSON_AddStringToObject(e, "path", f->path);
		cJSON_AddNumberToObject(e, "status", (double)f->status);
		cJSON_AddStringToObject(e, "code", f->err.code);
		cJSON_AddStringToObject(e, "message", f->err.message);
		cJSON_AddStringToObject(e, "request_id", f->request_id);
	}
}

static cJSON *tenant_json(struct dfs_fs *fs, struct dfs_tenant *t, size_t *listed_out,
			  int *ok)
{
	const struct dfs_tenant_config *tc = t->tc;
	struct dfs_http_stats st;
	struct dfs_auth_state as;
	cJSON *o = cJSON_CreateObject(), *req, *sets, *s;
	const char *trouble;
	char why[1200], when[32];
	unsigned long total = 0;
	size_t i, n, listed = 0, sets_listed = 0;
	double at, now = dfs_now();
	time_t until;
	int err = 0;

	if (!o)
		return NULL;
	trouble = tenant_trouble(t, why, sizeof(why), &err);
	*ok = !trouble;
	cJSON_AddStringToObject(o, "tenant", tc->name);
	cJSON_AddStringToObject(o, "url", tc->url);
	cJSON_AddStringToObject(o, "auth", dfs_auth_kind_name(tc->auth));
	cJSON_AddStringToObject(o, "health", trouble ? "unhealthy" : "ok");
	if (trouble) {
		cJSON_AddStringToObject(o, "reason", trouble);
		cJSON_AddStringToObject(o, "errno", errno_name(err));
	} else {
		cJSON_AddNullToObject(o, "reason");
		cJSON_AddNullToObject(o, "errno");
	}
	cJSON_AddBoolToObject(o, "connected", dfs_tenant_ready(t));

	dfs_auth_state(dfs_dv_auth(t->dv), &as);
	if (as.has_expiry && as.expires_in > 0) {
		cJSON_AddStringToObject(o, "token_expires",
					iso_time(time(NULL) + (time_t)as.expires_in, when, sizeof(when)));
		cJSON_AddNumberToObject(o, "token_expires_in", (double)(long)as.expires_in);
	} else {
		cJSON_AddNullToObject(o, "token_expires");
		cJSON_AddNullToObject(o, "token_expires_in");
	}

	dfs_http_stats(dfs_dv_http(t->dv), &st);
	if ((req = cJSON_AddObjectToObject(o, "requests")))
		for (i = 0; i < DFS_REQ_KINDS; i++) {
			cJSON_AddNumberToObject(req, dfs_req_kind_names[i], (double)st.requests[i]);
			total += st.requests[i];
		}
	cJSON_AddNumberToObject(o, "requests_total", (double)total);
	cJSON_AddNumberToObject(o, "throttled", (double)st.throttled);
	/* Until then the tenant sends nothing (http.h). */
	if ((until = dfs_http_throttled_until(dfs_dv_http(t->dv))))
		cJSON_AddStringToObject(o, "throttled_until", iso_time(until, when, sizeof(when)));
	else
		cJSON_AddNullToObject(o, "throttled_until");
	cJSON_AddNumberToObject(o, "retried", (double)st.retried);
	cJSON_AddNumberToObject(o, "failed", (double)st.failed);
	add_errors(o, &st);

	sets = cJSON_CreateObject();
	for (i = 0; dfs_tenant_ready(t) && sets && i < t->n_sets; i++) {
		at = dfs_cache_listed_at(t->sets[i].cache, &n);
		if (at < 0)
			continue;
		sets_listed++;
		listed += n;
		if ((s = cJSON_AddObjectToObject(sets, t->sets[i].ent->set_name))) {
			cJSON_AddNumberToObject(s, "records", (double)n);
			cJSON_AddNumberToObject(s, "age", (double)(long)(now - at));
		}
	}
	cJSON_AddNumberToObject(o, "entity_sets", (double)(dfs_tenant_ready(t) ? t->n_sets : 0));
	cJSON_AddNumberToObject(o, "sets_listed", (double)sets_listed);
	cJSON_AddNumberToObject(o, "records_listed", (double)listed);
	if (sets)
		cJSON_AddItemToObject(o, "listed", sets);
	cJSON_AddNumberToObject(o, "listings_in_progress",
				(double)__atomic_load_n(&t->listings, __ATOMIC_RELAXED));
	/* Lookups of restored records waiting for their target (pending.h). */
	cJSON_AddNumberToObject(o, "pending_count", (double)dfs_pending_count(t->pending));
	cJSON_AddItemToObject(o, "pending", dfs_pending_list(t->pending, STATUS_PENDING_MAX));
	if (listed_out)
		*listed_out = listed;
	return o;
}

static cJSON *mount_json(struct dfs_fs *fs)
{
	const struct dfs_config *cfg = fs->cfg;
	cJSON *o = cJSON_CreateObject(), *tenants, *t, *cache, *req, *item, *kn;
	size_t i, listed = 0, n;
	unsigned long total = 0, throttled = 0, retried = 0, failed = 0, inprog = 0;
	int ok, bad = 0;
	char when[32];

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "version", DFS_VERSION);
	cJSON_AddStringToObject(o, "config", cfg->path ? cfg->path : "");
	cJSON_AddStringToObject(o, "mountpoint", fs->mountpoint ? fs->mountpoint : "");
	cJSON_AddNumberToObject(o, "pid", (double)getpid());
	cJSON_AddStringToObject(o, "started", iso_time(fs->started, when, sizeof(when)));
	if ((req = cJSON_AddObjectToObject(o, "settings"))) {
		const char *name;
		char value[64];

		for (i = 0; (name = dfs_config_global_key(i, NULL)); i++)
			if (dfs_config_global_text(cfg, name, value, sizeof(value)) == 0)
				cJSON_AddStringToObject(req, name, value);
	}
	tenants = cJSON_AddObjectToObject(o, "tenants");
	for (i = 0; i < fs->n_tenants; i++) {
		if (!(t = tenant_json(fs, &fs->tenants[i], &n, &ok)))
			continue;
		listed += n;
		bad += !ok;
		if ((item = cJSON_GetObjectItemCaseSensitive(t, "requests_total")))
			total += (unsigned long)item->valuedouble;
		if ((item = cJSON_GetObjectItemCaseSensitive(t, "throttled")))
			throttled += (unsigned long)item->valuedouble;
		if ((item = cJSON_GetObjectItemCaseSensitive(t, "retried")))
			retried += (unsigned long)item->valuedouble;
		if ((item = cJSON_GetObjectItemCaseSensitive(t, "failed")))
			failed += (unsigned long)item->valuedouble;
		if ((item = cJSON_GetObjectItemCaseSensitive(t, "listings_in_progress")))
			inprog += (unsigned long)item->valuedouble;
		/* The mount's file says how each tenant is; its own file says more. */
		if (!tenants || !(req = cJSON_CreateObject())) {
			cJSON_Delete(t);
			continue;
		}
		cJSON_AddItemToObject(req, "health",
				      cJSON_DetachItemFromObject(t, "health"));
		cJSON_AddItemToObject(req, "reason",
				      cJSON_DetachItemFromObject(t, "reason"));
		cJSON_AddItemToObject(req, "url", cJSON_DetachItemFromObject(t, "url"));
		cJSON_AddItemToObject(tenants, fs->tenants[i].tc->name, req);
		cJSON_Delete(t);
	}
	cJSON_AddStringToObject(o, "health", !bad ? "ok" : bad == (int)fs->n_tenants ? "unhealthy"
				: "degraded");
	cJSON_AddNumberToObject(o, "tenants_unhealthy", bad);
	cJSON_AddNumberToObject(o, "requests_total", (double)total);
	cJSON_AddNumberToObject(o, "throttled", (double)throttled);
	cJSON_AddNumberToObject(o, "retried", (double)retried);
	cJSON_AddNumberToObject(o, "failed", (double)failed);
	cJSON_AddNumberToObject(o, "listings_in_progress", (double)inprog);
	if ((cache = cJSON_AddObjectToObject(o, "cache"))) {
		cJSON_AddNumberToObject(cache, "memory_bytes", (double)dfs_cache_pool_used(fs->pool));
		cJSON_AddNumberToObject(cache, "spilled_bytes",
					(double)dfs_cache_pool_spilled(fs->pool));
		cJSON_AddNumberToObject(cache, "limit_bytes", (double)cfg->cache_size);
		cJSON_AddNumberToObject(cache, "records_listed", (double)listed);
	}
	if ((item = cJSON_AddObjectToObject(o, "memory"))) {
		struct mallinfo2 mi = mallinfo2();

		/* What the heap holds, and what it has taken from the system:
		 * the difference is free space a peak left behind. */
		cJSON_AddNumberToObject(item, "heap_in_use_bytes", (double)(mi.uordblks + mi.hblkhd));
		cJSON_AddNumberToObject(item, "heap_bytes", (double)(mi.arena + mi.hblkhd));
	}
	/* Names the kernel holds that need a node of dynfs's own (nodes.h):
	 * local files and renamed records, never the records of a listing. */
	if ((kn = cJSON_AddObjectToObject(o, "nodes")))
		cJSON_AddNumberToObject(kn, "own", (double)dfs_nodes_held());
	return o;
}

cJSON *dfs_status_json(struct dfs_fs *fs, struct dfs_tenant *t)
{
	int ok;

	return t ? tenant_json(fs, t, NULL, &ok) : mount_json(fs);
}

char *dfs_status_text(struct dfs_fs *fs, struct dfs_tenant *t, size_t *len)
{
	cJSON *o = dfs_status_json(fs, t);
	struct dfs_buf out;
	char *text = NULL;

	dfs_buf_init(&out, 0);
	if (o && dfs_json_render_pretty(o, &out) == 0 && dfs_buf_append(&out, "\n", 1) == 0 &&
	    (text = malloc(out.len + 1))) {
		memcpy(text, out.data, out.len);
		text[out.len] = '\0';
		*len = out.len;
	}
	dfs_buf_free(&out);
	cJSON_Delete(o);
	return text;
}

struct dfs_tenant *dfs_status_tenant_dir(struct dfs_fs *fs, const char *path)
{
	size_t i, n;

	if (!path || path[0] != '/')
		return NULL;
	path++;
	n = strcspn(path, "/");
	if (!n || (path[n] && path[n + 1]))
		return NULL;
	for (i = 0; i < fs->n_tenants; i++)
		if (strlen(fs->tenants[i].tc->name) == n &&
		    strncmp(fs->tenants[i].tc->name, path, n) == 0)
			return &fs->tenants[i];
	return NULL;
}

int dfs_status_path(struct dfs_fs *fs, const char *path, struct dfs_tenant **t)
{
	const char *slash;
	size_t i, n;

	if (!path || path[0] != '/')
		return 0;
	*t = NULL;
	if (strcmp(path, "/" DFS_STATUS_NAME) == 0)
		return 1;
	slash = strrchr(path, '/');
	if (slash == path || strcmp(slash + 1, DFS_STATUS_NAME) != 0)
		return 0;
	n = (size_t)(slash - path - 1);
	for (i = 0; i < fs->n_tenants; i++)
		if (strlen(fs->tenants[i].tc->name) == n &&
		    strncmp(fs->tenants[i].tc->name, path + 1, n) == 0) {
			*t = &fs->tenants[i];
			return 1;
		}
	return 0;
}

size_t dfs_status_listed(struct dfs_fs *fs)
{
	size_t i, j, n, total = 0;

	for (i = 0; i < fs->n_tenants; i++) {
		struct dfs_tenant *t = &fs->tenants[i];

		for (j = 0; dfs_tenant_ready(t) && j < t->n_sets; j++)
			if (dfs_cache_listed_at(t->sets[j].cache, &n) >= 0)
				total += n;
	}
	return total;
}
