/* log.c - the driver's one logger (see include/log.h).
 *
 * A line is formatted once into memory and then handed over in a single
 * write(2) to stderr or the log file, or a single syslog(3) call, so lines
 * from concurrent FUSE threads never interleave.  The threshold and the
 * destinations are atomics: dfs_log() takes no lock, and SIGHUP swaps the
 * log file under writers with dup2(2), which is atomic.  The level names
 * live here only: the config's log_level key takes its choices from
 * dfs_log_level_names.
 *
 * While a thread serves a FUSE operation (dfs_log_op_begin), its error and
 * warning lines are gathered instead of written: if the operation fails
 * they become part of its one line, else they are written as they were.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "banned.h"

#define LOG_PREFIX "dynfs: "
#define LOG_LINE_STACK 1024     /* longer lines are formatted on the heap */
#define OP_LINES_MAX 16384      /* what one operation gathers; more is counted */
#define TIME_LEN 40

static int log_level = DFS_LOG_WARN;
static int log_syslog;          /* 0: stderr (or the file), 1: syslog */
static int log_fd = -1;         /* log_file, or -1 */
static int log_mirror;          /* a log file, and stderr too: not mounted yet */
static char *log_path;

const char *const dfs_log_level_names[] = {
	[DFS_LOG_ERR] = "error",
	[DFS_LOG_WARN] = "warn",
	[DFS_LOG_INFO] = "info",
	[DFS_LOG_DEBUG] = "debug",
	[DFS_LOG_DEBUG + 1] = NULL,
};

/*
 * The lines gathered for the operation this thread serves: entries of one
 * level byte ('0' + level) and the message, each ending in a NUL.
 */
struct op_lines {
	int active;
	char *text;
	size_t len, cap;
	unsigned dropped;
};

static __thread struct op_lines op;

void dfs_log_set_level(enum dfs_log_level level)
{
	if ((int)level < DFS_LOG_NONE)
		level = DFS_LOG_NONE;
	if (level > DFS_LOG_DEBUG)
		level = DFS_LOG_DEBUG;
	__atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

enum dfs_log_level dfs_log_get_level(void)
{
	return (enum dfs_log_level)__atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

int dfs_log_parse_level(const char *name)
{
	size_t i;

	if (!name)
		return -EINVAL;
	for (i = 0; dfs_log_level_names[i]; i++)
		if (strcmp(name, dfs_log_level_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

static int open_log_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

	return fd < 0 ? -errno : fd;
}

int dfs_log_open_file(const char *path)
{
	int fd = open_log_file(path);

	if (fd < 0)
		return fd;
	if (!(log_path = strdup(path))) {
		close(fd);
		return -ENOMEM;
	}
	__atomic_store_n(&log_mirror, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&log_fd, fd, __ATOMIC_RELEASE);
	return 0;
}

void dfs_log_close_file(void)
{
	int fd = __atomic_exchange_n(&log_fd, -1, __ATOMIC_ACQ_REL);

	if (fd >= 0)
		close(fd);
	free(log_path);
	log_path = NULL;
}

void dfs_log_mounted(int foreground)
{
	if (__atomic_load_n(&log_fd, __ATOMIC_ACQUIRE) >= 0) {
		__atomic_store_n(&log_mirror, 0, __ATOMIC_RELEASE);
		return;
	}
	if (foreground)
		return;
	openlog("dynfs", LOG_PID, LOG_DAEMON);
	__atomic_store_n(&log_syslog, 1, __ATOMIC_RELEASE);
}

int dfs_log_reopen(void)
{
	int fd = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE), nfd, ret = 0;

	if (fd >= 0 && log_path) {
		/* The old file was renamed away (logrotate): a new one by the name.
		 * dup2 swaps it in under concurrent writers; on failure the old
		 * one is kept, so no line is lost. */
		if ((nfd = open_log_file(log_path)) < 0)
			return nfd;
		if (dup2(nfd, fd) < 0)
			ret = -errno;
		close(nfd);
		return ret;
	}
	if (!__atomic_load_n(&log_syslog, __ATOMIC_ACQUIRE))
		return 0;       /* stderr: whoever started dynfs owns it */
	closelog();
	openlog("dynfs", LOG_PID, LOG_DAEMON);
	return 0;
}

static int syslog_priority(enum dfs_log_level level)
{
	switch (level) {
	case DFS_LOG_ERR:
		return LOG_ERR;
	case DFS_LOG_WARN:
		return LOG_WARNING;
	case DFS_LOG_INFO:
		return LOG_INFO;
	case DFS_LOG_DEBUG:
	case DFS_LOG_NONE:      /* never logged */
		break;
	}
	return LOG_DEBUG;
}

/* Write all LEN bytes of S to FD, retrying on EINTR and short writes. */
static void write_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		s += n;
		len -= (size_t)n;
	}
}

/*
 * The local time into BUF (TIME_LEN bytes): "HH:MM:SS.mmm", after the date
 * if DATED, then SEP.  Returns the length written, 0 if the clock could not
 * be read.
 */
static size_t format_time(char *buf, int dated, const char *sep)
{
	struct timespec ts;
	struct tm tm;
	size_t n;
	int m;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || !localtime_r(&ts.tv_sec, &tm))
		return 0;
	n = strftime(buf, TIME_LEN, dated ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S", &tm);
	if (n == 0)
		return 0;
	m = snprintf(buf + n, TIME_LEN - n, ".%03ld%s", ts.tv_nsec / 1000000L, sep);
	if (m < 0 || (size_t)m >= TIME_LEN - n)
		return 0;
	return n + (size_t)m;
}

/*
 * MSG (LEN bytes) with its control characters escaped: names and server
 * messages come from anyone, and neither a newline (a forged log line) nor
 * an escape sequence (a terminal reading stderr) may pass.  Returns MSG
 * itself when there are none, else a malloc'd copy; *LEN follows.  Out of
 * memory, control characters become '?' in place.
 */
static char *escaped(char *msg, size_t *len)
{
	size_t i, k, more = 0, n = 0;
	char esc[5], *out;

	for (i = 0; i < *len; i++)
		if ((k = dfs_escape_byte((unsigned char)msg[i], esc)))
			more += k - 1;
	if (!more)
		return msg;
	if (!(out = malloc(*len + more + 1))) {
		for (i = 0; i < *len; i++)
			if (dfs_escape_byte((unsigned char)msg[i], esc))
				msg[i] = '?';
		return msg;
	}
	for (i = 0; i < *len; i++) {
		if ((k = dfs_escape_byte((unsigned char)msg[i], esc))) {
			memcpy(out + n, esc, k);
			n += k;
		} else {
			out[n++] = msg[i];
		}
	}
	out[n] = '\0';
	*len = n;
	return out;
}

/* HEAD (HLEN bytes), MSG (LEN bytes) and a newline in one write to FD. */
static void write_line(int fd, const char *head, size_t hlen, const char *msg, size_t len)
{
	char stack[LOG_LINE_STACK], *line = stack;

	if (hlen + len + 1 > sizeof(stack) && !(line = malloc(hlen + len + 1))) {
		/* Out of memory: two writes are better than none. */
		write_all(fd, head, hlen);
		write_all(fd, msg, len);
		write_all(fd, "\n", 1);
		return;
	}
	memcpy(line, head, hlen);
	memcpy(line + hlen, msg, len);
	line[hlen + len] = '\n';
	write_all(fd, line, hlen + len + 1);
	if (line != stack)
		free(line);
}

/* Send MSG (LEN bytes, one line, control characters escaped) where lines go. */
static void output(enum dfs_log_level level, const char *msg, size_t len)
{
	char head[TIME_LEN + 64];
	size_t n;
	int fd;

	if (__atomic_load_n(&log_syslog, __ATOMIC_ACQUIRE)) {
		syslog(syslog_priority(level), "%s", msg);
		return;
	}
	fd = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE);
	if (fd >= 0) {
		/* A file has no syslog to date and rank its lines: they do. */
		n = format_time(head, 1, "");
		n += (size_t)snprintf(head + n, sizeof(head) - n, " dynfs[%ld] %s: ",
				      (long)getpid(), dfs_log_level_names[level]);
		write_line(fd, head, n, msg, len);
		if (!__atomic_load_n(&log_mirror, __ATOMIC_ACQUIRE))
			return;
	}
	/* stderr lines start with "dynfs: " and, for debug, the time of day. */
	memcpy(head, LOG_PREFIX, sizeof(LOG_PREFIX) - 1);
	n = sizeof(LOG_PREFIX) - 1;
	if (level == DFS_LOG_DEBUG)
		n += format_time(head + n, 0, " ");
	write_line(STDERR_FILENO, head, n, msg, len);
}

/* Keep MSG for the operation this thread serves. */
static void gather(enum dfs_log_level level, const char *msg, size_t len)
{
	size_t need = op.len + len + 2, cap;
	char *t;

	if (need > OP_LINES_MAX) {
		op.dropped++;
		return;
	}
	if (need > op.cap) {
		cap = op.cap ? op.cap : 256;
		while (cap < need)
			cap *= 2;
		if (!(t = realloc(op.text, cap))) {
			op.dropped++;
			return;
		}
		op.text = t;
		op.cap = cap;
	}
	op.text[op.len++] = (char)('0' + level);
	memcpy(op.text + op.len, msg, len);
	op.len += len;
	op.text[op.len++] = '\0';
}

static void vlog(enum dfs_log_level level, const char *fmt, va_list ap)
{
	char stack[LOG_LINE_STACK];
	char *msg = stack, *out;
	size_t len;
	va_list again;
	int n;

	va_copy(again, ap);
	n = vsnprintf(stack, sizeof(stack), fmt, ap);
	if (n < 0)
		goto out;
	len = (size_t)n;
	if (len >= sizeof(stack)) {
		/* Too long for the stack buffer: format again on the heap. */
		if ((msg = malloc(len + 1)))
			vsnprintf(msg, len + 1, fmt, again);
		else
			msg = stack, len = sizeof(stack) - 1;   /* log what fits */
	}
	/* One line per call: drop the caller's trailing newlines. */
	while (len > 0 && msg[len - 1] == '\n')
		len--;
	msg[len] = '\0';
	if (op.active && level <= DFS_LOG_WARN) {
		gather(level, msg, len);
	} else {
		out = escaped(msg, &len);
		output(level, out, len);
		if (out != msg)
			free(out);
	}
	if (msg != stack)
		free(msg);
out:
	va_end(again);
}

void dfs_log(enum dfs_log_level level, const char *fmt, ...)
{
	va_list ap;

	if ((int)level > __atomic_load_n(&log_level, __ATOMIC_RELAXED))
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

/* ---- the line of an operation -------------------------------------------- */

/* Forget what was gathered.  Freed each time: a FUSE worker thread may end
 * before its next operation. */
static void op_clear(void)
{
	free(op.text);
	op.text = NULL;
	op.len = op.cap = 0;
	op.dropped = 0;
	op.active = 0;
}

void dfs_log_op_begin(void)
{
	op_clear();
	op.active = 1;
}

int dfs_log_in_op(void)
{
	return op.active;
}

enum dfs_log_level dfs_log_op_gathered(void)
{
	enum dfs_log_level worst = DFS_LOG_NONE;
	size_t i;

	for (i = 0; i < op.len; i += strlen(op.text + i) + 1)
		if (worst == DFS_LOG_NONE || op.text[i] - '0' < (int)worst)
			worst = (enum dfs_log_level)(op.text[i] - '0');
	return worst;
}

void dfs_log_op_done(void)
{
	size_t i;

	op.active = 0;
	for (i = 0; i < op.len; i += strlen(op.text + i) + 1)
		dfs_log((enum dfs_log_level)(op.text[i] - '0'), "%s", op.text + i + 1);
	op_clear();
}

void dfs_log_op_failed(enum dfs_log_level level, const char *fmt, ...)
{
	char *line = NULL, *t;
	size_t i, k, len;
	va_list ap;
	int n;

	op.active = 0;
	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0) {
		dfs_log_op_done();
		return;
	}
	len = (size_t)n;
	/* Its one line: what the operation says, then what was gathered. */
	for (i = 0; i < op.len; i += strlen(op.text + i) + 1) {
		k = strlen(op.text + i + 1);
		if (op.text[i] - '0' < (int)level)
			level = (enum dfs_log_level)(op.text[i] - '0');
		if (!(t = realloc(line, len + k + 3)))
			break;
		line = t;
		memcpy(line + len, "; ", 2);
		memcpy(line + len + 2, op.text + i + 1, k + 1);
		len += k + 2;
	}
	if (op.dropped)
		dfs_log(level, "%s; and %u line(s) more", line, op.dropped);
	else
		dfs_log(level, "%s", line);
	free(line);
	op_clear();
}
