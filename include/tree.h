/* tree.h - the mounted tree: tenants, entity sets, paths and open files.
 *
 *   /                      one folder per tenant (INI section)
 *   /<tenant>/             one folder per entity set
 *   /<tenant>/<set>/       one file per record, <id>.json, and local files
 *
 * Private to the driver (tree.c, content.c, save.c and the FUSE operation
 * files ops_*.c); nothing here needs FUSE, so everything beneath the
 * operations can be unit-tested without a mount.
 */
#ifndef DFS_TREE_H
#define DFS_TREE_H

#include <pthread.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "cache.h"
#include "config.h"
#include "dataverse.h"
#include "draft.h"
#include "local.h"
#include "schema.h"

struct dfs_set {
	struct dfs_entity *ent;
	uint64_t ino;                /* its folder's inode number (dfs_dir_ino) */
	uint32_t node_no;            /* nodes.c: its number in record node ids, 0 until given */
	struct dfs_cache *cache;
	struct dfs_locals *locals;
	pthread_mutex_t list_lock;   /* one listing of this set at a time */
	char *delta_link;            /* under list_lock: where a refresh reads the changes
					since the listing (change tracking), or NULL */
	pthread_mutex_t schema_lock;
	struct dfs_schema *schema;   /* columns, fetched at the first save */
};

/*
 * A tenant is connected once: its entity sets are loaded at start-up, or,
 * when that failed for a reason that may pass (network, server, throttling,
 * an expired credential), at a later access.  Until then it is mounted but
 * not READY: its folder is there, names in it fail with CONNECT_ERRNO, and
 * ENTS, N_SETS and SETS are empty.  READY is set once, with release
 * ordering, after the sets are in place; they never change after that.
 */
struct dfs_tenant {
	const struct dfs_tenant_config *tc;
	struct dfs_dv *dv;
	struct dfs_entity *ents;
	size_t n_sets;
	struct dfs_set *sets;
	pthread_mutex_t fh_lock;     /* the open files of this tenant, so unmount frees */
	struct dfs_fh *fhs;          /* those the kernel never released */
	int ready;                   /* atomic: the sets are loaded (see above) */
	pthread_mutex_t connect_lock;/* one connection attempt at a time; guards: */
	int connect_errno;           /*   why the last attempt failed, 0 if none */
	char connect_why[1100];
	double connect_at;           /*   dfs_now() of the last failed attempt */
	double connect_holdoff;      /*   seconds before the next attempt */
	int listings;                /* atomic: listings of its sets in progress */
	struct dfs_pending *pending; /* lookups restored records wait for (pending.h) */
};

struct dfs_fs {
	const struct dfs_config *cfg;
	const char *mountpoint;      /* for .status; set by main.c */
	struct dfs_cache_pool *pool; /* record content of every set, within cache_size */
	struct dfs_tenant *tenants;
	size_t n_tenants;
	uid_t uid;
	gid_t gid;
	time_t started;
};

/*
 * Make sure T's entity sets are loaded: 0 when T is ready, else the errno
 * of the last attempt.  A tenant that is not ready tries again at most
 * every 5 s, doubling to 30 s (HUP lets the next access try at once).
 */
int dfs_tenant_ensure(struct dfs_fs *fs, struct dfs_tenant *t);
int dfs_tenant_ready(const struct dfs_tenant *t);
/* HUP: the next access of a tenant that is not ready tries at once. */
void dfs_tenant_retry_now(struct dfs_tenant *t);

/* A path split into its parts. */
struct dfs_path {
	int depth;               /* 0 root, 1 tenant, 2 set, 3 a name in a set */
	struct dfs_tenant *t;
	struct dfs_set *s;
	const char *name;
	int is_record;           /* NAME is "<guid>.json"; ID holds the guid */
	char id[37];
	uint64_t alias_ino;      /* NAME is a local file's alias of record ID: its inode
				    number (dfs_path_local_or_alias), else 0 */
};

/*
 * An open file: a record or a local file.  Handles remember their set and
 * record id, so they keep working after the name is unlinked or renamed
 * (hard_remove, nullpath_ok).
 *
 * A read-only record open sees the bytes it was opened with (BLOB).  A
 * writable one holds the user's bytes in its own draft until flush or fsync
 * saves them; BASE is the version the edit started from, the one the PATCH
 * is computed against and conditioned on (If-Match: BASE_ETAG).  A local
 * file's handle uses the file's draft.  DRAFT is NULL only for read-only
 * record opens.
 */
struct dfs_fh {
	struct dfs_fh *prev, *next;  /* the tenant's open files */
	struct dfs_tenant *t;
	struct dfs_set *s;
	char id[37];             /* record handles */
	uint64_t ino;            /* record handles: the inode number of the name opened */
	char *name;              /* the name at open, for messages and rescue copies */
	struct dfs_local *local; /* local handles */
	struct dfs_blob *blob;   /* read-only record opens */
	struct dfs_draft *draft; /* the bytes being written: &own or the local file's */
	struct dfs_draft own;    /* writable record opens: */
	struct dfs_blob *base;   /*   guarded by own.save_lock */
	char *base_etag;
	int save_err;            /* the last save's errno, given again to every flush with
				    nothing new to save (guarded by draft->save_lock) */
};

/*
 * Split PATH.  A name inside a set folder always resolves (depth 3): whether
 * it is a record, a local file or nothing is for the caller to find out.
 * An unknown tenant or set is -ENOENT, with *PARENT_DEPTH (if given) telling
 * how deep the existing part went, so mkdir and create can say EPERM.
 */
int dfs_resolve_parent(struct dfs_fs *fs, const char *path, struct dfs_path *p,
		       int *parent_depth);
int dfs_resolve(struct dfs_fs *fs, const char *path, struct dfs_path *p);
/*
 * For create, mkdir and symlink of a name that does not resolve: -EPERM
 * when the folder it would go in exists (the root or a tenant holds only
 * what the config and Dataverse say), else RET.
 */
int dfs_refuse_new_name(const char *path, int ret, int parent_depth);

/* A record name that a rename away has hidden does not answer. */
int dfs_record_visible(const struct dfs_path *p);
/* The local file of P as unlink and rename see it, and as reads, writes
 * and stat see it (an alias turns P into its record): local.h. */
struct dfs_local *dfs_path_local(struct dfs_path *p);
struct dfs_local *dfs_path_local_or_alias(struct dfs_path *p);

/* Attributes of a folder, and of a file of SIZE bytes modified at MTIME. */
/* Folder P's inode number: the root's is 1, tenant I's 2 + I, set J's of
 * tenant I 1<<40 | I<<20 | J (records' and local files': util.h). */
uint64_t dfs_dir_ino(const struct dfs_fs *fs, const struct dfs_path *p);
void dfs_dir_stat(const struct dfs_fs *fs, struct stat *st, uint64_t ino);
void dfs_file_stat(const struct dfs_fs *fs, struct stat *st, uint64_t ino, size_t size,
		   time_t mtime);
/* A local file's attributes: its own mode, size and times. */
void dfs_local_file_stat(const struct dfs_fs *fs, struct dfs_local *l, struct stat *st);

/* Open files. */
struct dfs_fh *dfs_fh_new(const struct dfs_path *p);
void dfs_fh_free(struct dfs_fh *fh);

#endif
