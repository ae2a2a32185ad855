/* test_util.c - unit tests for fs/util.c's text for messages and fs/log.c's
 * one-line guarantee: whatever a name or a server message holds, a log line
 * stays one line without terminal escapes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "log.h"
#include "util.h"

static void printable(int line, const char *s, size_t len, size_t cap, const char *want)
{
	char buf[128];

	memset(buf, 'z', sizeof(buf));
	dfs_printable(s, len, buf, cap);
	check_at(strcmp(buf, want) == 0, __FILE__, line, "printable: got '%s', want '%s'", buf,
		 want);
	check_at(strlen(buf) < cap, __FILE__, line, "printable: %zu bytes do not fit in %zu",
		 strlen(buf), cap);
}

#define PRINTABLE(s, cap, want) printable(__LINE__, s, (size_t)-1, cap, want)

static void test_printable(void)
{
	PRINTABLE("plain name.json", 64, "plain name.json");
	PRINTABLE("a\nb\rc\td", 64, "a\\nb\\rc\\td");
	PRINTABLE("\x1b[31mred\x1b[0m", 64, "\\x1b[31mred\\x1b[0m");
	PRINTABLE("del\x7f", 64, "del\\x7f");
	PRINTABLE("Back\\Slash Ltd", 64, "Back\\Slash Ltd");
	PRINTABLE("Müller ☃", 64, "Müller ☃");
	PRINTABLE(NULL, 8, "");
	printable(__LINE__, "a\0b", 3, 16, "a\\x00b");
	/* Cut to fit, "..." included, never inside an escape or a character. */
	PRINTABLE("abcdefghij", 11, "abcdefghij");
	PRINTABLE("abcdefghijk", 11, "abcdefg...");
	PRINTABLE("abcdef\nhij", 11, "abcdef...");
	PRINTABLE("ab\x1b" "cdefghijk", 11, "ab\\x1bc...");
	PRINTABLE("abcde\x1b" "fghijk", 11, "abcde...");
	PRINTABLE("abcdeÄÄÄÄ", 11, "abcdeÄ...");
	PRINTABLE("abcdefÄÄÄÄ", 11, "abcdef...");
}

/* What dfs_log writes to stderr for "%s" with ARG. */
static char *logged(const char *arg)
{
	static char out[8192];
	int fds[2], saved = dup(2);
	ssize_t n;

	if (pipe(fds) != 0 || saved < 0)
		return NULL;
	dup2(fds[1], 2);
	dfs_log(DFS_LOG_ERR, "%s", arg);
	dup2(saved, 2);
	close(saved);
	close(fds[1]);
	n = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

static void test_log_lines(void)
{
	char *big = malloc(3000), *s;

	s = logged("save evil\nname\x1b]0;title\x07.json failed");
	CHECK(s && strcmp(s, "dynfs: save evil\\nname\\x1b]0;title\\x07.json failed\n") == 0,
	      "a name with a newline and escapes stays on one line: %s", str(s));
	s = logged("trailing newline is dropped\n");
	CHECK(s && strcmp(s, "dynfs: trailing newline is dropped\n") == 0, "%s", str(s));
	/* Longer than the stack buffer: formatted on the heap, escaped all the same. */
	memset(big, 'x', 2999);
	big[2999] = '\0';
	big[1500] = '\r';
	s = logged(big);
	CHECK(s && strlen(s) == strlen("dynfs: ") + 2999 + 1 + 1 && strstr(s, "x\\rx") &&
	      !strchr(s, '\r'), "a long line is escaped too (%zu bytes)", s ? strlen(s) : 0);
	free(big);
}

int main(void)
{
	test_printable();
	test_log_lines();
	return check_report("test_util");
}
