/* util.h - the small things every module needs once: the clock, GUIDs,
 * text fit for a log line, and the size cap of a file's bytes.
 *
 * Return convention (all of include/): a function that can fail returns 0
 * or a negative errno.  A function with a second kind of success says so in
 * its comment and returns a positive value for it (1: "found", "not
 * modified"); predicates named is/has return 1 or 0.
 */
#ifndef DFS_UTIL_H
#define DFS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * The most bytes one file may hold in memory: a record being written, a
 * local file, a response body.  Far above any record (Dataverse rows are
 * kilobytes); it stops a runaway write instead of exhausting memory.
 */
#define DFS_FILE_MAX (64UL * 1024 * 1024)

/* Seconds on the monotonic clock: for ages, deadlines and timeouts. */
double dfs_now(void);

/* Is S longer than SUFFIX and ends with it?  ("x.json", not ".json") */
int dfs_has_suffix(const char *s, const char *suffix);

/* ---- GUIDs ---------------------------------------------------------------- */

#define DFS_GUID_LEN 36          /* "8-4-4-4-12" hex digits and hyphens */

/*
 * Is S[0..LEN) a GUID "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"?  With
 * LOWER_ONLY, upper-case hex digits do not count.  If so and ID is not
 * NULL, the GUID is copied there lower-cased.  Returns 0 or -EINVAL.
 */
int dfs_guid_parse(const char *s, size_t len, int lower_only, char id[DFS_GUID_LEN + 1]);

/* A fresh random (version 4) GUID in lower case.  0 or -EIO. */
int dfs_guid_new(char id[DFS_GUID_LEN + 1]);

/* GUID ID (either case) as its 16 bytes in the order written; 0 or -EINVAL. */
int dfs_guid_pack(const char *id, uint8_t out[16]);
/* The lower-case text of packed GUID ID. */
void dfs_guid_unpack(const uint8_t id[16], char out[DFS_GUID_LEN + 1]);

/*
 * Inode numbers are dynfs's own (use_ino), so they stay the same when the
 * kernel drops a name and looks it up again (forget.h): cp, tar and rsync
 * see the same file.  A record's is 1<<62 | a hash of its id and of
 * FOLDER, the inode number of its set's folder (the same id in another
 * tenant or set is another file); a local file's 1<<61 | a serial, kept
 * when it is renamed (also onto a record's name, or away from one: a
 * record's number would then be two files').  Folders' are below 1<<42
 * (tree.h).
 */
uint64_t dfs_ino_record(uint64_t folder, const uint8_t id[16]);
uint64_t dfs_ino_local(void);

/*
 * Compare packed GUIDs A and B (<0, 0, >0) the way SQL Server orders
 * uniqueidentifier values, which is how Dataverse sorts and compares ids:
 * the last group first (bytes 10-15), then the fourth (bytes 8-9), then the
 * third, second and first, each of these three from its last written byte
 * (they are stored little-endian).
 */
int dfs_guid_cmp_sql(const uint8_t a[16], const uint8_t b[16]);
/*
 * Is process (or thread) PID gone, or on its way out: a SIGKILL pending,
 * which is also how the kernel ends a process on a signal it does not
 * handle (Ctrl-C of cat)?  1 or 0.  A program that handles the signal
 * (an editor and SIGWINCH) is not dying.
 */
int dfs_pid_dying(int pid);

/* ---- text for messages ------------------------------------------------------ */

/* T as "2026-12-06T16:02:13Z" in BUF (CAP >= 21).  Returns BUF. */
const char *dfs_utc_text(time_t t, char *buf, size_t cap);

/*
 * S (LEN bytes, or up to its NUL when LEN is (size_t)-1) made safe to quote
 * in a one-line message: control characters are escaped as C writes them
 * (\n, \r, \t, \x1b, \x00, DEL \x7f), so a name can neither break a log line
 * nor send a terminal escape; text that does not fit in CAP bytes is cut on
 * a UTF-8 character boundary and ends in "...".  Returns BUF (CAP >= 5).
 */
const char *dfs_printable(const char *s, size_t len, char *buf, size_t cap);

/* The escape of byte C as dfs_printable writes it into OUT (NUL-ended),
 * and its length; 0 when C stands for itself. */
size_t dfs_escape_byte(unsigned char c, char out[5]);

#endif
