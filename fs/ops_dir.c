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
	dfs_file_stat(fc->fs, &st, size, mtime);
	snprintf(name, sizeof(name), "%s.json", id);
	return fc->filler(fc->buf, name, &st, 0, FUSE_FILL_DIR_PLUS) ? -ENOMEM : 0;
}

static int fill_local(void *ctx, struct dfs_local *l, const char *name)
{
	struct fill_ctx *fc = ctx;
	struct stat st;

	dfs_local_file_stat(fc->fs, l, &st);
	return fc->filler(fc->buf, name, &st, 0, FUSE_FILL_DIR_PLUS) ? -ENOMEM : 0;
}

/* A folder is resolved at opendir: readdir gets no path (nullpath_ok). */
int dfs_op_opendir(const char *path, struct fuse_file_info *fi)
{
	struct dfs_path *p = malloc(sizeof(*p));
	int ret;

	if (!p)
		return -ENOMEM;
	if ((ret = dfs_resolve(dfs_ops_fs(), path, p)) < 0 || p->depth == 3) {
		free(p);
		return ret < 0 ? ret : -ENOTDIR;
	}
	fi->fh = (uint64_t)(uintptr_t)p;
	return 0;
}

int dfs_op_releasedir(const char *path, struct fuse_file_info *fi)
{
	free((struct dfs_path *)(uintptr_t)fi->fh);
	return 0;
}

int dfs_op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		   struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dfs_fs *fs = dfs_ops_fs();
	struct fill_ctx fc = { fs, NULL, buf, filler };
	struct dfs_path p = *(struct dfs_path *)(uintptr_t)fi->fh;
	struct stat st;
	size_t i;
	int ret;

	dfs_dir_stat(fs, &st);
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
		if ((ret = dfs_content_list(fs, &p)) < 0)
			return ret;
		/* What the listing shows may be what a restored record waits for. */
		dfs_pending_retry(fs, p.t, 1, 0);
		fc.s = p.s;
		if (dfs_cache_walk_listing(p.s->cache, fill_record, &fc) == 0)
			dfs_locals_walk(p.s->locals, fill_local, &fc);
		return 0;
	}
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
