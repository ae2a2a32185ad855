/* tree.c - the mounted tree: tenants and their sets, paths, attributes and
 * open-file handles (see tree.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsops.h"
#include "log.h"
#include "state.h"
#include "record.h"
#include "tree.h"

/* ---- tenants ------------------------------------------------------------ */

/* Local files end with the mount: say which, so nobody is surprised. */
static int warn_discarded(void *ctx, struct dfs_local *l, const char *name)
{
	struct dfs_set *s = ctx;

	dfs_warn("%s/%s: local file discarded at unmount (it was never saved to Dataverse)",
		 s->ent->set_name, name);
	return 0;
}

static void tenant_free(struct dfs_tenant *t)
{
	size_t i;

	/* Unmounted with files still open: the kernel will not release them. */
	while (t->fhs)
		dfs_fh_free(t->fhs);
	pthread_mutex_destroy(&t->fh_lock);

	for (i = 0; i < t->n_sets; i++) {
		if (t->sets[i].locals)
			dfs_locals_walk(t->sets[i].locals, warn_discarded, &t->sets[i]);
		dfs_cache_free(&t->sets[i].cache);
		dfs_locals_free(&t->sets[i].locals);
		dfs_schema_free(&t->sets[i].schema);
		free(t->sets[i].delta_link);
		pthread_mutex_destroy(&t->sets[i].list_lock);
		pthread_mutex_destroy(&t->sets[i].schema_lock);
	}
	free(t->sets);
	dfs_dv_entities_free(t->ents, t->n_sets);
	dfs_dv_free(&t->dv);
}

static int tenant_connect(struct dfs_fs *fs, struct dfs_tenant *t,
			  const struct dfs_tenant_config *tc)
{
	const struct dfs_config *cfg = fs->cfg;
	struct dfs_http_error err = { "", "" };
	size_t i;
	int ret;

	t->tc = tc;
	pthread_mutex_init(&t->fh_lock, NULL);
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
		if (!(t->sets[i].cache = dfs_cache_new(fs->pool)) ||
		    !(t->sets[i].locals = dfs_locals_new()))
			return -ENOMEM;
	}
	dfs_info("%s: connected to %s, %zu entity set(s)", tc->name, tc->url, t->n_sets);
	return 0;
}

struct dfs_fs *dfs_fs_new(const struct dfs_config *cfg)
{
	struct dfs_fs *fs = calloc(1, sizeof(*fs));
	char *spill_dir;
	size_t i;
	int failed = 0;

	if (!fs)
		return NULL;
	fs->cfg = cfg;
	fs->uid = getuid();
	fs->gid = getgid();
	fs->started = time(NULL);
	spill_dir = dfs_cache_dir();
	fs->pool = dfs_cache_pool_new(cfg->cache_size, spill_dir);
	free(spill_dir);
	fs->tenants = calloc(cfg->n_tenants, sizeof(*fs->tenants));
	if (!fs->tenants || !fs->pool) {
		dfs_cache_pool_free(&fs->pool);
		free(fs->tenants);
		free(fs);
		return NULL;
	}
	fs->n_tenants = cfg->n_tenants;
	for (i = 0; i < cfg->n_tenants; i++)
		if (tenant_connect(fs, &fs->tenants[i], &cfg->tenants[i]) < 0)
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
	dfs_cache_pool_free(&fs->pool);
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

int dfs_resolve_parent(struct dfs_fs *fs, const char *path, struct dfs_path *p,
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

int dfs_refuse_new_name(const char *path, int ret, int parent_depth)
{
	int n = 0;

	for (; path && *path; path++)
		if (*path != '/' && (path[1] == '/' || path[1] == '\0'))
			n++;
	return ret == -ENOENT && parent_depth == n - 1 ? -EPERM : ret;
}

int dfs_resolve(struct dfs_fs *fs, const char *path, struct dfs_path *p)
{
	return dfs_resolve_parent(fs, path, p, NULL);
}

int dfs_record_visible(const struct dfs_path *p)
{
	return p->is_record && !dfs_locals_hidden(p->s->locals, p->id);
}

struct dfs_local *dfs_path_local(struct dfs_path *p)
{
	return dfs_local_lookup(p->s->locals, p->name, p->is_record);
}

struct dfs_local *dfs_path_local_or_alias(struct dfs_path *p)
{
	return dfs_local_or_alias(p->s->locals, p->name, p->id, &p->is_record);
}

/* ---- attributes --------------------------------------------------------- */

void dfs_dir_stat(const struct dfs_fs *fs, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = 2;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_mtime = st->st_ctime = st->st_atime = fs->started;
}

void dfs_file_stat(const struct dfs_fs *fs, struct stat *st, size_t size, time_t mtime)
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

void dfs_local_file_stat(const struct dfs_fs *fs, struct dfs_local *l, struct stat *st)
{
	dfs_file_stat(fs, st, 0, 0);
	dfs_local_stat(l, st);
}

/* ---- open files --------------------------------------------------------- */

struct dfs_fh *dfs_fh_new(const struct dfs_path *p)
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
	pthread_mutex_lock(&fh->t->fh_lock);
	fh->next = fh->t->fhs;
	if (fh->next)
		fh->next->prev = fh;
	fh->t->fhs = fh;
	pthread_mutex_unlock(&fh->t->fh_lock);
	return fh;
}

void dfs_fh_free(struct dfs_fh *fh)
{
	if (!fh)
		return;
	pthread_mutex_lock(&fh->t->fh_lock);
	if (fh->prev)
		fh->prev->next = fh->next;
	else
		fh->t->fhs = fh->next;
	if (fh->next)
		fh->next->prev = fh->prev;
	pthread_mutex_unlock(&fh->t->fh_lock);
	dfs_blob_unref(fh->blob);
	dfs_local_put(fh->local);
	if (fh->draft == &fh->own) {
		dfs_draft_free(&fh->own);
		dfs_blob_unref(fh->base);
		free(fh->base_etag);
	}
	free(fh->name);
	free(fh);
}
