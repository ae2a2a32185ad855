/* draft.h - the bytes of a file being written, before they are saved.
 *
 * A writable record handle and a local file (local.h) hold their content
 * the same way: one of these, with its own lock.  Every FUSE operation on
 * written bytes (read, write, truncate, fstat, save) goes through it, so
 * there is one path for each whatever the file is.
 *
 * An empty file is where every rewrite starts (`> f` opens, the shell
 * closes a dup, then the program writes): saving it at that point would
 * reject an edit that has not happened yet.  So a draft truncated to nothing
 * is "emptied", not dirty, until something is written.
 */
#ifndef DFS_DRAFT_H
#define DFS_DRAFT_H

#include <pthread.h>
#include <time.h>
#include "buf.h"

struct dfs_draft {
	pthread_mutex_t lock;    /* everything below; local.c guards its own fields with it too */
	struct dfs_buf bytes;    /* capped at DFS_FILE_MAX */
	int dirty;               /* written since the last save */
	int emptied;             /* truncated to nothing and not written since */
	int failed_write;        /* -EFBIG (past DFS_FILE_MAX) or -ENOSPC (past local_size):
				    a write was refused, the bytes are not the whole file,
				    and are never saved as if they were; 0 when emptied */
	unsigned long wgen;      /* counts writes, so a save knows if it saw the last one */
	struct timespec mtime;
	struct timespec ctime;
	pthread_mutex_t save_lock; /* one save of these bytes at a time */
};

/* An empty, clean draft stamped with the current time. */
void dfs_draft_init(struct dfs_draft *d);
void dfs_draft_free(struct dfs_draft *d);

/* Set the content without making it dirty (what was read, or a copy).
 * 0, -ENOMEM, or -ENOSPC past the bound of all drafts. */
int dfs_draft_fill(struct dfs_draft *d, const char *data, size_t len);

/* Copy up to SIZE bytes at OFF into BUF; returns how many (0 at the end). */
size_t dfs_draft_read(struct dfs_draft *d, char *buf, size_t size, size_t off);
/* Write SIZE bytes at OFF: dirty, not emptied.  0, -ENOMEM, or -EFBIG
 * (past DFS_FILE_MAX) or -ENOSPC (past the bound of all drafts): then
 * nothing is written, and the draft says so (dfs_draft_failed_write) until
 * it is truncated to nothing. */
int dfs_draft_write(struct dfs_draft *d, const char *buf, size_t size, size_t off);
/* Truncate or extend to LEN: emptied when LEN is 0, else dirty. */
int dfs_draft_truncate(struct dfs_draft *d, size_t len);
/* The errno of a write refused since the draft was last emptied (-EFBIG,
 * -ENOSPC), or 0. */
int dfs_draft_failed_write(struct dfs_draft *d);

/*
 * All drafts together -- local files and files being written, the mount's
 * memory that is no cache -- hold at most LIMIT bytes (local_size; 0, the
 * default until it is set: no bound).  Past it a write or an extending
 * truncate fails with -ENOSPC.
 */
void dfs_drafts_set_limit(size_t limit);
/* Bytes all drafts hold, and (LIMIT not NULL) the bound. */
size_t dfs_drafts_used(size_t *limit);
/* How many bytes, and (if EMPTIED is given) whether emptied. */
size_t dfs_draft_size(struct dfs_draft *d, int *emptied);

/* Whether a save now would send something: written since the last save,
 * and not just emptied. */
int dfs_draft_unsaved(struct dfs_draft *d);
/*
 * For a save: a NUL-terminated copy of the bytes (malloc'd, length in
 * *LEN) and the write generation it holds, or NULL with *ERR set: -ENOMEM,
 * or 0 when there is nothing to save (clean, or only emptied) and FORCE is
 * not given.  The caller holds save_lock.
 */
char *dfs_draft_take(struct dfs_draft *d, int force, size_t *len, unsigned long *gen, int *err);
/* The save of generation GEN is over (landed or reported): clean unless
 * written since. */
void dfs_draft_done(struct dfs_draft *d, unsigned long gen);

#endif
