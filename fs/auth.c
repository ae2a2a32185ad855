/* auth.c - access tokens from Microsoft Entra ID (v2 token endpoint).
 *
 * One token per tenant shared by every thread.  A token is renewed ahead of
 * expiry (at refresh_in when the server gives it, else at 80% of its
 * lifetime, at most five minutes early).  Only one renewal is in flight per
 * tenant: other threads keep using the old token while it is still valid, or
 * wait for the renewal when it is not, so a busy mount never causes a storm
 * of token requests.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "auth.h"
#include "buf.h"
#include "log.h"

#define RENEW_MARGIN_MAX 300.0   /* seconds before expiry we renew at the latest */
#define FAILURE_HOLDOFF 5.0      /* seconds a permanent failure is remembered */

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
	if (a->token) {
		explicit_bzero(a->token, strlen(a->token));
		free(a->token);
		a->token = NULL;
	}
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

/* Entra ID sends numbers as JSON numbers (v2) or strings (v1, AD FS). */
static double json_seconds(const cJSON *item)
{
	if (cJSON_IsNumber(item))
		return item->valuedouble;
	if (cJSON_IsString(item))
		return strtod(item->valuestring, NULL);
	return -1;
}

/* What to do about the Entra ID errors people actually hit. */
static const struct {
	const char *aadsts;
	const char *hint;
} auth_hints[] = {
	{ "AADSTS7000215", "the client secret is wrong: use the secret's Value, not its Secret ID" },
	{ "AADSTS7000222", "the client secret has expired: create a new one in the app registration" },
	{ "AADSTS700016", "no app with this client_id in this tenant: check client_id and tenant_id" },
	{ "AADSTS90002", "tenant not found: check tenant_id (or token_url)" },
	{ "AADSTS65001", "admin consent is missing: grant consent for the app in Entra ID" },
	{ "AADSTS70011", "the scope is invalid: check url and scope (default <url>/.default)" },
	{ "AADSTS500011", "no Dataverse environment at this url in the tenant: check url" },
	{ "AADSTS70008", "the refresh token has expired or was revoked: sign in again" },
};

const char *dfs_auth_hint(const char *message)
{
	size_t i, n;

	if (!message)
		return NULL;
	for (i = 0; i < sizeof(auth_hints) / sizeof(auth_hints[0]); i++) {
		n = strlen(auth_hints[i].aadsts);
		if (strncmp(message, auth_hints[i].aadsts, n) == 0 && message[n] == ':')
			return auth_hints[i].hint;
	}
	return NULL;
}

static int append_param(struct dfs_buf *b, const char *key, const char *value)
{
	char *e = dfs_http_escape(value);
	int ret;

	if (!e)
		return -ENOMEM;
	ret = dfs_buf_appendf(b, "%s%s=%s", b->len ? "&" : "", key, e);
	explicit_bzero(e, strlen(e));
	free(e);
	return ret;
}

/*
 * One token request, with retries of transient failures.  Called without the
 * lock held.  On success stores nothing; returns the parsed pieces.
 */
static int request_token(struct dfs_auth *a, char **token, double *expires_in,
			 double *refresh_in, struct dfs_http_error *err)
{
	const struct dfs_tenant_config *tc = a->tc;
	struct dfs_http_resp resp;
	struct dfs_http_req req = { 0 };
	struct dfs_buf form;
	cJSON *root = NULL, *at;
	const char *hint;
	int ret, attempt;
	long delay;

	dfs_http_resp_init(&resp);
	dfs_buf_init(&form, 0);
	if ((ret = append_param(&form, "grant_type", "client_credentials")) < 0 ||
	    (ret = append_param(&form, "client_id", tc->client_id)) < 0 ||
	    (ret = append_param(&form, "client_secret", tc->client_secret)) < 0 ||
	    (ret = append_param(&form, "scope", tc->scope)) < 0)
		goto out;

	req.method = "POST";
	req.url = tc->token_url;
	req.content_type = "application/x-www-form-urlencoded";
	req.body = form.data;
	req.body_len = form.len;
	for (attempt = 0;; attempt++) {
		ret = dfs_http_perform(a->http, &req, &resp);
		if (ret == 0 && resp.status == 200)
			break;
		delay = dfs_http_retry_delay(&resp, attempt, a->max_retries);
		if (delay < 0)
			break;
		if (resp.status)
			dfs_warn("%s: token request answered HTTP %ld, retrying in %ld ms",
				 tc->name, resp.status, delay);
		else
			dfs_warn("%s: token request failed: %s, retrying in %ld ms", tc->name,
				 resp.err.message, delay);
		dfs_http_sleep_ms(delay);
	}
	if (ret == 0 && resp.status != 200) {
		/* The token endpoint refused: a credential problem, not a retryable one. */
		ret = (resp.status >= 500 || resp.status == 429) ? dfs_http_errno(resp.status, 0)
								 : -EACCES;
	}
	if (ret < 0) {
		hint = dfs_auth_hint(resp.err.message);
		dfs_err("%s: cannot get a token from %s: %s%s%s%s%s", tc->name, tc->token_url,
			resp.err.code, resp.err.code[0] ? ": " : "", resp.err.message,
			hint ? " - " : "", hint ? hint : "");
		if (err)
			*err = resp.err;
		goto out;
	}

	root = cJSON_ParseWithLength(resp.body.data, resp.body.len);
	at = root ? cJSON_GetObjectItemCaseSensitive(root, "access_token") : NULL;
	if (!cJSON_IsString(at) || !at->valuestring[0]) {
		dfs_err("%s: token response from %s has no access_token", tc->name, tc->token_url);
		if (err)
			snprintf(err->message, sizeof(err->message), "token response has no access_token");
		ret = -EIO;
		goto out;
	}
	*token = strdup(at->valuestring);
	*expires_in = json_seconds(cJSON_GetObjectItemCaseSensitive(root, "expires_in"));
	*refresh_in = json_seconds(cJSON_GetObjectItemCaseSensitive(root, "refresh_in"));
	if (*expires_in <= 0)
		*expires_in = 3599; /* documented default for client credentials */
	ret = *token ? 0 : -ENOMEM;
out:
	if (root) {
		at = cJSON_GetObjectItemCaseSensitive(root, "access_token");
		if (cJSON_IsString(at))
			explicit_bzero(at->valuestring, strlen(at->valuestring));
	}
	cJSON_Delete(root);
	if (resp.body.data)
		explicit_bzero(resp.body.data, resp.body.len);
	dfs_http_resp_free(&resp);
	if (form.data)
		explicit_bzero(form.data, form.len);
	dfs_buf_free(&form);
	return ret;
}

int dfs_auth_token(struct dfs_auth *a, char **token, struct dfs_http_error *err)
{
	double now, expires_in = 0, refresh_in = 0, margin;
	char *fresh = NULL;
	int ret;

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
		/* A renewal just failed for good: don't hammer the token endpoint. */
		if (a->last_errno && now - a->failed_at < FAILURE_HOLDOFF) {
			if (a->token && now < a->expires_at)
				goto have_token;
			ret = a->last_errno;
			if (err)
				*err = a->last_err;
			goto out;
		}
		break;
	}

	a->renewing = 1;
	pthread_mutex_unlock(&a->lock);
	ret = request_token(a, &fresh, &expires_in, &refresh_in, err);
	pthread_mutex_lock(&a->lock);
	a->renewing = 0;
	pthread_cond_broadcast(&a->cond);
	if (ret < 0) {
		a->last_errno = ret;
		a->failed_at = dfs_now();
		if (err)
			a->last_err = *err;
		else
			memset(&a->last_err, 0, sizeof(a->last_err));
		goto out;
	}
	forget_token(a);
	a->token = fresh;
	a->last_errno = 0;
	margin = expires_in / 5;
	if (margin > RENEW_MARGIN_MAX)
		margin = RENEW_MARGIN_MAX;
	a->expires_at = now + expires_in;
	a->renew_at = now + expires_in - margin;
	if (refresh_in > 0 && refresh_in < expires_in)
		a->renew_at = now + refresh_in;
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
		dfs_info("%s: access token rejected by the server, renewing", a->tc->name);
		forget_token(a);
	}
	pthread_mutex_unlock(&a->lock);
}
