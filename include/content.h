/* content.h - what the files of a set folder hold: records from a listing
 * or a single GET, kept in the set's cache (cache.h).
 *
 * Listing a set (listing.h) brings full records, so one listing fills the
 * cache with the content of every file in it: copying a set costs about two
 * requests per 5000 records, read several at a time.  What came with a
 * listing is served while the listing is younger than cache_ttl.  After
 * that the next access refreshes it: a readdir always, and the read of a
 * record too when the table is tracked (one delta request rather than one
 * per record; a listing under way is not waited for).  A record of an
 * untracked table, or one read on its own, is revalidated with
 * If-None-Match after cache_ttl (a 304 costs no body).
 */
#ifndef DFS_CONTENT_H
#define DFS_CONTENT_H

#include <cjson/cJSON.h>
#include "tree.h"

/* Render REC and store it in S's cache as ID, confirmed at FETCHED, brought
 * by listing generation LISTING (0: read alone). */
int dfs_content_put(struct dfs_set *s, const char *id, const cJSON *rec, double fetched,
		    uint32_t listing);

/* Make sure INFO holds a copy of record P->id no older than cache_ttl,
 * asking the server only when needed.  0, -ENOENT or another -errno. */
int dfs_content_get(struct dfs_fs *fs, struct dfs_path *p, struct dfs_rec_info *info);

/* The size and mtime of record P->id for stat: from the index while the
 * record is fresh (no content touched), else as dfs_content_get. */
int dfs_content_stat(struct dfs_fs *fs, struct dfs_path *p, size_t *size, time_t *mtime);

/* GET record P->id regardless of what the cache or the last listing say. */
int dfs_content_fetch(struct dfs_path *p, struct dfs_rec_info *info);

/* Bring P's set's listing up to date unless it is younger than cache_ttl:
 * by a delta when the table is tracked, else by listing it whole. */
int dfs_content_list(struct dfs_fs *fs, struct dfs_path *p);

/* Make the listing of S out of date: the next access refreshes it; FULL
 * forgets the delta link too, so that refresh lists the set whole. */
void dfs_content_expire(struct dfs_set *s, int full);

#endif
