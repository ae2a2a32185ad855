/* tls.c - TLS failures in plain words (see include/tls.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tls.h"
#include "banned.h"

/* OpenSSL's X509_V_ERR_* values (x509_vfy.h), as CURLINFO_SSL_VERIFYRESULT
 * reports them; spelt out so that only libcurl's header is needed. */
enum {
	V_UNABLE_TO_GET_ISSUER_CERT = 2,
	V_CERT_NOT_YET_VALID = 9,
	V_CERT_HAS_EXPIRED = 10,
	V_DEPTH_ZERO_SELF_SIGNED_CERT = 18,
	V_SELF_SIGNED_CERT_IN_CHAIN = 19,
	V_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20,
	V_UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21,
	V_CERT_REVOKED = 23,
	V_HOSTNAME_MISMATCH = 62,
	V_IP_ADDRESS_MISMATCH = 64,
};

enum cause { C_OTHER, C_EXPIRED, C_NOT_YET_VALID, C_UNTRUSTED, C_OTHER_HOST, C_REVOKED };

static const char *const cause_words[] = {
	[C_OTHER] = "the TLS handshake with the server failed",
	[C_EXPIRED] = "the server's certificate has expired: it must be renewed on the "
		      "server, or this machine's clock is wrong",
	[C_NOT_YET_VALID] = "the server's certificate is not valid yet: is this "
			    "machine's clock right?",
	[C_UNTRUSTED] = "the server's certificate is not signed by a trusted CA (ca_file?): "
			"name the CA that signed it, or a TLS-inspecting proxy's, in ca_file",
	[C_OTHER_HOST] = "the server's certificate is for another host: check url, and any "
			 "proxy or DNS entry in between",
	[C_REVOKED] = "the server's certificate has been revoked",
};

static enum cause from_verify_result(long v)
{
	switch (v) {
	case V_CERT_HAS_EXPIRED:
		return C_EXPIRED;
	case V_CERT_NOT_YET_VALID:
		return C_NOT_YET_VALID;
	case V_UNABLE_TO_GET_ISSUER_CERT:
	case V_DEPTH_ZERO_SELF_SIGNED_CERT:
	case V_SELF_SIGNED_CERT_IN_CHAIN:
	case V_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case V_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return C_UNTRUSTED;
	case V_CERT_REVOKED:
		return C_REVOKED;
	case V_HOSTNAME_MISMATCH:
	case V_IP_ADDRESS_MISMATCH:
		return C_OTHER_HOST;
	default:
		return C_OTHER;
	}
}

/* libcurl checks the host name itself with OpenSSL (the verify result stays
 * 0), and other TLS libraries keep no X509_V_ERR numbers: read its text. */
static enum cause from_text(const char *e)
{
	if (strstr(e, "target host name") || strstr(e, "does not match"))
		return C_OTHER_HOST;
	if (strstr(e, "expired"))
		return C_EXPIRED;
	if (strstr(e, "not yet valid") || strstr(e, "not activated"))
		return C_NOT_YET_VALID;
	if (strstr(e, "issuer") || strstr(e, "self-signed") || strstr(e, "self signed") ||
	    strstr(e, "not trusted") || strstr(e, "unknown CA"))
		return C_UNTRUSTED;
	if (strstr(e, "revoked"))
		return C_REVOKED;
	return C_OTHER;
}

/*
 * An https transfer that timed out before its TLS handshake finished: 1 when
 * the TCP connection is known to be up (libcurl recorded its time), 2 when
 * that is not known (libcurl 7.88 records it only once TLS is up too), else 0.
 */
static int handshake_unfinished(CURL *h)
{
	curl_off_t tcp = 0, app = 0, pre = 0;
	char *scheme = NULL;
	long port = 0;

	if (curl_easy_getinfo(h, CURLINFO_SCHEME, &scheme) != CURLE_OK || !scheme ||
	    strcasecmp(scheme, "https") != 0)
		return 0;
	/* A kept-alive connection has no connect times of its own: that the
	 * request never started going out is what says it is not one. */
	if (curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pre) != CURLE_OK || pre > 0)
		return 0;
	if (curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &tcp) != CURLE_OK ||
	    curl_easy_getinfo(h, CURLINFO_APPCONNECT_TIME_T, &app) != CURLE_OK || app > 0)
		return 0;
	if (tcp > 0)
		return 1;
	/* A socket was opened: the time went into connecting, not resolving. */
	if (curl_easy_getinfo(h, CURLINFO_LOCAL_PORT, &port) == CURLE_OK && port > 0)
		return 2;
	return 0;
}

int dfs_tls_failed(CURL *h, CURLcode rc)
{
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
		return 1;
	case CURLE_OPERATION_TIMEDOUT:
		return handshake_unfinished(h);
	default:
		return 0;
	}
}

void dfs_tls_describe(CURL *h, CURLcode rc, const char *errbuf,
		      const struct dfs_tls_limits *lim, char *msg, size_t cap)
{
	const char *curl_text = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc);
	long verify = 0;
	enum cause c;

	if (rc == CURLE_OPERATION_TIMEDOUT) {
		/* libcurl's connect timeout covers the handshake; the attempt's
		 * own limit may be shorter (what is left of op_timeout). */
		int by_connect = lim->connect_timeout * 1000 <= lim->timeout_ms;

		snprintf(msg, cap, "%s within %s (%ld s) (curl: %s)",
			 handshake_unfinished(h) == 1
			 ? "the server accepted the connection but did not complete the TLS handshake"
			 : "no TLS connection: the server did not complete the TCP connection or "
			   "the TLS handshake",
			 by_connect ? "connect_timeout" : lim->op_deadline ? "op_timeout"
			 : "timeout", by_connect ? lim->connect_timeout
			 : (lim->timeout_ms + 999) / 1000, curl_text);
		return;
	}
	if (curl_easy_getinfo(h, CURLINFO_SSL_VERIFYRESULT, &verify) != CURLE_OK)
		verify = 0;
	c = from_verify_result(verify);
	if (c == C_OTHER)
		c = from_text(curl_text);
	snprintf(msg, cap, "%s (curl: %s)", cause_words[c], curl_text);
}
