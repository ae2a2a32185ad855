/* cli.c - the mount command line (see include/cli.h).
 *
 * fuse_opt_parse() splits "-o a,b,c" and hands every option it has no
 * template for to cli_opt(), which keeps dynfs's own, drops what mount(8)
 * passes for itself, refuses what dynfs must control, and lets the rest
 * through to libfuse.  Operands are taken here too: mount(8) runs
 * "dynfs SOURCE MOUNTPOINT -o ...", so with two operands the first is the
 * configuration file.  fuse_parse_cmdline() then takes -f, -d, -s and the
 * mountpoint, and fuse_new() (called by main.c before any tenant is
 * contacted) rejects any option nobody knows.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "banned.h"

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_CHECK,
	KEY_VERBOSE,
};

/* Operands, in order: at most two.  The templates below store into this. */
struct cli_state {
	struct dfs_cli *cli;
	char *config;
	char *operands[2];
	int n_operands;
	int failed;
};

static const struct fuse_opt cli_spec[] = {
	{ "-c %s", offsetof(struct cli_state, config), 0 },
	{ "--config=%s", offsetof(struct cli_state, config), 0 },
	{ "config=%s", offsetof(struct cli_state, config), 0 },
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("--check", KEY_CHECK),
	FUSE_OPT_KEY("-v", KEY_VERBOSE),
	FUSE_OPT_KEY("--verbose", KEY_VERBOSE),
	FUSE_OPT_END
};

/*
 * Options that mount(8), fstab and systemd use for themselves.  mount.fuse3
 * drops some of them before running us, but not all, and a user may give
 * them to dynfs directly.
 */
static const char *const ignored[] = {
	"_netdev", "nofail", "auto", "noauto", "user", "users", "nouser", "owner", "group",
	"defaults", NULL
};
static const char *const ignored_prefixes[] = { "x-", "comment=", NULL };

/* libfuse options dynfs sets itself, and why a user cannot. */
static const struct {
	const char *name;
	const char *why;
} refused[] = {
	{ "attr_timeout", "attributes come from dynfs's own cache; see cache_ttl" },
	{ "entry_timeout", "names come from dynfs's own cache; see cache_ttl" },
	{ "negative_timeout", "a new record must be visible at once; see cache_ttl" },
	{ "ac_attr_timeout", "attributes come from dynfs's own cache; see cache_ttl" },
	{ "kernel_cache", "dynfs decides at each open whether the kernel's copy is still right" },
	{ "auto_cache", "dynfs decides at each open whether the kernel's copy is still right" },
	{ "noauto_cache", "dynfs decides at each open whether the kernel's copy is still right" },
	{ "direct_io", "dynfs decides at each open whether the kernel's copy is still right" },
	{ "hard_remove", "unlink and rename of open records depend on it" },
	{ "nullpath_ok", "unlink and rename of open records depend on it" },
	{ "use_ino", "dynfs gives every file an inode number of its own" },
	{ "readdir_ino", "dynfs gives every file an inode number of its own" },
	{ "remember", "not supported by dynfs" },
	{ "noforget", "not supported by dynfs" },
	{ "modules", "not supported by dynfs" },
	{ "subdir", "not supported by dynfs" },
};

/* Does option ARG ("name" or "name=value") have the name NAME? */
static int opt_is(const char *arg, const char *name)
{
	size_t n = strlen(name);

	return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

static int push(char ***list, size_t *n, const char *s)
{
	char **grown = realloc(*list, (*n + 2) * sizeof(**list));

	if (!grown)
		return -ENOMEM;
	*list = grown;
	if (!(grown[*n] = strdup(s)))
		return -ENOMEM;
	grown[++*n] = NULL;
	return 0;
}

static int fail(struct cli_state *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct cli_state *st, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dynfs: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	st->failed = 1;
	return -1;
}

/* A -o option no template matched: ARG is "name" or "name=value". */
static int mount_option(struct cli_state *st, const char *arg)
{
	struct dfs_cli *cli = st->cli;
	const char *eq = strchr(arg, '=');
	char name[64];
	size_t i, n;

	for (i = 0; ignored[i]; i++)
		if (strcmp(arg, ignored[i]) == 0)
			return 0;
	for (i = 0; ignored_prefixes[i]; i++)
		if (strncmp(arg, ignored_prefixes[i], strlen(ignored_prefixes[i])) == 0)
			return 0;
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (opt_is(arg, refused[i].name)) {
			fprintf(stderr, "dynfs: -o %s: not accepted: dynfs sets it itself (%s)\n",
				refused[i].name, refused[i].why);
			st->failed = 1;
			return -1;
		}
	if (opt_is(arg, "tenant")) {
		if (!eq || !eq[1])
			return fail(st, "-o tenant needs a name: -o tenant=%s", "NAME");
		return push(&cli->tenants, &cli->n_tenants, eq + 1) ? -1 : 0;
	}
	n = eq ? (size_t)(eq - arg) : strlen(arg);
	if (n < sizeof(name)) {
		memcpy(name, arg, n);
		name[n] = '\0';
		if (strcmp(name, "loglevel") == 0)
			memcpy(name, "log_level", sizeof("log_level"));
		if (dfs_config_is_global_key(name)) {
			char *kv;
			int ret;

			if (!eq)
				return fail(st, "-o %s needs a value: -o KEY=VALUE (see dynfs --help)",
					    name);
			if (asprintf(&kv, "%s=%s", name, eq + 1) < 0)
				return -1;
			ret = push(&cli->overrides, &cli->n_overrides, kv);
			free(kv);
			return ret ? -1 : 0;
		}
	}
	if (opt_is(arg, "fsname"))
		cli->user_fsname = 1;
	if (opt_is(arg, "subtype"))
		cli->user_subtype = 1;
	return 1;       /* libfuse's: fuse_new() says if it does not know it */
}

static int cli_opt(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cli_state *st = data;

	switch (key) {
	case KEY_HELP:
		st->cli->show_help = 1;
		return 0;
	case KEY_VERSION:
		st->cli->show_version = 1;
		return 0;
	case KEY_CHECK:
		st->cli->check = 1;
		return 0;
	case KEY_VERBOSE:
		st->cli->verbose++;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (st->n_operands == 2)
			return fail(st, "too many arguments at '%s' (give CONFIG MOUNTPOINT, or "
				    "MOUNTPOINT)", arg);
		if (!(st->operands[st->n_operands] = strdup(arg)))
			return -1;
		st->n_operands++;
		return 0;
	case FUSE_OPT_KEY_OPT:
		if (arg[0] == '-')
			return 1;       /* -f, -d, -s and libfuse's own */
		return mount_option(st, arg);
	}
	return 1;
}

int dfs_cli_parse(int argc, char *argv[], struct dfs_cli *cli)
{
	struct cli_state st = { .cli = cli };
	int ret = -1, i;

	cli->args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);
	ret = fuse_opt_parse(&cli->args, &st, cli_spec, cli_opt);
	cli->config = st.config;
	if (ret == -1) {
		if (!st.failed)
			fprintf(stderr, "dynfs: cannot parse the command line (see dynfs --help)\n");
		goto out;
	}
	ret = -1;
	if (cli->show_help || cli->show_version) {
		ret = 0;
		goto out;
	}
	if (cli->check) {
		/* `dynfs --check CONFIG` reads as naturally as with -c. */
		if (st.n_operands == 1 && !cli->config) {
			cli->config = st.operands[0];
			st.operands[0] = NULL;
		} else if (st.n_operands) {
			fprintf(stderr, "dynfs: --check takes no mountpoint\n");
			goto out;
		}
		ret = 0;
		goto out;
	}
	if (st.n_operands == 2) {
		if (cli->config) {
			fprintf(stderr, "dynfs: the configuration is given twice ('%s' and -c/-o "
				"config='%s'): give one\n", st.operands[0], cli->config);
			goto out;
		}
		cli->config = st.operands[0];
		st.operands[0] = NULL;
	}
	/* The mountpoint goes back for fuse_parse_cmdline(), which resolves it. */
	if (st.n_operands && fuse_opt_add_arg(&cli->args, st.operands[st.n_operands - 1]) != 0)
		goto out;
	if (fuse_parse_cmdline(&cli->args, &cli->co) != 0)
		goto out;
	cli->mountpoint = cli->co.mountpoint;
	cli->co.mountpoint = NULL;
	if (cli->co.show_help)
		cli->show_help = 1;
	if (cli->co.show_version)
		cli->show_version = 1;
	ret = 0;
out:
	for (i = 0; i < 2; i++)
		free(st.operands[i]);
	return ret;
}

void dfs_cli_free(struct dfs_cli *cli)
{
	size_t i;

	for (i = 0; i < cli->n_overrides; i++)
		free(cli->overrides[i]);
	free(cli->overrides);
	for (i = 0; i < cli->n_tenants; i++)
		free(cli->tenants[i]);
	free(cli->tenants);
	free(cli->config);
	free(cli->mountpoint);
	free(cli->co.mountpoint);
	fuse_opt_free_args(&cli->args);
	memset(cli, 0, sizeof(*cli));
}

/* What each [global] key does, in --help; dynfs.ini(5) says more. */
static const struct {
	const char *name;
	const char *arg;
	const char *what;
} key_help[] = {
	{ "cache_ttl", "SECONDS", "listings and records served without asking again" },
	{ "cache_size", "SIZE", "record content kept in memory (K, M or G)" },
	{ "local_size", "SIZE", "memory for local files and files being written" },
	{ "log_level", "LEVEL", "error, warn, info or debug" },
	{ "log_file", "PATH", "log to this file (SIGHUP opens it anew)" },
	{ "connect_timeout", "SECONDS", "to set up a connection" },
	{ "timeout", "SECONDS", "for one whole request" },
	{ "max_retries", "N", "retries of throttled and failing requests" },
	{ "op_timeout", "SECONDS", "for a request with its retries and waits" },
	{ "page_size", "N", "records per listing page" },
};

void dfs_cli_help(const char *prog)
{
	const char *name, *def, *arg, *what;
	char left[64];
	size_t i, j;

	printf("usage: %s [options] CONFIG MOUNTPOINT\n"
	       "       %s [options] [-c CONFIG] MOUNTPOINT\n"
	       "       %s --check [-c CONFIG]\n"
	       "       %s login [-c CONFIG] [--browser [--port N]] [--timeout SECONDS] TENANT\n"
	       "\n"
	       "Mount Microsoft Dataverse tenants: one folder per tenant, one folder per\n"
	       "entity set, one JSON file per record.  mount(8) and /etc/fstab run it as\n"
	       "'dynfs CONFIG MOUNTPOINT -o OPTIONS' (type fuse.dynfs).\n"
	       "\n"
	       "Options:\n"
	       "    -c CONFIG, --config=CONFIG, -o config=CONFIG\n"
	       "                           configuration file (default: $DYNFS_CONFIG,\n"
	       "                           ~/.config/dynfs/dynfs.ini, /etc/dynfs.ini)\n"
	       "    -f                     stay in the foreground; log to stderr\n"
	       "    -d                     debug: -f, log level debug, libfuse's request trace\n"
	       "    -s                     serve one request at a time\n"
	       "    -v, --verbose          log level info; twice: debug\n"
	       "    -o opt[,opt...]        the options below\n"
	       "    --check                check the configuration, then get a token and\n"
	       "                           call WhoAmI for every tenant; one line each\n"
	       "    -h, --help             print this help\n"
	       "    -V, --version          print versions\n"
	       "\n"
	       "Settings (-o KEY=VALUE: the [global] keys of dynfs.ini(5); the command line\n"
	       "wins over the file):\n", prog, prog, prog, prog);
	for (i = 0; (name = dfs_config_global_key(i, &def)); i++) {
		arg = "VALUE";
		what = "see dynfs.ini(5)";
		for (j = 0; j < sizeof(key_help) / sizeof(key_help[0]); j++)
			if (strcmp(key_help[j].name, name) == 0) {
				arg = key_help[j].arg;
				what = key_help[j].what;
			}
		snprintf(left, sizeof(left), "-o %s=%s", name, arg);
		if (strlen(left) > 22)
			printf("    %s\n%27s", left, "");
		else
			printf("    %-22s ", left);
		printf("%s%s%s%s\n", what, def ? " (default " : "", def ? def : "", def ? ")" : "");
	}
	printf("    -o loglevel=LEVEL      the same as log_level\n"
	       "    -o tenant=NAME         mount only this tenant (once per tenant)\n"
	       "\n"
	       "Mount options (-o):\n"
	       "    -o ro                  read-only: every change fails with EROFS\n"
	       "    -o allow_other         let other users in (needs user_allow_other in\n"
	       "                           /etc/fuse.conf unless root)\n"
	       "    -o allow_root          let root in\n"
	       "    -o auto_unmount        unmount when dynfs exits, even if it is killed\n"
	       "    -o uid=N               owner of every file and folder (default: yours)\n"
	       "    -o gid=N               group of every file and folder (default: yours)\n"
	       "    -o umask=M             permission bits to clear (octal)\n"
	       "    -o fsname=NAME         source shown by mount(8) and df(1) (default: the\n"
	       "                           configuration file's path)\n"
	       "    -o subtype=NAME        shown as fuse.NAME (default dynfs)\n"
	       "    -o clone_fd            one /dev/fuse descriptor per thread\n"
	       "\n"
	       "Accepted and ignored, for mount(8), fstab and systemd: _netdev, nofail,\n"
	       "auto, noauto, user, users, nouser, owner, group, defaults, comment=..., x-*.\n"
	       "Refused, because dynfs sets them itself: attr_timeout, entry_timeout,\n"
	       "negative_timeout, ac_attr_timeout, kernel_cache, auto_cache, direct_io,\n"
	       "hard_remove, nullpath_ok, use_ino, readdir_ino.\n"
	       "\n"
	       "Signals: HUP refreshes (folders listed anew, secrets and tokens read again,\n"
	       "the log reopened); TERM and INT unmount once saves in flight have finished.\n"
	       "Health: cat MOUNTPOINT/.status and MOUNTPOINT/TENANT/.status.\n"
	       "\n"
	       "dynfs login TENANT signs in for a tenant with auth = refresh_token (device\n"
	       "code; --browser: authorization code + PKCE) and saves its refresh token.\n"
	       "See dynfs(1) and dynfs.ini(5).\n");
}
