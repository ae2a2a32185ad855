/* notify.c - the thread that tells the kernel which record files changed
 * (see include/notify.h).
 *
 * One queue for the mount: paths in the order they changed, and two
 * counters, how many were queued and how many were told, so a sync waits
 * for what was queued before it and not for what comes after.
 */
#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "log.h"
#include "nodes.h"
#include "notify.h"
#include "banned.h"

#define SYNC_WAIT_S 1

struct item {
	struct item *next;
	char path[];
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t work;     /* something was queued, or stop */
	pthread_cond_t done;     /* TOLD moved on */
	struct fuse_session *se;  /* NULL: not started */
	pthread_t thread;
	struct item *head, **tail;
	uint64_t queued, told;
	int stop;
} nq = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.done = PTHREAD_COND_INITIALIZER,
	.tail = &nq.head,
};

static void *notifier(void *arg)
{
	struct item *it;
	uint64_t id;

	(void)arg;
	pthread_mutex_lock(&nq.lock);
	for (;;) {
		while (!nq.head && !nq.stop)
			pthread_cond_wait(&nq.work, &nq.lock);
		if (!nq.head)
			break;
		it = nq.head;
		if (!(nq.head = it->next))
			nq.tail = &nq.head;
		pthread_mutex_unlock(&nq.lock);
		/* -ENOENT: the kernel does not hold the file, nothing to forget. */
		if ((id = dfs_node_of_path(it->path)) && dfs_kernel_enter() == 0) {
			fuse_lowlevel_notify_inval_inode(nq.se, id, 0, 0);
			dfs_kernel_leave();
		}
		free(it);
		pthread_mutex_lock(&nq.lock);
		nq.told++;
		pthread_cond_broadcast(&nq.done);
	}
	pthread_mutex_unlock(&nq.lock);
	return NULL;
}

int dfs_notify_start(struct fuse_session *se)
{
	int ret = 0;

	pthread_mutex_lock(&nq.lock);
	nq.stop = 0;
	nq.se = se;
	if ((ret = -pthread_create(&nq.thread, NULL, notifier, NULL)) < 0) {
		nq.se = NULL;
		dfs_warn("cannot start the thread that tells the kernel about changed files (%s):"
			 " attributes are not cached", strerror(-ret));
	}
	pthread_mutex_unlock(&nq.lock);
	return ret;
}

void dfs_notify_stop(void)
{
	pthread_mutex_lock(&nq.lock);
	if (!nq.se) {
		pthread_mutex_unlock(&nq.lock);
		return;
	}
	nq.stop = 1;
	pthread_cond_signal(&nq.work);
	pthread_mutex_unlock(&nq.lock);
	pthread_join(nq.thread, NULL);
	pthread_mutex_lock(&nq.lock);
	nq.se = NULL;
	pthread_mutex_unlock(&nq.lock);
}

int dfs_notify_watch(struct dfs_cache *c, const char *tenant, const char *set)
{
	char *prefix;

	if (asprintf(&prefix, "/%s/%s/", tenant, set) < 0)
		return -ENOMEM;
	dfs_cache_on_change(c, dfs_notify_record, prefix);
	return 0;
}

void dfs_notify_record(const char *prefix, const char *id)
{
	size_t np = strlen(prefix), ni = strlen(id);
	struct item *it;

	pthread_mutex_lock(&nq.lock);
	if (!nq.se || nq.stop)
		goto out;
	if (!(it = malloc(sizeof(*it) + np + ni + sizeof(".json")))) {
		/* The kernel then keeps stale attributes for attr_timeout at most. */
		dfs_warn("out of memory: the kernel is not told that %s%s.json changed", prefix, id);
		goto out;
	}
	memcpy(it->path, prefix, np);
	memcpy(it->path + np, id, ni);
	memcpy(it->path + np + ni, ".json", sizeof(".json"));
	it->next = NULL;
	*nq.tail = it;
	nq.tail = &it->next;
	nq.queued++;
	pthread_cond_signal(&nq.work);
out:
	pthread_mutex_unlock(&nq.lock);
}

void dfs_notify_sync(void)
{
	struct timespec until;
	uint64_t want;

	pthread_mutex_lock(&nq.lock);
	want = nq.queued;
	if (nq.se && nq.told < want) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += SYNC_WAIT_S;
		while (nq.se && nq.told < want &&
		       pthread_cond_timedwait(&nq.done, &nq.lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&nq.lock);
}

/* ---- the gate before the FUSE device ------------------------------------- */

static pthread_rwlock_t gate = PTHREAD_RWLOCK_INITIALIZER;
static int gate_closed;

int dfs_kernel_enter(void)
{
	if (__atomic_load_n(&gate_closed, __ATOMIC_ACQUIRE))
		return -ESHUTDOWN;
	pthread_rwlock_rdlock(&gate);
	if (__atomic_load_n(&gate_closed, __ATOMIC_ACQUIRE)) {
		pthread_rwlock_unlock(&gate);
		return -ESHUTDOWN;
	}
	return 0;
}

void dfs_kernel_leave(void)
{
	pthread_rwlock_unlock(&gate);
}

void dfs_kernel_close(void)
{
	struct timespec until;

	__atomic_store_n(&gate_closed, 1, __ATOMIC_RELEASE);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	/* A notification the kernel holds up (it waits for a folder's lock
	 * whose holder waits for an answer the ended loop will not give) is
	 * not waited for longer. */
	if (pthread_rwlock_timedwrlock(&gate, &until) == 0)
		pthread_rwlock_unlock(&gate);
}
