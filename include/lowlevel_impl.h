/* lowlevel_impl.h - what the FUSE session's files share (lowlevel.c,
 * lowlevel_dir.c); private to them.  See lowlevel.h.
 */
#ifndef DFS_LOWLEVEL_IMPL_H
#define DFS_LOWLEVEL_IMPL_H

#include <fuse.h>
#include <fuse_lowlevel.h>
#include <sys/stat.h>

#define DFS_LL_TIMEOUT 1.0       /* seconds the kernel keeps names and attributes */

struct dfs_ll_state {
	const struct fuse_operations *ops;  /* the path operations */
	void *private_data;
	struct fuse_session *se;
	unsigned int uid, gid, umask;       /* -o uid=, gid=, umask= */
	int set_uid, set_gid, set_umask;
};
extern struct dfs_ll_state dfs_ll;
/* The request the calling thread serves (NULL once it is answered). */
extern __thread fuse_req_t dfs_ll_current;

/* uid=, gid=, umask= applied to attributes the kernel gets. */
void dfs_ll_fix_attr(struct stat *st);
/* The path of INO for an operation without a handle: 0, or -ESTALE when
 * its name was unlinked. */
int dfs_ll_path_of(fuse_ino_t ino, char **path);

void dfs_ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void dfs_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void dfs_ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi);
void dfs_ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

#endif
