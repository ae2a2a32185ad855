/* lowlevel.c - libfuse's low-level API in front of the path operations
 * (see include/lowlevel.h).
 *
 * Each request turns its node id into a path (nodes.h), calls the
 * operation, and answers.  Operations on an open file get a NULL path and
 * their handle, as libfuse's nullpath_ok gives them; a name the kernel
 * learns (lookup, create, readdirplus) gets a node id from nodes.h, and a
 * name that goes or moves (unlink, rename) is told to it once the
 * operation succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lowlevel.h"
#include "nodes.h"
#include "banned.h"

#define TIMEOUT 1.0      /* seconds the kernel keeps names and attributes */
#define UNKNOWN_INO 0xffffffffULL /* as libfuse: some tools skip entries with d_ino 0 */

static struct {
	const struct fuse_operations *ops;
	void *private_data;
	struct fuse_session *se;
	unsigned int uid, gid, umask;
	int set_uid, set_gid, set_umask;
} ll;

static __thread fuse_req_t current;

struct fuse_session *dfs_ll_session(void)
{
	return ll.se;
}

void *dfs_ll_private(void)
{
	return ll.private_data;
}

int dfs_ll_interrupted(void)
{
	return current ? fuse_req_interrupted(current) : 0;
}

pid_t dfs_ll_caller_pid(void)
{
	return current ? fuse_req_ctx(current)->pid : 0;
}

/* uid=, gid=, umask= as libfuse's high-level API had them. */
static void fix_attr(struct stat *st)
{
	if (ll.set_uid)
		st->st_uid = ll.uid;
	if (ll.set_gid)
		st->st_gid = ll.gid;
	if (ll.set_umask)
		st->st_mode = (st->st_mode & S_IFMT) | (st->st_mode & 07777 & ~ll.umask);
}

/* The path of INO for an operation without a handle: 0, or -ESTALE when
 * its name was unlinked (as libfuse answers: the kernel then looks a name
 * up again where it can). */
static int path_of(fuse_ino_t ino, char **path)
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
	if ((ret = ll.ops->getattr(path, &e->attr, fi)) < 0)
		return ret;
	fix_attr(&e->attr);
	if (!(e->ino = dfs_node_lookup(parent, name, &e->attr)))
		return -ENOMEM;
	e->attr_timeout = e->entry_timeout = TIMEOUT;
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

	current = req;
	if ((ret = dfs_node_child_path(parent, name, &path)) == 0)
		ret = lookup_path(parent, name, path, NULL, &e);
	free(path);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		reply_entry(req, &e);
	current = NULL;
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

	current = req;
	if ((ret = dfs_node_child_path(parent, name, &path)) == 0)
		ret = link ? ll.ops->symlink(link, path) : ll.ops->mkdir(path, mode);
	made(req, parent, name, path, ret);
	free(path);
	current = NULL;
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

	current = req;
	if ((ret = path_of(ino, &from)) == 0 &&
	    (ret = dfs_node_child_path(newparent, newname, &path)) == 0)
		ret = ll.ops->link(from, path);
	made(req, newparent, newname, path, ret);
	free(from);
	free(path);
	current = NULL;
}

/* A regular file by mknod (as libfuse's high-level API does it): create and close. */
static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	struct fuse_file_info fi = { .flags = O_CREAT | O_EXCL | O_WRONLY };
	char *path;
	int ret;

	(void)rdev;
	current = req;
	if ((ret = dfs_node_child_path(parent, name, &path)) == 0) {
		if (!S_ISREG(mode))
			ret = -ENOSYS;
		else if ((ret = ll.ops->create(path, mode, &fi)) == 0)
			ll.ops->release(NULL, &fi);
	}
	made(req, parent, name, path, ret);
	free(path);
	current = NULL;
}

static void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	char *path;
	int ret;

	uint64_t id = dfs_node_at(parent, name);

	current = req;
	if ((ret = dfs_node_child_path(parent, name, &path)) == 0 &&
	    (ret = ll.ops->unlink(path)) == 0)
		dfs_node_unlinked(id);
	free(path);
	fuse_reply_err(req, -ret);
	current = NULL;
}

static void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	char *path;
	int ret;

	current = req;
	if ((ret = dfs_node_child_path(parent, name, &path)) == 0)
		ret = ll.ops->rmdir(path);
	free(path);
	fuse_reply_err(req, -ret);
	current = NULL;
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	char *from = NULL, *to = NULL;
	int ret;

	uint64_t from_id = dfs_node_at(parent, name), to_id = dfs_node_at(newparent, newname);

	current = req;
	if ((ret = dfs_node_child_path(parent, name, &from)) == 0 &&
	    (ret = dfs_node_child_path(newparent, newname, &to)) == 0 &&
	    (ret = ll.ops->rename(from, to, flags)) == 0)
		dfs_node_renamed(from_id, to_id, parent, name, newparent, newname,
				 !!(flags & RENAME_EXCHANGE));
	free(from);
	free(to);
	fuse_reply_err(req, -ret);
	current = NULL;
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char *path, buf[PATH_MAX + 1];
	int ret;

	current = req;
	if ((ret = path_of(ino, &path)) == 0)
		ret = ll.ops->readlink(path, buf, sizeof(buf));
	free(path);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
	} else {
		buf[PATH_MAX] = '\0';
		fuse_reply_readlink(req, buf);
	}
	current = NULL;
}

/* ---- attributes ----------------------------------------------------------- */

static void reply_attr(fuse_req_t req, const char *path, struct fuse_file_info *fi)
{
	struct stat st;
	int ret;

	memset(&st, 0, sizeof(st));
	if ((ret = ll.ops->getattr(path, &st, fi)) < 0) {
		fuse_reply_err(req, -ret);
		return;
	}
	fix_attr(&st);
	fuse_reply_attr(req, &st, TIMEOUT);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char *path = NULL;
	int ret;

	current = req;
	if (!fi && (ret = path_of(ino, &path)) < 0)
		fuse_reply_err(req, -ret);
	else
		reply_attr(req, path, fi);
	free(path);
	current = NULL;
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct timespec tv[2];
	char *path = NULL;
	int ret = 0;

	current = req;
	if (!fi && (ret = path_of(ino, &path)) < 0)
		goto out;
	if (to_set & FUSE_SET_ATTR_MODE)
		ret = ll.ops->chmod(path, attr->st_mode, fi);
	if (ret == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)))
		ret = ll.ops->chown(path, to_set & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1,
				    to_set & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1, fi);
	if (ret == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		ret = ll.ops->truncate(path, attr->st_size, fi);
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
		ret = ll.ops->utimens(path, tv, fi);
	}
out:
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		reply_attr(req, path, fi);
	free(path);
	current = NULL;
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	int ret;

	(void)ino;
	current = req;
	memset(&sv, 0, sizeof(sv));
	if ((ret = ll.ops->statfs("/", &sv)) < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_statfs(req, &sv);
	current = NULL;
}

static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	char *path;
	int ret;

	current = req;
	if ((ret = path_of(ino, &path)) == 0)
		ret = ll.ops->setxattr(path, name, value, size, flags);
	free(path);
	fuse_reply_err(req, -ret);
	current = NULL;
}

/* getxattr of NAME, or listxattr (NAME NULL): SIZE 0 asks for the length only. */
static void xattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	char *path = NULL, *buf = NULL;
	int ret;

	current = req;
	if ((ret = path_of(ino, &path)) == 0 && size && !(buf = malloc(size)))
		ret = -ENOMEM;
	if (ret == 0)
		ret = name ? ll.ops->getxattr(path, name, buf, size) :
			     ll.ops->listxattr(path, buf, size);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)ret);
	else
		fuse_reply_buf(req, buf, (size_t)ret);
	free(buf);
	free(path);
	current = NULL;
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

	current = req;
	if ((ret = dfs_node_child_path(parent, name, &path)) == 0 &&
	    (ret = ll.ops->create(path, mode, fi)) == 0 &&
	    (ret = lookup_path(parent, name, path, fi, &e)) < 0)
		ll.ops->release(NULL, fi);
	free(path);
	if (ret < 0) {
		fuse_reply_err(req, -ret);
	} else if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		/* The caller was interrupted: the kernel never got the file.
		 * (The request is gone: nothing may ask about it any more.) */
		current = NULL;
		ll.ops->release(NULL, fi);
		dfs_node_forget(e.ino, 1);
	}
	current = NULL;
}

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	char *path;
	int ret;

	current = req;
	if ((ret = path_of(ino, &path)) == 0)
		ret = ll.ops->open(path, fi);
	free(path);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else if (fuse_reply_open(req, fi) == -ENOENT)
		current = NULL, ll.ops->release(NULL, fi);
	current = NULL;
}

static void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	char *buf = malloc(size ? size : 1);
	int ret = -ENOMEM;

	(void)ino;
	current = req;
	if (buf)
		ret = ll.ops->read(NULL, buf, size, off, fi);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, buf, (size_t)ret);
	free(buf);
	current = NULL;
}

static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	int ret;

	(void)ino;
	current = req;
	if ((ret = ll.ops->write(NULL, buf, size, off, fi)) < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_write(req, (size_t)ret);
	current = NULL;
}

static void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	current = req;
	fuse_reply_err(req, -ll.ops->flush(NULL, fi));
	current = NULL;
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int ret = 0;

	(void)ino;
	current = req;
	/* The kernel asks release to flush too (FUSE_RELEASE_FLUSH): a save. */
	if (fi->flush)
		ret = ll.ops->flush(NULL, fi);
	ll.ops->release(NULL, fi);
	fuse_reply_err(req, -ret);
	current = NULL;
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	current = req;
	fuse_reply_err(req, -ll.ops->fsync(NULL, datasync, fi));
	current = NULL;
}

/* ---- folders -------------------------------------------------------------- */

/*
 * An open folder.  An operation that gives each entry its offset is read a
 * reply at a time; one that gives offset 0 (a small folder: the root, a
 * tenant) fills ENTRIES whole at offset 0, and replies are cut from it.
 */
struct dir_entry {
	char *name;
	struct stat st;
	int has_st, plus;
};

struct ll_dir {
	uint64_t fh;             /* the operation's handle */
	pthread_mutex_t lock;
	struct dir_entry *entries;
	size_t n, cap;
	int whole;               /* ENTRIES holds the folder */
};

struct fill {
	fuse_req_t req;
	fuse_ino_t ino;
	struct ll_dir *d;
	char *buf;
	size_t size, used;
	int plus;
	int whole;
};

static int is_dot(const char *name)
{
	return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* Add one entry to the reply: 1 when it does not fit. */
static int add_entry(struct fill *f, const char *name, const struct stat *st, off_t off,
		     int plus)
{
	struct fuse_entry_param e;
	size_t need, room = f->size - f->used;

	memset(&e, 0, sizeof(e));
	e.attr.st_ino = st ? st->st_ino : UNKNOWN_INO;
	e.attr.st_mode = st ? st->st_mode : 0;
	if (!f->plus) {
		need = fuse_add_direntry(f->req, f->buf + f->used, room, name, &e.attr, off);
		if (need > room)
			return 1;
		f->used += need;
		return 0;
	}
	if ((need = fuse_add_direntry_plus(f->req, NULL, 0, name, NULL, 0)) > room)
		return 1;
	if (st && plus) {
		e.attr = *st;
		fix_attr(&e.attr);
		/* The kernel holds the name once the reply is sent: counted
		 * only now that it fits. */
		if (!is_dot(name) && (e.ino = dfs_node_lookup(f->ino, name, &e.attr)))
			e.attr_timeout = e.entry_timeout = TIMEOUT;
	}
	f->used += fuse_add_direntry_plus(f->req, f->buf + f->used, room, name, &e, off);
	return 0;
}

static int filler(void *ctx, const char *name, const struct stat *st, off_t off,
		  enum fuse_fill_dir_flags flags)
{
	struct fill *f = ctx;
	struct ll_dir *d = f->d;
	struct dir_entry *e;

	if (off && !f->whole)
		return add_entry(f, name, st, off, !!(flags & FUSE_FILL_DIR_PLUS));
	f->whole = 1;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 32;
		struct dir_entry *grown = realloc(d->entries, cap * sizeof(*grown));

		if (!grown)
			return 1;
		d->entries = grown;
		d->cap = cap;
	}
	e = &d->entries[d->n];
	memset(e, 0, sizeof(*e));
	if (!(e->name = strdup(name)))
		return 1;
	if (st)
		e->st = *st, e->has_st = 1;
	e->plus = !!(flags & FUSE_FILL_DIR_PLUS);
	d->n++;
	return 0;
}

static void dir_clear(struct ll_dir *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->entries[i].name);
	d->n = 0;
	d->whole = 0;
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_file_info own = *fi;
	struct ll_dir *d = calloc(1, sizeof(*d));
	char *path = NULL;
	int ret = -ENOMEM;

	current = req;
	if (d && (ret = path_of(ino, &path)) == 0)
		ret = ll.ops->opendir(path, &own);
	free(path);
	if (ret < 0) {
		free(d);
		fuse_reply_err(req, -ret);
		goto out;
	}
	pthread_mutex_init(&d->lock, NULL);
	d->fh = own.fh;
	*fi = own;       /* with what the operation set (keep_cache, cache_readdir) */
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		current = NULL;
		own.fh = d->fh;
		ll.ops->releasedir(NULL, &own);
		pthread_mutex_destroy(&d->lock);
		free(d);
	}
out:
	current = NULL;
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi, int plus)
{
	struct ll_dir *d = (struct ll_dir *)(uintptr_t)fi->fh;
	struct fuse_file_info own = *fi;
	struct fill f = { req, ino, d, malloc(size), size, 0, plus, 0 };
	size_t i;
	int ret = 0;

	current = req;
	if (!f.buf) {
		fuse_reply_err(req, ENOMEM);
		goto out;
	}
	own.fh = d->fh;
	pthread_mutex_lock(&d->lock);
	if (off == 0 || !d->whole) {
		if (off == 0)
			dir_clear(d);
		ret = ll.ops->readdir(NULL, &f, filler, off, &own,
				      plus ? FUSE_READDIR_PLUS : (enum fuse_readdir_flags)0);
		if (f.whole)
			d->whole = 1;
	}
	/* A folder read whole: entry I has offset I + 1. */
	for (i = (size_t)off; ret >= 0 && d->whole && i < d->n; i++)
		if (add_entry(&f, d->entries[i].name, d->entries[i].has_st ? &d->entries[i].st : NULL,
			      (off_t)i + 1, d->entries[i].plus))
			break;
	pthread_mutex_unlock(&d->lock);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, f.buf, f.used);
	free(f.buf);
out:
	current = NULL;
}

static void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, 0);
}

static void ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, 1);
}

static void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ll_dir *d = (struct ll_dir *)(uintptr_t)fi->fh;
	struct fuse_file_info own = *fi;

	(void)ino;
	current = req;
	own.fh = d->fh;
	ll.ops->releasedir(NULL, &own);
	dir_clear(d);
	free(d->entries);
	pthread_mutex_destroy(&d->lock);
	free(d);
	fuse_reply_err(req, 0);
	current = NULL;
}

/* ---- the session ---------------------------------------------------------- */

static void ll_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fuse_config cfg;

	(void)userdata;
	memset(&cfg, 0, sizeof(cfg));
	if (ll.ops->init)
		ll.ops->init(conn, &cfg);
}

static void ll_destroy(void *userdata)
{
	(void)userdata;
	if (ll.ops->destroy)
		ll.ops->destroy(ll.private_data);
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
	.opendir = ll_opendir,
	.readdir = ll_readdir,
	.readdirplus = ll_readdirplus,
	.releasedir = ll_releasedir,
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
	to = key == KEY_UID ? &ll.uid : key == KEY_GID ? &ll.gid : &ll.umask;
	errno = 0;
	n = strtoul(v + 1, &end, key == KEY_UMASK ? 8 : 10);
	if (!v[1] || *end || errno || n > UINT_MAX) {
		fprintf(stderr, "dynfs: -o %s: not a%s number\n", arg,
			key == KEY_UMASK ? "n octal" : "");
		return -1;
	}
	*to = (unsigned int)n;
	*(key == KEY_UID ? &ll.set_uid : key == KEY_GID ? &ll.set_gid : &ll.set_umask) = 1;
	return 0;
}

struct fuse_session *dfs_ll_new(struct fuse_args *args, const struct fuse_operations *ops,
				void *private_data)
{
	ll.ops = ops;
	ll.private_data = private_data;
	if (fuse_opt_parse(args, NULL, ll_spec, ll_opt) != 0)
		return NULL;
	dfs_nodes_init(private_data);
	ll.se = fuse_session_new(args, &ll_ops, sizeof(ll_ops), NULL);
	return ll.se;
}
