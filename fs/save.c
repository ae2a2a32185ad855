/* save.c - the save pipeline: a file's bytes to a record (see save.h).
 *
 *   dfs_save_handle / dfs_save_local    what to save, and the report of it
 *     write_record                      parse, choose the record, then
 *       write_attempt                   update (only what changed, If-Match
 *                                       the base) or create (upsert with
 *                                       If-None-Match: *); once more as an
 *                                       update if the create finds the
 *                                       record already there
 *                                       a restore (restore.h) leaves out a
 *                                       lookup whose record is not back yet
 *                                       and notes it as pending (pending.h)
 *     report_failure                    rescue copy and log line
 *     record_errno                      never an errno about a file
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "content.h"
#include "json.h"
#include "jsonmember.h"
#include "log.h"
#include "pending.h"
#include "record.h"
#include "restore.h"
#include "save.h"
#include "state.h"
#include "banned.h"

/* write_attempt's "the create found the record: read it and update it". */
#define EXISTS_AFTER_ALL 1

/* One write of a file's bytes to a record: what decides it, and what came of it. */
struct dfs_write {
	const char *name_id;     /* the GUID of a "<guid>.json" name: it decides the record */
	const char *fallback_id; /* else the file's primary key, else this */
	struct dfs_blob *base;   /* an in-place edit: the version read at open */
	const char *base_etag;
	const char *name;        /* for messages */
	int failed_write;        /* -EFBIG, -ENOSPC: the bytes are what there was when a write
				    was refused (draft.h) */
	char id[37];             /* out: the record written */
	int sent;                /* out: a write request went out */
	int created;             /* out: the record was created */
	char why[1400];          /* out: why it failed */
};

/* Lookups one save may leave out for later (a restore whose targets are
 * not back yet); more than this in one record fail the save. */
#define MAX_DEFERRED 16

struct deferrals {
	struct dfs_deferred d[MAX_DEFERRED];
	size_t n;
};

int dfs_save_schema(struct dfs_tenant *t, struct dfs_set *s, const struct dfs_schema **out,
		    char *why, size_t cap)
{
	struct dfs_http_error err = { "", "" };
	int ret = 0;

	pthread_mutex_lock(&s->schema_lock);
	if (!s->schema && (ret = dfs_schema_fetch(t->dv, s->ent, &s->schema, &err)) < 0)
		snprintf(why, cap, "cannot read the columns of '%s': %s", s->ent->logical_name,
			 err.message[0] ? err.message : strerror(-ret));
	*out = s->schema;
	pthread_mutex_unlock(&s->schema_lock);
	return ret;
}

int dfs_save_resolve(struct dfs_tenant *t, const struct dfs_column *col, const char *id,
		     const struct dfs_lookup_target **out)
{
	struct dfs_rec_info info;
	size_t i, j;
	int ret;

	for (i = 0; i < col->n_targets; i++)
		for (j = 0; j < t->n_sets && col->targets[i].set_name; j++)
			if (strcmp(t->sets[j].ent->set_name, col->targets[i].set_name) == 0 &&
			    dfs_cache_peek(t->sets[j].cache, id, &info)) {
				dfs_rec_info_clear(&info);
				*out = &col->targets[i];
				return 0;
			}
	for (i = 0; i < col->n_targets; i++) {
		if (!col->targets[i].set_name)
			continue;
		if ((ret = dfs_dv_exists(t->dv, col->targets[i].set_name, id)) < 0)
			return ret;
		if (ret == 1) {
			*out = &col->targets[i];
			return 0;
		}
	}
	return -ENOENT;
}

/* What the body's resolver works with: the file (its owner's table is in
 * it) and, in a restore, where lookups to missing records go. */
struct resolving {
	struct dfs_tenant *t;
	const cJSON *file;
	struct deferrals *def;  /* NULL: strict, a missing record is an error */
};

static int defer(struct deferrals *def, const char *column, const char *set, const char *id)
{
	struct dfs_deferred *d;

	if (!def || def->n == MAX_DEFERRED)
		return 0;
	d = &def->d[def->n++];
	snprintf(d->column, sizeof(d->column), "%s", column);
	snprintf(d->target_set, sizeof(d->target_set), "%s", set ? set : "");
	snprintf(d->target_id, sizeof(d->target_id), "%s", id);
	return 1;
}

/*
 * Which target of a polymorphic lookup (a customer: account or contact)
 * holds record ID.  A record file says which table its owner is in
 * (_owninguser_value or _owningteam_value holds the same id), so a restore
 * costs no request per record for it.
 */
static int resolve_target(void *ctx, const struct dfs_column *col, const char *id,
			  const struct dfs_lookup_target **out)
{
	static const char *const owning[][2] = { { "_owninguser_value", "systemuser" },
						 { "_owningteam_value", "team" } };
	struct resolving *r = ctx;
	const char *v;
	size_t i, j;
	int ret;

	for (i = 0; strcmp(col->type, "Owner") == 0 && i < 2; i++) {
		v = dfs_cjson_str(r->file, owning[i][0]);
		for (j = 0; v && strcasecmp(v, id) == 0 && j < col->n_targets; j++)
			if (strcmp(col->targets[j].entity, owning[i][1]) == 0) {
				*out = &col->targets[j];
				return 0;
			}
	}
	ret = dfs_save_resolve(r->t, col, id, out);
	if (ret == -ENOENT && defer(r->def, col->name, NULL, id))
		return DFS_SCHEMA_DEFER;
	return ret;
}

/*
 * The file name says which record is written, so a different primary key in
 * the file is someone else's: fine in a copy of another record (`cp
 * other.json f.json`, its versionnumber differs), an error in an edit of
 * this one (same versionnumber), where the user must have meant it.
 */
static int check_key(const cJSON *file, const cJSON *base, const struct dfs_entity *ent,
		     struct dfs_write *w)
{
	const cJSON *v_file = cJSON_GetObjectItemCaseSensitive(file, "versionnumber");
	const cJSON *v_base = cJSON_GetObjectItemCaseSensitive(base, "versionnumber");
	char id[37];

	if (dfs_record_key(file, ent->primary_id, id) == 1 && strcmp(id, w->id) == 0)
		return 0;
	if (!cJSON_GetObjectItemCaseSensitive(file, ent->primary_id))
		return 0;
	if (v_file && v_base && !dfs_schema_same_value(v_file, v_base))
		return 0;
	snprintf(w->why, sizeof(w->why), "column '%s' is the record's id and cannot be changed"
		 " (the file name says which record this is)", ent->primary_id);
	return -EINVAL;
}

/* Which record FILE is written to: the file name, else the primary key in
 * the file, else the id picked when the file was created, else a new one. */
static int choose_id(const cJSON *file, const struct dfs_entity *ent, struct dfs_write *w)
{
	int ret;

	if (w->name_id) {
		snprintf(w->id, sizeof(w->id), "%s", w->name_id);
		return 0;
	}
	if ((ret = dfs_record_key(file, ent->primary_id, w->id)) < 0) {
		char shown[64];
		const cJSON *pk = cJSON_GetObjectItemCaseSensitive(file, ent->primary_id);
		char *text = cJSON_PrintUnformatted(pk);

		snprintf(w->why, sizeof(w->why), "column '%s' is the record's id and must be a GUID "
			 "string such as \"7eb682f1-ca75-e511-80d4-00155d2a68d1\", not %s (or leave it "
			 "out for a new record)", ent->primary_id,
			 text ? dfs_printable(text, (size_t)-1, shown, sizeof(shown)) : "that");
		free(text);
		return ret;
	}
	if (ret == 1)
		return 0;
	if (w->fallback_id && w->fallback_id[0]) {
		snprintf(w->id, sizeof(w->id), "%s", w->fallback_id);
		return 0;
	}
	return dfs_guid_new(w->id);
}

/* What a write sent, for telling whether the record on the server shows it. */
struct sent {
	const struct dfs_schema *schema;
	const cJSON *body;
};

static int shows_change(void *ctx, const cJSON *rec)
{
	const struct sent *sent = ctx;

	return dfs_schema_applied(sent->schema, sent->body, rec);
}

/*
 * The bind of BODY whose target the 404 ERR names (the target's id written
 * into TARGET), or NULL.
 */
static cJSON *bind_named(cJSON *body, const struct dfs_http_error *err,
			 char target[DFS_GUID_LEN + 1])
{
	const char *open, *close;
	cJSON *item;

	cJSON_ArrayForEach(item, body) {
		if (!dfs_has_suffix(item->string, "@odata.bind") || !cJSON_IsString(item))
			continue;
		open = strrchr(item->valuestring, '(');
		close = open ? strchr(open, ')') : NULL;
		if (close && dfs_guid_parse(open + 1, (size_t)(close - open - 1), 0, target) == 0 &&
		    strcasestr(err->message, target))
			return item;
	}
	return NULL;
}

/* The lookup column of bind ITEM, and the set its value names. */
static const struct dfs_column *bind_column(const struct dfs_schema *schema, const cJSON *item,
					    char *set, size_t cap)
{
	const char *v = item->valuestring + (item->valuestring[0] == '/');
	const char *open = strrchr(v, '(');

	snprintf(set, cap, "%.*s", open ? (int)(open - v) : 0, v);
	return dfs_schema_nav_column(schema, item->string,
				     strlen(item->string) - strlen("@odata.bind"));
}

/*
 * A 404 to a write that binds lookups is about one of their targets when it
 * does not name the record itself (a create's record cannot be missing).
 * In a restore (DEF) that lookup is left out of BODY and kept for later:
 * 1.  Else the file holds a value the server refuses, EINVAL naming the
 * lookup: -EINVAL with WHY.  0: the 404 is about the record.
 */
static int missing_target(const struct dfs_schema *schema, cJSON *body, const char *id,
			  int creating, const struct dfs_http_error *err, struct deferrals *def,
			  char *why, size_t cap)
{
	const struct dfs_column *col;
	char target[DFS_GUID_LEN + 1], set[128];
	cJSON *item;

	if (!creating && strcasestr(err->message, id))
		return 0;
	if (!(item = bind_named(body, err, target))) {
		if (!creating)
			return 0;
		snprintf(why, cap, "a record the file points to does not exist (%s)", err->message);
		return -EINVAL;
	}
	col = bind_column(schema, item, set, sizeof(set));
	if (col && defer(def, col->name, set, target)) {
		cJSON_Delete(cJSON_DetachItemViaPointer(body, item));
		return 1;
	}
	snprintf(why, cap, "lookup '_%s_value': there is no record %s in %s (%s)",
		 col ? col->name : "?", target, set, err->message);
	return -EINVAL;
}

/* An inactive record just created: its state, one PATCH (see restore.h). */
static int set_state(struct dfs_tenant *t, struct dfs_set *s, const struct dfs_schema *schema,
		     struct dfs_write *w, cJSON *state, cJSON **rec)
{
	struct dfs_http_error err = { "", "" };
	struct sent sent = { schema, state };
	struct dfs_dv_check check = { shows_change, &sent, 0, 0 };
	const char *etag = *rec ? dfs_cjson_str(*rec, "@odata.etag") : NULL;
	char *text = cJSON_PrintUnformatted(state);
	cJSON *now = NULL;
	int ret;

	if (!text)
		return -ENOMEM;
	ret = dfs_dv_update(t->dv, s->ent, w->id, etag, text, strlen(text), &now, &err, &check);
	free(text);
	if (ret < 0) {
		snprintf(w->why, sizeof(w->why), "the record was created, but its state could not "
			 "be set (save the file again to set it): %s%s%s", err.code,
			 err.code[0] ? " " : "", err.message);
		return ret;
	}
	if (now) {
		cJSON_Delete(*rec);
		*rec = now;
	}
	return 0;
}

/* A saved record: which of its pending lookups it settled or left. */
static void note_pending(struct dfs_tenant *t, struct dfs_set *s, const struct dfs_schema *schema,
			 const char *id, const cJSON *body, const struct deferrals *def)
{
	const char *cols[64];
	const struct dfs_column *col;
	const cJSON *item;
	size_t n = 0;

	cJSON_ArrayForEach(item, body) {
		if (n == 64 || !dfs_has_suffix(item->string, "@odata.bind"))
			continue;
		col = dfs_schema_nav_column(schema, item->string,
					    strlen(item->string) - strlen("@odata.bind"));
		if (col)
			cols[n++] = col->name;
	}
	dfs_pending_saved(t, s->ent->set_name, id, cols, n, def->d, def->n);
}

/*
 * One update or create of record W->id from FILE.  The base of an update
 * is the version the edit started from, else the cached one (REREAD: the
 * server's, because a create just found the record there).  Returns 0,
 * -errno with W->why, or EXISTS_AFTER_ALL.
 */
static int write_attempt(struct dfs_fs *fs, struct dfs_tenant *t, struct dfs_set *s,
			 const cJSON *file, const struct dfs_schema *schema, struct dfs_write *w,
			 int reread)
{
	struct dfs_path p = { .depth = 3, .t = t, .s = s, .is_record = 1 };
	struct dfs_http_error err = { "", "" };
	struct dfs_rec_info info = { 0 };
	struct sent sent = { schema, NULL };
	struct dfs_dv_check check;
	struct deferrals def = { .n = 0 };
	struct resolving rs = { t, file, NULL };
	cJSON *base = NULL, *body = NULL, *rec = NULL, *state = NULL;
	const char *etag = w->base_etag;
	char errbuf[256];
	struct dfs_buf out;
	int ret, dropped = 0, creating = 0, restore, target = 0;

	dfs_buf_init(&out, 0);
	snprintf(p.id, sizeof(p.id), "%s", w->id);
	if (w->base && !reread) {
		base = dfs_json_parse(w->base->data, w->base->len, errbuf, sizeof(errbuf));
	} else {
		ret = reread ? dfs_content_fetch(&p, &info) : dfs_content_get(fs, &p, &info);
		if (ret == -ENOENT) {
			creating = 1;
		} else if (ret < 0) {
			snprintf(w->why, sizeof(w->why), "cannot read the record's current version: %s",
				 strerror(-ret));
			goto out;
		} else {
			base = dfs_json_parse(info.blob->data, info.blob->len, errbuf, sizeof(errbuf));
			etag = info.etag;
		}
	}
	if (!creating && !base) {
		snprintf(w->why, sizeof(w->why), "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	if (!creating && w->name_id && (ret = check_key(file, base, s->ent, w)) < 0)
		goto out;
	if ((restore = dfs_restore_is(file, base, s->ent, w->id)))
		rs.def = &def;
	if ((ret = dfs_schema_body(schema, file, creating ? NULL : base, &body, &dropped, w->why,
				   sizeof(w->why), resolve_target, &rs)) < 0)
		goto out;
	if (creating && (ret = dfs_restore_create_extras(schema, file, restore, body, &state)) < 0) {
		snprintf(w->why, sizeof(w->why), "out of memory");
		goto out;
	}
	if (dropped)
		dfs_info("%s/%s/%s: %d read-only column(s) left out of the request", t->tc->name,
			 s->ent->set_name, w->name, dropped);
	for (;;) {
		if (!creating && !body->child) {
			dfs_debug("%s/%s/%s: unchanged, nothing sent", t->tc->name, s->ent->set_name,
				  w->name);
			ret = 0;
			goto saved;
		}
		out.len = 0;
		if ((ret = dfs_json_render_compact(body, &out)) < 0) {
			snprintf(w->why, sizeof(w->why), "cannot build the request: %s",
				 strerror(-ret));
			goto out;
		}
		w->sent = 1;
		sent.body = body;
		memset(&check, 0, sizeof(check));
		check.applied = shows_change;
		check.ctx = &sent;
		cJSON_Delete(rec);
		rec = NULL;
		if (creating)
			ret = dfs_dv_create(t->dv, s->ent, w->id, out.data, out.len, &rec, &err,
					    &check);
		else
			ret = dfs_dv_update(t->dv, s->ent, w->id, etag, out.data, out.len, &rec, &err,
					    &check);
		/* A restore's lookup to a record not back yet: without it. */
		if (ret != -ENOENT || check.read_back ||
		    (target = missing_target(schema, body, w->id, creating, &err, rs.def, w->why,
					     sizeof(w->why))) != 1)
			break;
	}
	if (target < 0) {
		ret = target;
		goto out;
	}
	/* It exists after all (created meanwhile, or the listing was old). */
	if (creating && ret == -ESTALE && !reread) {
		ret = EXISTS_AFTER_ALL;
		goto out;
	}
	if (ret == -ESTALE) {
		snprintf(w->why, sizeof(w->why), "conflict: the record was changed on the server"
			 " since it was read (%s%s%s)", err.code, err.code[0] ? " " : "", err.message);
		goto out;
	}
	/* Gone since it was read: a conflict too, not a missing file. */
	if (ret == -ENOENT) {
		snprintf(w->why, sizeof(w->why), "conflict: the record was deleted on the server "
			 "since it was read (%s%s%s)", err.code, err.code[0] ? " " : "", err.message);
		ret = -ESTALE;
		goto out;
	}
	if (ret == -EINTR && !check.read_back) {
		snprintf(w->why, sizeof(w->why), "interrupted before the change was sent (the "
			 "program saving it is gone)");
		goto out;
	}
	/* Settled by reading the record back: the message says all. */
	if (ret < 0 && check.read_back) {
		snprintf(w->why, sizeof(w->why), "%s", err.message);
		goto out;
	}
	if (ret < 0) {
		snprintf(w->why, sizeof(w->why), "the server refused the %s: %s%s%s",
			 creating ? "new record" : "change", err.code, err.code[0] ? " " : "",
			 err.message);
		goto out;
	}
	if (creating)
		w->created = 1;
	if (state && (ret = set_state(t, s, schema, w, state, &rec)) < 0)
		dfs_cache_touch(s->cache, w->id, -1e9);
	/* The server's answer is the new cached version. */
	else if (!rec || dfs_content_put(s, w->id, rec, dfs_now(), 0) < 0)
		dfs_cache_touch(s->cache, w->id, -1e9); /* none: the next access asks */
	if (ret == 0)
		dfs_cache_set_error(s->cache, w->id, NULL);
	/* A new record joins the folder's listing now that the index has it
	 * (before, there was nothing to add: ls did not show it until the
	 * next listing). */
	if (w->created)
		dfs_cache_listing_add(s->cache, w->id);
	dfs_cache_forget_opened(s->cache, w->id);
saved:
	note_pending(t, s, schema, w->id, body, &def);
	if (w->created)
		dfs_pending_target_created(fs, t, s, w->id);
out:
	/* A write that may have landed all the same ("may or may not"), or
	 * that met someone else's change: what we hold is asked about again
	 * before it is served or edited.  A refusal changed nothing, and the
	 * file must stay readable (user.dynfs.error) while the server refuses. */
	if (ret < 0 && w->sent && (check.unknown || ret == -ESTALE))
		dfs_cache_touch(s->cache, w->id, -1e9);
	dfs_rec_info_clear(&info);
	dfs_buf_free(&out);
	cJSON_Delete(base);
	cJSON_Delete(body);
	cJSON_Delete(rec);
	cJSON_Delete(state);
	return ret;
}
/*
 * A save's errno is printed by cp, rsync, sed -i and editors about their own
 * file ("rename .f.json.XXXX -> f.json: No such file or directory"), so it
 * must say what happened to the record, never describe the file: see the
 * table in SEMANTICS.md.  What the server or the transport said that reads
 * as a file's trouble becomes EIO (the reason is in user.dynfs.error).
 */
static int record_errno(int ret)
{
	switch (ret) {
	case -EPERM:            /* 405: the server does not allow it */
		return -EACCES;
	case -EBUSY:            /* 409: busy on the server, try again */
		return -EAGAIN;
	case -ENOENT:
	case -ENOTDIR:
	case -EISDIR:
	case -EEXIST:
	case -ELOOP:
	case -ENAMETOOLONG:
	case -EBADF:
	case -EXDEV:
	case -ENOTEMPTY:
		return -EIO;
	}
	return ret;
}

/*
 * Write DATA (a record file's bytes) to the server as a record of set S:
 * update it when it exists -- only the columns that changed, If-Match the
 * version the edit started from -- or create it with the id decided here.
 * The one place that chooses between update and create; see SEMANTICS.md.
 */
static int write_record(struct dfs_fs *fs, struct dfs_tenant *t, struct dfs_set *s,
			const char *data, size_t len, struct dfs_write *w)
{
	const struct dfs_schema *schema;
	cJSON *file;
	char errbuf[256];
	int ret;

	if (w->failed_write == -EFBIG) {
		snprintf(w->why, sizeof(w->why), "the file grew past %lu MiB, the most one file may "
			 "hold: nothing was sent, and the bytes kept are the first %zu",
			 DFS_FILE_MAX >> 20, len);
		return -EFBIG;
	}
	if (w->failed_write == -ENOSPC) {
		size_t limit;

		dfs_drafts_used(&limit);
		snprintf(w->why, sizeof(w->why), "a write was refused: local files and files being "
			 "written hold local_size (%zu MiB) already; nothing was sent, and the bytes "
			 "kept are the %zu written before", limit >> 20, len);
		return -ENOSPC;
	}
	file = dfs_json_parse(data ? data : "", len, errbuf, sizeof(errbuf));
	if (!file) {
		snprintf(w->why, sizeof(w->why), "invalid JSON: %s", errbuf);
		return -EINVAL;
	}
	if (!cJSON_IsObject(file)) {
		snprintf(w->why, sizeof(w->why), "a record file must hold one JSON object");
		ret = -EINVAL;
		goto out;
	}
	if ((ret = choose_id(file, s->ent, w)) < 0)
		goto out;
	if ((ret = dfs_save_schema(t, s, &schema, w->why, sizeof(w->why))) < 0)
		goto out;
	ret = write_attempt(fs, t, s, file, schema, w, 0);
	if (ret == EXISTS_AFTER_ALL)
		ret = write_attempt(fs, t, s, file, schema, w, 1);
out:
	cJSON_Delete(file);
	return record_errno(ret);
}

/*
 * A save failed: keep the user's bytes in the rescue folder and log why.
 * Returns the message for user.dynfs.error (malloc'd, or NULL).
 */
static char *report_failure(struct dfs_tenant *t, struct dfs_set *s, const char *name,
			    const char *data, size_t len, const char *why)
{
	char where[4200], *full = NULL;
	int r;

	r = dfs_state_rescue(t->tc->name, s->ent->set_name, name, data ? data : "", len, why,
			     where, sizeof(where));
	if (asprintf(&full, "save failed: %s; your version is kept in %s", why,
		     r == 0 ? where : "(rescue failed)") < 0)
		full = NULL;
	dfs_err("%s/%s/%s: %s", t->tc->name, s->ent->set_name, name, full ? full : why);
	return full;
}

/* Save a writable record handle.  Called with fh->own.save_lock held. */
static int save_record_handle(struct dfs_fs *fs, struct dfs_fh *fh)
{
	struct dfs_write w = { .name_id = fh->id, .base = fh->base, .base_etag = fh->base_etag,
			       .name = fh->name, .failed_write = dfs_draft_failed_write(fh->draft) };
	struct dfs_rec_info info;
	unsigned long gen;
	size_t len;
	char *data, *msg;
	int ret;

	if (!(data = dfs_draft_take(fh->draft, 0, &len, &gen, &ret)))
		return ret;
	/* Clean from here on: a failure is reported once, not at every close. */
	dfs_draft_done(fh->draft, gen);
	ret = write_record(fs, fh->t, fh->s, data, len, &w);
	if (ret < 0) {
		msg = report_failure(fh->t, fh->s, fh->name, data, len, w.why);
		dfs_cache_set_error(fh->s->cache, fh->id, msg ? msg : w.why);
		free(msg);
		goto out;
	}
	if (!w.sent)
		goto out;
	/* The new version is the base of further saves through this handle. */
	if (dfs_cache_get(fh->s->cache, fh->id, &info)) {
		dfs_blob_unref(fh->base);
		fh->base = dfs_blob_ref(info.blob);
		free(fh->base_etag);
		fh->base_etag = info.etag ? strdup(info.etag) : NULL;
		dfs_rec_info_clear(&info);
	}
	dfs_info("%s/%s/%s: saved", fh->t->tc->name, fh->s->ent->set_name, fh->name);
out:
	free(data);
	return ret;
}

/*
 * Save local file L as record NAME.  FORCE: its content counts as new even
 * if it was not written through this mount (a rename).  The bytes are
 * copied out, so a slow request never blocks the folder.  Called with the
 * draft's save_lock held.
 */
static int save_local(struct dfs_fs *fs, struct dfs_tenant *t, struct dfs_set *s,
		      struct dfs_local *l, const char *name, const char *name_id, int force)
{
	struct dfs_write w = { .name_id = name_id, .name = name };
	struct dfs_draft *d = dfs_local_draft(l);
	char fallback[37], *data = NULL, *msg = NULL;
	unsigned long gen;
	size_t len;
	int ret;

	if (force && (ret = dfs_local_recent_failure(l)) < 0)
		return ret;
	if (!(data = dfs_draft_take(d, force, &len, &gen, &ret)))
		return ret;
	dfs_local_id(l, fallback);
	w.fallback_id = fallback;
	w.failed_write = dfs_draft_failed_write(d);
	ret = write_record(fs, t, s, data, len, &w);
	if (ret < 0 && !(msg = report_failure(t, s, name, data, len, w.why)))
		msg = strdup(w.why);
	dfs_draft_done(d, gen);
	/* Saved onto a record's name: the user looks for the reason there. */
	if (ret < 0 && name_id)
		dfs_cache_set_error(s->cache, name_id, msg ? msg : w.why);
	dfs_local_saved(l, gen, ret, w.id, msg);
	if (ret == 0 && w.sent)
		dfs_info("%s/%s/%s: %s %s.json", t->tc->name, s->ent->set_name, name,
			 w.created ? "created record" : "saved as", w.id);
	free(data);
	return ret;
}

int dfs_save_local(struct dfs_fs *fs, struct dfs_tenant *t, struct dfs_set *s,
		   struct dfs_local *l, const char *name, const char *name_id)
{
	struct dfs_draft *d = dfs_local_draft(l);
	int ret;

	pthread_mutex_lock(&d->save_lock);
	ret = save_local(fs, t, s, l, name, name_id, 1);
	pthread_mutex_unlock(&d->save_lock);
	return ret;
}

/* Close or fsync of a local file: a written ".json" one is saved. */
static int save_local_handle(struct dfs_fs *fs, struct dfs_fh *fh)
{
	char id[37], *name = dfs_local_name(fh->s->locals, fh->local);
	int ret = 0;

	/* A saved name a new listing retired is still that record to the
	 * program writing it; a file the user unlinked has nowhere to go. */
	if (!name && dfs_local_retired(fh->local))
		name = strdup(fh->name);
	/* Other names stay local. */
	if (name && dfs_has_suffix(name, ".json"))
		ret = save_local(fs, fh->t, fh->s, fh->local, name,
				 dfs_record_name_to_id(name, id) ? id : NULL, 0);
	free(name);
	return ret;
}

int dfs_save_handle(struct dfs_fs *fs, struct dfs_fh *fh)
{
	int ret;

	if (!fh || !fh->draft)
		return 0;
	pthread_mutex_lock(&fh->draft->save_lock);
	/*
	 * Nothing new: the last save's outcome again.  All descriptors of an
	 * open file share its handle, and a close that is not the writer's (a
	 * child's close-on-exec after a fork) must not take the failure away
	 * from the writer's own close.
	 */
	if (!dfs_draft_unsaved(fh->draft))
		ret = fh->save_err;
	else if (fh->local)
		ret = fh->save_err = save_local_handle(fs, fh);
	else
		ret = fh->save_err = save_record_handle(fs, fh);
	pthread_mutex_unlock(&fh->draft->save_lock);
	if (!fh->local)
		dfs_cache_forget_opened(fh->s->cache, fh->id);
	return ret;
}

int dfs_fh_new_writable(struct dfs_fs *fs, struct dfs_path *p, int truncate,
			struct dfs_fh **out)
{
	struct dfs_rec_info info;
	struct dfs_fh *fh;
	int ret;

	if (p->t->tc->read_only)
		return -EROFS;
	if ((ret = dfs_content_get(fs, p, &info)) < 0)
		return ret;
	if (!(fh = dfs_fh_new(p))) {
		dfs_rec_info_clear(&info);
		return -ENOMEM;
	}
	fh->draft = &fh->own;
	dfs_draft_init(&fh->own);
	/* Writes go through the kernel's page cache: whatever this handle
	 * writes, saved or rejected, the next reader must not be served it
	 * from there. */
	dfs_cache_forget_opened(p->s->cache, p->id);
	fh->base = dfs_blob_ref(info.blob);
	fh->base_etag = info.etag ? strdup(info.etag) : NULL;
	if (truncate)
		ret = dfs_draft_truncate(&fh->own, 0);
	else
		ret = dfs_draft_fill(&fh->own, info.blob->data, info.blob->len);
	dfs_rec_info_clear(&info);
	if (ret < 0) {
		dfs_fh_free(fh);
		return ret;
	}
	*out = fh;
	return 0;
}
