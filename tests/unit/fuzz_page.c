/* fuzz_page.c - libFuzzer target for collection pages as they arrive: the
 * splitter (fs/jsonsplit.c) with arbitrary chunking, each element parsed as
 * the collection parses it (dfs_json_parse), and the links of a page
 * checked as fs/collection.c checks them (dfs_url_same_origin).
 *
 * The input's first byte seeds the chunk sizes; the rest is the body of a
 * page.  Properties:
 * - the split does not depend on how the bytes arrive: fed whole, fed in
 *   pieces of 1 to 64 bytes, or fed partly, reset (a retried request) and
 *   fed again, it hands over the same elements and members and ends the
 *   same way;
 * - every element is NUL-terminated at its length;
 * - a link is on the tenant's origin only if both parse as URLs, the
 *   answer is the same both ways round, and a URL is on its own origin.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "buf.h"
#include "collection.h"
#include "json.h"
#include "jsonsplit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

#define API "https://org.crm.dynamics.com/api/data/v9.2/"
#define ELEMENT_MAX 4096

/* What a split handed over, in order. */
struct seen {
	struct dfs_buf log;
	int check;               /* parse the elements and check the links */
};

static void check_link(const char *json, size_t len)
{
	cJSON *v = cJSON_ParseWithLength(json, len);
	const char *link = cJSON_GetStringValue(v);

	if (link) {
		int same = dfs_url_same_origin(API, link);

		if (same != dfs_url_same_origin(link, API))
			FAIL("same origin is not symmetric for %s", link);
		if (same && !dfs_url_same_origin(link, link))
			FAIL("%s is not on its own origin", link);
	}
	cJSON_Delete(v);
}

static int on_item(void *ctx, const char *json, size_t len)
{
	struct seen *s = ctx;
	char err[160];
	cJSON *item;

	if (json[len] != '\0')
		FAIL("element not NUL-terminated at its length");
	if (s->check && (item = dfs_json_parse(json, len, err, sizeof(err))))
		cJSON_Delete(item);
	dfs_buf_appendf(&s->log, "I%zu:", len);
	dfs_buf_append(&s->log, json, len);
	return 0;
}

static int on_member(void *ctx, const char *key, const char *json, size_t len)
{
	struct seen *s = ctx;

	if (s->check && (strcmp(key, "@odata.nextLink") == 0 ||
			 strcmp(key, "@odata.deltaLink") == 0))
		check_link(json, len);
	dfs_buf_appendf(&s->log, "M%zu:%s=%zu:", strlen(key), key, len);
	dfs_buf_append(&s->log, json, len);
	return 0;
}

/* The next chunk size, 1..64, from xorshift state *X. */
static size_t chunk(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return 1 + *x % 64;
}

/*
 * Split TEXT: whole (SEED 0), or in pieces; with RESTART, first feed about
 * half of it, then start again as a retried request does.  Returns the
 * outcome (0, or the first error) and the log in *LOG (to free).
 */
static int split(const char *text, size_t n, uint32_t seed, int restart, int check, char **log)
{
	struct seen s = { .check = check };
	struct dfs_jsplit js;
	size_t off = 0, len;
	int ret = 0;

	dfs_buf_init(&s.log, 0);
	dfs_buf_append(&s.log, "", 0);
	dfs_jsplit_init(&js, ELEMENT_MAX, on_item, on_member, &s);
	if (restart) {
		dfs_jsplit_feed(&js, text, n / 2);
		dfs_jsplit_reset(&js);
		s.log.len = 0;
	}
	while (off < n && ret == 0) {
		len = seed ? chunk(&seed) : n;
		if (len > n - off)
			len = n - off;
		ret = dfs_jsplit_feed(&js, text + off, len);
		off += len;
	}
	if (ret == 0)
		ret = dfs_jsplit_finish(&js);
	dfs_jsplit_free(&js);
	dfs_buf_append(&s.log, "", 0);
	*log = s.log.data ? s.log.data : strdup("");
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data + 1;
	char *whole, *pieces, *retried;
	int r_whole, r_pieces, r_retried;
	uint32_t seed;

	if (size < 1)
		return 0;
	seed = 0x9e3779b9u ^ data[0];
	size--;
	r_whole = split(text, size, 0, 0, 1, &whole);
	r_pieces = split(text, size, seed, 0, 0, &pieces);
	r_retried = split(text, size, seed, 1, 0, &retried);
	if (r_whole != 0 && r_whole != -EIO && r_whole != -EFBIG && r_whole != -ENOMEM)
		FAIL("unexpected return %d", r_whole);
	if (r_whole != r_pieces || strcmp(whole, pieces) != 0)
		FAIL("in pieces the split differs: %d vs %d\n%s\n---\n%s", r_whole, r_pieces,
		     whole, pieces);
	if (r_whole != r_retried || strcmp(whole, retried) != 0)
		FAIL("after a reset the split differs: %d vs %d\n%s\n---\n%s", r_whole,
		     r_retried, whole, retried);
	free(whole);
	free(pieces);
	free(retried);
	return 0;
}
