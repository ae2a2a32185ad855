/* fsops.h - the filesystem: tenants, entity sets and record files.
 *
 *   /                      one folder per tenant (INI section)
 *   /<tenant>/             one folder per entity set
 *   /<tenant>/<set>/       one file per record: <id>.json
 *
 * The driver's files, by what they own:
 *   tree.c      tenants, sets, path resolution, attributes, handles (tree.h)
 *   content.c   listings and single GETs into the set's cache (content.h)
 *   save.c      the save pipeline: update or create, rescue (save.h)
 *   draft.c     the bytes of a file being written (draft.h)
 *   local.c     files that live only in the mount (local.h)
 *   ops_*.c     the FUSE operations (ops.h); fsops.c holds the table
 */
#ifndef DFS_FSOPS_H
#define DFS_FSOPS_H

#include "config.h"

struct dfs_fs;
struct fuse_operations;

/*
 * The mount of CFG, nothing contacted yet (NULL: out of memory).  CFG must
 * outlive the fs.
 */
struct dfs_fs *dfs_fs_new(const struct dfs_config *cfg);
/*
 * Connect every tenant: get a token, call WhoAmI and load the entity sets.
 * A tenant that fails for a reason that may pass by itself (network,
 * server, throttling, an expired secret or refresh token) is mounted
 * unhealthy and connects at a later access; one that fails for a mistake
 * in the configuration (refused credentials, a missing entity set, an
 * untrusted certificate) fails the mount.  Problems are logged (stderr
 * before daemonising) naming the tenant and what to fix.  Returns 0, or
 * -EACCES (or another negative errno) when a tenant cannot be mounted.
 */
int dfs_fs_connect(struct dfs_fs *fs);
void dfs_fs_free(struct dfs_fs **fs);

/* SIGHUP: folders are listed anew at their next access, tokens renewed
 * (rereading every secret source and token store), unhealthy tenants tried
 * again at once. */
void dfs_fs_refresh(struct dfs_fs *fs);

/* The FUSE operations on files and folders (fsops.c); private_data is the
 * struct dfs_fs. */
extern const struct fuse_operations dfs_fs_operations;
/* The same with what the mount adds around them (ops_mount.c): status
 * files, the tenant folders' attributes, statfs, the log line of a failed
 * operation.  This is the table to mount with. */
const struct fuse_operations *dfs_mount_operations(void);

#endif
