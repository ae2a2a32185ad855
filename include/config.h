/* config.h - the INI file: one section per tenant plus [global].
 *
 * Parsing is table driven (see the key table in fs/config.c); every key is
 * documented with its default in dynfs.ini.example.  Loading reports *all*
 * problems of a file (unknown keys with file:line, missing or invalid keys per
 * tenant), not just the first, and then fails.
 */
#ifndef DFS_CONFIG_H
#define DFS_CONFIG_H

#include <stdio.h>
#include <stddef.h>

#define DFS_GLOBAL_SECTION "global"

enum dfs_auth_kind {
	DFS_AUTH_CLIENT_CREDENTIALS = 0,
};

struct dfs_tenant_config {
	char *name;              /* section name = folder under the mountpoint */
	int line;                /* line of the [section] header */
	char *url;               /* environment URL, no trailing slash */
	char *tenant_id;
	char *client_id;
	char *client_secret;     /* inline secret, or read from client_secret_file */
	char *client_secret_file;
	enum dfs_auth_kind auth;
	char *token_url;         /* default: https://login.microsoftonline.com/<tenant_id>/oauth2/v2.0/token */
	char *scope;             /* default: <url>/.default */
	char **entities;         /* entity set names to show; NULL = all readable */
	size_t n_entities;
	char *ca_file;           /* extra CA bundle for TLS verification; NULL = system */
	int read_only;           /* read_only = true: refuse writes with EROFS */
	int allow_delete;        /* allow_delete = true: rm deletes the record */
};

struct dfs_config {
	char *path;
	struct dfs_tenant_config *tenants;
	size_t n_tenants;
	/* [global] */
	unsigned cache_ttl;       /* seconds a listed/read record is served without asking; default 60 */
	int log_level;            /* enum dfs_log_level; default warn */
	unsigned connect_timeout; /* seconds; default 10 */
	unsigned timeout;         /* seconds for one whole request; default 300 */
	unsigned max_retries;     /* retries of transient failures; default 5 */
	unsigned page_size;       /* odata.maxpagesize for listings; default 5000 (1..5000) */
};

/*
 * Find the config file when -c is absent: $DYNFS_CONFIG, then
 * ~/.config/dynfs/dynfs.ini (XDG_CONFIG_HOME honoured), then /etc/dynfs.ini.
 * $DYNFS_CONFIG is returned even when the file is missing, so a typo there is
 * reported instead of silently mounting another config.  Otherwise returns a
 * malloc'd path of the first file that exists, or NULL.
 */
char *dfs_config_find(void);

/*
 * Load and validate PATH into CFG (zeroed by the caller).  Every problem is
 * printed to ERR as "PATH:LINE: message" or "PATH: [tenant]: message".
 * Returns 0 on success, -1 if the file is unreadable or invalid.
 * Secrets read from client_secret_file are stored in client_secret.
 */
int dfs_config_load(const char *path, struct dfs_config *cfg, FILE *err);

void dfs_config_free(struct dfs_config *cfg);

#endif
