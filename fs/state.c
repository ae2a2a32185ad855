/* state.c - files dynfs keeps for the user (see state.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"

char *dfs_state_path(const char *fmt, ...)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char *tail = NULL, *path = NULL;
	va_list ap;
	int n;

	/* The XDG base directory spec: a relative path is invalid, ignore it. */
	if (!(xdg && xdg[0] == '/') && !(home && home[0] == '/'))
		return NULL;
	va_start(ap, fmt);
	n = vasprintf(&tail, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	if (xdg && xdg[0] == '/')
		n = asprintf(&path, "%s/dynfs/%s", xdg, tail);
	else
		n = asprintf(&path, "%s/.local/state/dynfs/%s", home, tail);
	free(tail);
	return n < 0 ? NULL : path;
}

int dfs_mkdirs(const char *dir)
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

int dfs_write_private(const char *path, const char *data, size_t len, const char **step)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 16], *slash;
	const char *dummy;
	int fd = -1, dfd = -1, ret;

	if (!step)
		step = &dummy;
	*step = "name";
	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir) ||
	    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	*step = "create the directory of";
	if ((ret = dfs_mkdirs(dir)) < 0)
		return ret;

	/* mkostemp creates the file 0600: never readable by others, not even
	 * for a moment. */
	*step = "create";
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0)
		goto fail_errno;
	*step = "write";
	if ((ret = write_all(fd, data, len)) < 0)
		goto fail;
	*step = "fsync";
	if (fsync(fd) != 0)
		goto fail_errno;
	ret = close(fd);
	fd = -1;
	if (ret != 0)
		goto fail_errno;
	*step = "rename";
	if (rename(tmp, path) != 0)
		goto fail_errno;
	tmp[0] = '\0';
	/* The rename itself is only durable once the directory is. */
	*step = "fsync the directory of";
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(dfd) != 0)
		goto fail_errno;
	ret = 0;
	goto out;

fail_errno:
	ret = -errno;
fail:
	if (fd >= 0)
		close(fd);
	if (tmp[0])
		unlink(tmp);
out:
	if (dfd >= 0)
		close(dfd);
	return ret;
}
