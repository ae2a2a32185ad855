/* nodes.c - node ids and the paths they stand for (see include/nodes.h).
 *
 * Nodes of their own sit in one table hashed twice: by id, for the
 * requests that come with an id, and by (parent, name), for unlink and
 * rename, which move or end the binding of a name.  One mutex, taken
 * before a set's own (a record id is looked up in the set's index with
 * both held); nothing under a set's lock comes here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "nodes.h"
#include "record.h"
#include "tree.h"
#include "util.h"
#include "banned.h"

#define STATUS_NAME ".status"
#define TAG_RECORD (1ULL << 63)
#define TAG_OWN (1ULL << 60)     /* a record whose hash another one shares */
#define TAG_STATUS (1ULL << 41)
#define TAG_SET (1ULL << 40)
#define REC_SET_SHIFT DFS_CACHE_NODE_HASH_BITS
#define REC_SETS (1U << (63 - REC_SET_SHIFT))   /* set numbers a record id has room for */

/* Inode numbers (util.h): a record's is 1<<62 | 62 bits of hash, a local
 * file's 1<<61 | serial; the tags are the top bits, exactly. */
static int ino_is_record(uint64_t ino)
{
	return ino >> 62 == 1;
}

static int ino_is_local(uint64_t ino)
{
	return ino >> 61 == 1;
}

static int id_is_own(uint64_t id)
{
	return id >> 60 == 1;
}

struct node {
	struct node *id_next;
	struct node *name_next;
	uint64_t id;
	uint64_t parent;         /* 0 while unbound: the name was unlinked */
	char *name;
	uint64_t nlookup;
	int counted;             /* 0: stands in for a record id the kernel got from a
				    lookup of the record's own name, whose count is not
				    kept; goes at the first forget */
};

static struct {
	pthread_mutex_t lock;
	struct dfs_fs *fs;
	struct node **by_id, **by_name;
	size_t n_buckets, n;
	uint64_t serial;
	struct dfs_set **sets;   /* by set number - 1 (record ids carry the number) */
	size_t n_sets, cap_sets;
} nt = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- the table ----------------------------------------------------------- */

static size_t name_hash(uint64_t parent, const char *name)
{
	uint64_t h = 14695981039346656037ULL ^ parent;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 1099511628211ULL;
	return (size_t)h;
}

static size_t id_hash(uint64_t id)
{
	return (size_t)((id ^ id >> 29) * 0x9e3779b97f4a7c15ULL >> 20);
}

static struct node **find_id(uint64_t id)
{
	struct node **pp;

	if (!nt.n_buckets)
		return NULL;
	for (pp = &nt.by_id[id_hash(id) % nt.n_buckets]; *pp; pp = &(*pp)->id_next)
		if ((*pp)->id == id)
			return pp;
	return NULL;
}

static struct node **find_name(uint64_t parent, const char *name)
{
	struct node **pp;

	if (!nt.n_buckets)
		return NULL;
	for (pp = &nt.by_name[name_hash(parent, name) % nt.n_buckets]; *pp;
	     pp = &(*pp)->name_next)
		if ((*pp)->parent == parent && strcmp((*pp)->name, name) == 0)
			return pp;
	return NULL;
}

static void unbind_name(struct node *n)
{
	struct node **pp;

	if (!n->parent)
		return;
	for (pp = &nt.by_name[name_hash(n->parent, n->name) % nt.n_buckets]; *pp != n;
	     pp = &(*pp)->name_next)
		;
	*pp = n->name_next;
	n->name_next = NULL;
	n->parent = 0;
	free(n->name);
	n->name = NULL;
}

/* Give N the name NAME in PARENT, taking it from whichever node had it. */
static int bind_name(struct node *n, uint64_t parent, const char *name)
{
	struct node **pp = find_name(parent, name);
	char *copy;
	size_t b;

	if (pp && *pp == n)
		return 0;
	if (!(copy = strdup(name)))
		return -ENOMEM;
	if (pp)
		unbind_name(*pp);
	unbind_name(n);
	n->parent = parent;
	n->name = copy;
	b = name_hash(parent, name) % nt.n_buckets;
	n->name_next = nt.by_name[b];
	nt.by_name[b] = n;
	return 0;
}

static void grow(void)
{
	size_t n = nt.n_buckets ? nt.n_buckets * 2 : 1024, i, b;
	struct node **by_id = calloc(n, sizeof(*by_id)), **by_name = calloc(n, sizeof(*by_name));
	struct node *e, *next;

	if (!by_id || !by_name) {
		free(by_id);
		free(by_name);
		return;          /* longer chains, still correct */
	}
	for (i = 0; i < nt.n_buckets; i++) {
		for (e = nt.by_id[i]; e; e = next) {
			next = e->id_next;
			b = id_hash(e->id) % n;
			e->id_next = by_id[b];
			by_id[b] = e;
		}
		for (e = nt.by_name[i]; e; e = next) {
			next = e->name_next;
			b = name_hash(e->parent, e->name) % n;
			e->name_next = by_name[b];
			by_name[b] = e;
		}
	}
	free(nt.by_id);
	free(nt.by_name);
	nt.by_id = by_id;
	nt.by_name = by_name;
	nt.n_buckets = n;
}

static struct node *node_new(uint64_t id, int counted)
{
	struct node *n;
	size_t b;

	if (nt.n >= nt.n_buckets)
		grow();
	if (!nt.n_buckets || !(n = calloc(1, sizeof(*n))))
		return NULL;
	n->id = id;
	n->counted = counted;
	b = id_hash(id) % nt.n_buckets;
	n->id_next = nt.by_id[b];
	nt.by_id[b] = n;
	nt.n++;
	return n;
}

static void node_free(struct node **pp)
{
	struct node *n = *pp;

	unbind_name(n);
	*pp = n->id_next;
	free(n);
	nt.n--;
}

/* ---- ids that carry their path ------------------------------------------ */

static struct dfs_tenant *tenant_at(uint64_t i)
{
	return i < nt.fs->n_tenants ? &nt.fs->tenants[i] : NULL;
}

static struct dfs_set *set_at(uint64_t i, uint64_t j)
{
	struct dfs_tenant *t = tenant_at(i);

	if (!t || !dfs_tenant_ready(t) || j >= t->n_sets)
		return NULL;
	return &t->sets[j];
}

/* Tenant and set indexes of a set folder's id, or -1. */
static int set_of_dir(uint64_t id, uint64_t *i, uint64_t *j)
{
	if ((id & ~((1ULL << 40) - 1)) != TAG_SET)
		return -1;
	*i = id >> 20 & 0xfffff;
	*j = id & 0xfffff;
	return set_at(*i, *j) ? 0 : -1;
}

/*
 * Set S's number, given at its first record id (1 on; 0 when there is no
 * room).  A number rather than the tenant and set indexes, so that record
 * ids keep 47 bits for the hash: two of the million records of a set share
 * one with a chance of about 1 in 280 (then both get ids of their own).
 */
static uint64_t set_number(struct dfs_set *s)
{
	struct dfs_set **grown;
	size_t cap;

	if (s->node_no)
		return s->node_no;
	if (nt.n_sets + 1 >= REC_SETS)
		return 0;
	if (nt.n_sets == nt.cap_sets) {
		cap = nt.cap_sets ? nt.cap_sets * 2 : 64;
		if (!(grown = realloc(nt.sets, cap * sizeof(*grown))))
			return 0;
		nt.sets = grown;
		nt.cap_sets = cap;
	}
	nt.sets[nt.n_sets++] = s;
	s->node_no = (uint32_t)nt.n_sets;
	return s->node_no;
}

static uint64_t record_id(uint64_t set_no, const uint8_t id[16])
{
	return TAG_RECORD | set_no << REC_SET_SHIFT | dfs_cache_node_hash(id);
}

/* The path of an id that carries it: 0, -ESTALE or -ENOMEM. */
static int fixed_path(uint64_t id, char **path)
{
	struct dfs_tenant *t;
	struct dfs_set *s;
	char guid[DFS_GUID_LEN + 1];
	uint8_t bin[16];
	uint64_t i, j;
	int r = -1;

	if (id == 1) {
		r = asprintf(path, "/");
	} else if (id >= 2 && id < 2 + nt.fs->n_tenants) {
		r = asprintf(path, "/%s", nt.fs->tenants[id - 2].tc->name);
	} else if (set_of_dir(id, &i, &j) == 0) {
		s = set_at(i, j);
		r = asprintf(path, "/%s/%s", nt.fs->tenants[i].tc->name, s->ent->set_name);
	} else if ((id & ~((1ULL << 41) - 1)) == TAG_STATUS) {
		i = id & ((1ULL << 41) - 1);
		if (i == 0)
			r = asprintf(path, "/" STATUS_NAME);
		else if ((t = tenant_at(i - 1)))
			r = asprintf(path, "/%s/" STATUS_NAME, t->tc->name);
		else
			return -ESTALE;
	} else if (id & TAG_RECORD) {
		i = (id & ~TAG_RECORD) >> REC_SET_SHIFT;
		if (i == 0 || i > nt.n_sets)
			return -ESTALE;
		s = nt.sets[i - 1];
		/* Two records with this hash: the id cannot tell which (ESTALE
		 * makes the kernel look the name up again). */
		if (dfs_cache_find_node(s->cache, id & ((1ULL << REC_SET_SHIFT) - 1), bin) != 1)
			return -ESTALE;
		dfs_guid_unpack(bin, guid);
		t = NULL;
		for (j = 0; j < nt.fs->n_tenants && !t; j++)
			if (s >= nt.fs->tenants[j].sets &&
			    s < nt.fs->tenants[j].sets + nt.fs->tenants[j].n_sets)
				t = &nt.fs->tenants[j];
		if (!t)
			return -ESTALE;
		r = asprintf(path, "/%s/%s/%s.json", t->tc->name, s->ent->set_name, guid);
	} else {
		return -ESTALE;
	}
	return r < 0 ? -ENOMEM : 0;
}

/* The id of record NAME (a canonical "<guid>.json") in set folder PARENT,
 * or 0 if NAME is not one or the id has no room for the set. */
static uint64_t record_node(uint64_t parent, const char *name, int *unique)
{
	char guid[DFS_GUID_LEN + 1];
	uint8_t bin[16], other[16];
	uint64_t i, j, no;
	struct dfs_set *s;

	if (set_of_dir(parent, &i, &j) < 0 || !dfs_record_name_to_id(name, guid) ||
	    dfs_guid_pack(guid, bin) < 0)
		return 0;
	s = set_at(i, j);
	if (!(no = set_number(s)))
		return 0;
	if (unique)
		*unique = dfs_cache_find_node(s->cache, dfs_cache_node_hash(bin), other) == 1 &&
			  memcmp(other, bin, 16) == 0;
	return record_id(no, bin);
}

/* ---- the interface ------------------------------------------------------- */

void dfs_nodes_init(struct dfs_fs *fs)
{
	pthread_mutex_lock(&nt.lock);
	nt.fs = fs;
	if (!nt.n_buckets)
		grow();
	pthread_mutex_unlock(&nt.lock);
}

void dfs_nodes_free(void)
{
	size_t i;

	pthread_mutex_lock(&nt.lock);
	for (i = 0; i < nt.n_buckets; i++)
		while (nt.by_id[i])
			node_free(&nt.by_id[i]);
	free(nt.by_id);
	free(nt.by_name);
	nt.by_id = nt.by_name = NULL;
	nt.n_buckets = 0;
	free(nt.sets);
	nt.sets = NULL;
	nt.n_sets = nt.cap_sets = 0;
	pthread_mutex_unlock(&nt.lock);
}

uint64_t dfs_node_lookup(uint64_t parent, const char *name, const struct stat *st)
{
	uint64_t ino = (uint64_t)st->st_ino, id;
	struct node **pp, *n;
	int unique = 0;

	/* Folders and .status files: the inode number says where they are. */
	if (!ino_is_record(ino) && !ino_is_local(ino))
		return ino;
	pthread_mutex_lock(&nt.lock);
	if (ino_is_record(ino) && (id = record_node(parent, name, &unique)) && unique) {
		/*
		 * A record at its own name.  If the kernel still holds its id under
		 * another name (renamed away: emacs's f.json~ is a copy of the
		 * record as it was) or none (unlinked, open), that inode is not
		 * this file: the name gets an id of its own below.
		 */
		pp = find_id(id);
		if (!pp || ((*pp)->parent == parent && strcmp((*pp)->name, name) == 0)) {
			if (pp)
				node_free(pp);
			if ((pp = find_name(parent, name)))
				unbind_name(*pp);
			pthread_mutex_unlock(&nt.lock);
			return id;
		}
	}
	if (ino_is_local(ino)) {
		id = ino;
	} else if ((pp = find_name(parent, name)) && id_is_own((*pp)->id)) {
		id = (*pp)->id;  /* a record whose hash is shared: its own id, kept */
	} else {
		id = TAG_OWN | ++nt.serial;
	}
	pp = find_id(id);
	n = pp ? *pp : node_new(id, 1);
	if (!n || bind_name(n, parent, name) < 0) {
		if (n && !pp && !n->nlookup)
			node_free(find_id(id));
		id = 0;          /* out of memory: the lookup fails */
	} else {
		if (!n->counted) /* it stood in for a record: counted from now on */
			n->counted = 1, n->nlookup = 0;
		n->nlookup++;
	}
	pthread_mutex_unlock(&nt.lock);
	return id;
}

void dfs_node_forget(uint64_t id, uint64_t n)
{
	struct node **pp;

	pthread_mutex_lock(&nt.lock);
	if ((pp = find_id(id))) {
		(*pp)->nlookup -= n < (*pp)->nlookup ? n : (*pp)->nlookup;
		/* A stand-in for a record: its count was never kept, and a forget
		 * means the kernel let go of the inode. */
		if (!(*pp)->counted || (*pp)->nlookup == 0)
			node_free(pp);
	}
	pthread_mutex_unlock(&nt.lock);
}

int dfs_node_path(uint64_t id, char **path)
{
	struct node **pp;
	char *parent;
	int ret;

	*path = NULL;
	pthread_mutex_lock(&nt.lock);
	if (!(pp = find_id(id))) {
		ret = fixed_path(id, path);
		pthread_mutex_unlock(&nt.lock);
		return ret;
	}
	if (!(*pp)->parent) {
		pthread_mutex_unlock(&nt.lock);
		return 0;        /* unlinked */
	}
	if ((ret = fixed_path((*pp)->parent, &parent)) == 0) {
		if (asprintf(path, "%s/%s", parent, (*pp)->name) < 0)
			*path = NULL, ret = -ENOMEM;
		free(parent);
	}
	pthread_mutex_unlock(&nt.lock);
	return ret;
}

int dfs_node_child_path(uint64_t parent, const char *name, char **path)
{
	char *dir;
	int ret;

	*path = NULL;
	if (strlen(name) > 255)
		return -ENAMETOOLONG;
	if ((ret = dfs_node_path(parent, &dir)) < 0)
		return ret;
	if (!dir)
		return -ENOENT;
	if (asprintf(path, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name) < 0)
		*path = NULL, ret = -ENOMEM;
	free(dir);
	return ret;
}

/* The node (made if need be) that NAME in PARENT stands for now, or NULL
 * when the kernel cannot hold it by a node of ours (a name never looked up,
 * a folder). */
/* Does NAME in PARENT answer as a record now (not a local file, not hidden
 * by a rename away)?  Only then did the kernel's last lookup of it find one. */
static int answers_as_record(uint64_t parent, const char *name)
{
	struct dfs_local *l;
	struct dfs_path p;
	char *path;
	int ret = 0;

	if (dfs_node_child_path(parent, name, &path) < 0)
		return 0;
	if (dfs_resolve(nt.fs, path, &p) == 0 && p.depth == 3 && dfs_record_visible(&p)) {
		if ((l = dfs_path_local_or_alias(&p)))
			dfs_local_put(l);
		else
			ret = 1;
	}
	free(path);
	return ret;
}

uint64_t dfs_node_at(uint64_t parent, const char *name)
{
	struct node **pp;
	uint64_t id = 0;
	int unique = 0, record = answers_as_record(parent, name);

	pthread_mutex_lock(&nt.lock);
	if ((pp = find_name(parent, name)))
		id = (*pp)->id;
	/* A visible record of the index whose hash no other shares, and whose
	 * id stands for no other name: the kernel's lookup got its own id.
	 * (Not in the index or hidden: the lookup found nothing; a shared
	 * hash: the name has an id of its own, bound, found above.) */
	else if (!record || !(id = record_node(parent, name, &unique)) || !unique || find_id(id))
		id = 0;
	pthread_mutex_unlock(&nt.lock);
	return id;
}

/* The node of ID, made as a stand-in if ID is a record's; NULL if gone. */
static struct node *node_of(uint64_t id)
{
	struct node **pp = find_id(id), *n;

	if (pp)
		return *pp;
	if (!(id & TAG_RECORD) || !(n = node_new(id, 0)))
		return NULL;
	return n;
}

void dfs_node_unlinked(uint64_t id)
{
	struct node *n;

	if (!id)
		return;
	pthread_mutex_lock(&nt.lock);
	if ((n = node_of(id)))
		unbind_name(n);
	pthread_mutex_unlock(&nt.lock);
}

void dfs_node_renamed(uint64_t from_id, uint64_t to_id, uint64_t parent, const char *name,
		      uint64_t newparent, const char *newname, int exchange)
{
	struct node *from, *to;

	pthread_mutex_lock(&nt.lock);
	from = from_id ? node_of(from_id) : NULL;
	/* What had the new name: swapped in (EXCHANGE) or replaced (unlinked). */
	to = to_id && to_id != from_id ? node_of(to_id) : NULL;
	if (to)
		unbind_name(to);
	if (from && bind_name(from, newparent, newname) < 0)
		unbind_name(from);
	if (exchange && to && bind_name(to, parent, name) < 0)
		unbind_name(to);
	pthread_mutex_unlock(&nt.lock);
}

uint64_t dfs_node_of_path(const char *path)
{
	struct dfs_path p;
	struct node **pp;
	uint64_t id = 0;

	if (dfs_resolve(nt.fs, path, &p) < 0)
		return 0;
	if (p.depth < 3)
		return dfs_dir_ino(nt.fs, &p);
	pthread_mutex_lock(&nt.lock);
	if ((pp = find_name(p.s->ino, p.name)))
		id = (*pp)->id;
	else
		id = record_node(p.s->ino, p.name, NULL);
	pthread_mutex_unlock(&nt.lock);
	return id;
}

uint64_t dfs_nodes_held(void)
{
	uint64_t n;

	pthread_mutex_lock(&nt.lock);
	n = nt.n;
	pthread_mutex_unlock(&nt.lock);
	return n;
}
