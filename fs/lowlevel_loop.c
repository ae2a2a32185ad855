/* lowlevel_loop.c - the multi-threaded session loop (see include/lowlevel.h).
 *
 * On its own, because it needs libfuse's 3.12 interface: the 3.1 one,
 * fuse_session_loop_mt(se, clone_fd), makes a loop configuration that it
 * never frees (libfuse 3.14), which the sanitizer build reports at every
 * unmount.  Nothing else here depends on the version.
 */
#undef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#include <errno.h>
#include <fuse_lowlevel.h>

#include "lowlevel.h"
#include "banned.h"

int dfs_ll_loop_mt(struct fuse_session *se, int clone_fd)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int ret;

	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(cfg, (unsigned int)clone_fd);
	ret = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return ret;
}
