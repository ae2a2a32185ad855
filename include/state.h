/* state.h - files dynfs keeps for the user: $XDG_STATE_HOME/dynfs/.
 *
 * The token store and the rescue copies of failed saves live there.  Both
 * may hold secrets or personal data, so directories are created 0700 and
 * files 0600, and files are replaced atomically: a crash at any moment
 * leaves the old or the new content, never a torn file.
 */
#ifndef DFS_STATE_H
#define DFS_STATE_H

#include <stddef.h>

/*
 * "$XDG_STATE_HOME/dynfs/<FMT...>", or "$HOME/.local/state/dynfs/<FMT...>"
 * when XDG_STATE_HOME is not an absolute path (malloc'd).  NULL when
 * neither variable is an absolute path, or out of memory.
 */
char *dfs_state_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Where cached data may wait on disk: "$XDG_CACHE_HOME/dynfs", else
 * "$HOME/.cache/dynfs", else "/tmp/dynfs-<uid>/cache" (malloc'd; NULL when
 * out of memory).
 */
char *dfs_cache_dir(void);

/* mkdir -p DIR; what it creates is mode 0700.  Returns 0 or -errno. */
int dfs_mkdirs(const char *dir);

/*
 * Replace PATH with DATA atomically: a 0600 temporary file beside it
 * (.dynfs-tmp.XXXXXX), fsync, rename, fsync of the directory.  Creates
 * PATH's directory.  Temporary files of the same directory that a killed
 * dynfs left behind (older than DFS_STALE_TMP_S) are removed after a write.
 * Returns 0 or -errno; *STEP (if given) then names the step that failed
 * ("create", "write", "rename"...), for the caller's message.
 */
int dfs_write_private(const char *path, const char *data, size_t len, const char **step);
#define DFS_TMP_MARK ".dynfs-tmp."     /* the start of a temporary file's name */
#define DFS_STALE_TMP_S 600

/*
 * Keep the user's bytes where they can find them, with the reason beside
 * them: <state>/rescue/<tenant>/<set>/<name without .json>.<UTC time>.json
 * and the same with .error instead of .json, holding WHY.  Writes the
 * rescue file's path into WHERE.  0 or -errno.
 */
int dfs_state_rescue(const char *tenant, const char *set, const char *name, const char *data,
		     size_t len, const char *why, char *where, size_t cap);

/*
 * The configuration file to use when none is named: $DYNFS_CONFIG (even if
 * missing: loading it says why), else $XDG_CONFIG_HOME/dynfs/dynfs.ini or
 * ~/.config/dynfs/dynfs.ini, else /etc/dynfs.ini if they exist.  A malloc'd
 * path, or NULL.
 */
char *dfs_state_config_file(void);

#endif
