/* dv_write.c - writes to single records, and what their answers prove (the
 * writes part of include/dataverse.h).
 *
 *   patch_record     a create or an update: sent once at a time
 *                    (DFS_DV_ONCE), the answer judged (proven), what it does
 *                    not prove settled by reading the record back (settle),
 *                    sent again only when the record says it was not
 *                    carried out
 *   dfs_dv_delete    the same for a delete, where "gone" is the proof
 *
 * A save reported done that never happened loses the user's edit; a save
 * that landed reported as a conflict makes a script apply it twice.  Both
 * come from trusting an answer that proves nothing, or resending blindly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>

#include "dataverse.h"
#include "json.h"
#include "jsonmember.h"
#include "log.h"
#include "util.h"
#include "banned.h"

/* settle()'s "not carried out, and the record is as it was: send it again". */
#define RESEND 1

/*
 * Seconds a write whose caller was killed may still spend reading the
 * record back: the interrupt is answered soon, and the outcome, which the
 * user will look for in user.dynfs.error, is known more often than not.
 */
#define SETTLE_GRACE 3

#define BODY_SHOWN 80

static const char *tenant_name(const struct dfs_dv *dv)
{
	return dfs_dv_tenant(dv)->name;
}

/*
 * Does the 2xx answer RESP prove that the write of record ID was carried
 * out?  The body must be that record, or, without a body, the headers that
 * carry its id or ETag must be there.  1 with *REC the record (NULL when
 * only headers prove it), else 0.
 */
static int proven(const struct dfs_http_resp *resp, const struct dfs_entity *ent, const char *id,
		  cJSON **rec)
{
	char errbuf[160];
	const char *key;
	cJSON *r;

	*rec = NULL;
	if (resp->status < 200 || resp->status >= 300)
		return 0;
	if (!resp->body.len)
		return resp->etag || resp->entity_id;
	r = dfs_json_parse(resp->body.data, resp->body.len, errbuf, sizeof(errbuf));
	key = cJSON_IsObject(r) ? dfs_cjson_str(r, ent->primary_id) : NULL;
	if (!key || strcasecmp(key, id) != 0) {
		cJSON_Delete(r);
		return 0;
	}
	*rec = r;
	return 1;
}

/* One line on an answer that did not prove the write. */
static void describe(const struct dfs_http_resp *resp, char *buf, size_t cap)
{
	char shown[BODY_SHOWN + 4];

	if (!resp->status)
		snprintf(buf, cap, "no answer after the request went out (%.700s)", resp->err.message);
	else if (resp->status < 300 && !resp->body.len)
		snprintf(buf, cap, "HTTP %ld without the record", resp->status);
	else if (resp->status < 300)
		snprintf(buf, cap, "HTTP %ld with a body that is not the record ('%s'): a sign-in "
			 "page or a proxy may stand in the way", resp->status,
			 dfs_printable(resp->body.data, resp->body.len, shown, sizeof(shown)));
	else if (resp->status < 400)
		snprintf(buf, cap, "%.700s", resp->err.message);
	else
		snprintf(buf, cap, "HTTP %ld%s%s '%.700s'", resp->status, resp->err.code[0] ? " " : "",
			 resp->err.code, resp->err.message);
}

/*
 * Read record ID back after an answer that proved nothing (WHAT says which)
 * and judge.  0: the change is there (*REC the record); RESEND: it is not,
 * and nobody else changed the record since ETAG, so sending it again is
 * safe; -ESTALE: not there, changed by someone else (or, CREATING, made by
 * someone else); -ENOENT: the record is gone; -EIO: cannot tell.
 */
static int settle(struct dfs_dv *dv, const struct dfs_entity *ent, const char *id,
		  const char *etag, int creating, struct dfs_dv_check *check, const char *what,
		  cJSON **rec, struct dfs_http_error *err)
{
	cJSON *now = NULL;
	const char *have;
	double outer = 0;
	int ret, held = 0;

	check->read_back = 1;
	if (dfs_http_cancelled()) {
		held = 1;
		dfs_http_cancel_hold(1);
		outer = dfs_http_deadline_set(dfs_now() + SETTLE_GRACE);
	}
	ret = dfs_dv_get(dv, ent, id, NULL, &now);
	if (held) {
		dfs_http_deadline_restore(outer);
		dfs_http_cancel_hold(0);
	}
	if (ret == -ENOENT && creating)
		return RESEND;
	if (ret == -ENOENT) {
		snprintf(err->message, sizeof(err->message), "%.900s, and the record is no longer on "
			 "the server", what);
		return -ENOENT;
	}
	if (ret < 0 || !check->applied) {
		check->unknown = 1;
		snprintf(err->message, sizeof(err->message), "%.900s, and reading the record back "
			 "failed (%s): the change may or may not be on the server", what,
			 ret < 0 ? strerror(-ret) : "nothing to compare");
		cJSON_Delete(now);
		return -EIO;
	}
	if (check->applied(check->ctx, now)) {
		*rec = now;
		return 0;
	}
	have = dfs_cjson_str(now, "@odata.etag");
	if (creating || (etag && (!have || strcmp(have, etag) != 0))) {
		snprintf(err->message, sizeof(err->message), "%.900s", what);
		ret = -ESTALE;
	} else {
		ret = RESEND;
	}
	cJSON_Delete(now);
	return ret;
}

/*
 * PATCH record ID under the precondition of an update (If-Match ETAG, or
 * *) or, CREATING, of a create (If-None-Match: *), asking for the new
 * version back.  Update and create differ only in that header (the upsert
 * table, protocol reference 3.3).
 */
static int patch_record(struct dfs_dv *dv, const struct dfs_entity *ent, const char *id,
			const char *etag, int creating, const char *body, size_t body_len,
			cJSON **rec, struct dfs_http_error *err, struct dfs_dv_check *check)
{
	char condition[160], path[256], what[900];
	const char *hdrs[] = { "Prefer: return=representation", condition, NULL };
	struct dfs_retry again = DFS_RETRY_INIT((int)dfs_dv_config(dv)->max_retries, NULL, NULL);
	struct dfs_dv_check none = { 0 };
	struct dfs_http_error scratch;
	struct dfs_http_resp resp;
	int ret, unsure = 0;

	if (!check)
		check = &none;
	if (!err)
		err = &scratch;
	*rec = NULL;
	if (creating)
		snprintf(condition, sizeof(condition), "If-None-Match: *");
	else
		snprintf(condition, sizeof(condition), "If-Match: %s", etag ? etag : "*");
	snprintf(path, sizeof(path), "%s(%s)", ent->set_name, id);
	dfs_http_resp_init(&resp);
	for (;;) {
		ret = dfs_dv_send(dv, "PATCH", path, hdrs, body, body_len, &resp, DFS_DV_ONCE);
		if (ret == 0 && proven(&resp, ent, id, rec))
			goto out;
		/*
		 * A refusal is the answer, and so is "it exists" to a first
		 * create.  An update's 412 may be its own doing: libcurl resends
		 * a request whose kept-alive connection died unanswered.
		 */
		if (ret < 0 && !dfs_http_may_have_applied(&resp) &&
		    (ret != -ESTALE || (creating && !unsure))) {
			*err = resp.err;
			goto out;
		}
		unsure = 1;
		describe(&resp, what, sizeof(what));
		dfs_warn("%s: PATCH %s: %s; reading the record back to learn whether the change "
			 "was saved", tenant_name(dv), path, what);
		memset(err, 0, sizeof(*err));
		ret = settle(dv, ent, id, etag, creating, check, what, rec, err);
		if (ret == 0) {
			dfs_warn("%s: PATCH %s: the record shows the change: it was saved",
				 tenant_name(dv), path);
			goto out;
		}
		if (ret != RESEND)
			goto out;
		if (dfs_http_cancelled()) {
			snprintf(err->message, sizeof(err->message), "interrupted (the program saving "
				 "it is gone): %.900s; the record does not show the change", what);
			ret = -EINTR;
			goto out;
		}
		if (!dfs_retry_resend(&again, &resp)) {
			snprintf(err->message, sizeof(err->message), "the server did not take the "
				 "change: %.900s", what);
			ret = -EIO;
			goto out;
		}
		dfs_warn("%s: PATCH %s: the record does not show the change: sending it again",
			 tenant_name(dv), path);
	}
out:
	dfs_http_resp_free(&resp);
	return ret;
}

int dfs_dv_update(struct dfs_dv *dv, const struct dfs_entity *ent, const char *id,
		  const char *etag, const char *body, size_t body_len, cJSON **rec,
		  struct dfs_http_error *err, struct dfs_dv_check *check)
{
	/* Without an ETag, If-Match: * still refuses to create a record that
	 * was deleted meanwhile (upsert table, protocol reference 3.3). */
	return patch_record(dv, ent, id, etag, 0, body, body_len, rec, err, check);
}

int dfs_dv_create(struct dfs_dv *dv, const struct dfs_entity *ent, const char *id,
		  const char *body, size_t body_len, cJSON **rec, struct dfs_http_error *err,
		  struct dfs_dv_check *check)
{
	return patch_record(dv, ent, id, NULL, 1, body, body_len, rec, err, check);
}

int dfs_dv_delete(struct dfs_dv *dv, const struct dfs_entity *ent, const char *id,
		  struct dfs_http_error *err)
{
	struct dfs_retry again = DFS_RETRY_INIT((int)dfs_dv_config(dv)->max_retries, NULL, NULL);
	struct dfs_http_resp resp;
	char path[256], what[900];
	int ret;

	dfs_http_resp_init(&resp);
	snprintf(path, sizeof(path), "%s(%s)", ent->set_name, id);
	for (;;) {
		ret = dfs_dv_send(dv, "DELETE", path, NULL, NULL, 0, &resp, DFS_DV_ONCE);
		/* Gone: after an attempt that may have removed it, that was us --
		 * and so it may be the first time too, libcurl resending a request
		 * whose kept-alive connection died unanswered. */
		if (ret == -ENOENT)
			ret = 0;
		if (ret == 0 || !dfs_http_may_have_applied(&resp)) {
			if (ret < 0 && err)
				*err = resp.err;
			goto out;
		}
		describe(&resp, what, sizeof(what));
		dfs_warn("%s: DELETE %s: %s; asking whether the record is gone", tenant_name(dv),
			 path, what);
		ret = dfs_dv_exists(dv, ent->set_name, id);
		if (ret == 0)
			goto out;
		if (ret < 0 || !dfs_retry_resend(&again, &resp)) {
			if (err) {
				memset(err, 0, sizeof(*err));
				snprintf(err->message, sizeof(err->message), "%.900s: %s", what,
					 ret < 0 ? "the record may or may not be deleted"
						 : "the record is still there");
			}
			ret = -EIO;
			goto out;
		}
	}
out:
	dfs_http_resp_free(&resp);
	return ret;
}
