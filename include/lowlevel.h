/* lowlevel.h - the FUSE session: libfuse's low-level API in front of the
 * path operations (ops.h, ops_mount.c).
 *
 * The kernel speaks of node ids; the operations take paths.  libfuse's
 * high-level API keeps a node (about 270 bytes with its name) for every
 * name the kernel holds, and the kernel holds every name it has seen while
 * memory lasts: a copy of a folder of 200,000 records left 200,000 nodes.
 * Here nodes.h works the path out from the id instead, so a name the kernel
 * holds costs dynfs nothing, and the kernel keeps names as long as it likes
 * (a second walk of a folder is answered from its cache, as on any
 * filesystem).  The operations see what libfuse's high-level API gave them
 * with hard_remove and nullpath_ok: a path, or NULL and the handle for an
 * open file.
 */
#ifndef DFS_LOWLEVEL_H
#define DFS_LOWLEVEL_H

#include <fuse.h>
#include <fuse_lowlevel.h>
#include <sys/types.h>

/*
 * A session serving OPS (with PRIVATE_DATA for dfs_ll_private) from the
 * options in ARGS: uid=, gid= and umask= are taken here, the rest is
 * libfuse's (which refuses what it does not know).  NULL on error, said on
 * stderr.
 */
struct fuse_session *dfs_ll_new(struct fuse_args *args, const struct fuse_operations *ops,
				void *private_data);
/* Serve requests with worker threads until the session ends: 0, -errno or
 * the signal that ended it (fuse_session_loop). */
int dfs_ll_loop_mt(struct fuse_session *se, int clone_fd);
/* The session, once made (notification threads write to it). */
struct fuse_session *dfs_ll_session(void);
void *dfs_ll_private(void);

/* Of the calling thread's request: was it interrupted, and by whom was it made. */
int dfs_ll_interrupted(void);
pid_t dfs_ll_caller_pid(void);

#endif
