/* local.h - files that live only in the mount's memory.
 *
 * Editors and atomic-save tools create files next to the one they edit:
 * swap files, backups, "4913", rsync's ".name.XXXXXX", sed's "sedXXXXXX".
 * In a set folder such names are not records; they are kept here, behave as
 * ordinary files, and never reach the server -- until one is renamed onto a
 * record name, or a ".json" one is written and closed (see fsops.c and
 * SEMANTICS.md).  One table per set folder.
 *
 * The table also remembers record names hidden by a rename away from them
 * (vim and emacs back up by renaming f.json to f.json~ before writing a new
 * f.json): the record stays on the server, its name just does not answer
 * until it is written again or the folder is listed anew.
 */
#ifndef DFS_LOCAL_H
#define DFS_LOCAL_H

#include <pthread.h>
#include <sys/types.h>
#include <time.h>
#include "buf.h"

struct dfs_local {
	/* Set at creation, or under the table's lock. */
	int refs;
	char *name;
	int linked;              /* still in the table (not unlinked or replaced) */
	int retired;             /* dropped as a saved alias by a new listing, not by the user */

	pthread_mutex_t lock;    /* everything below */
	mode_t mode;             /* S_IFREG or S_IFLNK, and permissions */
	struct timespec mtime;
	struct timespec ctime;
	struct dfs_buf data;     /* content, or a symlink's target */
	char id[37];             /* ".json" files: the record they are saved as; "" = none yet */
	int saved;               /* data is on the server as record ID */
	int dirty;               /* written since the last save */
	unsigned long wgen;      /* counts writes, so a save knows if it saw the last one */
	int emptied;             /* truncated to nothing and not written since */
	char *error;             /* why the last save failed */
	int failed_errno;        /* ... its errno, */
	unsigned long failed_wgen; /* ... at which write, */
	double failed_at;        /* ... and when (dfs_now) */
};

struct dfs_locals;

struct dfs_locals *dfs_locals_new(void);
void dfs_locals_free(struct dfs_locals **tab);

/* The file called NAME with a new reference, or NULL. */
struct dfs_local *dfs_local_get(struct dfs_locals *tab, const char *name);
struct dfs_local *dfs_local_ref(struct dfs_local *l);
void dfs_local_put(struct dfs_local *l);

/*
 * Create NAME (MODE includes the file type) and return it with a new
 * reference.  -EEXIST if it exists.
 */
int dfs_local_create(struct dfs_locals *tab, const char *name, mode_t mode,
		     struct dfs_local **out);

/* L's current name (malloc'd), or NULL once it is unlinked. */
char *dfs_local_name(struct dfs_locals *tab, struct dfs_local *l);

/* Remove NAME from the table (open handles keep the file).  -ENOENT if none. */
int dfs_local_unlink(struct dfs_locals *tab, const char *name);

/*
 * Rename FROM to TO, replacing a local TO.  With NOREPLACE, -EEXIST if TO
 * exists.  -ENOENT if FROM does not.
 */
int dfs_local_rename(struct dfs_locals *tab, const char *from, const char *to, int noreplace);

/*
 * Call FN for every file in the table that should be listed (files that are
 * only an alias of a saved record are not).  The table is locked: FN must not
 * call back into it.
 */
typedef int (*dfs_local_walk_fn)(void *ctx, struct dfs_local *l);
int dfs_locals_walk(struct dfs_locals *tab, dfs_local_walk_fn fn, void *ctx);

/* Hidden record names (a rename away from them). */
int dfs_locals_hide(struct dfs_locals *tab, const char *id);
void dfs_locals_unhide(struct dfs_locals *tab, const char *id);
int dfs_locals_hidden(struct dfs_locals *tab, const char *id);

/*
 * The folder was listed from the server: hidden names answer again, and
 * names that were only aliases of saved records are dropped.
 */
void dfs_locals_listed(struct dfs_locals *tab);

#endif
