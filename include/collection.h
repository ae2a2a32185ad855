/* collection.h - read one OData collection query: GET it page after page
 * along @odata.nextLink, each record parsed on its own as the bytes arrive.
 *
 * The Dataverse layer below the listings (listing.h): it knows paging and
 * links, not what the records are for.  A page is never held whole: its
 * body is split record by record while it downloads (jsonsplit.h), so a
 * page of 5000 full records costs one record's parse tree at a time.
 *
 * Links are followed only to the tenant's own scheme, host and port, and a
 * link seen before in the same query stops it (EIO), as a paging cookie
 * that does not advance would loop for ever.  A page that fails half-way
 * and is sent again does not hand over its records twice.
 */
#ifndef DFS_COLLECTION_H
#define DFS_COLLECTION_H

#include <cjson/cJSON.h>

#include "dataverse.h"

/* One element of a page's "value": 0 to go on, or a negative errno that stops the query. */
typedef int dfs_collection_item_fn(void *ctx, const cJSON *item);

struct dfs_collection {
	/* what to read */
	const char *path;        /* the first page: relative to the API root, or an absolute
				    URL of the tenant (a deltaLink) */
	const char *prefer;      /* the Prefer header's value, or NULL */
	const char *what;        /* for log lines: the entity set */
	dfs_collection_item_fn *item;
	/* After each page, or NULL: ITEMS it held, LAST: no page follows.
	 * 0, or a negative errno that stops the query. */
	int (*page)(void *ctx, size_t items, int last);
	void *ctx;
	const int *stop;         /* read before each page: non-zero stops (-ECANCELED), or NULL */
	/* what came back */
	char *delta_link;        /* the last page's @odata.deltaLink (malloc'd), or NULL */
	int dop_hint;            /* x-ms-dop-hint of the first answer, -1 if none */
	unsigned requests;       /* pages asked for, retries not counted */
	struct dfs_http_error err; /* why the failing request failed */
};

/*
 * Read C->path to its last page.  Returns 0, the item callback's error,
 * -ECANCELED, -EIO (a page that is not an OData collection, a link
 * to another host, a link seen before; each logged), or the errno of a
 * failed request (dfs_dv_request; C->err says why).
 */
int dfs_collection_get(struct dfs_dv *dv, struct dfs_collection *c);
/* Free what dfs_collection_get returned. */
void dfs_collection_done(struct dfs_collection *c);

/* Is URL on the scheme, host and port of the tenant's API root? */
int dfs_collection_same_origin(const struct dfs_dv *dv, const char *url);
/* Is URL on the scheme, host and port of BASE?  (0 when either is no URL.) */
int dfs_url_same_origin(const char *base, const char *url);

#endif
