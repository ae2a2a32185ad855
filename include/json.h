/* json.h - JSON that keeps numbers exactly as written.
 *
 * cJSON stores numbers as doubles, which would turn Dataverse money
 * (5000000.0000, up to 19 significant digits) and decimals (10 places) into
 * something else.  dfs_json_parse builds an ordinary cJSON tree, except that
 * every number is a cJSON_Raw item holding its literal text, so rendering it
 * again gives back the same digits.  It also reports syntax errors with line
 * and column, which is what a user who broke a record file needs to see.
 *
 *   fs/json.c         the strict parser (dfs_json_parse)
 *   fs/json_value.c   the number grammar, numbers, exact value comparison
 *   fs/json_render.c  the pretty and compact renderers
 */
#ifndef DFS_JSON_H
#define DFS_JSON_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "buf.h"

/* Deepest nesting of arrays and objects dfs_json_parse accepts. */
#define DFS_JSON_MAX_DEPTH 64

/*
 * Parse LEN bytes of TEXT (need not be NUL-terminated).  The whole input must
 * be one JSON value plus optional whitespace; strings must be valid UTF-8.
 * On error returns NULL and writes "line L, column C: what was expected" into
 * ERRBUF.  Nesting deeper than 64 levels is an error, and so are duplicate
 * keys in one object (a record file with two values for one column is
 * ambiguous) and "\u0000" (cJSON strings end at the first NUL).  Columns
 * count characters, not bytes.  Running out of memory gives "out of memory".
 */
cJSON *dfs_json_parse(const char *text, size_t len, char *errbuf, size_t errlen);

/* What dfs_json_scan_number found wrong (struct dfs_json_num's err). */
enum dfs_json_num_err {
	DFS_JSON_NUM_OK = 0,
	DFS_JSON_NUM_NO_DIGIT,		/* no digit at the start (or after '-') */
	DFS_JSON_NUM_LEADING_ZERO,	/* "01": END is at the digit after the 0 */
	DFS_JSON_NUM_NO_FRACTION,	/* no digit after '.' */
	DFS_JSON_NUM_NO_EXPONENT,	/* no digit after 'e', 'e+' or 'e-' */
};

/* A number literal, [-] int [. frac] [e|E [+|-] exp], as pointers into it. */
struct dfs_json_num {
	int neg;		/* begins with '-' */
	const char *intg;	/* the integer part's digits */
	size_t n_int;
	const char *frac;	/* the fraction's digits (NULL, 0: none) */
	size_t n_frac;
	int exp_neg;		/* the exponent has '-' */
	const char *exp;	/* the exponent's digits (NULL, 0: none) */
	size_t n_exp;
	const char *end;	/* just past the literal; on error, where it fails */
	enum dfs_json_num_err err;
};

/*
 * Scan the JSON number (RFC 8259 section 6) that starts at S, reading no
 * further than END.  It ends where the grammar ends: what follows (",",
 * "x1F") is the caller's business.  Returns 0, or -EINVAL with NUM->err
 * saying what was expected at NUM->end (the other fields then mean nothing).
 */
int dfs_json_scan_number(const char *s, const char *end, struct dfs_json_num *num);

/* True if ITEM is NULL or a JSON null: a column a record lacks holds null. */
int dfs_json_is_null(const cJSON *item);

/* True if ITEM is a number (a cJSON_Raw number literal or a cJSON_Number). */
int dfs_json_is_number(const cJSON *item);
/* ITEM's number as a double (either representation); 0 if not a number. */
double dfs_json_number(const cJSON *item);

/*
 * A and B hold the same value: numbers by decimal value (1 == 1.0000 == 1e0
 * == 0.1e1, -0 == 0; no doubles: money has 19 significant digits), arrays and
 * objects member by member (object key order does not matter), everything
 * else by type and text.  NULL (a column a record lacks) equals null.
 */
int dfs_json_same_value(const cJSON *a, const cJSON *b);

/*
 * Append ITEM pretty-printed to OUT: objects with keys sorted bytewise
 * (strcmp), two-space indentation, "key": value, empty object "{}" / array
 * "[]", strings escaped as JSON requires (", \\, control characters as \n \t
 * \r \b \f or \u00XX; everything else, including UTF-8 and '/', verbatim), Raw
 * numbers verbatim, cJSON_Number via the shortest round-trip form.  No
 * trailing newline.  Returns 0 or a negative errno from the buffer.
 */
int dfs_json_render_pretty(const cJSON *item, struct dfs_buf *out);

/*
 * dfs_json_render_pretty for an object, leaving out its members whose key
 * KEEP rejects (nested objects are rendered whole).  The tree is not copied
 * or changed.  -EINVAL if OBJ is not an object.
 */
int dfs_json_render_pretty_filtered(const cJSON *obj,
				    int (*keep)(const char *key),
				    struct dfs_buf *out);

/* Append ITEM compactly (no whitespace, keys in tree order), e.g. for a request body. */
int dfs_json_render_compact(const cJSON *item, struct dfs_buf *out);

#endif
