/* fsops.h - the filesystem: tenants, entity sets and record files.
 *
 *   /                      one folder per tenant (INI section)
 *   /<tenant>/             one folder per entity set
 *   /<tenant>/<set>/       one file per record: <id>.json
 */
#ifndef DFS_FSOPS_H
#define DFS_FSOPS_H

#include <fuse.h>
#include "config.h"

struct dfs_fs;

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
