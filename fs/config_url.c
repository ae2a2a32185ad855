/* config_url.c - what a URL in dynfs.ini may be (see config_keys.h):
 * read with libcurl's URL API, the one parser that will later use it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>

#include "config_keys.h"
#include "banned.h"

int dfs_config_url_problem(const char *url, char *why, size_t cap)
{
	char *scheme = NULL, *host = NULL, *path = NULL, *part = NULL;
	char shown_host[128], shown_path[128];
	const char *extra = NULL;
	CURLU *u = curl_url();
	int ret = -ENOENT;

	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host ||
	    (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0))
		goto out;
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK)
		extra = "a user name or password (not shown): credentials go in the secret and "
			"password keys, never in a URL";
	else if (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK)
		extra = "a query (?..., not shown)";
	else if (curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK)
		extra = "a fragment (#..., not shown)";
	ret = 0;
	if (extra) {
		snprintf(why, cap, "'%s://%s%s' carries %s", scheme, dfs_printable(host, (size_t)-1, shown_host, sizeof(shown_host)),
			 path && strcmp(path, "/") ? dfs_printable(path, (size_t)-1, shown_path, sizeof(shown_path)) : "", extra);
		ret = -EINVAL;
	}
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(path);
	curl_free(part);
	curl_url_cleanup(u);
	return ret;
}

