/* auth.c - how a tenant's requests authenticate.
 *
 * Token flows (client credentials with a secret or a certificate, refresh
 * token, resource-owner password): one token per tenant shared by every
 * thread.  A token is renewed ahead of expiry (at refresh_in when the server
 * gives it, else at 80% of its lifetime, at most five minutes early).  Only
 * one renewal is in flight per tenant: other threads keep using the old token
 * while it is still valid, or wait for the renewal when it is not, so a busy
 * mount never causes a storm of token requests.
 *
 * A renewal that fails is remembered for a hold-off (5 s, doubling up to
 * 30 s) during which the tenant's requests fail at once, without asking the
 * token endpoint again.  A refusal (bad secret, revoked refresh token...)
 * makes the tenant unhealthy: one log line with the fix, its files fail with
 * EACCES, the rest of the mount goes on.  Every renewal reads the secret, the
 * certificate and the token store anew, so fixing the cause (a new secret
 * file, `dynfs login` again) heals the tenant by itself, logged once.
 *
 * NTLM and Negotiate have no token: libcurl authenticates each request, and
 * the "token" kept here is the password, read once and again after a 401.
 *
 * Layout: build_form() writes a grant's form with the dfs_form helpers that
 * `dynfs login` uses too; post_form() sends it under the retry policy of
 * http.h that Web API requests use too; request_token() reads the answer;
 * dfs_auth_token() schedules renewals and log_failure() reports them.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "auth.h"
#include "jsonmember.h"
#include "form.h"
#include "jwt.h"
#include "log.h"
#include "secret.h"
#include "tokenstore.h"
#include "banned.h"

#define RENEW_MARGIN_MAX 300.0   /* seconds before expiry we renew at the latest */
#define HOLDOFF_MIN 5.0          /* seconds a failed renewal is remembered, at first */
#define HOLDOFF_MAX 30.0         /* ... doubling up to this */
#define NO_EXPIRY 1e18           /* the password of NTLM/Negotiate */
#define EXPIRY_ROUNDING 1.0      /* seconds: "exp" is a whole number of seconds */
#define EXPIRY_IN_FLIGHT 0.25    /* seconds a request may take to reach the server */

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

struct dfs_auth {
	const struct dfs_tenant_config *tc;
	struct dfs_http *http;
	int max_retries;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	int renewing;
	char *token;
	double renew_at;         /* dfs_now() time to start renewing */
	double expires_at;       /* dfs_now() time the token stops working */
	int last_errno;          /* outcome of the last failed renewal */
	double failed_at;
	double holdoff;          /* current hold-off after a failure, 0 after a success */
	int had_token;           /* a token was obtained once (the mount is in use) */
	int unhealthy;           /* a refusal was logged; the next success logs recovery */
	struct dfs_http_error last_err;
};

struct dfs_auth *dfs_auth_new(const struct dfs_tenant_config *tc, struct dfs_http *http)
{
	struct dfs_auth *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->tc = tc;
	a->http = http;
	a->max_retries = 4;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	return a;
}

static void forget_token(struct dfs_auth *a)
{
	dfs_secret_free(a->token);
	a->token = NULL;
}

void dfs_auth_free(struct dfs_auth **ap)
{
	struct dfs_auth *a = *ap;

	if (!a)
		return;
	forget_token(a);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->cond);
	free(a);
	*ap = NULL;
}

/* Seconds from ITEM, or -1 when absent: Entra ID sends numbers as JSON numbers
 * (v2) or strings (v1, AD FS).  "nan" or "inf" in a string is no lifetime:
 * a NaN expiry would make every request renew the token. */
static double json_seconds(const cJSON *item)
{
	double v = -1;

	if (cJSON_IsNumber(item))
		v = item->valuedouble;
	else if (cJSON_IsString(item))
		v = strtod(item->valuestring, NULL);
	return isfinite(v) ? v : -1;
}

int dfs_auth_parse_answer(const char *body, size_t len, struct dfs_token_answer *out,
			  char *why, size_t cap)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const char *at = dfs_cjson_str(root, "access_token");
	const char *rt = dfs_cjson_str(root, "refresh_token");
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (!at || !at[0]) {
		snprintf(why, cap, "token response has no access_token");
		ret = -EIO;
		goto out;
	}
	out->access_token = strdup(at);
	out->refresh_token = rt && rt[0] ? strdup(rt) : NULL;
	if (!out->access_token || (rt && rt[0] && !out->refresh_token)) {
		snprintf(why, cap, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	out->expires_in = json_seconds(cJSON_GetObjectItemCaseSensitive(root, "expires_in"));
	out->refresh_in = json_seconds(cJSON_GetObjectItemCaseSensitive(root, "refresh_in"));
	if (out->expires_in <= 0)
		out->expires_in = 3599; /* documented default for client credentials */
	if (out->refresh_in <= 0)
		out->refresh_in = -1;   /* renewal then goes by expires_in */
out:
	if (ret < 0)
		dfs_token_answer_free(out);
	dfs_cjson_zero(root, "access_token");
	dfs_cjson_zero(root, "refresh_token");
	dfs_cjson_zero(root, "id_token");
	cJSON_Delete(root);
	return ret;
}

void dfs_token_answer_free(struct dfs_token_answer *ans)
{
	dfs_secret_free(ans->access_token);
	dfs_secret_free(ans->refresh_token);
	ans->access_token = ans->refresh_token = NULL;
}

/*
 * What to do about the errors people actually hit.  "AADSTSn" entries match
 * the start of an Entra ID message ("AADSTS7000215: Invalid client..."),
 * the others anywhere in it.  TROUBLESHOOTING.md explains each.
 */
static const struct {
	const char *match;
	const char *hint;
} auth_hints[] = {
	{ "AADSTS7000215", "the client secret is wrong: use the secret's Value, not its Secret ID" },
	{ "AADSTS7000222", "the client secret has expired: create a new one in the app "
			   "registration and update client_secret_file" },
	{ "AADSTS7000218", "the app registration expects a client secret or certificate: with "
			   "auth = client_credentials set client_secret_file (or a certificate); for "
			   "dynfs login, device code or password sign-in turn on 'Allow public "
			   "client flows' under Authentication in the app registration" },
	{ "AADSTS700025", "the app is a public client: remove the client secret from the tenant's "
			  "section" },
	{ "AADSTS700027", "the certificate is not registered for this app, or the key does not "
			  "match: upload certificate_file to the app registration" },
	{ "AADSTS700016", "no app with this client_id in this tenant: check client_id and tenant_id" },
	{ "AADSTS90002", "tenant not found: check tenant_id (and authority_host for sovereign "
			 "clouds)" },
	{ "AADSTS900023", "tenant_id is malformed: use the directory GUID or a domain" },
	{ "AADSTS65001", "admin consent is missing: grant admin consent for the app's Dynamics CRM "
			 "permission in Entra ID" },
	{ "AADSTS70011", "the scope is invalid: check url and scope (default <url>/.default)" },
	{ "AADSTS1002012", "client credentials need a scope ending in /.default: fix scope" },
	{ "AADSTS500011", "no Dataverse environment at this url in the tenant: check url" },
	{ "AADSTS70008", "the refresh token has expired or was revoked: sign in again with "
			 "'dynfs login'" },
	{ "AADSTS700082", "the refresh token expired after a long time unused: sign in again with "
			  "'dynfs login'" },
	{ "AADSTS70000", "the refresh token belongs to another app: check client_id, then sign in "
			 "again with 'dynfs login'" },
	{ "AADSTS50126", "wrong username or password: check username and the password source" },
	{ "AADSTS50076", "the account needs multi-factor sign-in: use auth = refresh_token and "
			 "'dynfs login' (device code)" },
	{ "AADSTS50079", "the account must register for multi-factor sign-in: use auth = "
			 "refresh_token and 'dynfs login' (device code)" },
	{ "AADSTS53003", "blocked by a Conditional Access policy: ask the tenant admin to allow "
			 "this app or sign-in from this machine" },
	{ "MSIS9659", "wrong username or password (AD FS): check username and the password source" },
	{ "is not a member of the organization", "add the app as an application user of the "
			 "environment (Power Platform admin center > Settings > Application users) "
			 "and give it a security role" },
};

const char *dfs_auth_hint(const char *message)
{
	size_t i, n;

	if (!message)
		return NULL;
	for (i = 0; i < sizeof(auth_hints) / sizeof(auth_hints[0]); i++) {
		const char *m = auth_hints[i].match;

		n = strlen(m);
		if (strncmp(m, "AADSTS", 6) != 0 && strncmp(m, "MSIS", 4) != 0) {
			if (strstr(message, m))
				return auth_hints[i].hint;
		} else if (strncmp(message, m, n) == 0 && message[n] == ':') {
			return auth_hints[i].hint;
		}
	}
	return NULL;
}

/* A problem found before asking the server (unreadable secret...): a refusal. */
static int local_error(struct dfs_http_error *err, int ret, const char *why)
{
	err->code[0] = '\0';
	snprintf(err->message, sizeof(err->message), "%s", why);
	return ret == -ENOMEM ? ret : -EACCES;
}

/*
 * The form of one token request.  For the refresh-token flow *REFRESH gets
 * the token read from the store (to see later whether it rotated).  Returns
 * the form's error (dfs_form_error).
 */
static int build_form(const struct dfs_tenant_config *tc, struct dfs_form *f, char **refresh)
{
	char *s = NULL, why[512] = "";
	int ret;

	switch (tc->auth) {
	case DFS_AUTH_CLIENT_CREDENTIALS:
		dfs_form_add(f, "grant_type", "client_credentials");
		/* A certificate instead of a secret: a signed assertion. */
		dfs_form_add_client(f, tc, !tc->certificate_file);
		if (!tc->certificate_file || dfs_form_error(f))
			break;
		ret = dfs_jwt_client_assertion(tc->certificate_file, tc->private_key_file,
					       tc->client_id, tc->token_url, &s, why, sizeof(why));
		if (ret < 0)
			return dfs_form_fail(f, ret, why);
		dfs_form_add(f, "client_assertion_type", ASSERTION_TYPE);
		dfs_form_add(f, "client_assertion", s);
		dfs_secret_free(s);
		break;
	case DFS_AUTH_REFRESH_TOKEN:
		/* Read the store every time: `dynfs login` may have replaced it. */
		ret = dfs_token_store_load(tc->token_store, refresh, why, sizeof(why));
		if (ret < 0)
			return dfs_form_fail(f, ret, why);
		dfs_form_add(f, "grant_type", "refresh_token");
		dfs_form_add(f, "client_id", tc->client_id);
		dfs_form_add(f, "refresh_token", *refresh);
		dfs_form_add_scope(f, tc);
		dfs_form_add_secret(f, tc);
		break;
	case DFS_AUTH_PASSWORD:
		ret = dfs_secret_get(&tc->password, "password", &s, why, sizeof(why));
		if (ret < 0)
			return dfs_form_fail(f, ret, why);
		dfs_form_add(f, "grant_type", "password");
		dfs_form_add(f, "client_id", tc->client_id);
		dfs_form_add(f, "username", tc->username);
		dfs_form_add(f, "password", s);
		dfs_form_add_scope(f, tc);
		dfs_form_add_secret(f, tc);
		dfs_secret_free(s);
		break;
	case DFS_AUTH_NTLM:
	case DFS_AUTH_NEGOTIATE:
		return -EINVAL;     /* no form: see request_token */
	}
	return dfs_form_error(f);
}

/* The warning before a token request is sent again (in a FUSE operation
 * only the first: its line counts the retries, see dataverse.c). */
static void warn_retry(void *ctx, const struct dfs_http_resp *resp, int retry, long delay_ms)
{
	const char *tenant = ctx;
	enum dfs_log_level level = retry > 1 && dfs_log_in_op() ? DFS_LOG_DEBUG : DFS_LOG_WARN;

	if (resp->status)
		dfs_log(level, "%s: token request answered HTTP %ld, retrying in %ld ms", tenant,
			resp->status, delay_ms);
	else
		dfs_log(level, "%s: token request failed: %s, retrying in %ld ms", tenant,
			resp->err.message, delay_ms);
}

/* POST FORM to the token endpoint, retrying transient failures.  RESP holds the answer. */
static int post_form(struct dfs_auth *a, const struct dfs_form *form, struct dfs_http_resp *resp)
{
	struct dfs_retry retry = DFS_RETRY_INIT(a->max_retries, warn_retry, a->tc->name);
	int ret;

	for (;;) {
		ret = dfs_form_post(a->http, a->tc->token_url, form, resp);
		if (ret == 0 && resp->status == 200)
			return 0;
		if (!dfs_retry_again(&retry, resp))
			break;
	}
	if (ret < 0)
		return ret;
	/* The token endpoint refused: a credential problem, not a retryable one. */
	return (resp->status >= 500 || resp->status == 429) ? dfs_http_errno(resp->status, 0)
							    : -EACCES;
}

/*
 * One token request.  Called without the lock held.  Returns the parsed
 * pieces; ERR is always filled on failure.  A rotated refresh token is saved
 * to the store before this returns: nothing uses the new access token before
 * the refresh token that came with it is safe on disk.
 */
static int request_token(struct dfs_auth *a, char **token, double *expires_in,
			 double *refresh_in, struct dfs_http_error *err)
{
	const struct dfs_tenant_config *tc = a->tc;
	struct dfs_http_resp resp;
	struct dfs_form form;
	struct dfs_token_answer ans = { 0 };
	char *refresh = NULL, why[512];
	int ret;

	memset(err, 0, sizeof(*err));
	dfs_http_resp_init(&resp);
	dfs_form_init(&form);

	if (DFS_AUTH_IS_HTTP(tc->auth)) {
		/* No token: the "token" is the password libcurl answers challenges with. */
		*expires_in = NO_EXPIRY;
		*refresh_in = -1;
		if (!dfs_secret_given(&tc->password)) {
			*token = strdup("");
			return *token ? 0 : -ENOMEM;
		}
		ret = dfs_secret_get(&tc->password, "password", token, why, sizeof(why));
		return ret < 0 ? local_error(err, ret, why) : 0;
	}

	if ((ret = build_form(tc, &form, &refresh)) < 0) {
		if (form.why[0])
			ret = local_error(err, ret, form.why);
		goto out;
	}
	ret = post_form(a, &form, &resp);
	if (ret < 0) {
		*err = resp.err;
		goto out;
	}

	ret = dfs_auth_parse_answer(resp.body.data, resp.body.len, &ans, err->message,
				    sizeof(err->message));
	if (ret < 0)
		goto out;
	if (tc->auth == DFS_AUTH_REFRESH_TOKEN && ans.refresh_token &&
	    strcmp(ans.refresh_token, refresh) != 0) {
		ret = dfs_token_store_save(tc->token_store, ans.refresh_token, why, sizeof(why));
		if (ret < 0) {
			/* The old refresh token stays valid for a grace period: the
			 * next attempt may still succeed once the store is writable. */
			snprintf(err->message, sizeof(err->message), "%s", why);
			ret = -EIO;
			goto out;
		}
		dfs_debug("%s: new refresh token saved to %s", tc->name, tc->token_store);
	}
	*token = ans.access_token;
	ans.access_token = NULL;
	*expires_in = ans.expires_in;
	*refresh_in = ans.refresh_in;
out:
	dfs_token_answer_free(&ans);
	if (resp.body.data)
		explicit_bzero(resp.body.data, resp.body.len);
	dfs_http_resp_free(&resp);
	dfs_form_free(&form);
	dfs_secret_free(refresh);
	return ret;
}

/* Log a failed renewal: refusals once per unhealthy spell, other failures each time. */
static void log_failure(struct dfs_auth *a, int ret, const struct dfs_http_error *err)
{
	const struct dfs_tenant_config *tc = a->tc;
	const char *hint = dfs_auth_hint(err->message);
	char what[1400];

	snprintf(what, sizeof(what), "%s%s%s%s%s", err->code, err->code[0] ? ": " : "",
		 err->message, hint ? " - " : "", hint ? hint : "");
	if (ret != -EACCES) {
		dfs_err("%s: cannot get a token from %s: %s", tc->name, tc->token_url, what);
		return;
	}
	if (a->unhealthy) {
		dfs_debug("%s: still refused: %s", tc->name, what);
		return;
	}
	a->unhealthy = 1;
	if (a->had_token)
		dfs_err("%s: access refused: %s; the tenant's files fail with EACCES until this "
			"is fixed (retried every %.0f s at most)", tc->name, what, HOLDOFF_MAX);
	else
		dfs_err("%s: cannot get a token%s%s: %s", tc->name,
			DFS_AUTH_IS_HTTP(tc->auth) ? "" : " from ",
			DFS_AUTH_IS_HTTP(tc->auth) ? "" : tc->token_url, what);
}

int dfs_auth_token(struct dfs_auth *a, char **token, struct dfs_http_error *err)
{
	double now, sent, expires_in = 0, refresh_in = 0, margin;
	struct dfs_http_error local;
	char *fresh = NULL;
	int ret;

	if (!err)
		err = &local;
	pthread_mutex_lock(&a->lock);
	for (;;) {
		now = dfs_now();
		if (a->token && now < a->renew_at)
			goto have_token;
		if (a->renewing) {
			/* Someone else renews: use the old token while it still works. */
			if (a->token && now < a->expires_at)
				goto have_token;
			pthread_cond_wait(&a->cond, &a->lock);
			continue;
		}
		/* A renewal just failed: don't hammer the token endpoint. */
		if (a->last_errno && now - a->failed_at < a->holdoff) {
			if (a->token && now < a->expires_at)
				goto have_token;
			ret = a->last_errno;
			*err = a->last_err;
			goto out;
		}
		break;
	}

	a->renewing = 1;
	pthread_mutex_unlock(&a->lock);
	sent = dfs_now();
	ret = request_token(a, &fresh, &expires_in, &refresh_in, err);
	pthread_mutex_lock(&a->lock);
	a->renewing = 0;
	pthread_cond_broadcast(&a->cond);
	now = dfs_now();
	/* Its caller was killed: that says nothing about the token endpoint. */
	if (ret == -EINTR)
		goto out;
	if (ret < 0) {
		a->last_errno = ret;
		a->failed_at = now;
		a->last_err = *err;
		a->holdoff = a->holdoff ? a->holdoff * 2 : HOLDOFF_MIN;
		if (a->holdoff > HOLDOFF_MAX)
			a->holdoff = HOLDOFF_MAX;
		log_failure(a, ret, err);
		/* Early renewal failed: the current token still works for a while. */
		if (a->token && now < a->expires_at)
			goto have_token;
		goto out;
	}
	forget_token(a);
	a->token = fresh;
	a->last_errno = 0;
	a->holdoff = 0;
	if (a->unhealthy && a->had_token)
		dfs_warn("%s: recovered: credentials accepted again", a->tc->name);
	a->unhealthy = 0;
	a->had_token = 1;
	/* Lifetimes count from when the server issued the token, which is
	 * after we sent the request, and its "exp" is rounded down to a whole
	 * second: counting from SENT minus that second, and minus the time a
	 * request using it takes to arrive, never overestimates. */
	margin = expires_in / 5;
	if (margin > RENEW_MARGIN_MAX)
		margin = RENEW_MARGIN_MAX;
	a->expires_at = sent + expires_in;
	/* (Not for lifetimes of a few seconds: that allowance would eat them.) */
	if (expires_in >= 4 * (EXPIRY_ROUNDING + EXPIRY_IN_FLIGHT))
		a->expires_at -= EXPIRY_ROUNDING + EXPIRY_IN_FLIGHT;
	a->renew_at = sent + expires_in - margin;
	if (refresh_in > 0 && refresh_in < expires_in)
		a->renew_at = sent + refresh_in;
	if (a->renew_at > a->expires_at)
		a->renew_at = a->expires_at;
	if (!DFS_AUTH_IS_HTTP(a->tc->auth))
		dfs_info("%s: new access token, valid for %.0f s", a->tc->name, expires_in);

have_token:
	*token = strdup(a->token);
	ret = *token ? 0 : -ENOMEM;
out:
	pthread_mutex_unlock(&a->lock);
	return ret;
}

void dfs_auth_reject(struct dfs_auth *a, const char *token)
{
	pthread_mutex_lock(&a->lock);
	/* Only drop it if nobody has replaced it since the caller got it. */
	if (a->token && token && strcmp(a->token, token) == 0) {
		dfs_info("%s: %s rejected by the server, renewing", a->tc->name,
			 DFS_AUTH_IS_HTTP(a->tc->auth) ? "credentials" : "access token");
		forget_token(a);
	}
	pthread_mutex_unlock(&a->lock);
}

void dfs_auth_apply(const struct dfs_auth *a, struct dfs_http_req *req, const char *token)
{
	const struct dfs_tenant_config *tc = a->tc;

	if (!DFS_AUTH_IS_HTTP(tc->auth)) {
		req->bearer = token;
		return;
	}
	req->httpauth = tc->auth == DFS_AUTH_NTLM ? CURLAUTH_NTLM : CURLAUTH_NEGOTIATE;
	req->username = tc->username ? tc->username : "";
	req->password = token;
}

void dfs_auth_renew_soon(struct dfs_auth *a)
{
	pthread_mutex_lock(&a->lock);
	a->renew_at = 0;
	a->holdoff = 0;
	a->failed_at = 0;
	pthread_mutex_unlock(&a->lock);
}

void dfs_auth_state(struct dfs_auth *a, struct dfs_auth_state *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&a->lock);
	out->unhealthy = a->unhealthy;
	out->last_errno = a->last_errno;
	out->last_err = a->last_err;
	out->has_expiry = !DFS_AUTH_IS_HTTP(a->tc->auth);
	out->expires_in = a->token ? a->expires_at - dfs_now() : -1;
	pthread_mutex_unlock(&a->lock);
}
