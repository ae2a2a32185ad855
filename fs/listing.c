/* listing.c - full listings in parallel ranges of ids, and deltas (see
 * include/listing.h).
 *
 * Both end in a queue of queries that P reader threads work through
 * (readers.h): a full listing's are ranges of ids, a delta's batches of
 * changed ids.
 *
 * Ranges are cut from the ids of the narrow listing, which must be read
 * first: its first page fixes the version the delta link will start from,
 * so every change the content reads miss comes in the next delta.  The
 * ranges must follow the order the server compares ids in, or records
 * would be listed twice and others lost.  Microsoft's documentation implies
 * SQL Server's uniqueidentifier order (dfs_guid_cmp_sql), and the narrow
 * listing comes in that order, but one small request asks the server to
 * sort a few ids and its answer decides:
 *
 * - SQL Server's order: the narrow listing goes on in this thread while its
 *   ids are cut, a page's worth of records at a time, into ranges the
 *   readers take at once ("pipelined": the records arrive while the ids
 *   still do, each range is one request, and the readers share the work
 *   evenly however the ids are spread);
 * - the written order: once all ids are in, they are sorted that way and
 *   cut into P ranges;
 * - anything else: one serial read.
 *
 * A set that fits in one narrow page is cut into P ranges without waiting.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonmember.h"
#include "listing.h"
#include "log.h"
#include "readers.h"

#define NARROW_PAGE 5000         /* ids and versions are ~100 bytes a row: the largest page */
#define ORDER_SAMPLE 8           /* ids the server is asked to sort */
#define BATCH_IDS 500            /* ids per content request of a delta */
#define URL_MAX 32000            /* a GET URL that servers (and $batch) accept */

/* ---- the server's order ------------------------------------------------- */

/*
 * How does the server compare ids?  It sorts the N ids B (sorted by
 * dfs_guid_cmp_sql) and the order of its answer tells.  *CMP: the order to
 * cut ranges in, or NULL when it is none that dynfs knows; with PROOF, SQL
 * Server's order only when the answer could be no other.  0 or -errno.
 */
static int server_order(struct dfs_readers *r, const uint8_t (*b)[16], size_t n, int proof,
			dfs_id_cmp_fn **cmp)
{
	const char *pk = r->ent->primary_id;
	struct dfs_ids got = { 0 };
	struct dfs_id_sink sink = { r->ent, &got, r->tenant };
	struct dfs_collection c = { .what = r->ent->set_name, .item = dfs_id_sink_item, .ctx = &sink };
	const uint8_t (*v)[16];
	struct dfs_buf path;
	char prefer[48];
	int ret, sql, text;
	size_t i;

	*cmp = NULL;
	dfs_buf_init(&path, 0);
	ret = dfs_buf_appendf(&path, "%s?$select=%s&$orderby=%s&$filter=", r->ent->set_name, pk,
			      pk);
	for (i = 0; i < n && ret == 0; i++)
		if ((ret = i ? dfs_buf_appendf(&path, "%%20or%%20") : 0) == 0)
			ret = dfs_filter_term(&path, pk, "eq", b[i]);
	if (ret < 0)
		goto out;
	snprintf(prefer, sizeof(prefer), "odata.maxpagesize=%zu", n);
	c.path = path.data;
	c.prefer = prefer;
	ret = dfs_collection_get(r->dv, &c);
	dfs_readers_count(r, c.requests);
	dfs_collection_done(&c);
	if (ret < 0)
		goto out;
	/* Ids deleted meanwhile are missing from the answer; with fewer than
	 * two, or an answer sorted both ways, only ids in order both ways are
	 * safe as boundaries. */
	v = (const uint8_t (*)[16])got.v;
	sql = dfs_ids_sorted(v, got.n, dfs_guid_cmp_sql);
	text = dfs_ids_sorted(v, got.n, dfs_id_cmp_text);
	if (sql && (!text || (!proof && dfs_ids_sorted(b, n, dfs_id_cmp_text))))
		*cmp = dfs_guid_cmp_sql;
	else if (text && !sql)
		*cmp = dfs_id_cmp_text;
out:
	free(got.v);
	dfs_buf_free(&path);
	return ret;
}

/* ---- full listings: P ranges of ids known ------------------------------- */

/* The jobs of P ranges of IDS (sorted by SQL Server's order); CMP: the
 * server's order if known, else NULL to ask.  Returns P or -errno. */
static int plan_ranges(struct dfs_readers *r, struct dfs_ids *ids, unsigned p, dfs_id_cmp_fn *cmp)
{
	uint8_t (*b)[16] = NULL;
	const char *pk = r->ent->primary_id;
	struct dfs_buf path;
	unsigned i;
	int ret = -ENOMEM;

	dfs_buf_init(&path, 0);
	if (p > 1 && !(b = calloc(p, sizeof(*b))))
		goto out;
	for (i = 1; i < p; i++)
		memcpy(b[i], ids->v[i * ids->n / p], 16);
	if (p > 1 && !cmp &&
	    (ret = server_order(r, (const uint8_t (*)[16])b + 1, p - 1, 0, &cmp)) < 0)
		goto out;
	if (p > 1 && cmp != dfs_guid_cmp_sql) {
		if (cmp) {
			dfs_ids_sort(ids, cmp);
			for (i = 1; i < p; i++)
				memcpy(b[i], ids->v[i * ids->n / p], 16);
		} else {
			dfs_info("%s: %s: the server orders ids in a way dynfs does not know:"
				 " reading serially", r->tenant, r->ent->set_name);
			p = 1;
		}
	}
	/* [lowest, b1) [b1, b2) ... [b(p-1), highest]: open at both ends, so a
	 * record created meanwhile falls in one range whatever its id. */
	ret = -ENOMEM;
	for (i = 0; i < p; i++) {
		path.len = 0;
		if (dfs_buf_appendf(&path, "%s", r->ent->set_name) < 0)
			goto out;
		if (p > 1 && (dfs_buf_appendf(&path, "?$orderby=%s&$filter=", pk) < 0 ||
			      (i > 0 && dfs_filter_term(&path, pk, "ge", b[i]) < 0) ||
			      (i > 0 && i + 1 < p && dfs_buf_appendf(&path, "%%20and%%20") < 0) ||
			      (i + 1 < p && dfs_filter_term(&path, pk, "lt", b[i + 1]) < 0)))
			goto out;
		if (dfs_readers_add(r, &path) < 0)
			goto out;
	}
	ret = (int)p;
out:
	free(b);
	dfs_buf_free(&path);
	return ret;
}

/* ---- full listings: ranges cut while the ids arrive --------------------- */

/* The narrow listing of a full one. */
struct narrow {
	struct dfs_readers *r;
	struct dfs_collection c;
	struct dfs_ids ids;
	struct dfs_id_sink sink;
	unsigned page_size;
	dfs_id_cmp_fn *order;        /* the server's order, once asked */
	int pipelined;           /* ranges are cut as the ids arrive */
	size_t cut;              /* ids before this one are in queued ranges */
	uint8_t bound[16];       /* the upper end of the last range */
	int bounded;
};

/* Queue the range after the last one, up to and with TOP (NULL: no end). */
static int add_range(struct narrow *nw, const uint8_t *top)
{
	const char *pk = nw->r->ent->primary_id;
	struct dfs_buf path;
	int ret;

	dfs_buf_init(&path, 0);
	ret = dfs_buf_appendf(&path, "%s?$orderby=%s", nw->r->ent->set_name, pk);
	if (ret == 0 && (nw->bounded || top))
		ret = dfs_buf_appendf(&path, "&$filter=");
	if (ret == 0 && nw->bounded)
		ret = dfs_filter_term(&path, pk, "gt", nw->bound);
	if (ret == 0 && nw->bounded && top)
		ret = dfs_buf_appendf(&path, "%%20and%%20");
	if (ret == 0 && top)
		ret = dfs_filter_term(&path, pk, "le", top);
	if (ret == 0)
		ret = dfs_readers_add(nw->r, &path);
	dfs_buf_free(&path);
	if (ret == 0 && top) {
		memcpy(nw->bound, top, 16);
		nw->bounded = 1;
	}
	return ret;
}

/* Queue a range for each page's worth of ids that arrived.  A boundary must
 * be above the last one: an id out of order waits for a later one. */
static int cut_ranges(struct narrow *nw)
{
	size_t i;
	int ret;

	while (nw->ids.n - nw->cut >= nw->page_size) {
		for (i = nw->cut + nw->page_size - 1; i < nw->ids.n; i++)
			if (!nw->bounded || dfs_guid_cmp_sql(nw->ids.v[i], nw->bound) > 0)
				break;
		if (i == nw->ids.n)
			return 0;
		if ((ret = add_range(nw, nw->ids.v[i])) < 0)
			return ret;
		nw->cut = i + 1;
	}
	return 0;
}

/*
 * After the first page of a set bigger than a page: if the server orders
 * ids as SQL Server does (the narrow listing's order), the readers start
 * now, on ranges cut as the rest of the ids arrive.
 */
static int start_pipeline(struct narrow *nw)
{
	struct dfs_readers *r = nw->r;
	uint8_t sample[ORDER_SAMPLE][16];
	struct dfs_ids first = nw->ids;
	size_t i, n;
	int ret;

	dfs_ids_sort(&first, dfs_guid_cmp_sql);     /* a page is one range of the order */
	nw->ids.n = first.n;
	n = first.n < ORDER_SAMPLE ? first.n : ORDER_SAMPLE;
	for (i = 0; i < n; i++)
		memcpy(sample[i], first.v[i * first.n / n], 16);
	if ((ret = server_order(r, (const uint8_t (*)[16])sample, n, 1, &nw->order)) < 0)
		return ret;
	if (nw->order != dfs_guid_cmp_sql)
		return 0;
	nw->pipelined = 1;
	dfs_readers_start(r, dfs_readers_parallelism(r, nw->c.dop_hint, DFS_READERS_MAX) - 1);
	return cut_ranges(nw);
}

/* The narrow listing's items are rows of ids, read by dfs_id_sink_item through SINK. */
static int on_narrow_item(void *ctx, const cJSON *rec)
{
	struct narrow *nw = ctx;

	return dfs_id_sink_item(&nw->sink, rec);
}

static int on_narrow_page(void *ctx, size_t items, int last)
{
	struct narrow *nw = ctx;

	pthread_mutex_lock(&nw->r->lock);
	nw->r->ids = nw->ids.n;
	pthread_mutex_unlock(&nw->r->lock);
	dfs_readers_page(nw->r, items, last);
	if (nw->pipelined)
		return cut_ranges(nw);
	if (nw->c.requests == 1 && !last && nw->ids.n > 1)
		return start_pipeline(nw);
	return 0;
}

/* The narrow listing, and the ranges of the content. */
static int narrow_listing(struct dfs_readers *r, struct narrow *nw, char **delta_link)
{
	const struct dfs_entity *ent = r->ent;
	char path[256], prefer[96];
	unsigned p;
	int ret;

	nw->r = r;
	nw->page_size = dfs_dv_config(r->dv)->page_size;
	nw->sink.ent = ent;
	nw->sink.ids = &nw->ids;
	nw->sink.tenant = r->tenant;
	snprintf(path, sizeof(path), "%s?$select=%s%s", ent->set_name, ent->primary_id,
		 ent->change_tracking ? ",versionnumber" : "");
	snprintf(prefer, sizeof(prefer), "%sodata.maxpagesize=%d",
		 ent->change_tracking ? "odata.track-changes," : "", NARROW_PAGE);
	nw->c = (struct dfs_collection){
		.path = path, .prefer = prefer, .what = ent->set_name, .item = on_narrow_item,
		.page = on_narrow_page, .ctx = nw, .stop = &r->stop,
	};
	ret = dfs_collection_get(r->dv, &nw->c);
	dfs_readers_count(r, nw->c.requests);
	*delta_link = nw->c.delta_link;
	nw->c.delta_link = NULL;
	if (ret < 0)
		return ret;
	if (nw->pipelined)
		return add_range(nw, NULL);
	/* Not pipelined: cut P ranges now that every id is in.  Nothing
	 * there: a record created since is in the next delta, or the next
	 * listing when the table is not tracked. */
	dfs_ids_sort(&nw->ids, dfs_guid_cmp_sql);
	if (nw->ids.n == 0)
		return 0;
	p = dfs_readers_parallelism(r, nw->c.dop_hint, (nw->ids.n + nw->page_size - 1) / nw->page_size);
	if ((ret = plan_ranges(r, &nw->ids, p, nw->order)) < 0)
		return ret;
	dfs_readers_start(r, (unsigned)ret - 1);
	return 0;
}

int dfs_listing_full(struct dfs_dv *dv, const struct dfs_entity *ent,
		     const struct dfs_listing_cb *cb, char **delta_link,
		     struct dfs_listing_stats *st)
{
	struct narrow nw = { 0 };
	double t0 = dfs_now();
	struct dfs_readers r;
	int ret;

	*delta_link = NULL;
	dfs_readers_init(&r, dv, ent, cb, st);
	if (asprintf(&r.prefer, "odata.maxpagesize=%u", dfs_dv_config(dv)->page_size) < 0) {
		r.prefer = NULL;
		ret = -ENOMEM;
		goto out;
	}
	if ((ret = narrow_listing(&r, &nw, delta_link)) < 0)
		dfs_readers_fail(&r, ret);
	free(nw.ids.v);
	nw.ids.v = NULL;        /* the content may take long: give the memory back */
	if ((ret = dfs_readers_finish(&r)) < 0)
		goto out;
	dfs_info("%s: %s: listed %zu record(s) in %.1f s: %u request(s), %u at a time",
		 r.tenant, ent->set_name, st->records, dfs_now() - t0, st->requests,
		 st->parallel ? st->parallel : 1);
out:
	if (ret < 0) {
		free(*delta_link);
		*delta_link = NULL;
	}
	dfs_readers_free(&r);
	return ret;
}

/* ---- deltas ------------------------------------------------------------- */

static int is_deletion(const cJSON *item)
{
	const char *ctx = dfs_cjson_str(item, "@odata.context");
	const char *reason = dfs_cjson_str(item, "reason");

	return (ctx && strstr(ctx, "$deletedEntity")) || (reason && strcmp(reason, "deleted") == 0);
}

struct delta {
	struct dfs_readers *r;
	struct dfs_ids changed;
};

static int on_change(void *ctx, const cJSON *item)
{
	struct delta *d = ctx;
	struct dfs_readers *r = d->r;
	char id[DFS_GUID_LEN + 1];
	const char *s;
	int ret;

	if (!is_deletion(item))
		return dfs_record_id(r->ent, item, id) < 0 ? 0 : dfs_ids_add(&d->changed, id);
	s = dfs_cjson_str(item, "id");
	if (!s || dfs_guid_parse(s, strlen(s), 0, id) < 0)
		return 0;
	if ((ret = r->cb->deleted(r->cb->ctx, id)) < 0)
		return ret;
	r->st->deleted++;
	return 0;
}

/* The jobs of a delta: the changed ids, up to BATCH_IDS (and URL_MAX) a request. */
static int plan_batches(struct dfs_readers *r, const struct dfs_ids *ids)
{
	const char *pk = r->ent->primary_id;
	size_t i = 0, in_batch = 0, head = 0;
	struct dfs_buf path;
	int ret = 0;

	dfs_buf_init(&path, 0);
	while (i < ids->n && ret == 0) {
		if (in_batch == 0) {
			path.len = 0;
			ret = dfs_buf_appendf(&path, "%s?$filter=", r->ent->set_name);
			head = path.len;
		}
		if (ret == 0 && in_batch)
			ret = dfs_buf_appendf(&path, "%%20or%%20");
		if (ret == 0)
			ret = dfs_filter_term(&path, pk, "eq", ids->v[i++]);
		in_batch++;
		if (ret == 0 && (in_batch == BATCH_IDS || i == ids->n ||
				 path.len + (path.len - head) / in_batch + 8 > URL_MAX)) {
			ret = dfs_readers_add(r, &path);
			in_batch = 0;
		}
	}
	dfs_buf_free(&path);
	return ret;
}

int dfs_listing_delta(struct dfs_dv *dv, const struct dfs_entity *ent, const char *delta_link,
		      const struct dfs_listing_cb *cb, char **new_link,
		      struct dfs_listing_stats *st)
{
	struct dfs_collection c = {
		.path = delta_link, .what = ent->set_name, .item = on_change,
		.prefer = "odata.track-changes,odata.maxpagesize=5000",
	};
	struct delta d = { 0 };
	struct dfs_readers r;
	size_t i;
	int ret;

	*new_link = NULL;
	dfs_readers_init(&r, dv, ent, cb, st);
	d.r = &r;
	c.ctx = &d;
	ret = dfs_collection_get(dv, &c);
	st->requests += c.requests;
	if (ret == -EINVAL && strcmp(c.err.code, DFS_DV_EXPIRED_TOKEN) == 0) {
		ret = -ESTALE;
		goto out;
	}
	if (ret < 0)
		goto out;
	dfs_ids_sort(&d.changed, dfs_id_cmp_text);
	if (d.changed.n) {
		if (!(r.found = calloc(d.changed.n, 1)) ||
		    asprintf(&r.prefer, "odata.maxpagesize=%d", BATCH_IDS) < 0) {
			r.prefer = NULL;
			ret = -ENOMEM;
			goto out;
		}
		r.changed = &d.changed;
		if ((ret = plan_batches(&r, &d.changed)) < 0 ||
		    (ret = dfs_readers_run(&r, dfs_readers_parallelism(&r, c.dop_hint, r.n_jobs))) < 0)
			goto out;
	}
	/* Changed, then deleted before its content was read. */
	for (i = 0; i < d.changed.n; i++) {
		char id[DFS_GUID_LEN + 1];

		if (r.found[i])
			continue;
		dfs_guid_unpack(d.changed.v[i], id);
		if ((ret = cb->deleted(cb->ctx, id)) < 0)
			goto out;
		st->deleted++;
	}
	*new_link = c.delta_link;
	c.delta_link = NULL;
	dfs_info("%s: %s: refreshed in %.1f s: %zu changed, %zu deleted, %u request(s)", r.tenant,
		 ent->set_name, dfs_now() - r.start, st->records, st->deleted, st->requests);
out:
	dfs_collection_done(&c);
	free(d.changed.v);
	dfs_readers_free(&r);
	return ret;
}
