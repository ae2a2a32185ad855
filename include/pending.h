/* pending.h - lookups a restore could not set yet (deferred binds).
 *
 * A restored record may point at a record that is not back yet: accounts
 * and contacts point at each other (primarycontactid, parentcustomerid),
 * so no order of a table-by-table restore has every target in place.  The
 * save (save.c) then writes the record without that lookup and leaves it
 * here as a pending bind: record <set>(<id>), lookup column, target id, and
 * the target's set when the save knew it.  A pending bind is applied (one
 * PATCH of that lookup alone) as soon as its target exists:
 *
 *   dfs_pending_target_created   a record was created through the mount
 *   dfs_pending_retry            a pass over every pending bind: when a set
 *                                was listed (only targets the listing shows,
 *                                no request for the others), at start-up,
 *                                on SIGHUP and at unmount (one request each)
 *
 * Pending binds survive unmount and kill -9: every change is a line
 * appended to $XDG_STATE_HOME/dynfs/pending/<tenant>.log (O_APPEND, written
 * before the save returns), replayed and compacted when the tenant is
 * mounted again.  A bind whose record is gone, or that the server refuses
 * for another reason than a missing target, is given up (logged); one whose
 * target never comes is kept and reported at unmount, never dropped.
 *
 * Locking: one mutex per tenant's list, never held across a request.
 */
#ifndef DFS_PENDING_H
#define DFS_PENDING_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct dfs_fs;
struct dfs_tenant;
struct dfs_set;
struct dfs_pending;

/* One lookup a save left out because its target does not exist yet. */
struct dfs_deferred {
	char column[128];      /* logical name of the lookup, "primarycontactid" */
	char target_set[128];  /* "contacts", or "" when not known (polymorphic) */
	char target_id[37];
};

/* The pending binds of tenant TENANT, loaded from its journal (a missing
 * journal is an empty list).  NULL only when out of memory. */
struct dfs_pending *dfs_pending_open(const char *tenant);
void dfs_pending_free(struct dfs_pending **p);

/*
 * Record SET(ID) was saved.  Its pending binds on the columns in SET_COLS
 * (N_SET lookup names the save wrote, or cleared) are settled by that save
 * and dropped; the N_DEF lookups in DEF it left out become pending (and are
 * applied at once if their target appeared in the cache meanwhile).
 */
void dfs_pending_saved(struct dfs_tenant *t, const char *set, const char *id,
		       const char *const *set_cols, size_t n_set, const struct dfs_deferred *def,
		       size_t n_def);

/* Pending binds in all, and of record SET(ID) as a JSON object
 * {"_<column>_value": "<target id>", ...} (malloc'd; NULL: none). */
size_t dfs_pending_count(struct dfs_pending *p);
char *dfs_pending_of_record(struct dfs_pending *p, const char *set, const char *id);

/* The first MAX pending binds, for .status: ["accounts(<id>) _x_value -> <id>", ...]. */
cJSON *dfs_pending_list(struct dfs_pending *p, size_t max);

/* Record ID was just created in set S of T: apply the binds waiting for it. */
void dfs_pending_target_created(struct dfs_fs *fs, struct dfs_tenant *t, struct dfs_set *s,
				const char *id);

/*
 * Try every pending bind of T.  CACHED_ONLY: only those whose target a
 * mounted set's cache holds (no request for the others: after a listing);
 * else each costs one request (a PATCH; plus the lookups of a polymorphic
 * target's table).  REPORT: log each bind still pending (at unmount).
 */
void dfs_pending_retry(struct dfs_fs *fs, struct dfs_tenant *t, int cached_only, int report);

/* dfs_pending_retry of every ready tenant. */
void dfs_pending_retry_all(struct dfs_fs *fs, int cached_only, int report);

#endif
