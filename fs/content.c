/* content.c - what the files of a set folder hold (see content.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "content.h"
#include "log.h"
#include "record.h"
#include "banned.h"

int dfs_content_put(struct dfs_set *s, const char *id, const cJSON *rec, double fetched,
		    uint32_t listing)
{
	const char *etag = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "@odata.etag"));
	struct dfs_blob *blob = NULL;
	struct dfs_buf out;
	int ret;

	dfs_buf_init(&out, 0);
	if ((ret = dfs_record_render(rec, &out)) < 0)
		goto out;
	if (!(blob = dfs_blob_new(out.data, out.len))) {
		ret = -ENOMEM;
		goto out;
	}
	ret = dfs_cache_put(s->cache, id, blob, etag, dfs_record_mtime(rec), fetched, listing);
out:
	dfs_blob_unref(blob);
	dfs_buf_free(&out);
	return ret;
}

int dfs_content_get(struct dfs_fs *fs, struct dfs_path *p, struct dfs_rec_info *info)
{
	double now = dfs_now(), ttl = fs->cfg->cache_ttl, listed;
	cJSON *rec = NULL;
	int found, ret;

	found = dfs_cache_get(p->s->cache, p->id, info);
	listed = dfs_cache_listed_at(p->s->cache, NULL);
	/*
	 * Freshness belongs to the listing: what came with it is served until
	 * the folder is listed again, however long a copy takes, once the
	 * listing is older than cache_ttl.  A record read on its own has a
	 * cache_ttl of its own.
	 */
	if (found && info->blob &&
	    ((info->listed && now - listed < ttl) || now - info->fetched < ttl))
		return 0;
	/* A fresh listing that lacks the id answers without a request. */
	if (!found && listed >= 0 && now - listed < ttl)
		return -ENOENT;
	/* Content that had to be dropped is fetched whole again. */
	ret = dfs_dv_get(p->t->dv, p->s->ent, p->id, found && info->blob ? info->etag : NULL,
			 &rec);
	if (ret == 1) {
		dfs_cache_touch(p->s->cache, p->id, now);
		info->fetched = now;
		return 0;
	}
	dfs_rec_info_clear(info);
	if (ret == -ENOENT)
		dfs_cache_remove(p->s->cache, p->id);
	if (ret < 0)
		return ret;
	ret = dfs_content_put(p->s, p->id, rec, now, 0);
	cJSON_Delete(rec);
	if (ret < 0)
		return ret;
	return dfs_cache_get(p->s->cache, p->id, info) ? 0 : -ENOENT;
}

int dfs_content_stat(struct dfs_fs *fs, struct dfs_path *p, size_t *size, time_t *mtime)
{
	double now = dfs_now(), ttl = fs->cfg->cache_ttl, listed;
	struct dfs_rec_info info;
	int ret;

	/* A walk over a listed folder (ls -l, find -ls, du) reads the index
	 * only: no content is loaded, spilled or fetched for a stat. */
	listed = dfs_cache_listed_at(p->s->cache, NULL);
	if (dfs_cache_peek(p->s->cache, p->id, &info) &&
	    ((info.listed && now - listed < ttl) || now - info.fetched < ttl)) {
		*size = info.size;
		*mtime = info.mtime;
		return 0;
	}
	if ((ret = dfs_content_get(fs, p, &info)) < 0)
		return ret;
	*size = info.size;
	*mtime = info.mtime;
	dfs_rec_info_clear(&info);
	return 0;
}

int dfs_content_fetch(struct dfs_path *p, struct dfs_rec_info *info)
{
	cJSON *rec = NULL;
	int ret;

	if ((ret = dfs_dv_get(p->t->dv, p->s->ent, p->id, NULL, &rec)) < 0)
		return ret;
	ret = dfs_content_put(p->s, p->id, rec, dfs_now(), 0);
	cJSON_Delete(rec);
	if (ret < 0)
		return ret;
	return dfs_cache_get(p->s->cache, p->id, info) ? 0 : -ENOENT;
}

struct list_ctx {
	struct dfs_set *s;
	uint32_t gen;
	size_t n;
};

static int on_listed(void *ctx, const cJSON *rec)
{
	struct list_ctx *lc = ctx;
	const char *id = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(rec, lc->s->ent->primary_id));

	if (!id || dfs_guid_parse(id, strlen(id), 1, NULL) < 0) {
		dfs_warn("%s: record without a usable '%s' skipped", lc->s->ent->set_name,
			 lc->s->ent->primary_id);
		return 0;
	}
	lc->n++;
	return dfs_content_put(lc->s, id, rec, dfs_now(), lc->gen);
}

int dfs_content_list(struct dfs_fs *fs, struct dfs_path *p)
{
	struct list_ctx lc = { .s = p->s };
	double listed, at;
	int ret = 0;

	pthread_mutex_lock(&p->s->list_lock);
	listed = dfs_cache_listed_at(p->s->cache, NULL);
	if (listed >= 0 && dfs_now() - listed < fs->cfg->cache_ttl)
		goto out;
	at = dfs_now();
	lc.gen = dfs_cache_listing_begin(p->s->cache);
	if ((ret = dfs_dv_list(p->t->dv, p->s->ent, on_listed, &lc)) < 0)
		goto out;
	dfs_cache_listing_end(p->s->cache, lc.gen, at, 1);
	/* What the server lists is now the truth: renamed-away names answer
	 * again, and names that only aliased saved records go. */
	dfs_locals_listed(p->s->locals);
	dfs_info("%s: %s: listed %zu record(s)", p->t->tc->name, p->s->ent->set_name, lc.n);
out:
	pthread_mutex_unlock(&p->s->list_lock);
	return ret;
}
