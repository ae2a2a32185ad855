/* lowlevel.c - libfuse's low-level API in front of the path operations
 * (see include/lowlevel.h).
 *
 * Each request turns its node id into a path (nodes.h), calls the
 * operation, and answers.  Operations on an open file get a NULL path and
 * their handle, as libfuse's nullpath_ok gives them; a name the kernel
 * learns (lookup, create, readdirplus) gets a node id from nodes.h, and a
 * name that goes or moves (unlink, rename) is told to it once the
 * operation succeeded.  Folders are read in lowlevel_dir.c, the loop runs
 * in lowlevel_loop.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lowlevel.h"
#include "lowlevel_impl.h"
#include "nodes.h"
#include "banned.h"

struct dfs_ll_state dfs_ll;
__thread fuse_req_t dfs_ll_current;

struct fuse_session *dfs_ll_session(void)
{
	return dfs_ll.se;
}

void *dfs_ll_private(void)
{
	return dfs_ll.private_data;
}

int dfs_ll_interrupted(void)
{
	return dfs_ll_current ? fuse_req_interrupted(dfs_ll_current) : 0;
}

pid_t dfs_ll_caller_pid(void)
{
	return dfs_ll_current ? fuse_req_ctx(dfs_ll_current)->pid : 0;
}

/* uid=, gid=, umask= as libfuse's high-level API had them. */
void dfs_ll_fix_attr(struct stat *st)
{
	if (dfs_ll.set_uid)
		st->st_uid = dfs_ll.uid;
	if (dfs_ll.set_gid)
		st->st_gid = dfs_ll.gid;
	if (dfs_ll.set_umask)
		st->st_mode = (st->st_mode & S_IFMT) | (st->st_mode & 07777 & ~dfs_ll.umask);
}

/* The path of INO for an operation without a handle: 0, or -ESTALE when
 * its name was unlinked (as libfuse answers: the kernel then looks a name
 * up again where it can). */
int dfs_ll_path_of(fuse_ino_t ino, char **path)
{
	int ret = dfs_node_path(ino, path);

	if (ret == 0 && !*path)
		ret = -ESTALE;
	return ret;
}

/* ---- names ---------------------------------------------------------------- */

/* Look NAME up in PARENT (its path PATH): E filled and the kernel's hold counted. */
static int lookup_path(fuse_ino_t parent, const char *name, const char *path,
		       struct fuse_file_info *fi, struct fuse_entry_param *e)
{
	int ret;

	memset(e, 0, sizeof(*e));
	if ((ret = dfs_ll.ops->getattr(path, &e->attr, fi)) < 0)
		return ret;
	dfs_ll_fix_attr(&e->attr);
	if (!(e->ino = dfs_node_lookup(parent, name, &e->attr)))
		return -ENOMEM;
	e->attr_timeout = e->entry_timeout = DFS_LL_TIMEOUT;
	return 0;
}

static void reply_entry(fuse_req_t req, const struct fuse_entry_param *e)
{
	/* The kernel did not take it (the caller was interrupted): not held. */
	if (fuse_reply_entry(req, e) == -ENOENT)
		dfs_node_forget(e->ino, 1);
}

static void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	char *path;
	int ret;

	dfs_ll_current = req;
	if ((ret = dfs_node_child_path(parent, name, &path)) == 0)
		ret = lookup_path(parent, name, path, NULL, &e);
	free(path);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, &e);
	dfs_ll_current = NULL;
}

static void ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	dfs_node_forget(ino, nlookup);
	fuse_reply_none(req);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	size_t i;

	for (i = 0; i < count; i++)
		dfs_node_forget(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

/* The entry of a name an operation just made (mkdir, symlink, link). */
static void made(fuse_req_t req, fuse_ino_t parent, const char *name, const char *path,
		 int ret)
{
	struct fuse_entry_param e;

	if (ret == 0)
		ret = lookup_path(parent, name, path, NULL, &e);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, &e);
}

/* mkdir (LINK NULL) or symlink to LINK. */
static void make_name(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      const char *link)
{
	char *path;
	int ret;

	dfs_ll_current = req;
	if ((ret = dfs_node_child_path(parent, name, &path)) == 0)
		ret = link ? dfs_ll.ops->symlink(link, path) : dfs_ll.ops->mkdir(path, mode);
	made(req, parent, name, path, ret);
	free(path);
	dfs_ll_current = NULL;
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_name(req, parent, name, mode, NULL);
}

static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	make_name(req, parent, name, 0, link);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	char *from = NULL, *path = NULL;
	int ret;

	dfs_ll_current = req;
	if ((ret = dfs_ll_path_of(ino, &from)) == 0 &&
	    (ret = dfs_node_child_path(newparent, newname, &path)) == 0)
		ret = dfs_ll.ops->link(from, path);
	made(req, newparent, newname, path, ret);
	free(from);
	free(path);
	dfs_ll_current = NULL;
}

/* A regular file by mknod (as libfuse's high-level API does it): create and close. */
static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	struct fuse_file_info fi = { .flags = O_CREAT | O_EXCL | O_WRONLY };
	char *path;
	int ret;

	(void)rdev;
	dfs_ll_current = req;
	if ((ret = dfs_node_child_path(parent, name, &path)) == 0) {
		if (!S_ISREG(mode))
			ret = -ENOSYS;
		else if ((ret = dfs_ll.ops->create(path, mode, &fi)) == 0)
			dfs_ll.ops->release(NULL, &fi);
	}
	made(req, parent, name, path, ret);
	free(path);
	dfs_ll_current = NULL;
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	char *path;
	int ret;

	uint64_t id = dfs_node_at(parent, name);

	dfs_ll_current = req;
	if ((ret = dfs_node_child_path(parent, name, &path)) == 0 &&
	    (ret = dfs_ll.ops->unlink(path)) == 0)
		dfs_node_unlinked(id);
	free(path);
	fuse_reply_err(req, -ret);
	dfs_ll_current = NULL;
}

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	char *path;
	int ret;

	dfs_ll_current = req;
	if ((ret = dfs_node_child_path(parent, name, &path)) == 0)
		ret = dfs_ll.ops->rmdir(path);
	free(path);
	fuse_reply_err(req, -ret);
	dfs_ll_current = NULL;
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	char *from = NULL, *to = NULL;
	int ret;

	uint64_t from_id = dfs_node_at(parent, name), to_id = dfs_node_at(newparent, newname);

	dfs_ll_current = req;
	if ((ret = dfs_node_child_path(parent, name, &from)) == 0 &&
	    (ret = dfs_node_child_path(newparent, newname, &to)) == 0 &&
	    (ret = dfs_ll.ops->rename(from, to, flags)) == 0)
		dfs_node_renamed(from_id, to_id, parent, name, newparent, newname,
				 !!(flags & RENAME_EXCHANGE));
	free(from);
	free(to);
	fuse_reply_err(req, -ret);
	dfs_ll_current = NULL;
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char *path, buf[PATH_MAX + 1];
	int ret;

	dfs_ll_current = req;
	if ((ret = dfs_ll_path_of(ino, &path)) == 0)
		ret = dfs_ll.ops->readlink(path, buf, sizeof(buf));
	free(path);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
	} else {
		buf[PATH_MAX] = '\0';
		fuse_reply_readlink(req, buf);
	}
	dfs_ll_current = NULL;
}

/* ---- attributes ----------------------------------------------------------- */

static void reply_attr(fuse_req_t req, const char *path, struct fuse_file_info *fi)
{
	struct stat st;
	int ret;

	memset(&st, 0, sizeof(st));
	if ((ret = dfs_ll.ops->getattr(path, &st, fi)) < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	dfs_ll_fix_attr(&st);
	fuse_reply_attr(req, &st, DFS_LL_TIMEOUT);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char *path = NULL;
	int ret;

	dfs_ll_current = req;
	if (!fi && (ret = dfs_ll_path_of(ino, &path)) < 0)
		fuse_reply_err(req, -ret);
	else
		reply_attr(req, path, fi);
	free(path);
	dfs_ll_current = NULL;
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct timespec tv[2];
	char *path = NULL;
	int ret = 0;

	dfs_ll_current = req;
	if (!fi && (ret = dfs_ll_path_of(ino, &path)) < 0)
		goto out;
	if (to_set & FUSE_SET_ATTR_MODE)
		ret = dfs_ll.ops->chmod(path, attr->st_mode, fi);
	if (ret == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		ret = dfs_ll.ops->chown(path, to_set & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1,
				    to_set & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1, fi);
	if (ret == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		ret = dfs_ll.ops->truncate(path, attr->st_size, fi);
	if (ret == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		tv[0].tv_sec = tv[1].tv_sec = 0;
		tv[0].tv_nsec = tv[1].tv_nsec = UTIME_OMIT;
		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		ret = dfs_ll.ops->utimens(path, tv, fi);
	}
out:
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		reply_attr(req, path, fi);
	free(path);
	dfs_ll_current = NULL;
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	int ret;

	(void)ino;
	dfs_ll_current = req;
	memset(&sv, 0, sizeof(sv));
	if ((ret = dfs_ll.ops->statfs("/", &sv)) < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_statfs(req, &sv);
	dfs_ll_current = NULL;
}

static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	char *path;
	int ret;

	dfs_ll_current = req;
	if ((ret = dfs_ll_path_of(ino, &path)) == 0)
		ret = dfs_ll.ops->setxattr(path, name, value, size, flags);
	free(path);
	fuse_reply_err(req, -ret);
	dfs_ll_current = NULL;
}

/* getxattr of NAME, or listxattr (NAME NULL): SIZE 0 asks for the length only. */
static void xattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char *path = NULL, *buf = NULL;
	int ret;

	dfs_ll_current = req;
	if ((ret = dfs_ll_path_of(ino, &path)) == 0 && size && !(buf = malloc(size)))
		ret = -ENOMEM;
	if (ret == 0)
		ret = name ? dfs_ll.ops->getxattr(path, name, buf, size) :
			     dfs_ll.ops->listxattr(path, buf, size);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)ret);
	else
		fuse_reply_buf(req, buf, (size_t)ret);
	free(buf);
	free(path);
	dfs_ll_current = NULL;
}

static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	xattr(req, ino, name, size);
}

static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	xattr(req, ino, NULL, size);
}

/* ---- open files ----------------------------------------------------------- */

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	char *path;
	int ret;

	dfs_ll_current = req;
	if ((ret = dfs_node_child_path(parent, name, &path)) == 0 &&
	    (ret = dfs_ll.ops->create(path, mode, fi)) == 0 &&
	    (ret = lookup_path(parent, name, path, fi, &e)) < 0)
		dfs_ll.ops->release(NULL, fi);
	free(path);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
	} else if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		/* The caller was interrupted: the kernel never got the file.
		 * (The request is gone: nothing may ask about it any more.) */
		dfs_ll_current = NULL;
		dfs_ll.ops->release(NULL, fi);
		dfs_node_forget(e.ino, 1);
	}
	dfs_ll_current = NULL;
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char *path;
	int ret;

	dfs_ll_current = req;
	if ((ret = dfs_ll_path_of(ino, &path)) == 0)
		ret = dfs_ll.ops->open(path, fi);
	free(path);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else if (fuse_reply_open(req, fi) == -ENOENT)
		dfs_ll_current = NULL, dfs_ll.ops->release(NULL, fi);
	dfs_ll_current = NULL;
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	char *buf = malloc(size ? size : 1);
	int ret = -ENOMEM;

	(void)ino;
	dfs_ll_current = req;
	if (buf)
		ret = dfs_ll.ops->read(NULL, buf, size, off, fi);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, buf, (size_t)ret);
	free(buf);
	dfs_ll_current = NULL;
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	int ret;

	(void)ino;
	dfs_ll_current = req;
	if ((ret = dfs_ll.ops->write(NULL, buf, size, off, fi)) < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, (size_t)ret);
	dfs_ll_current = NULL;
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	dfs_ll_current = req;
	fuse_reply_err(req, -dfs_ll.ops->flush(NULL, fi));
	dfs_ll_current = NULL;
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int ret = 0;

	(void)ino;
	dfs_ll_current = req;
	/* The kernel asks release to flush too (FUSE_RELEASE_FLUSH): a save. */
	if (fi->flush)
		ret = dfs_ll.ops->flush(NULL, fi);
	dfs_ll.ops->release(NULL, fi);
	fuse_reply_err(req, -ret);
	dfs_ll_current = NULL;
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	dfs_ll_current = req;
	fuse_reply_err(req, -dfs_ll.ops->fsync(NULL, datasync, fi));
	dfs_ll_current = NULL;
}

/* ---- the session ---------------------------------------------------------- */

static void ll_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fuse_config cfg;

	(void)userdata;
	memset(&cfg, 0, sizeof(cfg));
	if (dfs_ll.ops->init)
		dfs_ll.ops->init(conn, &cfg);
}

static void ll_destroy(void *userdata)
{
	(void)userdata;
	if (dfs_ll.ops->destroy)
		dfs_ll.ops->destroy(dfs_ll.private_data);
}

static const struct fuse_lowlevel_ops ll_ops = {
	.init = ll_init,
	.destroy = ll_destroy,
	.lookup = ll_lookup,
	.forget = ll_forget,
	.forget_multi = ll_forget_multi,
	.getattr = ll_getattr,
	.setattr = ll_setattr,
	.readlink = ll_readlink,
	.mknod = ll_mknod,
	.mkdir = ll_mkdir,
	.unlink = ll_unlink,
	.rmdir = ll_rmdir,
	.symlink = ll_symlink,
	.rename = ll_rename,
	.link = ll_link,
	.open = ll_open,
	.read = ll_read,
	.write = ll_write,
	.flush = ll_flush,
	.release = ll_release,
	.fsync = ll_fsync,
	.opendir = dfs_ll_opendir,
	.readdir = dfs_ll_readdir,
	.readdirplus = dfs_ll_readdirplus,
	.releasedir = dfs_ll_releasedir,
	.statfs = ll_statfs,
	.setxattr = ll_setxattr,
	.getxattr = ll_getxattr,
	.listxattr = ll_listxattr,
	.create = ll_create,
};

enum { KEY_UID, KEY_GID, KEY_UMASK };

static const struct fuse_opt ll_spec[] = {
	FUSE_OPT_KEY("uid=", KEY_UID),
	FUSE_OPT_KEY("gid=", KEY_GID),
	FUSE_OPT_KEY("umask=", KEY_UMASK),
	FUSE_OPT_END
};

static int ll_opt(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	const char *v = strchr(arg, '=');
	unsigned int *to;
	char *end;
	unsigned long n;

	(void)data;
	(void)outargs;
	if (key != KEY_UID && key != KEY_GID && key != KEY_UMASK)
		return 1;
	to = key == KEY_UID ? &dfs_ll.uid : key == KEY_GID ? &dfs_ll.gid : &dfs_ll.umask;
	errno = 0;
	n = strtoul(v + 1, &end, key == KEY_UMASK ? 8 : 10);
	if (!v[1] || *end || errno || n > UINT_MAX) {
		fprintf(stderr, "dynfs: -o %s: not a%s number\n", arg,
			key == KEY_UMASK ? "n octal" : "");
		return -1;
	}
	*to = (unsigned int)n;
	*(key == KEY_UID ? &dfs_ll.set_uid : key == KEY_GID ? &dfs_ll.set_gid : &dfs_ll.set_umask) = 1;
	return 0;
}

struct fuse_session *dfs_ll_new(struct fuse_args *args, const struct fuse_operations *ops,
				void *private_data)
{
	dfs_ll.ops = ops;
	dfs_ll.private_data = private_data;
	if (fuse_opt_parse(args, NULL, ll_spec, ll_opt) != 0)
		return NULL;
	if ((dfs_ll.se = fuse_session_new(args, &ll_ops, sizeof(ll_ops), NULL)))
		dfs_nodes_init(private_data);
	return dfs_ll.se;
}
