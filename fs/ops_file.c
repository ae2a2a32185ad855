/* ops_file.c - open files: open, create, read, write, flush, fsync,
 * release and truncate.
 *
 * A read-only open of a record serves the bytes it was opened with.  A
 * writable one gets a draft (draft.h) saved at close or fsync (save.h).  A
 * local file's handle reads and writes the file's own draft.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "content.h"
#include "log.h"
#include "ops.h"
#include "record.h"
#include "save.h"
#include "banned.h"

static int open_local(struct dfs_path *p, struct dfs_local *l, struct fuse_file_info *fi)
{
	struct dfs_fh *fh;
	int ret = 0;

	if (dfs_local_is_symlink(l))
		return -ELOOP;
	if (!(fh = dfs_fh_new(p)))
		return -ENOMEM;
	fh->local = dfs_local_ref(l);
	fh->draft = dfs_local_draft(l);
	if ((fi->flags & O_TRUNC) && (ret = dfs_draft_truncate(fh->draft, 0)) < 0) {
		dfs_fh_free(fh);
		return ret;
	}
	fi->fh = (uint64_t)(uintptr_t)fh;
	return 0;
}

int dfs_op_open(const char *path, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = dfs_ops_fs();
	struct dfs_rec_info info;
	struct dfs_local *l;
	struct dfs_fh *fh = NULL;
	struct dfs_path p;
	int ret, writing;

	if ((ret = dfs_resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth < 3)
		return -EISDIR;
	writing = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	if (writing && p.t->tc->read_only)
		return -EROFS;
	if ((l = dfs_path_local_or_alias(&p))) {
		ret = open_local(&p, l, fi);
		dfs_local_put(l);
		return ret;
	}
	if (!dfs_record_visible(&p))
		return -ENOENT;
	if (writing) {
		if ((ret = dfs_fh_new_writable(fs, &p, !!(fi->flags & O_TRUNC), &fh)) < 0)
			return ret;
		fi->fh = (uint64_t)(uintptr_t)fh;
		return 0;
	}
	if ((ret = dfs_content_get(fs, &p, &info)) < 0)
		return ret;
	if (!(fh = dfs_fh_new(&p))) {
		dfs_rec_info_clear(&info);
		return -ENOMEM;
	}
	fh->blob = dfs_blob_ref(info.blob);
	fi->keep_cache = dfs_cache_opened(p.s->cache, p.id, info.gen);
	fi->fh = (uint64_t)(uintptr_t)fh;
	dfs_rec_info_clear(&info);
	return 0;
}

/*
 * A new file in a set folder.  Writing a record name that a rename away hid
 * (vim's and emacs' backup dance) writes that record; any other name is a
 * local file, and a ".json" one gets the id it will be saved as now.
 */
int dfs_op_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = dfs_ops_fs();
	struct dfs_local *l = NULL;
	struct dfs_fh *fh = NULL;
	struct dfs_path p;
	int ret, depth;

	if ((ret = dfs_resolve_parent(fs, path, &p, &depth)) < 0)
		ret = dfs_refuse_new_name(path, ret, depth);
	else if (p.depth < 3)
		ret = p.depth == 2 ? -EEXIST : -EPERM;
	if (ret == -EPERM)
		/* EPERM alone does not say where files may go. */
		dfs_warn("create %s: not possible: records are files in the entity set "
			 "folders (<tenant>/<set>/<id>.json)", path);
	if (ret < 0)
		return ret;
	if (p.t->tc->read_only)
		return -EROFS;
	if (p.is_record && dfs_locals_hidden(p.s->locals, p.id)) {
		dfs_locals_unhide(p.s->locals, p.id);
		if ((ret = dfs_fh_new_writable(fs, &p, 1, &fh)) < 0)
			return ret;
		fi->fh = (uint64_t)(uintptr_t)fh;
		return 0;
	}
	ret = dfs_local_create(p.s->locals, p.name, S_IFREG | (mode & 07777), &l);
	if (ret == -EEXIST && !(fi->flags & O_EXCL) && (l = dfs_local_get(p.s->locals, p.name)))
		ret = 0;
	if (ret < 0)
		return ret;
	if (dfs_has_suffix(p.name, ".json"))
		ret = dfs_local_claim_id(l, p.is_record ? p.id : NULL);
	if (ret == 0)
		ret = open_local(&p, l, fi);
	dfs_local_put(l);
	return ret;
}

int dfs_op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct dfs_fh *fh = dfs_ops_fh(fi);
	const struct dfs_blob *b = fh->blob;

	if (off < 0)
		return -EINVAL;
	if (fh->draft)
		return (int)dfs_draft_read(fh->draft, buf, size, (size_t)off);
	if ((size_t)off >= b->len)
		return 0;
	if (size > b->len - (size_t)off)
		size = b->len - (size_t)off;
	memcpy(buf, b->data + off, size);
	return (int)size;
}

int dfs_op_write(const char *path, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi)
{
	struct dfs_fh *fh = dfs_ops_fh(fi);
	int ret;

	if (off < 0)
		return -EINVAL;
	if (!fh->draft)
		return -EBADF;
	ret = dfs_draft_write(fh->draft, buf, size, (size_t)off);
	return ret < 0 ? ret : (int)size;
}

/* close(): the save happens here, so close reports whether it landed. */
int dfs_op_flush(const char *path, struct fuse_file_info *fi)
{
	return dfs_save_handle(dfs_ops_fs(), dfs_ops_fh(fi));
}

int dfs_op_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	return dfs_save_handle(dfs_ops_fs(), dfs_ops_fh(fi));
}

int dfs_op_release(const char *path, struct fuse_file_info *fi)
{
	struct dfs_fh *fh = dfs_ops_fh(fi);
	int emptied = 0;

	if (fh && fh->draft == &fh->own)
		dfs_draft_size(fh->draft, &emptied);
	if (emptied)
		dfs_warn("%s/%s/%s: emptied and closed without new content: nothing was saved, the"
			 " record is unchanged", fh->t->tc->name, fh->s->ent->set_name, fh->name);
	dfs_fh_free(fh);
	return 0;
}

int dfs_op_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = dfs_ops_fs();
	struct dfs_fh *fh = dfs_ops_fh(fi);
	struct dfs_local *l = NULL;
	struct dfs_path p;
	int ret;

	if (size < 0)
		return -EINVAL;
	if (fh && fh->draft)
		return dfs_draft_truncate(fh->draft, (size_t)size);
	if ((ret = dfs_resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth < 3)
		return -EISDIR;
	if (p.t->tc->read_only)
		return -EROFS;
	if ((l = dfs_path_local_or_alias(&p))) {
		ret = dfs_draft_truncate(dfs_local_draft(l), (size_t)size);
		dfs_local_put(l);
		return ret;
	}
	if (!dfs_record_visible(&p))
		return -ENOENT;
	/* truncate(2) on a record's path: a whole edit of its own, saved at once. */
	if ((ret = dfs_fh_new_writable(fs, &p, 0, &fh)) < 0)
		return ret;
	if ((ret = dfs_draft_truncate(fh->draft, (size_t)size)) == 0)
		ret = dfs_save_handle(fs, fh);
	dfs_fh_free(fh);
	return ret;
}
