/* jsonmember.h - reading and wiping members of plain cJSON trees: token
 * endpoint answers (auth.c, login.c), the token store (tokenstore.c) and
 * Web API metadata (dataverse.c).
 *
 * (Record bodies, whose numbers must keep their digits, go through json.h.)
 */
#ifndef DFS_JSONMEMBER_H
#define DFS_JSONMEMBER_H

#include <cjson/cJSON.h>

/* The string value of OBJ's member KEY, or NULL (no OBJ, no member, not a string). */
const char *dfs_cjson_str(const cJSON *obj, const char *key);

/*
 * Overwrite the string value of OBJ's member KEY with zeros in place, if it
 * has one: a token about to be freed with its tree.
 */
void dfs_cjson_zero(cJSON *obj, const char *key);

#endif
