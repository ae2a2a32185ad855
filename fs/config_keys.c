/* config_keys.c - the keys of dynfs.ini: their table, values and checks
 * (see include/config_keys.h).
 *
 * dfs_keys[] is the one description of a key.  Parsing a value, its default,
 * freeing its field and the wording of a bad value all follow from the row:
 * "invalid value for 'KEY': 'VALUE' (expected ...)" takes its "expected"
 * from the type (range, choices) or, for strings, from the check; checks
 * that know more (a missing file, a program not found) add their reason
 * after the same prefix.  Secret values never appear in a message.
 */
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
#include <unistd.h>

#include "config_keys.h"
#include "log.h"
#include "secret.h"
#include "banned.h"

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

#define G(field) DFS_KEY_GLOBAL, .off = offsetof(struct dfs_config, field)
#define T(field) DFS_KEY_TENANT, .off = offsetof(struct dfs_tenant_config, field)
#define STRING(c) .type = DFS_KEY_STRING, .check = DFS_CHECK_##c
#define UINT(lo, hi) .type = DFS_KEY_UINT, .min = (lo), .max = (hi)
#define SIZE_MIB(lo, hi) .type = DFS_KEY_SIZE, .min = (lo), .max = (hi)

const struct dfs_key dfs_keys[] = {
	/* [global] */
	{ "cache_ttl", G(cache_ttl), UINT(0, 31536000), .def = "60" },
	{ "cache_size", G(cache_size), SIZE_MIB(0, 1024 * 1024), .def = "256M" },
	{ "local_size", G(local_size), SIZE_MIB(1, 1024 * 1024), .def = "1G" },
	/* No longer used (main.c warns): kept so that a config that has it mounts. */
	{ "kernel_names", G(kernel_names), UINT(0, 1048576), .def = "0",
	  .flags = DFS_KEY_OBSOLETE },
	{ "log_level", G(log_level), .type = DFS_KEY_ENUM, .choices = dfs_log_level_names,
	  .def = "warn" },
	{ "log_file", G(log_file), STRING(PATH) },
	{ "connect_timeout", G(connect_timeout), UINT(1, 3600), .def = "10" },
	{ "timeout", G(timeout), UINT(1, 86400), .def = "300" },
	{ "max_retries", G(max_retries), UINT(0, 100), .def = "5" },
	{ "op_timeout", G(op_timeout), UINT(1, 86400), .def = "30" },
	{ "page_size", G(page_size), UINT(1, 5000), .def = "5000" },
	/* [tenant] */
	{ "url", T(url), STRING(ENV_URL) },
	{ "tenant_id", T(tenant_id), STRING(TENANT_ID), .auths = A_TOKEN },
	{ "client_id", T(client_id), STRING(NO_SPACE), .auths = A_TOKEN },
	{ "client_secret", T(secret.value), STRING(INLINE_SECRET), .flags = DFS_KEY_SECRET,
	  .auths = A_TOKEN },
	{ "client_secret_file", T(secret.file), STRING(SECRET_FILE), .auths = A_TOKEN },
	{ "client_secret_env", T(secret.env), STRING(ENV_NAME), .auths = A_TOKEN },
	{ "client_secret_command", T(secret.command), STRING(COMMAND), .auths = A_TOKEN },
	{ "auth", T(auth), .type = DFS_KEY_ENUM, .choices = auth_kinds,
	  .flags = DFS_KEY_UNSUPPORTED, .def = "client_credentials" },
	{ "certificate_file", T(certificate_file), STRING(READABLE), .auths = A_CC },
	{ "private_key_file", T(private_key_file), STRING(READABLE), .auths = A_CC },
	{ "token_store", T(token_store), STRING(PATH), .auths = A_RT },
	{ "redirect_port", T(redirect_port), UINT(1, 65535), .auths = A_RT },
	{ "username", T(username), STRING(NONE), .auths = A_PW | A_HTTP },
	{ "password", T(password.value), STRING(INLINE_SECRET), .flags = DFS_KEY_SECRET,
	  .auths = A_PW | A_HTTP },
	{ "password_file", T(password.file), STRING(SECRET_FILE), .auths = A_PW | A_HTTP },
	{ "password_env", T(password.env), STRING(ENV_NAME), .auths = A_PW | A_HTTP },
	{ "password_command", T(password.command), STRING(COMMAND), .auths = A_PW | A_HTTP },
	{ "resource", T(resource), STRING(NO_SPACE), .auths = A_RT | A_PW },
	{ "authority_host", T(authority_host), STRING(AUTHORITY), .auths = A_TOKEN },
	{ "token_url", T(token_url), STRING(URL), .auths = A_TOKEN },
	{ "scope", T(scope), STRING(NONE), .auths = A_TOKEN },
	{ "entities", T(entities), .type = DFS_KEY_LIST, .check = DFS_CHECK_ENTITY_LIST,
	  .off_n = offsetof(struct dfs_tenant_config, n_entities) },
	{ "ca_file", T(ca_file), STRING(READABLE) },
	{ "read_only", T(read_only), .type = DFS_KEY_BOOL, .def = "false" },
	{ "allow_delete", T(allow_delete), .type = DFS_KEY_BOOL, .def = "false" },
	/* Dataverse refuses more than 52 concurrent requests of a user. */
	{ "max_connections", T(max_connections), UINT(1, 52), .def = "8" },
};

_Static_assert(sizeof(dfs_keys) / sizeof(dfs_keys[0]) == DFS_N_KEYS,
	       "DFS_N_KEYS in config_keys.h counts the rows of dfs_keys");

#undef G
#undef T
#undef STRING
#undef UINT

/* What a string failing its check is told, in parentheses after the value. */
static const char *const check_hints[] = {
	[DFS_CHECK_URL] = "expected an http:// or https:// URL",
	[DFS_CHECK_ENV_URL] = "expected an http:// or https:// URL",
	[DFS_CHECK_TENANT_ID] = "expected the directory GUID or a domain such as "
				"contoso.onmicrosoft.com",
	[DFS_CHECK_NO_SPACE] = "contains blanks",
	[DFS_CHECK_ENV_NAME] = "expected the name of an environment variable",
	[DFS_CHECK_AUTHORITY] = "expected a host name such as login.microsoftonline.us, or "
				"an https:// URL",
};

/* Boolean spellings: [i][0] means false, [i][1] true. */
static const char *const bool_words[][2] = {
	{ "false", "true" }, { "no", "yes" }, { "off", "on" }, { "0", "1" },
};
#define N_BOOL_WORDS (sizeof(bool_words) / sizeof(bool_words[0]))

const char *dfs_auth_kind_name(enum dfs_auth_kind kind)
{
	return auth_kinds[kind];
}

const struct dfs_key *dfs_key_find(const char *name)
{
	size_t i;

	for (i = 0; i < DFS_N_KEYS; i++)
		if (strcmp(dfs_keys[i].name, name) == 0)
			return &dfs_keys[i];
	return NULL;
}

static void *field(void *base, size_t off)
{
	return (char *)base + off;
}

/* ---------------------------------------------------------------- messages */

/* The separator before item I of N in "a, b or c". */
static const char *list_sep(size_t i, size_t n)
{
	return i == 0 ? "" : i + 1 < n ? ", " : " or ";
}

/* Append to BUF (CAP bytes, *N used) as snprintf would, never past the end. */
static void append(char *buf, size_t cap, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void append(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int m;

	if (*n >= cap)
		return;
	va_start(ap, fmt);
	m = vsnprintf(buf + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (m > 0)
		*n += (size_t)m;
}

/* What K takes, from its row: "a whole number from 1 to 5", "a, b or c", ... */
static void describe(const struct dfs_key *k, char *buf, size_t cap)
{
	size_t n = 0, i, count;

	buf[0] = '\0';
	switch (k->type) {
	case DFS_KEY_UINT:
		append(buf, cap, &n, "a whole number from %u to %u", k->min, k->max);
		break;
	case DFS_KEY_SIZE:
		append(buf, cap, &n, "a size in bytes with K, M or G, from %uM to %uG", k->min,
		       k->max / 1024);
		break;
	case DFS_KEY_BOOL:
		for (i = 0; i < N_BOOL_WORDS; i++)
			append(buf, cap, &n, "%s%s/%s", list_sep(i, N_BOOL_WORDS), bool_words[i][1],
			       bool_words[i][0]);
		break;
	case DFS_KEY_ENUM:
		for (count = 0; k->choices[count]; count++)
			;
		for (i = 0; i < count; i++)
			append(buf, cap, &n, "%s%s", list_sep(i, count), k->choices[i]);
		break;
	case DFS_KEY_STRING:
	case DFS_KEY_LIST:
		break;
	}
}

/* "invalid value for 'KEY': WHY" on the current line: the one wording of a bad value. */
static void invalid(struct dfs_config_parse *st, const struct dfs_key *k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void invalid(struct dfs_config_parse *st, const struct dfs_key *k, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	dfs_config_report(st, st->lineno, "invalid value for '%s': %s", k->name, why);
}

/*
 * V is not a value of K: "invalid value for 'KEY': 'V' (expected ...)", all
 * from K's row.  An unsupported choice (auth) is worded as such.
 */
static void invalid_value(struct dfs_config_parse *st, const struct dfs_key *k, const char *v)
{
	const char *shown = DFS_PRINTABLE(k->flags & DFS_KEY_SECRET ? "(secret)" : v);
	char what[160];

	if (k->type == DFS_KEY_STRING || k->type == DFS_KEY_LIST) {
		const char *hint = check_hints[k->check];

		invalid(st, k, "'%s' (%s)", shown, hint ? hint : "not accepted");
		return;
	}
	describe(k, what, sizeof(what));
	if (k->flags & DFS_KEY_UNSUPPORTED)
		dfs_config_report(st, st->lineno, "unsupported %s '%s' (supported: %s)", k->name,
				  shown, what);
	else
		invalid(st, k, "'%s' (expected %s)", shown, what);
}

/* ---------------------------------------------------------------- values */

static int parse_bool(const char *v, int *out)
{
	size_t i;
	int b;

	for (i = 0; i < N_BOOL_WORDS; i++) {
		for (b = 0; b < 2; b++) {
			if (strcasecmp(v, bool_words[i][b]) == 0) {
				*out = b;
				return 0;
			}
		}
	}
	return -EINVAL;
}

static int parse_uint(const char *v, unsigned min, unsigned max, unsigned *out)
{
	unsigned long n;
	char *end;

	if (!isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n < min || n > max)
		return -EINVAL;
	*out = (unsigned)n;
	return 0;
}

/* "64M", "2G", "512K" or bytes; MIN and MAX in MiB. */
static int parse_size(const char *v, unsigned min, unsigned max, size_t *out)
{
	unsigned long long n;
	char *end;
	int shift = 0;

	if (!isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	}
	if (*end || n > (1ULL << 40) >> shift)
		return -EINVAL;
	n <<= shift;
	if (n < (unsigned long long)min << 20 || n > (unsigned long long)max << 20)
		return -EINVAL;
	*out = (size_t)n;
	return 0;
}

static int parse_enum(const char *v, const char *const *choices)
{
	int i;

	for (i = 0; choices[i]; i++)
		if (strcmp(v, choices[i]) == 0)
			return i;
	return -EINVAL;
}

static int has_space_or_control(const char *s)
{
	for (; *s; s++)
		if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
			return 1;
	return 0;
}

/*
 * Report a URL key's VALUE that is not an http(s) URL fit for a config.
 * Returns 0, -ENOMEM or -EINVAL (reported).
 */
static int check_http_url(struct dfs_config_parse *st, const struct dfs_key *k, const char *v)
{
	char why[512];
	int ret = dfs_config_url_problem(v, why, sizeof(why));

	if (ret == -EINVAL)
		invalid(st, k, "%s", why);
	else if (ret == -ENOENT && strchr(v, '@'))
		invalid(st, k, "not an http:// or https:// URL (not shown: it may hold a password)");
	else if (ret == -ENOENT || has_space_or_control(v))
		invalid_value(st, k, v);
	else
		return ret;
	return ret == -ENOMEM ? ret : -EINVAL;
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
static char *resolve_path(const struct dfs_config_parse *st, const char *path)
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

/* 0 if PATH is a readable regular file, else a negative errno. */
static int check_readable(const char *path)
{
	struct stat sb;

	if (stat(path, &sb) != 0)
		return -errno;
	if (S_ISDIR(sb.st_mode))
		return -EISDIR;
	if (access(path, R_OK) != 0)
		return -errno;
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

#define LIST_SEPARATORS ", \t"

/* Split V at commas and blanks into a list of unique names. */
static int parse_list(struct dfs_config_parse *st, const struct dfs_key *k, const char *v,
		      char ***list, size_t *n)
{
	char **items = NULL, **grown, *tok;
	size_t count = 0, len, i;
	int bad = 0;

	for (v += strspn(v, LIST_SEPARATORS); *v; v += len, v += strspn(v, LIST_SEPARATORS)) {
		len = strcspn(v, LIST_SEPARATORS);
		tok = strndup(v, len);
		if (!tok)
			goto nomem;
		if (k->check == DFS_CHECK_ENTITY_LIST && !is_entity_set_name(tok)) {
			invalid(st, k, "'%s' is not an entity set name (letters, digits and '_', "
				"e.g. accounts)", DFS_PRINTABLE(tok));
			bad = 1;
			free(tok);
			continue;
		}
		for (i = 0; i < count && strcmp(items[i], tok) != 0; i++)
			;
		if (i < count) {
			free(tok);      /* listed twice: once is enough */
			continue;
		}
		grown = realloc(items, (count + 1) * sizeof(*items));
		if (!grown) {
			free(tok);
			goto nomem;
		}
		items = grown;
		items[count++] = tok;
	}
	if (bad) {
		free_list(items, count);
		return -EINVAL;
	}
	*list = items;
	*n = count;
	return 0;
nomem:
	free_list(items, count);
	return -ENOMEM;
}

/* ---------------------------------------------------------------- checks */

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
static int check_command(struct dfs_config_parse *st, const struct dfs_key *k, const char *v)
{
	char **argv = dfs_secret_split_command(v);
	const char *shell;
	int rc = 0;

	if (!argv && errno != EINVAL)
		return -ENOMEM;
	if (!argv) {
		invalid(st, k, "unterminated quote (the command runs without a shell; quote "
			"arguments with '...' or \"...\")");
		return -EINVAL;
	}
	if ((shell = dfs_secret_wants_shell(argv))) {
		invalid(st, k, "it looks like it wants a shell (%s), but the command runs without "
			"one: use a program that prints the secret, or sh -c '...'", shell);
		rc = -EINVAL;
	} else if (!st->offline && !program_found(argv[0])) {
		invalid(st, k, "program '%s' not found (the command runs without a shell)",
			DFS_PRINTABLE(argv[0]));
		rc = -EINVAL;
	}
	dfs_secret_free_argv(argv);
	return rc;
}

/* authority_host: "login.microsoftonline.us" means https://; a URL is kept as given. */
static int check_authority(struct dfs_config_parse *st, const struct dfs_key *k, char **v)
{
	const char *p;
	char *url;
	int ret;

	if (strstr(*v, "://")) {
		if ((ret = check_http_url(st, k, *v)) < 0)
			return ret;
		strip_trailing_slashes(*v);
		return 0;
	}
	strip_trailing_slashes(*v);
	for (p = *v; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-:[]", *p))
			break;
	if (*p || !**v) {
		invalid_value(st, k, *v);
		return -EINVAL;
	}
	if (asprintf(&url, "https://%s", *v) < 0)
		return -ENOMEM;
	free(*v);
	*v = url;
	return 0;
}

/* url, token_url: an http(s) URL; url is the environment, not its Web API endpoint. */
static int check_url(struct dfs_config_parse *st, const struct dfs_key *k, char *v)
{
	int ret;

	if ((ret = check_http_url(st, k, v)) < 0)
		return ret;
	if (k->check == DFS_CHECK_URL)
		return 0;
	strip_trailing_slashes(v);
	if (strstr(v, "/api/data")) {
		invalid(st, k, "'%s' (give the environment URL without /api/data/..., e.g. "
			"https://contoso.crm.dynamics.com)", DFS_PRINTABLE(v));
		return -EINVAL;
	}
	return 0;
}

/* *_env: the name of a variable that is set now. */
static int check_env_name(struct dfs_config_parse *st, const struct dfs_key *k, const char *v)
{
	const char *value;

	if (!is_entity_set_name(v)) {
		invalid_value(st, k, v);
		return -EINVAL;
	}
	value = getenv(v);
	if (!value || !*value) {
		invalid(st, k, "environment variable %s is %s", DFS_PRINTABLE(v),
			value ? "empty" : "not set");
		return -EINVAL;
	}
	return 0;
}

/* A file to read (made absolute in *V); a secret file must have a first line. */
static int check_file(struct dfs_config_parse *st, const struct dfs_key *k, char **v)
{
	int bare = !strchr(*v, '/');
	char *resolved = resolve_path(st, *v), *secret = NULL;
	int e;

	if (!resolved)
		return -ENOMEM;
	free(*v);
	*v = resolved;
	if (st->offline)
		return 0;
	e = check_readable(resolved);
	if (e == -ENOENT && bare && k->check == DFS_CHECK_SECRET_FILE) {
		/* Maybe the secret itself was pasted here: do not echo it. */
		invalid(st, k, "no such file in %s (the value is the path of a file holding "
			"the secret)", DFS_PRINTABLE(st->dir));
		return -EINVAL;
	}
	if (e == 0 && k->check == DFS_CHECK_SECRET_FILE) {
		/* Checked now, read again whenever a token is requested. */
		e = dfs_secret_read_file(resolved, &secret);
		dfs_secret_free(secret);
		if (e == -ENODATA) {
			invalid(st, k, "the first line of '%s' is empty (it must hold the secret)",
				DFS_PRINTABLE(resolved));
			return -EINVAL;
		}
		if (e == -ENOMEM)
			return e;
	}
	if (e) {
		invalid(st, k, "cannot read '%s': %s", DFS_PRINTABLE(resolved), strerror(-e));
		return -EINVAL;
	}
	return 0;
}

/* The check of K's row on a string value; may replace *V (which is malloc'd). */
static int check_string(struct dfs_config_parse *st, const struct dfs_key *k, char **v)
{
	char *resolved;

	switch (k->check) {
	case DFS_CHECK_NONE:
	case DFS_CHECK_ENTITY_LIST:
		return 0;
	case DFS_CHECK_URL:
	case DFS_CHECK_ENV_URL:
		return check_url(st, k, *v);
	case DFS_CHECK_TENANT_ID:
		if (is_tenant_id(*v))
			return 0;
		invalid_value(st, k, *v);
		return -EINVAL;
	case DFS_CHECK_NO_SPACE:
		if (!has_space_or_control(*v))
			return 0;
		invalid_value(st, k, *v);
		return -EINVAL;
	case DFS_CHECK_INLINE_SECRET:
		if (!(st->mode & 077))
			return 0;
		dfs_config_report(st, st->lineno, "refusing inline '%s': %s is accessible by group "
				  "or others (mode %04o); run 'chmod 600 %s' or use %s_file",
				  k->name, st->path, (unsigned)st->mode, st->path, k->name);
		return -EINVAL;
	case DFS_CHECK_ENV_NAME:
		return check_env_name(st, k, *v);
	case DFS_CHECK_COMMAND:
		return check_command(st, k, *v);
	case DFS_CHECK_AUTHORITY:
		return check_authority(st, k, v);
	case DFS_CHECK_PATH:
		resolved = resolve_path(st, *v);
		if (!resolved)
			return -ENOMEM;
		free(*v);
		*v = resolved;
		return 0;
	case DFS_CHECK_READABLE:
	case DFS_CHECK_SECRET_FILE:
		return check_file(st, k, v);
	}
	return 0;
}

/* ---------------------------------------------------------------- fields */

/* Free K's field in BASE: strings (zeroed first if secret) and lists. */
static void free_field(const struct dfs_key *k, void *base)
{
	char **s = field(base, k->off);

	switch (k->type) {
	case DFS_KEY_STRING:
		if (k->flags & DFS_KEY_SECRET)
			dfs_secret_free(*s);
		else
			free(*s);
		*s = NULL;
		break;
	case DFS_KEY_LIST:
		free_list(*(char ***)field(base, k->off), *(size_t *)field(base, k->off_n));
		*(char ***)field(base, k->off) = NULL;
		*(size_t *)field(base, k->off_n) = 0;
		break;
	case DFS_KEY_BOOL:
	case DFS_KEY_UINT:
	case DFS_KEY_SIZE:
	case DFS_KEY_ENUM:
		break;
	}
}

void dfs_keys_free(enum dfs_key_kind kind, void *base)
{
	size_t i;

	for (i = 0; i < DFS_N_KEYS; i++)
		if (dfs_keys[i].kind == kind)
			free_field(&dfs_keys[i], base);
}

int dfs_key_set(struct dfs_config_parse *st, const struct dfs_key *k, void *base,
		const char *v)
{
	char **list = NULL, *s;
	size_t n = 0;
	int rc = -EINVAL;

	switch (k->type) {
	case DFS_KEY_STRING:
		if (!*v) {
			invalid(st, k, "empty");
			return -EINVAL;
		}
		s = strdup(v);
		if (!s)
			return -ENOMEM;
		rc = check_string(st, k, &s);
		if (rc) {
			dfs_secret_free(s);
			return rc;
		}
		free_field(k, base);
		*(char **)field(base, k->off) = s;
		return 0;
	case DFS_KEY_BOOL:
		rc = parse_bool(v, (int *)field(base, k->off));
		break;
	case DFS_KEY_UINT:
		rc = parse_uint(v, k->min, k->max, (unsigned *)field(base, k->off));
		break;
	case DFS_KEY_SIZE:
		rc = parse_size(v, k->min, k->max, (size_t *)field(base, k->off));
		break;
	case DFS_KEY_ENUM:
		rc = parse_enum(v, k->choices);
		if (rc >= 0) {
			*(int *)field(base, k->off) = rc;
			rc = 0;
		}
		break;
	case DFS_KEY_LIST:
		rc = parse_list(st, k, v, &list, &n);
		if (rc)
			return rc;      /* each bad item was reported */
		free_field(k, base);
		*(char ***)field(base, k->off) = list;
		*(size_t *)field(base, k->off_n) = n;
		return 0;
	}
	if (rc)
		invalid_value(st, k, v);
	return rc;
}

int dfs_keys_set_defaults(struct dfs_config_parse *st, enum dfs_key_kind kind, void *base)
{
	size_t i;
	int rc;

	for (i = 0; i < DFS_N_KEYS; i++) {
		const struct dfs_key *k = &dfs_keys[i];

		if (k->kind != kind || !k->def)
			continue;
		rc = dfs_key_set(st, k, base, k->def);
		if (rc)
			return rc;
	}
	return 0;
}
