/* content.c - what the files of a set folder hold (see content.h). */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "content.h"
#include "listing.h"
#include "log.h"
#include "notify.h"
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
	/* A single record (a fetch, a save): the kernel forgets its old size
	 * before the operation answers.  A listing does so at its end. */
	if (ret == 0 && !listing)
		dfs_notify_sync();
out:
	dfs_blob_unref(blob);
	dfs_buf_free(&out);
	return ret;
}

/* Is S's listing younger than cache_ttl? */
static int is_fresh(const struct dfs_fs *fs, struct dfs_set *s)
{
	double listed = dfs_cache_listed_at(s->cache, NULL);

	return listed >= 0 && dfs_now() - listed < fs->cfg->cache_ttl;
}

static int refresh(struct dfs_path *p);

/*
 * The listing of P's set is older than cache_ttl: bring it up to date now
 * if the set is tracked (one delta request, not one per record), but never
 * wait for a listing under way.  1 when the listing is fresh now, 0 when
 * it could not be refreshed here, -EBUSY when a listing is under way.
 */
static int catch_up(struct dfs_fs *fs, struct dfs_path *p)
{
	int ret = 0;

	if (pthread_mutex_trylock(&p->s->list_lock) != 0)
		return -EBUSY;
	if (is_fresh(fs, p->s))
		ret = 1;
	else if (p->s->delta_link)
		ret = refresh(p) == 0;
	pthread_mutex_unlock(&p->s->list_lock);
	return ret;
}

int dfs_content_get(struct dfs_fs *fs, struct dfs_path *p, struct dfs_rec_info *info)
{
	double now = dfs_now(), ttl = fs->cfg->cache_ttl, listed;
	cJSON *rec = NULL;
	int found, ret;

	/* A refresh under way elsewhere may have changed this record: the
	 * kernel's size must not be older than the bytes served. */
	dfs_notify_sync();
	found = dfs_cache_get(p->s->cache, p->id, info);
	listed = dfs_cache_listed_at(p->s->cache, NULL);
	/*
	 * What came with the listing is served while the listing is younger
	 * than cache_ttl (so a refresh asked for by hand covers it too); a
	 * record read on its own has a cache_ttl of its own.
	 */
	if (found && info->blob && now - (info->listed ? listed : info->fetched) < ttl)
		return 0;
	/* A fresh listing that lacks the id answers without a request. */
	if (!found && listed >= 0 && now - listed < ttl)
		return -ENOENT;
	if (listed != -1 && (ret = catch_up(fs, p)) != 0) {
		if (ret == 1) {
			/* Just brought up to date: the listing answers. */
			dfs_rec_info_clear(info);
			if (!(found = dfs_cache_get(p->s->cache, p->id, info)))
				return -ENOENT;
			if (info->blob && info->listed)
				return 0;
		} else if (found && info->blob && info->listed) {
			return 0;       /* a listing is under way: serve what is there */
		}
	} else if (listed != -1 && found && info->blob && info->listed) {
		/* No change tracking: what came with the listing is served until
		 * the folder is listed again (readdir, user.dynfs.refresh), so a
		 * long copy makes no request per record. */
		return 0;
	}
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
};

/* The listing's callbacks, from several threads at once. */
static int on_record(void *ctx, const char *id, const cJSON *rec)
{
	struct list_ctx *lc = ctx;

	return dfs_content_put(lc->s, id, rec, dfs_now(), lc->gen);
}

static int on_deleted(void *ctx, const char *id)
{
	struct list_ctx *lc = ctx;

	dfs_cache_remove(lc->s->cache, id);
	return 0;
}

/*
 * Bring the listing of P's set up to date, with its list_lock held: from
 * the delta link when there is one, else (or when the server has forgotten
 * it) by listing the set whole.
 */
static int refresh(struct dfs_path *p)
{
	struct dfs_set *s = p->s;
	struct list_ctx lc = { .s = s };
	struct dfs_listing_cb cb = { on_record, on_deleted, &lc };
	struct dfs_listing_stats st;
	char *link = NULL;
	double at = dfs_now();
	int ret, full = 1;

	lc.gen = dfs_cache_listing_begin(s->cache);
	if (s->delta_link) {
		ret = dfs_listing_delta(p->t->dv, s->ent, s->delta_link, &cb, &link, &st);
		full = 0;
		if (ret == -ESTALE) {
			dfs_warn("%s: %s: the server no longer has the changes since the last"
				 " listing (expired change-tracking token): listing the set whole",
				 p->t->tc->name, s->ent->set_name);
			full = 1;
		}
	}
	if (full)
		ret = dfs_listing_full(p->t->dv, s->ent, &cb, &link, &st);
	if (ret < 0)
		return ret;
	dfs_cache_listing_end(s->cache, lc.gen, at, full);
	free(s->delta_link);
	s->delta_link = link;
	/* Records that changed or went: the kernel has forgotten their
	 * attributes before the access that refreshed answers. */
	dfs_notify_sync();
	/* A listing frees as much as it made (parse trees, evicted content):
	 * give it back, so what a copy adds does not stack on top of it. */
	malloc_trim(0);
	/* What the server lists is now the truth: renamed-away names answer
	 * again, and names that only aliased saved records go. */
	dfs_locals_listed(s->locals);
	return 0;
}

int dfs_content_list(struct dfs_fs *fs, struct dfs_path *p)
{
	int ret = 0;

	pthread_mutex_lock(&p->s->list_lock);
	if (!is_fresh(fs, p->s))
		ret = refresh(p);
	pthread_mutex_unlock(&p->s->list_lock);
	return ret;
}

void dfs_content_expire(struct dfs_set *s, int full)
{
	if (full) {
		/* After a listing under way, which would set a new link. */
		pthread_mutex_lock(&s->list_lock);
		free(s->delta_link);
		s->delta_link = NULL;
		pthread_mutex_unlock(&s->list_lock);
	}
	dfs_cache_listing_expire(s->cache);
}
