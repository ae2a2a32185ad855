/* record.h - what a record file holds.
 *
 * A record file is the record's columns as pretty-printed JSON (keys sorted,
 * two-space indent, trailing newline).  OData control information and
 * annotations (any key containing '@', e.g. "@odata.etag",
 * "@odata.context", "x@OData.Community.Display.V1.FormattedValue") are not
 * data and are left out; the ETag is exposed as an extended attribute
 * instead.  The rendering is a pure function of the record's values, so the
 * same record always gives the same bytes.
 */
#ifndef DFS_RECORD_H
#define DFS_RECORD_H

#include <time.h>
#include <cjson/cJSON.h>
#include "buf.h"

/* Render REC (an object) into OUT (appended). Returns 0 or negative errno. */
int dfs_record_render(const cJSON *rec, struct dfs_buf *out);

/*
 * Parse an Edm.DateTimeOffset such as "2018-05-02T13:31:46Z" (also with
 * fractional seconds or a +hh:mm offset) into seconds since the epoch.
 * Returns 0, or -EINVAL if S is not such a timestamp.
 */
int dfs_record_parse_time(const char *s, time_t *out);

/* Is NAME "<lower-case hyphenated GUID>.json"?  Returns 1 and copies the
 * GUID into ID[37] if so, else 0. */
int dfs_record_name_to_id(const char *name, char id[37]);

/* A record's file time: modifiedon, else createdon, else 0. */
time_t dfs_record_mtime(const cJSON *rec);

/*
 * The record id the primary key PRIMARY_ID of FILE names, lower-cased into
 * ID (an upper-case GUID is the same id): 1 when there is one, 0 when the
 * key is absent or null, -EINVAL when it is anything but a GUID string (a
 * number is not an id: taking it for "no id" would make a new record).
 */
int dfs_record_key(const cJSON *file, const char *primary_id, char id[37]);

#endif
