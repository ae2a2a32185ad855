/* listing.c - full listings in parallel ranges of ids, and deltas (see
 * include/listing.h).
 *
 * Both end in the same place: a list of queries ("jobs"), each paged to its
 * end by dfs_collection_get(), shared out to worker threads that each take
 * the next job until none is left.  A full listing's jobs are the ranges of
 * ids; a delta's are batches of changed ids.
 *
 * Ranges are cut from the ids of the narrow listing, sorted as the server
 * compares ids.  Microsoft's documentation implies SQL Server's
 * uniqueidentifier order (dfs_guid_cmp_sql), but ranges in any other order
 * would list records twice and lose others, so one small request asks the
 * server to sort the chosen boundaries and the answer decides: SQL Server's
 * order, the written order, or a single serial read when it is neither.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "collection.h"
#include "jsonmember.h"
#include "listing.h"
#include "log.h"
#include "util.h"

#define NARROW_PAGE 5000         /* ids and versions are ~100 bytes a row: the largest page */
#define DEFAULT_DOP 4            /* parallelism when the server suggests none */
#define MAX_WORKERS 52           /* Dataverse's limit of concurrent requests */
#define BATCH_IDS 500            /* ids per content request of a delta */
#define URL_MAX 32000            /* a GET URL that servers (and $batch) accept */
#define PROGRESS_SECONDS 5.0

typedef int id_cmp_fn(const uint8_t *a, const uint8_t *b);

struct ids {
	uint8_t (*v)[16];
	size_t n, cap;
};

/* A listing under way: what its threads share. */
struct run {
	struct dfs_dv *dv;
	const struct dfs_entity *ent;
	const struct dfs_listing_cb *cb;
	struct dfs_listing_stats *st;
	const char *tenant;
	char *prefer;            /* of the content requests */
	char **jobs;             /* paths of the queries to read */
	size_t n_jobs;
	struct ids *collect;     /* where on_ids puts the ids it reads */
	struct ids *changed;     /* deltas: the changed ids, sorted by memcmp */
	uint8_t *found;          /* ... and which of them came back */
	int stop;                /* atomic: a job failed, the others stop after their page */
	pthread_mutex_t lock;    /* guards the rest */
	size_t next_job;
	int err;
	unsigned pages;
	double start, logged;
};

/* ---- ids ---------------------------------------------------------------- */

static int ids_add(struct ids *ids, const char *id)
{
	uint8_t (*nv)[16];

	if (ids->n == ids->cap) {
		size_t cap = ids->cap ? ids->cap * 2 : 1024;

		if (!(nv = realloc(ids->v, cap * sizeof(*nv))))
			return -ENOMEM;
		ids->v = nv;
		ids->cap = cap;
	}
	if (dfs_guid_pack(id, ids->v[ids->n]) < 0)
		return 0;       /* not an id: no use for cutting ranges */
	ids->n++;
	return 0;
}

static int cmp_text(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, 16);
}

static int qsort_cmp(const void *a, const void *b, void *cmp)
{
	return ((id_cmp_fn *)cmp)(a, b);
}

/* Sort IDS by CMP and drop repeats (a record that moved between pages). */
static void ids_sort(struct ids *ids, id_cmp_fn *cmp)
{
	size_t i, j;

	if (ids->n == 0)
		return;
	qsort_r(ids->v, ids->n, sizeof(*ids->v), qsort_cmp, (void *)cmp);
	for (i = j = 0; i < ids->n; i++)
		if (j == 0 || cmp(ids->v[j - 1], ids->v[i]) != 0)
			memmove(ids->v[j++], ids->v[i], 16);
	ids->n = j;
}

/* The primary key of record REC, lower-cased into ID; 0 or -EINVAL. */
static int record_id(const struct dfs_entity *ent, const cJSON *rec, char id[DFS_GUID_LEN + 1])
{
	const char *s = dfs_cjson_str(rec, ent->primary_id);

	return s ? dfs_guid_parse(s, strlen(s), 0, id) : -EINVAL;
}

/* ---- running jobs ------------------------------------------------------- */

static void run_init(struct run *r, struct dfs_dv *dv, const struct dfs_entity *ent,
		     const struct dfs_listing_cb *cb, struct dfs_listing_stats *st)
{
	memset(r, 0, sizeof(*r));
	memset(st, 0, sizeof(*st));
	r->dv = dv;
	r->ent = ent;
	r->cb = cb;
	r->st = st;
	r->tenant = dfs_dv_tenant(dv)->name;
	r->start = r->logged = dfs_now();
	pthread_mutex_init(&r->lock, NULL);
}

static void run_free(struct run *r)
{
	size_t i;

	for (i = 0; i < r->n_jobs; i++)
		free(r->jobs[i]);
	free(r->jobs);
	free(r->prefer);
	free(r->found);
	pthread_mutex_destroy(&r->lock);
}

static int add_job(struct run *r, struct dfs_buf *path)
{
	char **nj = realloc(r->jobs, (r->n_jobs + 1) * sizeof(*nj));

	if (!nj)
		return -ENOMEM;
	r->jobs = nj;
	r->jobs[r->n_jobs++] = dfs_buf_detach(path, NULL);
	return r->jobs[r->n_jobs - 1] ? 0 : -ENOMEM;
}

static int cmp_found(const void *key, const void *elem)
{
	return memcmp(key, elem, 16);
}

/* A record from a content query. */
static int on_record(void *ctx, const cJSON *rec)
{
	struct run *r = ctx;
	char id[DFS_GUID_LEN + 1];
	uint8_t bin[16];
	uint8_t (*hit)[16];
	int ret;

	if (record_id(r->ent, rec, id) < 0) {
		dfs_warn("%s: %s: record without a usable '%s' skipped", r->tenant,
			 r->ent->set_name, r->ent->primary_id);
		return 0;
	}
	if (r->changed && dfs_guid_pack(id, bin) == 0 &&
	    (hit = bsearch(bin, r->changed->v, r->changed->n, 16, cmp_found)))
		__atomic_store_n(&r->found[hit - r->changed->v], 1, __ATOMIC_RELAXED);
	if ((ret = r->cb->record(r->cb->ctx, id, rec)) < 0)
		return ret;
	__atomic_add_fetch(&r->st->records, 1, __ATOMIC_RELAXED);
	return 0;
}

/* After each page: a progress line every few seconds. */
static void on_page(void *ctx, size_t items)
{
	struct run *r = ctx;
	double now = dfs_now();
	size_t n;

	pthread_mutex_lock(&r->lock);
	r->pages++;
	if (now - r->logged >= PROGRESS_SECONDS) {
		r->logged = now;
		/* The ids first (one thread), then the records. */
		n = r->collect ? r->collect->n : __atomic_load_n(&r->st->records, __ATOMIC_RELAXED);
		dfs_info("%s: %s: %zu %s in %u page(s) so far, %.0f a second", r->tenant,
			 r->ent->set_name, n, r->collect ? "id(s)" : "record(s)", r->pages,
			 n / (now - r->start));
	}
	pthread_mutex_unlock(&r->lock);
}

static void count_requests(struct run *r, unsigned n)
{
	pthread_mutex_lock(&r->lock);
	r->st->requests += n;
	pthread_mutex_unlock(&r->lock);
}

static void *worker(void *arg)
{
	struct run *r = arg;
	struct dfs_collection c = {
		.prefer = r->prefer, .what = r->ent->set_name, .item = on_record,
		.page = on_page, .ctx = r, .stop = &r->stop,
	};
	int ret;

	for (;;) {
		pthread_mutex_lock(&r->lock);
		if (r->err || r->next_job == r->n_jobs) {
			pthread_mutex_unlock(&r->lock);
			return NULL;
		}
		c.path = r->jobs[r->next_job++];
		pthread_mutex_unlock(&r->lock);

		ret = dfs_collection_get(r->dv, &c);
		count_requests(r, c.requests);
		dfs_collection_done(&c);
		if (ret < 0) {
			pthread_mutex_lock(&r->lock);
			if (!r->err || r->err == -ECANCELED)
				r->err = ret;
			pthread_mutex_unlock(&r->lock);
			__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
		}
	}
}

/* Read every job, WORKERS at a time; this thread is one of them. */
static int run_jobs(struct run *r, unsigned workers)
{
	pthread_t th[MAX_WORKERS];
	unsigned i, n = 0;

	if (workers > r->n_jobs)
		workers = (unsigned)r->n_jobs;
	if (workers > MAX_WORKERS)
		workers = MAX_WORKERS;
	/* Each thread takes its own handle from the tenant's pool per request. */
	for (i = 1; i < workers; i++) {
		if (pthread_create(&th[n], NULL, worker, r) != 0) {
			dfs_debug("%s: %s: %u reader thread(s) only", r->tenant, r->ent->set_name, n + 1);
			break;
		}
		n++;
	}
	r->st->parallel = n + 1;
	worker(r);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return r->err;
}

/* How many requests at once: the server's hint, the tenant's bound, and no
 * more than the PAGES there are to read. */
static unsigned parallelism(const struct run *r, int dop_hint, size_t pages)
{
	unsigned p = dop_hint > 0 ? (unsigned)dop_hint : DEFAULT_DOP;

	if (p > dfs_dv_tenant(r->dv)->max_connections)
		p = dfs_dv_tenant(r->dv)->max_connections;
	if (p > MAX_WORKERS)
		p = MAX_WORKERS;
	if (p > pages)
		p = (unsigned)pages;
	return p ? p : 1;
}

/* ---- full listings ------------------------------------------------------ */

/* A row of a narrow listing: its id goes to r->collect. */
static int on_ids(void *ctx, const cJSON *rec)
{
	struct run *r = ctx;
	char id[DFS_GUID_LEN + 1];

	return record_id(r->ent, rec, id) < 0 ? 0 : ids_add(r->collect, id);
}

/* The ids of the set, and a delta link when the table is tracked. */
static int narrow_listing(struct run *r, struct ids *ids, char **delta_link, int *dop_hint)
{
	const struct dfs_entity *ent = r->ent;
	struct dfs_collection c = { .what = ent->set_name, .item = on_ids, .page = on_page,
				    .ctx = r };
	char path[256], prefer[96];
	int ret;

	snprintf(path, sizeof(path), "%s?$select=%s%s", ent->set_name, ent->primary_id,
		 ent->change_tracking ? ",versionnumber" : "");
	snprintf(prefer, sizeof(prefer), "%sodata.maxpagesize=%d",
		 ent->change_tracking ? "odata.track-changes," : "", NARROW_PAGE);
	c.path = path;
	c.prefer = prefer;
	r->collect = ids;
	ret = dfs_collection_get(r->dv, &c);
	r->collect = NULL;
	r->pages = 0;
	r->start = dfs_now();   /* rates are of records from here */
	r->st->requests += c.requests;
	*dop_hint = c.dop_hint;
	*delta_link = c.delta_link;
	return ret;
}

/* "<pk> <op> <id>" for a $filter in a URL. */
static int filter_term(struct dfs_buf *b, const char *pk, const char *op, const uint8_t id[16])
{
	char g[DFS_GUID_LEN + 1];

	dfs_guid_unpack(id, g);
	return dfs_buf_appendf(b, "%s%%20%s%%20%s", pk, op, g);
}

static int is_sorted(const uint8_t (*v)[16], size_t n, id_cmp_fn *cmp)
{
	size_t i;

	for (i = 1; i < n; i++)
		if (cmp(v[i - 1], v[i]) >= 0)
			return 0;
	return 1;
}

/*
 * How does the server compare ids?  It sorts the N boundaries B (sorted by
 * dfs_guid_cmp_sql) and the order of its answer tells.  *CMP: the order to
 * cut ranges in, or NULL when it is none that dynfs knows.  0 or -errno.
 */
static int server_order(struct run *r, const uint8_t (*b)[16], size_t n, id_cmp_fn **cmp)
{
	const char *pk = r->ent->primary_id;
	struct dfs_collection c = { .what = r->ent->set_name, .item = on_ids, .ctx = r };
	const uint8_t (*v)[16];
	struct ids got = { 0 };
	struct dfs_buf path;
	char prefer[48];
	int ret, sql, text;
	size_t i;

	*cmp = NULL;
	dfs_buf_init(&path, 0);
	ret = dfs_buf_appendf(&path, "%s?$select=%s&$orderby=%s&$filter=", r->ent->set_name, pk,
			      pk);
	for (i = 0; i < n && ret == 0; i++)
		if ((ret = i ? dfs_buf_appendf(&path, "%%20or%%20") : 0) == 0)
			ret = filter_term(&path, pk, "eq", b[i]);
	if (ret < 0)
		goto out;
	snprintf(prefer, sizeof(prefer), "odata.maxpagesize=%zu", n);
	c.path = path.data;
	c.prefer = prefer;
	r->collect = &got;
	ret = dfs_collection_get(r->dv, &c);
	r->st->requests += c.requests;
	dfs_collection_done(&c);
	if (ret < 0)
		goto out;
	/* Boundaries deleted meanwhile are missing from the answer; with
	 * fewer than two, or an answer sorted both ways, only boundaries in
	 * order both ways are safe. */
	v = (const uint8_t (*)[16])got.v;
	sql = is_sorted(v, got.n, dfs_guid_cmp_sql);
	text = is_sorted(v, got.n, cmp_text);
	if (sql && (!text || is_sorted(b, n, cmp_text)))
		*cmp = dfs_guid_cmp_sql;
	else if (text && !sql)
		*cmp = cmp_text;
out:
	free(got.v);
	dfs_buf_free(&path);
	return ret;
}

/* The jobs of a full listing: P ranges of IDS (sorted by SQL Server's order). */
static int plan_ranges(struct run *r, struct ids *ids, unsigned p)
{
	uint8_t (*b)[16] = NULL;
	const char *pk = r->ent->primary_id;
	struct dfs_buf path;
	id_cmp_fn *cmp = dfs_guid_cmp_sql;
	unsigned i;
	int ret = -ENOMEM;

	dfs_buf_init(&path, 0);
	if (p > 1 && !(b = calloc(p, sizeof(*b))))
		goto out;
	for (i = 1; i < p; i++)
		memcpy(b[i], ids->v[i * ids->n / p], 16);
	if (p > 1 && (ret = server_order(r, (const uint8_t (*)[16])b + 1, p - 1, &cmp)) < 0)
		goto out;
	if (cmp != dfs_guid_cmp_sql) {
		if (cmp) {
			ids_sort(ids, cmp);
			for (i = 1; i < p; i++)
				memcpy(b[i], ids->v[i * ids->n / p], 16);
		} else {
			dfs_info("%s: %s: the server orders ids in a way dynfs does not know:"
				 " reading serially", r->tenant, r->ent->set_name);
			p = 1;
		}
	}
	/* [lowest, b1) [b1, b2) ... [b(p-1), highest]: open at both ends, so a
	 * record created meanwhile falls in one range whatever its id. */
	ret = -ENOMEM;
	for (i = 0; i < p; i++) {
		path.len = 0;
		if (dfs_buf_appendf(&path, "%s", r->ent->set_name) < 0)
			goto out;
		if (p > 1 && (dfs_buf_appendf(&path, "?$orderby=%s&$filter=", pk) < 0 ||
			      (i > 0 && filter_term(&path, pk, "ge", b[i]) < 0) ||
			      (i > 0 && i + 1 < p && dfs_buf_appendf(&path, "%%20and%%20") < 0) ||
			      (i + 1 < p && filter_term(&path, pk, "lt", b[i + 1]) < 0)))
			goto out;
		if (add_job(r, &path) < 0)
			goto out;
	}
	ret = (int)p;
out:
	free(b);
	dfs_buf_free(&path);
	return ret;
}

int dfs_listing_full(struct dfs_dv *dv, const struct dfs_entity *ent,
		     const struct dfs_listing_cb *cb, char **delta_link,
		     struct dfs_listing_stats *st)
{
	struct ids ids = { 0 };
	double t0 = dfs_now();
	struct run r;
	int ret, dop;
	unsigned p;

	*delta_link = NULL;
	run_init(&r, dv, ent, cb, st);
	if ((ret = narrow_listing(&r, &ids, delta_link, &dop)) < 0)
		goto out;
	ids_sort(&ids, dfs_guid_cmp_sql);
	/* Nothing there: a record created since is in the next delta, or the
	 * next listing when the table is not tracked. */
	if (ids.n == 0)
		goto done;
	if (asprintf(&r.prefer, "odata.maxpagesize=%u", dfs_dv_config(dv)->page_size) < 0) {
		r.prefer = NULL;
		ret = -ENOMEM;
		goto out;
	}
	p = parallelism(&r, dop, (ids.n + dfs_dv_config(dv)->page_size - 1) /
				 dfs_dv_config(dv)->page_size);
	if ((ret = plan_ranges(&r, &ids, p)) < 0)
		goto out;
	free(ids.v);
	ids.v = NULL;           /* the content may take long: give the memory back */
	if ((ret = run_jobs(&r, (unsigned)ret)) < 0)
		goto out;
done:
	dfs_info("%s: %s: listed %zu record(s) in %.1f s: %u request(s), %u at a time",
		 r.tenant, ent->set_name, st->records, dfs_now() - t0, st->requests,
		 st->parallel ? st->parallel : 1);
out:
	if (ret < 0) {
		free(*delta_link);
		*delta_link = NULL;
	}
	free(ids.v);
	run_free(&r);
	return ret;
}

/* ---- deltas ------------------------------------------------------------- */

struct delta_ctx {
	struct run *r;
	struct ids *changed;
};

static int is_deletion(const cJSON *item)
{
	const char *ctx = dfs_cjson_str(item, "@odata.context");
	const char *reason = dfs_cjson_str(item, "reason");

	return (ctx && strstr(ctx, "$deletedEntity")) || (reason && strcmp(reason, "deleted") == 0);
}

static int on_change(void *ctx, const cJSON *item)
{
	struct run *r = ctx;
	char id[DFS_GUID_LEN + 1];
	const char *s;
	int ret;

	if (!is_deletion(item))
		return record_id(r->ent, item, id) < 0 ? 0 : ids_add(r->collect, id);
	s = dfs_cjson_str(item, "id");
	if (!s || dfs_guid_parse(s, strlen(s), 0, id) < 0)
		return 0;
	if ((ret = r->cb->deleted(r->cb->ctx, id)) < 0)
		return ret;
	r->st->deleted++;
	return 0;
}

/* The jobs of a delta: the changed ids, up to BATCH_IDS (and URL_MAX) a request. */
static int plan_batches(struct run *r, const struct ids *ids)
{
	const char *pk = r->ent->primary_id;
	size_t i = 0, in_batch = 0, head = 0;
	struct dfs_buf path;
	int ret = 0;

	dfs_buf_init(&path, 0);
	while (i < ids->n && ret == 0) {
		if (in_batch == 0) {
			path.len = 0;
			ret = dfs_buf_appendf(&path, "%s?$filter=", r->ent->set_name);
			head = path.len;
		}
		if (ret == 0 && in_batch)
			ret = dfs_buf_appendf(&path, "%%20or%%20");
		if (ret == 0)
			ret = filter_term(&path, pk, "eq", ids->v[i++]);
		in_batch++;
		if (ret == 0 && (in_batch == BATCH_IDS || i == ids->n ||
				 path.len + (path.len - head) / in_batch + 8 > URL_MAX)) {
			ret = add_job(r, &path);
			in_batch = 0;
		}
	}
	dfs_buf_free(&path);
	return ret;
}

int dfs_listing_delta(struct dfs_dv *dv, const struct dfs_entity *ent, const char *delta_link,
		      const struct dfs_listing_cb *cb, char **new_link,
		      struct dfs_listing_stats *st)
{
	struct dfs_collection c = {
		.path = delta_link, .what = ent->set_name, .item = on_change,
		.prefer = "odata.track-changes,odata.maxpagesize=5000",
	};
	struct ids changed = { 0 };
	struct run r;
	size_t i;
	int ret;

	*new_link = NULL;
	run_init(&r, dv, ent, cb, st);
	c.ctx = &r;
	r.collect = &changed;
	ret = dfs_collection_get(dv, &c);
	st->requests += c.requests;
	if (ret == -EINVAL && strcmp(c.err.code, DFS_DV_EXPIRED_TOKEN) == 0) {
		ret = -ESTALE;
		goto out;
	}
	if (ret < 0)
		goto out;
	ids_sort(&changed, cmp_text);
	if (changed.n) {
		if (!(r.found = calloc(changed.n, 1)) ||
		    asprintf(&r.prefer, "odata.maxpagesize=%d", BATCH_IDS) < 0) {
			r.prefer = NULL;
			ret = -ENOMEM;
			goto out;
		}
		r.changed = &changed;
		if ((ret = plan_batches(&r, &changed)) < 0 ||
		    (ret = run_jobs(&r, parallelism(&r, c.dop_hint, r.n_jobs))) < 0)
			goto out;
	}
	/* Changed, then deleted before its content was read. */
	for (i = 0; i < changed.n; i++) {
		char id[DFS_GUID_LEN + 1];

		if (r.found[i])
			continue;
		dfs_guid_unpack(changed.v[i], id);
		if ((ret = cb->deleted(cb->ctx, id)) < 0)
			goto out;
		st->deleted++;
	}
	*new_link = c.delta_link;
	c.delta_link = NULL;
	dfs_info("%s: %s: refreshed in %.1f s: %zu changed, %zu deleted, %u request(s)", r.tenant,
		 ent->set_name, dfs_now() - r.start, st->records, st->deleted, st->requests);
out:
	dfs_collection_done(&c);
	free(changed.v);
	run_free(&r);
	return ret;
}
