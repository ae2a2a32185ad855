/* record.c - what a record file holds, and the names and times around it. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "record.h"
#include "util.h"
#include "banned.h"

/*
 * Keys with '@' are OData control information or annotations, never column
 * names (logical names are [a-z0-9_]).  Only the record's own members are
 * filtered: an expanded related record is rendered as the server sent it.
 */
static int is_column(const char *key)
{
	return strchr(key, '@') == NULL;
}

int dfs_record_render(const cJSON *rec, struct dfs_buf *out)
{
	int ret;

	if (!cJSON_IsObject(rec))
		return -EINVAL;
	ret = dfs_json_render_pretty_filtered(rec, is_column, out);
	if (ret < 0)
		return ret;
	/* Text files end with a newline; editors add one anyway. */
	return dfs_buf_append(out, "\n", 1);
}

/* N decimal digits at S into *OUT.  Stops at a NUL, so it never over-reads. */
static int get_digits(const char *s, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int days_in_month(int year, int month)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return days[month - 1] + (month == 2 && leap);
}

/*
 * Accepted: "YYYY-MM-DD" (midnight UTC) and "YYYY-MM-DDTHH:MM:SS" with
 * optional ".fraction" and then "Z" or "+hh:mm" / "-hh:mm".  That is what
 * the Web API sends for Edm.DateTimeOffset and Edm.Date.  Fractions are
 * dropped (file times here have one-second granularity) and leap seconds are
 * refused: Dataverse never produces them.
 */
int dfs_record_parse_time(const char *s, time_t *out)
{
	int year, mon, day, hour = 0, min = 0, sec = 0, oh = 0, om = 0, sign = 0;
	struct tm tm;
	time_t t;

	if (!s)
		return -EINVAL;
	if (get_digits(s, 4, &year) || s[4] != '-' ||
	    get_digits(s + 5, 2, &mon) || s[7] != '-' ||
	    get_digits(s + 8, 2, &day))
		return -EINVAL;
	s += 10;
	if (*s != '\0') {
		if (*s != 'T' ||
		    get_digits(s + 1, 2, &hour) || s[3] != ':' ||
		    get_digits(s + 4, 2, &min) || s[6] != ':' ||
		    get_digits(s + 7, 2, &sec))
			return -EINVAL;
		s += 9;
		if (*s == '.') {
			s++;
			if (*s < '0' || *s > '9')
				return -EINVAL;
			while (*s >= '0' && *s <= '9')
				s++;
		}
		if (*s == 'Z') {
			s++;
		} else if (*s == '+' || *s == '-') {
			sign = *s == '+' ? 1 : -1;
			if (get_digits(s + 1, 2, &oh) || s[3] != ':' ||
			    get_digits(s + 4, 2, &om))
				return -EINVAL;
			s += 6;
		} else {
			/* No zone: the instant would be ambiguous. */
			return -EINVAL;
		}
		if (*s != '\0')
			return -EINVAL;
	}

	if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) ||
	    hour > 23 || min > 59 || sec > 59 || oh > 23 || om > 59)
		return -EINVAL;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	errno = 0;
	t = timegm(&tm);
	if (t == (time_t)-1 && errno)	/* -1 is also 1969-12-31T23:59:59Z */
		return -EINVAL;
	/* "+02:00" is two hours ahead of UTC, so UTC is two hours earlier. */
	*out = t - sign * (time_t)(oh * 3600 + om * 60);
	return 0;
}

/*
 * Only lower case is accepted.  readdir lists the ids as the server returns
 * them, in lower case; if "ABC...json" were accepted too, one record would
 * answer to many names that readdir never shows, and tools that compare names
 * (rsync, git, editors writing a temporary file and renaming it) would treat
 * them as different files and, say, create a second copy.  Rejecting them
 * makes the upper-case name an ordinary non-existent file (ENOENT).
 */
int dfs_record_name_to_id(const char *name, char id[37])
{
	if (!name || strlen(name) != DFS_GUID_LEN + 5 || strcmp(name + DFS_GUID_LEN, ".json") != 0)
		return 0;
	return dfs_guid_parse(name, DFS_GUID_LEN, 1, id) == 0;
}

time_t dfs_record_mtime(const cJSON *rec)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "modifiedon"));
	time_t t;

	if (!s)
		s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rec, "createdon"));
	if (s && dfs_record_parse_time(s, &t) == 0)
		return t;
	return 0;
}

int dfs_record_key(const cJSON *file, const char *primary_id, char id[37])
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(file, primary_id);
	const char *pk = cJSON_GetStringValue(item);

	if (!item || cJSON_IsNull(item))
		return 0;
	if (!pk)
		return -EINVAL;
	return dfs_guid_parse(pk, strlen(pk), 0, id) < 0 ? -EINVAL : 1;
}
