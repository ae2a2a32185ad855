/* tree.c - the mounted tree: tenants and their sets, paths, attributes and
 * open-file handles (see tree.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "fsops.h"
#include "log.h"
#include "notify.h"
#include "pending.h"
#include "state.h"
#include "record.h"
#include "tree.h"
#include "banned.h"

/* ---- tenants ------------------------------------------------------------ */

/* Local files end with the mount: say which, so nobody is surprised. */
static int warn_discarded(void *ctx, struct dfs_local *l, const char *name)
{
	struct dfs_set *s = ctx;

	dfs_warn("%s/%s: local file discarded at unmount (it was never saved to Dataverse)",
		 s->ent->set_name, name);
	return 0;
}

static void free_sets(struct dfs_set *sets, size_t n)
{
	size_t i;

	for (i = 0; sets && i < n; i++) {
		if (sets[i].locals)
			dfs_locals_walk(sets[i].locals, warn_discarded, &sets[i]);
		dfs_cache_free(&sets[i].cache);
		dfs_locals_free(&sets[i].locals);
		dfs_schema_free(&sets[i].schema);
		free(sets[i].delta_link);
		pthread_mutex_destroy(&sets[i].list_lock);
		pthread_mutex_destroy(&sets[i].schema_lock);
	}
	free(sets);
}

static void tenant_free(struct dfs_tenant *t)
{
	/* Unmounted with files still open: the kernel will not release them. */
	while (t->fhs)
		dfs_fh_free(t->fhs);
	if (!t->tc)
		return;         /* never initialised (out of memory at start-up) */
	pthread_mutex_destroy(&t->fh_lock);
	pthread_mutex_destroy(&t->connect_lock);
	free_sets(t->sets, t->n_sets);
	dfs_pending_free(&t->pending);
	dfs_dv_entities_free(t->ents, t->n_sets);
	dfs_dv_free(&t->dv);
}

int dfs_tenant_ready(const struct dfs_tenant *t)
{
	return __atomic_load_n(&t->ready, __ATOMIC_ACQUIRE);
}

/*
 * WhoAmI, then the entity sets.  WhoAmI proves the URL, TLS, the
 * credentials and Dataverse access; the specific error was logged on the
 * way.  On failure ERR (or the errno) says why.
 */
static uint64_t set_ino(const struct dfs_fs *fs, const struct dfs_tenant *t, size_t i)
{
	return 1ULL << 40 | (uint64_t)(t - fs->tenants) << 20 | (uint64_t)i;
}

static int tenant_load(struct dfs_fs *fs, struct dfs_tenant *t, struct dfs_http_error *err)
{
	const struct dfs_tenant_config *tc = t->tc;
	struct dfs_entity *ents = NULL;
	struct dfs_set *sets = NULL;
	size_t i, n = 0;
	int ret;

	if ((ret = dfs_dv_whoami(t->dv, err)) < 0) {
		dfs_err("%s: cannot use %s: %s", tc->name, tc->url,
			ret == -EACCES ? "access refused (see above)" : strerror(-ret));
		return ret;
	}
	if ((ret = dfs_dv_entities(t->dv, &ents, &n, err)) < 0) {
		dfs_err("%s: cannot load entity sets: %s", tc->name, err->message[0] ? err->message
									  : strerror(-ret));
		return ret;
	}
	if (!(sets = calloc(n ? n : 1, sizeof(*sets)))) {
		ret = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < n; i++) {
		sets[i].ent = &ents[i];
		sets[i].ino = set_ino(fs, t, i);
		pthread_mutex_init(&sets[i].list_lock, NULL);
		pthread_mutex_init(&sets[i].schema_lock, NULL);
		if (!(sets[i].cache = dfs_cache_new(fs->pool)) ||
		    dfs_notify_watch(sets[i].cache, tc->name, ents[i].set_name) < 0 ||
		    !(sets[i].locals = dfs_locals_new())) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	t->ents = ents;
	t->sets = sets;
	t->n_sets = n;
	__atomic_store_n(&t->ready, 1, __ATOMIC_RELEASE);
	dfs_info("%s: connected to %s, %zu entity set(s)", tc->name, tc->url, n);
	return 0;
fail:
	free_sets(sets, n);
	dfs_dv_entities_free(ents, n);
	return ret;
}

/*
 * Will a tenant that failed this way work later without anyone editing the
 * configuration?  Network and server trouble, throttling, and credentials
 * that expired (a new secret in the secret file, or `dynfs login`, heals the
 * mounted tenant) will; a refused secret, a missing entity set or an
 * untrusted certificate will not.
 */
static int may_pass(int ret, const struct dfs_http_error *err)
{
	static const char *const expired[] = {
		"AADSTS7000222:",       /* the client secret expired */
		"AADSTS70008:",         /* the refresh token expired or was revoked */
		"AADSTS700082:",        /* ... after a long time unused */
	};
	size_t i;

	switch (ret) {
	case -ECONNREFUSED:
	case -ECONNRESET:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -ETIMEDOUT:
	case -EAGAIN:
	case -EIO:
		return 1;
	}
	for (i = 0; i < sizeof(expired) / sizeof(expired[0]); i++)
		if (strncmp(err->message, expired[i], strlen(expired[i])) == 0)
			return 1;
	return 0;
}

#define CONNECT_HOLDOFF_MIN 5.0
#define CONNECT_HOLDOFF_MAX 30.0

static void connect_failed(struct dfs_tenant *t, int ret, const struct dfs_http_error *err)
{
	t->connect_errno = ret;
	if (err->message[0])
		snprintf(t->connect_why, sizeof(t->connect_why), "%s%s%s", err->code,
			 err->code[0] ? ": " : "", err->message);
	else
		snprintf(t->connect_why, sizeof(t->connect_why), "%s", strerror(-ret));
	t->connect_at = dfs_now();
	t->connect_holdoff = t->connect_holdoff ? 2 * t->connect_holdoff : CONNECT_HOLDOFF_MIN;
	if (t->connect_holdoff > CONNECT_HOLDOFF_MAX)
		t->connect_holdoff = CONNECT_HOLDOFF_MAX;
}

int dfs_tenant_ensure(struct dfs_fs *fs, struct dfs_tenant *t)
{
	struct dfs_http_error err = { "", "" };
	int ret = 0;

	if (dfs_tenant_ready(t))
		return 0;
	pthread_mutex_lock(&t->connect_lock);
	if (dfs_tenant_ready(t))
		goto out;
	if (t->connect_errno && dfs_now() - t->connect_at < t->connect_holdoff) {
		ret = t->connect_errno;
		goto out;
	}
	ret = tenant_load(fs, t, &err);
	if (ret == 0) {
		dfs_warn("%s: connected: %zu entity set(s)", t->tc->name, t->n_sets);
		t->connect_errno = 0;
		t->connect_why[0] = '\0';
		t->connect_holdoff = 0;
		goto out;
	}
	connect_failed(t, ret, &err);
	/* What a caller can act on: a lost answer, not out of memory. */
	if (ret == -ENOMEM)
		t->connect_holdoff = 0;
out:
	pthread_mutex_unlock(&t->connect_lock);
	return ret;
}

void dfs_tenant_retry_now(struct dfs_tenant *t)
{
	pthread_mutex_lock(&t->connect_lock);
	t->connect_holdoff = 0;
	pthread_mutex_unlock(&t->connect_lock);
}

struct dfs_fs *dfs_fs_new(const struct dfs_config *cfg)
{
	struct dfs_fs *fs = calloc(1, sizeof(*fs));
	char *spill_dir;
	size_t i;

	if (!fs)
		return NULL;
	fs->cfg = cfg;
	fs->uid = getuid();
	fs->gid = getgid();
	fs->started = time(NULL);
	spill_dir = dfs_cache_dir();
	fs->pool = dfs_cache_pool_new(cfg->cache_size, spill_dir);
	dfs_drafts_set_limit(cfg->local_size);
	free(spill_dir);
	fs->tenants = calloc(cfg->n_tenants ? cfg->n_tenants : 1, sizeof(*fs->tenants));
	if (!fs->tenants || !fs->pool)
		goto fail;
	fs->n_tenants = cfg->n_tenants;
	for (i = 0; i < cfg->n_tenants; i++) {
		struct dfs_tenant *t = &fs->tenants[i];

		if (!(t->dv = dfs_dv_new(&cfg->tenants[i], cfg)))
			goto fail;
		t->tc = &cfg->tenants[i];
		if (!(t->pending = dfs_pending_open(t->tc->name)))
			goto fail;
		pthread_mutex_init(&t->fh_lock, NULL);
		pthread_mutex_init(&t->connect_lock, NULL);
	}
	return fs;
fail:
	dfs_fs_free(&fs);
	return NULL;
}

int dfs_fs_connect(struct dfs_fs *fs)
{
	struct dfs_http_error err;
	int failed = 0, ret, last = 0;
	size_t i;

	for (i = 0; i < fs->n_tenants; i++) {
		struct dfs_tenant *t = &fs->tenants[i];

		memset(&err, 0, sizeof(err));
		pthread_mutex_lock(&t->connect_lock);
		ret = tenant_load(fs, t, &err);
		if (ret < 0 && may_pass(ret, &err)) {
			connect_failed(t, ret, &err);
			dfs_warn("%s: mounted, not connected yet: %s; its files fail with '%s' until "
				 "it connects (tried again at the next access, at most every %.0f s)",
				 t->tc->name, t->connect_why, strerror(-ret), CONNECT_HOLDOFF_MAX);
			ret = 0;
		}
		pthread_mutex_unlock(&t->connect_lock);
		if (ret < 0) {
			failed++;
			last = ret;
		}
	}
	if (failed) {
		dfs_err("not mounted: %d of %zu tenant(s) failed (see above)", failed, fs->n_tenants);
		return last;
	}
	return 0;
}

void dfs_fs_refresh(struct dfs_fs *fs)
{
	size_t i, j;

	for (i = 0; i < fs->n_tenants; i++) {
		struct dfs_tenant *t = &fs->tenants[i];

		dfs_auth_renew_soon(dfs_dv_auth(t->dv));
		if (!dfs_tenant_ready(t)) {
			dfs_tenant_retry_now(t);
			continue;
		}
		for (j = 0; j < t->n_sets; j++)
			dfs_cache_listing_expire(t->sets[j].cache);
	}
}

void dfs_fs_free(struct dfs_fs **fsp)
{
	struct dfs_fs *fs = *fsp;
	size_t i;

	if (!fs)
		return;
	for (i = 0; fs->tenants && i < fs->n_tenants; i++)
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
	int n, ret;

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
	/* A tenant not connected yet: every name in it fails with the reason. */
	if ((ret = dfs_tenant_ensure(fs, p->t)) < 0)
		return ret;
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
	return dfs_local_or_alias(p->s->locals, p->name, p->id, &p->is_record, &p->alias_ino);
}

/* ---- attributes --------------------------------------------------------- */

uint64_t dfs_dir_ino(const struct dfs_fs *fs, const struct dfs_path *p)
{
	uint64_t t = p->depth >= 1 ? (uint64_t)(p->t - fs->tenants) : 0;

	if (p->depth <= 0)
		return 1;
	if (p->depth == 1)
		return 2 + t;
	return p->s->ino;
}

void dfs_dir_stat(const struct dfs_fs *fs, struct stat *st, uint64_t ino)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0755;
	st->st_nlink = 2;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_mtime = st->st_ctime = st->st_atime = fs->started;
}

void dfs_file_stat(const struct dfs_fs *fs, struct stat *st, uint64_t ino, size_t size,
		   time_t mtime)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
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
	dfs_file_stat(fs, st, 0, 0, 0);
	dfs_local_stat(l, st);
}

/* ---- open files --------------------------------------------------------- */

struct dfs_fh *dfs_fh_new(const struct dfs_path *p)
{
	struct dfs_fh *fh = calloc(1, sizeof(*fh));
	uint8_t id16[16];

	if (!fh)
		return NULL;
	fh->t = p->t;
	fh->s = p->s;
	snprintf(fh->id, sizeof(fh->id), "%s", p->is_record ? p->id : "");
	if (p->is_record && !(fh->ino = p->alias_ino) && dfs_guid_pack(p->id, id16) == 0)
		fh->ino = dfs_ino_record(p->s->ino, id16);
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
