/* save.h - the save pipeline: a file's bytes to a record on the server.
 *
 * A writable record handle is saved on close or fsync (dfs_save_handle).  A
 * local file (local.h) is saved when a written ".json" one is closed, or
 * when any local file is renamed onto a ".json" name (dfs_save_local).  Both
 * end in one function that chooses between update and create
 * (write_record in save.c); a failure keeps the user's bytes in a rescue
 * copy (state.h) and says why in the log and in user.dynfs.error.
 * SEMANTICS.md is the user-facing account.
 */
#ifndef DFS_SAVE_H
#define DFS_SAVE_H

#include "tree.h"

/*
 * Save the bytes of open file FH if they were written since the last save:
 * a record handle as the record its name says, diffed against the version
 * read at open; a local handle as described above (other names stay
 * local).  A failure is reported once: a second close of a dup'd descriptor
 * does not resend or rescue again.  0 or -errno.
 */
int dfs_save_handle(struct dfs_fs *fs, struct dfs_fh *fh);

/*
 * Save local file L as a record under NAME (NAME_ID: its GUID when NAME is
 * a record name), whatever its state: a rename onto a ".json" name.
 */
int dfs_save_local(struct dfs_fs *fs, struct dfs_tenant *t, struct dfs_set *s,
		   struct dfs_local *l, const char *name, const char *name_id);

/*
 * A writable handle on record P, its draft filled from the current version
 * (or emptied, with TRUNCATE).  -EROFS on a read-only tenant.
 */
int dfs_fh_new_writable(struct dfs_fs *fs, struct dfs_path *p, int truncate,
			struct dfs_fh **out);

/*
 * The columns of set S, fetched at its first save and kept.  0, or -errno
 * with WHY saying why they cannot be read.
 */
int dfs_save_schema(struct dfs_tenant *t, struct dfs_set *s, const struct dfs_schema **out,
		    char *why, size_t cap);

/*
 * Which of COL's tables holds record ID: a mounted set's cache answers
 * without a request, else one GET per candidate table.  0 with *OUT,
 * -ENOENT when none does, or another -errno.
 */
int dfs_save_resolve(struct dfs_tenant *t, const struct dfs_column *col, const char *id,
		     const struct dfs_lookup_target **out);

#endif
