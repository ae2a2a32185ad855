/* log.c - the driver's one logger (see include/log.h).
 *
 * A line is formatted once into memory and then handed over in a single
 * write(2) to stderr or a single syslog(3) call, so lines from concurrent FUSE
 * threads never interleave.  The threshold and the destination are atomics:
 * dfs_log() takes no lock.  The level names live here only: the config's
 * log_level key takes its choices from dfs_log_level_names.
 */
#include <errno.h>
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

static int log_level = DFS_LOG_WARN;
static int log_syslog;          /* 0: stderr, 1: syslog */

const char *const dfs_log_level_names[] = {
	[DFS_LOG_ERR] = "error",
	[DFS_LOG_WARN] = "warn",
	[DFS_LOG_INFO] = "info",
	[DFS_LOG_DEBUG] = "debug",
	[DFS_LOG_DEBUG + 1] = NULL,
};

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

void dfs_log_to_syslog(void)
{
	openlog("dynfs", LOG_PID, LOG_DAEMON);
	__atomic_store_n(&log_syslog, 1, __ATOMIC_RELEASE);
}

void dfs_log_reopen(void)
{
	if (!__atomic_load_n(&log_syslog, __ATOMIC_ACQUIRE))
		return;         /* stderr: whoever started dynfs owns it */
	closelog();
	openlog("dynfs", LOG_PID, LOG_DAEMON);
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

/* Write all LEN bytes of S to stderr, retrying on EINTR and short writes. */
static void write_all(const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, s, len);

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
 * "HH:MM:SS.mmm " (local time) into BUF, which has room for 16 bytes.
 * Returns the length written, 0 if the clock could not be read.
 */
static size_t format_timestamp(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	size_t n;
	int m;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || !localtime_r(&ts.tv_sec, &tm))
		return 0;
	n = strftime(buf, size, "%H:%M:%S", &tm);
	if (n == 0)
		return 0;
	m = snprintf(buf + n, size - n, ".%03ld ", ts.tv_nsec / 1000000L);
	if (m < 0 || (size_t)m >= size - n)
		return 0;
	return n + (size_t)m;
}

/*
 * LINE (LEN bytes) with the control characters of its message (after HEAD)
 * escaped: names and server messages come from anyone, and neither a
 * newline (a forged log line) nor an escape sequence (a terminal reading
 * stderr) may pass.  Returns LINE itself when there are none, else a
 * malloc'd copy (LINE freed unless it is STACK); *LEN follows.  Out of
 * memory, control characters become '?' in place.
 */
static char *escaped(char *line, size_t head, size_t *len, char *stack)
{
	size_t i, k, more = 0, n = 0;
	char esc[5], *out;

	for (i = head; i < *len; i++)
		if ((k = dfs_escape_byte((unsigned char)line[i], esc)))
			more += k - 1;
	if (!more)
		return line;
	/* +2: room for the newline stderr lines get, and the NUL. */
	if (!(out = malloc(*len + more + 2))) {
		for (i = head; i < *len; i++)
			if (dfs_escape_byte((unsigned char)line[i], esc))
				line[i] = '?';
		return line;
	}
	memcpy(out, line, head);
	for (n = head, i = head; i < *len; i++) {
		if ((k = dfs_escape_byte((unsigned char)line[i], esc))) {
			memcpy(out + n, esc, k);
			n += k;
		} else {
			out[n++] = line[i];
		}
	}
	out[n] = '\0';
	*len = n;
	if (line != stack)
		free(line);
	return out;
}

void dfs_log(enum dfs_log_level level, const char *fmt, ...)
{
	char stack[LOG_LINE_STACK];
	char *line = stack;
	size_t head = 0, len;
	va_list ap;
	int to_syslog, n;

	if ((int)level > __atomic_load_n(&log_level, __ATOMIC_RELAXED))
		return;
	to_syslog = __atomic_load_n(&log_syslog, __ATOMIC_ACQUIRE);

	/* stderr lines start with "dynfs: " and, for debug, the time of day. */
	if (!to_syslog) {
		memcpy(stack, LOG_PREFIX, sizeof(LOG_PREFIX) - 1);
		head = sizeof(LOG_PREFIX) - 1;
		if (level == DFS_LOG_DEBUG)
			head += format_timestamp(stack + head, 16);
	}

	va_start(ap, fmt);
	n = vsnprintf(stack + head, sizeof(stack) - head - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	len = (size_t)n;
	if (len >= sizeof(stack) - head - 1) {
		/* Too long for the stack buffer: format again on the heap. */
		line = malloc(head + len + 2);
		if (line) {
			memcpy(line, stack, head);
			va_start(ap, fmt);
			vsnprintf(line + head, len + 1, fmt, ap);
			va_end(ap);
		} else {
			/* Out of memory: log what fits. */
			line = stack;
			len = sizeof(stack) - head - 2;
		}
	}
	len += head;
	/* One line per call: drop the caller's trailing newlines. */
	while (len > head && line[len - 1] == '\n')
		len--;
	line[len] = '\0';
	line = escaped(line, head, &len, stack);

	if (to_syslog) {
		syslog(syslog_priority(level), "%s", line);
	} else {
		line[len++] = '\n';
		write_all(line, len);
	}
	if (line != stack)
		free(line);
}
