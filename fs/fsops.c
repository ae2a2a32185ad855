/* fsops.c - FUSE operations over tenants, entity sets and record files.
 *
 * Every FUSE handler is dfs_<op> and returns 0 or a negative errno.  Records
 * come from the set's cache while they are younger than cache_ttl; after that
 * a read revalidates with If-None-Match (a 304 costs no body).  Listing a set
 * asks for full records, so one listing fills the cache with the content of
 * every file in it: copying a set costs one request per 5000 records.
 *
 * Writing: a record file is staged per open handle and saved on close or
 * fsync (save_record_handle).  Any other name in a set folder is a local file
 * (local.h) that never reaches the server, except that renaming one onto a
 * ".json" name, or closing a written ".json" one, saves it as a record
 * (save_local).  Both end in write_record(), the one place that decides
 * between update and create.  SEMANTICS.md is the user-facing account.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "buf.h"
#include "cache.h"
#include "dataverse.h"
#include "fsops.h"
#include "json.h"
#include "local.h"
#include "log.h"
#include "record.h"
#include "schema.h"
#include "state.h"

#define XATTR_ETAG "user.dynfs.etag"
#define XATTR_URL "user.dynfs.url"
#define XATTR_ID "user.dynfs.id"
#define XATTR_ERROR "user.dynfs.error"

struct dfs_set {
	struct dfs_entity *ent;
	struct dfs_cache *cache;
	struct dfs_locals *locals;
	pthread_mutex_t list_lock;   /* one listing of this set at a time */
	pthread_mutex_t schema_lock;
	struct dfs_schema *schema;   /* columns, fetched at the first save */
};

struct dfs_tenant {
	const struct dfs_tenant_config *tc;
	struct dfs_dv *dv;
	struct dfs_entity *ents;
	size_t n_sets;
	struct dfs_set *sets;
};

struct dfs_fs {
	const struct dfs_config *cfg;
	struct dfs_tenant *tenants;
	size_t n_tenants;
	uid_t uid;
	gid_t gid;
	time_t started;
};

/*
 * An open file: a record or a local file.  Handles remember their set and
 * record id, so they keep working after the name is unlinked or renamed
 * (hard_remove, nullpath_ok).
 *
 * A read-only record open sees the bytes it was opened with.  A writable one
 * stages the user's bytes here until flush or fsync saves them; BASE is the
 * version the edit started from, the one the PATCH is computed against and
 * conditioned on (If-Match: BASE_ETAG).
 */
struct dfs_fh {
	struct dfs_tenant *t;
	struct dfs_set *s;
	char id[37];             /* record handles */
	char *name;              /* the name at open, for messages and rescue copies */
	struct dfs_local *local; /* local handles */
	struct dfs_blob *blob;   /* read-only record opens */
	int writable;            /* writable record opens: */
	pthread_mutex_t lock;    /* stage, dirty, emptied, base */
	struct dfs_buf stage;
	int dirty;               /* written since the last save */
	int emptied;             /* truncated to nothing and not written since */
	struct dfs_blob *base;
	char *base_etag;
};

#define STAGE_MAX (64UL * 1024 * 1024) /* far above any record; stops runaway writes */

/* A path split into its parts. */
struct dfs_path {
	int depth;               /* 0 root, 1 tenant, 2 set, 3 a name in a set */
	struct dfs_tenant *t;
	struct dfs_set *s;
	const char *name;
	int is_record;           /* NAME is "<guid>.json"; ID holds the guid */
	char id[37];
};

static struct dfs_fs *get_fs(void)
{
	return fuse_get_context()->private_data;
}

/* ---- tenants ------------------------------------------------------------ */

/* Local files end with the mount: say which, so nobody is surprised. */
static int warn_discarded(void *ctx, struct dfs_local *l)
{
	struct dfs_set *s = ctx;

	dfs_warn("%s/%s: local file discarded at unmount (it was never saved to Dataverse)",
		 s->ent->set_name, l->name);
	return 0;
}

static void tenant_free(struct dfs_tenant *t)
{
	size_t i;

	for (i = 0; i < t->n_sets; i++) {
		if (t->sets[i].locals)
			dfs_locals_walk(t->sets[i].locals, warn_discarded, &t->sets[i]);
		dfs_cache_free(&t->sets[i].cache);
		dfs_locals_free(&t->sets[i].locals);
		dfs_schema_free(&t->sets[i].schema);
		pthread_mutex_destroy(&t->sets[i].list_lock);
		pthread_mutex_destroy(&t->sets[i].schema_lock);
	}
	free(t->sets);
	dfs_dv_entities_free(t->ents, t->n_sets);
	dfs_dv_free(&t->dv);
}

static int tenant_connect(struct dfs_tenant *t, const struct dfs_tenant_config *tc,
			  const struct dfs_config *cfg)
{
	struct dfs_http_error err = { "", "" };
	size_t i;
	int ret;

	t->tc = tc;
	if (!(t->dv = dfs_dv_new(tc, cfg)))
		return -ENOMEM;
	/* WhoAmI proves the URL, TLS, the credentials and Dataverse access
	 * before we mount; the specific error was logged on the way. */
	if ((ret = dfs_dv_whoami(t->dv, &err)) < 0) {
		dfs_err("%s: cannot use %s: %s", tc->name, tc->url,
			ret == -EACCES ? "access refused (see above)" : strerror(-ret));
		return ret;
	}
	if ((ret = dfs_dv_entities(t->dv, &t->ents, &t->n_sets, &err)) < 0) {
		dfs_err("%s: cannot load entity sets: %s", tc->name, err.message[0] ? err.message
									: strerror(-ret));
		return ret;
	}
	t->sets = calloc(t->n_sets ? t->n_sets : 1, sizeof(*t->sets));
	if (!t->sets)
		return -ENOMEM;
	for (i = 0; i < t->n_sets; i++) {
		t->sets[i].ent = &t->ents[i];
		pthread_mutex_init(&t->sets[i].list_lock, NULL);
		pthread_mutex_init(&t->sets[i].schema_lock, NULL);
		if (!(t->sets[i].cache = dfs_cache_new()) ||
		    !(t->sets[i].locals = dfs_locals_new()))
			return -ENOMEM;
	}
	dfs_info("%s: connected to %s, %zu entity set(s)", tc->name, tc->url, t->n_sets);
	return 0;
}

struct dfs_fs *dfs_fs_new(const struct dfs_config *cfg)
{
	struct dfs_fs *fs = calloc(1, sizeof(*fs));
	size_t i;
	int failed = 0;

	if (!fs)
		return NULL;
	fs->cfg = cfg;
	fs->uid = getuid();
	fs->gid = getgid();
	fs->started = time(NULL);
	fs->tenants = calloc(cfg->n_tenants, sizeof(*fs->tenants));
	if (!fs->tenants) {
		free(fs);
		return NULL;
	}
	fs->n_tenants = cfg->n_tenants;
	for (i = 0; i < cfg->n_tenants; i++)
		if (tenant_connect(&fs->tenants[i], &cfg->tenants[i], cfg) < 0)
			failed++;
	if (failed) {
		dfs_err("not mounted: %d of %zu tenant(s) failed (see above)", failed,
			cfg->n_tenants);
		dfs_fs_free(&fs);
	}
	return fs;
}

void dfs_fs_free(struct dfs_fs **fsp)
{
	struct dfs_fs *fs = *fsp;
	size_t i;

	if (!fs)
		return;
	for (i = 0; i < fs->n_tenants; i++)
		tenant_free(&fs->tenants[i]);
	free(fs->tenants);
	free(fs);
	*fsp = NULL;
}

/* ---- paths -------------------------------------------------------------- */

/* Copy the next component of *P into BUF; returns its length or -1. */
static int next_component(const char **p, char *buf, size_t cap)
{
	const char *s = *p, *e;
	size_t n;

	while (*s == '/')
		s++;
	if (!*s)
		return 0;
	e = strchr(s, '/');
	n = e ? (size_t)(e - s) : strlen(s);
	if (n >= cap)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*p = s + n;
	return (int)n;
}

/*
 * Split PATH.  A name inside a set folder always resolves (depth 3): whether
 * it is a record, a local file or nothing is for the caller to find out.
 * An unknown tenant or set is -ENOENT, with *PARENT_DEPTH (if given) telling
 * how deep the existing part went, so mkdir and create can say EPERM.
 */
static int resolve_parent(struct dfs_fs *fs, const char *path, struct dfs_path *p,
			  int *parent_depth)
{
	char part[256];
	const char *rest = path;
	size_t i;
	int n;

	memset(p, 0, sizeof(*p));
	if (parent_depth)
		*parent_depth = 0;
	if (!path)
		return -ENOENT;
	if ((n = next_component(&rest, part, sizeof(part))) <= 0)
		return n < 0 ? -ENAMETOOLONG : 0;
	for (i = 0; i < fs->n_tenants; i++)
		if (strcmp(fs->tenants[i].tc->name, part) == 0)
			break;
	if (i == fs->n_tenants)
		return -ENOENT;
	p->t = &fs->tenants[i];
	p->depth = 1;
	if (parent_depth)
		*parent_depth = 1;
	if ((n = next_component(&rest, part, sizeof(part))) <= 0)
		return n < 0 ? -ENAMETOOLONG : 0;
	for (i = 0; i < p->t->n_sets; i++)
		if (strcmp(p->t->sets[i].ent->set_name, part) == 0)
			break;
	if (i == p->t->n_sets)
		return -ENOENT;
	p->s = &p->t->sets[i];
	p->depth = 2;
	if (parent_depth)
		*parent_depth = 2;
	while (*rest == '/')
		rest++;
	if (!*rest)
		return 0;
	if (strchr(rest, '/'))
		return -ENOENT;
	if (strlen(rest) > 255)
		return -ENAMETOOLONG;
	p->name = rest;
	p->depth = 3;
	p->is_record = dfs_record_name_to_id(rest, p->id);
	return 0;
}

/*
 * For create, mkdir and symlink of a name that does not resolve: -EPERM
 * when the folder it would go in exists (the root or a tenant holds only
 * what the config and Dataverse say), else RET.
 */
static int refuse_new_name(const char *path, int ret, int parent_depth)
{
	int n = 0;

	for (; path && *path; path++)
		if (*path != '/' && (path[1] == '/' || path[1] == '\0'))
			n++;
	return ret == -ENOENT && parent_depth == n - 1 ? -EPERM : ret;
}

static int resolve(struct dfs_fs *fs, const char *path, struct dfs_path *p)
{
	return resolve_parent(fs, path, p, NULL);
}

static int has_json_suffix(const char *name)
{
	size_t n = strlen(name);

	return n > 5 && strcmp(name + n - 5, ".json") == 0;
}

/* A record name that a rename away has hidden does not answer. */
static int record_visible(struct dfs_path *p)
{
	return p->is_record && !dfs_locals_hidden(p->s->locals, p->id);
}

/* A fresh random (version 4) GUID: the id of a record created from a file
 * whose name and content do not give one.  Chosen before the first request,
 * so retrying a create can never make two records. */
static int new_guid(char out[37])
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -EIO;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
	return 0;
}

/* ---- records ------------------------------------------------------------ */

static time_t record_mtime(const cJSON *rec)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "modifiedon"));
	time_t t;

	if (!s)
		s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "createdon"));
	if (s && dfs_record_parse_time(s, &t) == 0)
		return t;
	return 0;
}

/* Render REC and store it in the set's cache as ID. */
static int cache_record(struct dfs_set *s, const char *id, const cJSON *rec, double fetched)
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
	ret = dfs_cache_put(s->cache, id, blob, etag, record_mtime(rec), fetched);
out:
	dfs_blob_unref(blob);
	dfs_buf_free(&out);
	return ret;
}

/*
 * Make sure INFO holds a copy of record ID no older than cache_ttl, asking
 * the server only when needed.
 */
static int get_record(struct dfs_fs *fs, struct dfs_path *p, struct dfs_rec_info *info)
{
	double now = dfs_now(), ttl = fs->cfg->cache_ttl, listed;
	cJSON *rec = NULL;
	int found, ret;

	found = dfs_cache_get(p->s->cache, p->id, info);
	if (found && now - info->fetched < ttl)
		return 0;
	if (!found) {
		/* A fresh listing that lacks the id answers without a request. */
		listed = dfs_cache_listed_at(p->s->cache);
		if (listed >= 0 && now - listed < ttl)
			return -ENOENT;
	}
	ret = dfs_dv_get(p->t->dv, p->s->ent, p->id, found ? info->etag : NULL, &rec);
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
	ret = cache_record(p->s, p->id, rec, now);
	cJSON_Delete(rec);
	if (ret < 0)
		return ret;
	return dfs_cache_get(p->s->cache, p->id, info) ? 0 : -ENOENT;
}

struct list_ctx {
	struct dfs_set *s;
	char **ids;
	size_t n, cap;
	double now;
};

static int on_listed(void *ctx, const cJSON *rec)
{
	struct list_ctx *lc = ctx;
	const char *id = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(rec, lc->s->ent->primary_id));
	char check[37], name[64];
	char **grown;
	int ret;

	snprintf(name, sizeof(name), "%s.json", id ? id : "");
	if (!id || !dfs_record_name_to_id(name, check)) {
		dfs_warn("%s: record without a usable '%s' skipped", lc->s->ent->set_name,
			 lc->s->ent->primary_id);
		return 0;
	}
	if (lc->n == lc->cap) {
		lc->cap = lc->cap ? lc->cap * 2 : 1024;
		grown = realloc(lc->ids, lc->cap * sizeof(*lc->ids));
		if (!grown)
			return -ENOMEM;
		lc->ids = grown;
	}
	if (!(lc->ids[lc->n] = strdup(id)))
		return -ENOMEM;
	lc->n++;
	ret = cache_record(lc->s, id, rec, dfs_now());
	return ret;
}

/* List the set from the server unless the last listing is younger than cache_ttl. */
static int refresh_listing(struct dfs_fs *fs, struct dfs_path *p)
{
	struct list_ctx lc = { .s = p->s };
	double listed;
	size_t i;
	int ret = 0;

	pthread_mutex_lock(&p->s->list_lock);
	listed = dfs_cache_listed_at(p->s->cache);
	if (listed >= 0 && dfs_now() - listed < fs->cfg->cache_ttl)
		goto out;
	lc.now = dfs_now();
	ret = dfs_dv_list(p->t->dv, p->s->ent, on_listed, &lc);
	if (ret < 0) {
		for (i = 0; i < lc.n; i++)
			free(lc.ids[i]);
		free(lc.ids);
		goto out;
	}
	dfs_cache_set_listing(p->s->cache, lc.ids, lc.n, lc.now);
	/* What the server lists is now the truth: renamed-away names answer
	 * again, and names that only aliased saved records go. */
	dfs_locals_listed(p->s->locals);
	dfs_info("%s: %s: listed %zu record(s)", p->t->tc->name, p->s->ent->set_name, lc.n);
out:
	pthread_mutex_unlock(&p->s->list_lock);
	return ret;
}

/* ---- attributes --------------------------------------------------------- */

static void dir_stat(struct dfs_fs *fs, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = 2;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_mtime = st->st_ctime = st->st_atime = fs->started;
}

static void file_stat(struct dfs_fs *fs, struct stat *st, size_t size, time_t mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | 0644;
	st->st_nlink = 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = (off_t)size;
	st->st_blocks = (blkcnt_t)((size + 511) / 512);
	st->st_blksize = 4096;
	st->st_mtime = st->st_ctime = st->st_atime = mtime;
}

/* A local file keeps the mode and times it is given, like any file. */
static void local_stat(struct dfs_fs *fs, struct dfs_local *l, struct stat *st)
{
	pthread_mutex_lock(&l->lock);
	file_stat(fs, st, l->data.len, l->mtime.tv_sec);
	st->st_mode = l->mode;
	st->st_mtim = l->mtime;
	st->st_atim = l->mtime;
	st->st_ctim = l->ctime;
	pthread_mutex_unlock(&l->lock);
}

/*
 * The local file called P->name -- unless it is only an alias of the
 * record saved under this very name, which then answers for itself.
 */
static struct dfs_local *local_lookup(struct dfs_path *p)
{
	struct dfs_local *l = dfs_local_get(p->s->locals, p->name);
	int alias;

	if (!l || !p->is_record)
		return l;
	pthread_mutex_lock(&l->lock);
	alias = l->saved && !l->dirty;
	pthread_mutex_unlock(&l->lock);
	if (alias) {
		dfs_local_put(l);
		return NULL;
	}
	return l;
}

/*
 * The local file called P->name for reading and writing it -- or, when it
 * is a ".json" file already saved as a record and not written since, NULL
 * with P turned into that record: the name shows the record it became
 * (stat, cat, cp -p and rsync's final utimens see the server's version).
 * unlink and rename still see the local file (local_lookup), so `rm
 * tmp.json` after `cp tmp.json f.json` removes a name, never a record.
 */
static struct dfs_local *local_or_alias(struct dfs_path *p)
{
	struct dfs_local *l = local_lookup(p);
	int alias;

	if (!l)
		return NULL;
	pthread_mutex_lock(&l->lock);
	alias = l->saved && !l->dirty && l->id[0];
	if (alias) {
		snprintf(p->id, sizeof(p->id), "%s", l->id);
		p->is_record = 1;
	}
	pthread_mutex_unlock(&l->lock);
	if (alias) {
		dfs_local_put(l);
		return NULL;
	}
	return l;
}

static int dfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_fh *fh = fi ? (struct dfs_fh *)(uintptr_t)fi->fh : NULL;
	struct dfs_local *l;
	struct dfs_rec_info info;
	struct dfs_path p;
	size_t len;
	int ret;

	if (fh) {
		/* fstat of an open file: what this handle sees. */
		if (fh->local) {
			local_stat(fs, fh->local, st);
			return 0;
		}
		if (fh->writable) {
			pthread_mutex_lock(&fh->lock);
			len = fh->stage.len;
			pthread_mutex_unlock(&fh->lock);
		} else {
			len = fh->blob->len;
		}
		if (dfs_cache_get(fh->s->cache, fh->id, &info)) {
			file_stat(fs, st, len, info.mtime);
			dfs_rec_info_clear(&info);
		} else {
			file_stat(fs, st, len, 0);
		}
		return 0;
	}
	if ((ret = resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth < 3) {
		dir_stat(fs, st);
		return 0;
	}
	if ((l = local_or_alias(&p))) {
		local_stat(fs, l, st);
		dfs_local_put(l);
		return 0;
	}
	if (!record_visible(&p))
		return -ENOENT;
	if ((ret = get_record(fs, &p, &info)) < 0)
		return ret;
	file_stat(fs, st, info.blob->len, info.mtime);
	dfs_rec_info_clear(&info);
	return 0;
}

/* ---- directories -------------------------------------------------------- */

struct fill_ctx {
	struct dfs_fs *fs;
	struct dfs_set *s;
	void *buf;
	fuse_fill_dir_t filler;
};

static int fill_record(void *ctx, const char *id, size_t size, time_t mtime)
{
	struct fill_ctx *fc = ctx;
	struct stat st;
	char name[64];

	if (dfs_locals_hidden(fc->s->locals, id))
		return 0;
	file_stat(fc->fs, &st, size, mtime);
	snprintf(name, sizeof(name), "%s.json", id);
	return fc->filler(fc->buf, name, &st, 0, FUSE_FILL_DIR_PLUS) ? -ENOMEM : 0;
}

static int fill_local(void *ctx, struct dfs_local *l)
{
	struct fill_ctx *fc = ctx;
	struct stat st;

	local_stat(fc->fs, l, &st);
	return fc->filler(fc->buf, l->name, &st, 0, FUSE_FILL_DIR_PLUS) ? -ENOMEM : 0;
}

/* A folder is resolved at opendir: readdir gets no path (nullpath_ok). */
static int dfs_opendir(const char *path, struct fuse_file_info *fi)
{
	struct dfs_path *p = malloc(sizeof(*p));
	int ret;

	if (!p)
		return -ENOMEM;
	if ((ret = resolve(get_fs(), path, p)) < 0 || p->depth == 3) {
		free(p);
		return ret < 0 ? ret : -ENOTDIR;
	}
	fi->fh = (uint64_t)(uintptr_t)p;
	return 0;
}

static int dfs_releasedir(const char *path, struct fuse_file_info *fi)
{
	free((struct dfs_path *)(uintptr_t)fi->fh);
	return 0;
}

static int dfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dfs_fs *fs = get_fs();
	struct fill_ctx fc = { fs, NULL, buf, filler };
	struct dfs_path p = *(struct dfs_path *)(uintptr_t)fi->fh;
	struct stat st;
	size_t i;
	int ret;

	dir_stat(fs, &st);
	filler(buf, ".", &st, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	switch (p.depth) {
	case 0:
		for (i = 0; i < fs->n_tenants; i++)
			if (filler(buf, fs->tenants[i].tc->name, &st, 0, FUSE_FILL_DIR_PLUS))
				break;
		return 0;
	case 1:
		for (i = 0; i < p.t->n_sets; i++)
			if (filler(buf, p.t->sets[i].ent->set_name, &st, 0, FUSE_FILL_DIR_PLUS))
				break;
		return 0;
	default:
		if ((ret = refresh_listing(fs, &p)) < 0)
			return ret;
		fc.s = p.s;
		if (dfs_cache_walk_listing(p.s->cache, fill_record, &fc) == 0)
			dfs_locals_walk(p.s->locals, fill_local, &fc);
		return 0;
	}
}

/* ---- files -------------------------------------------------------------- */

static void fh_free(struct dfs_fh *fh)
{
	if (!fh)
		return;
	dfs_blob_unref(fh->blob);
	dfs_local_put(fh->local);
	if (fh->writable) {
		dfs_buf_free(&fh->stage);
		dfs_blob_unref(fh->base);
		free(fh->base_etag);
		pthread_mutex_destroy(&fh->lock);
	}
	free(fh->name);
	free(fh);
}

static struct dfs_fh *fh_alloc(struct dfs_path *p)
{
	struct dfs_fh *fh = calloc(1, sizeof(*fh));

	if (!fh)
		return NULL;
	fh->t = p->t;
	fh->s = p->s;
	snprintf(fh->id, sizeof(fh->id), "%s", p->is_record ? p->id : "");
	if (!(fh->name = strdup(p->name))) {
		free(fh);
		return NULL;
	}
	return fh;
}

/* A writable handle on record P, staged from its current version. */
static int fh_new_writable(struct dfs_fs *fs, struct dfs_path *p, int truncate,
			   struct dfs_fh **out)
{
	struct dfs_rec_info info;
	struct dfs_fh *fh;
	int ret;

	if (p->t->tc->read_only)
		return -EROFS;
	if ((ret = get_record(fs, p, &info)) < 0)
		return ret;
	if (!(fh = fh_alloc(p))) {
		dfs_rec_info_clear(&info);
		return -ENOMEM;
	}
	fh->writable = 1;
	pthread_mutex_init(&fh->lock, NULL);
	/* Writes go through the kernel's page cache: whatever this handle
	 * writes, saved or rejected, the next reader must not be served it
	 * from there. */
	dfs_cache_forget_opened(p->s->cache, p->id);
	dfs_buf_init(&fh->stage, STAGE_MAX);
	fh->base = dfs_blob_ref(info.blob);
	fh->base_etag = info.etag ? strdup(info.etag) : NULL;
	if (truncate)
		fh->emptied = 1;
	else if ((ret = dfs_buf_append(&fh->stage, info.blob->data, info.blob->len)) < 0) {
		dfs_rec_info_clear(&info);
		fh_free(fh);
		return ret;
	}
	dfs_rec_info_clear(&info);
	*out = fh;
	return 0;
}

/* Grow or shrink BUF to LEN, zero-filling a gap. */
static int buf_resize(struct dfs_buf *b, size_t len)
{
	static const char zeros[4096];
	int ret;

	while (b->len < len)
		if ((ret = dfs_buf_append(b, zeros, len - b->len < sizeof(zeros) ? len - b->len
									  : sizeof(zeros))) < 0)
			return ret;
	if (b->len > len) {
		b->len = len;
		b->data[len] = '\0';
	}
	return 0;
}

/*
 * An empty file is where every rewrite starts (`> f` opens, the shell
 * closes a dup, then the program writes): saving it at that point would
 * reject an edit that has not happened yet.  So a file truncated to nothing
 * is "emptied", not dirty, until something is written.
 */
static int stage_resize(struct dfs_fh *fh, size_t len)
{
	int ret;

	if ((ret = buf_resize(&fh->stage, len)) < 0)
		return ret;
	fh->emptied = len == 0;
	fh->dirty = len != 0;
	return 0;
}

/* The same for a local file.  Called with l->lock held. */
static int local_resize(struct dfs_local *l, size_t len)
{
	int ret;

	if ((ret = buf_resize(&l->data, len)) < 0)
		return ret;
	l->emptied = len == 0;
	l->dirty = len != 0;
	l->wgen++;
	clock_gettime(CLOCK_REALTIME, &l->mtime);
	l->ctime = l->mtime;
	return 0;
}

static int open_local(struct dfs_path *p, struct dfs_local *l, struct fuse_file_info *fi)
{
	struct dfs_fh *fh;
	int ret = 0;

	if (S_ISLNK(l->mode))
		return -ELOOP;
	if (!(fh = fh_alloc(p)))
		return -ENOMEM;
	fh->local = dfs_local_ref(l);
	if (fi->flags & O_TRUNC) {
		pthread_mutex_lock(&l->lock);
		ret = local_resize(l, 0);
		pthread_mutex_unlock(&l->lock);
	}
	if (ret < 0) {
		fh_free(fh);
		return ret;
	}
	fi->fh = (uint64_t)(uintptr_t)fh;
	return 0;
}

static int dfs_open(const char *path, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_rec_info info;
	struct dfs_local *l;
	struct dfs_fh *fh = NULL;
	struct dfs_path p;
	int ret, writing;

	if ((ret = resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth < 3)
		return -EISDIR;
	writing = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	if (writing && p.t->tc->read_only)
		return -EROFS;
	if ((l = local_or_alias(&p))) {
		ret = open_local(&p, l, fi);
		dfs_local_put(l);
		return ret;
	}
	if (!record_visible(&p))
		return -ENOENT;
	if (writing) {
		if ((ret = fh_new_writable(fs, &p, !!(fi->flags & O_TRUNC), &fh)) < 0)
			return ret;
		fi->fh = (uint64_t)(uintptr_t)fh;
		return 0;
	}
	if ((ret = get_record(fs, &p, &info)) < 0)
		return ret;
	if (!(fh = fh_alloc(&p))) {
		dfs_rec_info_clear(&info);
		return -ENOMEM;
	}
	fh->blob = dfs_blob_ref(info.blob);
	fi->keep_cache = dfs_cache_opened(p.s->cache, p.id, info.gen);
	fi->fh = (uint64_t)(uintptr_t)fh;
	dfs_rec_info_clear(&info);
	return 0;
}

/*
 * A new file in a set folder.  Writing a record name that a rename away hid
 * (vim's and emacs' backup dance) writes that record; any other name is a
 * local file, and a ".json" one gets the id it will be saved as now.
 */
static int dfs_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_local *l = NULL;
	struct dfs_fh *fh = NULL;
	struct dfs_path p;
	int ret, depth;

	if ((ret = resolve_parent(fs, path, &p, &depth)) < 0)
		return refuse_new_name(path, ret, depth);
	if (p.depth < 3)
		return p.depth == 2 ? -EEXIST : -EPERM;
	if (p.t->tc->read_only)
		return -EROFS;
	if (p.is_record && dfs_locals_hidden(p.s->locals, p.id)) {
		dfs_locals_unhide(p.s->locals, p.id);
		if ((ret = fh_new_writable(fs, &p, 1, &fh)) < 0)
			return ret;
		fi->fh = (uint64_t)(uintptr_t)fh;
		return 0;
	}
	ret = dfs_local_create(p.s->locals, p.name, S_IFREG | (mode & 07777), &l);
	if (ret == -EEXIST && !(fi->flags & O_EXCL) && (l = dfs_local_get(p.s->locals, p.name)))
		ret = 0;
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&l->lock);
	if (has_json_suffix(p.name) && !l->id[0]) {
		if (p.is_record)
			snprintf(l->id, sizeof(l->id), "%s", p.id);
		else
			ret = new_guid(l->id);
	}
	pthread_mutex_unlock(&l->lock);
	if (ret == 0)
		ret = open_local(&p, l, fi);
	dfs_local_put(l);
	return ret;
}

static int dfs_read(const char *path, char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct dfs_fh *fh = (struct dfs_fh *)(uintptr_t)fi->fh;
	pthread_mutex_t *lock = NULL;
	const char *data;
	size_t len;

	if (off < 0)
		return -EINVAL;
	if (fh->local) {
		lock = &fh->local->lock;
		pthread_mutex_lock(lock);
		data = fh->local->data.data;
		len = fh->local->data.len;
	} else if (fh->writable) {
		lock = &fh->lock;
		pthread_mutex_lock(lock);
		data = fh->stage.data;
		len = fh->stage.len;
	} else {
		data = fh->blob->data;
		len = fh->blob->len;
	}
	if ((size_t)off >= len)
		size = 0;
	else if (size > len - (size_t)off)
		size = len - (size_t)off;
	if (size)
		memcpy(buf, data + off, size);
	if (lock)
		pthread_mutex_unlock(lock);
	return (int)size;
}

/* Write SIZE bytes at OFF into B (growing it); called with its lock held. */
static int buf_write(struct dfs_buf *b, const char *buf, size_t size, off_t off)
{
	size_t end = (size_t)off + size;
	int ret;

	if (end > b->len && (ret = buf_resize(b, end)) < 0)
		return ret;
	memcpy(b->data + off, buf, size);
	return 0;
}

static int dfs_write(const char *path, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct dfs_fh *fh = (struct dfs_fh *)(uintptr_t)fi->fh;
	struct dfs_local *l = fh->local;
	int ret;

	if (off < 0)
		return -EINVAL;
	if (l) {
		pthread_mutex_lock(&l->lock);
		if ((ret = buf_write(&l->data, buf, size, off)) == 0) {
			l->dirty = 1;
			l->emptied = 0;
			l->wgen++;
			clock_gettime(CLOCK_REALTIME, &l->mtime);
			l->ctime = l->mtime;
		}
		pthread_mutex_unlock(&l->lock);
		return ret < 0 ? ret : (int)size;
	}
	if (!fh->writable)
		return -EBADF;
	pthread_mutex_lock(&fh->lock);
	if ((ret = buf_write(&fh->stage, buf, size, off)) == 0) {
		fh->dirty = 1;
		fh->emptied = 0;
	}
	pthread_mutex_unlock(&fh->lock);
	return ret < 0 ? ret : (int)size;
}

/*
 * Keep the user's bytes where they can find them, with the reason beside
 * them: <rescue dir>/<name without .json>.<UTC time>.json and ….error.
 * A leading dot is dropped so the copy is not hidden (rsync's .f.json.XXXXXX).
 * Writes the rescue file's path into WHERE.
 */
static int rescue(struct dfs_tenant *t, struct dfs_set *set, const char *name,
		  const char *data, size_t len, const char *why,
		  char *where, size_t cap)
{
	char stamp[32], *dir, *text = NULL, *errpath = NULL;
	const char *shown = name;
	struct timespec now;
	struct tm tm;
	int ret, n, stem;

	while (*name == '.')
		name++;
	stem = (int)strlen(name) - (has_json_suffix(name) ? 5 : 0);
	/* Rescued records may hold personal data: private, under the user's
	 * state directory, or a private one in /tmp for a daemon without HOME. */
	dir = dfs_state_path("rescue/%s/%s", t->tc->name, set->ent->set_name);
	if (!dir && asprintf(&dir, "/tmp/dynfs-%u/rescue/%s/%s", (unsigned)getuid(),
			     t->tc->name, set->ent->set_name) < 0)
		return -ENOMEM;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	n = snprintf(where, cap, "%s/%.*s.%s.%03ldZ.json", dir, stem, name,
		     stamp, now.tv_nsec / 1000000);
	free(dir);
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	if ((ret = dfs_write_private(where, data, len, NULL)) < 0)
		return ret;
	if (asprintf(&errpath, "%.*s.error", (int)(strlen(where) - 5), where) < 0)
		errpath = NULL;
	if (asprintf(&text, "%s/%s/%s: %s\n", t->tc->name, set->ent->set_name, shown, why) < 0)
		text = NULL;
	ret = errpath && text ? dfs_write_private(errpath, text, strlen(text), NULL) : -ENOMEM;
	free(errpath);
	free(text);
	return ret;
}

/* Column metadata of set S, fetched at its first save and kept. */
static int set_schema(struct dfs_tenant *t, struct dfs_set *s, const struct dfs_schema **out,
		      char *why, size_t cap)
{
	struct dfs_http_error err = { "", "" };
	int ret = 0;

	pthread_mutex_lock(&s->schema_lock);
	if (!s->schema && (ret = dfs_schema_fetch(t->dv, s->ent, &s->schema, &err)) < 0)
		snprintf(why, cap, "cannot read the columns of '%s': %s", s->ent->logical_name,
			 err.message[0] ? err.message : strerror(-ret));
	*out = s->schema;
	pthread_mutex_unlock(&s->schema_lock);
	return ret;
}

/*
 * Which target of a polymorphic lookup (a customer: account or contact)
 * holds record ID.  A mounted set's cache answers without a request.
 */
static int resolve_target(void *ctx, const struct dfs_column *col, const char *id,
			  const struct dfs_lookup_target **out)
{
	struct dfs_tenant *t = ctx;
	struct dfs_rec_info info;
	size_t i, j;
	int ret;

	for (i = 0; i < col->n_targets; i++)
		for (j = 0; j < t->n_sets && col->targets[i].set_name; j++)
			if (strcmp(t->sets[j].ent->set_name, col->targets[i].set_name) == 0 &&
			    dfs_cache_get(t->sets[j].cache, id, &info)) {
				dfs_rec_info_clear(&info);
				*out = &col->targets[i];
				return 0;
			}
	for (i = 0; i < col->n_targets; i++) {
		if (!col->targets[i].set_name)
			continue;
		if ((ret = dfs_dv_exists(t->dv, col->targets[i].set_name, id)) < 0)
			return ret;
		if (ret == 1) {
			*out = &col->targets[i];
			return 0;
		}
	}
	return -ENOENT;
}

/* GET record P->id regardless of what the cache or the last listing say. */
static int fetch_record(struct dfs_path *p, struct dfs_rec_info *info)
{
	cJSON *rec = NULL;
	int ret;

	if ((ret = dfs_dv_get(p->t->dv, p->s->ent, p->id, NULL, &rec)) < 0)
		return ret;
	ret = cache_record(p->s, p->id, rec, dfs_now());
	cJSON_Delete(rec);
	if (ret < 0)
		return ret;
	return dfs_cache_get(p->s->cache, p->id, info) ? 0 : -ENOENT;
}

/* One write of a file's bytes to a record: what decides it, and what came of it. */
struct dfs_write {
	const char *name_id;     /* the GUID of a "<guid>.json" name: it decides the record */
	const char *fallback_id; /* else the file's primary key, else this */
	struct dfs_blob *base;   /* an in-place edit: the version read at open */
	const char *base_etag;
	const char *name;        /* for messages */
	char id[37];             /* out: the record written */
	int sent;                /* out: a write request went out */
	int created;             /* out: the record was created */
	char why[1400];          /* out: why it failed */
};

/* The record id a file's primary key names, lower-cased; -EINVAL if not a GUID. */
static int file_key(const cJSON *file, const struct dfs_entity *ent, char id[37], int *found)
{
	const char *pk = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(file, ent->primary_id));
	char name[64];
	size_t i;

	*found = 0;
	if (!pk)
		return 0;
	snprintf(name, sizeof(name), "%.40s.json", pk);
	for (i = 0; name[i]; i++)
		if (name[i] >= 'A' && name[i] <= 'F')
			name[i] = (char)(name[i] - 'A' + 'a');
	if (!dfs_record_name_to_id(name, id))
		return -EINVAL;
	*found = 1;
	return 0;
}

/*
 * The file name says which record is written, so a different primary key in
 * the file is someone else's: fine in a copy of another record (`cp
 * other.json f.json`, its versionnumber differs), an error in an edit of
 * this one (same versionnumber), where the user must have meant it.
 */
static int check_key(const cJSON *file, const cJSON *base, const struct dfs_entity *ent,
		     struct dfs_write *w)
{
	const cJSON *v_file = cJSON_GetObjectItemCaseSensitive(file, "versionnumber");
	const cJSON *v_base = cJSON_GetObjectItemCaseSensitive(base, "versionnumber");
	char id[37];
	int found;

	if (file_key(file, ent, id, &found) == 0 && found && strcmp(id, w->id) == 0)
		return 0;
	if (!cJSON_GetObjectItemCaseSensitive(file, ent->primary_id))
		return 0;
	if (v_file && v_base && !dfs_schema_same_value(v_file, v_base))
		return 0;
	snprintf(w->why, sizeof(w->why), "column '%s' is the record's id and cannot be changed"
		 " (the file name says which record this is)", ent->primary_id);
	return -EINVAL;
}

/*
 * Write DATA (a record file's bytes) to the server as a record of set S:
 * update it when it exists -- only the columns that changed, If-Match the
 * version the edit started from -- or create it with the id decided here.
 * The one place that chooses between update and create; see SEMANTICS.md.
 */
static int write_record(struct dfs_fs *fs, struct dfs_tenant *t, struct dfs_set *s,
			const char *data, size_t len, struct dfs_write *w)
{
	struct dfs_path p = { .depth = 3, .t = t, .s = s, .is_record = 1 };
	struct dfs_http_error err = { "", "" };
	const struct dfs_schema *schema;
	struct dfs_rec_info info = { 0 };
	cJSON *file = NULL, *base = NULL, *body = NULL, *rec = NULL;
	const char *etag = w->base_etag;
	char errbuf[256];
	struct dfs_buf out;
	int ret, found, dropped = 0, creating = 0, retried = 0;

	dfs_buf_init(&out, 0);
	file = dfs_json_parse(data ? data : "", len, errbuf, sizeof(errbuf));
	if (!file) {
		snprintf(w->why, sizeof(w->why), "invalid JSON: %s", errbuf);
		ret = -EINVAL;
		goto out;
	}
	if (!cJSON_IsObject(file)) {
		snprintf(w->why, sizeof(w->why), "a record file must hold one JSON object");
		ret = -EINVAL;
		goto out;
	}
	/* Which record: the file name, else the primary key in the file, else
	 * the id picked when the file was created. */
	if (w->name_id) {
		snprintf(w->id, sizeof(w->id), "%s", w->name_id);
	} else if ((ret = file_key(file, s->ent, w->id, &found)) < 0) {
		snprintf(w->why, sizeof(w->why), "column '%s' must be a GUID", s->ent->primary_id);
		goto out;
	} else if (!found) {
		if (w->fallback_id && w->fallback_id[0])
			snprintf(w->id, sizeof(w->id), "%s", w->fallback_id);
		else if ((ret = new_guid(w->id)) < 0)
			goto out;
	}
	snprintf(p.id, sizeof(p.id), "%s", w->id);
	if ((ret = set_schema(t, s, &schema, w->why, sizeof(w->why))) < 0)
		goto out;

again:
	if (w->base && !retried) {
		base = dfs_json_parse(w->base->data, w->base->len, errbuf, sizeof(errbuf));
	} else {
		ret = retried ? fetch_record(&p, &info) : get_record(fs, &p, &info);
		if (ret == -ENOENT) {
			creating = 1;
		} else if (ret < 0) {
			snprintf(w->why, sizeof(w->why), "cannot read the record's current version: %s",
				 strerror(-ret));
			goto out;
		} else {
			base = dfs_json_parse(info.blob->data, info.blob->len, errbuf, sizeof(errbuf));
			etag = info.etag;
		}
	}
	if (!creating && !base) {
		snprintf(w->why, sizeof(w->why), "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	if (!creating && w->name_id && (ret = check_key(file, base, s->ent, w)) < 0)
		goto out;
	if ((ret = dfs_schema_body(schema, file, creating ? NULL : base, &body, &dropped, w->why,
				   sizeof(w->why), resolve_target, t)) < 0)
		goto out;
	if (dropped)
		dfs_info("%s/%s/%s: %d read-only column(s) left out of the request", t->tc->name,
			 s->ent->set_name, w->name, dropped);
	if (!creating && !body->child) {
		dfs_debug("%s/%s/%s: unchanged, nothing sent", t->tc->name, s->ent->set_name, w->name);
		ret = 0;
		goto out;
	}
	if ((ret = dfs_json_render_compact(body, &out)) < 0) {
		snprintf(w->why, sizeof(w->why), "cannot build the request: %s", strerror(-ret));
		goto out;
	}
	w->sent = 1;
	if (creating) {
		ret = dfs_dv_create(t->dv, s->ent, w->id, out.data, out.len, &rec, &err);
		if (ret == -ESTALE && !retried) {
			/* It exists after all (created meanwhile, or the listing
			 * was old): read it and update it instead. */
			retried = 1;
			creating = 0;
			cJSON_Delete(body);
			body = NULL;
			dfs_buf_free(&out);
			dfs_buf_init(&out, 0);
			dfs_rec_info_clear(&info);
			goto again;
		}
	} else {
		ret = dfs_dv_update(t->dv, s->ent, w->id, etag, out.data, out.len, &rec, &err);
	}
	if (ret < 0) {
		if (ret == -ESTALE)
			snprintf(w->why, sizeof(w->why), "conflict: the record was changed on the server"
				 " since it was read (%s %s)", err.code, err.message);
		else
			snprintf(w->why, sizeof(w->why), "the server refused the %s: %s%s%s",
				 creating ? "new record" : "change", err.code, err.code[0] ? " " : "",
				 err.message);
		goto out;
	}
	/* The server's answer is the new cached version. */
	if (!rec || cache_record(s, w->id, rec, dfs_now()) < 0)
		dfs_cache_touch(s->cache, w->id, -1e9); /* none: the next access asks */
	if (creating) {
		w->created = 1;
		dfs_cache_listing_add(s->cache, w->id);
	}
	dfs_cache_set_error(s->cache, w->id, NULL);
	dfs_cache_forget_opened(s->cache, w->id);
	ret = 0;
out:
	dfs_rec_info_clear(&info);
	dfs_buf_free(&out);
	cJSON_Delete(file);
	cJSON_Delete(base);
	cJSON_Delete(body);
	cJSON_Delete(rec);
	return ret;
}

/*
 * A save failed: keep the user's bytes in the rescue folder and log why.
 * Returns the message for user.dynfs.error (malloc'd, or NULL).
 */
static char *report_failure(struct dfs_tenant *t, struct dfs_set *s, const char *name,
			    const char *data, size_t len, const char *why)
{
	char where[4200], *full = NULL;
	int r;

	r = rescue(t, s, name, data ? data : "", len, why, where, sizeof(where));
	if (asprintf(&full, "save failed: %s; your version is kept in %s", why,
		     r == 0 ? where : "(rescue failed)") < 0)
		full = NULL;
	dfs_err("%s/%s/%s: %s", t->tc->name, s->ent->set_name, name, full ? full : why);
	return full;
}

/*
 * Save a writable record handle (close, fsync): the record its name says,
 * diffed against the version read at open.  Called with fh->lock held.  A
 * failure is reported once: a second close of a dup'd descriptor must not
 * resend or rescue again.
 */
static int save_record_handle(struct dfs_fs *fs, struct dfs_fh *fh)
{
	struct dfs_write w = { .name_id = fh->id, .base = fh->base, .base_etag = fh->base_etag,
			       .name = fh->name };
	struct dfs_rec_info info;
	char *msg;
	int ret;

	if (!fh->dirty)
		return 0;
	fh->dirty = 0;
	ret = write_record(fs, fh->t, fh->s, fh->stage.data, fh->stage.len, &w);
	if (ret < 0) {
		msg = report_failure(fh->t, fh->s, fh->name, fh->stage.data, fh->stage.len, w.why);
		dfs_cache_set_error(fh->s->cache, fh->id, msg ? msg : w.why);
		free(msg);
		return ret;
	}
	if (!w.sent)
		return 0;
	/* The new version is the base of further saves through this handle. */
	if (dfs_cache_get(fh->s->cache, fh->id, &info)) {
		dfs_blob_unref(fh->base);
		fh->base = dfs_blob_ref(info.blob);
		free(fh->base_etag);
		fh->base_etag = info.etag ? strdup(info.etag) : NULL;
		dfs_rec_info_clear(&info);
	}
	dfs_info("%s/%s/%s: saved", fh->t->tc->name, fh->s->ent->set_name, fh->name);
	return 0;
}

/*
 * Save local file L as a record: a written ".json" file being closed, or
 * any local file renamed onto a ".json" name (FORCE: its content counts as
 * new even if it was not written through this mount).  NAME is the name it
 * is saved under; NAME_ID the GUID when that is a record name.  The bytes
 * are copied out so a slow request never blocks the folder.
 */
static int save_local(struct dfs_fs *fs, struct dfs_tenant *t, struct dfs_set *s,
		      struct dfs_local *l, const char *name, const char *name_id, int force)
{
	struct dfs_write w = { .name_id = name_id, .name = name };
	char fallback[37], *data = NULL, *msg = NULL;
	unsigned long gen;
	size_t len;
	int ret;

	pthread_mutex_lock(&l->lock);
	if (!force && (!l->dirty || l->emptied)) {
		pthread_mutex_unlock(&l->lock);
		return 0;
	}
	/*
	 * The kernel retries a path operation that failed with ESTALE once
	 * (retry_estale): the same bytes failing the same way a moment ago
	 * get the same answer without a second request or rescue copy.
	 */
	if (force && l->failed_errno && l->failed_wgen == l->wgen &&
	    dfs_now() - l->failed_at < 2.0) {
		ret = l->failed_errno;
		pthread_mutex_unlock(&l->lock);
		return ret;
	}
	len = l->data.len;
	if (!(data = malloc(len + 1))) {
		pthread_mutex_unlock(&l->lock);
		return -ENOMEM;
	}
	memcpy(data, l->data.data ? l->data.data : "", len);
	data[len] = '\0';
	snprintf(fallback, sizeof(fallback), "%s", l->id);
	gen = l->wgen;
	pthread_mutex_unlock(&l->lock);

	w.fallback_id = fallback;
	ret = write_record(fs, t, s, data, len, &w);
	if (ret < 0)
		msg = report_failure(t, s, name, data, len, w.why);

	pthread_mutex_lock(&l->lock);
	if (l->wgen == gen)
		l->dirty = 0;
	free(l->error);
	l->error = NULL;
	l->failed_errno = ret;
	l->failed_wgen = gen;
	l->failed_at = dfs_now();
	if (ret == 0) {
		l->saved = 1;
		snprintf(l->id, sizeof(l->id), "%s", w.id);
	} else {
		l->error = msg ? msg : strdup(w.why);
		msg = NULL;
		/* Saved onto a record's name: the user looks for the reason there. */
		if (name_id)
			dfs_cache_set_error(s->cache, name_id, l->error ? l->error : w.why);
	}
	pthread_mutex_unlock(&l->lock);
	if (ret == 0 && w.sent)
		dfs_info("%s/%s/%s: %s %s.json", t->tc->name, s->ent->set_name, name,
			 w.created ? "created record" : "saved as", w.id);
	free(msg);
	free(data);
	return ret;
}

/* Close or fsync of a local file: a written ".json" one is saved. */
static int save_local_handle(struct dfs_fs *fs, struct dfs_fh *fh)
{
	char id[37], *name = dfs_local_name(fh->s->locals, fh->local);
	int ret = 0;

	/* A saved name a new listing retired is still that record to the
	 * program writing it; a file the user unlinked has nowhere to go. */
	if (!name && fh->local->retired)
		name = strdup(fh->name);
	/* Other names stay local. */
	if (name && has_json_suffix(name))
		ret = save_local(fs, fh->t, fh->s, fh->local, name,
				 dfs_record_name_to_id(name, id) ? id : NULL, 0);
	free(name);
	return ret;
}

static int save_handle(struct dfs_fh *fh)
{
	int ret;

	if (!fh)
		return 0;
	if (fh->local)
		return save_local_handle(get_fs(), fh);
	if (!fh->writable)
		return 0;
	pthread_mutex_lock(&fh->lock);
	ret = save_record_handle(get_fs(), fh);
	pthread_mutex_unlock(&fh->lock);
	dfs_cache_forget_opened(fh->s->cache, fh->id);
	return ret;
}

/* close(): the save happens here, so close reports whether it landed. */
static int dfs_flush(const char *path, struct fuse_file_info *fi)
{
	return save_handle((struct dfs_fh *)(uintptr_t)fi->fh);
}

static int dfs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	return save_handle((struct dfs_fh *)(uintptr_t)fi->fh);
}

static int dfs_release(const char *path, struct fuse_file_info *fi)
{
	struct dfs_fh *fh = (struct dfs_fh *)(uintptr_t)fi->fh;

	if (fh && fh->writable && fh->emptied)
		dfs_warn("%s/%s/%s: emptied and closed without new content: nothing was saved, the"
			 " record is unchanged", fh->t->tc->name, fh->s->ent->set_name, fh->name);
	fh_free(fh);
	return 0;
}

static int dfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_fh *fh = fi ? (struct dfs_fh *)(uintptr_t)fi->fh : NULL;
	struct dfs_local *l = NULL;
	struct dfs_path p;
	int ret;

	if (size < 0)
		return -EINVAL;
	if (fh && fh->local) {
		pthread_mutex_lock(&fh->local->lock);
		ret = local_resize(fh->local, (size_t)size);
		pthread_mutex_unlock(&fh->local->lock);
		return ret;
	}
	if (fh && fh->writable) {
		pthread_mutex_lock(&fh->lock);
		ret = stage_resize(fh, (size_t)size);
		pthread_mutex_unlock(&fh->lock);
		return ret;
	}
	if ((ret = resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth < 3)
		return -EISDIR;
	if (p.t->tc->read_only)
		return -EROFS;
	if ((l = local_or_alias(&p))) {
		pthread_mutex_lock(&l->lock);
		ret = local_resize(l, (size_t)size);
		pthread_mutex_unlock(&l->lock);
		dfs_local_put(l);
		return ret;
	}
	if (!record_visible(&p))
		return -ENOENT;
	/* truncate(2) on a record's path: a whole edit of its own, saved at once. */
	if ((ret = fh_new_writable(fs, &p, 0, &fh)) < 0)
		return ret;
	pthread_mutex_lock(&fh->lock);
	ret = stage_resize(fh, (size_t)size);
	if (ret == 0)
		ret = save_record_handle(fs, fh);
	pthread_mutex_unlock(&fh->lock);
	fh_free(fh);
	return ret;
}

/* ---- names -------------------------------------------------------------- */

/*
 * rm of a record deletes it on the server -- only where the tenant's config
 * says allow_delete = true, because a record is not a file anyone can get
 * back.  A local file just goes.
 */
static int dfs_unlink(const char *path)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_http_error err = { "", "" };
	struct dfs_local *l;
	struct dfs_path p;
	int ret;

	if ((ret = resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth < 3)
		return -EISDIR;
	if (p.t->tc->read_only)
		return -EROFS;
	if ((l = local_lookup(&p))) {
		dfs_local_put(l);
		return dfs_local_unlink(p.s->locals, p.name);
	}
	if (!record_visible(&p))
		return -ENOENT;
	if (!p.t->tc->allow_delete) {
		dfs_warn("%s/%s/%s: not deleted: deleting records is off for this tenant (set"
			 " allow_delete = true in [%s] of the config to allow rm)", p.t->tc->name,
			 p.s->ent->set_name, p.name, p.t->tc->name);
		return -EPERM;
	}
	if ((ret = dfs_dv_delete(p.t->dv, p.s->ent, p.id, &err)) < 0 && ret != -ENOENT)
		return ret;
	/* A saved alias of it has nothing left to stand for. */
	dfs_local_unlink(p.s->locals, p.name);
	dfs_cache_remove(p.s->cache, p.id);
	if (ret == 0)
		dfs_info("%s/%s/%s: deleted", p.t->tc->name, p.s->ent->set_name, p.name);
	return ret;
}

/* Replace local TO (if any) with a new local file holding DATA. */
static int local_from_bytes(struct dfs_set *s, const char *to, const char *data, size_t len,
			    time_t mtime, const char *id, int noreplace)
{
	struct dfs_local *l = NULL;
	int ret;

	if (!noreplace)
		dfs_local_unlink(s->locals, to);
	if ((ret = dfs_local_create(s->locals, to, S_IFREG | 0644, &l)) < 0)
		return ret;
	pthread_mutex_lock(&l->lock);
	ret = dfs_buf_append(&l->data, data, len);
	l->mtime.tv_sec = mtime;
	l->mtime.tv_nsec = 0;
	if (id)
		snprintf(l->id, sizeof(l->id), "%s", id);
	pthread_mutex_unlock(&l->lock);
	if (ret < 0)
		dfs_local_unlink(s->locals, to);
	dfs_local_put(l);
	return ret;
}

/*
 * rename(2) inside a set folder:
 * - a local file onto a ".json" name saves its content as that record (a
 *   record name decides the id); the rename fails, and the file stays, if
 *   the save does;
 * - a local file onto any other name just renames it;
 * - a record onto a non-record name copies its bytes into a local file and
 *   hides the record's name until it is written again or the folder is
 *   listed anew: the record is not deleted (that is what backup-by-rename in
 *   vim and emacs needs);
 * - a record onto another record name is refused: a record's name is its id.
 */
static int dfs_rename(const char *from, const char *to, unsigned int flags)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_path a, b;
	struct dfs_local *l = NULL, *there;
	struct dfs_rec_info info;
	int ret, depth, noreplace = !!(flags & RENAME_NOREPLACE);

	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return -EINVAL;
	if ((ret = resolve(fs, from, &a)) < 0)
		return ret;
	if ((ret = resolve_parent(fs, to, &b, &depth)) < 0)
		return refuse_new_name(to, ret, depth);
	if (a.depth < 3 || b.depth < 3)
		return -EPERM; /* tenants and sets are not renamed */
	if (a.s != b.s)
		return -EXDEV;
	if (a.t->tc->read_only)
		return -EROFS;
	if (strcmp(a.name, b.name) == 0)
		return 0;
	if (noreplace) {
		there = local_lookup(&b);
		if (there || (record_visible(&b) && dfs_cache_get(b.s->cache, b.id, &info) &&
			      (dfs_rec_info_clear(&info), 1))) {
			dfs_local_put(there);
			return -EEXIST;
		}
	}

	if ((l = local_lookup(&a))) {
		if (has_json_suffix(b.name)) {
			if (S_ISLNK(l->mode)) {
				ret = -EINVAL;
				goto out;
			}
			if ((ret = save_local(fs, a.t, a.s, l, b.name, b.is_record ? b.id : NULL, 1)) < 0)
				goto out;
			if (b.is_record) {
				/* The record answers under its own name now. */
				dfs_locals_unhide(b.s->locals, b.id);
				dfs_local_unlink(a.s->locals, a.name);
				dfs_local_unlink(b.s->locals, b.name);
				goto out;
			}
		}
		ret = dfs_local_rename(a.s->locals, a.name, b.name, noreplace);
		goto out;
	}

	if (!record_visible(&a))
		return -ENOENT;
	if (b.is_record) {
		dfs_warn("%s/%s: cannot rename %s to %s: a record's file name is its id",
			 a.t->tc->name, a.s->ent->set_name, a.name, b.name);
		return -EPERM;
	}
	if ((ret = get_record(fs, &a, &info)) < 0)
		return ret;
	ret = local_from_bytes(a.s, b.name, info.blob->data, info.blob->len, info.mtime, a.id,
			       noreplace);
	dfs_rec_info_clear(&info);
	if (ret == 0)
		ret = dfs_locals_hide(a.s->locals, a.id);
	return ret;
out:
	dfs_local_put(l);
	return ret;
}

static int dfs_symlink(const char *target, const char *path)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_local *l;
	struct dfs_path p;
	int ret, depth;

	if ((ret = resolve_parent(fs, path, &p, &depth)) < 0)
		return refuse_new_name(path, ret, depth);
	if (p.depth < 3)
		return -EEXIST;
	if (p.t->tc->read_only)
		return -EROFS;
	if (p.is_record)
		return -EPERM; /* record names hold records */
	if ((ret = dfs_local_create(p.s->locals, p.name, S_IFLNK | 0777, &l)) < 0)
		return ret;
	pthread_mutex_lock(&l->lock);
	ret = dfs_buf_append(&l->data, target, strlen(target));
	pthread_mutex_unlock(&l->lock);
	dfs_local_put(l);
	if (ret < 0)
		dfs_local_unlink(p.s->locals, p.name);
	return ret;
}

static int dfs_readlink(const char *path, char *buf, size_t size)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_local *l;
	struct dfs_path p;
	int ret;

	if ((ret = resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth < 3 || !(l = local_lookup(&p)))
		return -EINVAL;
	pthread_mutex_lock(&l->lock);
	if (!S_ISLNK(l->mode)) {
		ret = -EINVAL;
	} else if (size > 0) {
		snprintf(buf, size, "%.*s", (int)l->data.len, l->data.data ? l->data.data : "");
		ret = 0;
	}
	pthread_mutex_unlock(&l->lock);
	dfs_local_put(l);
	return ret;
}

static int dfs_link(const char *from, const char *to)
{
	return -EPERM;
}

/* Folders are tenants and entity sets; neither is made or removed here. */
static int dfs_mkdir(const char *path, mode_t mode)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_path p;
	int ret, depth;

	struct dfs_local *l;

	if ((ret = resolve_parent(fs, path, &p, &depth)) == 0) {
		if (p.depth < 3)
			return -EEXIST;
		/* The kernel looked the name up first: a record is not there. */
		if ((l = local_lookup(&p))) {
			dfs_local_put(l);
			return -EEXIST;
		}
	} else if ((ret = refuse_new_name(path, ret, depth)) != -EPERM) {
		return ret;
	}
	dfs_warn("mkdir %s: not possible: folders are the tenants of the config and the entity"
		 " sets of Dataverse", path);
	return -EPERM;
}

static int dfs_rmdir(const char *path)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_path p;
	int ret;

	if ((ret = resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth == 3)
		return -ENOTDIR;
	if (p.depth == 0)
		return -EBUSY;
	dfs_warn("rmdir %s: not possible: folders are the tenants of the config and the entity"
		 " sets of Dataverse", path);
	return -EPERM;
}

/*
 * Dataverse has no modes, owners or settable times: on records they are
 * accepted (so cp -p, rsync -a and tar succeed) and change nothing on the
 * server.  Local files keep mode and times like any file.
 */
static struct dfs_local *local_of(const char *path, struct fuse_file_info *fi, int *ret)
{
	struct dfs_fh *fh = fi ? (struct dfs_fh *)(uintptr_t)fi->fh : NULL;
	struct dfs_path p;

	*ret = 0;
	if (fh)
		return dfs_local_ref(fh->local);
	if ((*ret = resolve(get_fs(), path, &p)) < 0 || p.depth < 3)
		return NULL;
	return local_or_alias(&p);
}

static int dfs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct dfs_local *l;
	int ret;

	if (!(l = local_of(path, fi, &ret)))
		return ret;
	pthread_mutex_lock(&l->lock);
	l->mode = (l->mode & S_IFMT) | (mode & 07777);
	clock_gettime(CLOCK_REALTIME, &l->ctime);
	pthread_mutex_unlock(&l->lock);
	dfs_local_put(l);
	return 0;
}

static int dfs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct dfs_local *l;
	int ret;

	l = local_of(path, fi, &ret);
	dfs_local_put(l);
	return ret;
}

static int dfs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct dfs_local *l;
	int ret;

	if (!(l = local_of(path, fi, &ret)))
		return ret;
	pthread_mutex_lock(&l->lock);
	if (tv[1].tv_nsec == UTIME_NOW)
		clock_gettime(CLOCK_REALTIME, &l->mtime);
	else if (tv[1].tv_nsec != UTIME_OMIT)
		l->mtime = tv[1];
	clock_gettime(CLOCK_REALTIME, &l->ctime);
	pthread_mutex_unlock(&l->lock);
	dfs_local_put(l);
	return 0;
}

/* ---- extended attributes ------------------------------------------------ */

static int xattr_reply(const char *value, char *buf, size_t size)
{
	size_t n = strlen(value);

	if (size == 0)
		return (int)n;
	if (size < n)
		return -ERANGE;
	memcpy(buf, value, n);
	return (int)n;
}

/* user.dynfs.id and .error of a local file: what its last save did. */
static int local_xattr(struct dfs_local *l, const char *name, char *buf, size_t size)
{
	int ret = -ENODATA;

	pthread_mutex_lock(&l->lock);
	if (strcmp(name, XATTR_ERROR) == 0 && l->error)
		ret = xattr_reply(l->error, buf, size);
	else if (strcmp(name, XATTR_ID) == 0 && l->saved)
		ret = xattr_reply(l->id, buf, size);
	pthread_mutex_unlock(&l->lock);
	return ret;
}

static int dfs_getxattr(const char *path, const char *name, char *buf, size_t size)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_rec_info info;
	struct dfs_local *l;
	struct dfs_path p;
	char *url = NULL;
	int ret;

	if ((ret = resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth < 3)
		return -ENODATA;
	if ((l = local_or_alias(&p))) {
		ret = local_xattr(l, name, buf, size);
		dfs_local_put(l);
		return ret;
	}
	if (!record_visible(&p))
		return -ENOENT;
	if (strcmp(name, XATTR_ERROR) == 0) {
		char *msg = dfs_cache_error(p.s->cache, p.id);
		ret = msg ? xattr_reply(msg, buf, size) : -ENODATA;
		free(msg);
		return ret;
	}
	if (strcmp(name, XATTR_ETAG) != 0 && strcmp(name, XATTR_URL) != 0 &&
	    strcmp(name, XATTR_ID) != 0)
		return -ENODATA;
	if ((ret = get_record(fs, &p, &info)) < 0)
		return ret;
	if (strcmp(name, XATTR_ETAG) == 0) {
		ret = info.etag ? xattr_reply(info.etag, buf, size) : -ENODATA;
	} else if (strcmp(name, XATTR_ID) == 0) {
		ret = xattr_reply(p.id, buf, size);
	} else if (asprintf(&url, "%s%s(%s)", dfs_dv_api_url(p.t->dv), p.s->ent->set_name,
			    p.id) < 0) {
		ret = -ENOMEM;
	} else {
		ret = xattr_reply(url, buf, size);
		free(url);
	}
	dfs_rec_info_clear(&info);
	return ret;
}

/* Append NAME (with its NUL) to the list being built. */
static void xattr_name(char *list, size_t *n, const char *name)
{
	memcpy(list + *n, name, strlen(name) + 1);
	*n += strlen(name) + 1;
}

static int dfs_listxattr(const char *path, char *buf, size_t size)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_local *l;
	struct dfs_path p;
	char names[128], *msg;
	size_t n = 0;
	int ret;

	if ((ret = resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth < 3)
		return 0;
	if ((l = local_or_alias(&p))) {
		pthread_mutex_lock(&l->lock);
		if (l->saved)
			xattr_name(names, &n, XATTR_ID);
		if (l->error)
			xattr_name(names, &n, XATTR_ERROR);
		pthread_mutex_unlock(&l->lock);
		dfs_local_put(l);
	} else {
		if (!record_visible(&p))
			return -ENOENT;
		xattr_name(names, &n, XATTR_ETAG);
		xattr_name(names, &n, XATTR_URL);
		xattr_name(names, &n, XATTR_ID);
		/* user.dynfs.error is listed only while there is one. */
		if ((msg = dfs_cache_error(p.s->cache, p.id)))
			xattr_name(names, &n, XATTR_ERROR);
		free(msg);
	}
	if (size == 0)
		return (int)n;
	if (size < n)
		return -ERANGE;
	memcpy(buf, names, n);
	return (int)n;
}

/* ---- the rest ----------------------------------------------------------- */

static int dfs_statfs(const char *path, struct statvfs *sv)
{
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = 4096;
	sv->f_frsize = 4096;
	sv->f_namemax = 255;
	return 0;
}

static void *dfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/*
	 * Attributes are served from our own cache without server requests,
	 * so the kernel need not keep them: with attr_timeout 0 a size or
	 * mtime changed by a save (or a write the server rejected) is never
	 * seen stale.
	 */
	cfg->entry_timeout = 1;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->kernel_cache = 0;
	/*
	 * Unlink and rename mean what they say: without hard_remove libfuse
	 * would turn the removal of an open file into a rename to
	 * .fuse_hiddenXXX -- for a record, a rename away.  Handles carry all
	 * they need, so operations on an unlinked open file get no path.
	 */
	cfg->hard_remove = 1;
	cfg->nullpath_ok = 1;
	/* O_TRUNC arrives with open(), so a truncating open is one edit. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	return get_fs();
}

const struct fuse_operations dfs_fs_operations = {
	.init = dfs_init,
	.getattr = dfs_getattr,
	.opendir = dfs_opendir,
	.readdir = dfs_readdir,
	.releasedir = dfs_releasedir,
	.open = dfs_open,
	.create = dfs_create,
	.read = dfs_read,
	.write = dfs_write,
	.flush = dfs_flush,
	.fsync = dfs_fsync,
	.release = dfs_release,
	.truncate = dfs_truncate,
	.unlink = dfs_unlink,
	.rename = dfs_rename,
	.symlink = dfs_symlink,
	.readlink = dfs_readlink,
	.link = dfs_link,
	.mkdir = dfs_mkdir,
	.rmdir = dfs_rmdir,
	.chmod = dfs_chmod,
	.chown = dfs_chown,
	.utimens = dfs_utimens,
	.getxattr = dfs_getxattr,
	.listxattr = dfs_listxattr,
	.statfs = dfs_statfs,
};
