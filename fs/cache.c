/* cache.c - per entity set record cache: a chained hash table keyed by the
 * record id, plus the last listing.  One mutex per set; critical sections
 * copy pointers and counters only, never do I/O.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

struct entry {
	struct entry *next;
	char *id;
	struct dfs_blob *blob;
	char *etag;
	time_t mtime;
	double fetched;
	uint64_t gen;
	uint64_t opened_gen;     /* generation at the last open, 0 = never */
	char *error;             /* why the last save failed */
};

struct dfs_cache {
	pthread_mutex_t lock;
	struct entry **buckets;
	size_t n_buckets;
	size_t n_entries;
	uint64_t next_gen;
	char **listing;
	size_t n_listing;
	size_t cap_listing;
	double listed_at;
};

struct dfs_blob *dfs_blob_new(const char *data, size_t len)
{
	struct dfs_blob *b = malloc(sizeof(*b) + len + 1);

	if (!b)
		return NULL;
	b->refs = 1;
	b->len = len;
	memcpy(b->data, data, len);
	b->data[len] = '\0';
	return b;
}

struct dfs_blob *dfs_blob_ref(struct dfs_blob *b)
{
	if (b)
		__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
	return b;
}

void dfs_blob_unref(struct dfs_blob *b)
{
	if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(b);
}

void dfs_rec_info_clear(struct dfs_rec_info *info)
{
	dfs_blob_unref(info->blob);
	free(info->etag);
	memset(info, 0, sizeof(*info));
}

/* FNV-1a: ids are random GUIDs, anything simple spreads them well. */
static size_t hash(const char *s)
{
	size_t h = 14695981039346656037ULL;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

struct dfs_cache *dfs_cache_new(void)
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
	c->next_gen = 1;
	c->listed_at = -1;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void entry_free(struct entry *e)
{
	dfs_blob_unref(e->blob);
	free(e->etag);
	free(e->error);
	free(e->id);
	free(e);
}

static void free_listing(char **ids, size_t n)
{
	size_t i;

	for (i = 0; ids && i < n; i++)
		free(ids[i]);
	free(ids);
}

void dfs_cache_free(struct dfs_cache **cp)
{
	struct dfs_cache *c = *cp;
	struct entry *e, *next;
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n_buckets; i++)
		for (e = c->buckets[i]; e; e = next) {
			next = e->next;
			entry_free(e);
		}
	free(c->buckets);
	free_listing(c->listing, c->n_listing);
	pthread_mutex_destroy(&c->lock);
	free(c);
	*cp = NULL;
}

static struct entry **find(struct dfs_cache *c, const char *id)
{
	struct entry **pp = &c->buckets[hash(id) % c->n_buckets];

	while (*pp && strcmp((*pp)->id, id) != 0)
		pp = &(*pp)->next;
	return pp;
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

int dfs_cache_put(struct dfs_cache *c, const char *id, struct dfs_blob *blob,
		  const char *etag, time_t mtime, double fetched)
{
	char *etag_copy = etag ? strdup(etag) : NULL;
	struct entry **pp, *e;
	int ret = 0;

	if (etag && !etag_copy)
		return -ENOMEM;
	pthread_mutex_lock(&c->lock);
	pp = find(c, id);
	e = *pp;
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || !(e->id = strdup(id))) {
			free(e);
			free(etag_copy);
			ret = -ENOMEM;
			goto out;
		}
		*pp = e;
		c->n_entries++;
	}
	if (e->blob != blob) {
		/* Same bytes under a new ETag keep their generation: the
		 * kernel's cached pages are still right. */
		if (!e->blob || e->blob->len != blob->len ||
		    memcmp(e->blob->data, blob->data, blob->len) != 0)
			e->gen = c->next_gen++;
		dfs_blob_unref(e->blob);
		e->blob = dfs_blob_ref(blob);
	}
	free(e->etag);
	e->etag = etag_copy;
	e->mtime = mtime;
	e->fetched = fetched;
	maybe_grow(c);
out:
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int dfs_cache_get(struct dfs_cache *c, const char *id, struct dfs_rec_info *out)
{
	struct entry *e;
	int found = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->lock);
	e = *find(c, id);
	if (e) {
		out->etag = e->etag ? strdup(e->etag) : NULL;
		out->blob = dfs_blob_ref(e->blob);
		out->mtime = e->mtime;
		out->fetched = e->fetched;
		out->gen = e->gen;
		found = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

void dfs_cache_touch(struct dfs_cache *c, const char *id, double fetched)
{
	struct entry *e;

	pthread_mutex_lock(&c->lock);
	if ((e = *find(c, id)))
		e->fetched = fetched;
	pthread_mutex_unlock(&c->lock);
}

void dfs_cache_remove(struct dfs_cache *c, const char *id)
{
	struct entry **pp, *e;

	pthread_mutex_lock(&c->lock);
	pp = find(c, id);
	if ((e = *pp)) {
		*pp = e->next;
		c->n_entries--;
		entry_free(e);
	}
	pthread_mutex_unlock(&c->lock);
}

void dfs_cache_set_error(struct dfs_cache *c, const char *id, const char *msg)
{
	struct entry *e;

	pthread_mutex_lock(&c->lock);
	if ((e = *find(c, id))) {
		free(e->error);
		e->error = msg ? strdup(msg) : NULL;
	}
	pthread_mutex_unlock(&c->lock);
}

char *dfs_cache_error(struct dfs_cache *c, const char *id)
{
	struct entry *e;
	char *msg = NULL;

	pthread_mutex_lock(&c->lock);
	if ((e = *find(c, id)) && e->error)
		msg = strdup(e->error);
	pthread_mutex_unlock(&c->lock);
	return msg;
}

int dfs_cache_opened(struct dfs_cache *c, const char *id, uint64_t gen)
{
	struct entry *e;
	int same = 0;

	pthread_mutex_lock(&c->lock);
	if ((e = *find(c, id))) {
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
	if ((e = *find(c, id)))
		e->opened_gen = 0;
	pthread_mutex_unlock(&c->lock);
}

void dfs_cache_set_listing(struct dfs_cache *c, char **ids, size_t n, double at)
{
	struct entry **pp, *e;
	char **old;
	size_t n_old, i;

	pthread_mutex_lock(&c->lock);
	old = c->listing;
	n_old = c->n_listing;
	c->listing = ids;
	c->n_listing = n;
	c->cap_listing = n;
	c->listed_at = at;
	/* Anything not refreshed by this listing (or fetched since it began)
	 * is gone from the server. */
	for (i = 0; i < c->n_buckets; i++) {
		pp = &c->buckets[i];
		while ((e = *pp)) {
			if (e->fetched < at) {
				*pp = e->next;
				c->n_entries--;
				entry_free(e);
			} else {
				pp = &e->next;
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
	free_listing(old, n_old);
}

int dfs_cache_listing_add(struct dfs_cache *c, const char *id)
{
	char **grown, *copy;
	size_t i;
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	if (c->listed_at < 0)
		goto out;
	for (i = 0; i < c->n_listing; i++)
		if (strcmp(c->listing[i], id) == 0)
			goto out;
	if (c->n_listing == c->cap_listing) {
		size_t cap = c->cap_listing ? c->cap_listing * 2 : 64;
		if (!(grown = realloc(c->listing, cap * sizeof(*grown)))) {
			ret = -ENOMEM;
			goto out;
		}
		c->listing = grown;
		c->cap_listing = cap;
	}
	if (!(copy = strdup(id))) {
		ret = -ENOMEM;
		goto out;
	}
	c->listing[c->n_listing++] = copy;
out:
	pthread_mutex_unlock(&c->lock);
	return ret;
}

double dfs_cache_listed_at(struct dfs_cache *c)
{
	double at;

	pthread_mutex_lock(&c->lock);
	at = c->listed_at;
	pthread_mutex_unlock(&c->lock);
	return at;
}

int dfs_cache_walk_listing(struct dfs_cache *c, dfs_cache_walk_fn fn, void *ctx)
{
	struct entry *e;
	size_t i;
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->n_listing && ret == 0; i++) {
		e = *find(c, c->listing[i]);
		if (e)
			ret = fn(ctx, e->id, e->blob ? e->blob->len : 0, e->mtime);
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}
