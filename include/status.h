/* status.h - the mount's health, read as files and extended attributes.
 *
 *   MOUNTPOINT/.status            the whole mount (JSON)
 *   MOUNTPOINT/<tenant>/.status   one tenant (JSON)
 *
 * Neither name can be a tenant (section names cannot begin with '.') nor
 * an entity set (schema names are letters, digits and '_'), readdir does
 * not show them, and they are read-only.  A tenant folder carries the
 * same facts as extended attributes: user.dynfs.<member> for each member
 * of its .status (strings as they are, the rest as compact JSON), and
 * user.dynfs.status for the whole document.
 *
 * What a tenant's .status holds: health ("ok" or "unhealthy") and why,
 * the token's expiry, requests by kind, throttled, retried and failed
 * counts, the last errors (time, method, path, HTTP status, Dataverse
 * code and message, request id), what its listings hold and how many are
 * in progress, and the lookups restored records wait for (pending.h).  The mount's adds the cache's use and every tenant's health.
 * Nothing here needs FUSE.
 */
#ifndef DFS_STATUS_H
#define DFS_STATUS_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "tree.h"

#define DFS_STATUS_NAME ".status"

/* The status of T, or with T NULL of the whole mount; NULL on out of memory. */
cJSON *dfs_status_json(struct dfs_fs *fs, struct dfs_tenant *t);

/* The same rendered (two-space indent, sorted keys, trailing newline),
 * malloc'd, *LEN its length; NULL on out of memory. */
char *dfs_status_text(struct dfs_fs *fs, struct dfs_tenant *t, size_t *len);

/*
 * Is PATH "/.status" (1, *T = NULL) or "/<tenant>/.status" (1, *T the
 * tenant)?  0 otherwise.
 */
int dfs_status_path(struct dfs_fs *fs, const char *path, struct dfs_tenant **t);

/* Is PATH a tenant folder ("/<tenant>")?  Its tenant, or NULL. */
struct dfs_tenant *dfs_status_tenant_dir(struct dfs_fs *fs, const char *path);

/* Records in the current listings of every set, for statfs. */
size_t dfs_status_listed(struct dfs_fs *fs);

#endif
