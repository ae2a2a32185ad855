/* ops_dir.c - folders: opendir, readdir, releasedir, mkdir and rmdir.
 *
 * Folders are the tenants of the config and the entity sets of Dataverse;
 * neither is made or removed here.  Listing a set folder lists the set from
 * the server (content.h) and shows its local files beside the records.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>

#include "content.h"
#include "log.h"
#include "ops.h"
#include "pending.h"
#include "banned.h"

/*
 * An open folder.  A set folder is read a piece at a time at the offsets
 * the kernel asks for (".", "..", the records, then the local files), from
 * a copy of the listing taken when the read starts: libfuse then holds one
 * reply's worth, not the whole folder (about 200 bytes a file), and the
 * set's cache is not locked while the kernel takes the entries in.
 */
struct dir_fh {
	struct dfs_path p;       /* first: ops_mount.c reads the handle as a dfs_path */
	struct dfs_cache_listed *recs;
	size_t n;
};

struct fill_ctx {
	struct dfs_fs *fs;
	void *buf;
	fuse_fill_dir_t filler;
	off_t next;              /* the offset of the next local file */
	off_t from;              /* the first offset to fill */
};

static int fill_local(void *ctx, struct dfs_local *l, const char *name)
{
	struct fill_ctx *fc = ctx;
	struct stat st;

	if (++fc->next <= fc->from)
		return 0;
	dfs_local_file_stat(fc->fs, l, &st);
	return fc->filler(fc->buf, name, &st, fc->next, FUSE_FILL_DIR_PLUS) ? 1 : 0;
}

/* A folder is resolved at opendir: readdir gets no path (nullpath_ok). */
int dfs_op_opendir(const char *path, struct fuse_file_info *fi)
{
	struct dir_fh *d = calloc(1, sizeof(*d));
	int ret;

	if (!d)
		return -ENOMEM;
	if ((ret = dfs_resolve(dfs_ops_fs(), path, &d->p)) < 0 || d->p.depth == 3) {
		free(d);
		return ret < 0 ? ret : -ENOTDIR;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	return 0;
}

int dfs_op_releasedir(const char *path, struct fuse_file_info *fi)
{
	struct dir_fh *d = (struct dir_fh *)(uintptr_t)fi->fh;

	free(d->recs);
	free(d);
	return 0;
}

/* The entries of set folder D from offset OFF on, until the reply is full. */
static int read_set(struct dfs_fs *fs, struct dir_fh *d, void *buf, fuse_fill_dir_t filler,
		    off_t off)
{
	struct fill_ctx fc = { fs, buf, filler, 0, off };
	char id[DFS_GUID_LEN + 1], name[64];
	struct stat st;
	time_t mtime;
	size_t i, size;
	int ret;

	if (off == 0) {
		/* (Re)starting: list the set if need be, and take its copy. */
		free(d->recs);
		d->recs = NULL;
		d->n = 0;
		if ((ret = dfs_content_list(fs, &d->p)) < 0 ||
		    (ret = dfs_cache_snapshot(d->p.s->cache, &d->recs, &d->n)) < 0)
			return ret;
		/* What the listing shows may be what a restored record waits for. */
		dfs_pending_retry(fs, d->p.t, 1, 0);
	}
	dfs_dir_stat(fs, &st, dfs_dir_ino(fs, &d->p));
	if (off < 1 && filler(buf, ".", &st, 1, 0))
		return 0;
	if (off < 2 && filler(buf, "..", NULL, 2, 0))
		return 0;
	for (i = off > 2 ? (size_t)off - 2 : 0; i < d->n; i++) {
		dfs_guid_unpack(d->recs[i].id, id);
		/* Gone since the folder was opened: a refresh saw it deleted. */
		if (dfs_locals_hidden(d->p.s->locals, id) ||
		    !dfs_cache_peek_listed(d->p.s->cache, &d->recs[i], &size, &mtime))
			continue;
		dfs_file_stat(fs, &st, dfs_ino_record(d->p.s->ino, d->recs[i].id), size, mtime);
		snprintf(name, sizeof(name), "%s.json", id);
		if (filler(buf, name, &st, (off_t)(i + 3), FUSE_FILL_DIR_PLUS))
			return 0;
	}
	fc.next = (off_t)d->n + 2;
	dfs_locals_walk(d->p.s->locals, fill_local, &fc);
	return 0;
}

int dfs_op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		   struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dfs_fs *fs = dfs_ops_fs();
	struct dir_fh *d = (struct dir_fh *)(uintptr_t)fi->fh;
	struct dfs_path *p = &d->p, sub = *p;
	struct stat st;
	size_t i;

	if (p->depth >= 2)
		return read_set(fs, d, buf, filler, off);
	dfs_dir_stat(fs, &st, dfs_dir_ino(fs, p));
	filler(buf, ".", &st, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	sub.depth = p->depth + 1;
	if (p->depth == 0) {
		for (i = 0; i < fs->n_tenants; i++) {
			sub.t = &fs->tenants[i];
			dfs_dir_stat(fs, &st, dfs_dir_ino(fs, &sub));
			if (filler(buf, fs->tenants[i].tc->name, &st, 0, FUSE_FILL_DIR_PLUS))
				break;
		}
		return 0;
	}
	for (i = 0; i < p->t->n_sets; i++) {
		sub.s = &p->t->sets[i];
		dfs_dir_stat(fs, &st, dfs_dir_ino(fs, &sub));
		if (filler(buf, p->t->sets[i].ent->set_name, &st, 0, FUSE_FILL_DIR_PLUS))
			break;
	}
	return 0;
}

static void refuse_folder(const char *what, const char *path)
{
	dfs_warn("%s %s: not possible: folders are the tenants of the config and the entity"
		 " sets of Dataverse", what, path);
}

int dfs_op_mkdir(const char *path, mode_t mode)
{
	struct dfs_local *l;
	struct dfs_path p;
	int ret, depth;

	if ((ret = dfs_resolve_parent(dfs_ops_fs(), path, &p, &depth)) == 0) {
		if (p.depth < 3)
			return -EEXIST;
		/* The kernel looked the name up first: a record is not there. */
		if ((l = dfs_path_local(&p))) {
			dfs_local_put(l);
			return -EEXIST;
		}
	} else if ((ret = dfs_refuse_new_name(path, ret, depth)) != -EPERM) {
		return ret;
	}
	refuse_folder("mkdir", path);
	return -EPERM;
}

int dfs_op_rmdir(const char *path)
{
	struct dfs_path p;
	int ret;

	if ((ret = dfs_resolve(dfs_ops_fs(), path, &p)) < 0)
		return ret;
	if (p.depth == 3)
		return -ENOTDIR;
	if (p.depth == 0)
		return -EBUSY;
	refuse_folder("rmdir", path);
	return -EPERM;
}
