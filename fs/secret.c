/* secret.c - read a secret from its source (see include/secret.h).
 *
 * client_secret_command runs through posix_spawnp, not fork: the FUSE daemon
 * is multi-threaded, and between fork and exec only async-signal-safe calls
 * are allowed.  No shell is involved, so nothing in the command line is
 * expanded, and the secret travels through a pipe, never through argv or the
 * environment of another process.  Its deadline runs on dfs_now(), the
 * driver's one monotonic clock (util.h).  Failures are negative errno values,
 * as everywhere in the driver.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secret.h"
#include "util.h"
#include "banned.h"

#define COMMAND_TIMEOUT 30.0    /* seconds a secret command may take */

extern char **environ;

int dfs_secret_given(const struct dfs_secret_src *src)
{
	return src->value || src->file || src->env || src->command;
}

void dfs_secret_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

/* Cut BUF at its first line ending; 0, or -ENODATA when that line is empty. */
static int first_line(char *buf)
{
	buf[strcspn(buf, "\r\n")] = '\0';
	return buf[0] ? 0 : -ENODATA;
}

int dfs_secret_read_file(const char *path, char **secret)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *f;
	int rc = 0;

	*secret = NULL;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	errno = 0;
	len = getline(&buf, &cap, f);
	if (len < 0) {
		rc = errno ? -errno : -ENODATA;
		goto out;
	}
	if ((size_t)len > DFS_SECRET_MAX) {
		rc = -EFBIG;
		goto out;
	}
	if ((rc = first_line(buf)) != 0)
		goto out;
	*secret = strdup(buf);
	if (!*secret)
		rc = -ENOMEM;
out:
	if (buf) {
		explicit_bzero(buf, cap);
		free(buf);
	}
	fclose(f);
	return rc;
}

void dfs_secret_free_argv(char **argv)
{
	size_t i;

	for (i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

char **dfs_secret_split_command(const char *s)
{
	size_t n = 0, len = strlen(s);
	char **argv = calloc(len / 2 + 2, sizeof(*argv));
	char *word = malloc(len + 1), quote;
	size_t w;

	if (!argv || !word)
		goto fail;
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		w = 0;
		while (*s && *s != ' ' && *s != '\t') {
			if (*s == '\'' || *s == '"') {
				quote = *s++;
				while (*s && *s != quote)
					word[w++] = *s++;
				if (!*s)
					goto inval;
				s++;
			} else {
				word[w++] = *s++;
			}
		}
		word[w] = '\0';
		if (!(argv[n++] = strdup(word)))
			goto fail;
	}
	if (n == 0)
		goto inval;
	free(word);
	return argv;
inval:
	errno = EINVAL;
fail:
	free(word);
	dfs_secret_free_argv(argv);
	return NULL;
}

/*
 * Run COMMAND, read its standard output (at most DFS_SECRET_MAX bytes kept)
 * and wait for it.  Returns 0 with *OUT the output, or a negative errno with
 * WHY filled.
 */
static int run_command(const char *key, const char *command, char **out, char *why,
		       size_t why_len)
{
	posix_spawn_file_actions_t fa;
	char **argv = dfs_secret_split_command(command);
	char *buf = NULL;
	size_t len = 0;
	int pipefd[2] = { -1, -1 }, status, ret, spawned = 0, fa_init = 0;
	pid_t pid;
	double deadline;
	ssize_t n;

	*out = NULL;
	if (!argv) {
		ret = errno == EINVAL ? -EINVAL : -ENOMEM;
		snprintf(why, why_len, "%s: %s", key, ret == -EINVAL ? "empty command or "
			 "unterminated quote" : strerror(-ret));
		return ret;
	}
	buf = calloc(1, DFS_SECRET_MAX + 1);
	if (!buf || pipe2(pipefd, O_CLOEXEC) != 0 || posix_spawn_file_actions_init(&fa) != 0) {
		ret = buf ? -errno : -ENOMEM;
		snprintf(why, why_len, "%s: %s", key, strerror(-ret));
		goto out;
	}
	fa_init = 1;
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	ret = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	close(pipefd[1]);
	pipefd[1] = -1;
	if (ret != 0) {
		snprintf(why, why_len, "%s: cannot run '%s': %s", key, argv[0], strerror(ret));
		ret = -ret;
		goto out;
	}
	spawned = 1;

	/* Read everything (a command killed by SIGPIPE would look like a failure)
	 * but keep only what fits. */
	deadline = dfs_now() + COMMAND_TIMEOUT;
	for (;;) {
		struct pollfd pfd = { pipefd[0], POLLIN, 0 };
		double left = deadline - dfs_now();
		char sink[512];

		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) == 0) {
			kill(pid, SIGKILL);
			snprintf(why, why_len, "%s: '%s' did not finish within %.0f s", key, argv[0],
				 COMMAND_TIMEOUT);
			ret = -ETIMEDOUT;
			goto out;
		}
		if (len < DFS_SECRET_MAX)
			n = read(pipefd[0], buf + len, DFS_SECRET_MAX - len);
		else
			n = read(pipefd[0], sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len < DFS_SECRET_MAX)
			len += (size_t)n;
	}
	buf[len] = '\0';
	ret = 0;
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (spawned) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (ret == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			if (WIFEXITED(status))
				snprintf(why, why_len, "%s: '%s' exited with status %d", key, argv[0],
					 WEXITSTATUS(status));
			else
				snprintf(why, why_len, "%s: '%s' was killed by signal %d", key,
					 argv[0], WTERMSIG(status));
			ret = -EIO;
		}
	}
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	dfs_secret_free_argv(argv);
	if (ret == 0)
		*out = buf;
	else if (buf) {
		explicit_bzero(buf, DFS_SECRET_MAX + 1);
		free(buf);
	}
	return ret;
}

int dfs_secret_get(const struct dfs_secret_src *src, const char *what, char **out,
		   char *why, size_t why_len)
{
	char key[64], *buf = NULL;
	const char *v;
	int rc;

	*out = NULL;
	if (src->file) {
		snprintf(key, sizeof(key), "%s_file", what);
		rc = dfs_secret_read_file(src->file, out);
		if (rc == 0)
			return 0;
		if (rc == -ENODATA)
			snprintf(why, why_len, "%s: the first line of '%s' is empty", key, src->file);
		else
			snprintf(why, why_len, "%s: cannot read '%s': %s", key, src->file,
				 strerror(-rc));
		return rc;
	}
	if (src->env) {
		snprintf(key, sizeof(key), "%s_env", what);
		v = getenv(src->env);
		if (!v || !*v) {
			snprintf(why, why_len, "%s: environment variable %s is %s", key, src->env,
				 v ? "empty" : "not set");
			return -ENOENT;
		}
		*out = strdup(v);
		return *out ? 0 : -ENOMEM;
	}
	if (src->command) {
		snprintf(key, sizeof(key), "%s_command", what);
		rc = run_command(key, src->command, &buf, why, why_len);
		if (rc < 0)
			return rc;
		if (first_line(buf) != 0) {
			snprintf(why, why_len, "%s: '%s' printed nothing on its first line", key,
				 src->command);
			explicit_bzero(buf, DFS_SECRET_MAX + 1);
			free(buf);
			return -ENODATA;
		}
		/* Shrink to the line, zeroing the rest of the big buffer. */
		*out = strdup(buf);
		explicit_bzero(buf, DFS_SECRET_MAX + 1);
		free(buf);
		return *out ? 0 : -ENOMEM;
	}
	if (src->value) {
		*out = strdup(src->value);
		return *out ? 0 : -ENOMEM;
	}
	snprintf(why, why_len, "no %s configured", what);
	return -ENOENT;
}

const char *dfs_secret_wants_shell(char *const *argv)
{
	static const char *const ops[] = { "|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>&1",
					   "2>/dev/null", NULL };
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	size_t i, j;

	if (!strcmp(base, "sh") || !strcmp(base, "bash") || !strcmp(base, "dash") ||
	    !strcmp(base, "zsh") || !strcmp(base, "ksh"))
		return NULL;
	if (argv[0][0] == '~')
		return "'~'";
	for (i = 1; argv[i]; i++) {
		for (j = 0; ops[j]; j++)
			if (!strcmp(argv[i], ops[j]))
				return ops[j];
		if (strstr(argv[i], "$(") || strchr(argv[i], '`'))
			return "a command substitution";
		if (argv[i][0] == '$')
			return "a variable";
		if (argv[i][0] == '~')
			return "'~'";
	}
	return NULL;
}
