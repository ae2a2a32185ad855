/* ops.h - the FUSE operations, one file per kind (private to the driver).
 *
 *   ops_file.c   open, create, read, write, flush, fsync, release, truncate
 *   ops_dir.c    opendir, readdir, releasedir, mkdir, rmdir
 *   ops_name.c   unlink, rename, symlink, readlink, link
 *   ops_attr.c   getattr, chmod, chown, utimens, getxattr, listxattr, setxattr
 *   fsops.c      init, statfs and the table
 *
 * Every handler is dfs_op_<op> and returns 0 (or a count) or a negative
 * errno.  These are the only files, with main.c, that see FUSE.
 */
#ifndef DFS_OPS_H
#define DFS_OPS_H

#include <errno.h>
#include <string.h>
#include <fuse.h>
#include "tree.h"

/* The mount's state, from the calling FUSE request's context. */
struct dfs_fs *dfs_ops_fs(void);

/* The handle of an open file (NULL for path operations without one). */
static inline struct dfs_fh *dfs_ops_fh(const struct fuse_file_info *fi)
{
	return fi ? (struct dfs_fh *)(uintptr_t)fi->fh : NULL;
}

int dfs_op_open(const char *path, struct fuse_file_info *fi);
int dfs_op_create(const char *path, mode_t mode, struct fuse_file_info *fi);
int dfs_op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi);
int dfs_op_write(const char *path, const char *buf, size_t size, off_t off,
		 struct fuse_file_info *fi);
int dfs_op_flush(const char *path, struct fuse_file_info *fi);
int dfs_op_fsync(const char *path, int datasync, struct fuse_file_info *fi);
int dfs_op_release(const char *path, struct fuse_file_info *fi);
int dfs_op_truncate(const char *path, off_t size, struct fuse_file_info *fi);

int dfs_op_opendir(const char *path, struct fuse_file_info *fi);
int dfs_op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		   struct fuse_file_info *fi, enum fuse_readdir_flags flags);
int dfs_op_releasedir(const char *path, struct fuse_file_info *fi);
int dfs_op_mkdir(const char *path, mode_t mode);
int dfs_op_rmdir(const char *path);

int dfs_op_unlink(const char *path);
int dfs_op_rename(const char *from, const char *to, unsigned int flags);
int dfs_op_symlink(const char *target, const char *path);
int dfs_op_readlink(const char *path, char *buf, size_t size);
int dfs_op_link(const char *from, const char *to);

int dfs_op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi);
int dfs_op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi);
int dfs_op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi);
int dfs_op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi);
/*
 * -ENOTSUP for an attribute outside the user namespace (security.selinux,
 * system.posix_acl_*, trusted.*): dynfs keeps none, and saying "not
 * supported" rather than "no such attribute" lets ls -l, cp -a and rsync -X
 * stop asking after the first file of the mount instead of asking every
 * file (a round trip each).  0 for user.*.
 */
static inline int dfs_ops_xattr_namespace(const char *name)
{
	return strncmp(name, "user.", 5) == 0 ? 0 : -ENOTSUP;
}

int dfs_op_getxattr(const char *path, const char *name, char *buf, size_t size);
int dfs_op_listxattr(const char *path, char *buf, size_t size);
int dfs_op_setxattr(const char *path, const char *name, const char *value, size_t size,
		    int flags);

#endif
