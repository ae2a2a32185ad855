/* restore.h - a restore: a save of a backup of the very record.
 *
 * save.c asks whether a save is a restore (dfs_restore_is): then lookups to
 * records not back yet are left for later (pending.h) instead of failing
 * the save.  A create that is a restore keeps the record's creation date,
 * and any create keeps an inactive state (dfs_restore_create_extras).
 * SEMANTICS.md "Restoring a backup" is the user-facing account.
 */
#ifndef DFS_RESTORE_H
#define DFS_RESTORE_H

#include <cjson/cJSON.h>

#include "dataverse.h"
#include "schema.h"

/*
 * Is FILE a backup of record ID of ENT?  Another version of it (its
 * versionnumber is not BASE's), or, for a create (BASE NULL), a file that
 * holds ID as its primary key.  1 or 0.
 */
int dfs_restore_is(const cJSON *file, const cJSON *base, const struct dfs_entity *ent,
		   const char *id);

/*
 * Add to the BODY of a create of FILE what a create cannot say otherwise:
 * RESTORE: overriddencreatedon from FILE's createdon (when the column is
 * valid for create).  An inactive FILE (statecode not 0): statuscode comes
 * out of BODY, and *STATE (to free) is the {statecode, statuscode} to PATCH
 * right after the create; else *STATE is NULL.  0 or -ENOMEM.
 */
int dfs_restore_create_extras(const struct dfs_schema *schema, const cJSON *file, int restore,
			      cJSON *body, cJSON **state);

#endif
