/* fuzz_json.c - libFuzzer target for dfs_json_parse and the renderers.
 *
 * `make fuzz` builds it into build/fuzz/ with clang's fuzzer, address and
 * undefined sanitizers and runs it for FUZZ_SECONDS (default 60) from the
 * seeds in tests/unit/corpus/json/ with tests/unit/corpus/json.dict.  It is
 * not part of `make check`.
 *
 * Besides "no crash, no leak, no sanitizer report" it checks the properties
 * record files rely on: what we render parses again to the same value
 * (dfs_json_same_value), and rendering is a fixed point
 * (render(parse(render(x))) == render(x)), in both the pretty and the
 * compact form.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse TEXT (ORIG rendered) and render it again with RENDER; abort unless
 * that gives ORIG's value and TEXT again. */
static void reparse(const cJSON *orig, const struct dfs_buf *text,
		    int (*render)(const cJSON *, struct dfs_buf *))
{
	struct dfs_buf again;
	char err[256];
	cJSON *root;

	root = dfs_json_parse(text->data, text->len, err, sizeof(err));
	if (!root) {
		fprintf(stderr, "rendered JSON does not parse: %s\n%s\n", err, text->data);
		abort();
	}
	if (!dfs_json_same_value(orig, root)) {
		fprintf(stderr, "rendered JSON is another value:\n%s\n", text->data);
		abort();
	}
	dfs_buf_init(&again, 0);
	if (render(root, &again) != 0 || again.len != text->len ||
	    memcmp(again.data, text->data, text->len) != 0) {
		fprintf(stderr, "rendering is not stable:\n%s\n---\n%s\n",
			text->data, again.data ? again.data : "(null)");
		abort();
	}
	dfs_buf_free(&again);
	cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dfs_buf pretty, compact, rec;
	char err[256];
	cJSON *root;

	root = dfs_json_parse((const char *)data, size, err, sizeof(err));
	if (!root) {
		/* Every error message says where. */
		if (strncmp(err, "line ", 5) != 0 && strcmp(err, "out of memory") != 0)
			abort();
		return 0;
	}

	dfs_buf_init(&pretty, 0);
	dfs_buf_init(&compact, 0);
	dfs_buf_init(&rec, 0);
	if (dfs_json_render_pretty(root, &pretty) != 0 ||
	    dfs_json_render_compact(root, &compact) != 0)
		abort();
	reparse(root, &pretty, dfs_json_render_pretty);
	reparse(root, &compact, dfs_json_render_compact);
	if (cJSON_IsObject(root)) {
		if (dfs_record_render(root, &rec) != 0 || rec.len == 0 ||
		    rec.data[rec.len - 1] != '\n')
			abort();
	}
	dfs_buf_free(&rec);
	dfs_buf_free(&compact);
	dfs_buf_free(&pretty);
	cJSON_Delete(root);
	return 0;
}
