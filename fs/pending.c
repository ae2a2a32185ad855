/* pending.c - deferred binds of restored records (see pending.h).
 *
 *   journal     the durable list: one appended line per change, replayed
 *               and compacted at open
 *   take/settle which binds a pass works on (marked busy, so two passes
 *               never send the same bind), and what came of each
 *   apply       one PATCH of one lookup
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "content.h"
#include "jsonmember.h"
#include "log.h"
#include "pending.h"
#include "save.h"
#include "state.h"
#include "tree.h"
#include "util.h"
#include "banned.h"

struct item {
	char set[128];
	char id[37];
	struct dfs_deferred d;
	int busy;               /* a pass is applying it */
};

struct dfs_pending {
	pthread_mutex_t lock;
	char *tenant;
	char *path;             /* the journal; NULL: nowhere to keep it */
	int fd;                 /* open for appending, or -1 */
	struct item *items;
	size_t n, cap;
};

/* What became of one bind a pass tried. */
enum outcome { KEEP, DONE };

/* ---- journal ------------------------------------------------------------- */

/* Names and ids go into the journal between tabs: they are schema names
 * and GUIDs, but a line is only written for what cannot break it. */
static int plain(const char *s)
{
	return !strpbrk(s, "\t\n");
}

/* The journal is opened at the first change: a mount that never defers a
 * lookup (a read-only one) leaves the state directory alone. */
static int journal_open(struct dfs_pending *p)
{
	char *dir, *slash;

	if (p->fd >= 0 || !p->path)
		return p->fd;
	if ((dir = strdup(p->path)) && (slash = strrchr(dir, '/'))) {
		*slash = '\0';
		(void)dfs_mkdirs(dir);
	}
	free(dir);
	p->fd = open(p->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (p->fd < 0) {
		dfs_warn("%s: pending lookups cannot be kept across unmounts: %s: %s", p->tenant,
			 p->path, strerror(errno));
		free(p->path);  /* said once */
		p->path = NULL;
	}
	return p->fd;
}

static void journal(struct dfs_pending *p, const char *line)
{
	size_t len = strlen(line);

	if (journal_open(p) < 0)
		return;
	/* One write per line, O_APPEND: a kill -9 leaves whole lines. */
	if (write(p->fd, line, len) != (ssize_t)len)
		dfs_warn("%s: cannot note a pending lookup in %s: %s", p->tenant, p->path,
			 strerror(errno));
}

static void journal_add(struct dfs_pending *p, const struct item *it)
{
	char line[600];

	if (!plain(it->set) || !plain(it->d.column) || !plain(it->d.target_set))
		return;
	snprintf(line, sizeof(line), "+\t%s\t%s\t%s\t%s\t%s\n", it->set, it->id, it->d.column,
		 it->d.target_set[0] ? it->d.target_set : "-", it->d.target_id);
	journal(p, line);
}

static void journal_drop(struct dfs_pending *p, const struct item *it)
{
	char line[400];

	if (!plain(it->set) || !plain(it->d.column))
		return;
	snprintf(line, sizeof(line), "-\t%s\t%s\t%s\n", it->set, it->id, it->d.column);
	journal(p, line);
}

static ssize_t find(struct dfs_pending *p, const char *set, const char *id, const char *column)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->items[i].id, id) == 0 && strcmp(p->items[i].set, set) == 0 &&
		    strcmp(p->items[i].d.column, column) == 0)
			return (ssize_t)i;
	return -1;
}

static void remove_at(struct dfs_pending *p, size_t i)
{
	p->items[i] = p->items[--p->n];
}

/* Add or replace (in memory only). */
static int put(struct dfs_pending *p, const char *set, const char *id,
	       const struct dfs_deferred *d)
{
	ssize_t at = find(p, set, id, d->column);
	struct item *it;

	if (at < 0 && p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 16;
		struct item *n = realloc(p->items, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->items = n;
		p->cap = cap;
	}
	it = at < 0 ? &p->items[p->n++] : &p->items[at];
	memset(it, 0, sizeof(*it));
	snprintf(it->set, sizeof(it->set), "%s", set);
	snprintf(it->id, sizeof(it->id), "%s", id);
	it->d = *d;
	return 0;
}

/* Replay one journal line; malformed ones (a torn last line) are skipped. */
static void replay(struct dfs_pending *p, char *line)
{
	char *f[6], *tok, *save = NULL;
	struct dfs_deferred d;
	size_t n = 0;
	ssize_t at;

	for (tok = strtok_r(line, "\t", &save); tok && n < 6; tok = strtok_r(NULL, "\t", &save))
		f[n++] = tok;
	if (n >= 4 && strcmp(f[0], "-") == 0) {
		if ((at = find(p, f[1], f[2], f[3])) >= 0)
			remove_at(p, (size_t)at);
		return;
	}
	if (n < 6 || strcmp(f[0], "+") != 0 || strlen(f[2]) != 36 || strlen(f[5]) != 36)
		return;
	memset(&d, 0, sizeof(d));
	snprintf(d.column, sizeof(d.column), "%s", f[3]);
	snprintf(d.target_set, sizeof(d.target_set), "%s", strcmp(f[4], "-") ? f[4] : "");
	snprintf(d.target_id, sizeof(d.target_id), "%s", f[5]);
	(void)put(p, f[1], f[2], &d);
}

/* Read the journal, then write it anew holding only what is pending. */
static void load(struct dfs_pending *p)
{
	struct dfs_buf all;
	char chunk[8192], *line, *save = NULL;
	ssize_t got;
	size_t i;
	int fd, ret;

	dfs_buf_init(&all, 0);
	if ((fd = open(p->path, O_RDONLY | O_CLOEXEC)) < 0)
		return;         /* nothing kept */
	while ((got = read(fd, chunk, sizeof(chunk))) > 0)
		if (dfs_buf_append(&all, chunk, (size_t)got) < 0)
			break;
	close(fd);
	if (all.len && dfs_buf_append(&all, "", 1) == 0)
		for (line = strtok_r(all.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			replay(p, line);
	dfs_buf_free(&all);
	dfs_buf_init(&all, 0);
	for (i = 0; i < p->n; i++) {
		struct item *it = &p->items[i];

		(void)dfs_buf_appendf(&all, "+\t%s\t%s\t%s\t%s\t%s\n", it->set, it->id, it->d.column,
				      it->d.target_set[0] ? it->d.target_set : "-", it->d.target_id);
	}
	/* Compacted: what is pending, or no journal at all. */
	if (!p->n)
		unlink(p->path);
	else if ((ret = dfs_write_private(p->path, all.data, all.len, NULL)) < 0)
		dfs_warn("%s: cannot rewrite %s: %s", p->tenant, p->path, strerror(-ret));
	dfs_buf_free(&all);
	if (p->n)
		dfs_info("%s: %zu pending lookup(s) from the last mount", p->tenant, p->n);
}

struct dfs_pending *dfs_pending_open(const char *tenant)
{
	struct dfs_pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	p->fd = -1;
	if (!(p->tenant = strdup(tenant))) {
		dfs_pending_free(&p);
		return NULL;
	}
	if ((p->path = dfs_state_path("pending/%s.log", tenant)))
		load(p);
	return p;
}

void dfs_pending_free(struct dfs_pending **pp)
{
	struct dfs_pending *p = *pp;

	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	pthread_mutex_destroy(&p->lock);
	free(p->items);
	free(p->path);
	free(p->tenant);
	free(p);
	*pp = NULL;
}

/* ---- what is pending ------------------------------------------------------ */

static void apply_new(struct dfs_tenant *t, const struct dfs_deferred *def, size_t n_def);

void dfs_pending_saved(struct dfs_tenant *t, const char *set, const char *id,
		       const char *const *set_cols, size_t n_set, const struct dfs_deferred *def,
		       size_t n_def)
{
	struct dfs_pending *p = t->pending;
	size_t i;
	ssize_t at;

	if (!p || (!n_def && !p->n))
		return;
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < n_set; i++)
		if ((at = find(p, set, id, set_cols[i])) >= 0) {
			journal_drop(p, &p->items[at]);
			remove_at(p, (size_t)at);
		}
	for (i = 0; i < n_def; i++) {
		if (put(p, set, id, &def[i]) < 0) {
			dfs_err("%s: %s(%s): out of memory: lookup '_%s_value' -> %s is not kept",
				p->tenant, set, id, def[i].column, def[i].target_id);
			continue;
		}
		journal_add(p, &p->items[find(p, set, id, def[i].column)]);
		dfs_info("%s: %s(%s): lookup '_%s_value' left out: record %s does not exist yet; "
			 "pending until it does", p->tenant, set, id, def[i].column, def[i].target_id);
	}
	pthread_mutex_unlock(&p->lock);
	apply_new(t, def, n_def);
}

size_t dfs_pending_count(struct dfs_pending *p)
{
	size_t n;

	if (!p)
		return 0;
	pthread_mutex_lock(&p->lock);
	n = p->n;
	pthread_mutex_unlock(&p->lock);
	return n;
}

char *dfs_pending_of_record(struct dfs_pending *p, const char *set, const char *id)
{
	cJSON *o = NULL;
	char key[160], *text = NULL;
	size_t i;

	if (!p)
		return NULL;
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n; i++) {
		if (strcmp(p->items[i].id, id) != 0 || strcmp(p->items[i].set, set) != 0)
			continue;
		if (!o && !(o = cJSON_CreateObject()))
			break;
		snprintf(key, sizeof(key), "_%s_value", p->items[i].d.column);
		cJSON_AddStringToObject(o, key, p->items[i].d.target_id);
	}
	pthread_mutex_unlock(&p->lock);
	if (o)
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

cJSON *dfs_pending_list(struct dfs_pending *p, size_t max)
{
	cJSON *a = cJSON_CreateArray();
	char line[600];
	size_t i;

	if (!a || !p)
		return a;
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n && i < max; i++) {
		snprintf(line, sizeof(line), "%s(%s) _%s_value -> %s%s%s%s", p->items[i].set,
			 p->items[i].id, p->items[i].d.column, p->items[i].d.target_set,
			 p->items[i].d.target_set[0] ? "(" : "", p->items[i].d.target_id,
			 p->items[i].d.target_set[0] ? ")" : "");
		cJSON_AddItemToArray(a, cJSON_CreateString(line));
	}
	pthread_mutex_unlock(&p->lock);
	return a;
}

/* ---- applying ------------------------------------------------------------- */

static struct dfs_set *set_named(struct dfs_tenant *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n_sets; i++)
		if (strcmp(t->sets[i].ent->set_name, name) == 0)
			return &t->sets[i];
	return NULL;
}

/* Is record ID in a mounted set's cache?  That set, or NULL. */
static struct dfs_set *cached_in(struct dfs_tenant *t, const char *target_set, const char *id)
{
	struct dfs_rec_info info;
	size_t i;

	for (i = 0; i < t->n_sets; i++) {
		if (target_set[0] && strcmp(t->sets[i].ent->set_name, target_set) != 0)
			continue;
		if (dfs_cache_peek(t->sets[i].cache, id, &info)) {
			dfs_rec_info_clear(&info);
			return &t->sets[i];
		}
	}
	return NULL;
}

static int applied(void *ctx, const cJSON *rec)
{
	const cJSON *want = ctx;
	const char *have = dfs_cjson_str(rec, want->string);

	return have && strcasecmp(have, want->valuestring) == 0;
}

/*
 * PATCH the lookup of IT alone, its target in set KNOWN (NULL: as the
 * bind says, or asked).  DONE when applied or given up, else KEEP.
 */
static enum outcome apply(struct dfs_tenant *t, const struct item *it, const char *known)
{
	const struct dfs_lookup_target *target = NULL;
	struct dfs_http_error err = { "", "" };
	const struct dfs_schema *schema;
	const struct dfs_column *col;
	struct dfs_set *s = set_named(t, it->set);
	cJSON *body = NULL, *rec = NULL, *want = NULL;
	char why[600], key[160], ref[300], *text = NULL;
	const char *tset = known ? known : it->d.target_set;
	struct dfs_dv_check check = { applied, NULL, 0, 0 };
	enum outcome out = KEEP;
	size_t i;
	int ret;

	if (!s) {
		dfs_warn("%s: %s(%s): pending lookup '_%s_value' given up: set '%s' is not mounted",
			 t->tc->name, it->set, it->id, it->d.column, it->set);
		return DONE;
	}
	if (dfs_save_schema(t, s, &schema, why, sizeof(why)) < 0 ||
	    !(col = dfs_schema_find(schema, it->d.column)))
		return KEEP;
	for (i = 0; tset[0] && i < col->n_targets; i++)
		if (strcmp(col->targets[i].set_name, tset) == 0)
			target = &col->targets[i];
	if (!target) {
		ret = dfs_save_resolve(t, col, it->d.target_id, &target);
		if (ret < 0)
			return KEEP;    /* not there yet, or cannot tell now */
	}
	snprintf(key, sizeof(key), "%s@odata.bind", target->nav);
	snprintf(ref, sizeof(ref), "/%s(%s)", target->set_name, it->d.target_id);
	snprintf(why, sizeof(why), "_%s_value", col->name);
	if (!(body = cJSON_CreateObject()) || !cJSON_AddStringToObject(body, key, ref) ||
	    !(want = cJSON_CreateString(it->d.target_id)) || !(text = cJSON_PrintUnformatted(body)))
		goto out;
	free(want->string);
	want->string = strdup(why);
	if (!want->string)
		goto out;
	check.ctx = want;
	ret = dfs_dv_update(t->dv, s->ent, it->id, NULL, text, strlen(text), &rec, &err, &check);
	if (ret == 0) {
		if (!rec || dfs_content_put(s, it->id, rec, dfs_now(), 0) < 0)
			dfs_cache_touch(s->cache, it->id, -1e9);
		dfs_cache_forget_opened(s->cache, it->id);
		dfs_info("%s: %s(%s): pending lookup '_%s_value' applied: -> %s(%s)", t->tc->name,
			 it->set, it->id, it->d.column, target->set_name, it->d.target_id);
		out = DONE;
	} else if (ret == -ENOENT && strcasestr(err.message, it->id)) {
		dfs_warn("%s: %s(%s): pending lookup '_%s_value' -> %s given up: the record is no "
			 "longer on the server", t->tc->name, it->set, it->id, it->d.column,
			 it->d.target_id);
		out = DONE;
	} else if (ret == -EINVAL || ret == -EACCES || ret == -EPERM) {
		dfs_err("%s: %s(%s): pending lookup '_%s_value' -> %s given up: the server refuses "
			"it: %s%s%s", t->tc->name, it->set, it->id, it->d.column, it->d.target_id,
			err.code, err.code[0] ? " " : "", err.message);
		out = DONE;
	}
out:
	cJSON_Delete(body);
	cJSON_Delete(rec);
	cJSON_Delete(want);
	free(text);
	return out;
}

/* Which binds a pass takes: those waiting for ID (NULL: any) in SET (NULL:
 * any; a bind that does not know its target's set waits for any), and with
 * T, only those whose target a mounted set's cache holds. */
struct want {
	const char *id;
	const char *set;
	struct dfs_tenant *t;
};

static int wanted(const struct item *it, const struct want *w)
{
	if (it->busy || (w->id && strcmp(it->d.target_id, w->id) != 0))
		return 0;
	if (w->set && it->d.target_set[0] && strcmp(it->d.target_set, w->set) != 0)
		return 0;
	return !w->t || cached_in(w->t, it->d.target_set, it->d.target_id);
}

/*
 * Take the binds a pass works on (see struct want), marked busy so that no
 * other pass sends them meanwhile.  Returns a malloc'd copy (*N of them),
 * or NULL.
 */
static struct item *take(struct dfs_pending *p, const struct want *w, size_t *n)
{
	struct item *got = NULL;
	size_t i, k = 0;

	*n = 0;
	pthread_mutex_lock(&p->lock);
	for (i = 0; i < p->n; i++)
		k += (size_t)wanted(&p->items[i], w);
	if (k && (got = malloc(k * sizeof(*got)))) {
		for (i = 0; i < p->n && *n < k; i++)
			if (wanted(&p->items[i], w)) {
				p->items[i].busy = 1;
				got[(*n)++] = p->items[i];
			}
	}
	pthread_mutex_unlock(&p->lock);
	return got;
}

/* What came of IT: drop it when DONE, else it may be tried again. */
static void settle(struct dfs_pending *p, const struct item *it, enum outcome o)
{
	ssize_t at;

	pthread_mutex_lock(&p->lock);
	at = find(p, it->set, it->id, it->d.column);
	/* A save meanwhile may have replaced it: only this very bind goes. */
	if (at >= 0 && strcmp(p->items[at].d.target_id, it->d.target_id) == 0) {
		p->items[at].busy = 0;
		if (o == DONE) {
			journal_drop(p, &p->items[at]);
			remove_at(p, (size_t)at);
		}
	}
	pthread_mutex_unlock(&p->lock);
}

void dfs_pending_target_created(struct dfs_fs *fs, struct dfs_tenant *t, struct dfs_set *s,
				const char *id)
{
	struct want w = { id, s->ent->set_name, NULL };
	struct item *got;
	size_t n, i;

	(void)fs;
	if (!t->pending || !(got = take(t->pending, &w, &n)))
		return;
	for (i = 0; i < n; i++)
		settle(t->pending, &got[i], apply(t, &got[i], s->ent->set_name));
	free(got);
}

/* A target created through the mount by another writer between this save's
 * 404 and its note above found nothing to apply: what the cache now shows
 * is applied at once instead of at the next pass. */
static void apply_new(struct dfs_tenant *t, const struct dfs_deferred *def, size_t n_def)
{
	struct dfs_set *there;
	struct item *got;
	size_t i, j, n;

	for (i = 0; i < n_def; i++) {
		struct want w = { def[i].target_id, NULL, t };

		if (!(got = take(t->pending, &w, &n)))
			continue;
		for (j = 0; j < n; j++) {
			there = cached_in(t, got[j].d.target_set, got[j].d.target_id);
			settle(t->pending, &got[j], apply(t, &got[j], there ? there->ent->set_name
								   : NULL));
		}
		free(got);
	}
}

void dfs_pending_retry(struct dfs_fs *fs, struct dfs_tenant *t, int cached_only, int report)
{
	struct want w = { NULL, NULL, cached_only ? t : NULL }, all = { NULL, NULL, NULL };
	struct dfs_set *there;
	struct item *got;
	size_t n, i;

	(void)fs;
	if (!t->pending || !dfs_tenant_ready(t))
		return;
	got = take(t->pending, &w, &n);
	for (i = 0; i < n; i++) {
		there = cached_in(t, got[i].d.target_set, got[i].d.target_id);
		settle(t->pending, &got[i], apply(t, &got[i], there ? there->ent->set_name : NULL));
	}
	free(got);
	if (!report || !dfs_pending_count(t->pending))
		return;
	got = take(t->pending, &all, &n);
	for (i = 0; i < n; i++) {
		dfs_warn("%s: %s(%s): lookup '_%s_value' is still pending: record %s does not "
			 "exist; kept in %s for the next mount", t->tc->name, got[i].set, got[i].id,
			 got[i].d.column, got[i].d.target_id, t->pending->path ? t->pending->path
			 : "memory only");
		settle(t->pending, &got[i], KEEP);
	}
	free(got);
}

void dfs_pending_retry_all(struct dfs_fs *fs, int cached_only, int report)
{
	size_t i;

	for (i = 0; i < fs->n_tenants; i++)
		dfs_pending_retry(fs, &fs->tenants[i], cached_only, report);
}
