/* tokenstore.h - the file that keeps a tenant's refresh token.
 *
 * A small JSON file, mode 0600 in a 0700 directory, replaced atomically
 * (dfs_write_private: temporary file, fsync, rename, fsync of the directory) so that a crash or
 * kill -9 at any moment leaves either the old or the new token, never a torn
 * file.  Entra ID rotates refresh tokens on every use, and a used one stops
 * working after a short grace period: the new one must be on disk before the
 * access token that came with it is used.
 */
#ifndef DFS_TOKENSTORE_H
#define DFS_TOKENSTORE_H

#include <stddef.h>

/*
 * Read the refresh token from PATH into *TOKEN (malloc'd, zero it after use).
 * Returns 0, or a negative errno with WHY saying what to do (-ENOENT: no
 * store yet, "run 'dynfs login'").  A store readable by group or others is
 * refused, as ssh refuses such keys.
 */
int dfs_token_store_load(const char *path, char **token, char *why, size_t why_len);

/* Write TOKEN to PATH atomically (see above), creating its directory.  Returns 0 or -errno with WHY. */
int dfs_token_store_save(const char *path, const char *token, char *why, size_t why_len);

#endif
