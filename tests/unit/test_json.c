/* test_json.c - unit tests for fs/buf.c, the JSON layer (fs/json.c,
 * fs/json_value.c, fs/json_render.c) and fs/record.c.
 *
 * Checks go through tests/unit/check.h.  Expected outputs of the pretty renderer were
 * produced with Python's json.dumps(obj, indent=2, sort_keys=True,
 * ensure_ascii=False), which record files are meant to match byte for byte.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "check.h"
#include "json.h"
#include "record.h"

/* A string literal and its length. */
#define TEXT(lit) lit, sizeof(lit) - 1

/* Parse TEXT and render it; returns a malloc'd string or NULL (error in ERR). */
static char *reformat(const char *text, size_t len, int pretty, char *err, size_t errlen)
{
	struct dfs_buf b;
	cJSON *root;
	char *s = NULL;
	int ret;

	root = dfs_json_parse(text, len, err, errlen);
	if (!root)
		return NULL;
	dfs_buf_init(&b, 0);
	ret = pretty ? dfs_json_render_pretty(root, &b) : dfs_json_render_compact(root, &b);
	if (ret == 0)
		s = dfs_buf_detach(&b, NULL);
	else
		snprintf(err, errlen, "render failed: %d", ret);
	dfs_buf_free(&b);
	cJSON_Delete(root);
	return s;
}

static void expect_render(int line, const char *in, int pretty, const char *want)
{
	char err[256];
	char *got = reformat(in, strlen(in), pretty, err, sizeof(err));

	check_at(streq(got, want), __FILE__, line, "%s of %s:\n  got:  %s\n  want: %s",
	      pretty ? "pretty" : "compact", in, got ? got : err, want);
	free(got);
}

static void expect_error(int line, const char *in, size_t len, const char *want)
{
	char err[256];
	cJSON *root;

	memset(err, 'x', sizeof(err));
	root = dfs_json_parse(in, len, err, sizeof(err));
	check_at(root == NULL && streq(err, want), __FILE__, line,
	      "error for input #%d:\n  got:  %s\n  want: %s",
	      line, root ? "(parsed)" : err, want);
	cJSON_Delete(root);
}

#define ERR(in, want) expect_error(__LINE__, in, sizeof(in) - 1, want)

/* ---- buf ---------------------------------------------------------------- */

static void test_buf(void)
{
	struct dfs_buf b;
	char big[1000];
	char *s;
	size_t len;
	int i, ret;

	dfs_buf_init(&b, 0);
	s = dfs_buf_detach(&b, &len);
	CHECK(streq(s, "") && len == 0, "detach of an empty buffer gives \"\"");
	free(s);

	for (i = 0; i < 100000; i++)
		if (dfs_buf_append(&b, &"ab"[i & 1], 1) < 0)
			break;
	CHECK(i == 100000 && b.len == 100000 && b.data[b.len] == '\0',
	      "100000 one-byte appends: len %zu", b.len);
	CHECK(b.data[0] == 'a' && b.data[1] == 'b' && b.data[99999] == 'b', "content of appends");
	CHECK(b.cap >= b.len + 1 && b.cap <= 2 * (b.len + 1) + 256, "doubling keeps cap %zu near len", b.cap);
	dfs_buf_free(&b);
	CHECK(b.data == NULL && b.len == 0, "free resets");

	/* The cap bounds len; failures leave the buffer as it was. */
	dfs_buf_init(&b, 10);
	CHECK(dfs_buf_append(&b, "0123456789", 10) == 0, "fill to the cap");
	ret = dfs_buf_append(&b, "x", 1);
	CHECK(ret == -EFBIG && b.len == 10 && streq(b.data, "0123456789"),
	      "append past the cap: %d", ret);
	ret = dfs_buf_appendf(&b, "%d", 7);
	CHECK(ret == -EFBIG && b.len == 10 && streq(b.data, "0123456789"),
	      "appendf past the cap: %d", ret);
	dfs_buf_free(&b);

	dfs_buf_init(&b, 300);
	CHECK(dfs_buf_append(&b, "abc", 3) == 0, "small append");
	ret = dfs_buf_appendf(&b, "%0298d", 1);	/* one past the cap */
	CHECK(ret == -EFBIG && b.len == 3 && streq(b.data, "abc"),
	      "appendf past the cap: %d '%.10s'", ret, b.data);
	ret = dfs_buf_appendf(&b, "%0297d", 1);	/* exactly to the cap */
	CHECK(ret == 0 && b.len == 300 && b.data[300] == '\0', "appendf to the cap: %d", ret);
	dfs_buf_free(&b);

	/* A cap lowered below what is already allocated still holds. */
	dfs_buf_init(&b, 0);
	CHECK(dfs_buf_append(&b, "abc", 3) == 0, "small append");
	b.max = 5;
	ret = dfs_buf_appendf(&b, "%d", 123);	/* fits the allocation, not the cap */
	CHECK(ret == -EFBIG && b.len == 3 && streq(b.data, "abc"),
	      "appendf within the allocation but past the cap: %d '%s'", ret, str(b.data));
	CHECK(dfs_buf_appendf(&b, "%d", 12) == 0 && streq(b.data, "abc12"), "appendf up to a lowered cap");
	dfs_buf_free(&b);

	dfs_buf_init(&b, 0);
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ret = dfs_buf_appendf(&b, "<%s|%d>", big, 42);
	CHECK(ret == 0 && b.len == 1004 && b.data[0] == '<' && streq(b.data + 1000, "|42>"),
	      "appendf that needs growing: %d len %zu", ret, b.len);
	ret = dfs_buf_appendf(&b, "%s", "");
	CHECK(ret == 0 && b.len == 1004, "empty appendf");
	s = dfs_buf_detach(&b, &len);
	CHECK(s && len == 1004 && strlen(s) == 1004 && b.data == NULL && b.len == 0,
	      "detach hands over the bytes");
	free(s);
	dfs_buf_free(&b);
}

/* ---- numbers ------------------------------------------------------------ */

static void test_numbers(void)
{
	static const char *const literals[] = {
		"5000000.0000", "-0.0001", "922337203685477.5807", "1e-7", "0",
		"-0", "0.0", "1E+300", "1.5e-10", "-922337203685477.5808",
		"123456789012345678901234567890", "0e0", "10.0000000000",
	};
	char in[128], want[256];
	cJSON *root, *c;
	double d;
	size_t i;

	for (i = 0; i < sizeof(literals) / sizeof(literals[0]); i++) {
		expect_render(__LINE__, literals[i], 0, literals[i]);
		expect_render(__LINE__, literals[i], 1, literals[i]);
		snprintf(in, sizeof(in), "{ \"revenue\" : %s }", literals[i]);
		snprintf(want, sizeof(want), "{\"revenue\":%s}", literals[i]);
		expect_render(__LINE__, in, 0, want);
		snprintf(want, sizeof(want), "{\n  \"revenue\": %s\n}", literals[i]);
		expect_render(__LINE__, in, 1, want);
	}

	root = dfs_json_parse("[5000000.0000, -0.0001, \"1\", 2, true]", 37, NULL, 0);
	CHECK(root != NULL, "parse of a number array");
	if (root) {
		c = root->child;
		CHECK(cJSON_IsRaw(c) && streq(c->valuestring, "5000000.0000"), "numbers are Raw literals");
		CHECK(dfs_json_is_number(c) && dfs_json_number(c) == 5000000.0, "number value");
		c = c->next;
		CHECK(dfs_json_number(c) == -0.0001, "negative number value");
		c = c->next;
		CHECK(!dfs_json_is_number(c) && dfs_json_number(c) == 0, "a string is not a number");
		c = c->next->next;
		CHECK(!dfs_json_is_number(c), "true is not a number");
	}
	cJSON_Delete(root);

	c = cJSON_CreateNumber(2.5);
	CHECK(dfs_json_is_number(c) && dfs_json_number(c) == 2.5, "cJSON_Number is a number");
	cJSON_Delete(c);
	c = cJSON_CreateRaw("{\"not\":1}");
	CHECK(!dfs_json_is_number(c), "a non-number Raw is not a number");
	cJSON_Delete(c);
	CHECK(!dfs_json_is_number(NULL), "NULL is not a number");

	/* cJSON_Number (built by code, not parsed): shortest round trip. */
	{
		static const struct {
			double v;
			const char *want;
		} nums[] = {
			{ 1, "1" }, { -42, "-42" }, { 0.1, "0.1" }, { -2.5, "-2.5" },
			{ 1.0 / 3, "0.3333333333333333" }, { 123.456, "123.456" },
			{ 1e300, "1e+300" }, { 9007199254740991.0, "9007199254740991" },
			{ 9007199254740992.0, "9007199254740992" }, { 1e21, "1e+21" },
			{ 5e-324, "5e-324" }, { 1e-7, "1e-07" }, { 5000000, "5000000" },
		};
		struct dfs_buf b;

		for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
			c = cJSON_CreateNumber(nums[i].v);
			dfs_buf_init(&b, 0);
			CHECK(dfs_json_render_compact(c, &b) == 0 && streq(b.data, nums[i].want),
			      "cJSON_Number %.17g rendered '%s', want '%s'",
			      nums[i].v, str(b.data), nums[i].want);
			d = strtod(b.data ? b.data : "", NULL);
			CHECK(d == nums[i].v, "cJSON_Number %.17g round-trips", nums[i].v);
			dfs_buf_free(&b);
			cJSON_Delete(c);
		}
	}
}

/* ---- the number grammar -------------------------------------------------- */

/* Scan TEXT; WANT_END is how much of it the literal takes (or where it
 * fails), WANT_ERR what was wrong (DFS_JSON_NUM_OK: nothing). */
static void scan(int line, const char *text, size_t want_end, enum dfs_json_num_err want_err)
{
	struct dfs_json_num num;
	int ret = dfs_json_scan_number(text, text + strlen(text), &num);

	check_at(ret == (want_err ? -EINVAL : 0) && num.err == want_err &&
		 num.end == text + want_end, __FILE__, line,
		 "scan '%s': %d, err %d, end %td; want err %d, end %zu", text, ret, num.err,
		 num.end - text, want_err, want_end);
}

#define SCAN(text, end, err) scan(__LINE__, text, end, DFS_JSON_NUM_##err)

static void test_scan_number(void)
{
	static const char lit[] = "-12.50E-07,";
	struct dfs_json_num num;

	SCAN("0", 1, OK);
	SCAN("-0", 2, OK);
	SCAN("7]", 1, OK);
	SCAN("1.5.3", 3, OK);
	SCAN("0x1F", 1, OK);
	SCAN("1e5", 3, OK);
	SCAN("1E+05 ", 5, OK);
	SCAN("", 0, NO_DIGIT);
	SCAN("-", 1, NO_DIGIT);
	SCAN("- 1", 1, NO_DIGIT);
	SCAN("+1", 0, NO_DIGIT);
	SCAN(".5", 0, NO_DIGIT);
	SCAN("abc", 0, NO_DIGIT);
	SCAN("01", 1, LEADING_ZERO);
	SCAN("-007", 2, LEADING_ZERO);
	SCAN("1.", 2, NO_FRACTION);
	SCAN("1.e5", 2, NO_FRACTION);
	SCAN("1e", 2, NO_EXPONENT);
	SCAN("1E+", 3, NO_EXPONENT);
	SCAN("1e-x", 3, NO_EXPONENT);

	CHECK(dfs_json_scan_number(lit, lit + sizeof(lit) - 1, &num) == 0 && num.neg &&
	      num.intg == lit + 1 && num.n_int == 2 && num.frac == lit + 4 && num.n_frac == 2 &&
	      num.exp_neg && num.exp == lit + 8 && num.n_exp == 2 && num.end == lit + 10,
	      "the parts of %s", lit);
	CHECK(dfs_json_scan_number(lit + 1, lit + 3, &num) == 0 && !num.neg && num.n_int == 2 &&
	      !num.frac && !num.n_frac && !num.exp && !num.n_exp && !num.exp_neg &&
	      num.end == lit + 3, "no fraction, no exponent");
	/* END is a hard limit: "12.5" cut after the point. */
	CHECK(dfs_json_scan_number(lit + 1, lit + 4, &num) == -EINVAL &&
	      num.err == DFS_JSON_NUM_NO_FRACTION && num.end == lit + 4, "END bounds the scan");
}

/* ---- value comparison --------------------------------------------------- */

static void same(int line, const char *a, const char *b, int want)
{
	cJSON *x = dfs_json_parse(a, strlen(a), NULL, 0), *y = dfs_json_parse(b, strlen(b), NULL, 0);
	int got = dfs_json_same_value(x, y), back = dfs_json_same_value(y, x);

	check_at(x && y && got == want && back == want, __FILE__, line,
		 "same_value(%s, %s) = %d/%d, want %d", a, b, got, back, want);
	cJSON_Delete(x);
	cJSON_Delete(y);
}

#define SAME(a, b) same(__LINE__, a, b, 1)
#define DIFF(a, b) same(__LINE__, a, b, 0)

static void test_same_value(void)
{
	cJSON *d, *r;

	SAME("1", "1.0000");
	SAME("1", "1e0");
	SAME("1", "0.1e1");
	SAME("1", "10E-1");
	SAME("1", "100e-2");
	SAME("1.5", "1.50");
	SAME("0.1", "0.10");
	SAME("0.001", "1e-3");
	SAME("120", "1.2e+2");
	SAME("5000000.0000", "5000000");
	SAME("5000000.0000", "5e6");
	SAME("0", "0.0000");
	SAME("0", "-0");
	SAME("0", "0e99");
	SAME("-2.50", "-2.5");
	DIFF("1", "-1");
	DIFF("1", "10");
	DIFF("1", "0.1");
	DIFF("1", "1.0001");
	DIFF("0", "0.0001");
	DIFF("12", "21");
	/* Money: 19 significant digits, beyond what a double tells apart. */
	SAME("922337203685477.5807", "922337203685477.58070");
	SAME("922337203685477.5807", "9223372036854775807e-4");
	DIFF("922337203685477.5807", "922337203685477.5806");
	DIFF("1234567890123456789", "1234567890123456788");
	DIFF("-922337203685477.5807", "922337203685477.5807");
	SAME("1e400", "10e399");
	/* Absurd exponents compare by their text rather than overflow. */
	SAME("1e99999999999999999999", "1e99999999999999999999");
	DIFF("1e99999999999999999999", "1e99999999999999999998");

	SAME("\"abc\"", "\"abc\"");
	DIFF("\"abc\"", "\"ABC\"");
	DIFF("\"1\"", "1");
	SAME("null", "null");
	DIFF("null", "false");
	DIFF("null", "0");
	DIFF("null", "\"\"");
	SAME("true", "true");
	DIFF("true", "false");
	SAME("[1,\"a\",null]", "[1.0,\"a\",null]");
	DIFF("[1,2]", "[2,1]");
	DIFF("[1]", "[1,1]");
	SAME("{\"a\":1,\"b\":[2]}", "{\"b\":[2.00],\"a\":1}");
	DIFF("{\"a\":1}", "{\"a\":1,\"b\":2}");
	DIFF("{\"a\":1}", "{\"b\":1}");
	DIFF("{}", "[]");

	/* A missing column holds null; a cJSON_Number compares by value too. */
	d = cJSON_CreateNumber(1.5);
	r = dfs_json_parse(TEXT("1.50"), NULL, 0);
	CHECK(dfs_json_same_value(d, r) && dfs_json_same_value(r, d), "double 1.5 == raw 1.50");
	cJSON_Delete(r);
	cJSON_Delete(d);
	r = dfs_json_parse(TEXT("null"), NULL, 0);
	CHECK(dfs_json_same_value(NULL, r) && dfs_json_same_value(NULL, NULL), "absent == null");
	cJSON_Delete(r);
	r = dfs_json_parse(TEXT("0"), NULL, 0);
	CHECK(!dfs_json_same_value(NULL, r), "absent != 0");
	CHECK(dfs_json_is_null(NULL) && !dfs_json_is_null(r), "is_null");
	cJSON_Delete(r);
	r = cJSON_CreateNull();
	CHECK(dfs_json_is_null(r), "is_null(null)");
	cJSON_Delete(r);
	/* Exponents up to 10^8 are compared exactly. */
	SAME("1e100000000", "10e99999999");
	DIFF("1e100000000", "1e99999999");
	/* A double that is no number text (inf) compares by its text. */
	d = cJSON_CreateNumber(HUGE_VAL);
	r = cJSON_CreateNumber(HUGE_VAL);
	CHECK(dfs_json_same_value(d, r), "inf == inf");
	cJSON_Delete(r);
	r = dfs_json_parse(TEXT("1e999"), NULL, 0);
	CHECK(!dfs_json_same_value(d, r), "inf != 1e999 (not a double here)");
	cJSON_Delete(r);
	cJSON_Delete(d);
}


/* ---- rendering ---------------------------------------------------------- */

/* Generated with Python; see the comment at the top. */
static const char py_in[] =
	"{\"zeta\": [1, 2, {\"b\": null, \"a\": true}],\n"
	" \"alpha\": \"Müller \\\"quoted\\\" back\\\\slash\\nnew\\ttab \\u0001 \\u007f \\u001f \\b\\f\\r \\/\",\n"
	" \"東京\": {\"z\": [], \"y\": {}, \"x\": [[]]},\n"
	" \"emoji\": \"\\ud83d\\ude00 😀\", \"Zebra\": false, \"a b\": -12,\n"
	" \"neg\": -0.25, \"half\": 1.5, \"big\": 123456789012345678901234567890,\n"
	" \"\": \"empty key\", \"é\": \"\\u00e9\", \"aa\": [{\"k\": \"v\"}, \"s\", 0]}";
static const char py_out[] =
	"{\n"
	"  \"\": \"empty key\",\n"
	"  \"Zebra\": false,\n"
	"  \"a b\": -12,\n"
	"  \"aa\": [\n"
	"    {\n"
	"      \"k\": \"v\"\n"
	"    },\n"
	"    \"s\",\n"
	"    0\n"
	"  ],\n"
	"  \"alpha\": \"Müller \\\"quoted\\\" back\\\\slash\\nnew\\ttab \\u0001 \x7f"" \\u001f \\b\\f\\r /\",\n"
	"  \"big\": 123456789012345678901234567890,\n"
	"  \"emoji\": \"😀 😀\",\n"
	"  \"half\": 1.5,\n"
	"  \"neg\": -0.25,\n"
	"  \"zeta\": [\n"
	"    1,\n"
	"    2,\n"
	"    {\n"
	"      \"a\": true,\n"
	"      \"b\": null\n"
	"    }\n"
	"  ],\n"
	"  \"é\": \"é\",\n"
	"  \"東京\": {\n"
	"    \"x\": [\n"
	"      []\n"
	"    ],\n"
	"    \"y\": {},\n"
	"    \"z\": []\n"
	"  }\n"
	"}";

static void test_render(void)
{
	struct dfs_buf b;
	cJSON *root;
	char *s;

	expect_render(__LINE__, py_in, 1, py_out);

	/* Compact keeps tree order and uses the same escaping. */
	expect_render(__LINE__, "{ \"b\" : 1 , \"a\" : [ true , false , null ] , \"c\" : { } , \"d\" : [ ] }", 0,
		      "{\"b\":1,\"a\":[true,false,null],\"c\":{},\"d\":[]}");
	expect_render(__LINE__, "\"q\\\" b\\\\ n\\n t\\t c\\u0001 d\\u007f M\\u00fcller 東京 \\ud83d\\ude00 \\/\"", 0,
		      "\"q\\\" b\\\\ n\\n t\\t c\\u0001 d\x7f"" Müller 東京 😀 /\"");

	/* Pretty scalars and empties at the top level. */
	expect_render(__LINE__, " {} ", 1, "{}");
	expect_render(__LINE__, "[]", 1, "[]");
	expect_render(__LINE__, "\"x\"", 1, "\"x\"");
	expect_render(__LINE__, "null", 1, "null");
	expect_render(__LINE__, "[[[]], {\"a\": {}}]", 1,
		      "[\n  [\n    []\n  ],\n  {\n    \"a\": {}\n  }\n]");
	/* Sorting is bytewise: upper case before lower, UTF-8 after ASCII. */
	expect_render(__LINE__, "{\"b\":1,\"B\":2,\"ä\":3,\"a\":4,\"_\":5,\"aa\":6,\"a0\":7}", 0,
		      "{\"b\":1,\"B\":2,\"ä\":3,\"a\":4,\"_\":5,\"aa\":6,\"a0\":7}");
	expect_render(__LINE__, "{\"b\":1,\"B\":2,\"ä\":3,\"a\":4,\"_\":5,\"aa\":6,\"a0\":7}", 1,
		      "{\n  \"B\": 2,\n  \"_\": 5,\n  \"a\": 4,\n  \"a0\": 7,\n  \"aa\": 6,\n  \"b\": 1,\n  \"ä\": 3\n}");

	/* Rendering sorts without touching the tree. */
	root = dfs_json_parse("{\"z\":1,\"a\":2}", 13, NULL, 0);
	dfs_buf_init(&b, 0);
	CHECK(root && dfs_json_render_pretty(root, &b) == 0, "pretty render");
	CHECK(root && streq(root->child->string, "z") && streq(root->child->next->string, "a"),
	      "pretty render leaves the tree order alone");
	dfs_buf_free(&b);

	/* The cap on the output buffer is reported, not overrun. */
	dfs_buf_init(&b, 8);
	CHECK(root && dfs_json_render_pretty(root, &b) == -EFBIG && b.len <= 8,
	      "render into a small capped buffer gives -EFBIG");
	dfs_buf_free(&b);

	/* The parsed tree works with the cJSON API: lookup, O(1) append. */
	if (root) {
		CHECK(cJSON_GetObjectItemCaseSensitive(root, "a") != NULL, "cJSON lookup in parsed tree");
		cJSON_AddItemToObject(root, "m", cJSON_CreateString("new"));
		cJSON_AddItemToObject(root, "n", cJSON_CreateNumber(7));
		dfs_buf_init(&b, 0);
		CHECK(dfs_json_render_compact(root, &b) == 0 &&
		      streq(b.data, "{\"z\":1,\"a\":2,\"m\":\"new\",\"n\":7}"),
		      "cJSON_AddItemToObject appends after parsed members: %s", str(b.data));
		dfs_buf_free(&b);
	}
	cJSON_Delete(root);

	/* Other control characters: lower-case \u00xx. */
	s = reformat("\"\\u001F\\u000b\\u0010x\\u0080\"", 27, 0, (char[64]){0}, 64);
	CHECK(streq(s, "\"\\u001f\\u000b\\u0010x\xc2\x80\""), "control escapes: %s", str(s));
	free(s);
}

/* ---- parse errors ------------------------------------------------------- */

static void test_errors(void)
{
	char deep[300];
	char *s;
	int i;

	/* Empty and truncated input. */
	ERR("", "line 1, column 1: expected a value, found end of input");
	ERR("  \n\t ", "line 2, column 3: expected a value, found end of input");
	ERR("{\"a\": [1, 2", "line 1, column 12: expected ',' or ']' after array element, found end of input");
	ERR("{\"a\": ", "line 1, column 7: expected a value, found end of input");
	ERR("{\"a\": 1", "line 1, column 8: expected ',' or '}' after object member, found end of input");
	ERR("{\"a\"", "line 1, column 5: expected ':' after object key, found end of input");
	ERR("{", "line 1, column 2: expected a string key or '}', found end of input");
	ERR("[1,", "line 1, column 4: expected a value, found end of input");
	ERR("{\"a\":1,", "line 1, column 8: expected a string key after ',', found end of input");

	/* Trailing commas. */
	ERR("[1, 2,]", "line 1, column 7: expected a value after ',', found ']' (trailing commas are not allowed)");
	ERR("{\"a\": 1,\n}", "line 2, column 1: expected a string key after ',', found '}' (trailing commas are not allowed)");

	/* Not JSON but often written. */
	ERR("{'a': 1}", "line 1, column 2: expected a string key or '}', found a single quote (JSON strings use double quotes)");
	ERR("{\"a\": 'x'}", "line 1, column 7: expected a value, found a single quote (JSON strings use double quotes)");
	ERR("[NaN]", "line 1, column 2: expected a value, found 'NaN'");
	ERR("-Infinity", "line 1, column 2: expected a digit after '-', found 'Infinity'");
	ERR("{a: 1}", "line 1, column 2: expected a string key or '}', found 'a'");
	ERR("{1: 2}", "line 1, column 2: expected a string key or '}', found '1'");
	ERR("{\"ok\": True}", "line 1, column 8: expected a value, found 'True'");
	ERR("nul", "line 1, column 1: expected a value, found 'nul'");
	ERR("truex", "line 1, column 1: expected a value, found 'truex'");
	ERR("[undefined_value_with_a_long_name]",
	    "line 1, column 2: expected a value, found 'undefined_value_with_a_l'...");
	ERR("// comment\n{}", "line 1, column 1: expected a value, found '/'");

	/* Numbers. */
	ERR("01", "line 1, column 1: invalid number '01': leading zeros are not allowed");
	ERR("[-007]", "line 1, column 2: invalid number '-007': leading zeros are not allowed");
	ERR("1.", "line 1, column 3: expected a digit after '.' in number, found end of input");
	ERR("[1.e5]", "line 1, column 4: expected a digit after '.' in number, found 'e5'");
	ERR(".5", "line 1, column 1: expected a value, found '.' (a number must start with a digit or '-')");
	ERR("+1", "line 1, column 1: expected a value, found '+' (a number must start with a digit or '-')");
	ERR("-", "line 1, column 2: expected a digit after '-', found end of input");
	ERR("- 1", "line 1, column 2: expected a digit after '-', found a space");
	ERR("1e", "line 1, column 3: expected a digit in the exponent of number, found end of input");
	ERR("1E+", "line 1, column 4: expected a digit in the exponent of number, found end of input");
	ERR("0x1F", "line 1, column 2: expected end of input after the JSON value, found 'x1F'");
	ERR("1.5.3", "line 1, column 4: expected end of input after the JSON value, found '.'");

	/* Strings. */
	ERR("{\"name\": \"Contoso", "line 1, column 10: unterminated string");
	ERR("\"abc\\", "line 1, column 1: unterminated string");
	ERR("[\"\\x41\"]",
	    "line 1, column 3: invalid escape '\\x' in string (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
	ERR("\"\\'\"",
	    "line 1, column 2: invalid escape '\\'' in string (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
	ERR("\"a\\\tb\"", "line 1, column 3: invalid escape in string: '\\' followed by a tab");
	ERR("\"\\u12G4\"", "line 1, column 2: expected 4 hex digits after '\\u' in string");
	ERR("\"\\u12\"", "line 1, column 2: expected 4 hex digits after '\\u' in string");
	ERR("\"x\\ud800\"",
	    "line 1, column 3: lone surrogate '\\ud800' in string (a high surrogate must be followed by a low surrogate \\udc00-\\udfff)");
	ERR("\"\\uD83D\\u0041\"",
	    "line 1, column 2: lone surrogate '\\uD83D' in string (a high surrogate must be followed by a low surrogate \\udc00-\\udfff)");
	ERR("\"\\ud83d\\ud83d\"",
	    "line 1, column 2: lone surrogate '\\ud83d' in string (a high surrogate must be followed by a low surrogate \\udc00-\\udfff)");
	ERR("\"\\udc00\\ud800\"",
	    "line 1, column 2: lone surrogate '\\udc00' in string (a low surrogate must follow a high surrogate \\ud800-\\udbff)");
	ERR("\"\\u0000\"", "line 1, column 2: '\\u0000' in string is not supported (strings cannot contain NUL)");
	ERR("\"a\xff\"", "line 1, column 3: invalid UTF-8 byte 0xff in string");
	ERR("\"\xc0\xaf\"", "line 1, column 2: invalid UTF-8 byte 0xc0 in string");	/* overlong '/' */
	ERR("\"\x80\"", "line 1, column 2: invalid UTF-8 byte 0x80 in string");
	ERR("\"\xed\xa0\x80\"", "line 1, column 2: invalid UTF-8 in string: byte 0xed followed by 0xa0");	/* U+D800 */
	ERR("\"\xf4\x90\x80\x80\"", "line 1, column 2: invalid UTF-8 in string: byte 0xf4 followed by 0x90");	/* > U+10FFFF */
	ERR("\"\xe6\x9d\"", "line 1, column 2: invalid UTF-8 in string: byte 0xe6 followed by 0x22");
	ERR("\"\xc3", "line 1, column 2: invalid UTF-8 in string: byte 0xc3 is cut off by the end of input");
	ERR("{\"a\": \"line one\nline two\"}",
	    "line 1, column 16: unescaped control character U+000A in string (write it as \\n)");
	ERR("\"tab\there\"", "line 1, column 5: unescaped control character U+0009 in string (write it as \\t)");
	ERR("\"\x01\"", "line 1, column 2: unescaped control character U+0001 in string (write it as \\u0001)");
	ERR("[\"a\", \xff]", "line 1, column 7: expected a value, found byte 0xff");
	ERR("[\"a\", é]", "line 1, column 7: expected a value, found 'é'");
	ERR("\xef\xbb\xbf{}", "line 1, column 1: expected a value, found a byte order mark (U+FEFF)");
	ERR("[1,\0]", "line 1, column 4: expected a value, found byte 0x00");

	/* Structure. */
	ERR("{\"name\": 1, \"name\": 2}", "line 1, column 13: duplicate key 'name'");
	ERR("{\"a\": {\"x\": 1}, \"b\": {\"x\": 2, \"y\": 3, \"x\": 4}}", "line 1, column 39: duplicate key 'x'");
	ERR("{\"a\\nb\": 1, \"a\\nb\": 2}", "line 1, column 13: duplicate key 'a\\nb'");
	ERR("{\"ÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄ\":1,\"ÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄ\":1}",
	    "line 1, column 57: duplicate key 'ÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄ...'");
	/* Duplicates are found when their object ends, but reported as if at
	 * once: an error after a repeated key does not hide it, one before does. */
	ERR("{\"a\":1,\"a\"}", "line 1, column 8: duplicate key 'a'");
	ERR("{\"a\":1,\"a\":2", "line 1, column 8: duplicate key 'a'");
	ERR("{\"a\":1,\"a\":tru}", "line 1, column 8: duplicate key 'a'");
	ERR("{\"a\":{\"b\":x},\"a\":1}", "line 1, column 11: expected a value, found 'x'");
	ERR("{\"b\":1,\"a\":1,\"b\":1,\"a\":1}", "line 1, column 14: duplicate key 'b'");
	ERR("{\"a\":1,\"b\":{\"c\":1,\"c\":2,\"d\":x},\"a\":2}", "line 1, column 19: duplicate key 'c'");
	ERR("{\"a\":1,\"b\":{\"c\":1,\"d\":x},\"a\":2}", "line 1, column 23: expected a value, found 'x'");
	ERR("{\"a\\u007f\":1,\"a\\u007f\":1}", "line 1, column 14: duplicate key 'a\\x7f'");
	ERR("{\"a\" 1}", "line 1, column 6: expected ':' after object key, found '1'");
	ERR("{\n  \"Müller\": 1\n  \"b\": 2\n}", "line 3, column 3: expected ',' or '}' after object member, found '\"'");
	ERR("{\"Müller\": 1 x}", "line 1, column 14: expected ',' or '}' after object member, found 'x'");
	ERR("[1 2]", "line 1, column 4: expected ',' or ']' after array element, found '2'");
	ERR("[1; 2]", "line 1, column 3: expected ',' or ']' after array element, found ';'");
	ERR("{} x", "line 1, column 4: expected end of input after the JSON value, found 'x'");
	ERR("[1] [2]", "line 1, column 5: expected end of input after the JSON value, found '['");
	ERR("{}\n}", "line 2, column 1: expected end of input after the JSON value, found '}'");
	ERR("}", "line 1, column 1: expected a value, found '}'");

	/* Nesting: 64 levels are fine, 65 are not. */
	memset(deep, '[', 64);
	memset(deep + 64, ']', 64);
	s = reformat(deep, 128, 0, (char[128]){0}, 128);
	CHECK(s && strncmp(s, deep, 128) == 0, "64 nested arrays parse");
	free(s);
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	expect_error(__LINE__, deep, 130, "line 1, column 65: nesting deeper than 64 levels");
	for (i = 0; i < 64; i++)
		memcpy(deep + 4 * i, "{\"\":", 4);	/* {"": */
	memcpy(deep + 4 * 64, "{}", 2);
	expect_error(__LINE__, deep, 4 * 64 + 2, "line 1, column 257: nesting deeper than 64 levels");

	/* Errors don't overflow a small errbuf and NULL errbuf is allowed. */
	{
		char small[12];

		CHECK(dfs_json_parse("[", 1, small, sizeof(small)) == NULL &&
		      streq(small, "line 1, col"), "errbuf is truncated safely: '%s'", small);
		CHECK(dfs_json_parse("[", 1, NULL, 0) == NULL, "NULL errbuf");
		CHECK(dfs_json_parse(NULL, 0, small, sizeof(small)) == NULL, "NULL text");
	}
}

/* Valid but unusual input, and the duplicate check on large objects. */
static void test_valid(void)
{
	struct dfs_buf in;
	char err[256];
	char *s;
	int i;

	expect_render(__LINE__, " \t\r\n[ true ,false,null , \"\" ] \n", 0, "[true,false,null,\"\"]");
	expect_render(__LINE__, "\"\\/\\\"\\\\\\b\\f\\n\\r\\t\"", 0, "\"/\\\"\\\\\\b\\f\\n\\r\\t\"");
	expect_render(__LINE__, "\"\\uD83D\\uDE00\\u00E9\\u6771\\u4EAC\\uFFFF\\u0800\\u07ff\"", 0,
		      "\"😀é東京\xef\xbf\xbf\xe0\xa0\x80\xdf\xbf\"");
	expect_render(__LINE__, "\"\xf4\x8f\xbf\xbf\xf0\x90\x80\x80\"", 0, "\"\xf4\x8f\xbf\xbf\xf0\x90\x80\x80\"");
	expect_render(__LINE__, "{\"\":1}", 0, "{\"\":1}");
	expect_render(__LINE__, "{\"a\":{\"a\":{\"a\":1}}}", 0, "{\"a\":{\"a\":{\"a\":1}}}");

	/* 1000 distinct keys that share long prefixes: no false duplicate... */
	dfs_buf_init(&in, 0);
	dfs_buf_append(&in, "{", 1);
	for (i = 0; i < 1000; i++)
		dfs_buf_appendf(&in, "%s\"new_a_rather_long_common_prefix_%d\":%d", i ? "," : "", i, i);
	dfs_buf_append(&in, "}", 1);
	s = reformat(in.data, in.len, 0, err, sizeof(err));
	CHECK(streq(s, in.data), "1000-key object round trip: %s", s ? "differs" : err);
	free(s);
	/* ...and a true duplicate late in a big object is found. */
	in.len--;
	dfs_buf_appendf(&in, ",\"new_a_rather_long_common_prefix_%d\":0}", 517);
	snprintf(err, sizeof(err), "line 1, column %zu: duplicate key 'new_a_rather_long_common_prefix_517'",
		 in.len - (size_t)strlen("\"new_a_rather_long_common_prefix_517\":0}") + 1);
	expect_error(__LINE__, in.data, in.len, err);
	dfs_buf_free(&in);

	/* Duplicates are per object: the same key in siblings and children is fine,
	 * also when big objects at the same depth follow each other. */
	dfs_buf_init(&in, 0);
	dfs_buf_append(&in, "[", 1);
	for (i = 0; i < 3; i++) {
		int k;

		dfs_buf_appendf(&in, "%s{", i ? "," : "");
		for (k = 0; k < 40; k++)
			dfs_buf_appendf(&in, "%s\"k%d\":{\"k%d\":%d}", k ? "," : "", k, k, k);
		dfs_buf_append(&in, "}", 1);
	}
	dfs_buf_append(&in, "]", 1);
	s = reformat(in.data, in.len, 0, err, sizeof(err));
	CHECK(streq(s, in.data), "sibling objects with the same keys: %s", s ? "differs" : err);
	free(s);
	dfs_buf_free(&in);
}

/* ---- record ------------------------------------------------------------- */

static const char rec_in[] =
	"{\"@odata.context\": \"https://org.crm.dynamics.com/api/data/v9.2/$metadata#accounts/$entity\",\n"
	" \"@odata.etag\": \"W/\\\"4711\\\"\", \"name\": \"Müller & Söhne \\\"GmbH\\\"\",\n"
	" \"accountid\": \"5a1b2c3d-0000-4e5f-8a9b-0123456789ab\", \"numberofemployees\": 250,\n"
	" \"statecode\": 0, \"statecode@OData.Community.Display.V1.FormattedValue\": \"Active\",\n"
	" \"description\": \"line one\\nline two\\ttabbed\", \"address1_city\": \"東京\",\n"
	" \"_primarycontactid_value\": null, \"donotemail\": false,\n"
	" \"primarycontactid\": {\"@odata.etag\": \"W/\\\"9\\\"\", \"fullname\": \"Yuki 😀\",\n"
	"   \"contactid\": \"11111111-2222-3333-4444-555555555555\"},\n"
	" \"tags\": [\"a\", 1, true, null, [], {}]}";
static const char rec_out[] =
	"{\n"
	"  \"_primarycontactid_value\": null,\n"
	"  \"accountid\": \"5a1b2c3d-0000-4e5f-8a9b-0123456789ab\",\n"
	"  \"address1_city\": \"東京\",\n"
	"  \"description\": \"line one\\nline two\\ttabbed\",\n"
	"  \"donotemail\": false,\n"
	"  \"name\": \"Müller & Söhne \\\"GmbH\\\"\",\n"
	"  \"numberofemployees\": 250,\n"
	"  \"primarycontactid\": {\n"
	"    \"@odata.etag\": \"W/\\\"9\\\"\",\n"
	"    \"contactid\": \"11111111-2222-3333-4444-555555555555\",\n"
	"    \"fullname\": \"Yuki 😀\"\n"
	"  },\n"
	"  \"statecode\": 0,\n"
	"  \"tags\": [\n"
	"    \"a\",\n"
	"    1,\n"
	"    true,\n"
	"    null,\n"
	"    [],\n"
	"    {}\n"
	"  ]\n"
	"}\n";

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static char *render_record_text(const char *text, size_t len)
{
	struct dfs_buf b;
	char err[256];
	cJSON *rec;
	char *s = NULL;

	rec = dfs_json_parse(text, len, err, sizeof(err));
	if (!rec) {
		fprintf(stderr, "record parse: %s\n", err);
		return NULL;
	}
	dfs_buf_init(&b, 0);
	if (dfs_record_render(rec, &b) == 0)
		s = dfs_buf_detach(&b, NULL);
	dfs_buf_free(&b);
	cJSON_Delete(rec);
	return s;
}

static void test_record_render(void)
{
	/* Members of a money-heavy record, each "key": value. */
	static const char *const members[] = {
		"\"revenue\": 5000000.0000", "\"creditlimit\": -0.0001",
		"\"big\": 922337203685477.5807", "\"tiny\": 1e-7", "\"zero\": 0",
		"\"@odata.etag\": \"W/\\\"1\\\"\"", "\"name\": \"A \\\"B\\\" \\\\ C\"",
		"\"revenue@OData.Community.Display.V1.FormattedValue\": \"$5,000,000.00\"",
		"\"_ownerid_value\": \"00000000-0000-0000-0000-000000000001\"",
		"\"address\": {\"line1\": \"x\", \"city\": \"Köln\"}", "\"list\": [3, 2, 1]",
		"\"Z\": true", "\"a\": null", "\"émoji\": \"\\ud83d\\ude00\"",
		"\"x@y\": 1", "\"@\": 2", "\"plain\": \"\"",
	};
	enum { N = sizeof(members) / sizeof(members[0]) };
	size_t order[N];
	struct dfs_buf in, b;
	char *first = NULL, *s;
	cJSON *rec;
	int round, i;

	s = render_record_text(rec_in, sizeof(rec_in) - 1);
	CHECK(streq(s, rec_out), "record render:\n%s\nwant:\n%s", str(s), rec_out);
	free(s);

	s = render_record_text("{\"@odata.etag\": \"W/\\\"1\\\"\"}",
			       strlen("{\"@odata.etag\": \"W/\\\"1\\\"\"}"));
	CHECK(streq(s, "{}\n"), "record of annotations only renders as {}: %s", str(s));
	free(s);

	/* The same record in 50 different key orders gives the same bytes. */
	for (i = 0; i < N; i++)
		order[i] = (size_t)i;
	for (round = 0; round < 50; round++) {
		for (i = N - 1; i > 0; i--) {
			size_t j = rng() % (uint64_t)(i + 1), t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		dfs_buf_init(&in, 0);
		dfs_buf_append(&in, "{", 1);
		for (i = 0; i < N; i++)
			dfs_buf_appendf(&in, "%s%s", i ? ",\n " : "", members[order[i]]);
		dfs_buf_append(&in, "}", 1);
		s = render_record_text(in.data, in.len);
		if (!first) {
			first = s;
			CHECK(s != NULL, "shuffled record renders");
		} else {
			CHECK(streq(s, first), "shuffled record round %d differs:\n%s\nvs\n%s", round, str(s), first);
			free(s);
		}
		dfs_buf_free(&in);
	}
	CHECK(first && strstr(first, "\"revenue\": 5000000.0000,\n") &&
	      strstr(first, "\"big\": 922337203685477.5807,\n") &&
	      strstr(first, "\"tiny\": 1e-7,\n") && strstr(first, "\"creditlimit\": -0.0001,\n") &&
	      strstr(first, "\"zero\": 0,\n") && !strchr(first, '@') &&
	      first[strlen(first) - 1] == '\n' && first[strlen(first) - 2] == '}',
	      "record keeps money literals, drops '@' keys, ends with newline:\n%s", str(first));
	CHECK(first && strncmp(first, "{\n  \"Z\": true,\n  \"_ownerid_value\"", 33) == 0,
	      "record keys sorted bytewise:\n%s", str(first));
	free(first);

	/* Not an object; and a record built by code. */
	dfs_buf_init(&b, 0);
	rec = cJSON_CreateArray();
	CHECK(dfs_record_render(rec, &b) == -EINVAL, "array is not a record");
	cJSON_Delete(rec);
	CHECK(dfs_record_render(NULL, &b) == -EINVAL, "NULL is not a record");
	rec = cJSON_CreateObject();
	cJSON_AddNumberToObject(rec, "n", 2.5);
	cJSON_AddStringToObject(rec, "@odata.etag", "x");
	cJSON_AddRawToObject(rec, "m", "1.50");
	CHECK(dfs_record_render(rec, &b) == 0 && streq(b.data, "{\n  \"m\": 1.50,\n  \"n\": 2.5\n}\n"),
	      "record built with cJSON: %s", str(b.data));
	cJSON_Delete(rec);
	dfs_buf_free(&b);
}

static void test_parse_time(void)
{
	static const struct {
		const char *s;
		int ok;
		long long t;
	} cases[] = {
		{ "2018-05-02T13:31:46Z", 1, 1525267906 },
		{ "1970-01-01T00:00:00Z", 1, 0 },
		{ "1969-12-31T23:59:59Z", 1, -1 },
		{ "2018-05-02T13:31:46.123Z", 1, 1525267906 },
		{ "2018-05-02T13:31:46.1234567Z", 1, 1525267906 },
		{ "2018-05-02T15:31:46+02:00", 1, 1525267906 },
		{ "2018-05-02T08:01:46-05:30", 1, 1525267906 },
		{ "2018-05-02T13:31:46.5+00:00", 1, 1525267906 },
		{ "2018-05-02T13:31:46-00:00", 1, 1525267906 },
		{ "2018-05-02", 1, 1525219200 },
		{ "2000-02-29", 1, 951782400 },
		{ "2024-12-31T23:59:59Z", 1, 1735689599 },
		{ "0001-01-01T00:00:00Z", 1, -62135596800LL },
		{ "9999-12-31T23:59:59Z", 1, 253402300799LL },
		{ "", 0, 0 },
		{ "garbage", 0, 0 },
		{ "2018-05-02T13:31:46", 0, 0 },	/* no zone */
		{ "2018-05-02 13:31:46Z", 0, 0 },
		{ "2018-05-02t13:31:46z", 0, 0 },
		{ "2018-5-2", 0, 0 },
		{ "2018-05-02T13:31Z", 0, 0 },
		{ "2018-05-02T13:31:46.Z", 0, 0 },
		{ "2018-05-02T13:31:46Zjunk", 0, 0 },
		{ "2018-05-02T13:31:46+0200", 0, 0 },
		{ "2018-05-02T13:31:46+02", 0, 0 },
		{ "2018-05-02T13:31:46+24:00", 0, 0 },
		{ "2018-13-02T13:31:46Z", 0, 0 },
		{ "2018-00-02", 0, 0 },
		{ "2018-05-00", 0, 0 },
		{ "2019-02-29", 0, 0 },
		{ "1900-02-29", 0, 0 },
		{ "2018-04-31", 0, 0 },
		{ "2018-05-02T24:00:00Z", 0, 0 },
		{ "2018-05-02T13:60:00Z", 0, 0 },
		{ "2018-05-02T13:31:60Z", 0, 0 },
		{ "2018-05-02 ", 0, 0 },
		{ " 2018-05-02", 0, 0 },
		{ "+2018-05-02", 0, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t t = 12345;
		int ret = dfs_record_parse_time(cases[i].s, &t);

		if (cases[i].ok)
			CHECK(ret == 0 && (long long)t == cases[i].t,
			      "parse_time(\"%s\") = %d, %lld; want %lld",
			      cases[i].s, ret, (long long)t, cases[i].t);
		else
			CHECK(ret == -EINVAL && t == 12345, "parse_time(\"%s\") accepted", cases[i].s);
	}
	CHECK(dfs_record_parse_time(NULL, &(time_t){0}) == -EINVAL, "parse_time(NULL)");
}

static void test_name_to_id(void)
{
	static const struct {
		const char *name;
		int ok;
	} cases[] = {
		{ "5a1b2c3d-0000-4e5f-8a9b-0123456789ab.json", 1 },
		{ "00000000-0000-0000-0000-000000000000.json", 1 },
		{ "ffffffff-ffff-ffff-ffff-ffffffffffff.json", 1 },
		{ "5A1B2C3D-0000-4E5F-8A9B-0123456789AB.json", 0 },
		{ "5a1b2c3d-0000-4e5f-8a9b-0123456789aB.json", 0 },
		{ "5a1b2c3d-0000-4e5f-8a9b-0123456789ab.JSON", 0 },
		{ "5a1b2c3d-0000-4e5f-8a9b-0123456789ab", 0 },
		{ "5a1b2c3d-0000-4e5f-8a9b-0123456789ab.json~", 0 },
		{ "5a1b2c3d-0000-4e5f-8a9b-0123456789ab.jso", 0 },
		{ ".5a1b2c3d-0000-4e5f-8a9b-0123456789ab.json.swp", 0 },
		{ "5a1b2c3d00000-4e5f-8a9b-0123456789ab.json", 0 },
		{ "5a1b2c3d-0000-4e5f-8a9b-0123456789a.json", 0 },
		{ "5a1b2c3d-0000-4e5f-8a9b-0123456789abc.json", 0 },
		{ "{5a1b2c3d-0000-4e5f-8a9b-0123456789ab}.json", 0 },
		{ "5a1b2c3g-0000-4e5f-8a9b-0123456789ab.json", 0 },
		{ "5a1b2c3d-0000-4e5f-8a9b-0123456789ab.json.json", 0 },
		{ "", 0 },
		{ ".json", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char id[37] = "untouched";
		int ret = dfs_record_name_to_id(cases[i].name, id);

		if (cases[i].ok)
			CHECK(ret == 1 && strlen(id) == 36 && strncmp(id, cases[i].name, 36) == 0,
			      "name_to_id(\"%s\") = %d '%s'", cases[i].name, ret, id);
		else
			CHECK(ret == 0 && streq(id, "untouched"),
			      "name_to_id(\"%s\") accepted", cases[i].name);
	}
}

/* ---- performance -------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A list page shaped like the Web API's: {"@odata.context":..., "value":
 * [records...]}, about 20 MB.  No assertion on time (sanitizers and valgrind
 * are slow), but the time is printed so a regression to quadratic is visible.
 */
static void test_performance(void)
{
	struct dfs_buf in, out, rec;
	double t0, t1, t2, t3;
	char err[256];
	cJSON *root, *v, *r;
	size_t nrec = 0;
	int i, k, ret = 0;

	dfs_buf_init(&in, 0);
	dfs_buf_appendf(&in, "{\"@odata.context\":\"https://x/api/data/v9.2/$metadata#accounts\",\"value\":[");
	for (i = 0; in.len < 20u * 1024 * 1024; i++) {
		dfs_buf_appendf(&in, "%s{\"@odata.etag\":\"W/\\\"%d\\\"\",\"accountid\":\"%08x-0000-4000-8000-%012d\"",
				i ? "," : "", i, (unsigned)i, i);
		for (k = 0; k < 40; k++)
			dfs_buf_appendf(&in, ",\"new_field_%02d\":%s", k,
					k % 4 == 0 ? "\"Müller \\\"東京\\\" 😀 line\\nbreak\"" :
					k % 4 == 1 ? "5000000.0000" :
					k % 4 == 2 ? "null" : "{\"a\":[1,2,3],\"b\":true}");
		dfs_buf_append(&in, "}", 1);
	}
	dfs_buf_append(&in, "]}", 2);

	t0 = now();
	root = dfs_json_parse(in.data, in.len, err, sizeof(err));
	t1 = now();
	CHECK(root != NULL, "parse of the %zu-byte list page: %s", in.len, root ? "" : err);
	dfs_buf_init(&out, 0);
	if (root)
		ret = dfs_json_render_compact(root, &out);
	t2 = now();
	CHECK(root && ret == 0 && out.len == in.len && memcmp(out.data, in.data, in.len) == 0,
	      "compact render of the list page reproduces it");
	dfs_buf_init(&rec, 0);
	v = root ? cJSON_GetObjectItemCaseSensitive(root, "value") : NULL;
	cJSON_ArrayForEach(r, v) {
		rec.len = 0;
		if (dfs_record_render(r, &rec) < 0)
			break;
		nrec++;
	}
	t3 = now();
	CHECK(nrec == (size_t)i, "rendered %zu of %d records", nrec, i);
	printf("perf: %.1f MB, %d records: parse %.3f s, compact render %.3f s, record renders %.3f s\n",
	       (double)in.len / 1e6, i, t1 - t0, t2 - t1, t3 - t2);
	dfs_buf_free(&rec);
	dfs_buf_free(&out);
	dfs_buf_free(&in);
	cJSON_Delete(root);
}

int main(int argc, char **argv)
{
	int perf = 1;

	/* --no-perf skips the 20 MB check (useful under valgrind). */
	if (argc > 1 && strcmp(argv[1], "--no-perf") == 0)
		perf = 0;

	test_buf();
	test_numbers();
	test_scan_number();
	test_same_value();
	test_render();
	test_errors();
	test_valid();
	test_record_render();
	test_parse_time();
	test_name_to_id();
	if (perf)
		test_performance();

	return check_report("test_json");
}
