/* config_keys.h - inside the config loader: the table of dynfs.ini keys and
 * the state of one load.  Only fs/config.c, fs/config_keys.c and
 * fs/config_url.c (what a URL may be) include it.
 *
 * fs/config.c reads the file: it counts lines, takes the [section] headers,
 * lets inih split "key = value" lines, sends each key to its section, applies
 * the rules that span several keys of a tenant, and is the API of config.h.
 *
 * fs/config_keys.c owns dfs_keys[], one row per key: the section kind it
 * belongs to, its type, range or choices, check, default and field.  From the
 * row alone it parses a value, checks it, words the "invalid value" message
 * and frees the field, so a new key is one new row.
 *
 * Internal functions return 0 or a negative errno; -EINVAL means "reported".
 */
#ifndef DFS_CONFIG_KEYS_H
#define DFS_CONFIG_KEYS_H

#include <stdio.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "util.h"

enum dfs_key_kind {
	DFS_KEY_GLOBAL,         /* [global]: fills struct dfs_config */
	DFS_KEY_TENANT,         /* [name]: fills struct dfs_tenant_config */
};

enum dfs_key_type {
	DFS_KEY_STRING,         /* char *, non-empty */
	DFS_KEY_BOOL,           /* int 0/1 */
	DFS_KEY_UINT,           /* unsigned within [min, max] */
	DFS_KEY_SIZE,           /* size_t bytes ("64M"), within [min, max] MiB */
	DFS_KEY_LIST,           /* char ** plus size_t count at off_n; empty = NULL/0 */
	DFS_KEY_ENUM,           /* int: index into choices */
};

/* What a string value must be, beyond non-empty. */
enum dfs_key_check {
	DFS_CHECK_NONE,
	DFS_CHECK_URL,          /* http:// or https:// */
	DFS_CHECK_ENV_URL,      /* DFS_CHECK_URL, not the Web API endpoint, trailing '/' stripped */
	DFS_CHECK_TENANT_ID,    /* GUID or domain name: goes into the token URL */
	DFS_CHECK_NO_SPACE,     /* no blanks or control characters */
	DFS_CHECK_READABLE,     /* a path (relative: to the config file) to a readable file */
	DFS_CHECK_SECRET_FILE,  /* DFS_CHECK_READABLE, and its first line holds a secret */
	DFS_CHECK_INLINE_SECRET,/* only in a file the group and others cannot access */
	DFS_CHECK_ENTITY_LIST,  /* each item a valid entity set name */
	DFS_CHECK_PATH,         /* a path, made absolute like DFS_CHECK_READABLE; need not exist */
	DFS_CHECK_ENV_NAME,     /* an environment variable that is set */
	DFS_CHECK_COMMAND,      /* a command line whose program can be found */
	DFS_CHECK_AUTHORITY,    /* a host name or an http(s) URL */
};

#define DFS_KEY_SECRET      0x1 /* never print the value; zero it when freed */
#define DFS_KEY_UNSUPPORTED 0x2 /* enum: say "unsupported KEY 'x'" */
#define DFS_KEY_OBSOLETE    0x4 /* accepted and ignored: not in --help nor .status */

struct dfs_key {
	const char *name;
	enum dfs_key_kind kind;
	enum dfs_key_type type;
	enum dfs_key_check check;
	unsigned flags;
	unsigned min, max;              /* DFS_KEY_UINT; DFS_KEY_SIZE in MiB */
	const char *const *choices;     /* DFS_KEY_ENUM, NULL-terminated */
	const char *def;                /* default as text; NULL = none */
	unsigned auths;                 /* tenant keys: the auth kinds it is for (bits); 0 = all */
	size_t off;                     /* field in dfs_config / dfs_tenant_config */
	size_t off_n;                   /* DFS_KEY_LIST: its size_t count */
};

#define DFS_N_KEYS 37
extern const struct dfs_key dfs_keys[DFS_N_KEYS];

/* The key called NAME, or NULL. */
const struct dfs_key *dfs_key_find(const char *name);

/* What one load knows about a tenant beyond struct dfs_tenant_config. */
struct dfs_tenant_state {
	int set[DFS_N_KEYS];    /* line where each key was set, 0 = not set */
	int duplicate;          /* repeated section: keys checked, tenant dropped */
	int problems;           /* problems reported while in this section */
};

/* Which section the keys being read belong to: a tenant index, or one of these. */
enum {
	DFS_SEC_NONE = -1,      /* before the first [section] */
	DFS_SEC_SKIP = -2,      /* after a broken or repeated [section] line: ignore its keys */
	DFS_SEC_GLOBAL = -3,
};

struct dfs_config_parse {
	const char *path;
	char *dir;              /* the config file's directory, for relative paths */
	FILE *in;
	FILE *err;
	struct dfs_config *cfg;
	mode_t mode;            /* the config file's permission bits */
	char *line;             /* the current line (getline buffer) */
	size_t line_cap;
	char *text;             /* the current line after a byte order mark and blanks */
	int lineno;
	int read_errno;         /* errno of a failed read, 0 at end of file */
	int offline;            /* secret files and programs are not looked at
				   (dfs_config_parse_text) */
	int errors;
	int section;            /* tenant index, or DFS_SEC_* */
	int global_line;        /* line of [global], 0 if none */
	int global_set[DFS_N_KEYS];
	struct dfs_tenant_state *ts;    /* parallel to cfg->tenants */
	size_t ts_cap;
};

/*
 * Print "PATH:LINE: message" (LINE > 0) or "PATH: message" to st->err and
 * count the problem, for the current tenant too.
 */
void dfs_config_report(struct dfs_config_parse *st, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* S quoted in a message: control characters escaped (\n, \x1b), cut to fit 64 bytes with "...". */
#define DFS_PRINTABLE(s) dfs_printable((s), (size_t)-1, (char[64]){ 0 }, 64)

/*
 * Parse V for key K into BASE (struct dfs_config or dfs_tenant_config) on
 * the current line.  Returns 0, -EINVAL after reporting a bad value, or
 * -ENOMEM.
 */
int dfs_key_set(struct dfs_config_parse *st, const struct dfs_key *k, void *base,
		const char *v);

/*
 * Is URL (an http(s) URL libcurl can read, with a host) fit for a config?
 * Not with a user name or password -- a secret in the file, sent to whoever
 * the host is -- nor a query or a fragment, which no Dataverse or token URL
 * has.  Returns 0, -ENOMEM, or -EINVAL with WHY saying what is wrong; WHY
 * never quotes a user name, password, query or fragment (they may be
 * secrets), only the scheme, host and path.  -ENOENT: not such a URL at all
 * (the caller's usual message, which may quote URL unless it holds '@').
 * In fs/config_url.c.
 */
int dfs_config_url_problem(const char *url, char *why, size_t cap);

/* Fill the default of every key of KIND into BASE.  0 or -ENOMEM. */
int dfs_keys_set_defaults(struct dfs_config_parse *st, enum dfs_key_kind kind, void *base);

/* Free the fields of every key of KIND in BASE (secrets zeroed first). */
void dfs_keys_free(enum dfs_key_kind kind, void *base);

#endif
