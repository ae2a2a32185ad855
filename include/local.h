/* local.h - files that live only in the mount's memory.
 *
 * Editors and atomic-save tools create files next to the one they edit:
 * swap files, backups, "4913", rsync's ".name.XXXXXX", sed's "sedXXXXXX".
 * In a set folder such names are not records; they are kept here, behave as
 * ordinary files, and never reach the server -- until one is renamed onto a
 * record name, or a ".json" one is written and closed (save.c,
 * SEMANTICS.md).  One table per set folder.
 *
 * A ".json" file that was saved, and not written since, is an alias: its
 * name stands for the record it became (dfs_local_alias), until a new
 * listing retires it (once nobody has it open).
 *
 * The table also remembers record names hidden by a rename away from them
 * (vim and emacs back up by renaming f.json to f.json~ before writing a new
 * f.json): the record stays on the server, its name just does not answer
 * until it is written again or the folder is listed anew.
 */
#ifndef DFS_LOCAL_H
#define DFS_LOCAL_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include "draft.h"

struct dfs_local;
struct dfs_locals;

struct dfs_locals *dfs_locals_new(void);
void dfs_locals_free(struct dfs_locals **tab);

/* ---- names ---------------------------------------------------------------- */

/* The file called NAME with a new reference, or NULL. */
struct dfs_local *dfs_local_get(struct dfs_locals *tab, const char *name);
struct dfs_local *dfs_local_ref(struct dfs_local *l);
void dfs_local_put(struct dfs_local *l);

/*
 * The local file called NAME as unlink and rename see it: NULL when there is
 * none, or when NAME is a record name (IS_RECORD) and the file is only an
 * alias of the record saved under it, which then answers for itself.
 */
struct dfs_local *dfs_local_lookup(struct dfs_locals *tab, const char *name, int is_record);

/*
 * The local file called NAME for reading and writing it -- or NULL when it
 * is an alias, with ID set to the record it stands for, *IS_RECORD to 1 and
 * *INO to the name's own inode number: the name shows the record it became
 * (stat, cat, cp -p and rsync's final utimens see the server's version),
 * but is still another file (`mv tmp.json <id>.json` is not a no-op).  unlink and rename use
 * dfs_local_lookup, so `rm tmp.json` after `cp tmp.json f.json` removes a
 * name, never a record.
 */
struct dfs_local *dfs_local_or_alias(struct dfs_locals *tab, const char *name, char id[37],
				     int *is_record, uint64_t *ino);

/*
 * Create NAME (MODE includes the file type) and return it with a new
 * reference.  -EEXIST if it exists.
 */
int dfs_local_create(struct dfs_locals *tab, const char *name, mode_t mode,
		     struct dfs_local **out);
/* Replace NAME (unless NOREPLACE) with a file holding DATA, modified at
 * MTIME, that stands for record ID if given: a record renamed away. */
int dfs_local_create_from(struct dfs_locals *tab, const char *name, const char *data,
			  size_t len, time_t mtime, const char *id, int noreplace);
/* A symbolic link NAME -> TARGET.  -EEXIST if NAME exists. */
int dfs_local_symlink(struct dfs_locals *tab, const char *name, const char *target);

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
 * Call FN for every file in the table that readdir shows: a file that was
 * ever saved is shown under its record's name instead.  The table is
 * locked: FN must not call back into it.
 */
typedef int (*dfs_local_walk_fn)(void *ctx, struct dfs_local *l, const char *name);
int dfs_locals_walk(struct dfs_locals *tab, dfs_local_walk_fn fn, void *ctx);

/* Hidden record names (a rename away from them). */
int dfs_locals_hide(struct dfs_locals *tab, const char *id);
void dfs_locals_unhide(struct dfs_locals *tab, const char *id);
int dfs_locals_hidden(struct dfs_locals *tab, const char *id);

/*
 * The folder was listed from the server: hidden names answer again, and
 * aliases nobody has open are retired (dfs_local_retired); an open one
 * keeps its name until a listing after its last close.
 */
void dfs_locals_listed(struct dfs_locals *tab);

/* ---- one file --------------------------------------------------------------- */

/* Its bytes (or a symlink's target).  The draft's lock guards the file's
 * other state too. */
struct dfs_draft *dfs_local_draft(struct dfs_local *l);

/* The alias rule: 1 when L was saved as a record and not written since
 * (ID, if given, gets the record's id), else 0. */
int dfs_local_alias(struct dfs_local *l, char id[37]);

/* Mode, size and times into ST (the rest of ST is the caller's). */
void dfs_local_stat(struct dfs_local *l, struct stat *st);
int dfs_local_is_symlink(struct dfs_local *l);
void dfs_local_chmod(struct dfs_local *l, mode_t mode);
/* utimensat's TV[1] (UTIME_NOW, UTIME_OMIT or a time) as the mtime. */
void dfs_local_set_mtime(struct dfs_local *l, const struct timespec *tv);
/* readlink(2): -EINVAL unless L is a symlink. */
int dfs_local_readlink(struct dfs_local *l, char *buf, size_t size);

/*
 * The record id the file is (to be) saved as, in ID ("" if none yet).  A
 * ".json" file gets one when created: ID_IF_NONE, or a fresh GUID when that
 * is NULL (dfs_local_claim_id), so retrying its create cannot make two
 * records.
 */
void dfs_local_id(struct dfs_local *l, char id[37]);
int dfs_local_claim_id(struct dfs_local *l, const char *id_if_none);

/* A new listing dropped L as an alias (not the user): a program that still
 * has it open keeps saving to the record it stands for. */
int dfs_local_retired(struct dfs_local *l);

/*
 * The kernel retries a path operation that failed with ESTALE once
 * (retry_estale): the negative errno of a save of these same bytes that
 * failed within the last two seconds, else 0.
 */
int dfs_local_recent_failure(struct dfs_local *l);
/* A save of write generation GEN is over: RET 0 saved as record ID, else
 * failed with MSG (for user.dynfs.error; ownership taken). */
void dfs_local_saved(struct dfs_local *l, unsigned long gen, int ret, const char *id, char *msg);
/* user.dynfs.error and user.dynfs.id of the last save (malloc'd), or NULL. */
char *dfs_local_error(struct dfs_local *l);
int dfs_local_saved_id(struct dfs_local *l, char id[37]);

#endif
