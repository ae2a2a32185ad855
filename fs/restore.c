/* restore.c - what a restore of a backup does beyond a save (see restore.h). */
#include <errno.h>
#include <string.h>

#include "record.h"
#include "restore.h"
#include "banned.h"

/*
 * A restore: a backup of this very record -- another version of it (its
 * versionnumber is not the one read), or for a create a file that holds
 * the id being created.  Its lookups may point at records the restore has
 * not brought back yet.  Hand edits and new files stay strict.
 */
int dfs_restore_is(const cJSON *file, const cJSON *base, const struct dfs_entity *ent,
		   const char *id)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(file, "versionnumber");
	char key[37];

	if (!base)
		return dfs_record_key(file, ent->primary_id, key) == 1 && strcmp(key, id) == 0;
	return v && !dfs_schema_same_value(v, cJSON_GetObjectItemCaseSensitive(base,
									    "versionnumber"));
}

/*
 * What a create sends beyond the body of valid columns.  A restore keeps
 * the record's creation date: overriddencreatedon (valid for create) from
 * the backup's createdon.  The state cannot be set by a create (statecode
 * is not valid for create, and statuscode must then belong to the default
 * state): an inactive record's statecode and statuscode come out of the
 * create and into *STATE, one PATCH right after it.
 */
int dfs_restore_create_extras(const struct dfs_schema *schema, const cJSON *file, int restore,
			      cJSON *body, cJSON **state)
{
	const struct dfs_column *col = dfs_schema_column(schema, "overriddencreatedon", NULL);
	const cJSON *created = cJSON_GetObjectItemCaseSensitive(file, "createdon");
	const cJSON *sc = cJSON_GetObjectItemCaseSensitive(file, "statecode");
	const cJSON *su = cJSON_GetObjectItemCaseSensitive(file, "statuscode");
	cJSON *zero = cJSON_CreateNumber(0);
	int active;

	*state = NULL;
	if (!zero)
		return -ENOMEM;
	active = !sc || cJSON_IsNull(sc) || dfs_schema_same_value(sc, zero);
	cJSON_Delete(zero);
	if (restore && col && (col->flags & DFS_COL_CREATE) && cJSON_IsString(created)) {
		cJSON_DeleteItemFromObjectCaseSensitive(body, "overriddencreatedon");
		if (!cJSON_AddStringToObject(body, "overriddencreatedon", created->valuestring))
			return -ENOMEM;
	}
	col = dfs_schema_column(schema, "statecode", NULL);
	if (active || !col || !(col->flags & DFS_COL_UPDATE))
		return 0;
	cJSON_DeleteItemFromObjectCaseSensitive(body, "statuscode");
	if (!(*state = cJSON_CreateObject()) ||
	    !cJSON_AddItemToObject(*state, "statecode", cJSON_Duplicate(sc, 1)) ||
	    (su && !cJSON_IsNull(su) &&
	     !cJSON_AddItemToObject(*state, "statuscode", cJSON_Duplicate(su, 1))))
		return -ENOMEM;
	return 0;
}
