/* forget.c - the thread that asks the kernel to drop old record names
 * (see include/forget.h).
 *
 * One ring for the mount.  Names are added at PUSHED; the newest KEEP of
 * them are held, and the thread asks the kernel to drop every one before
 * that, up to DROPPED.  A producer never waits: when the thread falls a
 * whole ring behind, the oldest name it had not reached yet is skipped
 * (the kernel keeps it until it needs the memory, as it would anyway).
 */
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "forget.h"
#include "log.h"
#include "notify.h"
#include "tree.h"
#include "util.h"
#include "banned.h"

struct seen {
	const struct dfs_tenant *t;
	const struct dfs_set *s;
	uint8_t id[16];
};

/* Names that may wait for the thread beyond KEEP: a folder read gives the
 * kernel up to a few thousand at once (a 1 MiB readdirplus reply). */
#define BURST 32768

/*
 * The thread waits until BATCH names are past KEEP, then drops them in one
 * go.  The kernel marks the folder's attributes stale at every drop, so the
 * next operation in the folder (a walk's stat or open) first asks dynfs for
 * them again: dropped one at a time while a walk runs, that is one more
 * round trip for nearly every file; in batches, one per batch or so.
 */
#define BATCH 4096

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct fuse_session *se;  /* NULL: not started */
	const char *mountpoint;
	pthread_t thread;
	struct seen *ring;        /* RING_N names: KEEP held, the rest waiting */
	uint64_t keep, ring_n;
	uint64_t pushed;          /* names added since the mount */
	uint64_t dropped;         /* names before this one are dropped (or skipped) */
	uint64_t asked;           /* drops the kernel was asked for */
	uint64_t unknown;         /* ... of names it did not hold (any more) */
	uint64_t skipped;         /* names the thread fell too far behind to drop */
	int mount_id;             /* the mount's, from name_to_handle_at */
	int known;                /* -1 not yet checked, 0 node ids cannot be had, 1 */
	uint64_t batch;           /* names past KEEP before the thread drops them */
	int stop;
} fq = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
};

/*
 * The node id the kernel knows PATH by: the id libfuse gave it, which the
 * high-level API does not show (st_ino is dynfs's own, use_ino).  The
 * kernel puts it in the file handle it makes for a FUSE file: type 0x81
 * (FILEID_INO64_GEN), the id's high and low 32 bits, then the generation
 * (fs/fuse/inode.c, fuse_encode_fh; the handles NFS export relies on).
 * *MOUNT_ID: the mount it was found on.  0 if it cannot be had.
 */
#define FUSE_FILEID_INO64_GEN 0x81

static fuse_ino_t node_id(const char *path, int *mount_id)
{
	union {
		struct file_handle fh;
		char room[sizeof(struct file_handle) + 32];
	} h;
	uint32_t w[2];

	h.fh.handle_bytes = sizeof(h.room) - sizeof(struct file_handle);
	if (name_to_handle_at(AT_FDCWD, path, &h.fh, mount_id, 0) < 0 ||
	    h.fh.handle_type != FUSE_FILEID_INO64_GEN || h.fh.handle_bytes < 12)
		return 0;
	memcpy(w, h.fh.f_handle, sizeof(w));
	return (fuse_ino_t)((uint64_t)w[0] << 32 | w[1]);
}

/* Set N's folder's node id, if the folder is still on this mount (not
 * under something mounted over it). */
static fuse_ino_t folder_ino(const struct seen *n)
{
	fuse_ino_t ino;
	char *path;
	int mount_id = -1;

	if (asprintf(&path, "%s/%s/%s", fq.mountpoint, n->t->tc->name, n->s->ent->set_name) < 0)
		return 0;
	ino = node_id(path, &mount_id);
	free(path);
	return mount_id == fq.mount_id ? ino : 0;
}

/* Ask the kernel to drop one name.  The kernel does not know a name it
 * has forgotten already, nor a folder it forgot (which then has another
 * id): so after such an answer the folder's id is looked up again, at
 * most once a second. */
struct folder {
	const struct dfs_set *s;  /* the set INO is the folder of */
	fuse_ino_t ino;
	double at;
};

static int inval(fuse_ino_t parent, const char *name)
{
	int ret;

	if (dfs_kernel_enter() < 0)
		return -ESHUTDOWN;
	ret = fuse_lowlevel_notify_inval_entry(fq.se, parent, name, strlen(name));
	dfs_kernel_leave();
	return ret;
}

static void drop(const struct seen *n, struct folder *f)
{
	char name[DFS_GUID_LEN + sizeof(".json")];
	fuse_ino_t ino;
	int ret;

	dfs_guid_unpack(n->id, name);
	memcpy(name + DFS_GUID_LEN, ".json", sizeof(".json"));
	if (f->s != n->s) {
		f->s = n->s;
		f->ino = folder_ino(n);
		f->at = dfs_now();
	}
	if (!f->ino)
		return;
	ret = inval(f->ino, name);
	if (ret == -ENOENT && dfs_now() - f->at >= 1.0) {
		ino = folder_ino(n);
		f->at = dfs_now();
		if (ino && ino != f->ino) {
			f->ino = ino;
			ret = inval(f->ino, name);
		}
	}
	if (ret == -ENOENT)
		__atomic_add_fetch(&fq.unknown, 1, __ATOMIC_RELAXED);
}

/* The mount's root must be node 1 on a mount of its own: otherwise (a
 * /dev/fd/N mountpoint, a kernel that makes other handles) no folder's id
 * can be had, and the thread says so once and stops. */
static int mount_known(void)
{
	if (node_id(fq.mountpoint, &fq.mount_id) == FUSE_ROOT_ID)
		return 1;
	dfs_warn("cannot learn the node ids of %s's folders: the kernel keeps every record name"
		 " it looked up (kernel_names has no effect)", fq.mountpoint);
	return 0;
}

/* Take the oldest name past KEEP; 0 if there is none (or no drop can be
 * made).  Called and returns with fq.lock held. */
static int next_drop(struct seen *n)
{
	int known;

	if (fq.stop || fq.pushed - fq.dropped <= fq.keep)
		return 0;
	if (fq.known < 0) {
		pthread_mutex_unlock(&fq.lock);
		known = mount_known();
		pthread_mutex_lock(&fq.lock);
		fq.known = known;
	}
	if (!fq.known || fq.stop)
		return 0;
	*n = fq.ring[fq.dropped % fq.ring_n];
	fq.dropped++;
	fq.asked++;
	return 1;
}

static void *forgetter(void *arg)
{
	struct folder f = { 0 };
	struct seen n;

	(void)arg;
	pthread_mutex_lock(&fq.lock);
	while (!fq.stop && fq.known) {
		if (fq.pushed - fq.dropped <= fq.keep + fq.batch) {
			pthread_cond_wait(&fq.work, &fq.lock);
			continue;
		}
		while (next_drop(&n)) {
			pthread_mutex_unlock(&fq.lock);
			drop(&n, &f);
			pthread_mutex_lock(&fq.lock);
		}
	}
	pthread_mutex_unlock(&fq.lock);
	return NULL;
}

int dfs_forget_start(struct fuse *fuse, const char *mountpoint, unsigned keep)
{
	int ret = 0;

	if (!mountpoint || !fuse || !keep)
		return keep ? -EINVAL : 0;
	pthread_mutex_lock(&fq.lock);
	fq.keep = keep;
	fq.batch = keep / 4 < BATCH ? keep / 4 : BATCH;
	fq.ring_n = (uint64_t)keep + fq.batch + BURST;
	if (!(fq.ring = calloc(fq.ring_n, sizeof(*fq.ring)))) {
		ret = -ENOMEM;
		goto out;
	}
	fq.stop = 0;
	fq.pushed = fq.dropped = fq.asked = fq.unknown = fq.skipped = 0;
	fq.known = -1;
	fq.mountpoint = mountpoint;
	fq.se = fuse_get_session(fuse);
	if ((ret = -pthread_create(&fq.thread, NULL, forgetter, NULL)) < 0) {
		fq.se = NULL;
		free(fq.ring);
		fq.ring = NULL;
	}
out:
	if (ret < 0)
		dfs_warn("cannot start the thread that has the kernel drop old record names (%s):"
			 " the kernel keeps every name it looked up until it needs the memory",
			 strerror(-ret));
	pthread_mutex_unlock(&fq.lock);
	return ret;
}

void dfs_forget_stop(void)
{
	pthread_mutex_lock(&fq.lock);
	if (!fq.se) {
		pthread_mutex_unlock(&fq.lock);
		return;
	}
	fq.stop = 1;
	pthread_cond_signal(&fq.work);
	pthread_mutex_unlock(&fq.lock);
	pthread_join(fq.thread, NULL);
	pthread_mutex_lock(&fq.lock);
	fq.se = NULL;
	free(fq.ring);
	fq.ring = NULL;
	pthread_mutex_unlock(&fq.lock);
}

void dfs_forget_seen(const struct dfs_tenant *t, const struct dfs_set *s, const uint8_t id16[16])
{
	struct seen *n;

	pthread_mutex_lock(&fq.lock);
	if (!fq.se || fq.stop || !fq.known)
		goto out;
	n = &fq.ring[(fq.pushed + fq.ring_n - 1) % fq.ring_n];
	/* A name stat'ed again and again takes one place, not many. */
	if (fq.pushed > fq.dropped && n->s == s && memcmp(n->id, id16, 16) == 0)
		goto out;
	if (fq.pushed - fq.dropped == fq.ring_n) {
		fq.dropped++;    /* the thread is a ring behind: skip the oldest */
		fq.skipped++;
	}
	n = &fq.ring[fq.pushed % fq.ring_n];
	n->t = t;
	n->s = s;
	memcpy(n->id, id16, 16);
	fq.pushed++;
	if (fq.pushed - fq.dropped > fq.keep + fq.batch)
		pthread_cond_signal(&fq.work);
out:
	pthread_mutex_unlock(&fq.lock);
}

void dfs_forget_counts(struct dfs_forget_counts *c)
{
	pthread_mutex_lock(&fq.lock);
	c->held = fq.pushed - fq.dropped;
	if (c->held > fq.keep + fq.batch)
		c->held = fq.keep + fq.batch;
	c->dropped = fq.asked;
	c->not_held = __atomic_load_n(&fq.unknown, __ATOMIC_RELAXED);
	c->skipped = fq.skipped;
	c->running = fq.se && !fq.stop && fq.known != 0;
	pthread_mutex_unlock(&fq.lock);
}
