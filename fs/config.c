/* config.c - load and validate dynfs.ini (see include/config.h).
 *
 * The loader is two files (see include/config_keys.h): this one reads the
 * file, sends each key to its section and judges each tenant as a whole;
 * config_keys.c holds the table of keys and turns one value into a field.
 *
 * Lines: inih splits "key = value ; comment" lines and calls config_handler()
 * for each.  It reads them through config_reader(), which does only what inih
 * cannot: it counts lines (the packaged ini.h gives the handler no line
 * number), refuses a line with a NUL byte or longer than DFS_INI_LINE_MAX,
 * and takes the [section] headers itself, handing inih an empty line instead
 * (inih never tells the handler that a section began, so an empty or a
 * repeated section would go unnoticed, and it cuts names at 50 bytes).  A
 * line without '=' reaches the handler as a key without a value
 * (ini_allow_no_value), so every bad line is reported, not only inih's first.
 *
 * The line limit: Debian's libinih (bookworm: 55-1) carries a Debian patch
 * that turns inih's compile-time options into variables (ini_max_line,
 * ini_use_stack, ini_allow_realloc, ...), exported by libinih.so.  Upstream
 * they are macros of ini.c only: defining INI_MAX_LINE when building dynfs
 * would not change the shared library, whose line buffer holds 200 bytes,
 * too few for a long entities list.  So config_load() sets the variables:
 * inih's line buffer (on the stack, as before) holds DFS_INI_LINE_MAX bytes,
 * and the reader reports a longer line as "PATH:LINE: line too long".
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "config_keys.h"
#include "state.h"
#include "banned.h"

#define DEFAULT_AUTHORITY "https://login.microsoftonline.com"

/*
 * The longest line, its line ending included.  Far beyond any real entities
 * list; inih's line buffer, on the stack of the loading thread, is this big.
 */
#define DFS_INI_LINE_MAX 65536

void dfs_config_report(struct dfs_config_parse *st, int line, const char *fmt, ...)
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

/* The names this file has always used for the two helpers it calls most. */
#define report dfs_config_report
#define PRINTABLE DFS_PRINTABLE

static const char *section_name(const struct dfs_config_parse *st)
{
	if (st->section == DFS_SEC_GLOBAL)
		return DFS_GLOBAL_SECTION;
	return st->cfg->tenants[st->section].name;
}

static void free_tenant(struct dfs_tenant_config *tc)
{
	free(tc->name);         /* the section's name: the one field that is not a key */
	dfs_keys_free(DFS_KEY_TENANT, tc);
	memset(tc, 0, sizeof(*tc));
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
	/* Names such as .status are dynfs's own, in every folder. */
	if (name[0] == '.')
		return "it begins with '.'";
	if (strlen(name) > NAME_MAX)
		return "it is longer than 255 bytes";
	for (p = name; *p; p++)
		if (iscntrl((unsigned char)*p))
			return "it contains control characters";
	return NULL;
}

/* A "[NAME]" header on the current line.  Returns 0 or -ENOMEM. */
static int begin_section(struct dfs_config_parse *st, const char *name)
{
	struct dfs_config *cfg = st->cfg;
	struct dfs_tenant_config *tc;
	struct dfs_tenant_state *ts;
	const char *why;
	size_t i;
	int rc;

	if (strcmp(name, DFS_GLOBAL_SECTION) == 0) {
		if (st->global_line) {
			report(st, st->lineno, "duplicate section [%s] (first on line %d)",
			       DFS_GLOBAL_SECTION, st->global_line);
			st->section = DFS_SEC_SKIP;
		} else {
			st->global_line = st->lineno;
			st->section = DFS_SEC_GLOBAL;
		}
		return 0;
	}

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
	/* Reported once the section is this tenant's, so that the problem is
	 * counted against it: --check must not call a bad name "ok". */
	why = section_error(name);
	if (why)
		report(st, st->lineno, "invalid section name [%s]: %s (a section name is the "
		       "tenant's folder name)", PRINTABLE(name), why);
	rc = dfs_keys_set_defaults(st, DFS_KEY_TENANT, tc);
	return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------- reader */

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
 * A "[name]" line, S past its leading blanks.  Read as inih reads it: the
 * name ends at the first ']', unless an inline comment (';' after a blank)
 * comes first.  Returns 0 or -ENOMEM.
 */
static int section_header(struct dfs_config_parse *st, char *s)
{
	char *end = s + 1, *rest;
	int was_space = 0;

	for (; *end && *end != ']' && !(was_space && *end == ';'); end++)
		was_space = isspace((unsigned char)*end);
	if (*end != ']') {
		report(st, st->lineno, "syntax error: missing ']' after '[%s'",
		       PRINTABLE(trim(s + 1)));
		st->section = DFS_SEC_SKIP;
		return 0;
	}
	*end = '\0';
	rest = trim(end + 1);
	if (*rest && *rest != ';' && *rest != '#') {
		report(st, st->lineno, "syntax error: unexpected '%s' after ']'", PRINTABLE(rest));
		st->section = DFS_SEC_SKIP;
		return 0;
	}
	return begin_section(st, trim(s + 1));
}

/*
 * An ini_reader (fgets-like; NUM is inih's buffer) over st->in; see the top
 * of this file.  Key lines go to inih as they are.
 */
static char *config_reader(char *str, int num, void *stream)
{
	struct dfs_config_parse *st = stream;
	const char *pass = "\n";        /* what inih gets instead of a line it must not see */
	ssize_t len;
	size_t n;

	errno = 0;
	len = getline(&st->line, &st->line_cap, st->in);
	if (len < 0) {
		st->read_errno = ferror(st->in) ? (errno ? errno : EIO) : 0;
		return NULL;
	}
	st->lineno++;
	st->text = st->line;
	if (st->lineno == 1 && strncmp(st->text, "\xEF\xBB\xBF", 3) == 0)
		st->text += 3;          /* UTF-8 byte order mark */
	while (isspace((unsigned char)*st->text))
		st->text++;

	if (memchr(st->line, '\0', (size_t)len)) {
		report(st, st->lineno, "syntax error: NUL byte in line");
	} else if (num < 2 || (size_t)len > (size_t)num - 1) {
		/* inih would cut it and read the rest as the next line. */
		report(st, st->lineno, "line too long (more than %d bytes)", num - 1);
		if (*st->text == '[')
			st->section = DFS_SEC_SKIP;     /* a header we cannot read */
	} else if (*st->text == '[') {
		if (section_header(st, st->text) < 0) {
			report(st, 0, "out of memory");
			return NULL;
		}
	} else {
		pass = st->text;
	}
	n = strlen(pass);
	memcpy(str, pass, n + 1);
	return str;
}

/* ---------------------------------------------------------------- handler */

static int config_handler(void *user, const char *section, const char *name, const char *value)
{
	struct dfs_config_parse *st = user;
	const struct dfs_key *k;
	int *set;
	void *base;
	int rc;

	(void)section;  /* st->section: inih's copy is cut at 50 bytes */
	if (!value) {
		/* Show nothing of the line: it could be a pasted secret. */
		report(st, st->lineno, "syntax error: expected 'key = value', '[section]' or a "
		       "comment");
		return 1;
	}
	if (!*name) {
		report(st, st->lineno, "syntax error: missing key name before '%c'", *st->text);
		return 1;
	}
	if (st->section == DFS_SEC_SKIP)
		return 1;
	if (st->section == DFS_SEC_NONE) {
		report(st, st->lineno, "key '%s' outside of any section (put it under [%s] or a "
		       "[tenant] section)", PRINTABLE(name), DFS_GLOBAL_SECTION);
		return 1;
	}
	k = dfs_key_find(name);
	if (!k || (k->kind == DFS_KEY_GLOBAL) != (st->section == DFS_SEC_GLOBAL)) {
		const char *hint = "";

		if (k && k->kind == DFS_KEY_GLOBAL)
			hint = " (it belongs in [" DFS_GLOBAL_SECTION "])";
		else if (k)
			hint = " (it belongs in a tenant section)";
		report(st, st->lineno, "unknown key '%s' in [%s]%s", PRINTABLE(name),
		       PRINTABLE(section_name(st)), hint);
		return 1;
	}
	if (st->section == DFS_SEC_GLOBAL) {
		set = st->global_set;
		base = st->cfg;
	} else {
		set = st->ts[st->section].set;
		base = &st->cfg->tenants[st->section];
	}
	if (set[k - dfs_keys]) {
		report(st, st->lineno, "duplicate key '%s' in [%s] (first set on line %d)",
		       k->name, PRINTABLE(section_name(st)), set[k - dfs_keys]);
		return 1;
	}
	set[k - dfs_keys] = st->lineno;
	rc = dfs_key_set(st, k, base, value);
	if (rc == -ENOMEM) {
		report(st, 0, "out of memory");
		return 0;
	}
	return 1;
}

/* ---------------------------------------------------------------- tenants */

static int key_line(const struct dfs_tenant_state *ts, const char *name)
{
	return ts->set[dfs_key_find(name) - dfs_keys];
}

/*
 * The sources of one secret (client_secret*, password*) set in TS: reports
 * more than one.  Returns how many are set.
 */
static int secret_sources(struct dfs_config_parse *st, const struct dfs_tenant_state *ts,
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

static void require(struct dfs_config_parse *st, const struct dfs_tenant_state *ts,
		    const char *name, const char *key, const char *why)
{
	if (!key_line(ts, key))
		report(st, 0, "[%s]: missing required key '%s'%s", name, key, why);
}

/* The per-tenant rules that involve more than one key.  Returns 0 or -ENOMEM. */
static int finish_tenant(struct dfs_config_parse *st, size_t i)
{
	struct dfs_tenant_config *tc = &st->cfg->tenants[i];
	struct dfs_tenant_state *ts = &st->ts[i];
	const char *name = PRINTABLE(tc->name), *kind = dfs_auth_kind_name(tc->auth);
	int secrets, passwords, cert, key, n;
	size_t k;

	if (ts->duplicate)
		return 0;
	st->section = (int)i;   /* problems found here count for this tenant */

	/* Keys of another flow are mistakes worth pointing at (a password
	 * left behind when switching to auth = refresh_token, say). */
	for (k = 0; k < DFS_N_KEYS; k++)
		if (ts->set[k] && dfs_keys[k].auths && !(dfs_keys[k].auths & (1u << tc->auth)))
			report(st, ts->set[k], "'%s' is not used with auth = %s (remove it)",
			       dfs_keys[k].name, kind);

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
static void drop_duplicates(struct dfs_config_parse *st)
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
	dfs_keys_free(DFS_KEY_GLOBAL, cfg);
	memset(cfg, 0, sizeof(*cfg));
}

/* inih's options, run-time variables in Debian's build (see the top of this file). */
static void ini_options(void)
{
	ini_use_stack = true;                   /* its line buffer: on the stack, as always */
	ini_max_line = DFS_INI_LINE_MAX + 1;    /* the line and its NUL */
	ini_allow_realloc = false;
	ini_allow_multiline = false;            /* an indented line is an ordinary one */
	ini_allow_inline_comments = true;       /* "key = value ; comment" */
	ini_allow_bom = true;
	ini_allow_no_value = true;              /* a line without '=' reaches the handler */
	ini_stop_on_first_error = false;
}

/* -o KEY=VALUE of the command line: they win over the file. */
static void apply_overrides(struct dfs_config_parse *st, const char *const *kv)
{
	const struct dfs_key *k;
	const char *eq;
	char name[64];
	size_t n;

	/* Reported as "-o: invalid value for 'KEY': ..." by the usual wording. */
	st->path = "-o";
	st->lineno = 0;
	st->section = DFS_SEC_GLOBAL;
	for (; kv && *kv; kv++) {
		eq = strchr(*kv, '=');
		n = eq ? (size_t)(eq - *kv) : strlen(*kv);
		if (n >= sizeof(name))
			n = sizeof(name) - 1;
		memcpy(name, *kv, n);
		name[n] = '\0';
		k = dfs_key_find(name);
		if (!k || k->kind != DFS_KEY_GLOBAL || !eq) {
			report(st, 0, "%s: not a setting (see dynfs --help)", PRINTABLE(*kv));
			continue;
		}
		if (dfs_key_set(st, k, st->cfg, eq + 1) == -ENOMEM)
			report(st, 0, "out of memory");
	}
	st->section = DFS_SEC_NONE;
}

static int wanted(const struct dfs_config_opts *o, const char *name)
{
	const char *const *t;

	if (!o || !o->tenants)
		return 1;
	for (t = o->tenants; *t; t++)
		if (strcmp(*t, name) == 0)
			return 1;
	return 0;
}

/*
 * -o tenant=NAME: keep only the tenants named.  Returns how many of the
 * load's problems are forgiven (those of the tenants left out).
 */
static int select_tenants(struct dfs_config_parse *st, const struct dfs_config_opts *o)
{
	struct dfs_config *cfg = st->cfg;
	const char *const *t;
	size_t i, j = 0;
	int forgiven = 0;

	if (!o || !o->tenants)
		return 0;
	for (t = o->tenants; *t; t++) {
		for (i = 0; i < cfg->n_tenants; i++)
			if (strcmp(cfg->tenants[i].name, *t) == 0)
				break;
		if (i == cfg->n_tenants)
			report(st, 0, "-o tenant=%s: no section [%s] in this file", PRINTABLE(*t),
			       PRINTABLE(*t));
	}
	for (i = 0; i < cfg->n_tenants; i++) {
		if (!wanted(o, cfg->tenants[i].name)) {
			forgiven += st->ts[i].problems;
			free_tenant(&cfg->tenants[i]);
			continue;
		}
		st->ts[j] = st->ts[i];
		cfg->tenants[j++] = cfg->tenants[i];
	}
	cfg->n_tenants = j;
	return forgiven;
}

/* Load PATH, or with TEXT (then owned: closed here) that stream under the
 * name PATH, offline: see dfs_config_parse_text. */
static int config_load(const char *path, FILE *text, struct dfs_config *cfg, FILE *err,
		       int keep, const struct dfs_config_opts *o)
{
	struct dfs_config_parse st = {
		.path = path, .err = err, .cfg = cfg, .section = DFS_SEC_NONE,
		.offline = text != NULL,
	};
	struct stat sb;
	char *dir = NULL, *slash;
	size_t i;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	st.in = text ? text : fopen(path, "re");
	if (!st.in) {
		report(&st, 0, "cannot open: %s", strerror(errno));
		return -EINVAL;
	}
	if (text) {
		sb.st_mode = S_IFREG | 0600;   /* a text in hand has no permissions to judge */
	} else if (fstat(fileno(st.in), &sb) != 0) {
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

	if (dfs_keys_set_defaults(&st, DFS_KEY_GLOBAL, cfg) != 0)
		goto nomem;

	ini_options();
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
	if (o && o->overrides) {
		apply_overrides(&st, o->overrides);
		st.path = path;
	}

	for (i = 0; i < cfg->n_tenants; i++)
		if (finish_tenant(&st, i) < 0)
			goto nomem;
	st.section = DFS_SEC_NONE;
	drop_duplicates(&st);
	st.errors -= select_tenants(&st, o);
	for (i = 0; i < cfg->n_tenants; i++)
		cfg->tenants[i].problems = st.ts[i].problems;
	if (cfg->n_tenants == 0 && !(o && o->tenants))
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
		return -EINVAL;
	}
	return 0;
}

int dfs_config_load(const char *path, struct dfs_config *cfg, FILE *err)
{
	return config_load(path, NULL, cfg, err, 0, NULL);
}

int dfs_config_load_opts(const char *path, struct dfs_config *cfg, FILE *err,
			 const struct dfs_config_opts *o)
{
	return config_load(path, NULL, cfg, err, 0, o);
}

int dfs_config_load_all(const char *path, struct dfs_config *cfg, FILE *err)
{
	return config_load(path, NULL, cfg, err, 1, NULL);
}

int dfs_config_parse_text(const char *text, size_t len, const char *name,
			  struct dfs_config *cfg, FILE *err)
{
	/* fmemopen wants a non-const buffer, but reads only in mode "r". */
	FILE *in = len ? fmemopen((void *)text, len, "r") : fopen("/dev/null", "re");

	if (!in) {
		memset(cfg, 0, sizeof(*cfg));
		return -ENOMEM;
	}
	return config_load(name, in, cfg, err, 1, NULL);
}

int dfs_config_is_global_key(const char *name)
{
	const struct dfs_key *k = dfs_key_find(name);

	return k && k->kind == DFS_KEY_GLOBAL;
}

const char *dfs_config_global_key(size_t i, const char **def)
{
	size_t k;

	for (k = 0; k < DFS_N_KEYS; k++) {
		if (dfs_keys[k].kind != DFS_KEY_GLOBAL || (dfs_keys[k].flags & DFS_KEY_OBSOLETE))
			continue;
		if (i-- == 0) {
			if (def)
				*def = dfs_keys[k].def;
			return dfs_keys[k].name;
		}
	}
	return NULL;
}

int dfs_config_global_text(const struct dfs_config *cfg, const char *name, char *buf,
			   size_t cap)
{
	const struct dfs_key *k = dfs_key_find(name);
	const void *f;

	if (!k || k->kind != DFS_KEY_GLOBAL)
		return -ENOENT;
	f = (const char *)cfg + k->off;
	switch (k->type) {
	case DFS_KEY_UINT:
		snprintf(buf, cap, "%u", *(const unsigned *)f);
		break;
	case DFS_KEY_SIZE:
		snprintf(buf, cap, "%zu", *(const size_t *)f);
		break;
	case DFS_KEY_BOOL:
		snprintf(buf, cap, "%s", *(const int *)f ? "true" : "false");
		break;
	case DFS_KEY_ENUM:
		snprintf(buf, cap, "%s", k->choices[*(const int *)f]);
		break;
	case DFS_KEY_STRING:
		snprintf(buf, cap, "%s", *(char *const *)f ? *(char *const *)f : "");
		break;
	case DFS_KEY_LIST:
		snprintf(buf, cap, "(list)");
		break;
	}
	return 0;
}
