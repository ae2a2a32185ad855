/* lowlevel_dir.c - folders for the FUSE session: opendir, readdir,
 * readdirplus, releasedir (see include/lowlevel.h).
 *
 * The path operation fills entries through a libfuse-style filler; here
 * they become the kernel's reply, and each readdirplus entry that fits is
 * a name the kernel now holds (nodes.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lowlevel.h"
#include "lowlevel_impl.h"
#include "nodes.h"
#include "banned.h"

#define UNKNOWN_INO 0xffffffffULL /* as libfuse: some tools skip entries with d_ino 0 */

/*
 * An open folder.  An operation that gives each entry its offset is read a
 * reply at a time; one that gives offset 0 (a small folder: the root, a
 * tenant) fills ENTRIES whole at offset 0, and replies are cut from it.
 */
struct dir_entry {
	char *name;
	struct stat st;
	int has_st, plus;
};

struct ll_dir {
	uint64_t fh;             /* the operation's handle */
	pthread_mutex_t lock;
	struct dir_entry *entries;
	size_t n, cap;
	int whole;               /* ENTRIES holds the folder */
};

struct fill {
	fuse_req_t req;
	fuse_ino_t ino;
	struct ll_dir *d;
	char *buf;
	size_t size, used;
	int plus;
	int whole;
};

static int is_dot(const char *name)
{
	return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* Add one entry to the reply: 1 when it does not fit. */
static int add_entry(struct fill *f, const char *name, const struct stat *st, off_t off,
		     int plus)
{
	struct fuse_entry_param e;
	size_t need, room = f->size - f->used;

	memset(&e, 0, sizeof(e));
	e.attr.st_ino = st ? st->st_ino : UNKNOWN_INO;
	e.attr.st_mode = st ? st->st_mode : 0;
	if (!f->plus) {
		need = fuse_add_direntry(f->req, f->buf + f->used, room, name, &e.attr, off);
		if (need > room)
			return 1;
		f->used += need;
		return 0;
	}
	if ((need = fuse_add_direntry_plus(f->req, NULL, 0, name, NULL, 0)) > room)
		return 1;
	if (st && plus) {
		e.attr = *st;
		dfs_ll_fix_attr(&e.attr);
		/* The kernel holds the name once the reply is sent: counted
		 * only now that it fits. */
		if (!is_dot(name) && (e.ino = dfs_node_lookup(f->ino, name, &e.attr)))
			e.attr_timeout = e.entry_timeout = DFS_LL_TIMEOUT;
	}
	f->used += fuse_add_direntry_plus(f->req, f->buf + f->used, room, name, &e, off);
	return 0;
}

static int filler(void *ctx, const char *name, const struct stat *st, off_t off,
		  enum fuse_fill_dir_flags flags)
{
	struct fill *f = ctx;
	struct ll_dir *d = f->d;
	struct dir_entry *e;

	if (off && !f->whole)
		return add_entry(f, name, st, off, !!(flags & FUSE_FILL_DIR_PLUS));
	f->whole = 1;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 32;
		struct dir_entry *grown = realloc(d->entries, cap * sizeof(*grown));

		if (!grown)
			return 1;
		d->entries = grown;
		d->cap = cap;
	}
	e = &d->entries[d->n];
	memset(e, 0, sizeof(*e));
	if (!(e->name = strdup(name)))
		return 1;
	if (st)
		e->st = *st, e->has_st = 1;
	e->plus = !!(flags & FUSE_FILL_DIR_PLUS);
	d->n++;
	return 0;
}

static void dir_clear(struct ll_dir *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->entries[i].name);
	d->n = 0;
	d->whole = 0;
}

void dfs_ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_file_info own = *fi;
	struct ll_dir *d = calloc(1, sizeof(*d));
	char *path = NULL;
	int ret = -ENOMEM;

	dfs_ll_current = req;
	if (d && (ret = dfs_ll_path_of(ino, &path)) == 0)
		ret = dfs_ll.ops->opendir(path, &own);
	free(path);
	if (ret < 0) {
		free(d);
		fuse_reply_err(req, -ret);
		goto out;
	}
	pthread_mutex_init(&d->lock, NULL);
	d->fh = own.fh;
	*fi = own;       /* with what the operation set (keep_cache, cache_readdir) */
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		dfs_ll_current = NULL;
		own.fh = d->fh;
		dfs_ll.ops->releasedir(NULL, &own);
		pthread_mutex_destroy(&d->lock);
		free(d);
	}
out:
	dfs_ll_current = NULL;
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi, int plus)
{
	struct ll_dir *d = (struct ll_dir *)(uintptr_t)fi->fh;
	struct fuse_file_info own = *fi;
	struct fill f = { req, ino, d, malloc(size), size, 0, plus, 0 };
	size_t i;
	int ret = 0;

	dfs_ll_current = req;
	if (!f.buf) {
		fuse_reply_err(req, ENOMEM);
		goto out;
	}
	own.fh = d->fh;
	pthread_mutex_lock(&d->lock);
	if (off == 0 || !d->whole) {
		if (off == 0)
			dir_clear(d);
		ret = dfs_ll.ops->readdir(NULL, &f, filler, off, &own,
				      plus ? FUSE_READDIR_PLUS : (enum fuse_readdir_flags)0);
		if (f.whole)
			d->whole = 1;
	}
	/* A folder read whole: entry I has offset I + 1. */
	for (i = (size_t)off; ret >= 0 && d->whole && i < d->n; i++)
		if (add_entry(&f, d->entries[i].name, d->entries[i].has_st ? &d->entries[i].st : NULL,
			      (off_t)i + 1, d->entries[i].plus))
			break;
	pthread_mutex_unlock(&d->lock);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, f.buf, f.used);
	free(f.buf);
out:
	dfs_ll_current = NULL;
}

void dfs_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, 0);
}

void dfs_ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, 1);
}

void dfs_ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ll_dir *d = (struct ll_dir *)(uintptr_t)fi->fh;
	struct fuse_file_info own = *fi;

	(void)ino;
	dfs_ll_current = req;
	own.fh = d->fh;
	dfs_ll.ops->releasedir(NULL, &own);
	dir_clear(d);
	free(d->entries);
	pthread_mutex_destroy(&d->lock);
	free(d);
	fuse_reply_err(req, 0);
	dfs_ll_current = NULL;
}
