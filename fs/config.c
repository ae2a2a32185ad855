/* config.c - load and validate dynfs.ini (see include/config.h).
 *
 * Every key is a row of key_table below: the section kind it belongs to, its
 * type, bounds, default and the field it fills.  inih splits lines into
 * sections and key/value pairs; it reads them through config_reader(), which
 * also counts lines (inih's handler does not get them), checks the syntax
 * itself so that every bad line is reported, notices repeated [section]
 * headers (inih would silently merge them) and strips leading blanks (so
 * inih's continuation lines never apply: an indented line is an ordinary one).
 * Debian's inih cuts lines at 200 bytes; a longer key line (a long entities
 * list) is split by the reader the way inih would and handed to the handler
 * directly.
 *
 * Problems are printed as they are found, in file order, then the per-tenant
 * ones (missing keys and the like), and loading fails at the end if there was
 * any.  Secret values never appear in a message.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* asprintf, realpath; the Makefile defines it too */
#endif
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "log.h"
#include "secret.h"
#include "state.h"

#define DEFAULT_AUTHORITY "https://login.microsoftonline.com"

enum key_kind {
	KIND_GLOBAL,
	KIND_TENANT,
};

enum key_type {
	TYPE_STRING,    /* char *, non-empty */
	TYPE_BOOL,      /* int 0/1 */
	TYPE_UINT,      /* unsigned within [min, max] */
	TYPE_LIST,      /* char ** plus size_t count at off_n; empty = NULL/0 */
	TYPE_ENUM,      /* int: index into choices */
};

enum key_check {
	CHECK_NONE,
	CHECK_URL,          /* http:// or https:// */
	CHECK_ENV_URL,      /* CHECK_URL, not the Web API endpoint, trailing '/' stripped */
	CHECK_TENANT_ID,    /* GUID or domain name: goes into the token URL */
	CHECK_NO_SPACE,     /* no blanks or control characters */
	CHECK_READABLE,     /* a path (relative: to the config file) to a readable file */
	CHECK_SECRET_FILE,  /* CHECK_READABLE, then read the secret from it */
	CHECK_INLINE_SECRET,/* only in a file the group and others cannot access */
	CHECK_ENTITY_LIST,  /* each item a valid entity set name */
	CHECK_PATH,         /* a path, made absolute like CHECK_READABLE; need not exist */
	CHECK_ENV_NAME,     /* an environment variable that is set */
	CHECK_COMMAND,      /* a command line whose program can be found */
	CHECK_AUTHORITY,    /* a host name or an http(s) URL */
};

#define KEY_SECRET      0x1     /* never print the value */
#define KEY_UNSUPPORTED 0x2     /* enum: say "unsupported KEY 'x'" */

struct key {
	const char *name;
	enum key_kind kind;
	enum key_type type;
	enum key_check check;
	unsigned flags;
	unsigned min, max;              /* TYPE_UINT */
	const char *const *choices;     /* TYPE_ENUM, NULL-terminated */
	const char *def;                /* default as text; NULL = none */
	unsigned auths;                 /* tenant keys: A_* kinds it applies to; 0 = all */
	size_t off;                     /* field in dfs_config / dfs_tenant_config */
	size_t off_n;                   /* TYPE_LIST: its size_t count */
};

/* Same order as enum dfs_log_level. */
static const char *const log_levels[] = { "error", "warn", "info", "debug", NULL };
/* Same order as enum dfs_auth_kind. */
static const char *const auth_kinds[] = {
	"client_credentials", "refresh_token", "password", "ntlm", "negotiate", NULL
};

/* Bits of enum dfs_auth_kind, for the kinds a key applies to. */
#define A_CC (1u << DFS_AUTH_CLIENT_CREDENTIALS)
#define A_RT (1u << DFS_AUTH_REFRESH_TOKEN)
#define A_PW (1u << DFS_AUTH_PASSWORD)
#define A_HTTP ((1u << DFS_AUTH_NTLM) | (1u << DFS_AUTH_NEGOTIATE))
#define A_TOKEN (A_CC | A_RT | A_PW)

#define G(field) KIND_GLOBAL, .off = offsetof(struct dfs_config, field)
#define T(field) KIND_TENANT, .off = offsetof(struct dfs_tenant_config, field)

static const struct key key_table[] = {
	/* [global] */
	{ "cache_ttl", G(cache_ttl), .type = TYPE_UINT, .min = 0, .max = 31536000, .def = "60" },
	{ "log_level", G(log_level), .type = TYPE_ENUM, .choices = log_levels, .def = "warn" },
	{ "connect_timeout", G(connect_timeout), .type = TYPE_UINT, .min = 1, .max = 3600, .def = "10" },
	{ "timeout", G(timeout), .type = TYPE_UINT, .min = 1, .max = 86400, .def = "300" },
	{ "max_retries", G(max_retries), .type = TYPE_UINT, .min = 0, .max = 100, .def = "5" },
	{ "page_size", G(page_size), .type = TYPE_UINT, .min = 1, .max = 5000, .def = "5000" },
	/* [tenant] */
	{ "url", T(url), .type = TYPE_STRING, .check = CHECK_ENV_URL },
	{ "tenant_id", T(tenant_id), .type = TYPE_STRING, .check = CHECK_TENANT_ID,
	  .auths = A_TOKEN },
	{ "client_id", T(client_id), .type = TYPE_STRING, .check = CHECK_NO_SPACE,
	  .auths = A_TOKEN },
	{ "client_secret", T(secret.value), .type = TYPE_STRING, .check = CHECK_INLINE_SECRET,
	  .flags = KEY_SECRET, .auths = A_TOKEN },
	{ "client_secret_file", T(secret.file), .type = TYPE_STRING, .check = CHECK_SECRET_FILE,
	  .auths = A_TOKEN },
	{ "client_secret_env", T(secret.env), .type = TYPE_STRING, .check = CHECK_ENV_NAME,
	  .auths = A_TOKEN },
	{ "client_secret_command", T(secret.command), .type = TYPE_STRING,
	  .check = CHECK_COMMAND, .auths = A_TOKEN },
	{ "auth", T(auth), .type = TYPE_ENUM, .choices = auth_kinds, .flags = KEY_UNSUPPORTED,
	  .def = "client_credentials" },
	{ "certificate_file", T(certificate_file), .type = TYPE_STRING, .check = CHECK_READABLE,
	  .auths = A_CC },
	{ "private_key_file", T(private_key_file), .type = TYPE_STRING, .check = CHECK_READABLE,
	  .auths = A_CC },
	{ "token_store", T(token_store), .type = TYPE_STRING, .check = CHECK_PATH, .auths = A_RT },
	{ "redirect_port", T(redirect_port), .type = TYPE_UINT, .min = 1, .max = 65535,
	  .auths = A_RT },
	{ "username", T(username), .type = TYPE_STRING, .auths = A_PW | A_HTTP },
	{ "password", T(password.value), .type = TYPE_STRING, .check = CHECK_INLINE_SECRET,
	  .flags = KEY_SECRET, .auths = A_PW | A_HTTP },
	{ "password_file", T(password.file), .type = TYPE_STRING, .check = CHECK_SECRET_FILE,
	  .auths = A_PW | A_HTTP },
	{ "password_env", T(password.env), .type = TYPE_STRING, .check = CHECK_ENV_NAME,
	  .auths = A_PW | A_HTTP },
	{ "password_command", T(password.command), .type = TYPE_STRING, .check = CHECK_COMMAND,
	  .auths = A_PW | A_HTTP },
	{ "resource", T(resource), .type = TYPE_STRING, .check = CHECK_NO_SPACE,
	  .auths = A_RT | A_PW },
	{ "authority_host", T(authority_host), .type = TYPE_STRING, .check = CHECK_AUTHORITY,
	  .auths = A_TOKEN },
	{ "token_url", T(token_url), .type = TYPE_STRING, .check = CHECK_URL, .auths = A_TOKEN },
	{ "scope", T(scope), .type = TYPE_STRING, .auths = A_TOKEN },
	{ "entities", T(entities), .type = TYPE_LIST, .check = CHECK_ENTITY_LIST,
	  .off_n = offsetof(struct dfs_tenant_config, n_entities) },
	{ "ca_file", T(ca_file), .type = TYPE_STRING, .check = CHECK_READABLE },
	{ "read_only", T(read_only), .type = TYPE_BOOL, .def = "false" },
	{ "allow_delete", T(allow_delete), .type = TYPE_BOOL, .def = "false" },
};

#undef G
#undef T

#define N_KEYS (sizeof(key_table) / sizeof(key_table[0]))

/* Where the reader is: which section the following keys belong to. */
enum {
	SEC_NONE = -1,          /* before the first [section] */
	SEC_SKIP = -2,          /* after a broken [section line: ignore its keys */
	SEC_GLOBAL = -3,
};

/* What the parser knows about one tenant beyond struct dfs_tenant_config. */
struct tenant_state {
	int set[N_KEYS];        /* line where each key was set, 0 = not set */
	int duplicate;          /* repeated section: keys checked, tenant dropped */
	int problems;           /* problems reported while in this section */
};

struct parse_state {
	const char *path;
	char *dir;              /* the config file's directory, for relative paths */
	FILE *in;
	FILE *err;
	struct dfs_config *cfg;
	mode_t mode;            /* the config file's permission bits */
	char *line;             /* getline buffer */
	size_t line_cap;
	int lineno;
	int read_errno;         /* errno of a failed read, 0 at end of file */
	int errors;
	int section;            /* tenant index, or SEC_* */
	int global_line;        /* line of [global], 0 if none */
	int global_set[N_KEYS];
	struct tenant_state *ts;        /* parallel to cfg->tenants */
	size_t ts_cap;
};

static void report(struct parse_state *st, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(struct parse_state *st, int line, const char *fmt, ...)
{
	va_list ap;

	st->errors++;
	if (st->section >= 0)
		st->ts[st->section].problems++;
	if (!st->err)
		return;
	if (line > 0)
		fprintf(st->err, "%s:%d: ", st->path, line);
	else
		fprintf(st->err, "%s: ", st->path);
	va_start(ap, fmt);
	vfprintf(st->err, fmt, ap);
	va_end(ap);
	fputc('\n', st->err);
}

/*
 * S made safe to quote in a message: control characters become '?', and a
 * long value is cut to 60 bytes plus "...".  Returns BUF.
 */
static const char *printable(const char *s, char *buf, size_t size)
{
	size_t i = 0;

	for (; *s && i + 4 < size; s++)
		buf[i++] = iscntrl((unsigned char)*s) ? '?' : *s;
	if (*s && size >= 4) {
		i = size - 4;
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

#define PRINTABLE(s) printable((s), (char[64]){ 0 }, 64)

static void *field(void *base, size_t off)
{
	return (char *)base + off;
}

static const struct key *find_key(const char *name)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++)
		if (strcmp(key_table[i].name, name) == 0)
			return &key_table[i];
	return NULL;
}

static const char *section_name(const struct parse_state *st)
{
	if (st->section == SEC_GLOBAL)
		return DFS_GLOBAL_SECTION;
	return st->cfg->tenants[st->section].name;
}

/* ---------------------------------------------------------------- values */

static int parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static int parse_uint(const char *v, unsigned min, unsigned max, unsigned *out)
{
	unsigned long n;
	char *end;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n < min || n > max)
		return -1;
	*out = (unsigned)n;
	return 0;
}

static int parse_enum(const char *v, const char *const *choices)
{
	int i;

	for (i = 0; choices[i]; i++)
		if (strcmp(v, choices[i]) == 0)
			return i;
	return -1;
}

/* "a, b or c" for messages. */
static void format_choices(const char *const *choices, char *buf, size_t size)
{
	size_t n = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; choices[i] && n < size; i++) {
		const char *sep = i == 0 ? "" : choices[i + 1] ? ", " : " or ";
		int m = snprintf(buf + n, size - n, "%s%s", sep, choices[i]);

		if (m < 0)
			break;
		n += (size_t)m;
	}
}

static int has_space_or_control(const char *s)
{
	for (; *s; s++)
		if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
			return 1;
	return 0;
}

static int is_http_url(const char *s)
{
	size_t skip;

	if (strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else
		return 0;
	/* A host must follow. */
	return s[skip] && s[skip] != '/' && !has_space_or_control(s);
}

static void strip_trailing_slashes(char *s)
{
	size_t len = strlen(s);

	while (len > 0 && s[len - 1] == '/')
		s[--len] = '\0';
}

/* A GUID or a domain name (contoso.onmicrosoft.com): letters, digits, '-', '.'. */
static int is_tenant_id(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.')
			return 0;
	return 1;
}

/* Entity set names are schema names: letters, digits and '_' (so are
 * environment variable names). */
static int is_entity_set_name(const char *s)
{
	if (!*s || isdigit((unsigned char)*s))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

/* PATH as given, "~/..." under $HOME, relative paths under the config file's directory. */
static char *resolve_path(const struct parse_state *st, const char *path)
{
	const char *home = getenv("HOME");
	char *out;

	if (path[0] == '/')
		return strdup(path);
	if (path[0] == '~' && path[1] == '/' && home && *home) {
		if (asprintf(&out, "%s%s", home, path + 1) < 0)
			return NULL;
		return out;
	}
	if (asprintf(&out, "%s%s%s", st->dir, strcmp(st->dir, "/") ? "/" : "", path) < 0)
		return NULL;
	return out;
}

/* 0 if PATH is a readable regular file, else an errno value. */
static int check_readable(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) != 0)
		return errno;
	if (S_ISDIR(sb.st_mode))
		return EISDIR;
	if (access(path, R_OK) != 0)
		return errno;
	return 0;
}

static void free_list(char **list, size_t n)
{
	size_t i;

	if (!list)
		return;
	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

#define free_secret dfs_secret_free

static void free_secret_src(struct dfs_secret_src *src)
{
	free_secret(src->value);
	free(src->file);
	free(src->env);
	free(src->command);
}

static void free_tenant(struct dfs_tenant_config *tc)
{
	free(tc->name);
	free(tc->url);
	free(tc->tenant_id);
	free(tc->client_id);
	free_secret_src(&tc->secret);
	free(tc->certificate_file);
	free(tc->private_key_file);
	free(tc->token_store);
	free(tc->username);
	free_secret_src(&tc->password);
	free(tc->resource);
	free(tc->authority_host);
	free(tc->token_url);
	free(tc->scope);
	free_list(tc->entities, tc->n_entities);
	free(tc->ca_file);
	memset(tc, 0, sizeof(*tc));
}

/* Split V at commas and blanks into a list of unique names. */
static int parse_list(struct parse_state *st, const struct key *k, const char *v,
		      char ***list, size_t *n)
{
	char *copy = strdup(v), *save = NULL, *tok;
	char **items = NULL;
	size_t count = 0, i;
	int bad = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		char **grown;

		if (k->check == CHECK_ENTITY_LIST && !is_entity_set_name(tok)) {
			report(st, st->lineno, "invalid value for '%s': '%s' is not an entity set name "
			       "(letters, digits and '_', e.g. accounts)", k->name, PRINTABLE(tok));
			bad = 1;
			continue;
		}
		for (i = 0; i < count; i++)
			if (strcmp(items[i], tok) == 0)
				break;
		if (i < count)
			continue;       /* listed twice: once is enough */
		grown = realloc(items, (count + 1) * sizeof(*items));
		if (!grown)
			goto nomem;
		items = grown;
		items[count] = strdup(tok);
		if (!items[count])
			goto nomem;
		count++;
	}
	free(copy);
	if (bad) {
		free_list(items, count);
		return -1;
	}
	*list = items;
	*n = count;
	return 0;
nomem:
	free(copy);
	free_list(items, count);
	return -ENOMEM;
}

/* 1 if PROG can be run: a path that is executable, or found in $PATH. */
static int program_found(const char *prog)
{
	const char *path = getenv("PATH"), *p, *end;
	char buf[PATH_MAX];
	int n;

	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0;
	for (p = path ? path : "/usr/bin:/bin"; *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, ':');
		n = snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - p), end > p ? p : ".", prog);
		if (n > 0 && (size_t)n < sizeof(buf) && access(buf, X_OK) == 0)
			return 1;
	}
	return 0;
}

/* A client_secret_command / password_command: its program must exist. */
static int check_command(struct parse_state *st, const struct key *k, const char *v)
{
	char **argv = dfs_secret_split_command(v);
	int rc = 0;

	if (!argv && errno != EINVAL)
		return -ENOMEM;
	if (!argv) {
		report(st, st->lineno, "invalid value for '%s': unterminated quote (the command "
		       "runs without a shell; quote arguments with '...' or \"...\")", k->name);
		return -1;
	}
	if (!program_found(argv[0])) {
		report(st, st->lineno, "invalid value for '%s': program '%s' not found (the "
		       "command runs without a shell)", k->name, PRINTABLE(argv[0]));
		rc = -1;
	}
	dfs_secret_free_argv(argv);
	return rc;
}

/* authority_host: "login.microsoftonline.us" means https://; a URL is kept as given. */
static int check_authority(struct parse_state *st, const struct key *k, char **v)
{
	const char *p;
	char *url;

	if (strstr(*v, "://")) {
		if (!is_http_url(*v)) {
			report(st, st->lineno, "invalid value for '%s': '%s' (expected a host name "
			       "such as login.microsoftonline.us, or an https:// URL)", k->name,
			       PRINTABLE(*v));
			return -1;
		}
		strip_trailing_slashes(*v);
		return 0;
	}
	strip_trailing_slashes(*v);
	for (p = *v; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-:[]", *p))
			break;
	if (*p || !**v) {
		report(st, st->lineno, "invalid value for '%s': '%s' (expected a host name such "
		       "as login.microsoftonline.us, or an https:// URL)", k->name, PRINTABLE(*v));
		return -1;
	}
	if (asprintf(&url, "https://%s", *v) < 0)
		return -ENOMEM;
	free(*v);
	*v = url;
	return 0;
}

/* Extra checks of a string value; may replace *V (which is malloc'd). */
static int check_string(struct parse_state *st, const struct key *k, char **v)
{
	char *resolved;
	int e, bare;

	switch (k->check) {
	case CHECK_NONE:
	case CHECK_ENTITY_LIST:
		return 0;
	case CHECK_URL:
	case CHECK_ENV_URL:
		if (!is_http_url(*v)) {
			report(st, st->lineno, "invalid value for '%s': '%s' (expected an http:// or "
			       "https:// URL)", k->name, PRINTABLE(*v));
			return -1;
		}
		if (k->check == CHECK_URL)
			return 0;
		strip_trailing_slashes(*v);
		if (strstr(*v, "/api/data")) {
			report(st, st->lineno, "invalid value for '%s': '%s' (give the environment URL "
			       "without /api/data/..., e.g. https://contoso.crm.dynamics.com)",
			       k->name, PRINTABLE(*v));
			return -1;
		}
		return 0;
	case CHECK_TENANT_ID:
		if (!is_tenant_id(*v)) {
			report(st, st->lineno, "invalid value for '%s': '%s' (expected the directory "
			       "GUID or a domain such as contoso.onmicrosoft.com)", k->name,
			       PRINTABLE(*v));
			return -1;
		}
		return 0;
	case CHECK_NO_SPACE:
		if (has_space_or_control(*v)) {
			report(st, st->lineno, "invalid value for '%s': '%s' (contains blanks)",
			       k->name, PRINTABLE(*v));
			return -1;
		}
		return 0;
	case CHECK_INLINE_SECRET:
		if (st->mode & 077) {
			report(st, st->lineno, "refusing inline '%s': %s is accessible by group or "
			       "others (mode %04o); run 'chmod 600 %s' or use %s_file",
			       k->name, st->path, (unsigned)st->mode, st->path, k->name);
			return -1;
		}
		return 0;
	case CHECK_ENV_NAME:
		if (!is_entity_set_name(*v)) {
			report(st, st->lineno, "invalid value for '%s': '%s' (expected the name of an "
			       "environment variable)", k->name, PRINTABLE(*v));
			return -1;
		}
		if (!getenv(*v) || !*getenv(*v)) {
			report(st, st->lineno, "invalid value for '%s': environment variable %s is %s",
			       k->name, PRINTABLE(*v), getenv(*v) ? "empty" : "not set");
			return -1;
		}
		return 0;
	case CHECK_COMMAND:
		return check_command(st, k, *v);
	case CHECK_AUTHORITY:
		return check_authority(st, k, v);
	case CHECK_PATH:
		resolved = resolve_path(st, *v);
		if (!resolved)
			return -ENOMEM;
		free(*v);
		*v = resolved;
		return 0;
	case CHECK_READABLE:
	case CHECK_SECRET_FILE:
		bare = !strchr(*v, '/');
		resolved = resolve_path(st, *v);
		if (!resolved)
			return -ENOMEM;
		free(*v);
		*v = resolved;
		e = check_readable(resolved);
		if (e == ENOENT && bare && k->check == CHECK_SECRET_FILE) {
			/* Maybe the secret itself was pasted here: do not echo it. */
			report(st, st->lineno, "invalid value for '%s': no such file in %s (the "
			       "value is the path of a file holding the secret)", k->name,
			       PRINTABLE(st->dir));
			return -1;
		}
		if (e) {
			report(st, st->lineno, "invalid value for '%s': cannot read '%s': %s",
			       k->name, PRINTABLE(resolved), strerror(e));
			return -1;
		}
		if (k->check == CHECK_SECRET_FILE) {
			char *secret = NULL;

			/* Checked now, read again whenever a token is requested. */
			e = -dfs_secret_read_file(resolved, &secret);
			free_secret(secret);
			if (e == ENODATA) {
				report(st, st->lineno, "invalid value for '%s': the first line of '%s' "
				       "is empty (it must hold the secret)", k->name, PRINTABLE(resolved));
				return -1;
			}
			if (e == ENOMEM)
				return -ENOMEM;
			if (e) {
				report(st, st->lineno, "invalid value for '%s': cannot read '%s': %s",
				       k->name, PRINTABLE(resolved), strerror(e));
				return -1;
			}
		}
		return 0;
	}
	return 0;
}

/*
 * Parse V for key K into BASE (struct dfs_config or dfs_tenant_config).
 * Returns 0, -1 after reporting a bad value, or -ENOMEM.
 */
static int set_value(struct parse_state *st, const struct key *k, void *base, const char *v)
{
	const char *shown = (k->flags & KEY_SECRET) ? "(secret)" : v;
	char choices[128];
	char *s;
	int rc, i;

	switch (k->type) {
	case TYPE_STRING:
		if (!*v) {
			report(st, st->lineno, "invalid value for '%s': empty", k->name);
			return -1;
		}
		s = strdup(v);
		if (!s)
			return -ENOMEM;
		rc = check_string(st, k, &s);
		if (rc) {
			free_secret(s);
			return rc;
		}
		free(*(char **)field(base, k->off));
		*(char **)field(base, k->off) = s;
		return 0;
	case TYPE_BOOL:
		if (parse_bool(v, (int *)field(base, k->off)) != 0) {
			report(st, st->lineno, "invalid value for '%s': '%s' (expected true/false, "
			       "yes/no, on/off or 1/0)", k->name, PRINTABLE(shown));
			return -1;
		}
		return 0;
	case TYPE_UINT:
		if (parse_uint(v, k->min, k->max, (unsigned *)field(base, k->off)) != 0) {
			report(st, st->lineno, "invalid value for '%s': '%s' (expected a whole number "
			       "from %u to %u)", k->name, PRINTABLE(shown), k->min, k->max);
			return -1;
		}
		return 0;
	case TYPE_ENUM:
		i = parse_enum(v, k->choices);
		if (i < 0) {
			format_choices(k->choices, choices, sizeof(choices));
			if (k->flags & KEY_UNSUPPORTED)
				report(st, st->lineno, "unsupported %s '%s' (supported: %s)", k->name,
				       PRINTABLE(shown), choices);
			else
				report(st, st->lineno, "invalid value for '%s': '%s' (expected %s)",
				       k->name, PRINTABLE(shown), choices);
			return -1;
		}
		*(int *)field(base, k->off) = i;
		return 0;
	case TYPE_LIST: {
		char **list = NULL;
		size_t n = 0;

		rc = parse_list(st, k, v, &list, &n);
		if (rc)
			return rc;
		free_list(*(char ***)field(base, k->off), *(size_t *)field(base, k->off_n));
		*(char ***)field(base, k->off) = list;
		*(size_t *)field(base, k->off_n) = n;
		return 0;
	}
	}
	return -1;
}

/* Fill the defaults of every key of KIND into BASE. */
static int set_defaults(struct parse_state *st, enum key_kind kind, void *base)
{
	size_t i;
	int rc;

	for (i = 0; i < N_KEYS; i++) {
		const struct key *k = &key_table[i];

		if (k->kind != kind || !k->def)
			continue;
		rc = set_value(st, k, base, k->def);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---------------------------------------------------------------- sections */

/* Why NAME cannot be a folder name, or NULL if it can. */
static const char *section_error(const char *name)
{
	const char *p;

	if (!*name)
		return "it is empty";
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return "'.' and '..' are reserved";
	if (strchr(name, '/'))
		return "it contains '/'";
	if (strlen(name) > NAME_MAX)
		return "it is longer than 255 bytes";
	for (p = name; *p; p++)
		if (iscntrl((unsigned char)*p))
			return "it contains control characters";
	return NULL;
}

/* A "[NAME]" header on the current line.  Returns 0 or -ENOMEM. */
static int begin_section(struct parse_state *st, const char *name)
{
	struct dfs_config *cfg = st->cfg;
	struct dfs_tenant_config *tc;
	struct tenant_state *ts;
	const char *why;
	size_t i;
	int rc;

	if (strcmp(name, DFS_GLOBAL_SECTION) == 0) {
		if (st->global_line) {
			report(st, st->lineno, "duplicate section [%s] (first on line %d)",
			       DFS_GLOBAL_SECTION, st->global_line);
			st->section = SEC_SKIP;
		} else {
			st->global_line = st->lineno;
			st->section = SEC_GLOBAL;
		}
		return 0;
	}

	why = section_error(name);
	if (why)
		report(st, st->lineno, "invalid section name [%s]: %s (a section name is the "
		       "tenant's folder name)", PRINTABLE(name), why);

	if (cfg->n_tenants == st->ts_cap) {
		size_t cap = st->ts_cap ? 2 * st->ts_cap : 4;
		struct dfs_tenant_config *t2 = realloc(cfg->tenants, cap * sizeof(*t2));

		if (!t2)
			return -ENOMEM;
		cfg->tenants = t2;
		ts = realloc(st->ts, cap * sizeof(*ts));
		if (!ts)
			return -ENOMEM;
		st->ts = ts;
		st->ts_cap = cap;
	}
	tc = &cfg->tenants[cfg->n_tenants];
	ts = &st->ts[cfg->n_tenants];
	memset(tc, 0, sizeof(*tc));
	memset(ts, 0, sizeof(*ts));
	tc->name = strdup(name);
	if (!tc->name)
		return -ENOMEM;
	tc->line = st->lineno;
	for (i = 0; i < cfg->n_tenants; i++) {
		if (!st->ts[i].duplicate && strcmp(cfg->tenants[i].name, name) == 0) {
			report(st, st->lineno, "duplicate section [%s] (first on line %d)",
			       PRINTABLE(name), cfg->tenants[i].line);
			ts->duplicate = 1;
			break;
		}
	}
	st->section = (int)cfg->n_tenants++;
	rc = set_defaults(st, KIND_TENANT, tc);
	return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- reader */

/* As inih does: the first of CHARS, or an inline comment (';' after a blank). */
static char *find_chars_or_comment(char *s, const char *chars)
{
	int was_space = 0;

	while (*s && !(chars && strchr(chars, *s)) && !(was_space && *s == ';')) {
		was_space = isspace((unsigned char)*s);
		s++;
	}
	return s;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/*
 * Check one line (already without leading blanks and line ending) and act on
 * section headers.  Returns 1 to pass the line to inih, 0 to pass an empty
 * line instead (reported or nothing for inih to do), -ENOMEM.
 */
static int scan_line(struct parse_state *st, char *line)
{
	char *end, *rest;
	int rc;

	if (!*line || *line == ';' || *line == '#')
		return 0;
	if (*line == '[') {
		end = find_chars_or_comment(line + 1, "]");
		if (*end != ']') {
			report(st, st->lineno, "syntax error: missing ']' after '[%s'",
			       PRINTABLE(trim(line + 1)));
			st->section = SEC_SKIP;
			return 0;
		}
		rest = trim(end + 1);
		if (*rest && *rest != ';' && *rest != '#') {
			report(st, st->lineno, "syntax error: unexpected '%s' after ']'",
			       PRINTABLE(rest));
			st->section = SEC_SKIP;
			return 0;
		}
		*end = '\0';
		rc = begin_section(st, trim(line + 1));
		return rc < 0 ? rc : 0;
	}
	end = find_chars_or_comment(line, "=:");
	if (*end != '=' && *end != ':') {
		/* Show the start of the line only: it could be a pasted secret. */
		report(st, st->lineno, "syntax error: expected 'key = value', '[section]' or a "
		       "comment");
		return 0;
	}
	if (end == line) {
		report(st, st->lineno, "syntax error: missing key name before '%c'", *end);
		return 0;
	}
	return 1;
}

static int config_handler(void *user, const char *section, const char *name,
			  const char *value);

/* Split a "name = value ; comment" line in place the way inih does and handle it. */
static int handle_long_line(struct parse_state *st, char *line)
{
	char *end = find_chars_or_comment(line, "=:");
	char *value = end + 1;

	*end = '\0';
	end = find_chars_or_comment(value, NULL);
	*end = '\0';
	return config_handler(st, NULL, trim(line), trim(value));
}

/* An ini_reader (fgets-like) over st->in; see the comment at the top. */
static char *config_reader(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	char *line;
	ssize_t len;
	size_t n;
	int rc;

	if (num < 2)
		return NULL;
	errno = 0;
	len = getline(&st->line, &st->line_cap, st->in);
	if (len < 0) {
		st->read_errno = ferror(st->in) ? (errno ? errno : EIO) : 0;
		return NULL;
	}
	st->lineno++;
	line = st->line;
	if (memchr(line, '\0', (size_t)len)) {
		report(st, st->lineno, "syntax error: NUL byte in line");
		rc = 0;
		goto pass;
	}
	if (st->lineno == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0)
		line += 3;              /* UTF-8 byte order mark */
	while (*line && isspace((unsigned char)*line))
		line++;
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	rc = scan_line(st, line);
	if (rc == 1 && n + 2 > (size_t)num) {
		rc = handle_long_line(st, line) ? 0 : -ENOMEM;
	}
	if (rc < 0) {
		report(st, 0, "out of memory");
		return NULL;
	}
pass:
	if (rc == 1)
		memcpy(str, line, n);
	else
		n = 0;
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

/* ---------------------------------------------------------------- handler */

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;
	const struct key *k;
	int *set;
	void *base;
	int rc;

	(void)section;  /* inih's copy is cut at 50 bytes: use ours */
	if (st->section == SEC_SKIP)
		return 1;
	if (st->section == SEC_NONE) {
		report(st, st->lineno, "key '%s' outside of any section (put it under [%s] or a "
		       "[tenant] section)", PRINTABLE(name), DFS_GLOBAL_SECTION);
		return 1;
	}
	k = find_key(name);
	if (!k || (k->kind == KIND_GLOBAL) != (st->section == SEC_GLOBAL)) {
		const char *hint = "";

		if (k && k->kind == KIND_GLOBAL)
			hint = " (it belongs in [" DFS_GLOBAL_SECTION "])";
		else if (k)
			hint = " (it belongs in a tenant section)";
		report(st, st->lineno, "unknown key '%s' in [%s]%s", PRINTABLE(name),
		       PRINTABLE(section_name(st)), hint);
		return 1;
	}
	if (st->section == SEC_GLOBAL) {
		set = st->global_set;
		base = st->cfg;
	} else {
		set = st->ts[st->section].set;
		base = &st->cfg->tenants[st->section];
	}
	if (set[k - key_table]) {
		report(st, st->lineno, "duplicate key '%s' in [%s] (first set on line %d)",
		       k->name, PRINTABLE(section_name(st)), set[k - key_table]);
		return 1;
	}
	set[k - key_table] = st->lineno;
	rc = set_value(st, k, base, value);
	if (rc == -ENOMEM) {
		report(st, 0, "out of memory");
		return 0;
	}
	return 1;
}

/* ---------------------------------------------------------------- tenants */

static int key_line(const struct tenant_state *ts, const char *name)
{
	return ts->set[find_key(name) - key_table];
}

/*
 * The sources of one secret (client_secret*, password*) set in TS: reports
 * more than one.  Returns how many are set.
 */
static int secret_sources(struct parse_state *st, const struct tenant_state *ts,
			  const char *name, const char *what)
{
	static const char *const suffix[] = { "", "_file", "_env", "_command" };
	char key[64], first[64] = "";
	int n = 0, line, first_line = 0;
	size_t i;

	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(key, sizeof(key), "%s%s", what, suffix[i]);
		if (!(line = key_line(ts, key)))
			continue;
		if (n++ == 0) {
			snprintf(first, sizeof(first), "%s", key);
			first_line = line;
		} else {
			report(st, 0, "[%s]: '%s' (line %d) and '%s' (line %d) exclude each other: "
			       "keep one", name, first, first_line, key, line);
		}
	}
	return n;
}

static void require(struct parse_state *st, const struct tenant_state *ts, const char *name,
		    const char *key, const char *why)
{
	if (!key_line(ts, key))
		report(st, 0, "[%s]: missing required key '%s'%s", name, key, why);
}

/* The per-tenant rules that involve more than one key.  Returns 0 or -ENOMEM. */
static int finish_tenant(struct parse_state *st, size_t i)
{
	struct dfs_tenant_config *tc = &st->cfg->tenants[i];
	struct tenant_state *ts = &st->ts[i];
	const char *name = PRINTABLE(tc->name), *kind = auth_kinds[tc->auth];
	int secrets, passwords, cert, key, n;
	size_t k;

	if (ts->duplicate)
		return 0;
	st->section = (int)i;   /* problems found here count for this tenant */

	/* Keys of another flow are mistakes worth pointing at (a password
	 * left behind when switching to auth = refresh_token, say). */
	for (k = 0; k < N_KEYS; k++)
		if (ts->set[k] && key_table[k].auths && !(key_table[k].auths & (1u << tc->auth)))
			report(st, ts->set[k], "'%s' is not used with auth = %s (remove it)",
			       key_table[k].name, kind);

	require(st, ts, name, "url", "");
	secrets = secret_sources(st, ts, name, "client_secret");
	passwords = secret_sources(st, ts, name, "password");
	cert = key_line(ts, "certificate_file");
	key = key_line(ts, "private_key_file");
	if (!DFS_AUTH_IS_HTTP(tc->auth)) {
		require(st, ts, name, "client_id", "");
		if (!key_line(ts, "tenant_id") && !key_line(ts, "token_url"))
			report(st, 0, "[%s]: missing required key 'tenant_id' (or 'token_url')", name);
		if (key_line(ts, "scope") && key_line(ts, "resource"))
			report(st, 0, "[%s]: 'scope' (line %d) and 'resource' (line %d) exclude each "
			       "other: AD FS takes resource, Entra ID scope", name,
			       key_line(ts, "scope"), key_line(ts, "resource"));
	}

	switch (tc->auth) {
	case DFS_AUTH_CLIENT_CREDENTIALS:
		if (cert && !key)
			report(st, 0, "[%s]: 'certificate_file' needs 'private_key_file' (the "
			       "certificate's private key, PEM)", name);
		else if (key && !cert)
			report(st, 0, "[%s]: 'private_key_file' needs 'certificate_file'", name);
		else if (cert && secrets)
			report(st, 0, "[%s]: a certificate and a client secret exclude each other: "
			       "keep one", name);
		else if (!cert && !secrets)
			report(st, 0, "[%s]: missing required key 'client_secret_file' (or "
			       "'client_secret', 'client_secret_env', 'client_secret_command', or "
			       "'certificate_file' and 'private_key_file')", name);
		break;
	case DFS_AUTH_REFRESH_TOKEN:
		if (!tc->token_store && !(tc->token_store = dfs_state_path("%s.token", tc->name))) {
			if (errno == ENOMEM)
				return -ENOMEM;
			report(st, 0, "[%s]: set 'token_store' (neither $XDG_STATE_HOME nor $HOME "
			       "is set)", name);
		}
		break;
	case DFS_AUTH_PASSWORD:
	case DFS_AUTH_NTLM:
		require(st, ts, name, "username", "");
		if (!passwords)
			report(st, 0, "[%s]: missing required key 'password_file' (or 'password', "
			       "'password_env', 'password_command')", name);
		break;
	case DFS_AUTH_NEGOTIATE:
		/* Kerberos uses the ticket cache (kinit); a password is optional. */
		if (passwords && !key_line(ts, "username"))
			report(st, 0, "[%s]: a password needs 'username'", name);
		break;
	}

	if (DFS_AUTH_IS_HTTP(tc->auth))
		return 0;
	if (!tc->authority_host && !(tc->authority_host = strdup(DEFAULT_AUTHORITY)))
		return -ENOMEM;
	if (!tc->token_url && tc->tenant_id &&
	    asprintf(&tc->token_url, "%s/%s/oauth2/v2.0/token", tc->authority_host,
		     tc->tenant_id) < 0) {
		tc->token_url = NULL;
		return -ENOMEM;
	}
	if (!tc->scope && tc->url && !tc->resource) {
		if (tc->auth == DFS_AUTH_CLIENT_CREDENTIALS)
			n = asprintf(&tc->scope, "%s/.default", tc->url);
		else
			n = asprintf(&tc->scope, "%s/user_impersonation", tc->url);
		if (n < 0) {
			tc->scope = NULL;
			return -ENOMEM;
		}
	}
	/* A refresh token comes only with offline_access (Entra ID, not AD FS). */
	if (tc->auth == DFS_AUTH_REFRESH_TOKEN && tc->scope && !strstr(tc->scope, "offline_access")) {
		char *s;

		if (asprintf(&s, "%s offline_access", tc->scope) < 0)
			return -ENOMEM;
		free(tc->scope);
		tc->scope = s;
	}
	return 0;
}

/* Drop the tenants of repeated sections (their problems were reported). */
static void drop_duplicates(struct parse_state *st)
{
	struct dfs_config *cfg = st->cfg;
	size_t i, j = 0;

	for (i = 0; i < cfg->n_tenants; i++) {
		if (st->ts[i].duplicate) {
			free_tenant(&cfg->tenants[i]);
			continue;
		}
		st->ts[j] = st->ts[i];
		cfg->tenants[j++] = cfg->tenants[i];
	}
	cfg->n_tenants = j;
}

/* ---------------------------------------------------------------- API */

void dfs_config_free(struct dfs_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->n_tenants; i++)
		free_tenant(&cfg->tenants[i]);
	free(cfg->tenants);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

const char *dfs_auth_kind_name(enum dfs_auth_kind kind)
{
	return auth_kinds[kind];
}

static int config_load(const char *path, struct dfs_config *cfg, FILE *err, int keep)
{
	struct parse_state st = {
		.path = path, .err = err, .cfg = cfg, .section = SEC_NONE,
	};
	struct stat sb;
	char *dir = NULL, *slash;
	size_t i;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	st.in = fopen(path, "re");
	if (!st.in) {
		report(&st, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fileno(st.in), &sb) != 0) {
		report(&st, 0, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (S_ISDIR(sb.st_mode)) {
		report(&st, 0, "cannot read: %s", strerror(EISDIR));
		goto out;
	}
	st.mode = sb.st_mode & 07777;

	/* Relative paths in the file are relative to its (absolute) directory:
	 * dynfs changes to / when it goes to the background. */
	cfg->path = strdup(path);
	dir = strdup(path);
	if (!cfg->path || !dir)
		goto nomem;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	st.dir = realpath(slash ? dir : ".", NULL);
	if (!st.dir && errno == ENOMEM)
		goto nomem;
	if (!st.dir) {
		st.dir = dir;   /* cannot happen for a file we opened; keep going */
		dir = NULL;
	}

	if (set_defaults(&st, KIND_GLOBAL, cfg) != 0)
		goto nomem;

	rc = ini_parse_stream(config_reader, &st, config_handler, &st);
	if (st.read_errno) {
		report(&st, 0, "read error: %s", strerror(st.read_errno));
		goto out;
	}
	if (rc == -2)
		goto nomem;
	if (rc > 0 && st.errors == 0)
		report(&st, rc, "syntax error");         /* inih saw something we did not */
	if (rc < 0 && st.errors == 0)
		report(&st, 0, "cannot parse (inih error %d)", rc);

	for (i = 0; i < cfg->n_tenants; i++)
		if (finish_tenant(&st, i) < 0)
			goto nomem;
	st.section = SEC_NONE;
	drop_duplicates(&st);
	for (i = 0; i < cfg->n_tenants; i++)
		cfg->tenants[i].problems = st.ts[i].problems;
	if (cfg->n_tenants == 0)
		report(&st, 0, "no tenants configured (add a [name] section with url, tenant_id, "
		       "client_id and client_secret_file)");
	goto out;

nomem:
	report(&st, 0, "out of memory");
out:
	if (st.line) {
		explicit_bzero(st.line, st.line_cap);   /* it held secrets */
		free(st.line);
	}
	free(st.ts);
	free(st.dir);
	free(dir);
	fclose(st.in);
	if (st.errors) {
		if (!keep || !cfg->path)
			dfs_config_free(cfg);
		return -1;
	}
	return 0;
}

int dfs_config_load(const char *path, struct dfs_config *cfg, FILE *err)
{
	return config_load(path, cfg, err, 0);
}

int dfs_config_load_all(const char *path, struct dfs_config *cfg, FILE *err)
{
	return config_load(path, cfg, err, 1);
}

char *dfs_config_find(void)
{
	const char *env = getenv("DYNFS_CONFIG");
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char *path = NULL;

	/* An explicit $DYNFS_CONFIG wins even if missing: loading it says why. */
	if (env && *env)
		return strdup(env);
	if (xdg && xdg[0] == '/') {
		if (asprintf(&path, "%s/dynfs/dynfs.ini", xdg) < 0)
			return NULL;
	} else if (home && *home) {
		if (asprintf(&path, "%s/.config/dynfs/dynfs.ini", home) < 0)
			return NULL;
	}
	if (path && access(path, F_OK) == 0)
		return path;
	free(path);
	if (access("/etc/dynfs.ini", F_OK) == 0)
		return strdup("/etc/dynfs.ini");
	return NULL;
}
