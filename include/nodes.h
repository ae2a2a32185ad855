/* nodes.h - the node ids the kernel knows files by, and the paths they stand for.
 *
 * The kernel names every file it holds by a 64-bit node id that dynfs chose
 * when it answered the lookup, and later operations (stat, open, xattrs)
 * come with that id alone.  Most ids cost dynfs nothing to keep, because the
 * path can be worked out from the id itself:
 *
 *   1                         the root
 *   2 + i                     tenant i's folder
 *   1<<40 | i<<20 | j         set j of tenant i (dfs_dir_ino)
 *   1<<41 | k                 a .status file (k: 0 the mount's, i+1 tenant i's)
 *   1<<63 | i<<55 | j<<40 | h the record of set j of tenant i whose id hashes
 *                             to h (dfs_cache_node_hash): the set's index
 *                             finds it, so a folder of a million records the
 *                             kernel holds costs no memory here at all.
 *
 * Only names that are not a record at its own name get a node of their own
 * here (about 80 bytes while the kernel holds them): local files (their id
 * is their inode number, 1<<61 | serial), a record renamed or unlinked while
 * the kernel still holds it, and the rare record whose hash another record
 * of its set shares (1<<60 | serial).  Such nodes go when the kernel
 * forgets them.  A FORGET carries no generation: one that is late (the
 * kernel let go of a record's inode, then looked it up again, and the name
 * was renamed away before the old FORGET arrived) ends the stand-in early,
 * and the renamed name then answers as the record until the kernel looks
 * it up again, a second at most.
 *
 * Nothing here needs FUSE: lowlevel.c turns requests into paths with it.
 */
#ifndef DFS_NODES_H
#define DFS_NODES_H

#include <stdint.h>
#include <sys/stat.h>

struct dfs_fs;

/* FS is the mount whose paths node ids stand for (at start, before any request). */
void dfs_nodes_init(struct dfs_fs *fs);
/* Free every node (after the session ended). */
void dfs_nodes_free(void);

/*
 * The node id to answer a lookup of NAME in folder PARENT with: ST is what
 * getattr said of it.  The kernel holds the name once more (a lookup, a
 * create, a readdirplus entry): each call is matched by a forget.
 */
uint64_t dfs_node_lookup(uint64_t parent, const char *name, const struct stat *st);
/* The kernel forgot N lookups of node ID. */
void dfs_node_forget(uint64_t id, uint64_t n);

/*
 * The path of node ID in *PATH (malloc'd), or NULL when its name was
 * unlinked while the kernel still holds it.  0, -ENOMEM, or -ESTALE when
 * ID stands for nothing any more (a record deleted meanwhile).
 */
int dfs_node_path(uint64_t id, char **path);
/* "PARENT's path/NAME" in *PATH (malloc'd): 0, -ENOMEM, -ESTALE, -ENAMETOOLONG. */
int dfs_node_child_path(uint64_t parent, const char *name, char **path);

/*
 * Unlink and rename: before the operation, the node id the kernel holds
 * NAME in PARENT by (0 if it holds none that is ours to follow); once it
 * succeeded, what became of those nodes.  Asked before, because a save by
 * rename puts a new record in the index under the new name, which the
 * kernel never held.
 */
uint64_t dfs_node_at(uint64_t parent, const char *name);
/* Node ID (from dfs_node_at) has no name any more. */
void dfs_node_unlinked(uint64_t id);
/* Node FROM_ID is now NEWNAME in NEWPARENT; TO_ID, what the new name was,
 * has none (EXCHANGE: it has NAME in PARENT). */
void dfs_node_renamed(uint64_t from_id, uint64_t to_id, uint64_t parent, const char *name,
		      uint64_t newparent, const char *newname, int exchange);

/* The node id the kernel would know PATH by, or 0 if it holds none
 * (for telling it that the file changed). */
uint64_t dfs_node_of_path(const char *path);

/* Nodes of their own now (for .status). */
uint64_t dfs_nodes_held(void);

#endif
