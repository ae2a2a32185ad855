/* http.c - libcurl transport for one tenant: pooled connections, one attempt
 * per call (held back while the tenant is throttled, cut at the thread's
 * deadline or when its operation is cancelled), and the single mapping from
 * HTTP/transport outcomes to errno (see include/http.h).  The retry policy,
 * deadlines and cancellation are retry.c's.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <time.h>
#include <stdio.h>
#include <cjson/cJSON.h>

#include "http.h"
#include "http_failure.h"
#include "log.h"
#include "tls.h"
#include "version.h"
#include "banned.h"

#define HTTP_POOL_MAX 64     /* idle easy handles kept per tenant */

struct dfs_http {
	struct dfs_http_opts opts;
	char *ca_file;
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	CURL *pool[HTTP_POOL_MAX];
	int n_pool;
	pthread_mutex_t stats_lock;
	struct dfs_http_stats stats;
	/* The server's Retry-After, under stats_lock: nothing is sent before it. */
	double throttled_mono;   /* dfs_now() seconds */
	time_t throttled_wall;
};

const char *const dfs_req_kind_names[DFS_REQ_KINDS] = {
	[DFS_REQ_TOKEN] = "token", [DFS_REQ_METADATA] = "metadata", [DFS_REQ_LIST] = "list",
	[DFS_REQ_GET] = "get", [DFS_REQ_CREATE] = "create", [DFS_REQ_UPDATE] = "update",
	[DFS_REQ_DELETE] = "delete", [DFS_REQ_OTHER] = "other",
};

time_t dfs_http_throttled_until(struct dfs_http *http)
{
	time_t until;

	pthread_mutex_lock(&http->stats_lock);
	until = http->throttled_mono > dfs_now() ? http->throttled_wall : 0;
	pthread_mutex_unlock(&http->stats_lock);
	return until;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access a, void *u)
{
	struct dfs_http *http = u;
	(void)h; (void)a;
	pthread_mutex_lock(&http->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *u)
{
	struct dfs_http *http = u;
	(void)h;
	pthread_mutex_unlock(&http->share_locks[data]);
}

struct dfs_http *dfs_http_new(const struct dfs_http_opts *opts)
{
	struct dfs_http *http = calloc(1, sizeof(*http));
	int i;

	if (!http)
		return NULL;
	http->opts = *opts;
	if (opts->ca_file) {
		http->ca_file = strdup(opts->ca_file);
		http->opts.ca_file = http->ca_file;
	}
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&http->share_locks[i], NULL);
	pthread_mutex_init(&http->pool_lock, NULL);
	pthread_mutex_init(&http->stats_lock, NULL);
	http->share = curl_share_init();
	if (!http->share) {
		dfs_http_free(&http);
		return NULL;
	}
	curl_share_setopt(http->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(http->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(http->share, CURLSHOPT_USERDATA, http);
	/* The connection pool is what makes a tenant's threads reuse warm
	 * TLS connections instead of handshaking per request. */
	curl_share_setopt(http->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(http->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(http->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	return http;
}

void dfs_http_free(struct dfs_http **httpp)
{
	struct dfs_http *http = *httpp;
	int i;

	if (!http)
		return;
	for (i = 0; i < http->n_pool; i++)
		curl_easy_cleanup(http->pool[i]);
	if (http->share)
		curl_share_cleanup(http->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&http->share_locks[i]);
	pthread_mutex_destroy(&http->pool_lock);
	pthread_mutex_destroy(&http->stats_lock);
	free(http->ca_file);
	free(http);
	*httpp = NULL;
}

static CURL *pool_get(struct dfs_http *http)
{
	CURL *h = NULL;

	pthread_mutex_lock(&http->pool_lock);
	if (http->n_pool > 0)
		h = http->pool[--http->n_pool];
	pthread_mutex_unlock(&http->pool_lock);
	if (h)
		curl_easy_reset(h);
	else
		h = curl_easy_init();
	return h;
}

static void pool_put(struct dfs_http *http, CURL *h)
{
	pthread_mutex_lock(&http->pool_lock);
	if (http->n_pool < HTTP_POOL_MAX) {
		http->pool[http->n_pool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&http->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

void dfs_http_resp_init(struct dfs_http_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->retry_after = -1;
	resp->dop_hint = -1;
}

void dfs_http_resp_free(struct dfs_http_resp *resp)
{
	dfs_buf_free(&resp->body);
	free(resp->etag);
	free(resp->entity_id);
	free(resp->location);
	dfs_http_resp_init(resp);
}

/* What the body and header callbacks of one attempt share. */
struct transfer {
	struct dfs_http_resp *resp;
	const struct dfs_http_req *req;
	int sink_err;            /* why the sink stopped the transfer */
	size_t body_off;         /* of req->body sent so far (req->once) */
	int rewind_refused;      /* libcurl wanted to send req->body again (req->once) */
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *u)
{
	struct transfer *tr = u;
	struct dfs_http_resp *resp = tr->resp;
	int ret;

	/* The status line came first: only a success is streamed, an error
	 * body is kept for parse_error_body. */
	if (tr->req->sink && resp->status >= 200 && resp->status < 300) {
		if ((ret = tr->req->sink(tr->req->sink_ctx, ptr, size * nmemb)) < 0) {
			tr->sink_err = ret;
			return 0;
		}
		return size * nmemb;
	}
	if (dfs_buf_append(&resp->body, ptr, size * nmemb) < 0)
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	return size * nmemb;
}

/* Copy a header value with surrounding whitespace removed, or NULL. */
static char *header_value(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);
	const char *v, *end = line + len;

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	v = line + n + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	return strndup(v, (size_t)(end - v));
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *u)
{
	struct dfs_http_resp *resp = ((struct transfer *)u)->resp;
	size_t len = size * nmemb;
	const char *sp;
	char *v;

	/* A new status line (after 100-continue or a redirect) starts afresh. */
	if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
		free(resp->etag);
		free(resp->entity_id);
		free(resp->location);
		resp->etag = resp->entity_id = resp->location = NULL;
		resp->retry_after = -1;
		resp->request_id[0] = '\0';
		resp->dop_hint = -1;
		/* Known before the body, so on_body can tell a success. */
		sp = memchr(line, ' ', len);
		resp->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return len;
	}
	if ((v = header_value(line, len, "ETag"))) {
		free(resp->etag);
		resp->etag = v;
	} else if ((v = header_value(line, len, "x-ms-service-request-id")) ||
		   (v = header_value(line, len, "REQ_ID")) ||
		   (v = header_value(line, len, "x-ms-request-id"))) {
		/* Dataverse sends the first two with the same id; Entra ID the third. */
		if (!resp->request_id[0])
			snprintf(resp->request_id, sizeof(resp->request_id), "%s", v);
		free(v);
	} else if ((v = header_value(line, len, "OData-EntityId"))) {
		free(resp->entity_id);
		resp->entity_id = v;
	} else if ((v = header_value(line, len, "Location"))) {
		free(resp->location);
		resp->location = v;
	} else if ((v = header_value(line, len, "Retry-After"))) {
		char *end;
		long s = strtol(v, &end, 10);
		/* Dataverse sends whole seconds; an HTTP date is treated as absent. */
		if (end != v && *end == '\0' && s >= 0)
			resp->retry_after = s;
		free(v);
	} else if ((v = header_value(line, len, "x-ms-dop-hint"))) {
		long n = strtol(v, NULL, 10);

		resp->dop_hint = n > 0 && n < 10000 ? (int)n : -1;
		free(v);
	}
	return len;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/*
 * Fill resp->err from an error body.  Dataverse sends
 * {"error":{"code":"0x...","message":"..."}}; Entra ID sends
 * {"error":"invalid_client","error_description":"AADSTS...: ...\r\nTrace ID..."};
 * gateways send text or nothing.
 */
static void parse_error_body(struct dfs_http_resp *resp)
{
	cJSON *root = NULL, *e, *c, *m;
	char *nl;

	if (resp->body.len == 0) {
		snprintf(resp->err.message, sizeof(resp->err.message), "HTTP %ld with empty body",
			 resp->status);
		return;
	}
	root = cJSON_ParseWithLength(resp->body.data, resp->body.len);
	e = root ? cJSON_GetObjectItemCaseSensitive(root, "error") : NULL;
	if (cJSON_IsObject(e)) {
		c = cJSON_GetObjectItemCaseSensitive(e, "code");
		m = cJSON_GetObjectItemCaseSensitive(e, "message");
		copy_str(resp->err.code, sizeof(resp->err.code), cJSON_GetStringValue(c));
		copy_str(resp->err.message, sizeof(resp->err.message), cJSON_GetStringValue(m));
	} else if (cJSON_IsString(e)) {
		m = cJSON_GetObjectItemCaseSensitive(root, "error_description");
		copy_str(resp->err.code, sizeof(resp->err.code), e->valuestring);
		copy_str(resp->err.message, sizeof(resp->err.message), cJSON_GetStringValue(m));
		/* Keep the AADSTS line; trace and correlation ids follow on their own lines. */
		if ((nl = strpbrk(resp->err.message, "\r\n")))
			*nl = '\0';
	} else {
		size_t n = resp->body.len < 200 ? resp->body.len : 200;
		size_t i;
		snprintf(resp->err.message, sizeof(resp->err.message), "HTTP %ld: %.*s",
			 resp->status, (int)n, resp->body.data);
		for (i = 0; resp->err.message[i]; i++)
			if (resp->err.message[i] == '\r' || resp->err.message[i] == '\n')
				resp->err.message[i] = ' ';
	}
	cJSON_Delete(root);
}

/* What kind of request REQ is, for the counters of .status. */
static enum dfs_req_kind req_kind(const struct dfs_http_req *req)
{
	const char *p = strstr(req->url, "/api/data/"), *q;
	size_t i;

	if (req->content_type && strstr(req->content_type, "x-www-form-urlencoded"))
		return DFS_REQ_TOKEN;
	if (!p)
		return DFS_REQ_OTHER;
	if (strcmp(req->method, "DELETE") == 0)
		return DFS_REQ_DELETE;
	if (strcmp(req->method, "POST") == 0)
		return DFS_REQ_CREATE;
	if (strcmp(req->method, "PATCH") == 0 || strcmp(req->method, "PUT") == 0) {
		for (i = 0; req->headers && req->headers[i]; i++)
			if (strncasecmp(req->headers[i], "If-None-Match: *", 16) == 0)
				return DFS_REQ_CREATE;
		return DFS_REQ_UPDATE;
	}
	/* ".../api/data/v9.2/<path>" */
	p = strchr(p + strlen("/api/data/"), '/');
	if (!p)
		return DFS_REQ_OTHER;
	p++;
	if (strncmp(p, "EntityDefinitions", 17) == 0 || strncmp(p, "RelationshipDefinitions", 23) == 0 ||
	    strncmp(p, "$metadata", 9) == 0)
		return DFS_REQ_METADATA;
	if (strncmp(p, "WhoAmI", 6) == 0)
		return DFS_REQ_OTHER;
	q = p + strcspn(p, "?/");
	return memchr(p, '(', (size_t)(q - p)) ? DFS_REQ_GET : DFS_REQ_LIST;
}

/*
 * A 3xx is never the Web API's answer: a proxy or a sign-in page stands in
 * the way.  Where it points is shown without its query, which may carry a
 * session or a return address.
 */
static void redirect_message(struct dfs_http_resp *resp)
{
	char where[200];

	if (resp->location)
		dfs_http_shown_path(resp->location, where, sizeof(where));
	snprintf(resp->err.message, sizeof(resp->err.message),
		 "redirected (HTTP %ld) to %s: a sign-in page or a proxy stands in the way",
		 resp->status, resp->location ? where : "nowhere");
}

static int is_failure(const struct dfs_http_req *req, const struct dfs_http_resp *resp)
{
	size_t i;

	if (!resp->status)
		return 1;
	if ((resp->status < 300 || resp->status == 304) || resp->status == 404)
		return 0;
	if (resp->status == 401 && req->bearer)
		return 0;
	if (resp->status == 412)
		for (i = 0; req->headers && req->headers[i]; i++)
			if (strncasecmp(req->headers[i], "If-None-Match: *", 16) == 0)
				return 0;
	return 1;
}

/* Count one attempt, remember it if it failed, and log it at debug level. */
static void account(struct dfs_http *http, const struct dfs_http_req *req,
		    const struct dfs_http_resp *resp, double seconds)
{
	struct dfs_http_stats *st = &http->stats;
	struct dfs_http_failure f;
	char path[sizeof(f.path)];
	int failed = is_failure(req, resp);

	dfs_http_shown_path(req->url, path, sizeof(path));
	if (resp->status)
		dfs_debug("http: %s %s: %ld in %.0f ms%s%s", req->method, path, resp->status,
			  seconds * 1000, resp->request_id[0] ? ", request id " : "",
			  resp->request_id);
	else
		dfs_debug("http: %s %s: %s after %.0f ms", req->method, path, resp->err.message,
			  seconds * 1000);
	if (failed)
		dfs_http_failure_note(req, resp, &f);
	pthread_mutex_lock(&http->stats_lock);
	st->requests[req_kind(req)]++;
	if (resp->status == 429)
		st->throttled++;
	if (failed) {
		st->failed++;
		memmove(&st->errors[1], &st->errors[0],
			(DFS_HTTP_LAST_ERRORS - 1) * sizeof(st->errors[0]));
		st->errors[0] = f;
		if (st->n_errors < DFS_HTTP_LAST_ERRORS)
			st->n_errors++;
	}
	pthread_mutex_unlock(&http->stats_lock);
}

void dfs_http_count_retry(struct dfs_http *http)
{
	dfs_http_failure_retried();
	pthread_mutex_lock(&http->stats_lock);
	http->stats.retried++;
	pthread_mutex_unlock(&http->stats_lock);
}

void dfs_http_stats(struct dfs_http *http, struct dfs_http_stats *out)
{
	pthread_mutex_lock(&http->stats_lock);
	*out = http->stats;
	pthread_mutex_unlock(&http->stats_lock);
}

/* libcurl asks about once a second, also while nothing arrives. */
static int on_progress(void *u, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	return dfs_http_cancelled();
}

/*
 * What stops a request before it is sent: a cancelled operation, a spent
 * deadline, a tenant throttled until later.  A hold that ends before the
 * operation's deadline is waited out here: the request was never sent, so
 * the wait is no retry (counting it as one spent max_retries of parallel
 * readers on holds that other readers' 429s set).  One that outlasts the
 * deadline stops the request at once: RESP then holds a 429 of our own
 * making, saying until when.  Returns 1 with RESP and *RET filled, or 0 to
 * send.
 */
static int held_back(struct dfs_http *http, const struct dfs_http_req *req,
		     struct dfs_http_resp *resp, int *ret)
{
	double now, left, wait;
	char when[32];
	time_t wall;

	for (;;) {
		now = dfs_now();
		left = dfs_http_deadline_left();
		wait = 0;
		wall = 0;
		if (dfs_http_cancelled()) {
			resp->curl_code = CURLE_ABORTED_BY_CALLBACK;
			snprintf(resp->err.message, sizeof(resp->err.message),
				 "interrupted: the program waiting for it is gone");
			*ret = -EINTR;
			return 1;
		}
		if (left <= 0) {
			resp->curl_code = CURLE_OPERATION_TIMEDOUT;
			snprintf(resp->err.message, sizeof(resp->err.message),
				 "op_timeout reached before it could be sent");
			*ret = -ETIMEDOUT;
			return 1;
		}
		if (req_kind(req) == DFS_REQ_TOKEN)
			return 0;
		pthread_mutex_lock(&http->stats_lock);
		if (http->throttled_mono > now) {
			wait = http->throttled_mono - now;
			wall = http->throttled_wall;
		}
		pthread_mutex_unlock(&http->stats_lock);
		if (!wall)
			return 0;
		if (wait >= left)
			break;
		/* Cancelled meanwhile: the loop's first test says so. */
		dfs_http_sleep_ms((long)(wait * 1000) + 1);
	}
	dfs_utc_text(wall, when, sizeof(when));
	resp->status = 429;
	resp->retry_after = (long)wait + 1;
	snprintf(resp->err.message, sizeof(resp->err.message),
		 "throttled by the server until %s (its Retry-After): not sent", when);
	*ret = 0;
	return 1;
}

/* The server said when to come back: nothing of this tenant goes out before. */
static void note_throttle(struct dfs_http *http, const struct dfs_http_req *req,
			  const struct dfs_http_resp *resp)
{
	if ((resp->status != 429 && resp->status != 503) || resp->retry_after <= 0 ||
	    req_kind(req) == DFS_REQ_TOKEN)
		return;
	pthread_mutex_lock(&http->stats_lock);
	http->throttled_mono = dfs_now() + (double)resp->retry_after;
	http->throttled_wall = time(NULL) + resp->retry_after;
	pthread_mutex_unlock(&http->stats_lock);
}

/* The body of a req->once write, handed to libcurl as it sends. */
static size_t on_read_body(char *buf, size_t size, size_t nmemb, void *u)
{
	struct transfer *tr = u;
	size_t n = tr->req->body_len - tr->body_off;

	if (n > size * nmemb)
		n = size * nmemb;
	memcpy(buf, tr->req->body + tr->body_off, n);
	tr->body_off += n;
	return n;
}

/*
 * libcurl rewinds a body only to send it again: after a kept-alive
 * connection died without an answer, it silently resends the request on a
 * new one.  The server may have carried out the first, so a write must not
 * go twice behind its caller's back: refuse, and the transfer fails with
 * the request marked sent (dfs_http_may_have_applied), which the caller
 * settles by reading the record back.
 */
static int on_seek_body(void *u, curl_off_t offset, int origin)
{
	struct transfer *tr = u;

	(void)offset;
	(void)origin;
	tr->rewind_refused = 1;
	return CURL_SEEKFUNC_CANTSEEK;
}

int dfs_http_perform(struct dfs_http *http, const struct dfs_http_req *req,
		     struct dfs_http_resp *resp)
{
	struct transfer tr = { resp, req, 0, 0, 0 };
	struct curl_slist *hdrs = NULL, *tmp;
	char errbuf[CURL_ERROR_SIZE] = "";
	char *auth = NULL;
	CURL *h = NULL;
	CURLcode rc;
	long sent = 0, timeout_ms;
	int ret = 0;
	size_t i;
	double t0 = dfs_now(), left;

	dfs_http_resp_free(resp);
	dfs_buf_init(&resp->body, http->opts.max_body);
	resp->http = http;
	if (held_back(http, req, resp, &ret)) {
		/* Not sent, so not counted; but the operation's line says why. */
		struct dfs_http_failure f;

		dfs_http_failure_note(req, resp, &f);
		return ret;
	}
	left = dfs_http_deadline_left();
	timeout_ms = (long)http->opts.timeout * 1000;
	if (left * 1000 < timeout_ms)
		timeout_ms = left * 1000 < 1 ? 1 : (long)(left * 1000);
	h = pool_get(http);
	if (!h) {
		ret = -ENOMEM;
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_SHARE, http->share);
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, http->opts.connect_timeout);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_USERAGENT, "dynfs/" DFS_VERSION);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &tr);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &tr);
	if (http->opts.ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, http->opts.ca_file);

	if (req->httpauth) {
		/* Windows authentication on premises: libcurl answers the challenge. */
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, req->httpauth);
		curl_easy_setopt(h, CURLOPT_USERNAME, req->username ? req->username : "");
		curl_easy_setopt(h, CURLOPT_PASSWORD, req->password ? req->password : "");
	}
	if (strcmp(req->method, "GET") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
	if (req->body && req->once && !req->httpauth) {
		/* Windows authentication resends the body by design; the others
		 * must not (on_seek_body). */
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read_body);
		curl_easy_setopt(h, CURLOPT_READDATA, &tr);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek_body);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, &tr);
	} else if (req->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body);
	}

	/* No "Expect: 100-continue" round trip for our small bodies. */
	if (!(tmp = curl_slist_append(hdrs, "Expect:")))
		goto nomem;
	hdrs = tmp;
	if (req->content_type) {
		char line[128];
		snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
		if (!(tmp = curl_slist_append(hdrs, line)))
			goto nomem;
		hdrs = tmp;
	}
	if (req->bearer) {
		if (asprintf(&auth, "Authorization: Bearer %s", req->bearer) < 0) {
			auth = NULL;
			goto nomem;
		}
		if (!(tmp = curl_slist_append(hdrs, auth)))
			goto nomem;
		hdrs = tmp;
	}
	for (i = 0; req->headers && req->headers[i]; i++) {
		if (!(tmp = curl_slist_append(hdrs, req->headers[i])))
			goto nomem;
		hdrs = tmp;
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);

	if (req->sink && (ret = req->sink(req->sink_ctx, NULL, 0)) < 0)
		goto out;
	rc = curl_easy_perform(h);
	resp->curl_code = rc;
	/* Bytes of the request that went out: none means the server cannot
	 * have acted on it (see dfs_http_may_have_applied). */
	if (curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK && sent > 0)
		resp->sent = 1;
	if (rc != CURLE_OK && tr.sink_err) {
		/* The reader of the stream said why: its error, not a transport one. */
		snprintf(resp->err.message, sizeof(resp->err.message),
			 "reading the answer failed: %s", strerror(-tr.sink_err));
		resp->status = 0;
		ret = tr.sink_err;
		goto out;
	}
	if (rc != CURLE_OK) {
		if (tr.rewind_refused)
			resp->sent = 1;
		if (tr.rewind_refused)
			snprintf(resp->err.message, sizeof(resp->err.message), "the connection "
				 "closed without an answer after the request went out (not sent "
				 "again)");
		else if (rc == CURLE_WRITE_ERROR && http->opts.max_body &&
		    resp->body.len + 1 >= http->opts.max_body)
			snprintf(resp->err.message, sizeof(resp->err.message),
				 "response larger than %zu bytes", http->opts.max_body);
		else if (rc == CURLE_ABORTED_BY_CALLBACK)
			snprintf(resp->err.message, sizeof(resp->err.message),
				 "interrupted: the program waiting for it is gone");
		else if (dfs_tls_failed(h, rc))
			dfs_tls_describe(h, rc, errbuf, &(struct dfs_tls_limits){
				http->opts.connect_timeout, timeout_ms,
				timeout_ms < (long)http->opts.timeout * 1000 },
				resp->err.message, sizeof(resp->err.message));
		else if (rc == CURLE_OPERATION_TIMEDOUT && timeout_ms < (long)http->opts.timeout * 1000)
			snprintf(resp->err.message, sizeof(resp->err.message),
				 "no complete answer within op_timeout (%s)",
				 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		else
			snprintf(resp->err.message, sizeof(resp->err.message), "%s",
				 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		resp->status = 0;
		ret = dfs_http_errno(0, rc);
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	note_throttle(http, req, resp);
	if (resp->status >= 400)
		parse_error_body(resp);
	else if (resp->status >= 300 && resp->status != 304)
		redirect_message(resp);
	goto out;

nomem:
	ret = -ENOMEM;
out:
	if (h) {
		/* The handle must not keep pointers into this call's stack. */
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
		curl_easy_setopt(h, CURLOPT_READDATA, NULL);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, NULL);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
		pool_put(http, h);
	}
	curl_slist_free_all(hdrs);
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (ret != -ENOMEM)
		account(http, req, resp, dfs_now() - t0);
	return ret;
}

int dfs_http_errno(long status, CURLcode curl_code)
{
	if (status == 0) {
		switch (curl_code) {
		case CURLE_OK:
			return -EIO;
		case CURLE_OPERATION_TIMEDOUT:
			return -ETIMEDOUT;
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
			return -EHOSTUNREACH;
		case CURLE_COULDNT_CONNECT:
			return -ECONNREFUSED;
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CONNECT_ERROR:
			/* The server's certificate or handshake: it may be fixed
			 * there, as an outage is (tls.c says which). */
			return -EIO;
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CACERT_BADFILE:
			return -EACCES;
		case CURLE_OUT_OF_MEMORY:
			return -ENOMEM;
		case CURLE_WRITE_ERROR:
			return -EFBIG;
		case CURLE_ABORTED_BY_CALLBACK:
			return -EINTR;
		default:
			return -EIO;
		}
	}
	if (status < 300 || status == 304)
		return 0;
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 405:
		return -EPERM;
	case 409:
		return -EBUSY;
	case 412:
		/* The record changed since it was read (as gcsfuse reports it). */
		return -ESTALE;
	case 413:
		return -EFBIG;
	case 429:
		return -EAGAIN;
	case 504:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

char *dfs_http_escape(const char *s)
{
	char *e = curl_easy_escape(NULL, s, 0);
	char *r;

	if (!e)
		return NULL;
	r = strdup(e);
	curl_free(e);
	return r;
}
