/* fsops.c - FUSE operations over tenants, entity sets and record files.
 *
 * Every FUSE handler is dfs_<op> and returns 0 or a negative errno.  Records
 * come from the set's cache while they are younger than cache_ttl; after that
 * a read revalidates with If-None-Match (a 304 costs no body).  Listing a set
 * asks for full records, so one listing fills the cache with the content of
 * every file in it: copying a set costs one request per 5000 records.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "buf.h"
#include "cache.h"
#include "dataverse.h"
#include "fsops.h"
#include "json.h"
#include "log.h"
#include "record.h"

#define XATTR_ETAG "user.dynfs.etag"
#define XATTR_URL "user.dynfs.url"
#define XATTR_ERROR "user.dynfs.error"

struct dfs_set {
	struct dfs_entity *ent;
	struct dfs_cache *cache;
	pthread_mutex_t list_lock; /* one listing of this set at a time */
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
 * An open record file.  A read-only open sees the bytes it was opened with.
 * A writable open stages the user's bytes here until flush or fsync saves
 * them; BASE is the version the edit started from, the one the PATCH is
 * computed against and conditioned on (If-Match: BASE_ETAG).
 */
struct dfs_fh {
	struct dfs_blob *blob;   /* read-only opens */
	int writable;
	pthread_mutex_t lock;    /* writable opens: stage, dirty, base */
	struct dfs_buf stage;
	int dirty;               /* written since the last save */
	int emptied;             /* truncated to nothing and not written since */
	struct dfs_blob *base;
	char *base_etag;
};

#define STAGE_MAX (64UL * 1024 * 1024) /* far above any record; stops runaway writes */

/* A path split into its parts; name is the record file name. */
struct dfs_path {
	int depth;               /* 0 root, 1 tenant, 2 set, 3 record */
	struct dfs_tenant *t;
	struct dfs_set *s;
	const char *name;
	char id[37];
};

static struct dfs_fs *get_fs(void)
{
	return fuse_get_context()->private_data;
}

/* ---- tenants ------------------------------------------------------------ */

static void tenant_free(struct dfs_tenant *t)
{
	size_t i;

	for (i = 0; i < t->n_sets; i++) {
		dfs_cache_free(&t->sets[i].cache);
		pthread_mutex_destroy(&t->sets[i].list_lock);
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
		if (!(t->sets[i].cache = dfs_cache_new()))
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

static int resolve(struct dfs_fs *fs, const char *path, struct dfs_path *p)
{
	char part[256];
	const char *rest = path;
	size_t i;
	int n;

	memset(p, 0, sizeof(*p));
	if ((n = next_component(&rest, part, sizeof(part))) <= 0)
		return n < 0 ? -ENAMETOOLONG : 0;
	for (i = 0; i < fs->n_tenants; i++)
		if (strcmp(fs->tenants[i].tc->name, part) == 0)
			break;
	if (i == fs->n_tenants)
		return -ENOENT;
	p->t = &fs->tenants[i];
	p->depth = 1;
	if ((n = next_component(&rest, part, sizeof(part))) <= 0)
		return n < 0 ? -ENAMETOOLONG : 0;
	for (i = 0; i < p->t->n_sets; i++)
		if (strcmp(p->t->sets[i].ent->set_name, part) == 0)
			break;
	if (i == p->t->n_sets)
		return -ENOENT;
	p->s = &p->t->sets[i];
	p->depth = 2;
	while (*rest == '/')
		rest++;
	if (!*rest)
		return 0;
	if (strchr(rest, '/'))
		return -ENOENT;
	p->name = rest;
	p->depth = 3;
	/* Only <guid>.json names a record; anything else does not exist. */
	if (!dfs_record_name_to_id(rest, p->id))
		return -ENOENT;
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

static int dfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_rec_info info;
	struct dfs_path p;
	int ret;

	if (fi && fi->fh) {
		/* fstat of an open file: the bytes it was opened with. */
		struct dfs_fh *fh = (struct dfs_fh *)(uintptr_t)fi->fh;
		if ((ret = resolve(fs, path, &p)) == 0 && p.depth == 3 &&
		    dfs_cache_get(p.s->cache, p.id, &info)) {
			size_t len;
			if (fh->writable) {
				pthread_mutex_lock(&fh->lock);
				len = fh->stage.len;
				pthread_mutex_unlock(&fh->lock);
			} else {
				len = fh->blob->len;
			}
			file_stat(fs, st, len, info.mtime);
			dfs_rec_info_clear(&info);
			return 0;
		}
	}
	if ((ret = resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth < 3) {
		dir_stat(fs, st);
		return 0;
	}
	if ((ret = get_record(fs, &p, &info)) < 0)
		return ret;
	file_stat(fs, st, info.blob->len, info.mtime);
	dfs_rec_info_clear(&info);
	return 0;
}

/* ---- directories -------------------------------------------------------- */

struct fill_ctx {
	struct dfs_fs *fs;
	void *buf;
	fuse_fill_dir_t filler;
};

static int fill_record(void *ctx, const char *id, size_t size, time_t mtime)
{
	struct fill_ctx *fc = ctx;
	struct stat st;
	char name[64];

	file_stat(fc->fs, &st, size, mtime);
	snprintf(name, sizeof(name), "%s.json", id);
	return fc->filler(fc->buf, name, &st, 0, FUSE_FILL_DIR_PLUS) ? -ENOMEM : 0;
}

static int dfs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dfs_fs *fs = get_fs();
	struct fill_ctx fc = { fs, buf, filler };
	struct dfs_path p;
	struct stat st;
	size_t i;
	int ret;

	if ((ret = resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth == 3)
		return -ENOTDIR;
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
		dfs_cache_walk_listing(p.s->cache, fill_record, &fc);
		return 0;
	}
}

/* ---- files -------------------------------------------------------------- */

static void fh_free(struct dfs_fh *fh)
{
	if (!fh)
		return;
	dfs_blob_unref(fh->blob);
	if (fh->writable) {
		dfs_buf_free(&fh->stage);
		dfs_blob_unref(fh->base);
		free(fh->base_etag);
		pthread_mutex_destroy(&fh->lock);
	}
	free(fh);
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
	if (!(fh = calloc(1, sizeof(*fh)))) {
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

static int dfs_open(const char *path, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_rec_info info;
	struct dfs_fh *fh = NULL;
	struct dfs_path p;
	int ret;

	if ((ret = resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth < 3)
		return -EISDIR;
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		if ((ret = fh_new_writable(fs, &p, !!(fi->flags & O_TRUNC), &fh)) < 0)
			return ret;
		fi->fh = (uint64_t)(uintptr_t)fh;
		return 0;
	}
	if ((ret = get_record(fs, &p, &info)) < 0)
		return ret;
	if (!(fh = calloc(1, sizeof(*fh)))) {
		dfs_rec_info_clear(&info);
		return -ENOMEM;
	}
	fh->blob = dfs_blob_ref(info.blob);
	fi->keep_cache = dfs_cache_opened(p.s->cache, p.id, info.gen);
	fi->fh = (uint64_t)(uintptr_t)fh;
	dfs_rec_info_clear(&info);
	return 0;
}

static int dfs_read(const char *path, char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct dfs_fh *fh = (struct dfs_fh *)(uintptr_t)fi->fh;
	const char *data;
	size_t len;

	if (off < 0)
		return -EINVAL;
	if (fh->writable) {
		pthread_mutex_lock(&fh->lock);
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
	if (fh->writable)
		pthread_mutex_unlock(&fh->lock);
	return (int)size;
}

/* Grow or shrink the staged bytes to LEN, zero-filling a gap. */
static int stage_resize(struct dfs_fh *fh, size_t len)
{
	static const char zeros[4096];
	int ret;

	while (fh->stage.len < len)
		if ((ret = dfs_buf_append(&fh->stage, zeros,
					  len - fh->stage.len < sizeof(zeros) ? len - fh->stage.len
									       : sizeof(zeros))) < 0)
			return ret;
	if (fh->stage.len > len) {
		fh->stage.len = len;
		fh->stage.data[len] = '\0';
	}
	/*
	 * An empty file is where every rewrite starts (`> f` opens, the shell
	 * closes a dup, then the program writes): saving it at that point
	 * would reject an edit that has not happened yet.
	 */
	if (len == 0) {
		fh->emptied = 1;
		fh->dirty = 0;
	} else {
		fh->dirty = 1;
	}
	return 0;
}

static int dfs_write(const char *path, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct dfs_fh *fh = (struct dfs_fh *)(uintptr_t)fi->fh;
	size_t end;
	int ret = 0;

	if (!fh->writable)
		return -EBADF;
	if (off < 0)
		return -EINVAL;
	end = (size_t)off + size;
	pthread_mutex_lock(&fh->lock);
	if (end > fh->stage.len)
		ret = stage_resize(fh, end);
	if (ret == 0) {
		memcpy(fh->stage.data + off, buf, size);
		fh->dirty = 1;
		fh->emptied = 0;
	}
	pthread_mutex_unlock(&fh->lock);
	return ret < 0 ? ret : (int)size;
}

/* ---- saving ------------------------------------------------------------- */

/* $XDG_STATE_HOME/dynfs/rescue (default ~/.local/state/dynfs/rescue). */
static int rescue_dir(struct dfs_path *p, char *dir, size_t cap)
{
	const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char *slash;
	int n;

	if (state && *state)
		n = snprintf(dir, cap, "%s/dynfs/rescue/%s/%s", state, p->t->tc->name,
			     p->s->ent->set_name);
	else
		n = snprintf(dir, cap, "%s/.local/state/dynfs/rescue/%s/%s",
			     home && *home ? home : "/tmp", p->t->tc->name, p->s->ent->set_name);
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	/* mkdir -p, private: rescued records may hold personal data. */
	for (slash = strchr(dir + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		*slash = '/';
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int write_file(const char *path, const char *data, size_t len)
{
	char tmp[4200];
	ssize_t n;
	int fd, ret = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -errno;
	while (len > 0) {
		if ((n = write(fd, data, len)) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		data += n;
		len -= (size_t)n;
	}
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0)
		unlink(tmp);
	return ret;
}

/*
 * Keep the user's bytes where they can find them, with the reason beside
 * them: <rescue dir>/<name without .json>.<UTC time>.json and ….error.
 * Writes the rescue file's path into WHERE.
 */
static int rescue(struct dfs_path *p, const char *data, size_t len, const char *why,
		  char *where, size_t cap)
{
	char dir[4000], stamp[32], errpath[4200], *text = NULL;
	struct timespec now;
	struct tm tm;
	int ret, n;

	if ((ret = rescue_dir(p, dir, sizeof(dir))) < 0)
		return ret;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	n = snprintf(where, cap, "%s/%.*s.%s.%03ldZ.json", dir, (int)(strlen(p->name) - 5), p->name,
		     stamp, now.tv_nsec / 1000000);
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	if ((ret = write_file(where, data, len)) < 0)
		return ret;
	snprintf(errpath, sizeof(errpath), "%.*s.error", (int)(strlen(where) - 5), where);
	if (asprintf(&text, "%s/%s/%s: %s\n", p->t->tc->name, p->s->ent->set_name, p->name,
		     why) < 0)
		return -ENOMEM;
	ret = write_file(errpath, text, strlen(text));
	free(text);
	return ret;
}

/*
 * Reduce a JSON number literal to sign, significant digits and a decimal
 * exponent, so "5000000.0000", "5000000" and "5e6" compare equal without
 * going through a double (money has up to 19 significant digits).
 */
static int decimal_normalise(const char *s, char *digits, size_t cap, int *neg, long *exp10)
{
	size_t n = 0;
	long e = 0, frac = 0;
	int seen_point = 0;

	*neg = (*s == '-');
	if (*s == '-' || *s == '+')
		s++;
	for (; *s && *s != 'e' && *s != 'E'; s++) {
		if (*s == '.') {
			seen_point = 1;
			continue;
		}
		if (*s < '0' || *s > '9')
			return -1;
		if (seen_point)
			frac++;
		if (n == 0 && *s == '0')
			continue; /* leading zeros carry no value */
		if (n + 1 >= cap)
			return -1;
		digits[n++] = *s;
	}
	if (*s == 'e' || *s == 'E')
		e = strtol(s + 1, NULL, 10);
	while (n > 0 && digits[n - 1] == '0') {
		n--;
		e++;
	}
	digits[n] = '\0';
	*exp10 = e - frac;
	if (n == 0)
		*neg = 0, *exp10 = 0;
	return 0;
}

static int same_number(const cJSON *a, const cJSON *b)
{
	char da[64], db[64], ta[64], tb[64];
	const char *sa = ta, *sb = tb;
	int na, nb;
	long ea, eb;

	if (cJSON_IsRaw(a))
		sa = a->valuestring;
	else
		snprintf(ta, sizeof(ta), "%.17g", a->valuedouble);
	if (cJSON_IsRaw(b))
		sb = b->valuestring;
	else
		snprintf(tb, sizeof(tb), "%.17g", b->valuedouble);
	if (decimal_normalise(sa, da, sizeof(da), &na, &ea) < 0 ||
	    decimal_normalise(sb, db, sizeof(db), &nb, &eb) < 0)
		return strcmp(sa, sb) == 0;
	return na == nb && ea == eb && strcmp(da, db) == 0;
}

/*
 * Columns are equal when they hold the same value: numbers by decimal value
 * (tools such as jq rewrite 1.0000 as 1), everything else by its JSON.
 */
static int same_value(const cJSON *a, const cJSON *b)
{
	struct dfs_buf x, y;
	int same;

	if (dfs_json_is_number(a) && dfs_json_is_number(b))
		return same_number(a, b);
	dfs_buf_init(&x, 0);
	dfs_buf_init(&y, 0);
	same = dfs_json_render_compact(a, &x) == 0 && dfs_json_render_compact(b, &y) == 0 &&
	       x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
	dfs_buf_free(&x);
	dfs_buf_free(&y);
	return same;
}

/*
 * Build the PATCH body: the columns whose values differ from BASE.  Keys
 * with '@' (annotations) are not data; columns left out of the file are left
 * as they are on the server.  Fills WHY and returns -EINVAL when the file
 * cannot be a record of this entity.
 */
static int diff_record(struct dfs_path *p, const cJSON *edited, const cJSON *base,
		       cJSON *patch, char *why, size_t cap)
{
	const cJSON *item, *was;

	cJSON_ArrayForEach(item, edited) {
		if (strchr(item->string, '@'))
			continue;
		was = cJSON_GetObjectItemCaseSensitive(base, item->string);
		if (!was) {
			snprintf(why, cap, "unknown column '%s': entity '%s' has no such column",
				 item->string, p->s->ent->logical_name);
			return -EINVAL;
		}
		if (same_value(item, was))
			continue;
		if (strcmp(item->string, p->s->ent->primary_id) == 0) {
			snprintf(why, cap, "column '%s' is the record's id and cannot be changed",
				 item->string);
			return -EINVAL;
		}
		if (!cJSON_AddItemToObject(patch, item->string, cJSON_Duplicate(item, 1)))
			return -ENOMEM;
	}
	return 0;
}

/*
 * Save a writable handle: parse, diff against the version it was opened
 * from, PATCH only what changed with If-Match, and refresh the cache from
 * the server's answer.  Called with fh->lock held.  On any failure the
 * user's bytes go to the rescue folder, the reason to the log and to the
 * user.dynfs.error attribute, and the error to close()/fsync().
 */
static int save(struct dfs_fs *fs, struct dfs_path *p, struct dfs_fh *fh)
{
	char errbuf[256], why[1400] = "", where[4200] = "", *full = NULL;
	struct dfs_http_error err = { "", "" };
	cJSON *edited = NULL, *base = NULL, *patch = NULL, *rec = NULL;
	struct dfs_rec_info info = { 0 };
	struct dfs_buf body;
	int ret, r;

	dfs_buf_init(&body, 0);
	if (!fh->dirty)
		return 0;
	edited = dfs_json_parse(fh->stage.data ? fh->stage.data : "", fh->stage.len, errbuf,
				sizeof(errbuf));
	if (!edited) {
		snprintf(why, sizeof(why), "invalid JSON: %s", errbuf);
		ret = -EINVAL;
		goto fail;
	}
	if (!cJSON_IsObject(edited)) {
		snprintf(why, sizeof(why), "a record file must hold one JSON object");
		ret = -EINVAL;
		goto fail;
	}
	base = dfs_json_parse(fh->base->data, fh->base->len, errbuf, sizeof(errbuf));
	patch = cJSON_CreateObject();
	if (!base || !patch) {
		snprintf(why, sizeof(why), "out of memory");
		ret = -ENOMEM;
		goto fail;
	}
	if ((ret = diff_record(p, edited, base, patch, why, sizeof(why))) < 0)
		goto fail;
	if (!patch->child) {
		dfs_debug("%s/%s/%s: unchanged, nothing sent", p->t->tc->name,
			  p->s->ent->set_name, p->name);
		fh->dirty = 0;
		ret = 0;
		goto out;
	}
	if ((ret = dfs_json_render_compact(patch, &body)) < 0) {
		snprintf(why, sizeof(why), "cannot build the request: %s", strerror(-ret));
		goto fail;
	}
	ret = dfs_dv_update(p->t->dv, p->s->ent, p->id, fh->base_etag, body.data, body.len,
			    &rec, &err);
	if (ret < 0) {
		if (ret == -ESTALE)
			snprintf(why, sizeof(why), "conflict: the record was changed on the server"
				 " since it was read (%s %s)", err.code, err.message);
		else
			snprintf(why, sizeof(why), "the server refused the change: %s%s%s",
				 err.code, err.code[0] ? " " : "", err.message);
		goto fail;
	}
	/* The new version becomes the base of further saves through this handle. */
	if (rec && cache_record(p->s, p->id, rec, dfs_now()) == 0 &&
	    dfs_cache_get(p->s->cache, p->id, &info)) {
		dfs_blob_unref(fh->base);
		fh->base = dfs_blob_ref(info.blob);
		free(fh->base_etag);
		fh->base_etag = info.etag ? strdup(info.etag) : NULL;
	} else {
		/* No representation came back: make the next access ask. */
		dfs_cache_touch(p->s->cache, p->id, -1e9);
	}
	dfs_cache_set_error(p->s->cache, p->id, NULL);
	dfs_info("%s/%s/%s: saved", p->t->tc->name, p->s->ent->set_name, p->name);
	fh->dirty = 0;
	ret = 0;
	goto out;

fail:
	r = rescue(p, fh->stage.data ? fh->stage.data : "", fh->stage.len, why, where,
		   sizeof(where));
	if (asprintf(&full, "save failed: %s; your version is kept in %s", why,
		     r == 0 ? where : "(rescue failed)") < 0)
		full = NULL;
	dfs_err("%s/%s/%s: %s", p->t->tc->name, p->s->ent->set_name, p->name,
		full ? full : why);
	dfs_cache_set_error(p->s->cache, p->id, full ? full : why);
	/* Reported once: a second close of a dup'd descriptor must not
	 * resend or rescue again. */
	fh->dirty = 0;
out:
	free(full);
	dfs_rec_info_clear(&info);
	dfs_buf_free(&body);
	cJSON_Delete(edited);
	cJSON_Delete(base);
	cJSON_Delete(patch);
	cJSON_Delete(rec);
	return ret;
}

static int save_handle(const char *path, struct dfs_fh *fh)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_path p;
	int ret;

	if (!fh || !fh->writable)
		return 0;
	if ((ret = resolve(fs, path, &p)) < 0 || p.depth != 3)
		return ret < 0 ? ret : -EIO;
	pthread_mutex_lock(&fh->lock);
	ret = save(fs, &p, fh);
	pthread_mutex_unlock(&fh->lock);
	dfs_cache_forget_opened(p.s->cache, p.id);
	return ret;
}

/* close(): the save happens here, so close reports whether it landed. */
static int dfs_flush(const char *path, struct fuse_file_info *fi)
{
	return save_handle(path, (struct dfs_fh *)(uintptr_t)fi->fh);
}

static int dfs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	return save_handle(path, (struct dfs_fh *)(uintptr_t)fi->fh);
}

static int dfs_release(const char *path, struct fuse_file_info *fi)
{
	struct dfs_fh *fh = (struct dfs_fh *)(uintptr_t)fi->fh;

	if (fh && fh->writable && fh->emptied)
		dfs_warn("%s: emptied and closed without new content: nothing was saved, the"
			 " record is unchanged", path);
	fh_free(fh);
	return 0;
}

static int dfs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_fh *fh = fi ? (struct dfs_fh *)(uintptr_t)fi->fh : NULL;
	struct dfs_path p;
	int ret;

	if (size < 0)
		return -EINVAL;
	if (fh && fh->writable) {
		pthread_mutex_lock(&fh->lock);
		ret = stage_resize(fh, (size_t)size);
		pthread_mutex_unlock(&fh->lock);
		return ret;
	}
	/* truncate(2) on a path: a whole edit of its own, saved at once. */
	if ((ret = resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth < 3)
		return -EISDIR;
	if ((ret = fh_new_writable(fs, &p, 0, &fh)) < 0)
		return ret;
	pthread_mutex_lock(&fh->lock);
	ret = stage_resize(fh, (size_t)size);
	if (ret == 0)
		ret = save(fs, &p, fh);
	pthread_mutex_unlock(&fh->lock);
	fh_free(fh);
	return ret;
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

static int dfs_getxattr(const char *path, const char *name, char *buf, size_t size)
{
	struct dfs_fs *fs = get_fs();
	struct dfs_rec_info info;
	struct dfs_path p;
	char *url = NULL;
	int ret;

	if ((ret = resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth < 3)
		return -ENODATA;
	if (strcmp(name, XATTR_ERROR) == 0) {
		char *msg = dfs_cache_error(p.s->cache, p.id);
		ret = msg ? xattr_reply(msg, buf, size) : -ENODATA;
		free(msg);
		return ret;
	}
	if (strcmp(name, XATTR_ETAG) != 0 && strcmp(name, XATTR_URL) != 0)
		return -ENODATA;
	if ((ret = get_record(fs, &p, &info)) < 0)
		return ret;
	if (strcmp(name, XATTR_ETAG) == 0) {
		ret = info.etag ? xattr_reply(info.etag, buf, size) : -ENODATA;
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

static int dfs_listxattr(const char *path, char *buf, size_t size)
{
	static const char names[] = XATTR_ETAG "\0" XATTR_URL "\0" XATTR_ERROR;
	struct dfs_fs *fs = get_fs();
	struct dfs_path p;
	size_t n = sizeof(names);
	char *msg;
	int ret;

	if ((ret = resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth < 3)
		return 0;
	/* user.dynfs.error is listed only while there is one. */
	msg = dfs_cache_error(p.s->cache, p.id);
	if (!msg)
		n -= sizeof(XATTR_ERROR);
	free(msg);
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

static int dfs_readonly_path(const char *path, mode_t mode)
{
	return -EROFS;
}

static int dfs_readonly_2path(const char *from, const char *to, unsigned int flags)
{
	return -EROFS;
}

static int dfs_readonly_unlink(const char *path)
{
	return -EROFS;
}

static int dfs_readonly_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	return -EROFS;
}

/*
 * Dataverse has no modes, owners or settable times: accept them (so cp -p,
 * rsync -a and tar succeed) and change nothing on the server.
 */
static int dfs_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct dfs_path p;

	return resolve(get_fs(), path, &p);
}

static int dfs_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct dfs_path p;

	return resolve(get_fs(), path, &p);
}

static int dfs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct dfs_path p;

	return resolve(get_fs(), path, &p);
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
	/* O_TRUNC arrives with open(), so a truncating open is one edit. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	return get_fs();
}

const struct fuse_operations dfs_fs_operations = {
	.init = dfs_init,
	.getattr = dfs_getattr,
	.readdir = dfs_readdir,
	.open = dfs_open,
	.read = dfs_read,
	.write = dfs_write,
	.flush = dfs_flush,
	.fsync = dfs_fsync,
	.release = dfs_release,
	.truncate = dfs_truncate,
	.chmod = dfs_chmod,
	.chown = dfs_chown,
	.utimens = dfs_utimens,
	.getxattr = dfs_getxattr,
	.listxattr = dfs_listxattr,
	.statfs = dfs_statfs,
	.mkdir = dfs_readonly_path,
	.rmdir = dfs_readonly_unlink,
	.unlink = dfs_readonly_unlink,
	.rename = dfs_readonly_2path,
	.create = dfs_readonly_create,
};
