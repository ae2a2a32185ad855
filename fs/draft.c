/* draft.c - the bytes of a file being written (see draft.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "draft.h"
#include "util.h"
#include "banned.h"

/* What all drafts hold (see dfs_drafts_set_limit). */
static pthread_mutex_t total_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t total_bytes, total_limit;

void dfs_drafts_set_limit(size_t limit)
{
	pthread_mutex_lock(&total_lock);
	total_limit = limit;
	pthread_mutex_unlock(&total_lock);
}

size_t dfs_drafts_used(size_t *limit)
{
	size_t n;

	pthread_mutex_lock(&total_lock);
	n = total_bytes;
	if (limit)
		*limit = total_limit;
	pthread_mutex_unlock(&total_lock);
	return n;
}

/*
 * A draft of OLD bytes becomes NEW bytes long: count it, or -ENOSPC when
 * growing past the bound.  Called before the change; give back with the
 * arguments swapped if it then fails.
 */
static int account(size_t old, size_t new)
{
	int ret = 0;

	pthread_mutex_lock(&total_lock);
	if (new > old && total_limit && total_bytes + (new - old) > total_limit)
		ret = -ENOSPC;
	else
		total_bytes = (total_bytes >= old ? total_bytes - old : 0) + new;
	pthread_mutex_unlock(&total_lock);
	return ret;
}

static void touch(struct dfs_draft *d)
{
	d->wgen++;
	clock_gettime(CLOCK_REALTIME, &d->mtime);
	d->ctime = d->mtime;
}

void dfs_draft_init(struct dfs_draft *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->save_lock, NULL);
	dfs_buf_init(&d->bytes, DFS_FILE_MAX);
	clock_gettime(CLOCK_REALTIME, &d->mtime);
	d->ctime = d->mtime;
}

void dfs_draft_free(struct dfs_draft *d)
{
	account(d->bytes.len, 0);
	dfs_buf_free(&d->bytes);
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->save_lock);
}

int dfs_draft_fill(struct dfs_draft *d, const char *data, size_t len)
{
	int ret;

	pthread_mutex_lock(&d->lock);
	if ((ret = account(d->bytes.len, len)) == 0) {
		d->bytes.len = 0;
		if ((ret = dfs_buf_append(&d->bytes, data, len)) < 0)
			account(len, d->bytes.len);
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}

size_t dfs_draft_read(struct dfs_draft *d, char *buf, size_t size, size_t off)
{
	pthread_mutex_lock(&d->lock);
	if (off >= d->bytes.len)
		size = 0;
	else if (size > d->bytes.len - off)
		size = d->bytes.len - off;
	if (size)
		memcpy(buf, d->bytes.data + off, size);
	pthread_mutex_unlock(&d->lock);
	return size;
}

int dfs_draft_write(struct dfs_draft *d, const char *buf, size_t size, size_t off)
{
	int ret;

	size_t old, end = off + size < off ? (size_t)-1 : off + size;

	pthread_mutex_lock(&d->lock);
	old = d->bytes.len;
	if (end > DFS_FILE_MAX)
		ret = -EFBIG;
	else
		ret = account(old, end > old ? end : old);
	if (ret == 0 && (ret = dfs_buf_write(&d->bytes, buf, size, off)) < 0)
		account(end > old ? end : old, old);
	if (ret == 0) {
		d->dirty = 1;
		d->emptied = 0;
		touch(d);
	} else if (ret == -EFBIG || ret == -ENOSPC) {
		/* The close must fail too, and rescue what there is. */
		if (!d->failed_write)
			d->failed_write = ret;
		d->dirty = 1;
		d->emptied = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}

int dfs_draft_failed_write(struct dfs_draft *d)
{
	int ret;

	pthread_mutex_lock(&d->lock);
	ret = d->failed_write;
	pthread_mutex_unlock(&d->lock);
	return ret;
}

int dfs_draft_truncate(struct dfs_draft *d, size_t len)
{
	int ret;

	size_t old;

	pthread_mutex_lock(&d->lock);
	old = d->bytes.len;
	if ((ret = len > DFS_FILE_MAX ? -EFBIG : account(old, len)) == 0 &&
	    (ret = dfs_buf_resize(&d->bytes, len)) < 0)
		account(len, old);
	if (ret == 0) {
		d->emptied = len == 0;
		d->dirty = len != 0;
		if (!len)
			d->failed_write = 0;
		touch(d);
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}

size_t dfs_draft_size(struct dfs_draft *d, int *emptied)
{
	size_t n;

	pthread_mutex_lock(&d->lock);
	n = d->bytes.len;
	if (emptied)
		*emptied = d->emptied;
	pthread_mutex_unlock(&d->lock);
	return n;
}

int dfs_draft_unsaved(struct dfs_draft *d)
{
	int unsaved;

	pthread_mutex_lock(&d->lock);
	unsaved = d->dirty && !d->emptied;
	pthread_mutex_unlock(&d->lock);
	return unsaved;
}

char *dfs_draft_take(struct dfs_draft *d, int force, size_t *len, unsigned long *gen, int *err)
{
	char *data = NULL;

	*err = 0;
	pthread_mutex_lock(&d->lock);
	if (!force && (!d->dirty || d->emptied))
		goto out;
	if (!(data = malloc(d->bytes.len + 1))) {
		*err = -ENOMEM;
		goto out;
	}
	memcpy(data, d->bytes.data ? d->bytes.data : "", d->bytes.len);
	data[d->bytes.len] = '\0';
	*len = d->bytes.len;
	*gen = d->wgen;
out:
	pthread_mutex_unlock(&d->lock);
	return data;
}

void dfs_draft_done(struct dfs_draft *d, unsigned long gen)
{
	pthread_mutex_lock(&d->lock);
	if (d->wgen == gen)
		d->dirty = 0;
	pthread_mutex_unlock(&d->lock);
}
