/* buf.c - a growable byte buffer with a hard cap.
 *
 * The buffer doubles its allocation as it grows, so appending N bytes in any
 * number of pieces costs O(N).  One byte beyond len is always reserved for the
 * terminating NUL, which lets callers hand b->data to string functions
 * without a copy.  b->max bounds len, not the allocation.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "banned.h"

/* First allocation; small enough for an error message, big enough that a
 * typical record needs only a handful of doublings. */
#define BUF_MIN_ALLOC 256

void dfs_buf_init(struct dfs_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

/* Make room for EXTRA more bytes plus the NUL. */
static int buf_reserve(struct dfs_buf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (extra > SIZE_MAX - 1 - b->len)
		return -ENOMEM;
	need = b->len + extra;
	if (b->max && need > b->max)
		return -EFBIG;
	if (need < b->cap)	/* cap counts the NUL slot too */
		return 0;

	ncap = b->cap ? b->cap : BUF_MIN_ALLOC;
	while (ncap <= need) {
		if (ncap > SIZE_MAX / 2) {
			ncap = need + 1;
			break;
		}
		ncap *= 2;
	}
	/* Doubling past the cap would only waste memory we may never use. */
	if (b->max && b->max < SIZE_MAX && ncap > b->max + 1)
		ncap = b->max + 1;

	p = realloc(b->data, ncap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int dfs_buf_append(struct dfs_buf *b, const void *data, size_t len)
{
	int ret;

	if (len == 0)
		return 0;
	ret = buf_reserve(b, len);
	if (ret < 0)
		return ret;
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int dfs_buf_appendf(struct dfs_buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n, ret;

	/* First try whatever room is left; most calls fit. */
	room = b->cap > b->len ? b->cap - b->len : 0;
	va_start(ap, fmt);
	n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < room) {
		if (b->max && b->len + (size_t)n > b->max) {
			/* Undo: the bytes were written past len, so only the
			 * terminator needs restoring. */
			b->data[b->len] = '\0';
			return -EFBIG;
		}
		b->len += (size_t)n;
		return 0;
	}
	if (b->data)
		b->data[b->len] = '\0';	/* vsnprintf may have written a partial result */

	ret = buf_reserve(b, (size_t)n);
	if (ret < 0)
		return ret;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int dfs_buf_resize(struct dfs_buf *b, size_t len)
{
	int ret;

	if (len > b->len) {
		if ((ret = buf_reserve(b, len - b->len)) < 0)
			return ret;
		memset(b->data + b->len, 0, len - b->len);
	} else if (len == b->len) {
		return 0;
	}
	b->len = len;
	b->data[len] = '\0';
	return 0;
}

int dfs_buf_write(struct dfs_buf *b, const void *data, size_t len, size_t off)
{
	int ret;

	if (off > SIZE_MAX - len)
		return -EFBIG;
	if (off + len > b->len && (ret = dfs_buf_resize(b, off + len)) < 0)
		return ret;
	if (len)
		memcpy(b->data + off, data, len);
	return 0;
}

char *dfs_buf_detach(struct dfs_buf *b, size_t *len)
{
	char *p = b->data;

	/* An empty buffer still yields a string, so NULL always means ENOMEM. */
	if (!p) {
		p = malloc(1);
		if (!p)
			return NULL;
		p[0] = '\0';
	}
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

void dfs_buf_free(struct dfs_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}
