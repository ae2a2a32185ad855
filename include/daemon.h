/* daemon.h - living as a system service: signals and systemd.
 *
 * SIGHUP refreshes instead of unmounting (libfuse's handler would end the
 * loop): a thread of its own waits for it with sigwait(), so the work
 * happens outside any signal handler -- folders are listed anew at their
 * next access, tokens renewed from freshly read secrets and token stores,
 * unhealthy tenants tried again, the log reopened.  SIGTERM and SIGINT stay
 * libfuse's: the loop ends, requests in flight (a save included) finish
 * and answer their callers, then dynfs unmounts.
 *
 * Readiness: when systemd started dynfs with Type=notify it sets
 * NOTIFY_SOCKET, and dynfs sends "READY=1" once mounted, "RELOADING=1"
 * around a refresh and "STOPPING=1" at the end (sd_notify(3)'s datagram
 * protocol, without libsystemd).
 */
#ifndef DFS_DAEMON_H
#define DFS_DAEMON_H

struct dfs_fs;

/*
 * Take NOTIFY_SOCKET out of the environment (commands that print secrets
 * must not inherit it) and remember it.  Call once, early.
 */
void dfs_notify_init(void);

/* Send STATE ("READY=1\nSTATUS=...") to systemd, if it asked; else nothing.
 * Returns 0 or a negative errno. */
int dfs_notify(const char *state);

/*
 * Block SIGHUP in the calling thread (and so in every thread created after)
 * and start the thread that refreshes FS on each one.  Call after
 * fuse_set_signal_handlers() and before the FUSE loop.  Returns 0 or a
 * negative errno.
 */
int dfs_signals_start(struct dfs_fs *fs);
void dfs_signals_stop(void);

#endif
