/* jsonmember.c - member access on plain cJSON trees (see include/jsonmember.h). */
#include <string.h>

#include "jsonmember.h"
#include "banned.h"

const char *dfs_cjson_str(const cJSON *obj, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

void dfs_cjson_zero(cJSON *obj, const char *key)
{
	cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (cJSON_IsString(it))
		explicit_bzero(it->valuestring, strlen(it->valuestring));
}
