/* http.h - libcurl transport for one tenant.
 *
 * Each tenant owns one struct dfs_http: a curl share handle holding the
 * connection pool (plus DNS and TLS session caches) and a free list of easy
 * handles, so every FUSE thread reuses warm connections.  dfs_http_perform()
 * makes exactly one attempt; retrying is the caller's decision
 * (dfs_http_retry_delay) and so is token renewal.
 *
 * dfs_http_errno() is THE place where HTTP statuses and transport errors turn
 * into errno values.
 */
#ifndef DFS_HTTP_H
#define DFS_HTTP_H

#include <curl/curl.h>
#include "buf.h"
#include "util.h"

struct dfs_http;

struct dfs_http_opts {
	const char *ca_file;     /* NULL: system CA store */
	long connect_timeout;    /* seconds */
	long timeout;            /* seconds, whole transfer */
	size_t max_body;         /* response cap in bytes */
};

struct dfs_http_req {
	const char *method;      /* "GET", "POST", "PATCH", "DELETE" */
	const char *url;         /* absolute */
	const char *bearer;      /* access token or NULL */
	const char *content_type;/* for body; NULL = none */
	const char *body;
	size_t body_len;
	const char *const *headers; /* extra "Name: value" lines, NULL-terminated, or NULL */
	long httpauth;           /* CURLAUTH_NTLM / CURLAUTH_NEGOTIATE instead of a bearer, or 0 */
	const char *username;    /* with httpauth */
	const char *password;    /* with httpauth; never logged */
};

/* A Dataverse / Entra error, parsed from whatever body came back. */
struct dfs_http_error {
	char code[48];           /* "0x80040217", "invalid_client", "" */
	char message[1024];      /* server message, or curl's error text */
};

struct dfs_http_resp {
	long status;             /* 0 when no HTTP response arrived */
	CURLcode curl_code;
	struct dfs_buf body;
	char *etag;              /* ETag header, malloc'd, or NULL */
	char *entity_id;         /* OData-EntityId header, or NULL */
	long retry_after;        /* seconds from Retry-After, -1 if absent */
	struct dfs_http_error err; /* filled for status >= 400 and transport errors */
};

struct dfs_http *dfs_http_new(const struct dfs_http_opts *opts);
void dfs_http_free(struct dfs_http **http);

void dfs_http_resp_init(struct dfs_http_resp *resp);
void dfs_http_resp_free(struct dfs_http_resp *resp);

/*
 * One attempt.  Returns 0 when an HTTP response arrived (any status; check
 * resp->status), or a negative errno for transport failures (resp->curl_code
 * and resp->err.message say which).
 */
int dfs_http_perform(struct dfs_http *http, const struct dfs_http_req *req,
		     struct dfs_http_resp *resp);

/*
 * Map an outcome to a negative errno: 0 for 2xx/304; 404 -ENOENT; 401/403
 * -EACCES; 400 -EINVAL; 409 -EBUSY; 412 -ESTALE; 413 -EFBIG; 429 -EAGAIN; timeouts
 * -ETIMEDOUT; unresolvable hosts -EHOSTUNREACH; refused connections
 * -ECONNREFUSED; anything else -EIO.
 */
int dfs_http_errno(long status, CURLcode curl_code);

/*
 * Should attempt number ATTEMPT (0-based) be retried, and after how many
 * milliseconds?  Returns the delay, or -1 for "do not retry".  429 waits
 * Retry-After; 502/503/504, resets and timeouts back off exponentially with a
 * cap; 400/401/403/404/412 never retry (401 is handled by token renewal).
 */
long dfs_http_retry_delay(const struct dfs_http_resp *resp, int attempt, int max_retries);

/* Sleep MS milliseconds (for retry delays). */
void dfs_http_sleep_ms(long ms);


/* Percent-encode S for a query string or form body (malloc'd). */
char *dfs_http_escape(const char *s);

#endif
