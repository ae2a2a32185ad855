/* http_failure.h - inside the transport: what each thread remembers of its
 * last failed request, for the one log line of the FUSE operation it serves
 * (ops_mount.c reads it through http.h's dfs_http_last_failure).  Only
 * fs/http.c and fs/http_failure.c include it.
 */
#ifndef DFS_HTTP_FAILURE_H
#define DFS_HTTP_FAILURE_H

#include <stddef.h>

#include "http.h"

/* URL without scheme, query or fragment into BUF: what a log line or .status
 * shows ("host/path?..."), so that no query value (a code, a session) does. */
void dfs_http_shown_path(const char *url, char *buf, size_t cap);

/* REQ failed with RESP: fill F and make it the calling thread's last failure. */
void dfs_http_failure_note(const struct dfs_http_req *req, const struct dfs_http_resp *resp,
			   struct dfs_http_failure *f);

/* The calling thread retried a request (dfs_http_retries counts them). */
void dfs_http_failure_retried(void);

#endif
