/* http_failure.c - the calling thread's last failed request and its retries
 * (see include/http_failure.h and dfs_http_last_failure in include/http.h).
 *
 * Thread-local: a FUSE operation runs on one thread from start to end, so
 * what its requests left here is what its log line reports, without a lock
 * and without another operation's failure slipping in.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "http_failure.h"
#include "banned.h"

static __thread struct dfs_http_failure last_failure;
static __thread int has_last_failure;
static __thread unsigned thread_retries;

void dfs_http_shown_path(const char *url, char *buf, size_t cap)
{
	const char *s = strstr(url, "://");
	size_t n;

	s = s ? s + 3 : url;
	n = strcspn(s, "?#");
	snprintf(buf, cap, "%.*s%s", (int)n, s, s[n] ? "?..." : "");
}

void dfs_http_failure_note(const struct dfs_http_req *req, const struct dfs_http_resp *resp,
			   struct dfs_http_failure *f)
{
	memset(f, 0, sizeof(*f));
	f->at = time(NULL);
	snprintf(f->method, sizeof(f->method), "%s", req->method);
	dfs_http_shown_path(req->url, f->path, sizeof(f->path));
	f->status = resp->status;
	memcpy(f->request_id, resp->request_id, sizeof(f->request_id));
	f->err = resp->err;
	last_failure = *f;
	has_last_failure = 1;
}

void dfs_http_failure_retried(void)
{
	thread_retries++;
}

const struct dfs_http_failure *dfs_http_last_failure(void)
{
	return has_last_failure ? &last_failure : NULL;
}

void dfs_http_failure_explain(const char *why)
{
	size_t used = strlen(last_failure.err.message);

	if (has_last_failure)
		snprintf(last_failure.err.message + used, sizeof(last_failure.err.message) - used,
			 "%s%s", used ? "; " : "", why);
}

unsigned dfs_http_retries(void)
{
	return thread_retries;
}

void dfs_http_failure_clear(void)
{
	has_last_failure = 0;
	thread_retries = 0;
}
