/* ops_attr.c - attributes: getattr, chmod, chown, utimens and the
 * user.dynfs.* extended attributes (setting one: a set folder's refresh).
 *
 * Dataverse has no modes, owners or settable times: on records they are
 * accepted (so cp -p, rsync -a and tar succeed) and change nothing on the
 * server.  Local files keep mode and times like any file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content.h"
#include "ops.h"
#include "pending.h"
#include "util.h"
#include "banned.h"

#define XATTR_PREFIX "user.dynfs."
#define XATTR_ETAG "user.dynfs.etag"
#define XATTR_URL "user.dynfs.url"
#define XATTR_ID "user.dynfs.id"
#define XATTR_ERROR "user.dynfs.error"
#define XATTR_REFRESH "user.dynfs.refresh"
#define XATTR_PENDING "user.dynfs.pending"

/* fstat of an open file: what this handle sees. */
static void handle_stat(struct dfs_fs *fs, struct dfs_fh *fh, struct stat *st)
{
	struct dfs_rec_info info;
	uint64_t ino;
	size_t len;

	if (fh->local) {
		dfs_local_file_stat(fs, fh->local, st);
		return;
	}
	len = fh->draft ? dfs_draft_size(fh->draft, NULL) : fh->blob->len;
	ino = fh->ino;
	if (dfs_cache_peek(fh->s->cache, fh->id, &info)) {
		dfs_file_stat(fs, st, ino, len, info.mtime);
		dfs_rec_info_clear(&info);
	} else {
		dfs_file_stat(fs, st, ino, len, 0);
	}
}

int dfs_op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct dfs_fs *fs = dfs_ops_fs();
	struct dfs_fh *fh = dfs_ops_fh(fi);
	struct dfs_local *l;
	struct dfs_path p;
	uint8_t id16[16];
	time_t mtime;
	size_t size;
	int ret;

	if (fh) {
		handle_stat(fs, fh, st);
		return 0;
	}
	if ((ret = dfs_resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth < 3) {
		dfs_dir_stat(fs, st, dfs_dir_ino(fs, &p));
		return 0;
	}
	if ((l = dfs_path_local_or_alias(&p))) {
		dfs_local_file_stat(fs, l, st);
		dfs_local_put(l);
		return 0;
	}
	if (!dfs_record_visible(&p))
		return -ENOENT;
	if ((ret = dfs_content_stat(fs, &p, &size, &mtime)) < 0 ||
	    (ret = dfs_guid_pack(p.id, id16)) < 0)
		return ret;
	dfs_file_stat(fs, st, p.alias_ino ? p.alias_ino : dfs_ino_record(p.s->ino, id16), size,
		      mtime);
	return 0;
}

/* The local file a chmod, chown or utimens is about; NULL (and *RET) for
 * records and folders, which accept them and change nothing. */
static struct dfs_local *local_of(const char *path, struct fuse_file_info *fi, int *ret)
{
	struct dfs_fh *fh = dfs_ops_fh(fi);
	struct dfs_path p;

	*ret = 0;
	if (fh)
		return dfs_local_ref(fh->local);
	if ((*ret = dfs_resolve(dfs_ops_fs(), path, &p)) < 0 || p.depth < 3)
		return NULL;
	return dfs_path_local_or_alias(&p);
}

int dfs_op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct dfs_local *l;
	int ret;

	if (!(l = local_of(path, fi, &ret)))
		return ret;
	dfs_local_chmod(l, mode);
	dfs_local_put(l);
	return 0;
}

int dfs_op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct dfs_local *l;
	int ret;

	l = local_of(path, fi, &ret);
	dfs_local_put(l);
	return ret;
}

int dfs_op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct dfs_local *l;
	int ret;

	if (!(l = local_of(path, fi, &ret)))
		return ret;
	dfs_local_set_mtime(l, &tv[1]);
	dfs_local_put(l);
	return 0;
}

/* ---- extended attributes ------------------------------------------------ */

/* Reply VALUE (malloc'd, freed here; NULL: there is none). */
static int xattr_reply(char *value, char *buf, size_t size)
{
	size_t n;
	int ret;

	if (!value)
		return -ENODATA;
	n = strlen(value);
	if (size == 0)
		ret = (int)n;
	else if (size < n)
		ret = -ERANGE;
	else {
		memcpy(buf, value, n);
		ret = (int)n;
	}
	free(value);
	return ret;
}

/* user.dynfs.id and .error of a local file: what its last save did. */
static int local_xattr(struct dfs_local *l, const char *name, char *buf, size_t size)
{
	char id[37];

	if (strcmp(name, XATTR_ERROR) == 0)
		return xattr_reply(dfs_local_error(l), buf, size);
	if (strcmp(name, XATTR_ID) == 0 && dfs_local_saved_id(l, id))
		return xattr_reply(strdup(id), buf, size);
	return -ENODATA;
}

/* user.dynfs.etag, .url and .id of record P. */
static char *record_xattr(struct dfs_fs *fs, struct dfs_path *p, const char *name, int *ret)
{
	struct dfs_rec_info info;
	char *value = NULL;

	if ((*ret = dfs_content_get(fs, p, &info)) < 0)
		return NULL;
	if (strcmp(name, XATTR_ETAG) == 0)
		value = info.etag ? strdup(info.etag) : NULL;
	else if (strcmp(name, XATTR_ID) == 0)
		value = strdup(p->id);
	else if (asprintf(&value, "%s%s(%s)", dfs_dv_api_url(p->t->dv), p->s->ent->set_name,
			  p->id) < 0)
		*ret = -ENOMEM, value = NULL;
	dfs_rec_info_clear(&info);
	return value;
}

int dfs_op_getxattr(const char *path, const char *name, char *buf, size_t size)
{
	struct dfs_fs *fs = dfs_ops_fs();
	struct dfs_local *l;
	struct dfs_path p;
	char *value;
	int ret;

	/* Answered before the path is even looked at. */
	if ((ret = dfs_ops_xattr_namespace(name)) < 0)
		return ret;
	if (strncmp(name, XATTR_PREFIX, sizeof(XATTR_PREFIX) - 1) != 0)
		return -ENODATA;
	if ((ret = dfs_resolve(fs, path, &p)) < 0)
		return ret;
	if (p.depth < 3)
		return -ENODATA;
	if ((l = dfs_path_local_or_alias(&p))) {
		ret = local_xattr(l, name, buf, size);
		dfs_local_put(l);
		return ret;
	}
	if (!dfs_record_visible(&p))
		return -ENOENT;
	if (strcmp(name, XATTR_ERROR) == 0)
		return xattr_reply(dfs_cache_error(p.s->cache, p.id), buf, size);
	if (strcmp(name, XATTR_PENDING) == 0)
		return xattr_reply(dfs_pending_of_record(p.t->pending, p.s->ent->set_name, p.id),
				   buf, size);
	if (strcmp(name, XATTR_ETAG) != 0 && strcmp(name, XATTR_URL) != 0 &&
	    strcmp(name, XATTR_ID) != 0)
		return -ENODATA;
	value = record_xattr(fs, &p, name, &ret);
	return ret < 0 ? ret : xattr_reply(value, buf, size);
}

/* Append NAME (with its NUL) to the list being built. */
static void xattr_name(char *list, size_t *n, const char *name)
{
	memcpy(list + *n, name, strlen(name) + 1);
	*n += strlen(name) + 1;
}

int dfs_op_listxattr(const char *path, char *buf, size_t size)
{
	struct dfs_local *l;
	struct dfs_path p;
	char names[160], *msg, *pending = NULL, id[37];
	size_t n = 0;
	int ret;

	if ((ret = dfs_resolve(dfs_ops_fs(), path, &p)) < 0)
		return ret;
	if (p.depth < 3)
		return 0;
	if ((l = dfs_path_local_or_alias(&p))) {
		if (dfs_local_saved_id(l, id))
			xattr_name(names, &n, XATTR_ID);
		msg = dfs_local_error(l);
		dfs_local_put(l);
	} else {
		if (!dfs_record_visible(&p))
			return -ENOENT;
		xattr_name(names, &n, XATTR_ETAG);
		xattr_name(names, &n, XATTR_URL);
		xattr_name(names, &n, XATTR_ID);
		/* user.dynfs.error and .pending are listed only while there is one. */
		msg = dfs_cache_error(p.s->cache, p.id);
		pending = dfs_pending_of_record(p.t->pending, p.s->ent->set_name, p.id);
	}
	if (msg)
		xattr_name(names, &n, XATTR_ERROR);
	if (pending)
		xattr_name(names, &n, XATTR_PENDING);
	free(msg);
	free(pending);
	if (size == 0)
		return (int)n;
	if (size < n)
		return -ERANGE;
	memcpy(buf, names, n);
	return (int)n;
}

/*
 * `setfattr -n user.dynfs.refresh -v 1 FOLDER` on a set folder: its listing
 * is out of date, so the next access refreshes it (by delta where the table
 * is tracked); `-v full` lists it whole again.  Nothing else can be set.
 */
int dfs_op_setxattr(const char *path, const char *name, const char *value, size_t size,
		    int flags)
{
	struct dfs_path p;
	int ret, full;

	if ((ret = dfs_resolve(dfs_ops_fs(), path, &p)) < 0)
		return ret;
	if (p.depth != 2 || strcmp(name, XATTR_REFRESH) != 0)
		return -ENOTSUP;
	full = size == 4 && memcmp(value, "full", 4) == 0;
	if (!full && !(size == 1 && value[0] == '1'))
		return -EINVAL;
	dfs_content_expire(p.s, full);
	return 0;
}
