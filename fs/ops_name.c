/* ops_name.c - names in a set folder: unlink, rename, symlink, readlink
 * and link.
 *
 * A record's name is its id, so names say what happens to records:
 * - rm of a record deletes it on the server only with allow_delete;
 * - renaming a local file onto a ".json" name saves it as that record
 *   (rsync's temporary file, `jq ... > tmp.json && mv tmp.json f.json`);
 * - renaming a record away keeps its bytes in a local file and hides its
 *   name until written again (vim's and emacs' backup by rename);
 * - a record is never renamed onto another record, nor across folders.
 */
#include <errno.h>
#include <string.h>

#include "content.h"
#include "log.h"
#include "ops.h"
#include "record.h"
#include "save.h"
#include "banned.h"

/*
 * rm of a record deletes it on the server -- only where the tenant's config
 * says allow_delete = true, because a record is not a file anyone can get
 * back.  A local file just goes.
 */
int dfs_op_unlink(const char *path)
{
	struct dfs_http_error err = { "", "" };
	struct dfs_local *l;
	struct dfs_path p;
	int ret;

	if ((ret = dfs_resolve(dfs_ops_fs(), path, &p)) < 0)
		return ret;
	if (p.depth < 3)
		return -EISDIR;
	if (p.t->tc->read_only)
		return -EROFS;
	if ((l = dfs_path_local(&p))) {
		dfs_local_put(l);
		return dfs_local_unlink(p.s->locals, p.name);
	}
	if (!dfs_record_visible(&p))
		return -ENOENT;
	if (!p.t->tc->allow_delete) {
		dfs_warn("%s/%s/%s: not deleted: deleting records is off for this tenant (set"
			 " allow_delete = true in [%s] of the config to allow rm)", p.t->tc->name,
			 p.s->ent->set_name, p.name, p.t->tc->name);
		return -EPERM;
	}
	if ((ret = dfs_dv_delete(p.t->dv, p.s->ent, p.id, &err)) < 0 && ret != -ENOENT)
		return ret;
	/* A saved alias of it has nothing left to stand for. */
	dfs_local_unlink(p.s->locals, p.name);
	dfs_cache_remove(p.s->cache, p.id);
	if (ret == 0)
		dfs_info("%s/%s/%s: deleted", p.t->tc->name, p.s->ent->set_name, p.name);
	return ret;
}

/* Does rename's target B exist (for RENAME_NOREPLACE)? */
static int name_taken(struct dfs_path *b)
{
	struct dfs_local *there = dfs_path_local(b);
	struct dfs_rec_info info;

	if (there) {
		dfs_local_put(there);
		return 1;
	}
	if (dfs_record_visible(b) && dfs_cache_peek(b->s->cache, b->id, &info)) {
		dfs_rec_info_clear(&info);
		return 1;
	}
	return 0;
}

/* Local file L at A renamed to B: saved as a record when B is a ".json" name. */
static int rename_local(struct dfs_fs *fs, struct dfs_local *l, struct dfs_path *a,
			struct dfs_path *b, int noreplace)
{
	int ret;

	if (dfs_has_suffix(b->name, ".json")) {
		if (dfs_local_is_symlink(l)) {
			/* A link has no JSON to save: say so, or EINVAL alone
			 * leaves the user guessing. */
			dfs_warn("%s/%s: cannot rename %s to %s: a symbolic link cannot be saved "
				 "as a record (copy the file it points to instead)", a->t->tc->name,
				 a->s->ent->set_name, a->name, b->name);
			return -EINVAL;
		}
		if ((ret = dfs_save_local(fs, a->t, a->s, l, b->name,
					  b->is_record ? b->id : NULL)) < 0)
			return ret;
		if (b->is_record) {
			/* The record answers under its own name now. */
			dfs_locals_unhide(b->s->locals, b->id);
			dfs_local_unlink(a->s->locals, a->name);
			dfs_local_unlink(b->s->locals, b->name);
			return 0;
		}
	}
	return dfs_local_rename(a->s->locals, a->name, b->name, noreplace);
}

/* Record A renamed away to the non-record name B: its bytes go to a local
 * file B, and A's name hides until written again or listed anew. */
static int rename_record_away(struct dfs_fs *fs, struct dfs_path *a, struct dfs_path *b,
			      int noreplace)
{
	struct dfs_rec_info info;
	int ret;

	if ((ret = dfs_content_get(fs, a, &info)) < 0)
		return ret;
	ret = dfs_local_create_from(a->s->locals, b->name, info.blob->data, info.blob->len,
				    info.mtime, a->id, noreplace);
	dfs_rec_info_clear(&info);
	if (ret == 0)
		ret = dfs_locals_hide(a->s->locals, a->id);
	return ret;
}

int dfs_op_rename(const char *from, const char *to, unsigned int flags)
{
	struct dfs_fs *fs = dfs_ops_fs();
	struct dfs_path a, b;
	struct dfs_local *l;
	int ret, depth, noreplace = !!(flags & RENAME_NOREPLACE);

	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return -EINVAL;
	if ((ret = dfs_resolve(fs, from, &a)) < 0)
		return ret;
	if ((ret = dfs_resolve_parent(fs, to, &b, &depth)) < 0)
		return dfs_refuse_new_name(to, ret, depth);
	if (a.depth < 3 || b.depth < 3)
		return -EPERM; /* tenants and sets are not renamed */
	if (a.s != b.s)
		return -EXDEV;
	if (a.t->tc->read_only)
		return -EROFS;
	if (strcmp(a.name, b.name) == 0)
		return 0;
	if (noreplace && name_taken(&b))
		return -EEXIST;
	if ((l = dfs_path_local(&a))) {
		ret = rename_local(fs, l, &a, &b, noreplace);
		dfs_local_put(l);
		return ret;
	}
	if (!dfs_record_visible(&a))
		return -ENOENT;
	if (b.is_record) {
		dfs_warn("%s/%s: cannot rename %s to %s: a record's file name is its id",
			 a.t->tc->name, a.s->ent->set_name, a.name, b.name);
		return -EPERM;
	}
	return rename_record_away(fs, &a, &b, noreplace);
}

int dfs_op_symlink(const char *target, const char *path)
{
	struct dfs_path p;
	int ret, depth;

	if ((ret = dfs_resolve_parent(dfs_ops_fs(), path, &p, &depth)) < 0)
		return dfs_refuse_new_name(path, ret, depth);
	if (p.depth < 3)
		return -EEXIST;
	if (p.t->tc->read_only)
		return -EROFS;
	if (p.is_record)
		return -EPERM; /* record names hold records */
	return dfs_local_symlink(p.s->locals, p.name, target);
}

int dfs_op_readlink(const char *path, char *buf, size_t size)
{
	struct dfs_local *l;
	struct dfs_path p;
	int ret;

	if ((ret = dfs_resolve(dfs_ops_fs(), path, &p)) < 0)
		return ret;
	if (p.depth < 3 || !(l = dfs_path_local(&p)))
		return -EINVAL;
	ret = dfs_local_readlink(l, buf, size);
	dfs_local_put(l);
	return ret;
}

int dfs_op_link(const char *from, const char *to)
{
	return -EPERM;
}
