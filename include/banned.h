/* banned.h - C library functions dynfs does not use.
 *
 * Each one below has a bounded or clearer replacement: snprintf or a
 * dfs_buf for building strings, memcpy with a known length for copying,
 * fgets/getline for reading lines, strtok_r (or a plain loop) for splitting.
 * Included last by every source file, so a use fails to compile with the
 * function's name in the error.
 */
#ifndef DFS_BANNED_H
#define DFS_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef gets
#define gets(x) BANNED(gets)
#undef strtok
#define strtok(x, y) BANNED(strtok)

#endif
