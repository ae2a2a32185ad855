/* fuzz_names.c - libFuzzer target for file names: which name is a record,
 * which a local file, which an alias of a saved one.
 *
 * The input is a script of operations on one set folder's table of local
 * files (local.h): create, create from a renamed-away record, write, save,
 * a failed save, unlink, rename, symlink, hide and unhide, a new listing.
 * Names come from a small pool (so operations meet on the same files) or
 * from the input's own bytes.  Every name also goes through the pure name
 * functions: dfs_record_name_to_id, dfs_guid_parse/pack/unpack,
 * dfs_printable, dfs_record_parse_time, dfs_schema_is_name.
 *
 * Properties checked (abort on violation):
 * - a record name is exactly "<lower-case GUID>.json" and gives that GUID;
 *   GUIDs survive pack/unpack; dfs_printable's text is shorter than its
 *   buffer and holds no control character;
 * - a created name is found, an unlinked one is not, a renamed one moved;
 * - a name that answers as an alias is a record name's file that was saved
 *   and not written since, and gives a lower-case GUID; unlink and rename
 *   (dfs_local_lookup) never see the alias of a record name;
 * - after the table is freed, no draft bytes are left counted.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "draft.h"
#include "local.h"
#include "record.h"
#include "schema.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

static const char *const pool[] = {
	"0a1b2c3d-0000-4000-8000-00000000000a.json",
	"0A1B2C3D-0000-4000-8000-00000000000A.json",
	"0a1b2c3d-0000-4000-8000-00000000000b.json",
	"0a1b2c3d-0000-4000-8000-00000000000a.json~",
	".0a1b2c3d-0000-4000-8000-00000000000a.json.swp",
	"new.json",
	"4913",
	"sedAbC123",
	".new.json.XXXXXX",
	"2026-12-06T16:02:13Z",
};
#define POOL_N (sizeof(pool) / sizeof(pool[0]))

static const char *const ids[] = {
	"0a1b2c3d-0000-4000-8000-00000000000a",
	"0a1b2c3d-0000-4000-8000-00000000000b",
	"ffffffff-ffff-ffff-ffff-ffffffffffff",
};

struct input {
	const uint8_t *p;
	size_t n;
};

static unsigned next_byte(struct input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

/* A name: from the pool, or up to 63 bytes of the input (no NUL, no '/'). */
static void next_name(struct input *in, char *buf, size_t cap)
{
	unsigned b = next_byte(in);
	size_t len, i = 0;

	if (b < 0xc0) {
		snprintf(buf, cap, "%s", pool[b % POOL_N]);
		return;
	}
	len = b & 0x3f;
	while (len-- && in->n && i + 1 < cap) {
		char c = (char)next_byte(in);

		if (c && c != '/')
			buf[i++] = c;
	}
	buf[i] = '\0';
	if (!i)
		snprintf(buf, cap, "x");
}

static void check_name(const char *name)
{
	char id[37], id2[37], text[32], shown[40];
	uint8_t packed[16];
	size_t len = strlen(name), i;
	time_t t;

	if (dfs_record_name_to_id(name, id)) {
		if (len != DFS_GUID_LEN + 5 || strcmp(name + DFS_GUID_LEN, ".json") != 0 ||
		    memcmp(name, id, DFS_GUID_LEN) != 0 || id[DFS_GUID_LEN] != '\0')
			FAIL("record name %s gave id %s", name, id);
	}
	if (dfs_guid_parse(name, len, 0, id) == 0) {
		if (dfs_guid_parse(id, strlen(id), 1, id2) != 0 || strcmp(id, id2) != 0)
			FAIL("guid %s is not lower-cased to a lower-case guid", name);
		if (dfs_guid_pack(name, packed) != 0)
			FAIL("guid %s does not pack", name);
		dfs_guid_unpack(packed, id2);
		if (strcmp(id, id2) != 0)
			FAIL("guid %s packs and unpacks to %s", name, id2);
		if (dfs_guid_cmp_sql(packed, packed) != 0)
			FAIL("guid %s differs from itself", name);
	}
	dfs_printable(name, len, shown, sizeof(shown));
	if (strlen(shown) >= sizeof(shown))
		FAIL("printable text overflows");
	for (i = 0; shown[i]; i++)
		if ((unsigned char)shown[i] < 0x20 || shown[i] == 0x7f)
			FAIL("printable text holds control byte 0x%02x", (unsigned char)shown[i]);
	if (dfs_record_parse_time(name, &t) == 0 && dfs_utc_text(t, text, sizeof(text)) != text)
		FAIL("time text");
	if (dfs_schema_is_name(name))
		for (i = 0; name[i]; i++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
				    name[i]))
				FAIL("%s is no logical name", name);
}

#define FOLDER (1ULL << 40)      /* the inode number of the table's folder */

/* The alias rule, as unlink/rename and as reads see a name. */
static void check_lookup(struct dfs_locals *tab, const char *name)
{
	char id[37] = "", rid[37];
	int is_record = dfs_record_name_to_id(name, rid), as_record = is_record;
	uint64_t ino = 0;
	uint8_t id16[16];
	struct dfs_local *l = dfs_local_or_alias(tab, name, id, &as_record, &ino);
	struct dfs_local *u = dfs_local_lookup(tab, name, is_record);
	struct dfs_local *g = dfs_local_get(tab, name);

	if (!l && as_record && !is_record) {
		/* Only a ".json" name saved as a record answers as that record. */
		if (dfs_guid_parse(id, strlen(id), 1, NULL) != 0)
			FAIL("%s is an alias of '%s', no lower-case guid", name, id);
		if (!ino || (dfs_guid_pack(id, id16) == 0 && ino == dfs_ino_record(FOLDER, id16)))
			FAIL("%s, an alias of %s, has no inode number of its own", name, id);
		if (!g || !dfs_local_alias(g, NULL))
			FAIL("%s answers as an alias but is none", name);
	}
	if (u && is_record && dfs_local_alias(u, NULL))
		FAIL("unlink and rename see the alias %s", name);
	if (u && u != g)
		FAIL("lookup and get disagree on %s", name);
	if (l)
		dfs_local_put(l);
	if (u)
		dfs_local_put(u);
	if (g)
		dfs_local_put(g);
}

static int walk_one(void *ctx, struct dfs_local *l, const char *name)
{
	if (!name || !name[0])
		FAIL("walk gave an empty name");
	++*(size_t *)ctx;
	return 0;
}

/* Save L as the real save does: take the bytes, claim an id, record the outcome. */
static void save(struct dfs_local *l, int ok, const char *id_if_none)
{
	struct dfs_draft *d = dfs_local_draft(l);
	unsigned long gen = 0;
	size_t len;
	char id[37];
	char *bytes;
	int err;

	pthread_mutex_lock(&d->save_lock);
	bytes = dfs_draft_take(d, 1, &len, &gen, &err);
	if (bytes && dfs_local_claim_id(l, id_if_none) == 0) {
		dfs_local_id(l, id);
		if (ok) {
			dfs_local_saved(l, gen, 0, id, NULL);
			dfs_draft_done(d, gen);
		} else {
			dfs_local_saved(l, gen, -EIO, NULL, strdup("server said no"));
		}
	}
	free(bytes);
	pthread_mutex_unlock(&d->save_lock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct dfs_locals *tab = dfs_locals_new();
	struct dfs_local *l;
	char a[64], b[64], id[37];
	size_t steps = 0, walked;
	int ret;

	if (!tab)
		return 0;
	while (in.n && steps++ < 64) {
		unsigned op = next_byte(&in);

		next_name(&in, a, sizeof(a));
		check_name(a);
		switch (op % 13) {
		case 0:
			ret = dfs_local_create(tab, a, S_IFREG | 0644, &l);
			if (ret == 0)
				dfs_local_put(l);
			if ((l = dfs_local_get(tab, a)) == NULL)
				FAIL("%s not there after create (%d)", a, ret);
			dfs_local_put(l);
			break;
		case 1:
			ret = dfs_local_create_from(tab, a, "{}\n", 3, 0, ids[op / 13 % 3],
						    (op >> 7) & 1);
			if (ret == 0 && !(l = dfs_local_get(tab, a)))
				FAIL("%s not there after create_from", a);
			if (ret == 0)
				dfs_local_put(l);
			break;
		case 2:
			ret = dfs_local_unlink(tab, a);
			if (ret == 0 && (l = dfs_local_get(tab, a)))
				FAIL("%s still there after unlink", a);
			break;
		case 3:
			next_name(&in, b, sizeof(b));
			check_name(b);
			ret = dfs_local_rename(tab, a, b, (op >> 7) & 1);
			if (ret == 0 && !(l = dfs_local_get(tab, b)))
				FAIL("%s -> %s: target not there", a, b);
			if (ret == 0)
				dfs_local_put(l);
			if (ret == 0 && strcmp(a, b) != 0 && (l = dfs_local_get(tab, a)))
				FAIL("%s -> %s: source still there", a, b);
			break;
		case 4:
			if ((l = dfs_local_get(tab, a))) {
				unsigned len = next_byte(&in) % 16;

				dfs_draft_write(dfs_local_draft(l), "{\"name\":\"a longer value\"}\n", len + 1,
						next_byte(&in) % 8);
				dfs_local_put(l);
			}
			break;
		case 5:
		case 6:
			if ((l = dfs_local_get(tab, a))) {
				save(l, op % 13 == 5, (op >> 7) & 1 ? NULL : ids[op % 3]);
				dfs_local_put(l);
			}
			break;
		case 7:
			if (dfs_record_name_to_id(a, id)) {
				if ((op >> 7) & 1) {
					dfs_locals_hide(tab, id);
					if (!dfs_locals_hidden(tab, id))
						FAIL("%s hidden but not", id);
				} else {
					dfs_locals_unhide(tab, id);
					if (dfs_locals_hidden(tab, id))
						FAIL("%s unhidden but hidden", id);
				}
			}
			break;
		case 8:
			dfs_locals_listed(tab);
			break;
		case 9:
			walked = 0;
			dfs_locals_walk(tab, walk_one, &walked);
			break;
		case 10:
			next_name(&in, b, sizeof(b));
			ret = dfs_local_symlink(tab, a, b);
			if (ret == 0 && (l = dfs_local_get(tab, a))) {
				char target[64];

				if (!dfs_local_is_symlink(l) ||
				    dfs_local_readlink(l, target, sizeof(target)) != 0 ||
				    strcmp(target, b) != 0)
					FAIL("symlink %s -> %s reads back wrong", a, b);
				dfs_local_put(l);
			}
			break;
		case 11:
			if ((l = dfs_local_get(tab, a))) {
				dfs_draft_truncate(dfs_local_draft(l), next_byte(&in) % 4);
				dfs_local_put(l);
			}
			break;
		default:
			break;
		}
		check_lookup(tab, a);
	}
	dfs_locals_free(&tab);
	if (dfs_drafts_used(NULL) != 0)
		FAIL("%zu draft bytes still counted after the table is gone", dfs_drafts_used(NULL));
	return 0;
}
