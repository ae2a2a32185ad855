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

#include "tokenstore.h"

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
	cJSON *root = NULL, *rt;
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
	rt = cJSON_GetObjectItemCaseSensitive(root, "refresh_token");
	if (!cJSON_IsString(rt) || !rt->valuestring[0]) {
		ret = -EINVAL;
		snprintf(why, why_len, "token store %s holds no refresh token: sign in again with "
			 "'dynfs login'", path);
		goto out;
	}
	*token = strdup(rt->valuestring);
	ret = *token ? 0 : -ENOMEM;
	if (ret)
		snprintf(why, why_len, "out of memory");
out:
	rt = cJSON_GetObjectItemCaseSensitive(root, "refresh_token");
	if (cJSON_IsString(rt))
		explicit_bzero(rt->valuestring, strlen(rt->valuestring));
	cJSON_Delete(root);
	zero_free(buf, len);
	close(fd);
	return ret;
}

/* mkdir -p DIR with mode 0700 for what it creates. */
static int make_dirs(const char *dir)
{
	char buf[PATH_MAX], *p;

	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int write_all(int fd, const char *s, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

int dfs_token_store_save(const char *path, const char *token, char *why, size_t why_len)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 16], *slash, *text = NULL;
	cJSON *root = NULL;
	int fd = -1, dfd = -1, ret;
	const char *step = "write";

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir) ||
	    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		snprintf(why, why_len, "token store path too long");
		return -ENAMETOOLONG;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if ((ret = make_dirs(dir)) < 0) {
		snprintf(why, why_len, "cannot create directory %s for the token store: %s", dir,
			 strerror(-ret));
		return ret;
	}

	ret = -ENOMEM;
	if (!(root = cJSON_CreateObject()) ||
	    !cJSON_AddStringToObject(root, "refresh_token", token) ||
	    !cJSON_AddNumberToObject(root, "saved", (double)time(NULL)) ||
	    !(text = cJSON_Print(root)))
		goto fail;

	/* mkstemp creates the file 0600: the token is never readable by others,
	 * not even for a moment. */
	step = "create";
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		goto fail_errno;
	step = "write";
	if ((ret = write_all(fd, text, strlen(text))) < 0 || (ret = write_all(fd, "\n", 1)) < 0)
		goto fail;
	step = "fsync";
	if (fsync(fd) != 0)
		goto fail_errno;
	if (close(fd) != 0) {
		fd = -1;
		goto fail_errno;
	}
	fd = -1;
	step = "rename";
	if (rename(tmp, path) != 0)
		goto fail_errno;
	tmp[0] = '\0';
	/* The rename itself is only durable once the directory is. */
	step = "fsync the directory of";
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(dfd) != 0)
		goto fail_errno;
	ret = 0;
	goto out;

fail_errno:
	ret = -errno;
fail:
	snprintf(why, why_len, "cannot %s token store %s: %s", step, path, strerror(-ret));
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (tmp[0] && ret < 0)
		unlink(tmp);
	if (text)
		zero_free(text, strlen(text));
	if (root) {
		cJSON *rt = cJSON_GetObjectItemCaseSensitive(root, "refresh_token");

		if (cJSON_IsString(rt))
			explicit_bzero(rt->valuestring, strlen(rt->valuestring));
	}
	cJSON_Delete(root);
	return ret;
}
