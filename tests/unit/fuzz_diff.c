/* fuzz_diff.c - libFuzzer target for the body of a write (fs/schema_body.c):
 * an edited record file against the version it was read as.
 *
 * The schema is the emulator's contact (tests/unit/contact_metadata.h, as
 * test_schema uses it).  The input is the edited file, optionally followed
 * by a NUL byte and the base version; without one the base is a fixed
 * contact.  Both are parsed as record files are (dfs_json_parse), and the
 * body built for an update and for a create.  Properties:
 * - no body sends the primary key, and every key of a body is a column or
 *   a lookup's "<nav>@odata.bind";
 * - a file identical to its base sends nothing;
 * - the record the user wrote shows the update that was built from it
 *   (dfs_schema_applied(body, file)): what a lost answer is checked by;
 * - failures say why, and leave no body.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "json.h"
#include "schema.h"

#include "contact_metadata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

static const char base_contact[] =
	"{\"contactid\":\"c0000000-0000-4000-8000-000000000001\",\"firstname\":\"Ada\","
	"\"lastname\":\"Lovelace\",\"annualincome\":5000000.0000,\"numberofchildren\":2,"
	"\"donotemail\":false,\"description\":null,"
	"\"_parentcustomerid_value\":\"a0000000-0000-4000-8000-000000000001\","
	"\"_ownerid_value\":\"b0000000-0000-4000-8000-000000000001\","
	"\"versionnumber\":1234,\"modifiedon\":\"2026-12-06T16:02:13Z\"}";

static struct dfs_schema *schema;

/* A polymorphic lookup's table by the id's last digit, or none. */
static int resolve(void *ctx, const struct dfs_column *col, const char *id,
		   const struct dfs_lookup_target **t)
{
	size_t n = strlen(id);
	unsigned d = n ? (unsigned char)id[n - 1] : 0;

	if (!col->n_targets || d % 5 == 0)
		return -ENOENT;
	*t = &col->targets[d % col->n_targets];
	return 0;
}

static void check_body(const cJSON *body, const char *what)
{
	const cJSON *m;
	const char *at;

	cJSON_ArrayForEach(m, body) {
		if (strcmp(m->string, schema->primary_id) == 0)
			FAIL("%s body sends the primary key", what);
		at = strchr(m->string, '@');
		if (at) {
			if (strcmp(at, "@odata.bind") != 0 ||
			    !dfs_schema_nav_column(schema, m->string, (size_t)(at - m->string)))
				FAIL("%s body sends %s", what, m->string);
		} else if (!dfs_schema_column(schema, m->string, NULL)) {
			FAIL("%s body sends %s, no column", what, m->string);
		}
	}
}

/* Build a body; 0 with *BODY, or a failure that must say why. */
static int body_of(const cJSON *file, const cJSON *base, cJSON **body, const char *what)
{
	char why[512] = "";
	int dropped = -1, ret;

	*body = (cJSON *)1;
	ret = dfs_schema_body(schema, file, base, body, &dropped, why, sizeof(why), resolve,
			      NULL);
	if (ret == 0) {
		if (!cJSON_IsObject(*body) || dropped < 0)
			FAIL("%s: success without a body", what);
		check_body(*body, what);
	} else {
		if (*body && *body != (cJSON *)1)
			FAIL("%s failed (%d) but left a body", what, ret);
		if (ret != -ENOMEM && !why[0])
			FAIL("%s failed (%d) without saying why", what, ret);
		*body = NULL;
	}
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *nul = memchr(data, '\0', size);
	size_t file_len = nul ? (size_t)(nul - text) : size;
	cJSON *file, *base, *body;
	char err[160];

	if (!schema) {
		char why[256];

		if (dfs_schema_parse(contact_def, sizeof(contact_def) - 1, contact_sets,
				     sizeof(contact_sets) - 1, "contactid", &schema, why,
				     sizeof(why)) != 0)
			FAIL("contact metadata: %s", why);
	}
	file = dfs_json_parse(text, file_len, err, sizeof(err));
	if (!file || !cJSON_IsObject(file)) {
		cJSON_Delete(file);
		return 0;
	}
	if (nul)
		base = dfs_json_parse(nul + 1, size - file_len - 1, err, sizeof(err));
	else
		base = dfs_json_parse(base_contact, sizeof(base_contact) - 1, err, sizeof(err));
	if (base && !cJSON_IsObject(base)) {
		cJSON_Delete(base);
		base = NULL;
	}

	if (base) {
		if (body_of(file, base, &body, "update") == 0 &&
		    !dfs_schema_applied(schema, body, file)) {
			char *b = cJSON_PrintUnformatted(body);

			FAIL("the file does not show the update built from it: %s", b);
		}
		cJSON_Delete(body);
		if (body_of(base, base, &body, "unchanged") == 0 && cJSON_GetArraySize(body) != 0)
			FAIL("a file equal to its base sends something");
		cJSON_Delete(body);
	}
	body_of(file, NULL, &body, "create");
	cJSON_Delete(body);

	cJSON_Delete(base);
	cJSON_Delete(file);
	return 0;
}
