/* notify.h - tell the kernel that what it keeps of a record file is out of
 * date.
 *
 * The kernel keeps a file's attributes (size, mtime) for attr_timeout, so a
 * walk over a listed folder (ls -l, find -ls, du) costs no call into dynfs.
 * Whenever dynfs learns that a record the kernel may know changed or went
 * (a save, a refresh, a fetch), the set's cache calls dfs_notify_record and
 * the record's path is queued; one thread of its own tells the kernel
 * (fuse_lowlevel_notify_inval_inode), because a FUSE worker that did it itself could
 * wait for the page of a file whose read waits for that worker.  An
 * operation that changed the cache calls dfs_notify_sync before it answers,
 * so a `stat` after a save or a refresh already sees the new size.
 */
#ifndef DFS_NOTIFY_H
#define DFS_NOTIFY_H

struct fuse_session;
struct dfs_cache;

/* Start the thread for session SE (at init); until then, and without it, the
 * calls below do nothing.  0 or a negative errno. */
int dfs_notify_start(struct fuse_session *se);
/* Tell the kernel what is queued, then stop the thread (at destroy). */
void dfs_notify_stop(void);
/* Record ID of folder TENANT/SET has other attributes now, or is gone:
 * have the cache C report its changes here. */
int dfs_notify_watch(struct dfs_cache *c, const char *tenant, const char *set);
/* Queue the record file PREFIX<id>.json (a dfs_cache_changed_fn). */
void dfs_notify_record(const char *prefix, const char *id);
/* Wait until what was queued before the call is told to the kernel (at
 * most a second: a kernel that does not take it is not waited for). */
void dfs_notify_sync(void);

/*
 * Every write to the FUSE device from a thread of dynfs's own (here and in
 * elsewhere) goes between dfs_kernel_enter, 0 if it may go on, and
 * dfs_kernel_leave.  dfs_kernel_close, once the FUSE loop has ended and
 * before the unmount closes the device, lets none start and waits (2 s at
 * most) for one in progress: after that close the device's descriptor
 * number may be another file's.
 */
int dfs_kernel_enter(void);
void dfs_kernel_leave(void);
void dfs_kernel_close(void);

#endif
