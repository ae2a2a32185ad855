/* main.c - start-up and the FUSE loop.
 *
 * Start-up order matters for error reporting: parse the command line
 * (cli.c), load the config, let libfuse check its options (fuse_new), then
 * connect every tenant (token + WhoAmI + entity sets), and only then mount
 * and go to the background.  A mistake in the options or the config, the
 * URL or the credentials is therefore reported on the terminal with a
 * non-zero exit status, before any tenant is contacted where it can be,
 * and never leaves a dead mountpoint behind.  A tenant that cannot be
 * reached for a reason that may pass is mounted anyway (see fsops.h).
 *
 * Exit status: 0 clean unmount (fusermount3 -u, umount, SIGTERM, SIGINT),
 * 1 usage or configuration error, 2 a tenant could not be used (refused
 * credentials, a missing entity set), 3 mounting failed or the FUSE loop
 * ended with an error.
 *
 * `dynfs login ...` and `dynfs --check` never mount (see login.h).
 */
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>

#include "cli.h"
#include "config.h"
#include "state.h"
#include "daemon.h"
#include "fsops.h"
#include "log.h"
#include "lowlevel.h"
#include "nodes.h"
#include "notify.h"
#include "login.h"
#include "tree.h"
#include "version.h"
#include "pending.h"
#include "banned.h"

/*
 * mount(8) runs its helpers without HOME (util-linux clears it), and so
 * does a system unit: "~/" in the config, the token store and the rescue
 * folder then follow the user's home from the password database.
 */
static void ensure_home(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if (home && home[0] == '/')
		return;
	pw = getpwuid(getuid());
	if (pw && pw->pw_dir && pw->pw_dir[0] == '/')
		setenv("HOME", pw->pw_dir, 1);
}

/* The source mount(8) and df(1) show: the configuration file, as sshfs
 * shows user@host:. */
static int add_fsname(struct dfs_cli *cli, const char *config_path)
{
	char cwd[PATH_MAX], *opt = NULL, *name = NULL;
	int ret = -1;

	if (cli->user_fsname)
		ret = 0;
	else if (config_path[0] == '/')
		name = strdup(config_path);
	else if (getcwd(cwd, sizeof(cwd)) && asprintf(&name, "%s/%s", cwd, config_path) < 0)
		name = NULL;
	if (name) {
		/* Commas and backslashes escaped, as -o needs them. */
		if (fuse_opt_add_opt_escaped(&opt, name) == 0 && opt) {
			char *arg;

			if (asprintf(&arg, "-ofsname=%s", opt) >= 0) {
				ret = fuse_opt_add_arg(&cli->args, arg);
				free(arg);
			}
		}
	}
	free(opt);
	free(name);
	if (ret == 0 && !cli->user_subtype)
		ret = fuse_opt_add_arg(&cli->args, "-osubtype=dynfs");
	/* default_permissions lets the kernel enforce the modes we report. */
	if (ret == 0)
		ret = fuse_opt_add_arg(&cli->args, "-odefault_permissions");
	return ret;
}

static int log_level(const struct dfs_cli *cli, const struct dfs_config *cfg)
{
	int level = cfg->log_level;

	if (cli->verbose && level < DFS_LOG_WARN + cli->verbose)
		level = DFS_LOG_WARN + cli->verbose;
	if (cli->co.debug || level > DFS_LOG_DEBUG)
		level = DFS_LOG_DEBUG;
	return level;
}

int main(int argc, char *argv[])
{
	struct dfs_cli cli = { 0 };
	struct dfs_config cfg = { 0 };
	struct dfs_config_opts copts = { 0 };
	struct dfs_fs *fs = NULL;
	struct fuse_session *se = NULL;
	char *config_path = NULL, status[160];
	int ret = 1;

	if (argc >= 2 && strcmp(argv[1], "login") == 0)
		return dfs_login_main(argc - 1, argv + 1);
	dfs_notify_init();
	if (dfs_cli_parse(argc, argv, &cli) != 0)
		goto out1;
	if (cli.show_help) {
		dfs_cli_help(argv[0]);
		ret = 0;
		goto out1;
	}
	if (cli.show_version) {
		printf("dynfs version %s\nFUSE library version %s\n%s\n", DFS_VERSION,
		       fuse_pkgversion(), curl_version());
		ret = 0;
		goto out1;
	}
	ensure_home();
	if (cli.check) {
		ret = dfs_check_main(cli.config);
		goto out1;
	}
	if (!cli.mountpoint) {
		fprintf(stderr, "dynfs: no mountpoint given (see %s --help)\n", argv[0]);
		goto out1;
	}
	config_path = cli.config ? strdup(cli.config) : dfs_state_config_file();
	if (!config_path) {
		fprintf(stderr, "dynfs: no configuration file: give CONFIG MOUNTPOINT or -c CONFIG,"
			" set DYNFS_CONFIG, or create ~/.config/dynfs/dynfs.ini (see dynfs.ini(5))\n");
		goto out1;
	}
	copts.overrides = (const char *const *)cli.overrides;
	copts.tenants = (const char *const *)cli.tenants;
	if (dfs_config_load_opts(config_path, &cfg, stderr, &copts) != 0)
		goto out1;
	dfs_log_set_level((enum dfs_log_level)log_level(&cli, &cfg));
	if (cfg.log_file && (ret = dfs_log_open_file(cfg.log_file)) < 0) {
		fprintf(stderr, "dynfs: log_file: cannot open %s: %s\n", cfg.log_file,
			strerror(-ret));
		ret = 1;
		goto out1;
	}
	if (cfg.kernel_names)
		dfs_warn("kernel_names: no longer used (the names the kernel holds cost dynfs no"
			 " memory): ignored");
	ret = 1;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "dynfs: cannot initialise libcurl\n");
		goto out1;
	}
	if (!(fs = dfs_fs_new(&cfg))) {
		fprintf(stderr, "dynfs: out of memory\n");
		goto out2;
	}
	fs->mountpoint = cli.mountpoint;
	if (add_fsname(&cli, config_path) != 0)
		goto out2;
	/* libfuse checks its options here: before any tenant is contacted. */
	se = dfs_ll_new(&cli.args, dfs_mount_operations(), fs);
	if (!se) {
		fprintf(stderr, "dynfs: see '%s --help' for the options it takes\n", argv[0]);
		goto out2;
	}
	ret = 2;
	if (dfs_fs_connect(fs) < 0)
		goto out3;
	ret = 3;
	if (fuse_session_mount(se, cli.mountpoint) != 0)
		goto out3;
	if (fuse_daemonize(cli.co.foreground) != 0)
		goto out4;
	dfs_log_mounted(cli.co.foreground);
	if (fuse_set_signal_handlers(se) != 0)
		goto out4;
	if (dfs_signals_start(fs) != 0)
		goto out5;
	dfs_info("mounted %zu tenant(s) on %s", cfg.n_tenants, cli.mountpoint);
	snprintf(status, sizeof(status), "READY=1\nSTATUS=mounted %zu tenant(s) on %s",
		 cfg.n_tenants, cli.mountpoint);
	dfs_notify(status);
	if (cli.co.singlethread)
		ret = fuse_session_loop(se);
	else
		ret = dfs_ll_loop_mt(se, cli.co.clone_fd);
	/* The loop reports the signal that ended it: SIGTERM and SIGINT are
	 * how a service manager stops us, a clean end like an unmount. */
	ret = (ret == 0 || ret == SIGTERM || ret == SIGINT) ? 0 : 3;
	dfs_notify("STOPPING=1");
	dfs_signals_stop();
	/* Last chance for pending lookups; those left are logged and kept. */
	dfs_pending_retry_all(fs, 0, 1);
out5:
	fuse_remove_signal_handlers(se);
out4:
	/* Nothing of ours writes to the device the unmount closes. */
	dfs_kernel_close();
	fuse_session_unmount(se);
out3:
	fuse_session_destroy(se);
	dfs_nodes_free();
out2:
	dfs_fs_free(&fs);
	curl_global_cleanup();
out1:
	dfs_log_close_file();
	dfs_config_free(&cfg);
	free(config_path);
	dfs_cli_free(&cli);
	return ret;
}
