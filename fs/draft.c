/* draft.c - the bytes of a file being written (see draft.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "draft.h"
#include "util.h"
#include "banned.h"

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
	dfs_buf_free(&d->bytes);
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->save_lock);
}

int dfs_draft_fill(struct dfs_draft *d, const char *data, size_t len)
{
	int ret;

	pthread_mutex_lock(&d->lock);
	d->bytes.len = 0;
	ret = dfs_buf_append(&d->bytes, data, len);
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

	pthread_mutex_lock(&d->lock);
	if ((ret = dfs_buf_write(&d->bytes, buf, size, off)) == 0) {
		d->dirty = 1;
		d->emptied = 0;
		touch(d);
	} else if (ret == -EFBIG) {
		/* The close must fail too, and rescue what there is. */
		d->overflow = 1;
		d->dirty = 1;
		d->emptied = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return ret;
}

int dfs_draft_overflowed(struct dfs_draft *d)
{
	int ret;

	pthread_mutex_lock(&d->lock);
	ret = d->overflow;
	pthread_mutex_unlock(&d->lock);
	return ret;
}

int dfs_draft_truncate(struct dfs_draft *d, size_t len)
{
	int ret;

	pthread_mutex_lock(&d->lock);
	if ((ret = dfs_buf_resize(&d->bytes, len)) == 0) {
		d->emptied = len == 0;
		d->dirty = len != 0;
		if (!len)
			d->overflow = 0;
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
