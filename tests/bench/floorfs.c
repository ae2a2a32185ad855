/* floorfs - the bench's "FUSE floor": the least a libfuse3 filesystem can do to serve a
 * folder of files, to set dynfs's times against.
 *
 *   floorfs LIST MOUNTPOINT [FUSE options, e.g. -f]
 *
 * LIST has one "SIZE NAME" line per file.  The mount's root holds those files, read-only,
 * with generated content of that size, all from memory: no network, no JSON, no cache
 * logic.  libfuse's defaults otherwise (multi-threaded, entry/attr timeouts 1 s).
 *
 * Build: gcc -O2 -o floorfs floorfs.c $(pkg-config --cflags --libs fuse3)
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct file {
	char *name;
	off_t size;
};

static struct file *files;
static size_t nfiles;
static time_t mtime;

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct file *)a)->name, ((const struct file *)b)->name);
}

static const struct file *find(const char *path)
{
	struct file key = { .name = (char *)path + 1 };

	if (path[0] != '/' || strchr(path + 1, '/'))
		return NULL;
	return bsearch(&key, files, nfiles, sizeof(*files), by_name);
}

static void file_stat(const struct file *f, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = f->size;
	st->st_blocks = (f->size + 511) / 512;
	st->st_mtime = st->st_ctime = st->st_atime = mtime;
}

static int floor_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	const struct file *f;

	if (strcmp(path, "/") == 0) {
		memset(st, 0, sizeof(*st));
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		st->st_mtime = st->st_ctime = st->st_atime = mtime;
		return 0;
	}
	if (!(f = find(path)))
		return -ENOENT;
	file_stat(f, st);
	return 0;
}

static int floor_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
			 struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct stat st;
	size_t i;

	if (strcmp(path, "/") != 0)
		return -ENOTDIR;
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	for (i = 0; i < nfiles; i++) {
		file_stat(&files[i], &st);
		if (filler(buf, files[i].name, &st, 0, FUSE_FILL_DIR_PLUS))
			return -ENOMEM;
	}
	return 0;
}

static int floor_open(const char *path, struct fuse_file_info *fi)
{
	if (!find(path))
		return -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	return 0;
}

static int floor_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	const struct file *f = find(path);
	size_t i, n;

	if (!f)
		return -ENOENT;
	if (off >= f->size)
		return 0;
	n = (size_t)(f->size - off) < size ? (size_t)(f->size - off) : size;
	for (i = 0; i < n; i++)
		buf[i] = (off + i) % 64 == 63 ? '\n' : 'a' + (off + i) % 26;
	return (int)n;
}

static const struct fuse_operations ops = {
	.getattr = floor_getattr,
	.readdir = floor_readdir,
	.open = floor_open,
	.read = floor_read,
};

static int load(const char *list)
{
	FILE *fp = fopen(list, "r");
	char *line = NULL;
	size_t cap = 0, alloc = 0;
	ssize_t len;

	if (!fp) {
		perror(list);
		return -1;
	}
	while ((len = getline(&line, &cap, fp)) > 0) {
		long long size;
		int used = 0;

		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (sscanf(line, "%lld %n", &size, &used) != 1 || !used || !line[used] || size < 0)
			continue;
		if (nfiles == alloc) {
			alloc = alloc ? alloc * 2 : 1024;
			if (!(files = realloc(files, alloc * sizeof(*files))))
				return -1;
		}
		files[nfiles].name = strdup(line + used);
		files[nfiles].size = (off_t)size;
		if (!files[nfiles].name)
			return -1;
		nfiles++;
	}
	free(line);
	fclose(fp);
	qsort(files, nfiles, sizeof(*files), by_name);
	return 0;
}

int main(int argc, char *argv[])
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s LIST MOUNTPOINT [FUSE options]\n", argv[0]);
		return 2;
	}
	if (load(argv[1]) < 0)
		return 1;
	mtime = time(NULL);
	/* drop LIST: fuse_main sees MOUNTPOINT and the options */
	argv[1] = argv[0];
	return fuse_main(argc - 1, argv + 1, &ops, NULL);
}
