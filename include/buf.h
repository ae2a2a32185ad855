/* buf.h - a growable byte buffer with a hard cap.
 *
 * Response bodies and rendered records live in these.  The cap turns a huge or
 * endless body into an error instead of an out-of-memory crash.
 */
#ifndef DFS_BUF_H
#define DFS_BUF_H

#include <stddef.h>

struct dfs_buf {
	char *data;   /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	size_t max;   /* 0 = no limit */
};

void dfs_buf_init(struct dfs_buf *b, size_t max);
/* Returns 0, or -ENOMEM / -EFBIG (cap exceeded). */
int dfs_buf_append(struct dfs_buf *b, const void *data, size_t len);
int dfs_buf_appendf(struct dfs_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Grow (zero-filled) or shrink to LEN bytes.  0, -ENOMEM or -EFBIG. */
int dfs_buf_resize(struct dfs_buf *b, size_t len);
/* Write LEN bytes at OFF, growing the buffer (a gap is zero-filled). */
int dfs_buf_write(struct dfs_buf *b, const void *data, size_t len, size_t off);
/* Hand the bytes to the caller (who frees them); the buffer is reset. */
char *dfs_buf_detach(struct dfs_buf *b, size_t *len);
void dfs_buf_free(struct dfs_buf *b);

#endif
