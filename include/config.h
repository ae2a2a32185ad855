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

#include "secret.h"

#define DFS_GLOBAL_SECTION "global"

/* `auth = ...`: how a tenant proves who it is.  Same order as auth_kinds in config.c. */
enum dfs_auth_kind {
	DFS_AUTH_CLIENT_CREDENTIALS = 0,  /* app: secret or certificate */
	DFS_AUTH_REFRESH_TOKEN,           /* user: refresh token from `dynfs login` */
	DFS_AUTH_PASSWORD,                /* user: resource-owner password (ROPC, AD FS) */
	DFS_AUTH_NTLM,                    /* on-premises Windows authentication, no token */
	DFS_AUTH_NEGOTIATE,               /* on-premises Kerberos/SPNEGO, no token */
};

/* The token-less kinds: libcurl authenticates every request itself. */
#define DFS_AUTH_IS_HTTP(kind) ((kind) == DFS_AUTH_NTLM || (kind) == DFS_AUTH_NEGOTIATE)

struct dfs_tenant_config {
	char *name;              /* section name = folder under the mountpoint */
	int line;                /* line of the [section] header */
	char *url;               /* environment URL, no trailing slash */
	char *tenant_id;
	char *client_id;
	struct dfs_secret_src secret;   /* client_secret, _file, _env, _command */
	enum dfs_auth_kind auth;
	char *certificate_file;  /* client_credentials with a certificate (PEM) */
	char *private_key_file;  /* its private key (PEM, unencrypted) */
	char *token_store;       /* refresh_token: default $XDG_STATE_HOME/dynfs/<name>.token */
	unsigned redirect_port;  /* `dynfs login --browser`: loopback port, 0 = any */
	char *username;          /* password, ntlm, negotiate */
	struct dfs_secret_src password; /* password, _file, _env, _command */
	char *resource;          /* AD FS: sent instead of scope */
	char *authority_host;    /* "https://login.microsoftonline.com" (no trailing '/') */
	char *token_url;         /* default: <authority_host>/<tenant_id>/oauth2/v2.0/token */
	char *scope;             /* default: <url>/.default (app), <url>/user_impersonation (user) */
	int problems;            /* problems reported for this tenant (dfs_config_load_all) */
	char **entities;         /* entity set names to show; NULL = all readable */
	size_t n_entities;
	char *ca_file;           /* extra CA bundle for TLS verification; NULL = system */
	int read_only;           /* read_only = true: refuse writes with EROFS */
	int allow_delete;        /* allow_delete = true: rm deletes the record */
	unsigned max_connections;/* requests at once while listing a set; default 8 (1..52) */
};

struct dfs_config {
	char *path;
	struct dfs_tenant_config *tenants;
	size_t n_tenants;
	/* [global] */
	unsigned cache_ttl;       /* seconds a folder's listing, or a record read alone, is
				   served without asking; default 60 */
	size_t cache_size;        /* bytes of record content kept in memory; default 256M */
	size_t local_size;        /* bytes local files and files being written hold in all;
				   default 1G */
	unsigned kernel_names;    /* no longer used: accepted and ignored */
	int log_level;            /* enum dfs_log_level; default warn */
	char *log_file;           /* absolute path of the log file, or NULL: stderr/syslog */
	unsigned connect_timeout; /* seconds; default 10 */
	unsigned timeout;         /* seconds for one whole request; default 300 */
	unsigned max_retries;     /* retries of transient failures; default 5 */
	unsigned op_timeout;      /* seconds one request may take, its retries and waits
				   (Retry-After included) together; default 30 */
	unsigned page_size;       /* odata.maxpagesize for listings; default 5000 (1..5000) */
};

/*
 * Find the config file when -c is absent: $DYNFS_CONFIG, then
 * ~/.config/dynfs/dynfs.ini (XDG_CONFIG_HOME honoured), then /etc/dynfs.ini.
 * $DYNFS_CONFIG is returned even when the file is missing, so a typo there is
 * reported instead of silently mounting another config.  Otherwise returns a
 * malloc'd path of the first file that exists, or NULL.
 */

/*
 * Load and validate PATH into CFG (zeroed by the caller).  Every problem is
 * printed to ERR as "PATH:LINE: message" or "PATH: [tenant]: message".
 * Returns 0 on success, -EINVAL if the file is unreadable or invalid.
 * Secret files are read to check them but not kept: whoever needs the secret
 * reads its source again (dfs_secret_get), so a rotated secret is picked up.
 */
int dfs_config_load(const char *path, struct dfs_config *cfg, FILE *err);

/*
 * As dfs_config_load, but for `dynfs --check`: when the file could be read,
 * CFG keeps every tenant even if there were problems, each with its count in
 * tc->problems.  Returns 0 if there was no problem at all, -EINVAL otherwise
 * (CFG is then empty only if the file itself could not be read).
 */
int dfs_config_load_all(const char *path, struct dfs_config *cfg, FILE *err);

/*
 * As dfs_config_load_all, for the LEN bytes of TEXT as if they were the file
 * NAME, without looking at anything outside them: secret files and the
 * programs of *_command keys are taken as given (neither read nor looked
 * for), and the text's permissions are those of a private file.  For tests
 * and fuzzing: no input can read a file or block.  Returns as
 * dfs_config_load_all, or -ENOMEM.
 */
int dfs_config_parse_text(const char *text, size_t len, const char *name,
			  struct dfs_config *cfg, FILE *err);

/*
 * What the command line adds to a load (dynfs -o ...).  OVERRIDES are
 * "key=value" strings of [global] keys that win over the file; TENANTS names
 * the tenants to keep (-o tenant=NAME).  Both NULL-terminated, or NULL.
 * With TENANTS, problems in the sections of other tenants are still
 * printed but do not fail the load.
 */
struct dfs_config_opts {
	const char *const *overrides;
	const char *const *tenants;
};

/* dfs_config_load with command-line options O (NULL: none). */
int dfs_config_load_opts(const char *path, struct dfs_config *cfg, FILE *err,
			 const struct dfs_config_opts *o);

/* 1 if NAME is a key of [global] (so also an option -o NAME=VALUE), else 0. */
int dfs_config_is_global_key(const char *name);

/* The name of the I-th [global] key and (in *DEF) its default as text, or
 * NULL past the last one. */
const char *dfs_config_global_key(size_t i, const char **def);

/* The value of [global] key NAME in CFG as text (sizes in bytes) into BUF.
 * Returns 0, or -ENOENT for a name that is not a [global] key. */
int dfs_config_global_text(const struct dfs_config *cfg, const char *name, char *buf,
			   size_t cap);

/* "client_credentials", "refresh_token", ... */
const char *dfs_auth_kind_name(enum dfs_auth_kind kind);

void dfs_config_free(struct dfs_config *cfg);

#endif
