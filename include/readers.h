/* readers.h - inside the listings: reader threads that work through a queue
 * of collection queries, and the ids that listings cut into ranges.  Only
 * fs/listing.c and fs/readers.c include it.
 *
 * A run: dfs_readers_init(), queries queued with dfs_readers_add() (before
 * or while the readers work), dfs_readers_start() for N reader threads,
 * dfs_readers_finish() to close the queue, read what is left in the
 * calling thread too, and wait for the others.  Each query is paged to its
 * end (collection.h), its records handed to the listing's callback; the
 * first failure stops the others after their page.
 *
 * Functions return 0 or a negative errno unless they say otherwise.
 */
#ifndef DFS_READERS_H
#define DFS_READERS_H

#include <pthread.h>
#include <stdint.h>

#include "buf.h"
#include "collection.h"
#include "listing.h"
#include "util.h"

#define DFS_READERS_MAX 52       /* Dataverse's limit of concurrent requests */

/* ---- ids ------------------------------------------------------------------ */

/* Packed ids (dfs_guid_pack), in the order they were added until sorted. */
struct dfs_ids {
	uint8_t (*v)[16];
	size_t n, cap;
};

typedef int dfs_id_cmp_fn(const uint8_t *a, const uint8_t *b);

/* Add ID (text); one that is not a GUID is left out. */
int dfs_ids_add(struct dfs_ids *ids, const char *id);
/* Sort IDS by CMP and drop repeats (a record that moved between pages). */
void dfs_ids_sort(struct dfs_ids *ids, dfs_id_cmp_fn *cmp);
/* Is V[0..N) strictly ascending by CMP?  1 or 0. */
int dfs_ids_sorted(const uint8_t (*v)[16], size_t n, dfs_id_cmp_fn *cmp);
/* The written order of ids (compare dfs_guid_cmp_sql). */
int dfs_id_cmp_text(const uint8_t *a, const uint8_t *b);

/* The primary key of record REC, lower-cased into ID; 0 or -EINVAL. */
int dfs_record_id(const struct dfs_entity *ent, const cJSON *rec, char id[DFS_GUID_LEN + 1]);

/* A dfs_collection_item_fn that adds each row's primary key to IDS. */
struct dfs_id_sink {
	const struct dfs_entity *ent;
	struct dfs_ids *ids;
	const char *tenant;      /* for the log */
};
int dfs_id_sink_item(void *ctx, const cJSON *rec);

/* Append "<pk> <op> <id>" to a $filter in a URL. */
int dfs_filter_term(struct dfs_buf *b, const char *pk, const char *op, const uint8_t id[16]);

/* ---- readers ---------------------------------------------------------------- */

/* A listing under way: what its threads share. */
struct dfs_readers {
	struct dfs_dv *dv;
	const struct dfs_entity *ent;
	const struct dfs_listing_cb *cb;
	struct dfs_listing_stats *st;
	const char *tenant;
	char *prefer;            /* Prefer of the queued queries (malloc'd) */
	struct dfs_ids *changed; /* deltas: the changed ids, sorted by dfs_id_cmp_text */
	uint8_t *found;          /* ... and which of them came back (malloc'd) */
	int stop;                /* atomic: a query failed, the others stop after their page */
	pthread_t threads[DFS_READERS_MAX];
	unsigned n_threads;
	pthread_mutex_t lock;    /* guards the rest */
	pthread_cond_t more;     /* a query was queued, or the queue closed */
	char **jobs;             /* the queued queries' paths */
	size_t n_jobs, cap_jobs, next_job;
	int closed;              /* no more queries will be queued */
	int err;
	size_t ids;              /* ids read so far, for progress lines */
	unsigned pages;
	double start, logged;
};

/* A run for ENT whose records go to CB; ST is zeroed and then counts. */
void dfs_readers_init(struct dfs_readers *r, struct dfs_dv *dv, const struct dfs_entity *ent,
		      const struct dfs_listing_cb *cb, struct dfs_listing_stats *st);
/* After dfs_readers_finish. */
void dfs_readers_free(struct dfs_readers *r);

/* Queue the query PATH (the buffer's text is taken). */
int dfs_readers_add(struct dfs_readers *r, struct dfs_buf *path);
/* Count N requests made outside the readers. */
void dfs_readers_count(struct dfs_readers *r, unsigned n);
/* Stop the run with ERR (the first error is kept). */
void dfs_readers_fail(struct dfs_readers *r, int err);
/* A dfs_collection page hook: a progress line every few seconds. */
int dfs_readers_page(void *ctx, size_t items, int last);

/* N reader threads besides the caller (fewer if threads cannot be made). */
void dfs_readers_start(struct dfs_readers *r, unsigned n);
/* Close the queue, read what is left, wait for the readers: the run's error or 0. */
int dfs_readers_finish(struct dfs_readers *r);
/* Read the queued queries, WORKERS at a time (start and finish). */
int dfs_readers_run(struct dfs_readers *r, unsigned workers);

/* How many requests at once: the server's x-ms-dop-hint (4 without one),
 * the tenant's max_connections, and no more than PAGES. */
unsigned dfs_readers_parallelism(const struct dfs_readers *r, int dop_hint, size_t pages);

#endif
