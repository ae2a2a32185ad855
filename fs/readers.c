/* readers.c - reader threads working through a queue of collection
 * queries, and the ids listings cut into ranges (see include/readers.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonmember.h"
#include "log.h"
#include "readers.h"
#include "util.h"

#define DEFAULT_DOP 4            /* parallelism when the server suggests none */
#define PROGRESS_SECONDS 5.0

/* ---- ids ---------------------------------------------------------------- */

int dfs_ids_add(struct dfs_ids *ids, const char *id)
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

int dfs_id_cmp_text(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, 16);
}

static int qsort_cmp(const void *a, const void *b, void *cmp)
{
	return ((dfs_id_cmp_fn *)cmp)(a, b);
}

/* Sort IDS by CMP and drop repeats (a record that moved between pages). */
void dfs_ids_sort(struct dfs_ids *ids, dfs_id_cmp_fn *cmp)
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

int dfs_ids_sorted(const uint8_t (*v)[16], size_t n, dfs_id_cmp_fn *cmp)
{
	size_t i;

	for (i = 1; i < n; i++)
		if (cmp(v[i - 1], v[i]) >= 0)
			return 0;
	return 1;
}

/* The primary key of record REC, lower-cased into ID; 0 or -EINVAL. */
int dfs_record_id(const struct dfs_entity *ent, const cJSON *rec, char id[DFS_GUID_LEN + 1])
{
	const char *s = dfs_cjson_str(rec, ent->primary_id);

	return s ? dfs_guid_parse(s, strlen(s), 0, id) : -EINVAL;
}

int dfs_id_sink_item(void *ctx, const cJSON *rec)
{
	struct dfs_id_sink *is = ctx;
	char id[DFS_GUID_LEN + 1];

	if (dfs_record_id(is->ent, rec, id) < 0) {
		/* As for a full record (on_record): skipped, but said. */
		dfs_warn("%s: %s: record without a usable '%s' skipped", is->tenant,
			 is->ent->set_name, is->ent->primary_id);
		return 0;
	}
	return dfs_ids_add(is->ids, id);
}

/* "<pk> <op> <id>" for a $filter in a URL. */
int dfs_filter_term(struct dfs_buf *b, const char *pk, const char *op, const uint8_t id[16])
{
	char g[DFS_GUID_LEN + 1];

	dfs_guid_unpack(id, g);
	return dfs_buf_appendf(b, "%s%%20%s%%20%s", pk, op, g);
}

/* ---- the job queue ------------------------------------------------------ */

void dfs_readers_init(struct dfs_readers *r, struct dfs_dv *dv, const struct dfs_entity *ent,
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
	pthread_cond_init(&r->more, NULL);
}

void dfs_readers_free(struct dfs_readers *r)
{
	size_t i;

	for (i = 0; i < r->n_jobs; i++)
		free(r->jobs[i]);
	free(r->jobs);
	free(r->prefer);
	free(r->found);
	pthread_cond_destroy(&r->more);
	pthread_mutex_destroy(&r->lock);
}

/* Queue the query PATH (taken from the buffer). */
int dfs_readers_add(struct dfs_readers *r, struct dfs_buf *path)
{
	char *job = dfs_buf_detach(path, NULL);
	int ret = 0;

	if (!job)
		return -ENOMEM;
	pthread_mutex_lock(&r->lock);
	if (r->n_jobs == r->cap_jobs) {
		size_t cap = r->cap_jobs ? r->cap_jobs * 2 : 16;
		char **nj = realloc(r->jobs, cap * sizeof(*nj));

		if (!nj) {
			ret = -ENOMEM;
			goto out;
		}
		r->jobs = nj;
		r->cap_jobs = cap;
	}
	r->jobs[r->n_jobs++] = job;
	job = NULL;
	pthread_cond_signal(&r->more);
out:
	pthread_mutex_unlock(&r->lock);
	free(job);
	return ret;
}

void dfs_readers_count(struct dfs_readers *r, unsigned n)
{
	pthread_mutex_lock(&r->lock);
	r->st->requests += n;
	pthread_mutex_unlock(&r->lock);
}

/* The first error of a run stops it: the readers finish their page and quit. */
void dfs_readers_fail(struct dfs_readers *r, int err)
{
	pthread_mutex_lock(&r->lock);
	if (!r->err || r->err == -ECANCELED)
		r->err = err;
	pthread_cond_broadcast(&r->more);
	pthread_mutex_unlock(&r->lock);
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
}

/* After each page: a progress line every few seconds. */
int dfs_readers_page(void *ctx, size_t items, int last)
{
	struct dfs_readers *r = ctx;
	double now = dfs_now();
	size_t n;

	pthread_mutex_lock(&r->lock);
	r->pages++;
	if (now - r->logged >= PROGRESS_SECONDS) {
		r->logged = now;
		n = __atomic_load_n(&r->st->records, __ATOMIC_RELAXED);
		dfs_info("%s: %s: %zu id(s) and %zu record(s) in %u page(s) so far, %.0f records"
			 " a second", r->tenant, r->ent->set_name, r->ids, n, r->pages,
			 n / (now - r->start));
	}
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static int cmp_found(const void *key, const void *elem)
{
	return memcmp(key, elem, 16);
}

/* A record from a content query. */
static int on_record(void *ctx, const cJSON *rec)
{
	struct dfs_readers *r = ctx;
	char id[DFS_GUID_LEN + 1];
	uint8_t bin[16];
	uint8_t (*hit)[16];
	int ret;

	if (dfs_record_id(r->ent, rec, id) < 0) {
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

/* A reader: takes the next job until the queue is closed and empty. */
static void *worker(void *arg)
{
	struct dfs_readers *r = arg;
	struct dfs_collection c = {
		.prefer = r->prefer, .what = r->ent->set_name, .item = on_record,
		.page = dfs_readers_page, .ctx = r, .stop = &r->stop,
	};
	int ret;

	for (;;) {
		pthread_mutex_lock(&r->lock);
		while (!r->err && r->next_job == r->n_jobs && !r->closed)
			pthread_cond_wait(&r->more, &r->lock);
		if (r->err || r->next_job == r->n_jobs) {
			pthread_mutex_unlock(&r->lock);
			return NULL;
		}
		c.path = r->jobs[r->next_job++];
		pthread_mutex_unlock(&r->lock);

		ret = dfs_collection_get(r->dv, &c);
		dfs_readers_count(r, c.requests);
		dfs_collection_done(&c);
		if (ret < 0)
			dfs_readers_fail(r, ret);
	}
}

/* N readers besides the calling thread; each takes its own handle from the
 * tenant's pool for every request. */
void dfs_readers_start(struct dfs_readers *r, unsigned n)
{
	while (r->n_threads < n && r->n_threads < DFS_READERS_MAX - 1) {
		if (pthread_create(&r->threads[r->n_threads], NULL, worker, r) != 0) {
			dfs_debug("%s: %s: %u reader thread(s) only", r->tenant, r->ent->set_name,
				  r->n_threads + 1);
			break;
		}
		r->n_threads++;
	}
	r->st->parallel = r->n_threads + 1;
}

/* No more jobs: read what is left with the other readers, then wait for them. */
int dfs_readers_finish(struct dfs_readers *r)
{
	unsigned i;

	pthread_mutex_lock(&r->lock);
	r->closed = 1;
	pthread_cond_broadcast(&r->more);
	pthread_mutex_unlock(&r->lock);
	worker(r);
	for (i = 0; i < r->n_threads; i++)
		pthread_join(r->threads[i], NULL);
	r->n_threads = 0;
	return r->err;
}

/* Read the queued jobs, WORKERS at a time. */
int dfs_readers_run(struct dfs_readers *r, unsigned workers)
{
	if (workers > r->n_jobs)
		workers = (unsigned)r->n_jobs;
	dfs_readers_start(r, workers ? workers - 1 : 0);
	return dfs_readers_finish(r);
}

/* How many requests at once: the server's hint, the tenant's bound, and no
 * more than the PAGES there are to read. */
unsigned dfs_readers_parallelism(const struct dfs_readers *r, int dop_hint, size_t pages)
{
	unsigned p = dop_hint > 0 ? (unsigned)dop_hint : DEFAULT_DOP;

	if (p > dfs_dv_tenant(r->dv)->max_connections)
		p = dfs_dv_tenant(r->dv)->max_connections;
	if (p > DFS_READERS_MAX)
		p = DFS_READERS_MAX;
	if (p > pages)
		p = (unsigned)pages;
	return p ? p : 1;
}
