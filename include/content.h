/* content.h - what the files of a set folder hold: records from a listing
 * or a single GET, kept in the set's cache (cache.h).
 *
 * Listing a set asks for full records, so one listing fills the cache with
 * the content of every file in it: copying a set costs one request per 5000
 * records.  What came with a listing is served from it until the folder is
 * listed again (readdir once the listing is older than cache_ttl); a record
 * read on its own is revalidated with If-None-Match after cache_ttl (a 304
 * costs no body).
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

/* List P's set from the server unless the last listing is younger than
 * cache_ttl. */
int dfs_content_list(struct dfs_fs *fs, struct dfs_path *p);

#endif
