/* main.c - command line, start-up and the FUSE loop.
 *
 * Start-up order matters for error reporting: parse options, load the
 * config, connect every tenant (token + WhoAmI + entity sets), and only then
 * mount and go to the background.  Anything wrong with the config, the URL
 * or the credentials is therefore reported on the terminal with a non-zero
 * exit status, and never leaves a dead mountpoint behind.
 *
 * Exit status: 0 clean unmount, 1 usage or configuration error, 2 a tenant
 * could not be reached or refused the credentials, 3 mounting failed.
 *
 * `dynfs login ...` and `dynfs --check` never mount (see login.h).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>

#include "config.h"
#include "fsops.h"
#include "log.h"
#include "login.h"
#include "version.h"
#include "banned.h"

struct dfs_opts {
	char *config;
	int show_help;
	int show_version;
	int check;
};

#define DFS_OPT(t, p) { t, offsetof(struct dfs_opts, p), 1 }

static const struct fuse_opt dfs_opt_spec[] = {
	{ "-c %s", offsetof(struct dfs_opts, config), 0 },
	{ "--config=%s", offsetof(struct dfs_opts, config), 0 },
	{ "config=%s", offsetof(struct dfs_opts, config), 0 },
	DFS_OPT("-h", show_help),
	DFS_OPT("--help", show_help),
	DFS_OPT("-V", show_version),
	DFS_OPT("--version", show_version),
	DFS_OPT("--check", check),
	FUSE_OPT_END
};

static void usage(const char *prog)
{
	printf("usage: %s [-c CONFIG] [-f] [-d] [-o opt[,opt...]] MOUNTPOINT\n"
	       "       %s --check [-c CONFIG]\n"
	       "       %s login [-c CONFIG] [--browser [--port N]] TENANT\n"
	       "\n"
	       "Mount Microsoft Dataverse tenants: one folder per tenant, one folder per\n"
	       "entity set, one JSON file per record.\n"
	       "\n"
	       "dynfs options:\n"
	       "    -c CONFIG, --config=CONFIG, -o config=CONFIG\n"
	       "                           configuration file (default: $DYNFS_CONFIG,\n"
	       "                           ~/.config/dynfs/dynfs.ini, /etc/dynfs.ini)\n"
	       "    --check                check the configuration, then get a token and\n"
	       "                           call WhoAmI for every tenant; one line each\n"
	       "    -h, --help             print this help\n"
	       "    -V, --version          print versions\n"
	       "\n"
	       "dynfs login TENANT signs in for a tenant with auth = refresh_token (device\n"
	       "code; --browser: authorization code + PKCE) and saves its refresh token.\n"
	       "\n", prog, prog, prog);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts co = { 0 };
	struct dfs_opts opts = { 0 };
	struct dfs_config cfg = { 0 };
	struct dfs_fs *fs = NULL;
	struct fuse *fuse = NULL;
	char *config_path = NULL;
	int ret = 1, level;

	if (argc >= 2 && strcmp(argv[1], "login") == 0) {
		fuse_opt_free_args(&args);
		return dfs_login_main(argc - 1, argv + 1);
	}
	if (fuse_opt_parse(&args, &opts, dfs_opt_spec, NULL) == -1)
		goto out1;
	if (opts.check) {
		ret = dfs_check_main(opts.config);
		goto out1;
	}
	if (opts.show_help) {
		usage(argv[0]);
		fuse_cmdline_help();
		fuse_lib_help(&args);
		ret = 0;
		goto out1;
	}
	if (opts.show_version) {
		printf("dynfs version %s\nFUSE library version %s\n%s\n", DFS_VERSION,
		       fuse_pkgversion(), curl_version());
		ret = 0;
		goto out1;
	}
	if (fuse_parse_cmdline(&args, &co) != 0)
		goto out1;
	if (!co.mountpoint) {
		fprintf(stderr, "dynfs: no mountpoint given (see %s --help)\n", argv[0]);
		goto out1;
	}
	config_path = opts.config ? strdup(opts.config) : dfs_config_find();
	if (!config_path) {
		fprintf(stderr, "dynfs: no configuration file: give -c CONFIG, set DYNFS_CONFIG,"
			" or create ~/.config/dynfs/dynfs.ini (see dynfs.ini.example)\n");
		goto out1;
	}
	if (dfs_config_load(config_path, &cfg, stderr) != 0)
		goto out1;
	level = co.debug ? DFS_LOG_DEBUG : cfg.log_level;
	dfs_log_set_level((enum dfs_log_level)level);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "dynfs: cannot initialise libcurl\n");
		goto out1;
	}
	ret = 2;
	if (!(fs = dfs_fs_new(&cfg)))
		goto out2;

	ret = 3;
	/* fsname shows in mount(8) and df; default_permissions lets the kernel
	 * enforce the file modes we report. */
	if (fuse_opt_add_arg(&args, "-ofsname=dynfs,subtype=dynfs,default_permissions") != 0)
		goto out2;
	fuse = fuse_new(&args, &dfs_fs_operations, sizeof(dfs_fs_operations), fs);
	if (!fuse)
		goto out2;
	if (fuse_mount(fuse, co.mountpoint) != 0)
		goto out3;
	if (fuse_daemonize(co.foreground) != 0)
		goto out4;
	if (!co.foreground)
		dfs_log_to_syslog();
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0)
		goto out4;
	dfs_info("mounted %zu tenant(s) on %s", cfg.n_tenants, co.mountpoint);
	if (co.singlethread)
		ret = fuse_loop(fuse);
	else
		ret = fuse_loop_mt(fuse, co.clone_fd);
	ret = ret ? 3 : 0;
	fuse_remove_signal_handlers(fuse_get_session(fuse));
out4:
	fuse_unmount(fuse);
out3:
	fuse_destroy(fuse);
out2:
	dfs_fs_free(&fs);
	curl_global_cleanup();
out1:
	dfs_config_free(&cfg);
	free(config_path);
	free(opts.config);
	free(co.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
