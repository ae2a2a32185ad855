/* forget.h - keep the number of record names the kernel holds bounded.
 *
 * Every name the kernel looks up (a stat, an open, a readdirplus entry)
 * becomes a node in libfuse, about 270 bytes with its name and hash slots,
 * and a dentry and inode in the kernel; neither is let go until the kernel
 * forgets the name, which on a machine with free memory is never.  A walk
 * over a folder of 200,000 records would leave 200,000 of each behind.
 *
 * So dynfs remembers the last KEEP (kernel_names) record names it handed
 * to the kernel, and asks the kernel to drop each older one
 * (fuse_lowlevel_notify_inval_entry), from a thread of its own: the kernel
 * then forgets the name once nothing uses it, and libfuse frees its node.
 * A name dropped this way is looked up again when next used, with no
 * request to the server; an open file keeps working; inode numbers are
 * dynfs's own (util.h), so it is the same file to cp, tar and rsync.  Only
 * record names (<id>.json) are counted: they are what a folder holds by the
 * hundred thousand.
 *
 * What is counted is each time the kernel is given a name, not each name:
 * a name used again is counted again, and its older count may drop it
 * while it is in use (it is then looked up again, still with no request).
 * libfuse 3.14 to 3.18 also keep one node per readdirplus reply that the
 * kernel never hears of (fill_dir_plus looks an entry up before it knows
 * it fits): a few hundred bytes per folder read, not bounded here.
 */
#ifndef DFS_FORGET_H
#define DFS_FORGET_H

#include <stdint.h>

struct fuse;
struct dfs_tenant;
struct dfs_set;

/* Start the thread (at init) for FUSE, mounted on MOUNTPOINT, to keep KEEP
 * names; until then, and without it (KEEP 0: no bound), dfs_forget_seen
 * does nothing.  0 or a negative errno. */
int dfs_forget_start(struct fuse *fuse, const char *mountpoint, unsigned keep);
/* Stop the thread (at destroy). */
void dfs_forget_stop(void);
/* The kernel was just given record ID16 (dfs_guid_pack'd) of set S of
 * tenant T.  Never blocks on the thread. */
void dfs_forget_seen(const struct dfs_tenant *t, const struct dfs_set *s, const uint8_t id16[16]);
/* Since the mount (.status kernel_names). */
struct dfs_forget_counts {
	uint64_t held;           /* names the kernel may hold now (at most KEEP and a
				    batch: forget.c) */
	uint64_t dropped;        /* names the kernel was asked to drop */
	uint64_t not_held;       /* ... that it no longer held */
	uint64_t skipped;        /* names the thread fell too far behind to drop */
	int running;             /* names are being dropped (kernel_names > 0, the thread
				    started, the mount's node ids can be had) */
};
void dfs_forget_counts(struct dfs_forget_counts *c);

#endif
