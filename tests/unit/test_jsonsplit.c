/* test_jsonsplit.c - unit tests for fs/jsonsplit.c: a collection page split
 * into elements and members the same way whatever pieces it arrives in. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check.h"
#include "jsonsplit.h"

/* What a split produced: "I:<element>\n" and "M:<key>=<value>\n" lines. */
struct seen {
	struct dfs_buf log;
	int stop_after;          /* items before the callback says stop, 0 = never */
	int items;
};

static int on_item(void *ctx, const char *json, size_t len)
{
	struct seen *s = ctx;

	if (strlen(json) != len)
		return -EPROTO;  /* the text must be NUL-terminated at LEN */
	dfs_buf_appendf(&s->log, "I:%s\n", json);
	if (++s->items == s->stop_after)
		return 42;
	return 0;
}

static int on_member(void *ctx, const char *key, const char *json, size_t len)
{
	struct seen *s = ctx;

	dfs_buf_appendf(&s->log, "M:%s=%.*s\n", key, (int)len, json);
	return 0;
}

/* Split TEXT in pieces of CHUNK bytes; *RET the first error.  Returns the log. */
static char *split(const char *text, size_t chunk, size_t max, int stop_after, int *ret)
{
	struct seen s = { .stop_after = stop_after };
	struct dfs_jsplit js;
	size_t n = strlen(text), off;

	dfs_buf_init(&s.log, 0);
	dfs_buf_append(&s.log, "", 0);
	dfs_jsplit_init(&js, max, on_item, on_member, &s);
	*ret = 0;
	for (off = 0; off < n && *ret == 0; off += chunk)
		*ret = dfs_jsplit_feed(&js, text + off, off + chunk > n ? n - off : chunk);
	if (*ret == 0)
		*ret = dfs_jsplit_finish(&js);
	dfs_jsplit_free(&js);
	if (!s.log.data)
		return strdup("");
	return s.log.data;
}

static const char page[] =
	"{\"@odata.context\":\"https://org/api/data/v9.2/$metadata#accounts\",\r\n"
	" \"@odata.count\" : 3 ,\"value\": [\n"
	"  {\"name\":\"A \\\"quoted\\\" [name] {x}\",\"n\":-1.50,\"t\":true,\"z\":null},\n"
	"  {\"nested\":{\"a\":[1,{\"b\":\"}]\"}]},\"esc\":\"back\\\\slash\\\\\"} ,"
	"{}\t],\n"
	" \"flag\":false,\"@odata.nextLink\":\"https:\\/\\/org\\/next?$skiptoken=x\"}\n";

static const char page_log[] =
	"M:@odata.context=\"https://org/api/data/v9.2/$metadata#accounts\"\n"
	"M:@odata.count=3\n"
	"I:{\"name\":\"A \\\"quoted\\\" [name] {x}\",\"n\":-1.50,\"t\":true,\"z\":null}\n"
	"I:{\"nested\":{\"a\":[1,{\"b\":\"}]\"}]},\"esc\":\"back\\\\slash\\\\\"}\n"
	"I:{}\n"
	"M:flag=false\n"
	"M:@odata.nextLink=\"https:\\/\\/org\\/next?$skiptoken=x\"\n";

static void test_any_chunking(void)
{
	size_t chunk;
	char *log;
	int ret;

	for (chunk = 1; chunk <= sizeof(page); chunk++) {
		log = split(page, chunk, 0, 0, &ret);
		CHECK(ret == 0, "chunk %zu: ret %d", chunk, ret);
		CHECK(streq(log, page_log), "chunk %zu: got\n%s", chunk, log);
		free(log);
	}
}

static void test_shapes(void)
{
	char *log;
	int ret;

	log = split("{\"value\":[]}", 3, 0, 0, &ret);
	CHECK(ret == 0 && streq(log, ""), "an empty page: %d '%s'", ret, log);
	free(log);
	log = split("{}", 1, 0, 0, &ret);
	CHECK(ret == 0 && streq(log, ""), "an empty object");
	free(log);
	log = split("{\"value\":\"text\",\"\":1}", 4, 0, 0, &ret);
	CHECK(ret == 0 && streq(log, "M:value=\"text\"\nM:=1\n"),
	      "a value that is not an array is a member; an empty key: '%s'", log);
	free(log);
	log = split("{\"value\":[1, \"two\" ,[3]]}", 2, 0, 0, &ret);
	CHECK(ret == 0 && streq(log, "I:1\nI:\"two\"\nI:[3]\n"), "elements of any kind: '%s'", log);
	free(log);
}

/* Splitting TEXT (MAX: the size limit) fails with WANT; LOG what came before. */
static void expect_error(const char *text, size_t max, int want, const char *log,
			 const char *what)
{
	char *got;
	int ret;

	got = split(text, 5, max, 0, &ret);
	CHECK(ret == want && (!log || streq(got, log)), "%s: %d, '%s'", what, ret, got);
	free(got);
}

static void test_errors(void)
{
	char *log;
	int ret;

	expect_error("{\"value\":[{\"a\":1},{\"b\":", 0, -EIO, "I:{\"a\":1}\n", "truncated");
	expect_error("[1,2]", 0, -EIO, NULL, "not an object");
	expect_error("{\"value\":[x]}", 0, -EIO, NULL, "not a value");
	expect_error("{\"a\" 1}", 0, -EIO, NULL, "no colon");
	expect_error("{\"a\":1}}", 0, -EIO, NULL, "text after the object");
	expect_error("{\"value\":[{\"a\":\"0123456789\"}]}", 10, -EFBIG, NULL,
		     "an element over the limit");
	log = split(page, 9, 0, 2, &ret);
	CHECK(ret == 42, "the callback's answer stops the split: %d", ret);
	free(log);
}

static void test_reset(void)
{
	struct seen s = { 0 };
	struct dfs_jsplit js;

	dfs_buf_init(&s.log, 0);
	dfs_jsplit_init(&js, 0, on_item, on_member, &s);
	CHECK(dfs_jsplit_feed(&js, page, 70) == 0, "first half");
	dfs_jsplit_reset(&js);
	dfs_buf_free(&s.log);
	CHECK(dfs_jsplit_feed(&js, page, strlen(page)) == 0 && dfs_jsplit_finish(&js) == 0,
	      "a reset starts a new text");
	CHECK(streq(s.log.data, page_log), "after a reset: '%s'", str(s.log.data));
	dfs_jsplit_free(&js);
	dfs_buf_free(&s.log);
}

/* Whether TEXT, split whole, met a "value" array. */
static int saw_value(const char *text)
{
	struct seen s = { 0 };
	struct dfs_jsplit js;
	int saw;

	dfs_buf_init(&s.log, 0);
	dfs_jsplit_init(&js, 0, on_item, on_member, &s);
	saw = dfs_jsplit_feed(&js, text, strlen(text)) == 0 && dfs_jsplit_finish(&js) == 0 &&
	      js.saw_value;
	dfs_jsplit_free(&js);
	dfs_buf_free(&s.log);
	return saw;
}

static void test_saw_value(void)
{
	struct seen s = { 0 };
	struct dfs_jsplit js;

	CHECK(saw_value("{\"value\":[]}"), "an empty page is a collection");
	CHECK(saw_value(page), "a page is a collection");
	CHECK(!saw_value("{}"), "an empty object is not");
	CHECK(!saw_value("{\"value\":\"text\"}"), "a value that is not an array is not");
	CHECK(!saw_value("{\"error\":{\"value\":[]}}"), "a nested \"value\" is not");
	dfs_buf_init(&s.log, 0);
	dfs_jsplit_init(&js, 0, on_item, on_member, &s);
	CHECK(dfs_jsplit_feed(&js, page, strlen(page)) == 0 && js.saw_value, "met");
	dfs_jsplit_reset(&js);
	CHECK(!js.saw_value, "a reset forgets it (a retried page must show it again)");
	dfs_jsplit_free(&js);
	dfs_buf_free(&s.log);
}

int main(void)
{
	test_any_chunking();
	test_shapes();
	test_errors();
	test_reset();
	test_saw_value();
	return check_report("test_jsonsplit");
}
