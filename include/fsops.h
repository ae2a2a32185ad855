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
 * Connect every tenant of CFG: get a token, call WhoAmI and load the entity
 * sets.  Problems are logged (stderr before daemonising) naming the tenant
 * and what to fix; returns NULL if any tenant fails.  CFG must outlive the fs.
 */
struct dfs_fs *dfs_fs_new(const struct dfs_config *cfg);
void dfs_fs_free(struct dfs_fs **fs);

/* The FUSE operations; private_data is the struct dfs_fs. */
extern const struct fuse_operations dfs_fs_operations;

#endif
