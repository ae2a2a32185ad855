/* state.c - files dynfs keeps for the user: paths, private atomic writes and
 * rescue copies of failed saves (see state.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "state.h"
#include "util.h"
#include "banned.h"

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

char *dfs_cache_dir(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *path = NULL;
	int n;

	if (xdg && xdg[0] == '/')
		n = asprintf(&path, "%s/dynfs", xdg);
	else if (home && home[0] == '/')
		n = asprintf(&path, "%s/.cache/dynfs", home);
	else
		n = asprintf(&path, "/tmp/dynfs-%u/cache", (unsigned)getuid());
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

/* Is NAME one of dfs_write_private's temporary files: DFS_TMP_MARK and
 * mkostemp's six letters and digits? */
static int is_tmp_name(const char *name)
{
	const char *x = name + strlen(DFS_TMP_MARK);

	if (strncmp(name, DFS_TMP_MARK, strlen(DFS_TMP_MARK)) != 0 || strlen(x) != 6)
		return 0;
	for (; *x; x++)
		if (!((*x >= 'a' && *x <= 'z') || (*x >= 'A' && *x <= 'Z') || (*x >= '0' && *x <= '9')))
			return 0;
	return 1;
}

/*
 * Remove what a dfs_write_private killed between its create and its
 * rename left in DIR.  Only names with the mark, only regular files, only
 * old ones: another process may be writing one right now.
 */
static void sweep_tmp(const char *dir)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int dfd;

	if (!(d = opendir(dir)))
		return;
	dfd = dirfd(d);
	while ((de = readdir(d)))
		if (is_tmp_name(de->d_name) &&
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    time(NULL) - st.st_mtime > DFS_STALE_TMP_S &&
		    unlinkat(dfd, de->d_name, 0) == 0)
			dfs_info("removed %s/%s, left by a write that was cut short", dir, de->d_name);
	closedir(d);
}

int dfs_write_private(const char *path, const char *data, size_t len, const char **step)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 32], *slash;
	const char *dummy;
	int fd = -1, dfd = -1, ret;

	if (!step)
		step = &dummy;
	*step = "name";
	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	/* A name of its own, not PATH's with a suffix: as long as any name. */
	if (snprintf(tmp, sizeof(tmp), "%s/" DFS_TMP_MARK "XXXXXX", dir) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
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
	sweep_tmp(dir);
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

/*
 * Rescued records may hold personal data: private, under the user's state
 * directory, or a private one in /tmp for a daemon without HOME.  A leading
 * dot is dropped so the copy is not hidden (rsync's .f.json.XXXXXX).
 */
int dfs_state_rescue(const char *tenant, const char *set, const char *name, const char *data,
		     size_t len, const char *why, char *where, size_t cap)
{
	char stamp[32], *dir, *text = NULL, *errpath = NULL;
	const char *shown = name;
	struct timespec now;
	struct tm tm;
	int ret, n, stem;

	while (*name == '.')
		name++;
	stem = (int)strlen(name) - (dfs_has_suffix(name, ".json") ? 5 : 0);
	dir = dfs_state_path("rescue/%s/%s", tenant, set);
	if (!dir && asprintf(&dir, "/tmp/dynfs-%u/rescue/%s/%s", (unsigned)getuid(), tenant,
			     set) < 0)
		return -ENOMEM;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	n = snprintf(where, cap, "%s/%.*s.%s.%03ldZ.json", dir, stem, name,
		     stamp, now.tv_nsec / 1000000);
	free(dir);
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	if ((ret = dfs_write_private(where, data, len, NULL)) < 0)
		return ret;
	if (asprintf(&errpath, "%.*s.error", (int)(strlen(where) - 5), where) < 0)
		errpath = NULL;
	if (asprintf(&text, "%s/%s/%s: %s\n", tenant, set, shown, why) < 0)
		text = NULL;
	ret = errpath && text ? dfs_write_private(errpath, text, strlen(text), NULL) : -ENOMEM;
	free(errpath);
	free(text);
	return ret;
}

char *dfs_state_config_file(void)
{
	const char *env = getenv("DYNFS_CONFIG");
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char *path = NULL;

	/* An explicit $DYNFS_CONFIG wins even if missing: loading it says why. */
	if (env && *env)
		return strdup(env);
	if (xdg && xdg[0] == '/') {
		if (asprintf(&path, "%s/dynfs/dynfs.ini", xdg) < 0)
			return NULL;
	} else if (home && *home) {
		if (asprintf(&path, "%s/.config/dynfs/dynfs.ini", home) < 0)
			return NULL;
	}
	if (path && access(path, F_OK) == 0)
		return path;
	free(path);
	if (access("/etc/dynfs.ini", F_OK) == 0)
		return strdup("/etc/dynfs.ini");
	return NULL;
}
