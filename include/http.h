/* http.h - libcurl transport for one tenant (fs/http.c), and the one retry
 * policy with what bounds a request: deadlines, cancellation (fs/retry.c).
 *
 * Each tenant owns one struct dfs_http: a curl share handle holding the
 * connection pool (plus DNS and TLS session caches) and a free list of easy
 * handles, so every FUSE thread reuses warm connections.  dfs_http_perform()
 * makes exactly one attempt.  Whether and when to send a request again is
 * struct dfs_retry's decision, the same for Web API requests (dataverse.c)
 * and token requests (auth.c); token renewal on 401 is the caller's.
 *
 * dfs_http_errno() is THE place where HTTP statuses and transport errors turn
 * into errno values.
 *
 * Return convention (util.h): 0 or a negative errno.  dfs_http_perform()
 * returns 0 whenever an HTTP response arrived, whatever its status;
 * dfs_retry_again() answers yes (1) or no (0).
 */
#ifndef DFS_HTTP_H
#define DFS_HTTP_H

#include <time.h>
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

/*
 * Where a streamed response body goes: called with each piece of a 2xx body
 * as it arrives, and with DATA NULL when an attempt begins (a retry starts
 * the body again).  Returns 0, or a negative errno that stops the transfer
 * and becomes dfs_http_perform's result.
 */
typedef int dfs_http_sink_fn(void *ctx, const char *data, size_t len);

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
	dfs_http_sink_fn *sink;  /* a 2xx body goes here instead of resp->body, or NULL */
	void *sink_ctx;
	int once;                /* a write that must reach the server at most once: libcurl
				    may not send the body again on a new connection when the
				    kept-alive one dies unanswered (the server may have acted
				    on the first); the transfer fails instead, resp->sent set */
};

/* A Dataverse / Entra error, parsed from whatever body came back. */
struct dfs_http_error {
	char code[48];           /* "0x80040217", "invalid_client", "" */
	char message[1024];      /* server message, or curl's error text */
};

struct dfs_http_resp {
	long status;             /* 0 when no HTTP response arrived */
	CURLcode curl_code;
	char request_id[64];     /* the server's id of the request (x-ms-service-request-id,
				    REQ_ID, x-ms-request-id), "" if none */
	struct dfs_http *http;   /* the transport that made the attempt (retries are counted) */
	struct dfs_buf body;
	char *etag;              /* ETag header, malloc'd, or NULL */
	char *entity_id;         /* OData-EntityId header, or NULL */
	char *location;          /* Location header of a 3xx, or NULL */
	long retry_after;        /* seconds from Retry-After, -1 if absent */
	int dop_hint;            /* x-ms-dop-hint: the parallelism the server suggests, -1 if absent */
	int sent;                /* some of the request went out (the server may have acted on it) */
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
 * Might the server have carried out the request of the failed attempt RESP?
 * Yes when it went out and no answer came back (a reset, a timeout, a body
 * cut short), when a gateway answered 502 or 504 (the server behind it may
 * have finished), and for a redirect other than 304 (whoever sent it, the
 * answer is not the server's).  An attempt that never connected, and the
 * server's own refusals (4xx, 429, 503), were not carried out.  Writes that
 * must not be applied twice ask this before sending again.  1 or 0.
 */
int dfs_http_may_have_applied(const struct dfs_http_resp *resp);

/*
 * Map an outcome to a negative errno: 0 for 2xx/304; other 3xx -EIO; 404 -ENOENT; 401/403
 * -EACCES; 400 -EINVAL; 409 -EBUSY; 412 -ESTALE; 413 -EFBIG; 429 -EAGAIN; timeouts
 * -ETIMEDOUT; unresolvable hosts -EHOSTUNREACH; refused connections
 * -ECONNREFUSED; a transfer stopped because its operation was cancelled
 * -EINTR; anything else -EIO.
 */
int dfs_http_errno(long status, CURLcode curl_code);

/* ---- what a tenant's transport did, for .status and the log --------- */

/* Requests by kind, told from the method, the URL and the headers. */
enum dfs_req_kind {
	DFS_REQ_TOKEN,           /* the token endpoint (form posts) */
	DFS_REQ_METADATA,        /* EntityDefinitions, RelationshipDefinitions, $metadata */
	DFS_REQ_LIST,            /* a collection: a listing page */
	DFS_REQ_GET,             /* one record */
	DFS_REQ_CREATE,          /* POST, or PATCH with If-None-Match: * */
	DFS_REQ_UPDATE,          /* PATCH, PUT */
	DFS_REQ_DELETE,
	DFS_REQ_OTHER,           /* WhoAmI and the rest */
	DFS_REQ_KINDS
};
extern const char *const dfs_req_kind_names[DFS_REQ_KINDS];

/* A request that failed: no answer, or an HTTP error other than 404 (an
 * everyday answer), a 401 to a bearer token (renewed at once) and a 412 to
 * a create that must not overwrite. */
struct dfs_http_failure {
	time_t at;               /* wall clock */
	char method[8];
	char path[200];          /* scheme, query and fragment left out */
	long status;             /* 0: no HTTP answer */
	char request_id[64];
	struct dfs_http_error err;
};

#define DFS_HTTP_LAST_ERRORS 5

struct dfs_http_stats {
	unsigned long requests[DFS_REQ_KINDS];
	unsigned long throttled; /* 429 answers */
	unsigned long retried;   /* attempts sent again by the retry policy */
	unsigned long failed;    /* failures as above */
	size_t n_errors;
	struct dfs_http_failure errors[DFS_HTTP_LAST_ERRORS]; /* the newest first */
};
void dfs_http_stats(struct dfs_http *http, struct dfs_http_stats *out);
/* Count a retry of a request HTTP made (retry.c). */
void dfs_http_count_retry(struct dfs_http *http);

/*
 * The last failure of a request made by the calling thread since
 * dfs_http_failure_clear(), or NULL: the log line of a failed file
 * operation names the HTTP status, code, message and request id.
 */
const struct dfs_http_failure *dfs_http_last_failure(void);
/* Add "; WHY" to the message of the calling thread's last failure (what the
 * retry policy knows after the request: "the server asks to wait until"). */
void dfs_http_failure_explain(const char *why);
/* Retries the calling thread made since dfs_http_failure_clear(). */
unsigned dfs_http_retries(void);
void dfs_http_failure_clear(void);

/*
 * Sleep MS milliseconds (retry delays, polling intervals), less if the
 * calling thread's operation is cancelled meanwhile (dfs_http_cancelled):
 * 0 after the whole sleep, -EINTR after a cut-short one.
 */
int dfs_http_sleep_ms(long ms);

/* ---- deadlines, cancellation, throttling (what bounds an operation) ----
 *
 * An operation must neither hang nor outlive its caller.  Every transfer
 * and every wait of the calling thread's requests respects its deadline
 * (a transfer is cut there; a retry wait, Retry-After included, that would
 * pass it is not begun) and stops when the operation is cancelled -- the
 * program waiting for it was killed (the FUSE layer says, see
 * dfs_http_set_cancel_check) -- with -EINTR.  A tenant the server throttles
 * sends nothing until the Retry-After it was given has passed: its requests
 * meanwhile fail at once with a 429 of their own ("throttled until ...")
 * unless their deadline lets them wait.
 */

/*
 * Make DEADLINE (dfs_now() seconds) the calling thread's deadline, unless
 * the one in force is sooner: a nested request never extends its caller's.
 * Returns the deadline in force before (0: none), for
 * dfs_http_deadline_restore.
 */
double dfs_http_deadline_set(double deadline);
void dfs_http_deadline_restore(double prev);
/* Seconds left to the calling thread's deadline (may be <= 0), or
 * DFS_NO_DEADLINE without one. */
#define DFS_NO_DEADLINE 1e18
double dfs_http_deadline_left(void);

/*
 * FN (NULL: none) answers 1 when the operation the calling thread works
 * for is abandoned.  Set once by the FUSE layer; asked about once a second
 * during transfers and waits.
 */
void dfs_http_set_cancel_check(int (*fn)(void));
int dfs_http_cancelled(void);
/*
 * While HOLD is 1 the calling thread ignores cancellation (settling what
 * an interrupted write did, under a short deadline).  Returns the
 * previous value.
 */
int dfs_http_cancel_hold(int hold);

/* The wall-clock time until which HTTP's tenant is throttled, or 0. */
time_t dfs_http_throttled_until(struct dfs_http *http);

/* ---- retrying --------------------------------------------------------- */

/*
 * Logs the warning before retry number RETRY (1-based) of the request CTX
 * names, DELAY_MS from now; RESP is the failed attempt.  Each caller words
 * its own line.
 */
typedef void dfs_retry_warn_fn(void *ctx, const struct dfs_http_resp *resp, int retry,
			       long delay_ms);

/*
 * The retry policy of one request.  Only transient failures are retried:
 * 429 and 503 wait Retry-After (at most 300 s; without it, as below);
 * 502/503/504,
 * timeouts and broken connections back off exponentially (0.5 s doubling, at
 * most 30 s, plus up to a quarter of jitter).  Nothing else is: 400, 403,
 * 404 and 412 would get the same answer again, and 401 is for token renewal
 * (dfs_auth_reject).  The caller's loop:
 *
 *	struct dfs_retry retry = DFS_RETRY_INIT(max_retries, warn, ctx);
 *
 *	for (;;) {
 *		ret = dfs_http_perform(http, &req, resp);
 *		if (ret == 0 && resp->status < 400)
 *			break;
 *		if (!dfs_retry_again(&retry, resp))
 *			break;
 *	}
 */
struct dfs_retry {
	int max;                 /* retries after the first attempt */
	int done;                /* retries made so far */
	dfs_retry_warn_fn *warn; /* NULL: retry silently */
	void *ctx;               /* for warn */
	time_t past_deadline;    /* out: not retried because the wait would end then (wall clock) */
	int cancelled;           /* out: not retried (or the wait cut short): cancelled */
	char why[96];            /* out: with past_deadline, "wait until <UTC> asked: past op_timeout" */
};

#define DFS_RETRY_INIT(max_retries, warn_fn, warn_ctx) \
	{ .max = (max_retries), .done = 0, .warn = (warn_fn), .ctx = (warn_ctx) }

/*
 * After a failed attempt that left RESP (a response with a status, or a
 * transport failure with resp->curl_code): should the request be sent
 * again?  Yes: the warning is logged, the delay slept, the retry counted,
 * and 1 is returned.  No (not transient, R->max retries made, the wait
 * would pass the thread's deadline: R->past_deadline, or the operation is
 * cancelled: R->cancelled): 0, at once.
 */
int dfs_retry_again(struct dfs_retry *r, const struct dfs_http_resp *resp);

/*
 * As dfs_retry_again for a failure the caller has found out was not carried
 * out (a write it read back): yes whatever the failure was, while R->max
 * retries are not used up.  1 or 0.
 */
int dfs_retry_resend(struct dfs_retry *r, const struct dfs_http_resp *resp);


/* Percent-encode S for a query string or form body (malloc'd). */
char *dfs_http_escape(const char *s);

#endif
