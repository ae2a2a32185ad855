/* cache_pool.h - the content bound shared by every set's cache: what
 * cache.c and cache_pool.c share (private to them; the interface is cache.h).
 */
#ifndef DFS_CACHE_POOL_H
#define DFS_CACHE_POOL_H

#include <stddef.h>
#include <stdint.h>

struct dfs_cache_pool {
	size_t max;
	size_t used;             /* atomic: content bytes held by the caches */
	size_t spilled;          /* atomic: bytes written to the spill file */
	int64_t end;             /* atomic: where the next spill slot starts */
	int fd;                  /* the spill file, or -1 */
};

#endif
