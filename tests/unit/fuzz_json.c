/* fuzz_json.c - libFuzzer target for dfs_json_parse and the renderers.
 *
 * Built only on demand, e.g.:
 *   clang -std=gnu11 -g -O1 -Iinclude -fsanitize=fuzzer,address,undefined \
 *     tests/unit/fuzz_json.c fs/json.c fs/record.c fs/buf.c -lcjson -o /tmp/fuzz_json
 *   /tmp/fuzz_json -max_total_time=60
 *
 * Besides "no crash, no leak, no sanitizer report" it checks the properties
 * record files rely on: what we render parses again, and pretty rendering is
 * a fixed point (render(parse(render(x))) == render(x)), in both the pretty
 * and the compact form.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parse TEXT and render it again with RENDER; abort if that is impossible. */
static void reparse(const struct dfs_buf *text,
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
	reparse(&pretty, dfs_json_render_pretty);
	reparse(&compact, dfs_json_render_compact);
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
