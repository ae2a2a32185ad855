/* test_config.c - unit tests of the config loader (fs/config.c, fs/config_keys.c),
 * the secret sources (fs/secret.c) and the level names of fs/log.c.
 *
 * Each case writes an INI file into a private temporary directory, loads it
 * and checks the values, or the exact error lines.  Checks are counted by
 * tests/unit/check.h; the helpers here add what the last load printed to a
 * failure.  Run: make unit.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "log.h"

static char dir[64];
static char path[128];          /* the config file of the current case */
static char *errtext;           /* what the last load printed */

/* CHECK (check.h) with COND's own text as the message. */
#define CHECK_COND(cond) check_cond(!!(cond), #cond, __FILE__, __LINE__)
#define CHECK_STR(a, b) check_str((a), (b), #a, __FILE__, __LINE__)
#define CHECK_ERR(s) check_err((s), __FILE__, __LINE__)
#define CHECK_NO_ERR(s) check_no_err((s), __FILE__, __LINE__)
#define CHECK_SECRET(src, want) check_secret((src), (want), __FILE__, __LINE__)
/* The last load printed N lines. */
#define CHECK_LINES(n) CHECK(count_lines(errtext) == (n), "load printed %d lines, expected %d:\n%s", \
			     count_lines(errtext), (n), str(errtext))

/* After a failed check: what the last load printed, which usually says why. */
static void show_load(int ok)
{
	if (!ok && errtext && *errtext)
		fprintf(stderr, "  load printed:\n%s", errtext);
}

static void check_cond(int ok, const char *what, const char *file, int line)
{
	check_at(ok, file, line, "%s", what);
	show_load(ok);
}

static void check_str(const char *a, const char *b, const char *what, const char *file,
		      int line)
{
	check_at(streq(a, b), file, line, "%s is '%s', expected '%s'", what, str(a), str(b));
	show_load(streq(a, b));
}

/* Reading SRC now gives WANT. */
static void check_secret(const struct dfs_secret_src *src, const char *want, const char *file,
			 int line)
{
	char *got = NULL, why[256] = "";

	if (dfs_secret_get(src, "client_secret", &got, why, sizeof(why)) < 0)
		fprintf(stderr, "  %s\n", why);
	check_str(got, want, "secret", file, line);
	dfs_secret_free(got);
}

/* The last load printed a line containing S (with PATH substituted for %P). */
static void check_err(const char *s, const char *file, int line)
{
	char want[512];
	const char *p;
	size_t n = 0;

	for (p = s; *p && n + sizeof(path) < sizeof(want); p++) {
		if (p[0] == '%' && p[1] == 'P') {
			n += (size_t)snprintf(want + n, sizeof(want) - n, "%s", path);
			p++;
		} else {
			want[n++] = *p;
		}
	}
	want[n] = '\0';
	check_cond(errtext && strstr(errtext, want) != NULL, want, file, line);
}

static void check_no_err(const char *s, const char *file, int line)
{
	check_cond(!errtext || strstr(errtext, s) == NULL, s, file, line);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

static void write_file(const char *name, mode_t mode, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	unlink(p);
	f = fopen(p, "w");
	if (!f) {
		perror(p);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
	chmod(p, mode);
}

/* Write TEXT as the config file with MODE and load it into CFG. */
static int load_mode(struct dfs_config *cfg, mode_t mode, const char *text)
{
	size_t len = 0;
	FILE *err;
	int rc;

	write_file("dynfs.ini", mode, text);
	free(errtext);
	errtext = NULL;
	err = open_memstream(&errtext, &len);
	if (!err) {
		perror("open_memstream");
		exit(2);
	}
	memset(cfg, 0, sizeof(*cfg));
	rc = dfs_config_load(path, cfg, err);
	fclose(err);
	return rc;
}

static int load(struct dfs_config *cfg, const char *text)
{
	return load_mode(cfg, 0600, text);
}

#define TENANT(name, extra) \
	"[" name "]\n" \
	"url = https://" name ".crm.dynamics.com\n" \
	"tenant_id = 00000000-0000-0000-0000-000000000001\n" \
	"client_id = 11111111-1111-1111-1111-111111111111\n" \
	"client_secret_file = secret\n" extra

static void test_minimal_and_defaults(void)
{
	struct dfs_config cfg;

	CHECK_COND(load(&cfg, TENANT("contoso", "")) == 0);
	CHECK_STR(errtext, "");
	CHECK_STR(cfg.path, path);
	CHECK_COND(cfg.n_tenants == 1);
	CHECK_COND(cfg.cache_ttl == 60);
	CHECK_COND(cfg.log_level == DFS_LOG_WARN);
	CHECK_COND(cfg.connect_timeout == 10);
	CHECK_COND(cfg.timeout == 300);
	CHECK_COND(cfg.max_retries == 5);
	CHECK_COND(cfg.page_size == 5000);
	if (cfg.n_tenants == 1) {
		struct dfs_tenant_config *t = &cfg.tenants[0];
		char want[256];

		CHECK_STR(t->name, "contoso");
		CHECK_COND(t->line == 1);
		CHECK_STR(t->url, "https://contoso.crm.dynamics.com");
		CHECK_STR(t->tenant_id, "00000000-0000-0000-0000-000000000001");
		CHECK_STR(t->client_id, "11111111-1111-1111-1111-111111111111");
		CHECK_SECRET(&t->secret, "s3cret-value");
		snprintf(want, sizeof(want), "%s/secret", dir);
		CHECK_STR(t->secret.file, want);
		CHECK_COND(t->auth == DFS_AUTH_CLIENT_CREDENTIALS);
		CHECK_STR(t->token_url, "https://login.microsoftonline.com/"
			  "00000000-0000-0000-0000-000000000001/oauth2/v2.0/token");
		CHECK_STR(t->scope, "https://contoso.crm.dynamics.com/.default");
		CHECK_COND(t->entities == NULL && t->n_entities == 0);
		CHECK_COND(t->ca_file == NULL);
		CHECK_COND(t->read_only == 0);
		CHECK_COND(t->allow_delete == 0);
		CHECK_COND(t->max_connections == 8);
	}
	dfs_config_free(&cfg);
	CHECK_COND(cfg.tenants == NULL && cfg.n_tenants == 0 && cfg.path == NULL);
	dfs_config_free(&cfg);  /* twice is harmless */
}

static void test_all_keys(void)
{
	struct dfs_config cfg;

	CHECK_COND(load(&cfg,
		   "; comment\n"
		   "# another\n"
		   "[global]\n"
		   "cache_ttl = 0\n"
		   "log_level = debug\n"
		   "connect_timeout = 3\n"
		   "timeout = 30 ; inline comment\n"
		   "max_retries = 0\n"
		   "page_size = 1\n"
		   "\n"
		   "[fabrikam]\n"
		   "  url: http://127.0.0.1:8080/fabrikam///\n"
		   "token_url = http://127.0.0.1:8080/tenant/token/\n"
		   "client_id = app\n"
		   "client_secret = inline-secret\n"
		   "auth = client_credentials\n"
		   "scope = api://x/.default\n"
		   "entities = accounts, contacts  new_things,accounts\n"
		   "ca_file = ca.pem\n"
		   "read_only = Yes\n"
		   "allow_delete = on\n"
		   "max_connections = 52\n"
		   "[second]\n"
		   "url = https://second.crm4.dynamics.com/\n"
		   "tenant_id = contoso.onmicrosoft.com\n"
		   "client_id = app2\n"
		   "client_secret_file = secret\n"
		   "read_only = 0\n"
		   "allow_delete = off\n") == 0);
	CHECK_STR(errtext, "");
	CHECK_COND(cfg.cache_ttl == 0);
	CHECK_COND(cfg.log_level == DFS_LOG_DEBUG);
	CHECK_COND(cfg.connect_timeout == 3);
	CHECK_COND(cfg.timeout == 30);
	CHECK_COND(cfg.max_retries == 0);
	CHECK_COND(cfg.page_size == 1);
	CHECK_COND(cfg.n_tenants == 2);
	if (cfg.n_tenants == 2) {
		struct dfs_tenant_config *t = &cfg.tenants[0];
		char want[256];

		CHECK_STR(t->name, "fabrikam");
		CHECK_COND(t->line == 11);
		CHECK_STR(t->url, "http://127.0.0.1:8080/fabrikam");
		CHECK_COND(t->tenant_id == NULL);
		CHECK_STR(t->token_url, "http://127.0.0.1:8080/tenant/token/");
		CHECK_STR(t->secret.value, "inline-secret");
		CHECK_COND(t->secret.file == NULL);
		CHECK_STR(t->scope, "api://x/.default");
		CHECK_COND(t->n_entities == 3);
		if (t->n_entities == 3) {
			CHECK_STR(t->entities[0], "accounts");
			CHECK_STR(t->entities[1], "contacts");
			CHECK_STR(t->entities[2], "new_things");
		}
		snprintf(want, sizeof(want), "%s/ca.pem", dir);
		CHECK_STR(t->ca_file, want);
		CHECK_COND(t->read_only == 1);
		CHECK_COND(t->allow_delete == 1);
		CHECK_COND(t->max_connections == 52);

		t = &cfg.tenants[1];
		CHECK_STR(t->name, "second");
		CHECK_STR(t->url, "https://second.crm4.dynamics.com");
		CHECK_STR(t->token_url, "https://login.microsoftonline.com/"
			  "contoso.onmicrosoft.com/oauth2/v2.0/token");
		CHECK_STR(t->scope, "https://second.crm4.dynamics.com/.default");
		CHECK_COND(t->read_only == 0);
		CHECK_COND(t->allow_delete == 0);
	}
	dfs_config_free(&cfg);
}

static void test_secret_file(void)
{
	struct dfs_config cfg;

	write_file("secret", 0600, "crlf-secret\r\nsecond line\n");
	CHECK_COND(load(&cfg, TENANT("a", "")) == 0);
	if (cfg.n_tenants == 1)
		CHECK_SECRET(&cfg.tenants[0].secret, "crlf-secret");
	dfs_config_free(&cfg);

	write_file("secret", 0600, "no-newline");
	CHECK_COND(load(&cfg, TENANT("a", "")) == 0);
	if (cfg.n_tenants == 1)
		CHECK_SECRET(&cfg.tenants[0].secret, "no-newline");
	dfs_config_free(&cfg);

	write_file("secret", 0600, "\nsecret on line 2\n");
	CHECK_COND(load(&cfg, TENANT("a", "")) == -EINVAL);
	CHECK_ERR("%P:5: invalid value for 'client_secret_file': the first line of '");
	CHECK_ERR("/secret' is empty (it must hold the secret)");
	CHECK_COND(cfg.tenants == NULL && cfg.n_tenants == 0);

	write_file("secret", 0600, "");
	CHECK_COND(load(&cfg, TENANT("a", "")) == -EINVAL);
	CHECK_ERR("is empty (it must hold the secret)");

	CHECK_COND(load(&cfg, "[a]\nurl = https://a.example\ntenant_id = t\nclient_id = c\n"
		   "client_secret_file = /nonexistent/secret\n") == -EINVAL);
	CHECK_ERR("%P:5: invalid value for 'client_secret_file': cannot read "
		  "'/nonexistent/secret': No such file or directory\n");

	/* A secret pasted into client_secret_file is not echoed. */
	CHECK_COND(load(&cfg, "[a]\nurl = https://a.example\ntenant_id = t\nclient_id = c\n"
		   "client_secret_file = Xy8Q~pasted.secret\n") == -EINVAL);
	CHECK_ERR("%P:5: invalid value for 'client_secret_file': no such file in ");
	CHECK_ERR(" (the value is the path of a file holding the secret)\n");
	CHECK_NO_ERR("pasted");

	write_file("secret", 0600, "s3cret-value\n");
}

static void test_inline_secret_mode(void)
{
	struct dfs_config cfg;
	const char *text = "[a]\nurl = https://a.example\ntenant_id = t\nclient_id = c\n"
			   "client_secret = hunter2\n";

	CHECK_COND(load_mode(&cfg, 0600, text) == 0);
	dfs_config_free(&cfg);
	CHECK_COND(load_mode(&cfg, 0400, text) == 0);
	dfs_config_free(&cfg);

	CHECK_COND(load_mode(&cfg, 0644, text) == -EINVAL);
	CHECK_ERR("%P:5: refusing inline 'client_secret': %P is accessible by group or others "
		  "(mode 0644); run 'chmod 600 %P' or use client_secret_file\n");
	CHECK_NO_ERR("hunter2");
	CHECK_COND(load_mode(&cfg, 0640, text) == -EINVAL);
	CHECK_ERR("(mode 0640); run 'chmod 600 %P'");

	/* A secret file is fine in a readable config. */
	CHECK_COND(load_mode(&cfg, 0644, TENANT("a", "")) == 0);
	dfs_config_free(&cfg);
}

static void test_unknown_keys(void)
{
	struct dfs_config cfg;

	CHECK_COND(load(&cfg, "[global]\nbogus = 1\nurl = https://x.example\n"
		   TENANT("contoso", "colour = blue\ncache_ttl = 5\n")) == -EINVAL);
	CHECK_ERR("%P:2: unknown key 'bogus' in [global]\n");
	CHECK_ERR("%P:3: unknown key 'url' in [global] (it belongs in a tenant section)\n");
	CHECK_ERR("%P:9: unknown key 'colour' in [contoso]\n");
	CHECK_ERR("%P:10: unknown key 'cache_ttl' in [contoso] (it belongs in [global])\n");
	CHECK_LINES(4);

	CHECK_COND(load(&cfg, "cache_ttl = 5\n" TENANT("a", "")) == -EINVAL);
	CHECK_ERR("%P:1: key 'cache_ttl' outside of any section");
}

static void test_invalid_values(void)
{
	struct dfs_config cfg;

	CHECK_COND(load(&cfg, "[global]\n"
		   "cache_ttl = abc\n"                  /* 2 */
		   "log_level = verbose\n"              /* 3 */
		   "connect_timeout = 0\n"              /* 4 */
		   "timeout = -1\n"                     /* 5 */
		   "max_retries = 99999999999999999999\n" /* 6 */
		   "page_size = 5001\n"                 /* 7 */
		   "[t]\n"                              /* 8 */
		   "url = ftp://t.example\n"            /* 9 */
		   "tenant_id = has space\n"            /* 10 */
		   "client_id =\n"                      /* 11 */
		   "client_secret_file = secret\n"      /* 12 */
		   "auth = kerberos\n"                  /* 13 */
		   "token_url = login.example/token\n"  /* 14 */
		   "entities = accounts, bad-name\n"    /* 15 */
		   "ca_file = missing.pem\n"            /* 16 */
		   "read_only = maybe\n"                /* 17 */
		   "allow_delete = 2\n"                 /* 18 */
		   "scope =\n") == -EINVAL);                 /* 19 */
	CHECK_ERR("%P:2: invalid value for 'cache_ttl': 'abc' (expected a whole number from 0 to 31536000)\n");
	CHECK_ERR("%P:3: invalid value for 'log_level': 'verbose' (expected error, warn, info or debug)\n");
	CHECK_ERR("%P:4: invalid value for 'connect_timeout': '0' (expected a whole number from 1 to 3600)\n");
	CHECK_ERR("%P:5: invalid value for 'timeout': '-1'");
	CHECK_ERR("%P:6: invalid value for 'max_retries': '99999999999999999999'");
	CHECK_ERR("%P:7: invalid value for 'page_size': '5001' (expected a whole number from 1 to 5000)\n");
	CHECK_ERR("%P:9: invalid value for 'url': 'ftp://t.example' (expected an http:// or https:// URL)\n");
	CHECK_ERR("%P:10: invalid value for 'tenant_id': 'has space'");
	CHECK_ERR("%P:11: invalid value for 'client_id': empty\n");
	CHECK_ERR("%P:13: unsupported auth 'kerberos' (supported: client_credentials, "
		  "refresh_token, password, ntlm or negotiate)\n");
	CHECK_ERR("%P:14: invalid value for 'token_url': 'login.example/token'");
	CHECK_ERR("%P:15: invalid value for 'entities': 'bad-name' is not an entity set name");
	CHECK_ERR("%P:16: invalid value for 'ca_file': cannot read '");
	CHECK_ERR("/missing.pem': No such file or directory\n");
	CHECK_ERR("%P:17: invalid value for 'read_only': 'maybe' (expected true/false, yes/no, on/off or 1/0)\n");
	CHECK_ERR("%P:18: invalid value for 'allow_delete': '2'");
	CHECK_ERR("%P:19: invalid value for 'scope': empty\n");
	/* A bad value is not also "missing". */
	CHECK_NO_ERR("missing required key 'client_id'");
	CHECK_LINES(16);

	CHECK_COND(load(&cfg, TENANT("t", "max_connections = 53\n")) == -EINVAL);
	CHECK_ERR("invalid value for 'max_connections': '53' (expected a whole number from 1 to 52)\n");

	CHECK_COND(load(&cfg, TENANT("t", "url2 = x\n") "[u]\nurl = https://u.example/api/data/v9.2/\n"
		   "tenant_id = t\nclient_id = c\nclient_secret_file = secret\n") == -EINVAL);
	CHECK_ERR("invalid value for 'url': 'https://u.example/api/data/v9.2' (give the environment URL");

	CHECK_COND(load(&cfg, TENANT("t", "url2 = x\n") "[u]\nurl = https://\n") == -EINVAL);
	CHECK_ERR("%P:8: invalid value for 'url': 'https://' (expected an http:// or https:// URL)");
}

/* URL keys are read with libcurl's URL API: a user name, password, query or
 * fragment is refused, and never shown. */
static void test_url_parts(void)
{
	struct dfs_config cfg;

	CHECK_COND(load(&cfg, "[a]\nurl = https://me:Pa55w0rd@a.example/org\ntenant_id = t\n"
		   "client_id = c\nclient_secret_file = secret\n"
		   "token_url = https://login.example/t/token?client_secret=Sh0wMe\n"
		   "authority_host = https://host.example/x#Fr4gment\n") == -EINVAL);
	CHECK_ERR("%P:2: invalid value for 'url': 'https://a.example/org' carries a user name or "
		  "password (not shown)");
	CHECK_ERR("%P:6: invalid value for 'token_url': 'https://login.example/t/token' carries a "
		  "query (?..., not shown)");
	CHECK_ERR("%P:7: invalid value for 'authority_host': 'https://host.example/x' carries a "
		  "fragment (#..., not shown)");
	CHECK_NO_ERR("Pa55w0rd");
	CHECK_NO_ERR("Sh0wMe");
	CHECK_NO_ERR("Fr4gment");
	CHECK_NO_ERR(" me:");
	CHECK_LINES(3);

	CHECK_COND(load(&cfg, TENANT("a", "token_url = ftp://u:Hidden@x.example/\n")) == -EINVAL);
	CHECK_ERR("invalid value for 'token_url': not an http:// or https:// URL (not shown: it "
		  "may hold a password)");
	CHECK_NO_ERR("Hidden");
	/* A bare '?' or '#' is a query or fragment too; a plain URL is fine. */
	CHECK_COND(load(&cfg, TENANT("a", "token_url = https://x.example/t?\n")) == -EINVAL);
	CHECK_COND(load(&cfg, TENANT("a", "token_url = https://x.example:8443/t/oauth2/v2.0/token\n"))
		   == 0);
	dfs_config_free(&cfg);
}

/* A command runs without a shell: one that looks as if it wants one says so. */
static void test_shell_commands(void)
{
	static const char *const wants[] = {
		"pass show dynfs | head -1", "cat secret > /dev/null", "getsecret && true",
		"printf $SECRET", "echo $(cat x)", "cat ~/.secret", "~/bin/getsecret",
	};
	struct dfs_config cfg;
	char text[512];
	size_t i;

	for (i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
		snprintf(text, sizeof(text), "[a]\nurl = https://a.example\ntenant_id = t\n"
			 "client_id = c\nclient_secret_command = %s\n", wants[i]);
		CHECK_COND(load(&cfg, text) == -EINVAL);
		CHECK_ERR("invalid value for 'client_secret_command': it looks like it wants a shell");
	}
	CHECK_COND(load(&cfg, "[a]\nurl = https://a.example\ntenant_id = t\nclient_id = c\n"
		   "client_secret_command = sh -c 'printf x | head -1'\n") == 0);
	dfs_config_free(&cfg);
}

/* dfs_config_parse_text: the same rules, without looking at files or programs
 * (what fuzz_config loads with).  Cases marked "fuzz" are its findings. */
static void test_parse_text(void)
{
	static const char ok[] = "[a]\nurl = https://a.example/\ntenant_id = t\nclient_id = c\n"
		"client_secret_file = /nonexistent/secret\n[b]\nurl = https://b.example\n"
		"tenant_id = t\nclient_id = c\nclient_secret_command = no-such-program x\n";
	static const char shell[] = "[a]\nurl = https://a.example\ntenant_id = t\n"
		"client_id = c\nclient_secret_command = cat f | head -1\n";
	/* fuzz: an empty section name is reported and kept for --check. */
	static const char empty_name[] = "[]\n\xff\n";
	struct dfs_config cfg;
	size_t len = 0;
	FILE *err;

	free(errtext);
	errtext = NULL;
	err = open_memstream(&errtext, &len);
	CHECK_COND(dfs_config_parse_text(ok, sizeof(ok) - 1, "/x/dynfs.ini", &cfg, err) == 0);
	CHECK_COND(cfg.n_tenants == 2);
	CHECK_STR(cfg.n_tenants == 2 ? cfg.tenants[0].secret.file : NULL, "/nonexistent/secret");
	CHECK_STR(cfg.n_tenants == 2 ? cfg.tenants[0].url : NULL, "https://a.example");
	dfs_config_free(&cfg);
	CHECK_COND(dfs_config_parse_text(shell, sizeof(shell) - 1, "/x/dynfs.ini", &cfg, err) ==
		   -EINVAL);
	dfs_config_free(&cfg);
	CHECK_COND(dfs_config_parse_text(empty_name, sizeof(empty_name) - 1, "/x/dynfs.ini", &cfg,
					 err) == -EINVAL);
	CHECK_COND(cfg.n_tenants == 1);
	dfs_config_free(&cfg);
	CHECK_COND(dfs_config_parse_text("", 0, "/x/dynfs.ini", &cfg, err) == -EINVAL);
	dfs_config_free(&cfg);
	fclose(err);
	CHECK_NO_ERR("cannot read");
	CHECK_ERR("/x/dynfs.ini:5: invalid value for 'client_secret_command': it looks like "
		  "it wants a shell");
	CHECK_ERR("/x/dynfs.ini:1: invalid section name []: it is empty");
	CHECK_ERR("/x/dynfs.ini: no tenants configured");
}

static void test_missing_keys(void)
{
	struct dfs_config cfg;

	CHECK_COND(load(&cfg, "[global]\ncache_ttl = 1\n[empty]\n[partial]\nurl = https://p.example\n"
		   "[both]\nurl = https://b.example\ntenant_id = t\nclient_id = c\n"
		   "client_secret = x\nclient_secret_file = secret\n") == -EINVAL);
	CHECK_ERR("%P: [empty]: missing required key 'url'\n");
	CHECK_ERR("%P: [empty]: missing required key 'client_id'\n");
	CHECK_ERR("%P: [empty]: missing required key 'tenant_id' (or 'token_url')\n");
	CHECK_ERR("%P: [empty]: missing required key 'client_secret_file' (or 'client_secret', "
		  "'client_secret_env', 'client_secret_command', or 'certificate_file' and "
		  "'private_key_file')\n");
	CHECK_ERR("%P: [partial]: missing required key 'client_id'\n");
	CHECK_NO_ERR("[partial]: missing required key 'url'");
	CHECK_ERR("%P: [both]: 'client_secret' (line 10) and 'client_secret_file' (line 11) "
		  "exclude each other: keep one\n");
	CHECK_NO_ERR("s3cret");
	CHECK_LINES(8);

	/* token_url makes tenant_id optional. */
	CHECK_COND(load(&cfg, "[a]\nurl = https://a.example\ntoken_url = https://login.example/t\n"
		   "client_id = c\nclient_secret_file = secret\n") == 0);
	if (cfg.n_tenants == 1) {
		CHECK_COND(cfg.tenants[0].tenant_id == NULL);
		CHECK_STR(cfg.tenants[0].token_url, "https://login.example/t");
	}
	dfs_config_free(&cfg);
}

static void test_sections(void)
{
	struct dfs_config cfg;

	CHECK_COND(load(&cfg, TENANT("a", "") TENANT("b", "") TENANT("a", "colour = red\n")
		   "[global]\n[global]\ncache_ttl = x\n") == -EINVAL);
	CHECK_ERR("%P:11: duplicate section [a] (first on line 1)\n");
	CHECK_NO_ERR("duplicate key");  /* the repeated section is reported once */
	CHECK_ERR("%P:16: unknown key 'colour' in [a]\n");
	CHECK_ERR("%P:18: duplicate section [global] (first on line 17)\n");
	CHECK_NO_ERR("cache_ttl");      /* keys of a repeated [global] are ignored */

	CHECK_COND(load(&cfg, "[]\n[.]\n[..]\n[a/b]\n[ ok ]\n[x] junk\n[broken\nurl = y\n"
		   TENANT("c", "")) == -EINVAL);
	CHECK_ERR("%P:1: invalid section name []: it is empty");
	CHECK_ERR("%P:2: invalid section name [.]: '.' and '..' are reserved");
	CHECK_ERR("%P:3: invalid section name [..]: '.' and '..' are reserved");
	CHECK_ERR("%P:4: invalid section name [a/b]: it contains '/' (a section name is the "
		  "tenant's folder name)\n");
	CHECK_ERR("%P:6: syntax error: unexpected 'junk' after ']'\n");
	CHECK_ERR("%P:7: syntax error: missing ']' after '[broken'\n");
	CHECK_NO_ERR("[ ok ]");
	CHECK_NO_ERR("'url = y'");
	CHECK_NO_ERR("%P:8:");

	CHECK_COND(load(&cfg, "[ spaced ]  ; comment\n" "url = https://s.example\ntenant_id = t\n"
		   "client_id = c\nclient_secret_file = secret\n") == 0);
	if (cfg.n_tenants == 1)
		CHECK_STR(cfg.tenants[0].name, "spaced");
	dfs_config_free(&cfg);

	/* A long section name is not cut at inih's 50 bytes. */
	CHECK_COND(load(&cfg, TENANT("a-rather-long-tenant-name-that-is-longer-than-fifty-bytes",
				"")) == 0);
	if (cfg.n_tenants == 1)
		CHECK_STR(cfg.tenants[0].name,
			  "a-rather-long-tenant-name-that-is-longer-than-fifty-bytes");
	dfs_config_free(&cfg);
}

static void test_syntax(void)
{
	struct dfs_config cfg;

	CHECK_COND(load(&cfg, "\xEF\xBB\xBF[global]\r\ncache_ttl = 7\r\n" TENANT("a", "")) == 0);
	CHECK_COND(cfg.cache_ttl == 7);
	dfs_config_free(&cfg);

	CHECK_COND(load(&cfg, TENANT("a", "just some words\n= value\n")) == -EINVAL);
	CHECK_ERR("%P:6: syntax error: expected 'key = value', '[section]' or a comment\n");
	CHECK_NO_ERR("just some words");
	CHECK_ERR("%P:7: syntax error: missing key name before '='\n");
}

static void test_long_line(void)
{
	struct dfs_config cfg;
	char text[4096], list[2048];
	size_t n = 0;
	int i;

	for (i = 0; i < 100; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%sentity%d", i ? ", " : "", i);
	snprintf(text, sizeof(text), TENANT("a", "entities = %s ; comment\n"), list);
	CHECK_COND(strlen(list) > 200);
	CHECK_COND(load(&cfg, text) == 0);
	if (cfg.n_tenants == 1) {
		CHECK_COND(cfg.tenants[0].n_entities == 100);
		if (cfg.tenants[0].n_entities == 100)
			CHECK_STR(cfg.tenants[0].entities[99], "entity99");
	}
	dfs_config_free(&cfg);

	snprintf(text, sizeof(text), TENANT("a", "bogus_key_on_a_long_line = %s\n"), list);
	CHECK_COND(load(&cfg, text) == -EINVAL);
	CHECK_ERR("%P:6: unknown key 'bogus_key_on_a_long_line' in [a]\n");
}

/* A line beyond inih's buffer is refused, not cut: the rest is no next line. */
static void test_too_long_line(void)
{
	struct dfs_config cfg;
	size_t n = 70000, head;
	char *text = malloc(256 + n + 256);

	if (!text) {
		CHECK(0, "out of memory");
		return;
	}
	head = (size_t)snprintf(text, 256, TENANT("a", "entities = "));
	memset(text + head, 'x', n);
	snprintf(text + head + n, 256, " = y\n" TENANT("b", ""));
	CHECK_COND(load(&cfg, text) == -EINVAL);
	CHECK_ERR("%P:6: line too long (more than 65536 bytes)\n");
	CHECK_LINES(1);
	free(text);
}

static void test_no_tenants(void)
{
	struct dfs_config cfg;

	CHECK_COND(load(&cfg, "") == -EINVAL);
	CHECK_ERR("%P: no tenants configured");
	CHECK_COND(load(&cfg, "[global]\ncache_ttl = 1\n") == -EINVAL);
	CHECK_ERR("%P: no tenants configured");
	CHECK_LINES(1);
}

static void test_unreadable(void)
{
	struct dfs_config cfg;
	size_t len = 0;
	FILE *err;
	char p[256];

	free(errtext);
	errtext = NULL;
	err = open_memstream(&errtext, &len);
	snprintf(p, sizeof(p), "%s/nonexistent.ini", dir);
	CHECK_COND(dfs_config_load(p, &cfg, err) == -EINVAL);
	fflush(err);
	CHECK_COND(strstr(errtext, "nonexistent.ini: cannot open: No such file or directory") != NULL);
	fclose(err);

	free(errtext);
	errtext = NULL;
	err = open_memstream(&errtext, &len);
	CHECK_COND(dfs_config_load(dir, &cfg, err) == -EINVAL);
	fflush(err);
	CHECK_COND(strstr(errtext, ": cannot read: Is a directory") != NULL);
	fclose(err);

	/* A NULL error stream is allowed. */
	CHECK_COND(dfs_config_load(p, &cfg, NULL) == -EINVAL);
}

static void set_env(const char *name, const char *value)
{
	if (value)
		setenv(name, value, 1);
	else
		unsetenv(name);
}

static void test_find(void)
{
	char home[256], xdg[256], want[300];
	char *found;

	snprintf(home, sizeof(home), "%s/home", dir);
	snprintf(xdg, sizeof(xdg), "%s/xdg", dir);
	mkdir(home, 0700);
	mkdir(xdg, 0700);
	set_env("HOME", home);
	set_env("XDG_CONFIG_HOME", NULL);

	/* $DYNFS_CONFIG wins, even if it does not exist (loading says why). */
	set_env("DYNFS_CONFIG", "/nonexistent/dynfs.ini");
	found = dfs_config_find();
	CHECK_STR(found, "/nonexistent/dynfs.ini");
	free(found);
	set_env("DYNFS_CONFIG", "");

	/* Nothing there: /etc/dynfs.ini if it exists, else NULL. */
	found = dfs_config_find();
	CHECK_COND(found == NULL || strcmp(found, "/etc/dynfs.ini") == 0);
	free(found);

	snprintf(want, sizeof(want), "%s/.config", home);
	mkdir(want, 0700);
	snprintf(want, sizeof(want), "%s/.config/dynfs", home);
	mkdir(want, 0700);
	write_file("home/.config/dynfs/dynfs.ini", 0600, "");
	snprintf(want, sizeof(want), "%s/.config/dynfs/dynfs.ini", home);
	found = dfs_config_find();
	CHECK_STR(found, want);
	free(found);

	/* XDG_CONFIG_HOME replaces ~/.config; a relative one is ignored. */
	set_env("XDG_CONFIG_HOME", xdg);
	found = dfs_config_find();
	CHECK_COND(found == NULL || strcmp(found, "/etc/dynfs.ini") == 0);
	free(found);
	snprintf(want, sizeof(want), "%s/dynfs", xdg);
	mkdir(want, 0700);
	write_file("xdg/dynfs/dynfs.ini", 0600, "");
	snprintf(want, sizeof(want), "%s/dynfs/dynfs.ini", xdg);
	found = dfs_config_find();
	CHECK_STR(found, want);
	free(found);
	set_env("XDG_CONFIG_HOME", "relative/path");
	snprintf(want, sizeof(want), "%s/.config/dynfs/dynfs.ini", home);
	found = dfs_config_find();
	CHECK_STR(found, want);
	free(found);
	set_env("DYNFS_CONFIG", NULL);
	set_env("XDG_CONFIG_HOME", NULL);
}

static void test_home_path(void)
{
	struct dfs_config cfg;
	char home[256], want[300];

	snprintf(home, sizeof(home), "%s/home", dir);
	set_env("HOME", home);
	write_file("home/key", 0600, "from-home\n");
	CHECK_COND(load(&cfg, "[a]\nurl = https://a.example\ntenant_id = t\nclient_id = c\n"
		   "client_secret_file = ~/key\n") == 0);
	snprintf(want, sizeof(want), "%s/key", home);
	if (cfg.n_tenants == 1) {
		CHECK_STR(cfg.tenants[0].secret.file, want);
		CHECK_SECRET(&cfg.tenants[0].secret, "from-home");
	}
	dfs_config_free(&cfg);
}

static void test_relative_config_path(void)
{
	struct dfs_config cfg;
	char cwd[512], want[300];

	/* Loaded as "dynfs.ini" from its directory: paths still come out absolute. */
	write_file("dynfs.ini", 0600, TENANT("a", "ca_file = ca.pem\n"));
	if (!getcwd(cwd, sizeof(cwd)) || chdir(dir) != 0) {
		CHECK_COND(!"chdir");
		return;
	}
	CHECK_COND(dfs_config_load("dynfs.ini", &cfg, stdout) == 0);
	CHECK_COND(chdir(cwd) == 0);
	snprintf(want, sizeof(want), "%s/ca.pem", dir);
	if (cfg.n_tenants == 1)
		CHECK_STR(cfg.tenants[0].ca_file, want);
	dfs_config_free(&cfg);
}

static void test_log_levels(void)
{
	/* log_level takes log.c's level names, in the order of enum dfs_log_level. */
	static const char *const names[] = { "error", "warn", "info", "debug" };
	struct dfs_config cfg;
	char text[512];
	int i;

	for (i = 0; i < 4; i++) {
		CHECK_COND(dfs_log_parse_level(names[i]) == i);
		snprintf(text, sizeof(text), "[global]\nlog_level = %s\n" TENANT("a", ""), names[i]);
		CHECK_COND(load(&cfg, text) == 0);
		CHECK_COND(cfg.log_level == i);
		dfs_config_free(&cfg);
	}
	CHECK_COND(dfs_log_parse_level("verbose") == -EINVAL);
	CHECK_COND(dfs_log_parse_level(NULL) == -EINVAL);
	CHECK_COND(dfs_log_get_level() == DFS_LOG_WARN);
	dfs_log_set_level(DFS_LOG_DEBUG);
	CHECK_COND(dfs_log_get_level() == DFS_LOG_DEBUG);
	dfs_log_set_level(DFS_LOG_WARN);
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_config: cannot remove %s\n", dir);
}

#define BASE(name) \
	"[" name "]\n" \
	"url = https://" name ".crm.dynamics.com\n"

static void test_auth_kinds(void)
{
	struct dfs_config cfg;
	struct dfs_tenant_config *t;

	setenv("XDG_STATE_HOME", "/state", 1);
	CHECK_COND(load(&cfg, BASE("rt") "auth = refresh_token\ntenant_id = t.example\n"
		   "client_id = pub\n"
		   BASE("rt2") "auth = refresh_token\ntenant_id = t.example\nclient_id = pub\n"
		   "token_store = tok/rt2.json\nscope = https://x/user_impersonation\n"
		   "authority_host = login.microsoftonline.us\nredirect_port = 8400\n"
		   BASE("pw") "auth = password\ntoken_url = https://adfs.example/adfs/oauth2/token\n"
		   "client_id = c\nusername = u@example\npassword_file = secret\n"
		   "resource = https://pw.crm.dynamics.com/\n"
		   BASE("cert") "tenant_id = t\nclient_id = c\ncertificate_file = ca.pem\n"
		   "private_key_file = ca.pem\nauthority_host = http://127.0.0.1:99/\n"
		   BASE("nt") "auth = ntlm\nusername = DOM\\u\npassword_env = HOME\n"
		   BASE("kerb") "auth = negotiate\n") == 0);
	CHECK_STR(errtext, "");
	CHECK_COND(cfg.n_tenants == 6);
	if (cfg.n_tenants != 6)
		goto out;
	t = &cfg.tenants[0];
	CHECK_COND(t->auth == DFS_AUTH_REFRESH_TOKEN);
	CHECK_STR(t->token_store, "/state/dynfs/rt.token");
	CHECK_STR(t->scope, "https://rt.crm.dynamics.com/user_impersonation offline_access");
	CHECK_STR(t->token_url, "https://login.microsoftonline.com/t.example/oauth2/v2.0/token");
	t = &cfg.tenants[1];
	CHECK_COND(strstr(t->token_store, "/tok/rt2.json") && t->token_store[0] == '/');
	CHECK_STR(t->scope, "https://x/user_impersonation offline_access");
	CHECK_STR(t->token_url, "https://login.microsoftonline.us/t.example/oauth2/v2.0/token");
	CHECK_COND(t->redirect_port == 8400);
	t = &cfg.tenants[2];
	CHECK_COND(t->auth == DFS_AUTH_PASSWORD);
	CHECK_COND(t->scope == NULL);
	CHECK_STR(t->resource, "https://pw.crm.dynamics.com/");
	CHECK_STR(t->username, "u@example");
	t = &cfg.tenants[3];
	CHECK_COND(t->auth == DFS_AUTH_CLIENT_CREDENTIALS);
	CHECK_STR(t->token_url, "http://127.0.0.1:99/t/oauth2/v2.0/token");
	CHECK_COND(t->certificate_file && t->private_key_file);
	t = &cfg.tenants[4];
	CHECK_COND(t->auth == DFS_AUTH_NTLM);
	CHECK_STR(t->username, "DOM\\u");
	CHECK_COND(t->token_url == NULL);
	CHECK_COND(cfg.tenants[5].auth == DFS_AUTH_NEGOTIATE);
out:
	dfs_config_free(&cfg);
	unsetenv("XDG_STATE_HOME");
}

static void test_auth_problems(void)
{
	struct dfs_config cfg;

	unsetenv("DYNFS_TEST_UNSET");
	CHECK_COND(load(&cfg, BASE("a") "auth = password\ntenant_id = t\nclient_id = c\n"
		   "password = p\npassword_file = secret\ntoken_store = x\n"
		   BASE("b") "tenant_id = t\nclient_id = c\ncertificate_file = ca.pem\n"
		   BASE("c") "tenant_id = t\nclient_id = c\nclient_secret_env = DYNFS_TEST_UNSET\n"
		   "client_secret_command = /nonexistent/prog --flag\n"
		   BASE("d") "auth = oauth1\n"
		   BASE("e") "auth = refresh_token\nclient_id = c\ntoken_url = https://x/t\n"
		   "scope = s\nresource = r\n") == -EINVAL);
	CHECK_ERR("%P:8: 'token_store' is not used with auth = password (remove it)");
	CHECK_ERR("[a]: 'password' (line 6) and 'password_file' (line 7) exclude each other");
	CHECK_ERR("[a]: missing required key 'username'");
	CHECK_ERR("[b]: 'certificate_file' needs 'private_key_file'");
	CHECK_ERR("%P:18: invalid value for 'client_secret_env': environment variable "
		  "DYNFS_TEST_UNSET is not set");
	CHECK_ERR("%P:19: invalid value for 'client_secret_command': program '/nonexistent/prog' "
		  "not found");
	CHECK_ERR("%P:22: unsupported auth 'oauth1' (supported: client_credentials, "
		  "refresh_token, password, ntlm or negotiate)");
	CHECK_ERR("[e]: 'scope' (line 28) and 'resource' (line 29) exclude each other");
	CHECK_NO_ERR("password = p");

	/* dfs_config_load_all keeps every tenant, with its count of problems. */
	write_file("dynfs.ini", 0600, BASE("ok") "tenant_id = t\nclient_id = c\n"
		   "client_secret_file = secret\n" BASE("bad") "tenant_id = t\n");
	{
		FILE *err = fopen("/dev/null", "w");

		CHECK_COND(dfs_config_load_all(path, &cfg, err) == -EINVAL);
		fclose(err);
	}
	CHECK_COND(cfg.n_tenants == 2);
	if (cfg.n_tenants == 2) {
		CHECK_COND(cfg.tenants[0].problems == 0);
		CHECK_COND(cfg.tenants[1].problems == 2);
	}
	dfs_config_free(&cfg);
}

static void test_secret_sources(void)
{
	struct dfs_secret_src src = { 0 };
	char *got = NULL, why[256];
	char **argv;

	setenv("DYNFS_TEST_SECRET", "from-env", 1);
	src.env = "DYNFS_TEST_SECRET";
	CHECK_SECRET(&src, "from-env");
	src.env = NULL;
	src.command = "printf 'first line\\nsecond\\n'";
	CHECK_SECRET(&src, "first line");
	src.command = "sh -c 'exit 3'";
	CHECK_COND(dfs_secret_get(&src, "password", &got, why, sizeof(why)) < 0 && !got);
	CHECK_STR(why, "password_command: 'sh' exited with status 3");
	src.command = "true";
	CHECK_COND(dfs_secret_get(&src, "password", &got, why, sizeof(why)) < 0 && !got);
	CHECK_STR(why, "password_command: 'true' printed nothing on its first line");

	argv = dfs_secret_split_command("  a 'b c' \"d\"e  ");
	CHECK_COND(argv && argv[0] && argv[1] && argv[2] && !argv[3]);
	if (argv && argv[0] && argv[1] && argv[2]) {
		CHECK_STR(argv[0], "a");
		CHECK_STR(argv[1], "b c");
		CHECK_STR(argv[2], "de");
	}
	dfs_secret_free_argv(argv);
	CHECK_COND(dfs_secret_split_command("a 'b") == NULL);
	unsetenv("DYNFS_TEST_SECRET");
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof(dir), "%s/dynfs-test-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (strlen(dir) > 40 || !mkdtemp(dir)) {
		snprintf(dir, sizeof(dir), "/tmp/dynfs-test-config-XXXXXX");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			return 2;
		}
	}
	snprintf(path, sizeof(path), "%s/dynfs.ini", dir);
	write_file("secret", 0600, "s3cret-value\n");
	write_file("ca.pem", 0644, "not really a certificate\n");

	test_minimal_and_defaults();
	test_all_keys();
	test_secret_file();
	test_inline_secret_mode();
	test_unknown_keys();
	test_invalid_values();
	test_url_parts();
	test_shell_commands();
	test_parse_text();
	test_missing_keys();
	test_sections();
	test_syntax();
	test_long_line();
	test_too_long_line();
	test_no_tenants();
	test_unreadable();
	test_find();
	test_home_path();
	test_relative_config_path();
	test_log_levels();
	test_auth_kinds();
	test_auth_problems();
	test_secret_sources();

	free(errtext);
	cleanup();
	return check_report("test_config");
}
