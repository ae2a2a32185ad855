/* jsonsplit.c - split a collection page into records as it arrives (see
 * include/jsonsplit.h).
 *
 * A byte-at-a-time state machine over the top-level object.  A value being
 * captured is scanned only for the end of its strings and brackets, and is
 * copied a whole chunk at a time, so a 20 MB page costs one pass.
 */
#include <errno.h>
#include <string.h>

#include "jsonsplit.h"

#define KEY_MAX 1024

enum {
	S_START,                 /* before the top-level '{' */
	S_KEY,                   /* before a member's key (or the closing '}') */
	S_KEY_STR,               /* inside the key */
	S_COLON,
	S_VALUE,                 /* before a member's value */
	S_AFTER,                 /* after a member: ',' or '}' */
	S_ARRAY,                 /* inside "value", before an element (or ']') */
	S_ARRAY_NEXT,            /* after an element: ',' or ']' */
	S_CAPTURE,               /* inside a value being captured */
	S_DONE,                  /* after the top-level '}' */
};

static void clear(struct dfs_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void dfs_jsplit_init(struct dfs_jsplit *js, size_t max, dfs_jsplit_item_fn *item,
		     dfs_jsplit_member_fn *member, void *ctx)
{
	memset(js, 0, sizeof(*js));
	js->item = item;
	js->member = member;
	js->ctx = ctx;
	dfs_buf_init(&js->key, KEY_MAX);
	dfs_buf_init(&js->val, max);
}

void dfs_jsplit_reset(struct dfs_jsplit *js)
{
	js->state = S_START;
	js->depth = js->in_str = js->esc = js->scalar = js->saw_value = 0;
	clear(&js->key);
	clear(&js->val);
}

void dfs_jsplit_free(struct dfs_jsplit *js)
{
	dfs_buf_free(&js->key);
	dfs_buf_free(&js->val);
}

int dfs_jsplit_finish(const struct dfs_jsplit *js)
{
	return js->state == S_DONE ? 0 : -EIO;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The first byte C of a value: what kind it is decides how it ends. */
static int capture_begin(struct dfs_jsplit *js, char c, int after)
{
	clear(&js->val);
	js->in_str = c == '"';
	js->depth = c == '{' || c == '[';
	js->scalar = !js->in_str && !js->depth;
	js->esc = 0;
	/* Numbers, true, false and null; anything else cannot start a value. */
	if (js->scalar && !strchr("-0123456789tfn", c))
		return -EIO;
	js->after = after;
	js->state = S_CAPTURE;
	return dfs_buf_append(&js->val, &c, 1);
}

static int emit(struct dfs_jsplit *js)
{
	int ret;

	js->state = js->after;
	if (js->after == S_ARRAY_NEXT)
		ret = js->item(js->ctx, js->val.data, js->val.len);
	else
		ret = js->member(js->ctx, js->key.data ? js->key.data : "", js->val.data,
				 js->val.len);
	clear(&js->val);
	return ret;
}

/*
 * Scan P[0..N) for the end of the value being captured.  *USED: the bytes
 * taken; a scalar's terminator is not taken (the caller reads it next).
 */
static int capture(struct dfs_jsplit *js, const char *p, size_t n, size_t *used)
{
	size_t i;
	int ret, end = 0;

	for (i = 0; i < n && !end; i++) {
		char c = p[i];

		if (js->scalar) {
			if (c == ',' || c == '}' || c == ']' || is_space(c)) {
				i--;    /* not ours */
				end = 1;
			}
		} else if (js->in_str) {
			if (js->esc)
				js->esc = 0;
			else if (c == '\\')
				js->esc = 1;
			else if (c == '"') {
				js->in_str = 0;
				end = js->depth == 0;
			}
		} else if (c == '"') {
			js->in_str = 1;
		} else if (c == '{' || c == '[') {
			js->depth++;
		} else if (c == '}' || c == ']') {
			end = --js->depth == 0;
		}
	}
	*used = i;
	if ((ret = dfs_buf_append(&js->val, p, i)) < 0)
		return ret;
	return end ? emit(js) : 0;
}

/* Go on to STATE if OK, else the text is not a collection page. */
static int go(struct dfs_jsplit *js, int ok, int state)
{
	if (!ok)
		return -EIO;
	js->state = state;
	return 0;
}

/* Read one byte C outside a captured value. */
static int structure(struct dfs_jsplit *js, char c)
{
	if (js->state == S_KEY_STR) {
		if (js->esc)
			js->esc = 0;
		else if (c == '\\')
			js->esc = 1;
		else if (c == '"') {
			js->state = S_COLON;
			return 0;
		}
		return dfs_buf_append(&js->key, &c, 1);
	}
	if (is_space(c))
		return 0;
	switch (js->state) {
	case S_START:
		return go(js, c == '{', S_KEY);
	case S_KEY:
		if (c == '}')
			return go(js, 1, S_DONE);
		clear(&js->key);
		js->esc = 0;
		return go(js, c == '"', S_KEY_STR);
	case S_COLON:
		return go(js, c == ':', S_VALUE);
	case S_VALUE:
		if (c == '[' && js->key.data && strcmp(js->key.data, "value") == 0) {
			js->saw_value = 1;
			return go(js, 1, S_ARRAY);
		}
		return capture_begin(js, c, S_AFTER);
	case S_AFTER:
		return go(js, c == ',' || c == '}', c == ',' ? S_KEY : S_DONE);
	case S_ARRAY:
		if (c == ']')
			return go(js, 1, S_AFTER);
		return capture_begin(js, c, S_ARRAY_NEXT);
	case S_ARRAY_NEXT:
		return go(js, c == ',' || c == ']', c == ',' ? S_ARRAY : S_AFTER);
	default:                 /* S_DONE: only blanks may follow */
		return -EIO;
	}
}

int dfs_jsplit_feed(struct dfs_jsplit *js, const char *data, size_t len)
{
	size_t i = 0, used;
	int ret;

	while (i < len) {
		if (js->state == S_CAPTURE) {
			if ((ret = capture(js, data + i, len - i, &used)) != 0)
				return ret;
			i += used;
			continue;
		}
		if ((ret = structure(js, data[i++])) != 0)
			return ret;
	}
	return 0;
}
