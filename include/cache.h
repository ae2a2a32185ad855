/* cache.h - what dynfs knows about the records of one entity set.
 *
 * Two parts with different bounds:
 * - the index: for every record seen (in a listing or by a single GET) its
 *   id, exact file size, mtime (modifiedon), version (the ETag), when it
 *   was fetched and whether the current listing has it -- about 140 bytes a
 *   record with its hash slot, kept for every record of a listed folder;
 * - the content: the rendered file bytes in reference-counted blobs, bounded
 *   for the whole mount by the pool's cache_size.  Past the bound, the least
 *   recently used content of the set that grows moves to the pool's spill
 *   file (a private, unlinked file on disk) and is read back from there on
 *   demand; without a spill file it is dropped and fetched again.
 *
 * An open file holds its own reference to a blob, so a refresh or an
 * eviction never changes bytes under a reader.
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
	struct dfs_blob *blob;   /* a reference; NULL when the content was dropped */
	char *etag;
	size_t size;             /* the file's size (also when BLOB is NULL) */
	time_t mtime;
	double fetched;          /* dfs_now() of the last confirmation by the server */
	uint64_t gen;            /* changes whenever the bytes change */
	int listed;              /* the current listing has it */
};
void dfs_rec_info_clear(struct dfs_rec_info *info);

/* ---- the pool: the content bound shared by every set of the mount ------- */

struct dfs_cache_pool;

/*
 * MAX_BYTES of content in memory; SPILL_DIR (NULL: none) is where the spill
 * file goes (created 0700; the file is unlinked at once, so it vanishes
 * with the process).  NULL on out of memory; a spill file that cannot be
 * made is logged and done without.
 */
struct dfs_cache_pool *dfs_cache_pool_new(size_t max_bytes, const char *spill_dir);
void dfs_cache_pool_free(struct dfs_cache_pool **pool);
/* Bytes of content in memory, and spilled to disk, now. */
size_t dfs_cache_pool_used(struct dfs_cache_pool *pool);
size_t dfs_cache_pool_spilled(struct dfs_cache_pool *pool);

/* ---- one set ------------------------------------------------------------- */

struct dfs_cache;

struct dfs_cache *dfs_cache_new(struct dfs_cache_pool *pool);
void dfs_cache_free(struct dfs_cache **cache);

/*
 * FN(TAG, id) is called (with the cache locked: FN must not call back into
 * it) when a record that was known already gets another size, mtime or
 * content, or leaves the index: whatever kept its attributes must forget
 * them.  TAG (malloc'd) is the cache's now, freed with it.
 */
typedef void dfs_cache_changed_fn(const char *tag, const char *id);
void dfs_cache_on_change(struct dfs_cache *c, dfs_cache_changed_fn *fn, char *tag);

/*
 * Insert or replace ID's entry (BLOB gets a new reference, ETAG is copied).
 * LISTING is the dfs_cache_listing_begin() generation of the listing that
 * brought it, or 0 for a single read.  0 or -ENOMEM (-EINVAL: ID is not a
 * GUID).
 */
int dfs_cache_put(struct dfs_cache *c, const char *id, struct dfs_blob *blob,
		  const char *etag, time_t mtime, double fetched, uint32_t listing);
/*
 * 1 and a snapshot in *OUT if ID is in the index, else 0.  Spilled content
 * is read back (OUT->blob); dropped content gives OUT->blob NULL.
 */
int dfs_cache_get(struct dfs_cache *c, const char *id, struct dfs_rec_info *out);
/* Like dfs_cache_get without the content or the ETag (OUT->blob and
 * OUT->etag stay NULL): what stat needs, with no allocation and no I/O. */
int dfs_cache_peek(struct dfs_cache *c, const char *id, struct dfs_rec_info *out);
/* The server confirmed ID unchanged (304) at time FETCHED; a FETCHED below
 * 0 says the opposite: the server has newer bytes, ask before serving. */
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
 * A listing: begin returns its generation, every record it brings is put
 * with it, and end makes it current at time AT.  A FULL listing also drops
 * what it did not bring (deleted on the server), unless fetched since AT; a
 * delta only adds to the current one (its deletions are removed one by
 * one).  The listing's age counts from its end.
 */
uint32_t dfs_cache_listing_begin(struct dfs_cache *c);
void dfs_cache_listing_end(struct dfs_cache *c, uint32_t gen, double at, int full);
/* A record created here joins the current listing (if any) until the next one. */
int dfs_cache_listing_add(struct dfs_cache *c, const char *id);
/* When the last listing was complete, or -1 if there is none; *N (if
 * given) how many records it has. */
double dfs_cache_listed_at(struct dfs_cache *c, size_t *n);
/* Forget the listing's age: the next access lists anew. */
void dfs_cache_listing_expire(struct dfs_cache *c);

/* One listed record of a snapshot: its id, dfs_guid_pack'd (16 bytes). */
struct dfs_cache_listed {
	uint8_t id[16];
};
/*
 * A copy of the ids of the current listing in *OUT (malloc'd, *N records;
 * NULL when there are none), so that a folder is read a piece at a time
 * without the cache locked in between and without libfuse holding the
 * whole folder; dfs_cache_peek_listed gives each one's size and mtime as
 * it is read.  0 or -ENOMEM.
 */
int dfs_cache_snapshot(struct dfs_cache *c, struct dfs_cache_listed **out, size_t *n);
/* 1 and the size and mtime of record L now, or 0 if it left the index. */
int dfs_cache_peek_listed(struct dfs_cache *c, const struct dfs_cache_listed *l, size_t *size,
			  time_t *mtime);

/*
 * The 40-bit hash of record ID that its node id carries (nodes.h), and the
 * record of the index whose id has hash H: 1 and its id in *ID, 0 if none,
 * 2 if more than one has (the node id cannot tell them apart).  The index's
 * buckets are chosen by the same hash, so this is one chain's walk.
 */
#define DFS_CACHE_NODE_HASH_BITS 40
uint64_t dfs_cache_node_hash(const uint8_t id[16]);
int dfs_cache_find_node(struct dfs_cache *c, uint64_t h, uint8_t id[16]);

#endif
