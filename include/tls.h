/* tls.h - what went wrong in a TLS handshake, in words a user can act on
 * (fs/tls.c).
 *
 * libcurl says "SSL certificate problem: unable to get local issuer
 * certificate"; a user needs to hear "not signed by a trusted CA (ca_file?)".
 * The cause is read from the certificate verification result libcurl keeps
 * (CURLINFO_SSL_VERIFYRESULT, OpenSSL's X509_V_ERR_* numbers) and, for the
 * host name check libcurl makes itself or a TLS library without such numbers,
 * from its error text.  Verification is never weakened here: this only names
 * the failure.
 */
#ifndef DFS_TLS_H
#define DFS_TLS_H

#include <stddef.h>
#include <curl/curl.h>

/* The limits a transfer ran under, to name the one a stalled handshake hit. */
struct dfs_tls_limits {
	long connect_timeout;    /* seconds: connect_timeout (TCP and TLS set-up) */
	long timeout_ms;         /* this attempt's limit (op_timeout's share, or timeout) */
	int op_deadline;         /* timeout_ms comes from op_timeout's deadline */
};

/* Did the transfer on H end with result RC in TLS: a certificate that failed
 * verification, a failed handshake, or a handshake that never finished? */
int dfs_tls_failed(CURL *h, CURLcode rc);

/* Say why into MSG (CAP bytes): the cause in plain words, what to check, and
 * libcurl's own text ERRBUF (or its strerror) in parentheses. */
void dfs_tls_describe(CURL *h, CURLcode rc, const char *errbuf,
		      const struct dfs_tls_limits *lim, char *msg, size_t cap);

#endif
