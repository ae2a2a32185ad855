/* login.h - `dynfs login` and `dynfs --check`: the commands that need no mount.
 *
 * `dynfs login [-c CONFIG] [--browser] [--port N] [--timeout S] TENANT` signs a
 * person in for a tenant with auth = refresh_token and saves the refresh token
 * in the tenant's token store: device code flow by default, authorization
 * code + PKCE through a loopback redirect with --browser.
 *
 * `dynfs --check [-c CONFIG]` lists every problem of the config file, then
 * gets a token and calls WhoAmI for each tenant, one line per tenant.
 *
 * Both return the process exit status: 0 success, 1 usage or configuration,
 * 2 a tenant failed (sign-in refused, token or WhoAmI failed).
 */
#ifndef DFS_LOGIN_H
#define DFS_LOGIN_H

/* ARGV[0] is "login". */
int dfs_login_main(int argc, char **argv);

/* CONFIG_PATH: from -c, or NULL to search the usual places. */
int dfs_check_main(const char *config_path);

#endif
