/* cache.h - what dynfs knows about the records of one entity set.
 *
 * For every record seen (in a listing or by a single GET) the cache keeps the
 * rendered file bytes in a reference-counted blob, the ETag, the mtime
 * (modifiedon) and when it was fetched.  An open file holds its own reference
 * to the blob, so a refresh never changes bytes under a reader.  The cache
 * also keeps the set's last complete listing.
 */
#ifndef DFS_CACHE_H
#define DFS_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct dfs_blob {
	int refs;                /* atomic */
	size_t len;
	char data[];
};

/* A new blob holding a copy of DATA, with one reference. */
struct dfs_blob *dfs_blob_new(const char *data, size_t len);
struct dfs_blob *dfs_blob_ref(struct dfs_blob *b);
void dfs_blob_unref(struct dfs_blob *b);

/* A snapshot of one cached record, owned by the caller. */
struct dfs_rec_info {
	struct dfs_blob *blob;   /* a reference */
	char *etag;
	time_t mtime;
	double fetched;          /* dfs_now() of the last confirmation by the server */
	uint64_t gen;            /* changes whenever the bytes change */
};
void dfs_rec_info_clear(struct dfs_rec_info *info);

struct dfs_cache;

struct dfs_cache *dfs_cache_new(void);
void dfs_cache_free(struct dfs_cache **cache);

/* Insert or replace ID's entry (BLOB gets a new reference, ETAG is copied). */
int dfs_cache_put(struct dfs_cache *c, const char *id, struct dfs_blob *blob,
		  const char *etag, time_t mtime, double fetched);
/* 1 and a snapshot in *OUT if ID is cached, else 0. */
int dfs_cache_get(struct dfs_cache *c, const char *id, struct dfs_rec_info *out);
/* The server confirmed ID unchanged (304) at time FETCHED. */
void dfs_cache_touch(struct dfs_cache *c, const char *id, double fetched);
void dfs_cache_remove(struct dfs_cache *c, const char *id);

/*
 * Why the last save of ID failed (NULL clears it); kept until a save
 * succeeds, so `getfattr -n user.dynfs.error` can tell the user later.
 * dfs_cache_error returns a malloc'd copy or NULL.
 */
void dfs_cache_set_error(struct dfs_cache *c, const char *id, const char *msg);
char *dfs_cache_error(struct dfs_cache *c, const char *id);

/*
 * Record that ID is being opened with bytes of generation GEN; returns 1 if
 * the previous open saw the same generation (the kernel's page cache for the
 * file is still right), else 0.
 */
int dfs_cache_opened(struct dfs_cache *c, const char *id, uint64_t gen);
/* The kernel's pages for ID may hold other bytes: the next open must not keep them. */
void dfs_cache_forget_opened(struct dfs_cache *c, const char *id);

/*
 * Replace the listing with IDS (N lower-case GUIDs, ownership taken) taken at
 * time AT, and drop entries fetched before AT that the listing no longer has
 * (deleted on the server).
 */
void dfs_cache_set_listing(struct dfs_cache *c, char **ids, size_t n, double at);
/* A record created here joins the current listing (if any) until the next one. */
int dfs_cache_listing_add(struct dfs_cache *c, const char *id);
/* When the last complete listing was taken, or -1 if there is none. */
double dfs_cache_listed_at(struct dfs_cache *c);

/*
 * Call FN for each listed record that is still cached, in listing order, with
 * the cache locked (FN must not call back into the cache).  Stops when FN
 * returns non-zero and returns that value.
 */
typedef int (*dfs_cache_walk_fn)(void *ctx, const char *id, size_t size, time_t mtime);
int dfs_cache_walk_listing(struct dfs_cache *c, dfs_cache_walk_fn fn, void *ctx);

#endif
