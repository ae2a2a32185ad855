/* login.c - `dynfs login` and `dynfs --check` (see include/login.h).
 *
 * Neither needs FUSE.  Sign-in talks to the endpoints next to the tenant's
 * token_url (…/devicecode, …/authorize), so authority_host, token_url and AD
 * FS work the same way as for the mount.  What is printed for the person goes
 * to stderr; no token is ever printed.
 *
 * Layout: forms are built with the dfs_form helpers the mount's token
 * renewals use (form.h) and sent once each by post(): sign-in polls or
 * waits for a person, so it does not retry.  device_code() and browser()
 * are the two sign-ins; like their helpers they return 0 or a negative errno
 * after saying why on stderr, and dfs_login_main() turns that into the exit
 * status.  dfs_check_main() is at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "auth.h"
#include "buf.h"
#include "config.h"
#include "dataverse.h"
#include "jsonmember.h"
#include "form.h"
#include "jwt.h"
#include "log.h"
#include "login.h"
#include "secret.h"
#include "tokenstore.h"
#include "util.h"
#include "banned.h"

#define LOGIN_MAX_BODY (1024 * 1024)
#define DEVICE_GRANT "urn:ietf:params:oauth:grant-type:device_code"
#define SLOW_DOWN_STEP 5        /* seconds added to the interval on slow_down (RFC 8628) */
#define CALLBACK_READ_TIMEOUT 10000     /* ms for a browser to send its request */
#define CALLBACK_HEAD_MAX 8192          /* bytes of the browser's request head read */

extern char **environ;

struct login {
	const struct dfs_tenant_config *tc;
	struct dfs_http *http;
	char *endpoint_base;    /* token_url without its last "token" */
	char *redirect_uri;     /* --browser */
	char *verifier;         /* PKCE code verifier */
};

/* The error of form F; a secret that could not be read is explained first. */
static int form_error(const struct login *l, const struct dfs_form *f)
{
	int ret = dfs_form_error(f);

	if (ret < 0 && f->why[0])
		fprintf(stderr, "dynfs: %s: %s\n", l->tc->name, f->why);
	return ret;
}

/* POST form F to BASE + WHAT ("token", "devicecode"); RESP gets the answer. */
static int post(const struct login *l, const char *what, const struct dfs_form *f,
		struct dfs_http_resp *resp)
{
	char *url;
	int ret;

	if (asprintf(&url, "%s%s", l->endpoint_base, what) < 0)
		return -ENOMEM;
	ret = dfs_form_post(l->http, url, f, resp);
	free(url);
	return ret;
}

/* "code: message - hint" of a refused request, on stderr. */
static void print_refusal(const struct login *l, const char *doing,
			  const struct dfs_http_resp *resp)
{
	const char *hint = dfs_auth_hint(resp->err.message);

	fprintf(stderr, "dynfs: %s: %s: %s%s%s%s%s\n", l->tc->name, doing, resp->err.code,
		resp->err.code[0] ? ": " : "", resp->err.message, hint ? " - " : "",
		hint ? hint : "");
}

/* A 200 token answer: save its refresh token.  0 or a negative errno, said on stderr. */
static int save_tokens(const struct login *l, const struct dfs_http_resp *resp)
{
	cJSON *root = cJSON_ParseWithLength(resp->body.data, resp->body.len);
	const char *rt = dfs_cjson_str(root, "refresh_token");
	char why[512];
	int ret;

	if (!rt || !rt[0]) {
		fprintf(stderr, "dynfs: %s: the sign-in worked but no refresh token came back: "
			"the scope must include offline_access\n", l->tc->name);
		ret = -EPROTO;
		goto out;
	}
	if ((ret = dfs_token_store_save(l->tc->token_store, rt, why, sizeof(why))) < 0) {
		fprintf(stderr, "dynfs: %s: %s\n", l->tc->name, why);
		goto out;
	}
	fprintf(stderr, "dynfs: %s: signed in; refresh token saved in %s\n", l->tc->name,
		l->tc->token_store);
out:
	dfs_cjson_zero(root, "refresh_token");
	cJSON_Delete(root);
	return ret;
}

/* ------------------------------------------------------------ device code */

/* Why polling stopped, from the error code of a refused token request. */
static void print_poll_refusal(const struct login *l, const struct dfs_http_resp *resp)
{
	const char *name = l->tc->name;

	if (strcmp(resp->err.code, "authorization_declined") == 0)
		fprintf(stderr, "dynfs: %s: sign-in declined: the request was refused in the "
			"browser; run 'dynfs login %s' again\n", name, name);
	else if (strcmp(resp->err.code, "expired_token") == 0)
		fprintf(stderr, "dynfs: %s: the code expired before the sign-in was "
			"finished; run 'dynfs login %s' again\n", name, name);
	else if (strcmp(resp->err.code, "bad_verification_code") == 0)
		fprintf(stderr, "dynfs: %s: the server does not know this device code; run "
			"'dynfs login %s' again\n", name, name);
	else
		print_refusal(l, "sign-in failed", resp);
}

/* Returns 0 or a negative errno, said on stderr. */
static int device_code(struct login *l)
{
	struct dfs_http_resp resp;
	struct dfs_form f;
	cJSON *root = NULL;
	char *code = NULL;
	const char *msg;
	double deadline, interval, expires;
	int ret;

	dfs_http_resp_init(&resp);
	dfs_form_init(&f);
	dfs_form_add_client(&f, l->tc, 0);
	if ((ret = form_error(l, &f)) < 0)
		goto out;
	ret = post(l, "devicecode", &f, &resp);
	if (ret < 0 || resp.status != 200) {
		print_refusal(l, "cannot start the device code sign-in", &resp);
		ret = ret < 0 ? ret : -EACCES;
		goto out;
	}
	root = cJSON_ParseWithLength(resp.body.data, resp.body.len);
	msg = dfs_cjson_str(root, "message");
	if (!dfs_cjson_str(root, "device_code")) {
		fprintf(stderr, "dynfs: %s: the device code answer has no device_code\n",
			l->tc->name);
		ret = -EPROTO;
		goto out;
	}
	code = strdup(dfs_cjson_str(root, "device_code"));
	interval = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(root, "interval"));
	expires = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(root, "expires_in"));
	if (!(interval >= 1))
		interval = 5;
	if (!(expires > 0))
		expires = 900;
	/* The server's own words: the URL to open and the code to type. */
	if (msg)
		fprintf(stderr, "%s\n", msg);
	else
		fprintf(stderr, "To sign in, open %s and enter the code %s\n",
			dfs_cjson_str(root, "verification_uri"), dfs_cjson_str(root, "user_code"));
	fflush(stderr);
	if (!code) {
		ret = -ENOMEM;
		goto out;
	}

	/* Every poll sends the same request. */
	dfs_form_free(&f);
	dfs_form_add(&f, "grant_type", DEVICE_GRANT);
	dfs_form_add(&f, "device_code", code);
	dfs_form_add_client(&f, l->tc, 1);
	if ((ret = form_error(l, &f)) < 0)
		goto out;
	deadline = dfs_now() + expires;
	while (dfs_now() < deadline) {
		dfs_http_sleep_ms((long)(interval * 1000));
		ret = post(l, "token", &f, &resp);
		if (ret == 0 && resp.status == 200) {
			ret = save_tokens(l, &resp);
			goto out;
		}
		if (ret < 0 || resp.status >= 500 || resp.status == 429)
			continue;       /* the network or the server hiccuped: keep polling */
		if (strcmp(resp.err.code, "authorization_pending") == 0)
			continue;
		if (strcmp(resp.err.code, "slow_down") == 0) {
			interval += SLOW_DOWN_STEP;
			continue;
		}
		print_poll_refusal(l, &resp);
		ret = -EACCES;
		goto out;
	}
	fprintf(stderr, "dynfs: %s: the code expired before the sign-in was finished; run "
		"'dynfs login %s' again\n", l->tc->name, l->tc->name);
	ret = -ETIMEDOUT;
out:
	dfs_secret_free(code);
	cJSON_Delete(root);
	dfs_form_free(&f);
	dfs_http_resp_free(&resp);
	return ret;
}

/* ------------------------------------------------------------ browser */

/* Percent-decode a query value ('+' is a blank) into a malloc'd string. */
static char *query_param(const char *query, const char *key)
{
	size_t n = strlen(key);
	const char *p = query, *end;
	char *raw, *out, *c;
	int len;

	while (p && *p) {
		end = strchrnul(p, '&');
		if (strncmp(p, key, n) == 0 && p[n] == '=') {
			if (!(raw = strndup(p + n + 1, (size_t)(end - p - n - 1))))
				return NULL;
			for (c = raw; *c; c++)
				if (*c == '+')
					*c = ' ';
			c = curl_easy_unescape(NULL, raw, 0, &len);
			free(raw);
			out = c ? strdup(c) : NULL;
			curl_free(c);
			return out;
		}
		p = *end ? end + 1 : NULL;
	}
	return NULL;
}

static void respond(int fd, int status, const char *title, const char *text)
{
	char page[2048];
	int n;

	/* Everything we put in the page is ours: nothing from the query string. */
	n = snprintf(page, sizeof(page),
		     "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
		     "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
		     "<!doctype html><html><head><title>dynfs: %s</title></head><body>"
		     "<h1>%s</h1><p>%s</p></body></html>\n",
		     status, status == 200 ? "OK" : status == 404 ? "Not Found" : "Bad Request",
		     title, title, text);
	if (n > 0 && write(fd, page, (size_t)n) < 0)
		return;         /* the browser went away: nothing to tell it */
}

/* Read the request head from FD; returns the request target ("/?code=...") or NULL. */
static char *read_request_target(int fd)
{
	char buf[CALLBACK_HEAD_MAX], *sp, *sp2;
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(buf) - 1 && !memmem(buf, len, "\r\n\r\n", 4)) {
		struct pollfd pfd = { fd, POLLIN, 0 };

		if (poll(&pfd, 1, CALLBACK_READ_TIMEOUT) <= 0)
			break;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (strncmp(buf, "GET ", 4) != 0 || !(sp = strchr(buf + 4, ' ')))
		return NULL;
	*sp = '\0';
	sp2 = buf + 4;
	return strdup(sp2);
}

/* Open URL in the person's browser, only when someone sits at this terminal. */
static void open_browser(const char *url)
{
	const char *browser = getenv("BROWSER");
	char *argv[3];
	posix_spawn_file_actions_t fa;
	pid_t pid;

	if (!isatty(STDOUT_FILENO))
		return;
	argv[0] = (char *)(browser && *browser ? browser : "xdg-open");
	argv[1] = (char *)url;
	argv[2] = NULL;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return;
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	/* Not waited for: a browser may keep running; a failure just means the
	 * person opens the printed URL by hand. */
	posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
}

/*
 * Wait for the one callback that carries code (or error) and state.  Returns
 * 0 with *CODE, or a negative errno after printing why.
 */
static int wait_callback(struct login *l, int lfd, const char *state, int timeout_s,
			 char **code)
{
	double deadline = dfs_now() + timeout_s;
	char *target = NULL, *query, *got_state = NULL, *error = NULL, *desc = NULL;
	/* As long as the request head the values came in: the server's words are
	 * quoted whole, only made safe for a terminal. */
	char shown_error[CALLBACK_HEAD_MAX], shown_desc[CALLBACK_HEAD_MAX];
	int fd = -1, ret;

	*code = NULL;
	for (;;) {
		struct pollfd pfd = { lfd, POLLIN, 0 };
		double left = deadline - dfs_now();

		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0) {
			fprintf(stderr, "dynfs: %s: no answer from the browser within %d s; run "
				"'dynfs login %s --browser' again\n", l->tc->name, timeout_s,
				l->tc->name);
			return -ETIMEDOUT;
		}
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		free(target);
		target = read_request_target(fd);
		query = target ? strchr(target, '?') : NULL;
		if (query && (strstr(query, "code=") || strstr(query, "error=")))
			break;
		/* favicon.ico and the like */
		respond(fd, 404, "Not found", "This address only takes the sign-in answer.");
		close(fd);
		fd = -1;
	}
	query++;
	got_state = query_param(query, "state");
	error = query_param(query, "error");
	if (error) {
		desc = query_param(query, "error_description");
		respond(fd, 400, "Sign-in failed", "The sign-in was not completed. The reason is "
			"shown in the terminal where dynfs login runs.");
		fprintf(stderr, "dynfs: %s: sign-in failed: %s%s%s\n", l->tc->name,
			dfs_printable(error, (size_t)-1, shown_error, sizeof(shown_error)),
			desc ? ": " : "",
			desc ? dfs_printable(desc, (size_t)-1, shown_desc, sizeof(shown_desc)) : "");
		ret = -EACCES;
		goto out;
	}
	if (!got_state || strcmp(got_state, state) != 0) {
		respond(fd, 400, "Sign-in refused", "This answer does not belong to the sign-in "
			"dynfs started.");
		fprintf(stderr, "dynfs: %s: the browser's answer has the wrong state: it does not "
			"belong to this sign-in (ignored); run 'dynfs login %s --browser' again\n",
			l->tc->name, l->tc->name);
		ret = -EPERM;
		goto out;
	}
	*code = query_param(query, "code");
	if (!*code) {
		respond(fd, 400, "Sign-in failed", "The answer carries no code.");
		fprintf(stderr, "dynfs: %s: the browser's answer carries no code\n", l->tc->name);
		ret = -EPROTO;
		goto out;
	}
	respond(fd, 200, "Signed in", "dynfs received the sign-in. You can close this window.");
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(target);
	free(got_state);
	free(error);
	free(desc);
	return ret;
}

/* A socket listening on 127.0.0.1:PORT (0: any); *PORT gets the real one. */
static int listen_loopback(unsigned *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)*port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 8) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Returns 0 or a negative errno, said on stderr. */
static int browser(struct login *l, unsigned port, int timeout_s)
{
	struct dfs_http_resp resp;
	struct dfs_form f;
	struct dfs_buf url;
	char *state = dfs_random_b64url(16), *challenge = NULL, *code = NULL;
	int lfd = -1, ret = -ENOMEM;

	dfs_http_resp_init(&resp);
	dfs_form_init(&f);
	dfs_buf_init(&url, 0);
	l->verifier = dfs_random_b64url(32);
	if (!state || !l->verifier || !(challenge = dfs_sha256_b64url(l->verifier)))
		goto out;
	if ((lfd = listen_loopback(&port)) < 0) {
		fprintf(stderr, "dynfs: %s: cannot listen on 127.0.0.1:%u for the browser's "
			"answer: %s\n", l->tc->name, port, strerror(-lfd));
		ret = lfd;
		goto out;
	}
	if (asprintf(&l->redirect_uri, "http://127.0.0.1:%u/", port) < 0) {
		l->redirect_uri = NULL;
		goto out;
	}
	/* The authorize request is a form too, sent by the browser as a query. */
	dfs_form_add(&f, "response_type", "code");
	dfs_form_add_client(&f, l->tc, 0);
	dfs_form_add(&f, "redirect_uri", l->redirect_uri);
	dfs_form_add(&f, "response_mode", "query");
	dfs_form_add(&f, "state", state);
	dfs_form_add(&f, "code_challenge", challenge);
	dfs_form_add(&f, "code_challenge_method", "S256");
	if ((ret = form_error(l, &f)) < 0 ||
	    (ret = dfs_buf_appendf(&url, "%sauthorize?%s", l->endpoint_base, f.body.data)) < 0)
		goto out;
	fprintf(stderr, "To sign in, open this address in a web browser:\n\n  %s\n\n"
		"Waiting for the answer on %s ...\n", url.data, l->redirect_uri);
	fflush(stderr);
	open_browser(url.data);
	if ((ret = wait_callback(l, lfd, state, timeout_s, &code)) < 0)
		goto out;
	dfs_form_free(&f);
	dfs_form_add(&f, "grant_type", "authorization_code");
	dfs_form_add(&f, "code", code);
	dfs_form_add(&f, "redirect_uri", l->redirect_uri);
	dfs_form_add(&f, "code_verifier", l->verifier);
	dfs_form_add_client(&f, l->tc, 1);
	if ((ret = form_error(l, &f)) < 0)
		goto out;
	ret = post(l, "token", &f, &resp);
	if (ret == 0 && resp.status == 200) {
		ret = save_tokens(l, &resp);
	} else {
		print_refusal(l, "cannot redeem the sign-in", &resp);
		ret = ret < 0 ? ret : -EACCES;
	}
out:
	if (lfd >= 0)
		close(lfd);
	free(state);
	free(challenge);
	dfs_secret_free(code);
	dfs_form_free(&f);
	dfs_buf_free(&url);
	dfs_http_resp_free(&resp);
	return ret;
}

/* ------------------------------------------------------------ commands */

/*
 * Load CONFIG_PATH (or the default) keeping every tenant, problems printed
 * to OUT.  Returns 0, with *CLEAN (if not NULL) saying whether there was no
 * problem at all, or a negative errno when the file cannot be used.
 */
static int load_config(const char *config_path, struct dfs_config *cfg, FILE *out, int *clean)
{
	char *path = config_path ? strdup(config_path) : dfs_config_find();
	int rc;

	if (!path) {
		fprintf(stderr, "dynfs: no configuration file: give -c CONFIG, set DYNFS_CONFIG, "
			"or create ~/.config/dynfs/dynfs.ini (see dynfs.ini.example)\n");
		return -ENOENT;
	}
	rc = dfs_config_load_all(path, cfg, out);
	free(path);
	if (rc < 0 && !cfg->path)
		return -EINVAL;     /* unreadable: said above */
	if (clean)
		*clean = rc == 0;
	return 0;
}

static struct dfs_http *tenant_http(const struct dfs_tenant_config *tc,
				    const struct dfs_config *cfg)
{
	struct dfs_http_opts ho = {
		.ca_file = tc->ca_file,
		.connect_timeout = cfg->connect_timeout,
		.timeout = cfg->timeout,
		.max_body = LOGIN_MAX_BODY,
	};

	return dfs_http_new(&ho);
}

static void login_usage(void)
{
	fprintf(stderr, "usage: dynfs login [-c CONFIG] [--browser [--port N]] [--timeout SECONDS] "
		"TENANT\n"
		"Sign in for TENANT (a section with auth = refresh_token) and save its refresh\n"
		"token.  Default: device code (open a URL anywhere, type the code shown);\n"
		"--browser: authorization code with PKCE through http://127.0.0.1:PORT/.\n");
}

int dfs_login_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "browser", no_argument, NULL, 'b' },
		{ "port", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct dfs_config cfg = { 0 };
	struct login l = { 0 };
	const struct dfs_tenant_config *tc = NULL;
	const char *config_path = NULL;
	unsigned long port = 0;
	long timeout = 300;
	int use_browser = 0, c, rc, ret = 1, port_given = 0;
	size_t i, n;
	char *end;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'b':
			use_browser = 1;
			break;
		case 'p':
			port = strtoul(optarg, &end, 10);
			if (*end || port > 65535) {
				fprintf(stderr, "dynfs login: --port takes 0 to 65535\n");
				return 1;
			}
			port_given = 1;
			break;
		case 't':
			timeout = strtol(optarg, &end, 10);
			if (*end || timeout < 1) {
				fprintf(stderr, "dynfs login: --timeout takes a number of seconds\n");
				return 1;
			}
			break;
		case 'h':
			login_usage();
			return 0;
		default:
			login_usage();
			return 1;
		}
	}
	if (optind != argc - 1) {
		login_usage();
		return 1;
	}
	if (load_config(config_path, &cfg, stderr, NULL) < 0)
		goto out;
	for (i = 0; i < cfg.n_tenants; i++)
		if (strcmp(cfg.tenants[i].name, argv[optind]) == 0)
			tc = &cfg.tenants[i];
	if (!tc) {
		fprintf(stderr, "dynfs login: no tenant [%s] in %s\n", argv[optind], cfg.path);
		goto out;
	}
	if (tc->problems) {
		fprintf(stderr, "dynfs login: [%s] has configuration problems (above)\n", tc->name);
		goto out;
	}
	if (tc->auth != DFS_AUTH_REFRESH_TOKEN) {
		fprintf(stderr, "dynfs login: [%s] uses auth = %s; sign-in is for auth = "
			"refresh_token\n", tc->name, dfs_auth_kind_name(tc->auth));
		goto out;
	}
	n = strlen(tc->token_url);
	if (n < 5 || strcmp(tc->token_url + n - 5, "token") != 0) {
		fprintf(stderr, "dynfs login: [%s]: token_url must end in /token (the device code "
			"and authorize endpoints are found next to it)\n", tc->name);
		goto out;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "dynfs: cannot initialise libcurl\n");
		goto out;
	}
	l.tc = tc;
	l.endpoint_base = strndup(tc->token_url, n - 5);
	l.http = tenant_http(tc, &cfg);
	if (l.endpoint_base && l.http) {
		rc = use_browser ? browser(&l, port_given ? (unsigned)port : tc->redirect_port,
					   (int)timeout)
				 : device_code(&l);
		ret = rc < 0 ? 2 : 0;
	}
	dfs_http_free(&l.http);
	curl_global_cleanup();
out:
	free(l.endpoint_base);
	free(l.redirect_uri);
	dfs_secret_free(l.verifier);
	dfs_config_free(&cfg);
	return ret;
}

/*
 * --check: does every set in TC's `entities` exist at the tenant?  The
 * mount would refuse to start otherwise; say which do not, with the name
 * that differs only in case when there is one.  0, or -ENOENT with WHY
 * naming them, or another -errno with WHY.
 */
static int check_entities(struct dfs_dv *dv, const struct dfs_tenant_config *tc, char *why,
			  size_t cap)
{
	struct dfs_http_resp resp;
	const cJSON *def;
	cJSON *root = NULL;
	size_t i, used = 0;
	int ret, missing = 0;

	dfs_http_resp_init(&resp);
	ret = dfs_dv_request(dv, "GET", "EntityDefinitions?$select=EntitySetName", NULL, NULL, 0,
			     &resp);
	if (ret < 0) {
		snprintf(why, cap, "cannot list the entity sets: %.900s", resp.err.message[0] ?
			 resp.err.message : strerror(-ret));
		goto out;
	}
	root = cJSON_ParseWithLength(resp.body.data, resp.body.len);
	for (i = 0; i < tc->n_entities; i++) {
		const char *like = NULL, *name;
		int found = 0;

		cJSON_ArrayForEach(def, cJSON_GetObjectItemCaseSensitive(root, "value")) {
			if (!(name = dfs_cjson_str(def, "EntitySetName")))
				continue;
			if (strcmp(name, tc->entities[i]) == 0)
				found = 1;
			else if (strcasecmp(name, tc->entities[i]) == 0)
				like = name;
		}
		if (found)
			continue;
		missing++;
		used += (size_t)snprintf(why + used, cap > used ? cap - used : 0,
					 "%sno entity set named '%s'%s%s%s", missing > 1 ? "; " : "",
					 tc->entities[i], like ? " (did you mean '" : "",
					 like ? like : "", like ? "'?)" : "");
		if (used >= cap)
			used = cap;
	}
	ret = missing ? -ENOENT : 0;
out:
	cJSON_Delete(root);
	dfs_http_resp_free(&resp);
	return ret;
}

int dfs_check_main(const char *config_path)
{
	struct dfs_config cfg = { 0 };
	struct dfs_http_error err;
	char why[1024], shown[300];
	const char *hint;
	size_t i;
	int clean = 0, failed = 0, ret;

	/* The report is on stdout, every problem once: no log lines besides. */
	dfs_log_set_level(DFS_LOG_NONE);
	if (load_config(config_path, &cfg, stdout, &clean) < 0)
		return 1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "dynfs: cannot initialise libcurl\n");
		dfs_config_free(&cfg);
		return 1;
	}
	for (i = 0; i < cfg.n_tenants; i++) {
		const struct dfs_tenant_config *tc = &cfg.tenants[i];
		struct dfs_dv *dv;
		/* A section name may hold control characters (reported as a
		 * problem): the report must not pass them to the terminal. */
		const char *name = dfs_printable(tc->name, (size_t)-1, shown, sizeof(shown));

		if (tc->problems) {
			printf("%s: invalid configuration (%d problem%s listed above)\n", name,
			       tc->problems, tc->problems == 1 ? "" : "s");
			failed++;
			continue;
		}
		memset(&err, 0, sizeof(err));
		if (!(dv = dfs_dv_new(tc, &cfg))) {
			printf("%s: FAILED: out of memory\n", name);
			failed++;
			continue;
		}
		ret = dfs_dv_whoami(dv, &err);
		if (ret == 0 && tc->n_entities && check_entities(dv, tc, why, sizeof(why)) < 0) {
			printf("%s: FAILED: entities: %s\n", name, why);
			failed++;
		} else if (ret == 0) {
			printf("%s: ok (auth = %s, WhoAmI answered%s)\n", name,
			       dfs_auth_kind_name(tc->auth),
			       tc->n_entities ? ", every entity set found" : "");
		} else if (DFS_AUTH_IS_HTTP(tc->auth) && strncmp(err.message, "HTTP 401", 8) == 0) {
			/* IIS answers with an HTML page: say what it means instead. */
			printf("%s: FAILED: HTTP 401: the server refused the Windows credentials - "
			       "check username (DOMAIN\\user or user@domain) and the password%s\n",
			       name, tc->auth == DFS_AUTH_NEGOTIATE ?
			       "; negotiate uses the Kerberos ticket from kinit (see klist)" : "");
			failed++;
		} else {
			hint = dfs_auth_hint(err.message);
			printf("%s: FAILED: %s%s%s%s%s\n", name, err.code,
			       err.code[0] ? ": " : "", err.message[0] ? err.message : "no answer",
			       hint ? " - " : "", hint ? hint : "");
			failed++;
		}
		fflush(stdout);
		dfs_dv_free(&dv);
	}
	curl_global_cleanup();
	dfs_config_free(&cfg);
	if (!clean)
		return 1;
	return failed ? 2 : 0;
}
