/* local.c - files that live only in the mount's memory (see local.h).
 *
 * A folder holds a handful of these at a time (an editor's swap and backup
 * files, a tool's temporary file), so the table is a plain array searched
 * linearly under one mutex.  A file's own state is guarded by its draft's
 * lock; the table's lock is taken first when both are needed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local.h"
#include "util.h"
#include "banned.h"

struct dfs_local {
	/* Set at creation, or under the table's lock. */
	int refs;
	char *name;
	uint64_t ino;            /* dfs_ino_local() at creation, kept when renamed */
	int linked;              /* still in the table (not unlinked or replaced) */
	int retired;             /* dropped as an alias by a new listing, not by the user */

	struct dfs_draft draft;  /* content or a symlink's target; its lock guards all below */
	mode_t mode;             /* S_IFREG or S_IFLNK, and permissions */
	char id[37];             /* ".json" files: the record they are saved as; "" = none yet */
	int saved;               /* was saved as record ID */
	char *error;             /* why the last save failed */
	int failed_errno;        /* ... its errno, */
	unsigned long failed_wgen; /* ... at which write, */
	double failed_at;        /* ... and when (dfs_now) */
};

struct dfs_locals {
	pthread_mutex_t lock;
	struct dfs_local **files;
	size_t n, cap;
	char (*hidden)[37];
	size_t n_hidden, cap_hidden;
};

struct dfs_locals *dfs_locals_new(void)
{
	struct dfs_locals *tab = calloc(1, sizeof(*tab));

	if (tab)
		pthread_mutex_init(&tab->lock, NULL);
	return tab;
}

static void local_free(struct dfs_local *l)
{
	dfs_draft_free(&l->draft);
	free(l->error);
	free(l->name);
	free(l);
}

struct dfs_local *dfs_local_ref(struct dfs_local *l)
{
	if (l)
		__atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
	return l;
}

void dfs_local_put(struct dfs_local *l)
{
	if (l && __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) == 0)
		local_free(l);
}

void dfs_locals_free(struct dfs_locals **tabp)
{
	struct dfs_locals *tab = *tabp;
	size_t i;

	if (!tab)
		return;
	for (i = 0; i < tab->n; i++) {
		tab->files[i]->linked = 0;
		dfs_local_put(tab->files[i]);
	}
	free(tab->files);
	free(tab->hidden);
	pthread_mutex_destroy(&tab->lock);
	free(tab);
	*tabp = NULL;
}

/* Index of NAME, or -1.  Called with the lock held. */
static long find(struct dfs_locals *tab, const char *name)
{
	size_t i;

	for (i = 0; i < tab->n; i++)
		if (strcmp(tab->files[i]->name, name) == 0)
			return (long)i;
	return -1;
}

/* Drop entry I from the table.  Called with the lock held. */
static void drop(struct dfs_locals *tab, size_t i)
{
	struct dfs_local *l = tab->files[i];

	tab->files[i] = tab->files[--tab->n];
	l->linked = 0;
	dfs_local_put(l);
}

struct dfs_local *dfs_local_get(struct dfs_locals *tab, const char *name)
{
	struct dfs_local *l = NULL;
	long i;

	pthread_mutex_lock(&tab->lock);
	if ((i = find(tab, name)) >= 0)
		l = dfs_local_ref(tab->files[i]);
	pthread_mutex_unlock(&tab->lock);
	return l;
}

int dfs_local_create(struct dfs_locals *tab, const char *name, mode_t mode,
		     struct dfs_local **out)
{
	struct dfs_local *l = NULL, **grown;
	int ret = 0;

	pthread_mutex_lock(&tab->lock);
	if (find(tab, name) >= 0) {
		ret = -EEXIST;
		goto out;
	}
	if (tab->n == tab->cap) {
		size_t cap = tab->cap ? tab->cap * 2 : 8;
		if (!(grown = realloc(tab->files, cap * sizeof(*grown)))) {
			ret = -ENOMEM;
			goto out;
		}
		tab->files = grown;
		tab->cap = cap;
	}
	if (!(l = calloc(1, sizeof(*l))) || !(l->name = strdup(name))) {
		free(l);
		ret = -ENOMEM;
		goto out;
	}
	dfs_draft_init(&l->draft);
	l->ino = dfs_ino_local();
	l->mode = mode;
	l->refs = 2; /* the table's and the caller's */
	l->linked = 1;
	tab->files[tab->n++] = l;
	*out = l;
out:
	pthread_mutex_unlock(&tab->lock);
	return ret;
}

char *dfs_local_name(struct dfs_locals *tab, struct dfs_local *l)
{
	char *name = NULL;

	pthread_mutex_lock(&tab->lock);
	if (l->linked)
		name = strdup(l->name);
	pthread_mutex_unlock(&tab->lock);
	return name;
}

int dfs_local_unlink(struct dfs_locals *tab, const char *name)
{
	long i;
	int ret = 0;

	pthread_mutex_lock(&tab->lock);
	if ((i = find(tab, name)) < 0)
		ret = -ENOENT;
	else
		drop(tab, (size_t)i);
	pthread_mutex_unlock(&tab->lock);
	return ret;
}

int dfs_local_rename(struct dfs_locals *tab, const char *from, const char *to, int noreplace)
{
	char *copy = NULL;
	long i, j;
	int ret = 0;

	pthread_mutex_lock(&tab->lock);
	if ((i = find(tab, from)) < 0) {
		ret = -ENOENT;
		goto out;
	}
	if (strcmp(from, to) == 0)
		goto out;
	if (!(copy = strdup(to))) {
		ret = -ENOMEM;
		goto out;
	}
	if ((j = find(tab, to)) >= 0) {
		if (noreplace) {
			ret = -EEXIST;
			goto out;
		}
		drop(tab, (size_t)j);
		/* drop() moved the last entry into slot j: FROM may have moved. */
		i = find(tab, from);
	}
	free(tab->files[i]->name);
	tab->files[i]->name = copy;
	copy = NULL;
out:
	pthread_mutex_unlock(&tab->lock);
	free(copy);
	return ret;
}

int dfs_locals_walk(struct dfs_locals *tab, dfs_local_walk_fn fn, void *ctx)
{
	size_t i;
	int ret = 0, saved;

	pthread_mutex_lock(&tab->lock);
	for (i = 0; i < tab->n && ret == 0; i++) {
		pthread_mutex_lock(&tab->files[i]->draft.lock);
		saved = tab->files[i]->saved;
		pthread_mutex_unlock(&tab->files[i]->draft.lock);
		if (!saved)
			ret = fn(ctx, tab->files[i], tab->files[i]->name);
	}
	pthread_mutex_unlock(&tab->lock);
	return ret;
}

static long find_hidden(struct dfs_locals *tab, const char *id)
{
	size_t i;

	for (i = 0; i < tab->n_hidden; i++)
		if (strcmp(tab->hidden[i], id) == 0)
			return (long)i;
	return -1;
}

int dfs_locals_hide(struct dfs_locals *tab, const char *id)
{
	char (*grown)[37];
	int ret = 0;

	pthread_mutex_lock(&tab->lock);
	if (find_hidden(tab, id) >= 0)
		goto out;
	if (tab->n_hidden == tab->cap_hidden) {
		size_t cap = tab->cap_hidden ? tab->cap_hidden * 2 : 8;
		if (!(grown = realloc(tab->hidden, cap * sizeof(*grown)))) {
			ret = -ENOMEM;
			goto out;
		}
		tab->hidden = grown;
		tab->cap_hidden = cap;
	}
	snprintf(tab->hidden[tab->n_hidden++], sizeof(tab->hidden[0]), "%s", id);
out:
	pthread_mutex_unlock(&tab->lock);
	return ret;
}

void dfs_locals_unhide(struct dfs_locals *tab, const char *id)
{
	long i;

	pthread_mutex_lock(&tab->lock);
	if ((i = find_hidden(tab, id)) >= 0)
		memcpy(tab->hidden[i], tab->hidden[--tab->n_hidden], sizeof(tab->hidden[0]));
	pthread_mutex_unlock(&tab->lock);
}

int dfs_locals_hidden(struct dfs_locals *tab, const char *id)
{
	int hidden;

	pthread_mutex_lock(&tab->lock);
	hidden = find_hidden(tab, id) >= 0;
	pthread_mutex_unlock(&tab->lock);
	return hidden;
}

void dfs_locals_listed(struct dfs_locals *tab)
{
	size_t i = 0;

	pthread_mutex_lock(&tab->lock);
	tab->n_hidden = 0;
	while (i < tab->n) {
		/* Not while a program has it open: an fstat then asks by its name. */
		if (__atomic_load_n(&tab->files[i]->refs, __ATOMIC_ACQUIRE) == 1 &&
		    dfs_local_alias(tab->files[i], NULL)) {
			__atomic_store_n(&tab->files[i]->retired, 1, __ATOMIC_RELEASE);
			drop(tab, i);
		}
		else
			i++;
	}
	pthread_mutex_unlock(&tab->lock);
}

/* ---- lookups ------------------------------------------------------------ */

int dfs_local_alias(struct dfs_local *l, char id[37])
{
	int alias;

	pthread_mutex_lock(&l->draft.lock);
	alias = l->saved && !l->draft.dirty;
	if (alias && id)
		memcpy(id, l->id, sizeof(l->id));
	pthread_mutex_unlock(&l->draft.lock);
	return alias;
}

struct dfs_local *dfs_local_lookup(struct dfs_locals *tab, const char *name, int is_record)
{
	struct dfs_local *l = dfs_local_get(tab, name);

	if (l && is_record && dfs_local_alias(l, NULL)) {
		dfs_local_put(l);
		return NULL;
	}
	return l;
}

struct dfs_local *dfs_local_or_alias(struct dfs_locals *tab, const char *name, char id[37],
				     int *is_record, uint64_t *ino)
{
	struct dfs_local *l = dfs_local_get(tab, name);

	if (l && dfs_local_alias(l, id)) {
		*is_record = 1;
		*ino = l->ino;
		dfs_local_put(l);
		return NULL;
	}
	return l;
}

/* ---- making files ------------------------------------------------------- */

int dfs_local_create_from(struct dfs_locals *tab, const char *name, const char *data,
			  size_t len, time_t mtime, const char *id, int noreplace)
{
	struct dfs_local *l = NULL;
	int ret;

	if (!noreplace)
		dfs_local_unlink(tab, name);
	if ((ret = dfs_local_create(tab, name, S_IFREG | 0644, &l)) < 0)
		return ret;
	/* Through the draft: its bytes count towards local_size. */
	ret = dfs_draft_fill(&l->draft, data, len);
	pthread_mutex_lock(&l->draft.lock);
	l->draft.mtime.tv_sec = mtime;
	l->draft.mtime.tv_nsec = 0;
	if (id)
		snprintf(l->id, sizeof(l->id), "%s", id);
	pthread_mutex_unlock(&l->draft.lock);
	if (ret < 0)
		dfs_local_unlink(tab, name);
	dfs_local_put(l);
	return ret;
}

int dfs_local_symlink(struct dfs_locals *tab, const char *name, const char *target)
{
	struct dfs_local *l;
	int ret;

	if ((ret = dfs_local_create(tab, name, S_IFLNK | 0777, &l)) < 0)
		return ret;
	ret = dfs_draft_fill(&l->draft, target, strlen(target));
	dfs_local_put(l);
	if (ret < 0)
		dfs_local_unlink(tab, name);
	return ret;
}

/* ---- one file ----------------------------------------------------------- */

struct dfs_draft *dfs_local_draft(struct dfs_local *l)
{
	return &l->draft;
}

/* A local file keeps the mode and times it is given, like any file. */
void dfs_local_stat(struct dfs_local *l, struct stat *st)
{
	st->st_ino = l->ino;
	pthread_mutex_lock(&l->draft.lock);
	st->st_size = (off_t)l->draft.bytes.len;
	st->st_blocks = (blkcnt_t)((l->draft.bytes.len + 511) / 512);
	st->st_mode = l->mode;
	st->st_mtim = l->draft.mtime;
	st->st_atim = l->draft.mtime;
	st->st_ctim = l->draft.ctime;
	pthread_mutex_unlock(&l->draft.lock);
}

int dfs_local_is_symlink(struct dfs_local *l)
{
	return S_ISLNK(l->mode); /* the type never changes */
}

void dfs_local_chmod(struct dfs_local *l, mode_t mode)
{
	pthread_mutex_lock(&l->draft.lock);
	l->mode = (l->mode & S_IFMT) | (mode & 07777);
	clock_gettime(CLOCK_REALTIME, &l->draft.ctime);
	pthread_mutex_unlock(&l->draft.lock);
}

void dfs_local_set_mtime(struct dfs_local *l, const struct timespec *tv)
{
	pthread_mutex_lock(&l->draft.lock);
	if (tv->tv_nsec == UTIME_NOW)
		clock_gettime(CLOCK_REALTIME, &l->draft.mtime);
	else if (tv->tv_nsec != UTIME_OMIT)
		l->draft.mtime = *tv;
	clock_gettime(CLOCK_REALTIME, &l->draft.ctime);
	pthread_mutex_unlock(&l->draft.lock);
}

int dfs_local_readlink(struct dfs_local *l, char *buf, size_t size)
{
	struct dfs_buf *b = &l->draft.bytes;

	if (!dfs_local_is_symlink(l))
		return -EINVAL;
	pthread_mutex_lock(&l->draft.lock);
	if (size > 0)
		snprintf(buf, size, "%.*s", (int)b->len, b->data ? b->data : "");
	pthread_mutex_unlock(&l->draft.lock);
	return 0;
}

void dfs_local_id(struct dfs_local *l, char id[37])
{
	pthread_mutex_lock(&l->draft.lock);
	memcpy(id, l->id, sizeof(l->id));
	pthread_mutex_unlock(&l->draft.lock);
}

int dfs_local_claim_id(struct dfs_local *l, const char *id_if_none)
{
	int ret = 0;

	pthread_mutex_lock(&l->draft.lock);
	if (!l->id[0]) {
		if (id_if_none)
			snprintf(l->id, sizeof(l->id), "%s", id_if_none);
		else
			ret = dfs_guid_new(l->id);
	}
	pthread_mutex_unlock(&l->draft.lock);
	return ret;
}

int dfs_local_retired(struct dfs_local *l)
{
	return __atomic_load_n(&l->retired, __ATOMIC_ACQUIRE);
}

int dfs_local_recent_failure(struct dfs_local *l)
{
	int ret = 0;

	pthread_mutex_lock(&l->draft.lock);
	if (l->failed_errno && l->failed_wgen == l->draft.wgen && dfs_now() - l->failed_at < 2.0)
		ret = l->failed_errno;
	pthread_mutex_unlock(&l->draft.lock);
	return ret;
}

void dfs_local_saved(struct dfs_local *l, unsigned long gen, int ret, const char *id, char *msg)
{
	pthread_mutex_lock(&l->draft.lock);
	free(l->error);
	l->error = ret < 0 ? msg : NULL;
	l->failed_errno = ret;
	l->failed_wgen = gen;
	l->failed_at = dfs_now();
	if (ret == 0) {
		l->saved = 1;
		snprintf(l->id, sizeof(l->id), "%s", id);
		free(msg);
	}
	pthread_mutex_unlock(&l->draft.lock);
}

char *dfs_local_error(struct dfs_local *l)
{
	char *msg;

	pthread_mutex_lock(&l->draft.lock);
	msg = l->error ? strdup(l->error) : NULL;
	pthread_mutex_unlock(&l->draft.lock);
	return msg;
}

int dfs_local_saved_id(struct dfs_local *l, char id[37])
{
	int saved;

	pthread_mutex_lock(&l->draft.lock);
	saved = l->saved;
	if (saved)
		memcpy(id, l->id, sizeof(l->id));
	pthread_mutex_unlock(&l->draft.lock);
	return saved;
}
