/* daemon.c - signals and systemd notification (see include/daemon.h). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "fsops.h"
#include "log.h"
#include "pending.h"
#include "banned.h"

static char notify_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

void dfs_notify_init(void)
{
	const char *s = getenv("NOTIFY_SOCKET");

	if (s && (s[0] == '/' || s[0] == '@') && strlen(s) < sizeof(notify_path))
		memcpy(notify_path, s, strlen(s) + 1);
	unsetenv("NOTIFY_SOCKET");
}

int dfs_notify(const char *state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(notify_path);
	socklen_t len;
	ssize_t sent;
	int fd, ret = 0;

	if (!n)
		return 0;
	memcpy(sa.sun_path, notify_path, n);
	/* "@name" is an abstract socket: a leading NUL, no terminating one. */
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	if (sent < 0) {
		ret = -errno;
		dfs_warn("cannot notify systemd at %s: %s", notify_path, strerror(errno));
	}
	close(fd);
	return ret;
}

static pthread_t hup_thread;
static int hup_running;
static int hup_stop;            /* atomic */

static void *hup_main(void *arg)
{
	struct dfs_fs *fs = arg;
	sigset_t set;
	int sig, rc;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	/* Lookups restored records waited for when the last mount ended. */
	dfs_pending_retry_all(fs, 0, 0);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (__atomic_load_n(&hup_stop, __ATOMIC_ACQUIRE))
			break;
		dfs_notify("RELOADING=1\nSTATUS=refreshing");
		if ((rc = dfs_log_reopen()) < 0)
			dfs_err("cannot open the log file anew: %s; writing on to the old one",
				strerror(-rc));
		dfs_fs_refresh(fs);
		dfs_pending_retry_all(fs, 0, 0);
		dfs_warn("refreshed (SIGHUP): folders are listed anew at their next access, "
			 "tokens renewed from the secret sources and token stores, the log "
			 "reopened");
		dfs_notify("READY=1\nSTATUS=mounted");
	}
	return NULL;
}

int dfs_signals_start(struct dfs_fs *fs)
{
	sigset_t set;
	int rc;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	if ((rc = pthread_sigmask(SIG_BLOCK, &set, NULL)) != 0)
		return -rc;
	if ((rc = pthread_create(&hup_thread, NULL, hup_main, fs)) != 0)
		return -rc;
	hup_running = 1;
	return 0;
}

void dfs_signals_stop(void)
{
	if (!hup_running)
		return;
	__atomic_store_n(&hup_stop, 1, __ATOMIC_RELEASE);
	pthread_kill(hup_thread, SIGHUP);
	pthread_join(hup_thread, NULL);
	hup_running = 0;
}
