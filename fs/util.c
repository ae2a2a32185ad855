/* util.c - the clock, GUIDs and printable text (see util.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>

#include "util.h"
#include "banned.h"

double dfs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int dfs_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

static int hex_digit(char c, int lower_only)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (!lower_only && c >= 'A' && c <= 'F');
}

int dfs_guid_parse(const char *s, size_t len, int lower_only, char id[DFS_GUID_LEN + 1])
{
	char out[DFS_GUID_LEN + 1];
	size_t i;

	if (!s || len != DFS_GUID_LEN)
		return -EINVAL;
	for (i = 0; i < DFS_GUID_LEN; i++) {
		char c = s[i];

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return -EINVAL;
		} else if (!hex_digit(c, lower_only)) {
			return -EINVAL;	/* also stops at a NUL inside S */
		}
		out[i] = c >= 'A' && c <= 'F' ? (char)(c - 'A' + 'a') : c;
	}
	out[DFS_GUID_LEN] = '\0';
	if (id)
		memcpy(id, out, sizeof(out));
	return 0;
}

/* Chosen before the first request that uses it, so retrying a create with
 * it can never make two records. */
int dfs_guid_new(char id[DFS_GUID_LEN + 1])
{
	unsigned char b[16];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -EIO;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(id, DFS_GUID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
	return 0;
}

static int hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

int dfs_guid_pack(const char *id, uint8_t out[16])
{
	char g[DFS_GUID_LEN + 1];
	int i, j;

	if (dfs_guid_parse(id, strlen(id), 0, g) < 0)
		return -EINVAL;
	for (i = 0, j = 0; i < 16; i++, j += 2) {
		if (g[j] == '-')
			j++;
		out[i] = (uint8_t)(hexval(g[j]) << 4 | hexval(g[j + 1]));
	}
	return 0;
}

/* splitmix64's finaliser: every bit of X moves every bit of the result. */
static uint64_t mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

uint64_t dfs_ino_record(uint64_t folder, const uint8_t id[16])
{
	uint64_t a = 0, b = 0;
	int i;

	for (i = 0; i < 8; i++) {
		a = a << 8 | id[i];
		b = b << 8 | id[8 + i];
	}
	/* Sequential ids differ in their first group: both halves count. */
	return 1ULL << 62 | (mix64(a ^ mix64(b ^ mix64(folder))) >> 2);
}

uint64_t dfs_ino_local(void)
{
	static uint64_t serial;

	return 1ULL << 61 | __atomic_add_fetch(&serial, 1, __ATOMIC_RELAXED);
}

void dfs_guid_unpack(const uint8_t in[16], char out[DFS_GUID_LEN + 1])
{
	snprintf(out, DFS_GUID_LEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], in[8], in[9], in[10],
		 in[11], in[12], in[13], in[14], in[15]);
}

int dfs_guid_cmp_sql(const uint8_t a[16], const uint8_t b[16])
{
	/* Most significant first, as SqlGuid.CompareTo and ORDER BY do. */
	static const uint8_t order[16] = { 10, 11, 12, 13, 14, 15, 8, 9, 7, 6, 5, 4, 3, 2, 1, 0 };
	int i;

	for (i = 0; i < 16; i++)
		if (a[order[i]] != b[order[i]])
			return a[order[i]] < b[order[i]] ? -1 : 1;
	return 0;
}

int dfs_pid_dying(int pid)
{
	unsigned long long bits, kill = 1ULL << (SIGKILL - 1);
	char path[64], line[256], state;
	int dying = 0;
	FILE *f;

	if (pid <= 0)
		return 0;	/* a caller in another pid namespace: no way to tell */
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (!(f = fopen(path, "re")))
		return errno == ENOENT || errno == ESRCH;
	while (!dying && fgets(line, sizeof(line), f)) {
		/* "State:\tZ (zombie)", "SigPnd:\t0000000000000100" (thread), "ShdPnd:" (process) */
		if (sscanf(line, "State: %c", &state) == 1)
			dying = state == 'Z' || state == 'X';
		else if (strncmp(line, "SigPnd:", 7) == 0 || strncmp(line, "ShdPnd:", 7) == 0)
			dying = sscanf(line + 7, "%llx", &bits) == 1 && (bits & kill);
	}
	fclose(f);
	return dying;
}

const char *dfs_utc_text(time_t t, char *buf, size_t cap)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, cap, "%lld", (long long)t);
	return buf;
}

size_t dfs_escape_byte(unsigned char c, char out[5])
{
	switch (c) {
	case '\n':
		memcpy(out, "\\n", 3);
		return 2;
	case '\r':
		memcpy(out, "\\r", 3);
		return 2;
	case '\t':
		memcpy(out, "\\t", 3);
		return 2;
	}
	if (c < 0x20 || c == 0x7f) {
		snprintf(out, 5, "\\x%02x", c);
		return 4;
	}
	return 0;
}

const char *dfs_printable(const char *s, size_t len, char *buf, size_t cap)
{
	size_t i, k, n = 0, full = 0, boundary = 0;
	char esc[5];

	if (!s)
		s = "";
	if (len == (size_t)-1)
		len = strlen(s);
	for (i = 0; i < len; i++)
		full += (k = dfs_escape_byte((unsigned char)s[i], esc)) ? k : 1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		k = dfs_escape_byte(c, esc);
		/* All of it fits, or this piece and "..." must. */
		if (full > cap - 1 && n + (k ? k : 1) > cap - 4) {
			/* Never half a UTF-8 character. */
			if ((c & 0xc0) == 0x80)
				n = boundary;
			memcpy(buf + n, "...", 3);
			n += 3;
			break;
		}
		if ((c & 0xc0) != 0x80)
			boundary = n;
		if (k) {
			memcpy(buf + n, esc, k);
			n += k;
		} else {
			buf[n++] = (char)c;
		}
	}
	buf[n] = '\0';
	return buf;
}
