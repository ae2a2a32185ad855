/* local.c - files that live only in the mount's memory (see local.h).
 *
 * A folder holds a handful of these at a time (an editor's swap and backup
 * files, a tool's temporary file), so the table is a plain array searched
 * linearly under one mutex.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local.h"

#define LOCAL_MAX (64UL * 1024 * 1024) /* same cap as a staged record */

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
	pthread_mutex_destroy(&l->lock);
	dfs_buf_free(&l->data);
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
	pthread_mutex_init(&l->lock, NULL);
	dfs_buf_init(&l->data, LOCAL_MAX);
	l->mode = mode;
	clock_gettime(CLOCK_REALTIME, &l->mtime);
	l->ctime = l->mtime;
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
	int ret = 0, alias;

	pthread_mutex_lock(&tab->lock);
	for (i = 0; i < tab->n && ret == 0; i++) {
		pthread_mutex_lock(&tab->files[i]->lock);
		alias = tab->files[i]->saved;
		pthread_mutex_unlock(&tab->files[i]->lock);
		if (!alias)
			ret = fn(ctx, tab->files[i]);
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
	int alias;

	pthread_mutex_lock(&tab->lock);
	tab->n_hidden = 0;
	while (i < tab->n) {
		pthread_mutex_lock(&tab->files[i]->lock);
		alias = tab->files[i]->saved && !tab->files[i]->dirty;
		pthread_mutex_unlock(&tab->files[i]->lock);
		if (alias) {
			tab->files[i]->retired = 1;
			drop(tab, i);
		}
		else
			i++;
	}
	pthread_mutex_unlock(&tab->lock);
}
