/* check.h - the check harness the unit tests share.
 *
 * CHECK(cond, fmt, ...) counts a pass, or prints "FAIL file:line: message"
 * and counts a failure; check_report() prints "NAME: N passed, N failed" and
 * gives the exit status.  Header-only: each test is one program.
 */
#ifndef DFS_CHECK_H
#define DFS_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int n_passed, n_failed;

static void check_at(int ok, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), unused));

static void check_at(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		n_passed++;
		return;
	}
	n_failed++;
	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

#define CHECK(cond, ...) check_at(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* For printing strings that may be NULL. */
static inline const char *str(const char *s)
{
	return s ? s : "(null)";
}

static inline int streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* Print the tally for test NAME; returns the exit status. */
static inline int check_report(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, n_passed, n_failed);
	return n_failed ? 1 : 0;
}

#endif
