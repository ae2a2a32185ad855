/* cli.h - the mount command line: what dynfs takes, what it passes on to
 * libfuse, and what it refuses.
 *
 *   dynfs [options] CONFIG MOUNTPOINT       (mount(8), fstab: the source is the config)
 *   dynfs [options] MOUNTPOINT              (-c CONFIG, or the usual places)
 *
 * -o takes dynfs's own options (every [global] key as KEY=VALUE, tenant=NAME,
 * loglevel=LEVEL, config=PATH), the options mount(8) and fstab pass that
 * mean nothing to a FUSE daemon (_netdev, nofail, noauto, user, x-*...,
 * accepted and ignored), and libfuse's options, which go on to libfuse
 * except the few dynfs must set itself: those are refused with a message.
 * Everything is checked here and by fuse_new() before any tenant is
 * contacted.  Like main.c, this file sees FUSE (fuse_opt).
 */
#ifndef DFS_CLI_H
#define DFS_CLI_H

#include <stddef.h>
#include <fuse.h>
#include <fuse_lowlevel.h>

struct dfs_cli {
	char *config;            /* -c, --config=, -o config=, or the first of two operands */
	char *mountpoint;        /* absolute (libfuse's realpath) */
	char **overrides;        /* "key=value" of [global] keys, NULL-terminated */
	size_t n_overrides;
	char **tenants;          /* -o tenant=NAME, NULL-terminated (NULL: every tenant) */
	size_t n_tenants;
	int verbose;             /* how many -v */
	int show_help;
	int show_version;
	int check;
	int user_fsname;         /* -o fsname= given: it wins over ours */
	int user_subtype;
	struct fuse_cmdline_opts co; /* -f, -d, -s, clone_fd, max_idle_threads */
	struct fuse_args args;   /* what goes on to fuse_new() */
};

/*
 * Parse ARGV into CLI (zeroed by the caller).  Returns 0, or -1 after
 * printing what is wrong on stderr (exit status 1).  --help, --version
 * and --check stop parsing at once: the caller looks at those first.
 */
int dfs_cli_parse(int argc, char *argv[], struct dfs_cli *cli);
void dfs_cli_free(struct dfs_cli *cli);

/* Print the usage summary and every option, as dynfs(1) lists them. */
void dfs_cli_help(const char *prog);

#endif
