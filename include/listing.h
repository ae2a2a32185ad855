/* listing.h - list an entity set at the speed of the API, and keep that
 * listing current through Dataverse change tracking.
 *
 * The Dataverse layer: no FUSE, no cache.  Records go to callbacks, which
 * may be called from several threads at once.
 *
 * A full listing reads the ids first (a narrow listing, tracked when the
 * table has change tracking, which also gives the link for later deltas),
 * then the full records in P disjoint ranges of ids read in parallel, cut
 * where the ids actually are.  P is the smallest of the server's
 * x-ms-dop-hint (4 without one), the tenant's max_connections and the
 * number of pages the set fills.  Every record the content brings is handed
 * over exactly once: one created meanwhile is kept; one the narrow listing
 * had that no range brings was deleted meanwhile.  Changes made after the
 * narrow listing began are in the next delta.
 *
 * A delta reads what changed since a delta link: deletions are handed over
 * as such, and the content of the changed records is read with few
 * requests, up to 500 ids each.
 */
#ifndef DFS_LISTING_H
#define DFS_LISTING_H

#include <cjson/cJSON.h>

#include "dataverse.h"

struct dfs_listing_cb {
	/* A record of the set; ID is its primary key in lower case.  0 or a
	 * negative errno that stops the listing. */
	int (*record)(void *ctx, const char *id, const cJSON *rec);
	/* Record ID is gone from the server (deltas only). */
	int (*deleted)(void *ctx, const char *id);
	void *ctx;
};

struct dfs_listing_stats {
	size_t records;          /* handed to cb->record */
	size_t deleted;          /* handed to cb->deleted */
	unsigned requests;       /* Web API requests, retries not counted */
	unsigned parallel;       /* content read by this many requests at once */
};

/*
 * List ENT whole.  *DELTA_LINK: the link for dfs_listing_delta (malloc'd),
 * or NULL when the table has no change tracking.  0 or a negative errno;
 * on failure some records may have been handed over.
 */
int dfs_listing_full(struct dfs_dv *dv, const struct dfs_entity *ent,
		     const struct dfs_listing_cb *cb, char **delta_link,
		     struct dfs_listing_stats *st);

/*
 * Bring a listing up to date from DELTA_LINK; *NEW_LINK is the next one
 * (malloc'd; NULL if the server sent none).  -ESTALE when the server no
 * longer knows the link (an expired token): list the set whole instead.
 */
int dfs_listing_delta(struct dfs_dv *dv, const struct dfs_entity *ent, const char *delta_link,
		      const struct dfs_listing_cb *cb, char **new_link,
		      struct dfs_listing_stats *st);

#endif
