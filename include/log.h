/* log.h - one logger for the whole driver.
 *
 * Lines go to stderr while dynfs runs in the foreground (-f, -d, start-up) and
 * to syslog (ident "dynfs", facility daemon) once it has daemonised -- or,
 * with log_file set, to that file (dated, with pid and level), and to stderr
 * too until the mount is up, so a start-up failure shows where dynfs was
 * started.  The level is checked before anything is formatted, so debug lines
 * cost nothing when disabled.  Messages are lowercase, quote their subject and
 * carry no trailing period, git style: "accounts: list page 2 failed:
 * 0x80060888 'Could not ...'".
 *
 * One failed FUSE operation is one line (see dfs_log_op_begin); one HTTP
 * request is one debug line (http.c).  Secrets (client secrets, tokens,
 * refresh tokens, assertions, codes) and headers are never passed to dfs_log.
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

/* Send lines to the file PATH (appended, created 0640) from now on.
 * Returns 0 or a negative errno. */
int dfs_log_open_file(const char *path);
void dfs_log_close_file(void);
/* Mounted (right after fuse_daemonize): with a log file, stop copying lines
 * to stderr; else, in the background, switch from stderr to syslog. */
void dfs_log_mounted(int foreground);
/* SIGHUP: open the log file anew by its name (logrotate renamed the old
 * one), or reconnect to syslog (a restarted journald or syslogd).  Returns 0
 * or a negative errno (the old file is then kept). */
int dfs_log_reopen(void);

void dfs_log(enum dfs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * The FUSE operation this thread serves.  Between begin and end, error and
 * warning lines are gathered, not written: the lower layers say what they
 * know (why a save was refused, where the user's bytes were kept, a retry)
 * and the operation writes them once.  dfs_log_op_failed writes that one
 * line: FMT, then "; " and each gathered line, at LEVEL or a gathered more
 * severe one.  dfs_log_op_done (the operation succeeded, or failed with
 * nothing to say) writes each gathered line as it would have been.  Other
 * threads (start-up, SIGHUP, reader threads) write at once.
 */
void dfs_log_op_begin(void);
int dfs_log_in_op(void);
/* The most severe level gathered so far, DFS_LOG_NONE if nothing. */
enum dfs_log_level dfs_log_op_gathered(void);
void dfs_log_op_failed(enum dfs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void dfs_log_op_done(void);

#define dfs_err(...)   dfs_log(DFS_LOG_ERR, __VA_ARGS__)
#define dfs_warn(...)  dfs_log(DFS_LOG_WARN, __VA_ARGS__)
#define dfs_info(...)  dfs_log(DFS_LOG_INFO, __VA_ARGS__)
#define dfs_debug(...) dfs_log(DFS_LOG_DEBUG, __VA_ARGS__)

#endif
