/* retry.c - what bounds a request: whether and when to send it again (the
 * retry policy every request shares), the calling thread's deadline, and
 * the cancellation of an operation whose caller is gone (see the second
 * half of include/http.h).  The transport itself is http.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "http.h"
#include "banned.h"

#define RETRY_AFTER_MAX 300  /* never sleep longer than this on one 429 */
#define BACKOFF_BASE_MS 500
#define BACKOFF_CAP_MS 30000
#define SLEEP_SLICE_MS 100   /* how soon a cut-short wait notices a cancelled operation */

/* What bounds the calling thread's requests (see http.h). */
static __thread double thread_deadline;  /* dfs_now() seconds, 0: none */
static __thread int cancel_held;
static int (*cancel_check)(void);

double dfs_http_deadline_set(double deadline)
{
	double prev = thread_deadline;

	if (!prev || deadline < prev)
		thread_deadline = deadline;
	return prev;
}

void dfs_http_deadline_restore(double prev)
{
	thread_deadline = prev;
}

double dfs_http_deadline_left(void)
{
	return thread_deadline ? thread_deadline - dfs_now() : DFS_NO_DEADLINE;
}

void dfs_http_set_cancel_check(int (*fn)(void))
{
	cancel_check = fn;
}

int dfs_http_cancelled(void)
{
	return !cancel_held && cancel_check && cancel_check();
}

int dfs_http_cancel_hold(int hold)
{
	int prev = cancel_held;

	cancel_held = hold;
	return prev;
}

int dfs_http_may_have_applied(const struct dfs_http_resp *resp)
{
	if (resp->status)
		return resp->status == 502 || resp->status == 504 ||
		       (resp->status >= 300 && resp->status < 400 && resp->status != 304);
	if (!resp->sent)
		return 0;
	switch (resp->curl_code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_OUT_OF_MEMORY:
		return 0;
	default:
		return 1;
	}
}

/* Is RESP a failure that may well go away by itself? */
static int is_transient(const struct dfs_http_resp *resp)
{
	if (resp->status)
		return resp->status == 429 || resp->status == 502 || resp->status == 503 ||
		       resp->status == 504;
	switch (resp->curl_code) {
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

/* Milliseconds to wait before retry number DONE + 1 of a transient failure. */
static long retry_delay_ms(const struct dfs_http_resp *resp, int done)
{
	long ms;

	/* The server says when it will take us again: believe it (within reason). */
	if ((resp->status == 429 || resp->status == 503) && resp->retry_after >= 0)
		return (resp->retry_after > RETRY_AFTER_MAX ? RETRY_AFTER_MAX
							    : resp->retry_after) * 1000L;
	ms = BACKOFF_BASE_MS << (done < 10 ? done : 10);
	if (ms > BACKOFF_CAP_MS)
		ms = BACKOFF_CAP_MS;
	/* Jitter keeps a tenant's threads from retrying in lock step. */
	ms += random() % (ms / 4 + 1);
	return ms;
}

int dfs_retry_again(struct dfs_retry *r, const struct dfs_http_resp *resp)
{
	if (!is_transient(resp))
		return 0;
	return dfs_retry_resend(r, resp);
}

int dfs_retry_resend(struct dfs_retry *r, const struct dfs_http_resp *resp)
{
	double left = dfs_http_deadline_left();
	long ms;

	if (dfs_http_cancelled()) {
		r->cancelled = 1;
		return 0;
	}
	if (r->done >= r->max)
		return 0;
	ms = retry_delay_ms(resp, r->done);
	/* A wait that ends after the deadline only delays the failure. */
	if (left <= 0 || (double)ms / 1000 >= left) {
		char when[32];

		r->past_deadline = time(NULL) + (ms + 999) / 1000;
		dfs_utc_text(r->past_deadline, when, sizeof(when));
		snprintf(r->why, sizeof(r->why), "%s until %s: past op_timeout",
			 resp->status == 429 || resp->status == 503 ? "the server asks to wait"
								    : "the next try would be", when);
		return 0;
	}
	r->done++;
	if (resp->http)
		dfs_http_count_retry(resp->http);
	if (r->warn)
		r->warn(r->ctx, resp, r->done, ms);
	if (dfs_http_sleep_ms(ms) < 0) {
		r->cancelled = 1;
		return 0;
	}
	return 1;
}

int dfs_http_sleep_ms(long ms)
{
	double end = dfs_now() + (double)ms / 1000;
	struct timespec ts;
	double left;

	/* In slices, so that a cancelled operation stops waiting. */
	while ((left = end - dfs_now()) > 0) {
		if (dfs_http_cancelled())
			return -EINTR;
		if (left > SLEEP_SLICE_MS / 1000.0)
			left = SLEEP_SLICE_MS / 1000.0;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
	return 0;
}

