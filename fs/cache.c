/* cache.c - per entity set index and content cache (see cache.h).
 *
 * The index is a chained hash table keyed by the record id in its 16-byte
 * binary form; an entry is about 130 bytes, so a listed folder of a million
 * records costs about 130 MB before any content.  Content blobs hang off
 * their entries and sit on the set's LRU list while in memory.  One mutex
 * per set; critical sections copy pointers and counters, and the only I/O
 * under it is a spill write of one record to a local file (a page-cache
 * copy of a few kilobytes).  Blobs and the pool they count against are in
 * cache_pool.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cache.h"
#include "cache_pool.h"
#include "log.h"
#include "state.h"
#include "util.h"
#include "banned.h"

/* Rarely present: kept apart so the common entry stays small. */
struct extra {
	char *etag;              /* an ETag that is not W/"<number>" */
	char *error;             /* why the last save failed */
};

struct entry {
	struct entry *next;      /* hash chain */
	struct entry *older;     /* content LRU, while BLOB is set */
	struct entry *newer;
	struct dfs_blob *blob;
	struct extra *x;
	uint64_t version;        /* the ETag W/"<version>" when HAS_VERSION */
	uint64_t gen;
	uint64_t opened_gen;     /* generation at the last open, 0 = never */
	double fetched;
	int64_t mtime;
	int64_t spill_off;       /* where the bytes wait on disk, -1 = nowhere */
	uint32_t size;
	uint32_t spill_cap;
	uint32_t seen;           /* the listing generation that last brought it */
	uint8_t listed;
	uint8_t stale;           /* the server has newer bytes: ask before serving */
	uint8_t has_version;
	uint8_t id[16];
};

struct dfs_cache {
	pthread_mutex_t lock;
	struct dfs_cache_pool *pool;
	struct entry **buckets;
	size_t n_buckets;
	size_t n_entries;
	size_t n_listed;
	uint64_t next_gen;
	uint32_t next_listing;
	double listed_at;
	struct entry *oldest;    /* content LRU ends */
	struct entry *newest;
	dfs_cache_changed_fn *changed;
	char *changed_tag;
};

/* ---- ids and ETags ------------------------------------------------------ */

/* Dataverse's ETags are W/"<versionnumber>": kept as the number. */
static int etag_version(const char *etag, uint64_t *out)
{
	char *end;

	if (!etag || strncmp(etag, "W/\"", 3) != 0 || etag[3] < '0' || etag[3] > '9')
		return 0;
	errno = 0;
	*out = strtoull(etag + 3, &end, 10);
	return errno == 0 && end[0] == '"' && end[1] == '\0';
}

static char *entry_etag(const struct entry *e)
{
	char *s = NULL;

	if (e->x && e->x->etag)
		return strdup(e->x->etag);
	if (e->has_version && asprintf(&s, "W/\"%" PRIu64 "\"", e->version) < 0)
		return NULL;
	return s;
}

static void extra_maybe_free(struct entry *e)
{
	if (e->x && !e->x->etag && !e->x->error) {
		free(e->x);
		e->x = NULL;
	}
}

/* ---- the table ---------------------------------------------------------- */

/* FNV-1a over the binary id. */
static size_t hash(const uint8_t id[16])
{
	size_t h = 14695981039346656037ULL;
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ id[i]) * 1099511628211ULL;
	return h;
}

uint64_t dfs_cache_node_hash(const uint8_t id[16])
{
	return hash(id) & ((1ULL << DFS_CACHE_NODE_HASH_BITS) - 1);
}

/* The bucket count stays a power of two below 2^40, so the bucket of an id
 * follows from its node hash alone. */
int dfs_cache_find_node(struct dfs_cache *c, uint64_t h, uint8_t id[16])
{
	struct entry *e;
	int n = 0;

	pthread_mutex_lock(&c->lock);
	for (e = c->buckets[h % c->n_buckets]; e; e = e->next)
		if (dfs_cache_node_hash(e->id) == h && n++ == 0)
			memcpy(id, e->id, 16);
	pthread_mutex_unlock(&c->lock);
	return n > 1 ? 2 : n;
}

struct dfs_cache *dfs_cache_new(struct dfs_cache_pool *pool)
{
	struct dfs_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->n_buckets = 1024;
	c->buckets = calloc(c->n_buckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	c->pool = pool;
	c->next_gen = 1;
	c->listed_at = -1;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void lru_unlink(struct dfs_cache *c, struct entry *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	e->older = e->newer = NULL;
}

static void lru_push(struct dfs_cache *c, struct entry *e)
{
	e->older = c->newest;
	e->newer = NULL;
	if (c->newest)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
}

/* Let go of E's content in memory (the index keeps its size). */
static void drop_blob(struct dfs_cache *c, struct entry *e)
{
	if (!e->blob)
		return;
	lru_unlink(c, e);
	__atomic_sub_fetch(&c->pool->used, e->blob->len, __ATOMIC_RELAXED);
	dfs_blob_unref(e->blob);
	e->blob = NULL;
}

static void set_blob(struct dfs_cache *c, struct entry *e, struct dfs_blob *b)
{
	drop_blob(c, e);
	e->blob = dfs_blob_ref(b);
	__atomic_add_fetch(&c->pool->used, b->len, __ATOMIC_RELAXED);
	lru_push(c, e);
}

/* Write E's content to the spill file (reusing its slot when it fits). */
static void spill(struct dfs_cache *c, struct entry *e)
{
	struct dfs_cache_pool *pool = c->pool;
	size_t len = e->blob->len;
	int64_t off = e->spill_off;

	if (pool->fd < 0 || len > UINT32_MAX) {
		e->spill_off = -1;
		return;
	}
	if (off < 0 || e->spill_cap < len) {
		off = __atomic_fetch_add(&pool->end, (int64_t)len, __ATOMIC_RELAXED);
		e->spill_cap = (uint32_t)len;
	}
	if (pwrite(pool->fd, e->blob->data, len, off) != (ssize_t)len) {
		e->spill_off = -1;
		return;
	}
	e->spill_off = off;
	__atomic_add_fetch(&pool->spilled, len, __ATOMIC_RELAXED);
}

/* Over the pool's bound: move this set's least recently used content out,
 * sparing KEEP (the entry just used). */
static void evict(struct dfs_cache *c, struct entry *keep)
{
	struct entry *e;

	while (dfs_cache_pool_used(c->pool) > c->pool->max && (e = c->oldest) && e != keep) {
		spill(c, e);
		drop_blob(c, e);
	}
}

/* E's attributes change, or it goes: tell whoever keeps them. */
static void changed(struct dfs_cache *c, const struct entry *e)
{
	char id[DFS_GUID_LEN + 1];

	if (!c->changed)
		return;
	dfs_guid_unpack(e->id, id);
	c->changed(c->changed_tag, id);
}

void dfs_cache_on_change(struct dfs_cache *c, dfs_cache_changed_fn *fn, char *tag)
{
	pthread_mutex_lock(&c->lock);
	free(c->changed_tag);
	c->changed = fn;
	c->changed_tag = tag;
	pthread_mutex_unlock(&c->lock);
}

static void entry_free(struct dfs_cache *c, struct entry *e)
{
	changed(c, e);
	drop_blob(c, e);
	if (e->listed)
		c->n_listed--;
	if (e->x) {
		free(e->x->etag);
		free(e->x->error);
		free(e->x);
	}
	free(e);
}

void dfs_cache_free(struct dfs_cache **cp)
{
	struct dfs_cache *c = *cp;
	struct entry *e, *next;
	size_t i;

	if (!c)
		return;
	c->changed = NULL;       /* going away: nobody to tell */
	for (i = 0; i < c->n_buckets; i++)
		for (e = c->buckets[i]; e; e = next) {
			next = e->next;
			entry_free(c, e);
		}
	free(c->buckets);
	free(c->changed_tag);
	pthread_mutex_destroy(&c->lock);
	free(c);
	*cp = NULL;
}

static struct entry **find_bin(struct dfs_cache *c, const uint8_t id[16])
{
	struct entry **pp = &c->buckets[hash(id) % c->n_buckets];

	while (*pp && memcmp((*pp)->id, id, 16) != 0)
		pp = &(*pp)->next;
	return pp;
}

static struct entry *find(struct dfs_cache *c, const char *id)
{
	uint8_t bin[16];

	return dfs_guid_pack(id, bin) < 0 ? NULL : *find_bin(c, bin);
}

/* Keep chains short as a set grows to hundreds of thousands of records. */
static void maybe_grow(struct dfs_cache *c)
{
	struct entry **nb, *e, *next;
	size_t n = c->n_buckets * 2, i, h;

	if (c->n_entries < c->n_buckets)
		return;
	nb = calloc(n, sizeof(*nb));
	if (!nb)
		return; /* longer chains, still correct */
	for (i = 0; i < c->n_buckets; i++)
		for (e = c->buckets[i]; e; e = next) {
			next = e->next;
			h = hash(e->id) % n;
			e->next = nb[h];
			nb[h] = e;
		}
	free(c->buckets);
	c->buckets = nb;
	c->n_buckets = n;
}

/* Do the bytes of B differ from what E held? */
static int bytes_changed(const struct entry *e, const struct dfs_blob *b, int has_version,
			 uint64_t version)
{
	if (e->size != b->len)
		return 1;
	if (e->blob)
		return memcmp(e->blob->data, b->data, b->len) != 0;
	/* Content not in memory: the version says whether it changed. */
	return !(e->has_version && has_version && e->version == version);
}

int dfs_cache_put(struct dfs_cache *c, const char *id, struct dfs_blob *blob,
		  const char *etag, time_t mtime, double fetched, uint32_t listing)
{
	uint64_t version = 0;
	int has_version = etag_version(etag, &version), fresh = 0;
	char *odd_etag = NULL;
	struct entry **pp, *e;
	uint8_t bin[16];
	int ret = 0;

	if (dfs_guid_pack(id, bin) < 0)
		return -EINVAL;
	if (blob->len > UINT32_MAX)
		return -EFBIG;
	if (etag && !has_version && !(odd_etag = strdup(etag)))
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	pp = find_bin(c, bin);
	if (!(e = *pp)) {
		if (!(e = calloc(1, sizeof(*e)))) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(e->id, bin, 16);
		e->spill_off = -1;
		*pp = e;
		c->n_entries++;
		fresh = 1;
	}
	if (odd_etag && !e->x && !(e->x = calloc(1, sizeof(*e->x)))) {
		ret = -ENOMEM;
		goto out;
	}
	/* Same bytes under a new ETag keep their generation: the kernel's
	 * cached pages are still right. */
	if (fresh || bytes_changed(e, blob, has_version, version)) {
		e->gen = c->next_gen++;
		if (!fresh)
			changed(c, e);
	} else if (e->mtime != mtime) {
		changed(c, e);
	}
	if (e->blob != blob)
		set_blob(c, e, blob);
	else
		lru_unlink(c, e), lru_push(c, e);
	e->size = (uint32_t)blob->len;
	e->has_version = (uint8_t)has_version;
	e->version = version;
	if (e->x) {
		free(e->x->etag);
		e->x->etag = odd_etag;
		odd_etag = NULL;
		extra_maybe_free(e);
	}
	e->mtime = mtime;
	e->fetched = fetched;
	e->stale = 0;
	if (listing) {
		e->seen = listing;
		if (!e->listed)
			c->n_listed++;
		e->listed = 1;
	}
	evict(c, e);
	maybe_grow(c);
out:
	pthread_mutex_unlock(&c->lock);
	free(odd_etag);
	return ret;
}

static void snapshot(const struct entry *e, struct dfs_rec_info *out)
{
	out->etag = entry_etag(e);
	out->blob = dfs_blob_ref(e->blob);
	out->size = e->size;
	out->mtime = (time_t)e->mtime;
	out->fetched = e->fetched;
	out->gen = e->gen;
	out->listed = e->listed && !e->stale;
}

/* Read E's spilled bytes back (called without the lock; E may go away:
 * only OFF, LEN and GEN are used, and the caller checks GEN again). */
static struct dfs_blob *unspill(struct dfs_cache *c, int64_t off, size_t len)
{
	struct dfs_blob *b = dfs_blob_new(NULL, len);

	if (b && pread(c->pool->fd, b->data, len, off) != (ssize_t)len) {
		dfs_warn("cache: reading back a spilled record failed: %s", strerror(errno));
		dfs_blob_unref(b);
		b = NULL;
	}
	return b;
}

int dfs_cache_get(struct dfs_cache *c, const char *id, struct dfs_rec_info *out)
{
	struct dfs_blob *b;
	struct entry *e;
	uint8_t bin[16];
	uint64_t gen;
	int64_t off;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (dfs_guid_pack(id, bin) < 0)
		return 0;
	pthread_mutex_lock(&c->lock);
	if (!(e = *find_bin(c, bin))) {
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	if (e->blob || e->spill_off < 0) {
		if (e->blob)
			lru_unlink(c, e), lru_push(c, e);
		snapshot(e, out);
		pthread_mutex_unlock(&c->lock);
		return 1;
	}
	off = e->spill_off;
	len = e->size;
	gen = e->gen;
	pthread_mutex_unlock(&c->lock);

	b = unspill(c, off, len);
	pthread_mutex_lock(&c->lock);
	if (!(e = *find_bin(c, bin))) {
		pthread_mutex_unlock(&c->lock);
		dfs_blob_unref(b);
		return 0;
	}
	/* Changed meanwhile: what is there now is the answer. */
	if (b && !e->blob && e->gen == gen) {
		set_blob(c, e, b);
		evict(c, e);
	}
	snapshot(e, out);
	pthread_mutex_unlock(&c->lock);
	dfs_blob_unref(b);
	return 1;
}

int dfs_cache_peek(struct dfs_cache *c, const char *id, struct dfs_rec_info *out)
{
	struct entry *e;
	int found = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->lock);
	if ((e = find(c, id))) {
		out->size = e->size;
		out->mtime = (time_t)e->mtime;
		out->fetched = e->fetched;
		out->gen = e->gen;
		out->listed = e->listed && !e->stale;
		found = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

void dfs_cache_touch(struct dfs_cache *c, const char *id, double fetched)
{
	struct entry *e;

	pthread_mutex_lock(&c->lock);
	if ((e = find(c, id))) {
		e->fetched = fetched;
		e->stale = fetched < 0;
	}
	pthread_mutex_unlock(&c->lock);
}

void dfs_cache_remove(struct dfs_cache *c, const char *id)
{
	struct entry **pp, *e;
	uint8_t bin[16];

	if (dfs_guid_pack(id, bin) < 0)
		return;
	pthread_mutex_lock(&c->lock);
	pp = find_bin(c, bin);
	if ((e = *pp)) {
		*pp = e->next;
		c->n_entries--;
		entry_free(c, e);
	}
	pthread_mutex_unlock(&c->lock);
}

void dfs_cache_set_error(struct dfs_cache *c, const char *id, const char *msg)
{
	struct entry *e;

	pthread_mutex_lock(&c->lock);
	if ((e = find(c, id)) && (e->x || (msg && (e->x = calloc(1, sizeof(*e->x)))))) {
		free(e->x->error);
		e->x->error = msg ? strdup(msg) : NULL;
		extra_maybe_free(e);
	}
	pthread_mutex_unlock(&c->lock);
}

char *dfs_cache_error(struct dfs_cache *c, const char *id)
{
	struct entry *e;
	char *msg = NULL;

	pthread_mutex_lock(&c->lock);
	if ((e = find(c, id)) && e->x && e->x->error)
		msg = strdup(e->x->error);
	pthread_mutex_unlock(&c->lock);
	return msg;
}

int dfs_cache_opened(struct dfs_cache *c, const char *id, uint64_t gen)
{
	struct entry *e;
	int same = 0;

	pthread_mutex_lock(&c->lock);
	if ((e = find(c, id))) {
		same = e->opened_gen == gen;
		e->opened_gen = gen;
	}
	pthread_mutex_unlock(&c->lock);
	return same;
}

void dfs_cache_forget_opened(struct dfs_cache *c, const char *id)
{
	struct entry *e;

	pthread_mutex_lock(&c->lock);
	if ((e = find(c, id)))
		e->opened_gen = 0;
	pthread_mutex_unlock(&c->lock);
}

/* ---- listings ----------------------------------------------------------- */

uint32_t dfs_cache_listing_begin(struct dfs_cache *c)
{
	uint32_t gen;

	pthread_mutex_lock(&c->lock);
	if (++c->next_listing == 0)
		c->next_listing = 1; /* 0 means "not from a listing" */
	gen = c->next_listing;
	pthread_mutex_unlock(&c->lock);
	return gen;
}

void dfs_cache_listing_end(struct dfs_cache *c, uint32_t gen, double at, int full)
{
	struct entry **pp, *e;
	size_t i;

	pthread_mutex_lock(&c->lock);
	c->listed_at = dfs_now(); /* its age counts from when it was complete */
	for (i = 0; full && i < c->n_buckets; i++) {
		pp = &c->buckets[i];
		while ((e = *pp)) {
			if (e->seen == gen) {
				pp = &e->next;
			} else if (e->fetched < at) {
				/* Not brought by this listing, nor fetched since it
				 * began: gone from the server. */
				*pp = e->next;
				c->n_entries--;
				entry_free(c, e);
			} else {
				if (e->listed)
					c->n_listed--;
				e->listed = 0;
				pp = &e->next;
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
}

int dfs_cache_listing_add(struct dfs_cache *c, const char *id)
{
	struct entry *e;

	pthread_mutex_lock(&c->lock);
	if (c->listed_at >= 0 && (e = find(c, id)) && !e->listed) {
		e->listed = 1;
		c->n_listed++;
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

double dfs_cache_listed_at(struct dfs_cache *c, size_t *n)
{
	double at;

	pthread_mutex_lock(&c->lock);
	at = c->listed_at;
	if (n)
		*n = c->n_listed;
	pthread_mutex_unlock(&c->lock);
	return at;
}

void dfs_cache_listing_expire(struct dfs_cache *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->listed_at >= 0)
		c->listed_at = -1e18; /* still listed, but older than any cache_ttl */
	pthread_mutex_unlock(&c->lock);
}

int dfs_cache_snapshot(struct dfs_cache *c, struct dfs_cache_listed **out, size_t *n)
{
	struct dfs_cache_listed *v = NULL;
	struct entry *e;
	size_t i, k = 0;
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	if (c->n_listed && !(v = malloc(c->n_listed * sizeof(*v)))) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < c->n_buckets && k < c->n_listed; i++)
		for (e = c->buckets[i]; e && k < c->n_listed; e = e->next) {
			if (!e->listed)
				continue;
			memcpy(v[k].id, e->id, 16);
			k++;
		}
out:
	pthread_mutex_unlock(&c->lock);
	*out = v;
	*n = k;
	return ret;
}

int dfs_cache_peek_listed(struct dfs_cache *c, const struct dfs_cache_listed *l, size_t *size,
			  time_t *mtime)
{
	struct entry *e;
	int found = 0;

	pthread_mutex_lock(&c->lock);
	if ((e = *find_bin(c, l->id))) {
		*size = e->size;
		*mtime = (time_t)e->mtime;
		found = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}
