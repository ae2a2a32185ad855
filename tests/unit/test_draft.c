/* test_draft.c - unit tests for fs/draft.c and dfs_buf_resize/dfs_buf_write:
 * the bytes of a file being written, and when they count as a change. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"
#include "draft.h"
#include "util.h"

static void test_buf_resize(void)
{
	struct dfs_buf b;

	dfs_buf_init(&b, 16);
	CHECK(dfs_buf_write(&b, "abc", 3, 2) == 0, "write at 2 grows the buffer");
	CHECK(b.len == 5 && memcmp(b.data, "\0\0abc", 5) == 0, "the gap is zero-filled");
	CHECK(dfs_buf_resize(&b, 1) == 0 && b.len == 1 && b.data[1] == '\0',
	      "shrinking keeps the NUL after the data");
	CHECK(dfs_buf_resize(&b, 17) == -EFBIG, "growing past the cap is EFBIG");
	CHECK(dfs_buf_write(&b, "x", 1, 16) == -EFBIG, "writing past the cap is EFBIG");
	CHECK(b.len == 1, "a refused resize changes nothing (len %zu)", b.len);
	dfs_buf_free(&b);
}

static void test_emptied_then_written(void)
{
	struct dfs_draft d;
	unsigned long gen;
	size_t len;
	char *data, out[16];
	int err, emptied;

	dfs_draft_init(&d);
	CHECK(dfs_draft_fill(&d, "{\"a\": 1}\n", 9) == 0, "fill");
	CHECK(!dfs_draft_take(&d, 0, &len, &gen, &err) && err == 0,
	      "filled bytes are not a change");
	CHECK(dfs_draft_truncate(&d, 0) == 0 && (dfs_draft_size(&d, &emptied), emptied), "O_TRUNC empties");
	CHECK(!dfs_draft_take(&d, 0, &len, &gen, &err) && err == 0,
	      "an emptied file is not saved (the rewrite has not happened yet)");
	CHECK(dfs_draft_write(&d, "{}", 2, 0) == 0 && (dfs_draft_size(&d, &emptied), !emptied),
	      "a write ends emptied");
	data = dfs_draft_take(&d, 0, &len, &gen, &err);
	CHECK(data && len == 2 && strcmp(data, "{}") == 0, "the written bytes are taken");
	CHECK(dfs_draft_read(&d, out, sizeof(out), 1) == 1 && out[0] == '}', "read at 1");
	CHECK(dfs_draft_read(&d, out, sizeof(out), 5) == 0, "read past the end is 0");
	dfs_draft_done(&d, gen);
	free(data);
	CHECK(!dfs_draft_take(&d, 0, &len, &gen, &err), "clean after its save");
	data = dfs_draft_take(&d, 1, &len, &gen, &err);
	CHECK(data && len == 2, "FORCE takes clean bytes too (a rename)");
	free(data);
	dfs_draft_free(&d);
}

static void test_write_during_save(void)
{
	struct dfs_draft d;
	unsigned long gen;
	size_t len;
	char *data;
	int err;

	dfs_draft_init(&d);
	dfs_draft_write(&d, "one", 3, 0);
	data = dfs_draft_take(&d, 0, &len, &gen, &err);
	dfs_draft_write(&d, "two", 3, 0);	/* lands while "one" is being sent */
	dfs_draft_done(&d, gen);
	free(data);
	data = dfs_draft_take(&d, 0, &len, &gen, &err);
	CHECK(data && strcmp(data, "two") == 0,
	      "a write during a save stays dirty for the next save");
	free(data);
	CHECK(dfs_draft_truncate(&d, 5) == 0 && dfs_draft_size(&d, NULL) == 5, "extend by truncate");
	dfs_draft_free(&d);
}

/* local_size: all drafts together, ENOSPC past it, given back when freed. */
static void test_bound_of_all_drafts(void)
{
	struct dfs_draft a, b;
	char buf[64];
	int ret;

	memset(buf, 'x', sizeof(buf));
	dfs_drafts_set_limit(100);
	dfs_draft_init(&a);
	dfs_draft_init(&b);
	CHECK(dfs_draft_write(&a, buf, 60, 0) == 0, "60 of 100 bytes");
	CHECK(dfs_drafts_used(NULL) == 60, "used %zu", dfs_drafts_used(NULL));
	ret = dfs_draft_write(&b, buf, 50, 0);
	CHECK(ret == -ENOSPC, "60 + 50 > 100: %d", ret);
	CHECK(dfs_draft_failed_write(&b) == -ENOSPC && dfs_draft_size(&b, NULL) == 0,
	      "the refused write is remembered, nothing written");
	CHECK(dfs_draft_write(&b, buf, 40, 0) == 0 && dfs_drafts_used(NULL) == 100, "exactly full");
	CHECK(dfs_draft_write(&a, buf, 10, 20) == 0, "an overwrite inside the file needs no room");
	CHECK(dfs_draft_truncate(&a, 70) == -ENOSPC, "extending past the bound");
	CHECK(dfs_draft_truncate(&b, 0) == 0 && dfs_draft_failed_write(&b) == 0 &&
	      dfs_drafts_used(NULL) == 60, "emptied: room given back, the refusal forgotten");
	CHECK(dfs_draft_fill(&b, buf, 50) == -ENOSPC, "a fill counts too");
	dfs_draft_free(&a);
	CHECK(dfs_drafts_used(NULL) == 0, "freed: %zu", dfs_drafts_used(NULL));
	dfs_draft_free(&b);
	dfs_drafts_set_limit(0);
}

int main(void)
{
	test_buf_resize();
	test_emptied_then_written();
	test_bound_of_all_drafts();
	test_write_during_save();
	return check_report("test_draft");
}
