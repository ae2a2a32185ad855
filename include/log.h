/* log.h - one logger for the whole driver.
 *
 * Lines go to stderr while dynfs runs in the foreground (-f, -d, start-up) and
 * to syslog (ident "dynfs", facility daemon) once it has daemonised.  The level
 * is checked before anything is formatted, so debug lines cost nothing when
 * disabled.  Messages are lowercase, quote their subject and carry no trailing
 * period, git style: "accounts: list page 2 failed: 0x80060888 'Could not ...'".
 *
 * Secrets (client secrets, tokens, refresh tokens) are never passed to dfs_log.
 */
#ifndef DFS_LOG_H
#define DFS_LOG_H

enum dfs_log_level {
	DFS_LOG_NONE = -1,      /* nothing at all (`dynfs --check` prints its own lines) */
	DFS_LOG_ERR = 0,
	DFS_LOG_WARN,
	DFS_LOG_INFO,
	DFS_LOG_DEBUG,
};

/* The names of the levels, indexed by enum dfs_log_level and ending in NULL:
 * "error", "warn", "info", "debug".  log_level in dynfs.ini takes these. */
extern const char *const dfs_log_level_names[];

/* Set the threshold; lines above it are dropped. Default DFS_LOG_WARN. */
void dfs_log_set_level(enum dfs_log_level level);
enum dfs_log_level dfs_log_get_level(void);

/* The level called NAME (one of dfs_log_level_names); returns -EINVAL if unknown. */
int dfs_log_parse_level(const char *name);

/* Switch from stderr to syslog (called right after fuse_daemonize). */
void dfs_log_to_syslog(void);
/* SIGHUP: reconnect to syslog (a restarted journald or syslogd). */
void dfs_log_reopen(void);

void dfs_log(enum dfs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define dfs_err(...)   dfs_log(DFS_LOG_ERR, __VA_ARGS__)
#define dfs_warn(...)  dfs_log(DFS_LOG_WARN, __VA_ARGS__)
#define dfs_info(...)  dfs_log(DFS_LOG_INFO, __VA_ARGS__)
#define dfs_debug(...) dfs_log(DFS_LOG_DEBUG, __VA_ARGS__)

#endif
