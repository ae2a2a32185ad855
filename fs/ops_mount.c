/* ops_mount.c - what the mount adds around the file operations of ops_*.c:
 *
 * - the status files MOUNTPOINT/.status and MOUNTPOINT/<tenant>/.status
 *   (status.h): read-only snapshots taken at open, never listed;
 * - the user.dynfs.* attributes of a tenant folder (and the mount's root),
 *   one per member of its status;
 * - statfs: local_size, the memory files being written may hold, and what
 *   they hold; the listed records as files;
 * - one log line per failed operation (operation, path, errno, HTTP
 *   status, Dataverse code, message, request id, and what the layers below
 *   said: log.h gathers their lines while the operation runs);
 * - a tenant that is not connected yet is tried when its folder is read,
 *   and listings in progress are counted.
 *
 * The operations table of fsops.c passes through unchanged otherwise
 * (dfs_mount_operations() copies it), so an operation added there needs
 * nothing here.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "auth.h"
#include "buf.h"
#include "fsops.h"
#include "json.h"
#include "http.h"
#include "log.h"
#include "ops.h"
#include "status.h"
#include "banned.h"

#define XATTR_PREFIX "user.dynfs."
#define STATFS_BLOCK 4096
#define STATFS_SIZE (1ULL << 50)        /* without a bound: 1 PiB, "plenty" */
#define STATFS_FREE_FILES (1ULL << 30)

static const struct fuse_operations *base = &dfs_fs_operations;

/* ---- status files -------------------------------------------------------- */

/*
 * An open status file is a snapshot.  Its handle is told from the handles
 * of ops_file.c by the lowest bit (both are malloc'd, so aligned): only
 * this file ever sees a tagged one.
 */
struct status_fh {
	char *text;
	size_t len;
	uint64_t ino;
	struct status_fh *prev, *next;
};

/*
 * The open ones: the kernel sends release after close in the background,
 * so an unmount may come first; destroy frees what is left.
 */
static struct status_fh *open_status;
static pthread_mutex_t open_status_lock = PTHREAD_MUTEX_INITIALIZER;

static void status_fh_free(struct status_fh *sf)
{
	pthread_mutex_lock(&open_status_lock);
	if (sf->prev)
		sf->prev->next = sf->next;
	else if (open_status == sf)
		open_status = sf->next;
	if (sf->next)
		sf->next->prev = sf->prev;
	pthread_mutex_unlock(&open_status_lock);
	free(sf->text);
	free(sf);
}

#define STATUS_TAG 1u

static struct status_fh *status_fh(const struct fuse_file_info *fi)
{
	if (!fi || !(fi->fh & STATUS_TAG))
		return NULL;
	return (struct status_fh *)(uintptr_t)(fi->fh & ~(uint64_t)STATUS_TAG);
}

/* The .status of tenant T (NULL: of the mount). */
static uint64_t status_ino(struct dfs_fs *fs, const struct dfs_tenant *t)
{
	return 1ULL << 41 | (t ? (uint64_t)(t - fs->tenants) + 1 : 0);
}

static void status_stat(struct dfs_fs *fs, struct stat *st, uint64_t ino, size_t len)
{
	dfs_file_stat(fs, st, ino, len, time(NULL));
	st->st_mode = S_IFREG | 0444;
}

static int status_of(const char *path, struct dfs_tenant **t)
{
	return path && dfs_status_path(dfs_ops_fs(), path, t);
}

/* ---- the log line of a failed operation ---------------------------------- */

static void op_begin(void)
{
	dfs_http_failure_clear();
	dfs_log_op_begin();
}

/* PATH, or for an operation on an open file without one, the file's name. */
static const char *op_path(const char *path, struct fuse_file_info *fi, char *buf, size_t cap)
{
	struct dfs_fh *fh = dfs_ops_fh(fi);

	if (path)
		return path;
	if (fh && !status_fh(fi)) {
		snprintf(buf, cap, "/%s/%s/%s", fh->t->tc->name, fh->s->ent->set_name,
			 fh->name ? fh->name : fh->id);
		return buf;
	}
	return "(unlinked file)";
}

/*
 * The one line of a failed operation: what it was, on which path, its
 * errno, the failed request (HTTP status, Dataverse code, message, request
 * id) and what the layers below said (log.h).  An operation that failed
 * with nothing to tell (a missing file, EROFS) writes no line.
 */
static int op_end(const char *op, const char *path, struct fuse_file_info *fi, int ret)
{
	const struct dfs_http_failure *f = ret < 0 ? dfs_http_last_failure() : NULL;
	const char *hint, *shown;
	char buf[512], retries[40] = "";

	if (ret >= 0 || (!f && dfs_log_op_gathered() == DFS_LOG_NONE)) {
		dfs_log_op_done();
		goto out;
	}
	shown = op_path(path, fi, buf, sizeof(buf));
	if (dfs_http_retries())
		snprintf(retries, sizeof(retries), " after %u retr%s", dfs_http_retries(),
			 dfs_http_retries() == 1 ? "y" : "ies");
	/* Its caller was killed: nobody waits for this failure. */
	if (ret == -EINTR)
		dfs_log_op_failed(DFS_LOG_INFO, "%s %s: interrupted", op, shown);
	else if (f && f->status) {
		hint = dfs_auth_hint(f->err.message);
		dfs_log_op_failed(DFS_LOG_ERR, "%s %s failed: %s: HTTP %ld%s%s '%s' (request id %s)%s"
				  "%s%s", op, shown, strerror(-ret), f->status,
				  f->err.code[0] ? " " : "", f->err.code, f->err.message,
				  f->request_id[0] ? f->request_id : "none", retries,
				  hint ? " - " : "", hint ? hint : "");
	} else if (f)
		dfs_log_op_failed(DFS_LOG_ERR, "%s %s failed: %s: %s %s: %s%s", op, shown,
				  strerror(-ret), f->method, f->path, f->err.message, retries);
	else
		dfs_log_op_failed(DFS_LOG_WARN, "%s %s failed: %s", op, shown, strerror(-ret));
out:
	dfs_http_failure_clear();
	return ret;
}

#define LOGGED(op, path, fi, call) \
	do { int ret_; op_begin(); ret_ = (call); return op_end(op, path, fi, ret_); } while (0)

/* ---- operations ------------------------------------------------------------ */

static int m_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct status_fh *sf = status_fh(fi);
	struct dfs_tenant *t;
	size_t len;
	char *text;

	if (sf) {
		status_stat(dfs_ops_fs(), st, sf->ino, sf->len);
		return 0;
	}
	if (!fi && status_of(path, &t)) {
		if (!(text = dfs_status_text(dfs_ops_fs(), t, &len)))
			return -ENOMEM;
		free(text);
		status_stat(dfs_ops_fs(), st, status_ino(dfs_ops_fs(), t), len);
		return 0;
	}
	LOGGED("stat", path, fi, base->getattr(path, st, fi));
}

static int m_open(const char *path, struct fuse_file_info *fi)
{
	struct status_fh *sf;
	struct dfs_tenant *t;

	if (status_of(path, &t)) {
		if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
			return -EACCES;
		if (!(sf = calloc(1, sizeof(*sf))))
			return -ENOMEM;
		sf->ino = status_ino(dfs_ops_fs(), t);
		if (!(sf->text = dfs_status_text(dfs_ops_fs(), t, &sf->len))) {
			free(sf);
			return -ENOMEM;
		}
		pthread_mutex_lock(&open_status_lock);
		sf->next = open_status;
		if (open_status)
			open_status->prev = sf;
		open_status = sf;
		pthread_mutex_unlock(&open_status_lock);
		/* The size was computed at stat time from another snapshot. */
		fi->direct_io = 1;
		fi->fh = (uint64_t)(uintptr_t)sf | STATUS_TAG;
		return 0;
	}
	LOGGED("open", path, fi, base->open(path, fi));
}

static int m_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct dfs_tenant *t;

	if (status_of(path, &t))
		return -EEXIST;
	LOGGED("create", path, fi, base->create(path, mode, fi));
}

static int m_read(const char *path, char *buf, size_t size, off_t off,
		  struct fuse_file_info *fi)
{
	struct status_fh *sf = status_fh(fi);

	if (sf) {
		if (off < 0 || (size_t)off >= sf->len)
			return 0;
		if (size > sf->len - (size_t)off)
			size = sf->len - (size_t)off;
		memcpy(buf, sf->text + off, size);
		return (int)size;
	}
	LOGGED("read", path, fi, base->read(path, buf, size, off, fi));
}

static int m_write(const char *path, const char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	if (status_fh(fi))
		return -EBADF;
	LOGGED("write", path, fi, base->write(path, buf, size, off, fi));
}

static int m_flush(const char *path, struct fuse_file_info *fi)
{
	if (status_fh(fi))
		return 0;
	LOGGED("save", path, fi, base->flush(path, fi));
}

static int m_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	if (status_fh(fi))
		return 0;
	LOGGED("fsync", path, fi, base->fsync(path, datasync, fi));
}

static int m_release(const char *path, struct fuse_file_info *fi)
{
	struct status_fh *sf = status_fh(fi);

	if (sf) {
		status_fh_free(sf);
		return 0;
	}
	LOGGED("release", path, fi, base->release(path, fi));
}

static void m_destroy(void *private_data)
{
	while (open_status)
		status_fh_free(open_status);
	if (base->destroy)
		base->destroy(private_data);
}

static int m_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct dfs_tenant *t;

	if (status_fh(fi) || (!fi && status_of(path, &t)))
		return -EACCES;
	LOGGED("truncate", path, fi, base->truncate(path, size, fi));
}

static int m_unlink(const char *path)
{
	struct dfs_tenant *t;

	if (status_of(path, &t))
		return -EPERM;
	LOGGED("unlink", path, NULL, base->unlink(path));
}

static int m_rename(const char *from, const char *to, unsigned int flags)
{
	struct dfs_tenant *t;

	if (status_of(from, &t) || status_of(to, &t))
		return -EPERM;
	LOGGED("rename", from, NULL, base->rename(from, to, flags));
}

static int m_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	struct dfs_tenant *t;

	if (status_fh(fi) || (!fi && status_of(path, &t)))
		return -EPERM;
	return base->chmod(path, mode, fi);
}

static int m_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi)
{
	struct dfs_tenant *t;

	if (status_fh(fi) || (!fi && status_of(path, &t)))
		return -EPERM;
	return base->chown(path, uid, gid, fi);
}

static int m_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	struct dfs_tenant *t;

	if (status_fh(fi) || (!fi && status_of(path, &t)))
		return -EPERM;
	return base->utimens(path, tv, fi);
}

static int m_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		     struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct dfs_path *p = (struct dfs_path *)(uintptr_t)fi->fh;
	const char *shown = path;
	char name[600];
	int ret;

	/* nullpath_ok: readdir gets no path; the folder's is its tenant and set. */
	if (!shown && p->depth >= 1) {
		snprintf(name, sizeof(name), "/%s%s%s", p->t->tc->name, p->depth >= 2 ? "/" : "",
			 p->depth >= 2 ? p->s->ent->set_name : "");
		shown = name;
	}
	op_begin();
	if (p->depth == 1 && (ret = dfs_tenant_ensure(dfs_ops_fs(), p->t)) < 0)
		return op_end("list", shown, NULL, ret);
	if (p->depth == 2)
		__atomic_add_fetch(&p->t->listings, 1, __ATOMIC_RELAXED);
	ret = base->readdir(path, buf, filler, off, fi, flags);
	if (p->depth == 2)
		__atomic_sub_fetch(&p->t->listings, 1, __ATOMIC_RELAXED);
	return op_end("list", shown, NULL, ret);
}

/* ---- extended attributes of the root and of tenant folders ---------------- */

/* The status of the folder PATH if it is the root or a tenant, else NULL. */
static cJSON *folder_status(const char *path, int *is_folder)
{
	struct dfs_fs *fs = dfs_ops_fs();
	struct dfs_tenant *t = NULL;

	*is_folder = path && (strcmp(path, "/") == 0 || (t = dfs_status_tenant_dir(fs, path)));
	return *is_folder ? dfs_status_json(fs, t) : NULL;
}

/* The value of attribute NAME of status S (malloc'd), or NULL. */
static char *status_xattr(cJSON *s, const char *name)
{
	struct dfs_buf out;
	cJSON *item;
	char *v = NULL;

	if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) != 0)
		return NULL;
	name += strlen(XATTR_PREFIX);
	dfs_buf_init(&out, 0);
	if (strcmp(name, "status") == 0)
		item = s;
	else if (!(item = cJSON_GetObjectItemCaseSensitive(s, name)) || cJSON_IsNull(item))
		return NULL;
	if (cJSON_IsString(item))
		v = strdup(item->valuestring);
	else if (dfs_json_render_compact(item, &out) == 0)
		v = strndup(out.data ? out.data : "", out.len);
	dfs_buf_free(&out);
	return v;
}

static int m_getxattr(const char *path, const char *name, char *buf, size_t size)
{
	int folder, ret;
	cJSON *s;
	char *v;
	size_t n;

	if ((ret = dfs_ops_xattr_namespace(name)) < 0)
		return ret;
	s = folder_status(path, &folder);
	if (!folder)
		LOGGED("getxattr", path, NULL, base->getxattr(path, name, buf, size));
	if (!s)
		return -ENOMEM;
	v = status_xattr(s, name);
	cJSON_Delete(s);
	if (!v)
		return -ENODATA;
	n = strlen(v);
	ret = size == 0 ? (int)n : size < n ? -ERANGE : (memcpy(buf, v, n), (int)n);
	free(v);
	return ret;
}

static int m_listxattr(const char *path, char *buf, size_t size)
{
	int folder;
	cJSON *s = folder_status(path, &folder), *item;
	struct dfs_buf out;
	int ret;

	if (!folder)
		return base->listxattr(path, buf, size);
	if (!s)
		return -ENOMEM;
	dfs_buf_init(&out, 0);
	ret = dfs_buf_append(&out, XATTR_PREFIX "status", sizeof(XATTR_PREFIX "status"));
	cJSON_ArrayForEach(item, s) {
		if (cJSON_IsNull(item))
			continue;
		if (ret == 0)
			ret = dfs_buf_append(&out, XATTR_PREFIX, strlen(XATTR_PREFIX));
		if (ret == 0)
			ret = dfs_buf_append(&out, item->string, strlen(item->string) + 1);
	}
	cJSON_Delete(s);
	if (ret == 0)
		ret = size == 0 ? (int)out.len : size < out.len ? -ERANGE
			: (memcpy(buf, out.data, out.len), (int)out.len);
	dfs_buf_free(&out);
	return ret;
}

/* ---- df -------------------------------------------------------------------- */

/*
 * The space writes can use: what files being written and local files may
 * hold in memory (local_size), and what they hold now.  Records saved go
 * to the server and give their bytes back, so a copy larger than this
 * works as long as no more than this is held at once -- but once it is,
 * writes fail with ENOSPC, and df says why.
 */
static int m_statfs(const char *path, struct statvfs *sv)
{
	struct dfs_fs *fs = dfs_ops_fs();
	unsigned long long used, size;
	size_t listed = dfs_status_listed(fs), held, limit;

	memset(sv, 0, sizeof(*sv));
	held = dfs_drafts_used(&limit);
	size = (limit ? limit : STATFS_SIZE) / STATFS_BLOCK;
	used = (held + STATFS_BLOCK - 1) / STATFS_BLOCK;
	sv->f_bsize = STATFS_BLOCK;
	sv->f_frsize = STATFS_BLOCK;
	sv->f_blocks = size;
	sv->f_bfree = sv->f_bavail = size - (used < size ? used : size);
	/* df -i: used files are the records listed so far. */
	sv->f_files = listed + STATFS_FREE_FILES;
	sv->f_ffree = sv->f_favail = STATFS_FREE_FILES;
	sv->f_namemax = 255;
	return 0;
}

const struct fuse_operations *dfs_mount_operations(void)
{
	static struct fuse_operations ops;

	ops = *base;
	ops.getattr = m_getattr;
	ops.open = m_open;
	ops.create = m_create;
	ops.read = m_read;
	ops.write = m_write;
	ops.flush = m_flush;
	ops.fsync = m_fsync;
	ops.release = m_release;
	ops.truncate = m_truncate;
	ops.unlink = m_unlink;
	ops.rename = m_rename;
	ops.chmod = m_chmod;
	ops.chown = m_chown;
	ops.utimens = m_utimens;
	ops.readdir = m_readdir;
	ops.getxattr = m_getxattr;
	ops.listxattr = m_listxattr;
	ops.statfs = m_statfs;
	ops.destroy = m_destroy;
	return &ops;
}
