/* collection.c - one OData collection query, page by page, streamed (see
 * include/collection.h).
 *
 * Each page is one dfs_dv_stream() call whose body goes to sink(): the
 * splitter cuts it into elements, each is parsed (numbers kept verbatim,
 * json.h) and handed to the caller, and the links are kept for the end of
 * the page.  A failed attempt that is retried starts its body again, so the
 * elements of the earlier attempt are remembered by a hash of their text
 * and not handed over twice (a record that changed in between has other
 * text, and comes again as the update it is).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "collection.h"
#include "json.h"
#include "jsonsplit.h"
#include "log.h"
#include "util.h"

/* The largest element accepted: a record with a large attachment column. */
#define ITEM_MAX (2 * DFS_FILE_MAX)

/* Hashes of texts: elements handed over, links followed. */
struct hashes {
	uint64_t *v;
	size_t n, cap;
};

struct page {
	struct dfs_dv *dv;
	struct dfs_collection *c;
	struct dfs_jsplit js;
	char *next;              /* this page's @odata.nextLink */
	char *delta;             /* this page's @odata.deltaLink */
	struct hashes done;      /* elements handed over by this attempt at the page */
	struct hashes skip;      /* ... and by earlier attempts, sorted */
	size_t items;
	int failed;              /* a callback stopped the query (and said why) */
	unsigned number;
};

static uint64_t hash(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

static int hashes_add(struct hashes *h, uint64_t v)
{
	uint64_t *nv;

	if (h->n == h->cap) {
		nv = realloc(h->v, (h->cap ? h->cap * 2 : 256) * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		h->v = nv;
		h->cap = h->cap ? h->cap * 2 : 256;
	}
	h->v[h->n++] = v;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int hashes_has(const struct hashes *h, uint64_t v, int sorted)
{
	size_t i;

	if (sorted)
		return h->n && bsearch(&v, h->v, h->n, sizeof(v), cmp_u64) != NULL;
	for (i = 0; i < h->n; i++)
		if (h->v[i] == v)
			return 1;
	return 0;
}

static const char *tenant(const struct page *pg)
{
	return dfs_dv_tenant(pg->dv)->name;
}

static int on_item(void *ctx, const char *json, size_t len)
{
	struct page *pg = ctx;
	uint64_t h = hash(json, len);
	char errbuf[160];
	cJSON *item;
	int ret;

	if (hashes_has(&pg->skip, h, 1))
		return 0;       /* handed over before the retry */
	if (!(item = dfs_json_parse(json, len, errbuf, sizeof(errbuf)))) {
		dfs_err("%s: %s: page %u holds a record that is not JSON: %s", tenant(pg),
			pg->c->what, pg->number, errbuf);
		pg->failed = 1;
		return -EIO;
	}
	ret = pg->c->item(pg->c->ctx, item);
	cJSON_Delete(item);
	if (ret != 0) {
		pg->failed = 1;
		return ret;
	}
	pg->items++;
	return hashes_add(&pg->done, h);
}

/* A link member: its string, or NULL (not a string, or out of memory). */
static char *link_of(const char *json, size_t len)
{
	cJSON *v = cJSON_ParseWithLength(json, len);
	char *s = cJSON_IsString(v) ? strdup(v->valuestring) : NULL;

	cJSON_Delete(v);
	return s;
}

static int on_member(void *ctx, const char *key, const char *json, size_t len)
{
	struct page *pg = ctx;
	char **slot = strcmp(key, "@odata.nextLink") == 0 ? &pg->next
		    : strcmp(key, "@odata.deltaLink") == 0 ? &pg->delta : NULL;

	if (!slot)
		return 0;
	free(*slot);
	if (!(*slot = link_of(json, len))) {
		dfs_err("%s: %s: page %u: %s is not a string", tenant(pg), pg->c->what, pg->number,
			key);
		pg->failed = 1;
		return -EIO;
	}
	return 0;
}

/* The body of one attempt at the page, piece by piece (dfs_http_sink_fn). */
static int sink(void *ctx, const char *data, size_t len)
{
	struct page *pg = ctx;
	size_t i;
	int ret;

	if (!data) {
		/* A new attempt: what the last one handed over is not handed over again. */
		for (i = 0; i < pg->done.n; i++)
			if ((ret = hashes_add(&pg->skip, pg->done.v[i])) < 0)
				return ret;
		pg->done.n = 0;
		if (pg->skip.n)
			qsort(pg->skip.v, pg->skip.n, sizeof(*pg->skip.v), cmp_u64);
		free(pg->next);
		free(pg->delta);
		pg->next = pg->delta = NULL;
		dfs_jsplit_reset(&pg->js);
		return 0;
	}
	ret = dfs_jsplit_feed(&pg->js, data, len);
	if (ret == -EIO && !pg->failed)
		dfs_err("%s: %s: page %u is not an OData collection", tenant(pg), pg->c->what,
			pg->number);
	return ret;
}

/* "scheme://host:port" parts of URL, or -EINVAL when it has none. */
static int origin(const char *url, char **scheme, char **host, char **port)
{
	CURLU *u = curl_url();
	int ret = -EINVAL;

	*scheme = *host = *port = NULL;
	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		ret = 0;
	curl_url_cleanup(u);
	return ret;
}

int dfs_collection_same_origin(const struct dfs_dv *dv, const char *url)
{
	return dfs_url_same_origin(dfs_dv_api_url(dv), url);
}

int dfs_url_same_origin(const char *base, const char *url)
{
	char *s1 = NULL, *h1 = NULL, *p1 = NULL, *s2 = NULL, *h2 = NULL, *p2 = NULL;
	int same;

	same = origin(base, &s1, &h1, &p1) == 0 &&
	       origin(url, &s2, &h2, &p2) == 0 && strcasecmp(s1, s2) == 0 &&
	       strcasecmp(h1, h2) == 0 && strcmp(p1, p2) == 0;
	curl_free(s1), curl_free(h1), curl_free(p1);
	curl_free(s2), curl_free(h2), curl_free(p2);
	return same;
}

/* May the query go on to NEXT?  Logs why not. */
static int check_link(struct page *pg, struct hashes *seen, const char *next)
{
	char shown[120];
	uint64_t h = hash(next, strlen(next));

	if (!dfs_collection_same_origin(pg->dv, next)) {
		dfs_err("%s: %s: the server sent a link to another place (%s), stopping", tenant(pg),
			pg->c->what, dfs_printable(next, (size_t)-1, shown, sizeof(shown)));
		return -EIO;
	}
	/* A paging cookie that does not advance would loop for ever. */
	if (hashes_has(seen, h, 0)) {
		dfs_err("%s: %s: the server sent the same @odata.nextLink again, stopping",
			tenant(pg), pg->c->what);
		return -EIO;
	}
	return hashes_add(seen, h);
}

int dfs_collection_get(struct dfs_dv *dv, struct dfs_collection *c)
{
	char prefer[160];
	const char *hdrs[] = { prefer, NULL };
	struct page pg = { .dv = dv, .c = c };
	struct hashes seen = { 0 };
	struct dfs_http_resp resp;
	char *link = NULL;
	double t0;
	int ret;

	c->delta_link = NULL;
	c->dop_hint = -1;
	c->requests = 0;
	memset(&c->err, 0, sizeof(c->err));
	dfs_http_resp_init(&resp);
	dfs_jsplit_init(&pg.js, ITEM_MAX, on_item, on_member, &pg);
	snprintf(prefer, sizeof(prefer), "Prefer: %s", c->prefer ? c->prefer : "");
	if (!(link = strdup(c->path))) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (c->stop && __atomic_load_n(c->stop, __ATOMIC_RELAXED)) {
			ret = -ECANCELED;
			goto out;
		}
		pg.number++;
		pg.items = 0;
		pg.done.n = pg.skip.n = 0;
		c->requests++;
		t0 = dfs_now();
		ret = dfs_dv_stream(dv, link, c->prefer ? hdrs : NULL, sink, &pg, &resp);
		if (ret < 0) {
			c->err = resp.err;
			goto out;
		}
		if (dfs_jsplit_finish(&pg.js) < 0) {
			dfs_err("%s: %s: page %u ended before its end", tenant(&pg), c->what,
				pg.number);
			ret = -EIO;
			goto out;
		}
		/* An object without "value" ({} from a proxy, an error in a 200)
		 * would list as an empty set: one rsync --delete from it wipes a
		 * backup. */
		if (!pg.js.saw_value) {
			dfs_err("%s: %s: page %u has no \"value\" array: not an OData collection",
				tenant(&pg), c->what, pg.number);
			ret = -EIO;
			goto out;
		}
		dfs_debug("%s: %s: page %u: %zu item(s) in %.2f s", tenant(&pg), c->what,
			  pg.number, pg.items, dfs_now() - t0);
		if (pg.number == 1)
			c->dop_hint = resp.dop_hint;
		if (c->page && (ret = c->page(c->ctx, pg.items, !pg.next)) < 0)
			goto out;
		if (!pg.next)
			break;
		if ((ret = check_link(&pg, &seen, pg.next)) < 0)
			goto out;
		free(link);
		link = pg.next;
		pg.next = NULL;
	}
	if (pg.delta && !dfs_collection_same_origin(dv, pg.delta)) {
		dfs_err("%s: %s: the server sent a @odata.deltaLink to another place, ignored",
			tenant(&pg), c->what);
		free(pg.delta);
		pg.delta = NULL;
	}
	c->delta_link = pg.delta;
	pg.delta = NULL;
	ret = 0;
out:
	free(link);
	free(pg.next);
	free(pg.delta);
	free(pg.done.v);
	free(pg.skip.v);
	free(seen.v);
	dfs_jsplit_free(&pg.js);
	dfs_http_resp_free(&resp);
	return ret;
}

void dfs_collection_done(struct dfs_collection *c)
{
	free(c->delta_link);
	c->delta_link = NULL;
}
