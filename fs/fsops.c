/* fsops.c - the FUSE operations table, init and statfs.
 *
 * The operations themselves live by kind in ops_*.c (see ops.h); what they
 * stand on is in tree.c, content.c, save.c, draft.c and local.c, which do
 * not see FUSE.  SEMANTICS.md is the user-facing account.
 */
#include <string.h>
#include <sys/statvfs.h>

#include "fsops.h"
#include "http.h"
#include "lowlevel.h"
#include "notify.h"
#include "ops.h"
#include "util.h"
#include "banned.h"

struct dfs_fs *dfs_ops_fs(void)
{
	return dfs_ll_private();
}

static int dfs_op_statfs(const char *path, struct statvfs *sv)
{
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = 4096;
	sv->f_frsize = 4096;
	sv->f_namemax = 255;
	return 0;
}

/*
 * Has the caller of the calling thread's operation been killed?  The kernel
 * sends FUSE an interrupt for any signal to a process blocked in it; only
 * one that ends the process ends the operation (http.h: the transfer or
 * wait stops with -EINTR).  An editor that catches SIGWINCH mid-save keeps
 * its save.  Polled, so libfuse's `intr` signals are not needed.
 */
static int caller_gone(void)
{
	return dfs_ll_interrupted() && dfs_pid_dying((int)dfs_ll_caller_pid());
}

/*
 * The kernel keeps names and attributes for a second (lowlevel.c), so a
 * walk over a listed folder (ls -l, find -ls, du) is answered by the
 * kernel, as on any filesystem.  It is told at once when a record it may
 * know changes or goes (notify.h): a stat after a save or a refresh sees
 * the new size, and a read is never cut short by an old one.  Names that
 * are not there are not kept: a new record is visible at once.  Unlink and
 * rename mean what they say, and operations on an open file go by its
 * handle (lowlevel.h).
 */
static void *dfs_op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)cfg;
	/* O_TRUNC arrives with open(), so a truncating open is one edit. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	dfs_http_set_cancel_check(caller_gone);
	dfs_notify_start(dfs_ll_session());
	return dfs_ops_fs();
}

static void dfs_op_destroy(void *private_data)
{
	(void)private_data;
	dfs_notify_stop();
}

const struct fuse_operations dfs_fs_operations = {
	.init = dfs_op_init,
	.destroy = dfs_op_destroy,
	.getattr = dfs_op_getattr,
	.opendir = dfs_op_opendir,
	.readdir = dfs_op_readdir,
	.releasedir = dfs_op_releasedir,
	.open = dfs_op_open,
	.create = dfs_op_create,
	.read = dfs_op_read,
	.write = dfs_op_write,
	.flush = dfs_op_flush,
	.fsync = dfs_op_fsync,
	.release = dfs_op_release,
	.truncate = dfs_op_truncate,
	.unlink = dfs_op_unlink,
	.rename = dfs_op_rename,
	.symlink = dfs_op_symlink,
	.readlink = dfs_op_readlink,
	.link = dfs_op_link,
	.mkdir = dfs_op_mkdir,
	.rmdir = dfs_op_rmdir,
	.chmod = dfs_op_chmod,
	.chown = dfs_op_chown,
	.utimens = dfs_op_utimens,
	.getxattr = dfs_op_getxattr,
	.listxattr = dfs_op_listxattr,
	.setxattr = dfs_op_setxattr,
	.statfs = dfs_op_statfs,
};
