/* tokenstore.c - atomic, private refresh-token files (see include/tokenstore.h).
 *
 * File format: {"refresh_token": "...", "saved": <unix time>}.  JSON leaves
 * room for more fields without a format change.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "jsonmember.h"
#include "state.h"
#include "tokenstore.h"
#include "banned.h"

#define STORE_MAX (256 * 1024)   /* a refresh token is a few KB */

static void zero_free(char *s, size_t n)
{
	if (s) {
		explicit_bzero(s, n);
		free(s);
	}
}

int dfs_token_store_load(const char *path, char **token, char *why, size_t why_len)
{
	struct stat sb;
	char *buf = NULL;
	cJSON *root = NULL;
	const char *rt;
	ssize_t n;
	size_t len = 0;
	int fd, ret;

	*token = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			snprintf(why, why_len, "no refresh token yet (%s does not exist): sign in "
				 "with 'dynfs login'", path);
		else
			snprintf(why, why_len, "cannot read token store %s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		ret = S_ISREG(sb.st_mode) ? -errno : -EINVAL;
		snprintf(why, why_len, "token store %s is not a regular file", path);
		goto out;
	}
	if (sb.st_mode & 077) {
		ret = -EACCES;
		snprintf(why, why_len, "token store %s is accessible by group or others (mode "
			 "%04o): run 'chmod 600 %s', and sign in again if others may have read it",
			 path, (unsigned)(sb.st_mode & 07777), path);
		goto out;
	}
	if (sb.st_size > STORE_MAX || !(buf = malloc((size_t)sb.st_size + 1))) {
		ret = sb.st_size > STORE_MAX ? -EFBIG : -ENOMEM;
		snprintf(why, why_len, "token store %s: %s", path, strerror(-ret));
		goto out;
	}
	while (len < (size_t)sb.st_size && (n = read(fd, buf + len, (size_t)sb.st_size - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			snprintf(why, why_len, "cannot read token store %s: %s", path, strerror(-ret));
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	root = cJSON_ParseWithLength(buf, len);
	rt = dfs_cjson_str(root, "refresh_token");
	if (!rt || !rt[0]) {
		ret = -EINVAL;
		snprintf(why, why_len, "token store %s holds no refresh token: sign in again with "
			 "'dynfs login'", path);
		goto out;
	}
	*token = strdup(rt);
	ret = *token ? 0 : -ENOMEM;
	if (ret)
		snprintf(why, why_len, "out of memory");
out:
	dfs_cjson_zero(root, "refresh_token");
	cJSON_Delete(root);
	zero_free(buf, len);
	close(fd);
	return ret;
}

int dfs_token_store_save(const char *path, const char *token, char *why, size_t why_len)
{
	const char *step = "write";
	char *text = NULL;
	cJSON *root;
	int ret = -ENOMEM;

	if ((root = cJSON_CreateObject()) &&
	    cJSON_AddStringToObject(root, "refresh_token", token) &&
	    cJSON_AddNumberToObject(root, "saved", (double)time(NULL)) &&
	    (text = cJSON_Print(root)))
		ret = dfs_write_private(path, text, strlen(text), &step);
	if (ret < 0)
		snprintf(why, why_len, "cannot %s token store %s: %s", step, path, strerror(-ret));
	if (text)
		zero_free(text, strlen(text));
	dfs_cjson_zero(root, "refresh_token");
	cJSON_Delete(root);
	return ret;
}
