/* secret.h - where a secret (client secret, password) comes from.
 *
 * A secret is given inline in the config file, as a file whose first line it
 * is, as an environment variable, or as a command whose first line of output
 * it is (run without a shell).  Token requests read the source anew each time,
 * so a rotated secret file or password is picked up without remounting.
 * Secret values never appear in messages; buffers are zeroed before freeing.
 */
#ifndef DFS_SECRET_H
#define DFS_SECRET_H

#include <stddef.h>

#define DFS_SECRET_MAX (64 * 1024)      /* a longer secret is a mistake */

struct dfs_secret_src {
	char *value;     /* inline value, or what `file` held when the config was loaded */
	char *file;      /* path (absolute after loading) */
	char *env;       /* environment variable name */
	char *command;   /* "program arg ..." split at blanks, '...' and "..." quote */
};

/* 1 if any source is set. */
int dfs_secret_given(const struct dfs_secret_src *src);

/*
 * Read the secret now into *OUT (malloc'd; free with dfs_secret_free).
 * Returns 0, or a negative errno with WHY (never the secret) saying what went
 * wrong, e.g. "client_secret_env: CONTOSO_SECRET is not set".  WHAT names the
 * key family in messages ("client_secret", "password").
 */
int dfs_secret_get(const struct dfs_secret_src *src, const char *what, char **out,
		   char *why, size_t why_len);

/*
 * The first line of PATH without its line ending.  Returns 0 and a malloc'd
 * *SECRET, or a negative errno (-ENODATA: the first line is empty, -EFBIG:
 * longer than DFS_SECRET_MAX).
 */
int dfs_secret_read_file(const char *path, char **secret);

/*
 * Split COMMAND into a NULL-terminated argv (malloc'd, free with free_argv).
 * Returns NULL on an unterminated quote or an empty command (errno EINVAL)
 * or out of memory.
 */
char **dfs_secret_split_command(const char *command);
void dfs_secret_free_argv(char **argv);

/* Zero and free S (NULL is fine). */
void dfs_secret_free(char *s);

/*
 * What in ARGV (a command split without a shell) only a shell would make
 * sense of -- a pipe, a redirection, a list, a variable, a substitution,
 * a ~ -- or NULL.  A shell itself as the program is fine: its -c
 * argument is its own business.
 */
const char *dfs_secret_wants_shell(char *const *argv);

#endif
