/* jsonsplit.h - the JSON text of an OData collection page, split into its
 * parts as the bytes arrive.
 *
 * A page is one object: {"@odata.context": ..., "value": [ {...}, ... ],
 * "@odata.nextLink": ...}.  The splitter hands over each element of the
 * top-level "value" array, and every other top-level member, as the text
 * of one JSON value, so only one record is held at a time: a page of 5000
 * full records never needs its whole text, nor a parse tree of it.  Only
 * the structure is checked here; whoever parses an element checks the rest.
 */
#ifndef DFS_JSONSPLIT_H
#define DFS_JSONSPLIT_H

#include <stddef.h>

#include "buf.h"

/* An element of "value": the JSON text of one value (NUL-terminated). */
typedef int dfs_jsplit_item_fn(void *ctx, const char *json, size_t len);
/* Another top-level member: KEY as written (escapes kept), and the text of its value. */
typedef int dfs_jsplit_member_fn(void *ctx, const char *key, const char *json, size_t len);

struct dfs_jsplit {
	dfs_jsplit_item_fn *item;
	dfs_jsplit_member_fn *member;
	void *ctx;
	int saw_value;           /* the top-level "value" array was met: a collection */
	/* private */
	int state;
	int after;               /* the state a captured value returns to */
	int depth;               /* nesting inside the value being captured */
	int in_str, esc, scalar;
	struct dfs_buf key;
	struct dfs_buf val;
};

/* Elements and member values longer than MAX bytes are refused (-EFBIG). */
void dfs_jsplit_init(struct dfs_jsplit *js, size_t max, dfs_jsplit_item_fn *item,
		     dfs_jsplit_member_fn *member, void *ctx);
/* Start again with a new text (a retried request). */
void dfs_jsplit_reset(struct dfs_jsplit *js);
/*
 * The next LEN bytes of the text.  The callbacks run from here; one that
 * returns non-zero stops the split and that value is returned.  Otherwise 0,
 * -EIO when the text is not an object of the shape above, -EFBIG, -ENOMEM.
 */
int dfs_jsplit_feed(struct dfs_jsplit *js, const char *data, size_t len);
/* The text is over: 0 if it held one whole object, else -EIO. */
int dfs_jsplit_finish(const struct dfs_jsplit *js);
void dfs_jsplit_free(struct dfs_jsplit *js);

#endif
