/* form.h - the form bodies (application/x-www-form-urlencoded) of
 * requests to a tenant's token endpoint and the endpoints next to it.
 *
 * The mount's token renewals (auth.c) and `dynfs login` (login.c) build
 * their forms from these helpers and send them with dfs_form_post().  A form
 * remembers its first failure, so a request is written as a list of adds and
 * checked once:
 *
 *	dfs_form_add(&f, "grant_type", "refresh_token");
 *	dfs_form_add(&f, "client_id", tc->client_id);
 *	...
 *	if ((ret = dfs_form_error(&f)) < 0)
 *		... f.why says which secret could not be read, if that was it
 *
 * Fields go out in the order they were added.  Forms carry secrets (client
 * secrets, assertions, refresh tokens, passwords): the body is zeroed before
 * its memory is freed.
 */
#ifndef DFS_FORM_H
#define DFS_FORM_H

#include "buf.h"
#include "config.h"
#include "http.h"

struct dfs_form {
	struct dfs_buf body;     /* "k=v&k=v", percent-encoded */
	int error;               /* first failure (negative errno), or 0 */
	char why[512];           /* with error: what was wrong with a value's source, or "" */
};

void dfs_form_init(struct dfs_form *f);

/* Zero and free the body; F is then empty and ready for a new form. */
void dfs_form_free(struct dfs_form *f);

/* Append KEY=VALUE (VALUE percent-encoded; the encoded copy is zeroed). */
void dfs_form_add(struct dfs_form *f, const char *key, const char *value);

/* scope = the tenant's scope, or resource = its resource for AD FS. */
void dfs_form_add_scope(struct dfs_form *f, const struct dfs_tenant_config *tc);

/*
 * client_secret, read from its source now (a rotated secret is picked up),
 * when the tenant has one; nothing otherwise.
 */
void dfs_form_add_secret(struct dfs_form *f, const struct dfs_tenant_config *tc);

/* client_id and scope (dfs_form_add_scope), then with WITH_SECRET the client secret. */
void dfs_form_add_client(struct dfs_form *f, const struct dfs_tenant_config *tc,
			 int with_secret);

/*
 * A value could not be had (a secret source, the token store, the
 * certificate): record ERROR (negative errno) and WHY (NULL or "": ERROR's
 * strerror), unless the form has failed already.  Later adds do nothing.
 * Returns the form's error.
 */
int dfs_form_fail(struct dfs_form *f, int error, const char *why);

/*
 * 0, or the form's first failure as a negative errno: f->why is then set
 * when a value's source failed (dfs_form_fail), "" when memory ran out.
 */
int dfs_form_error(const struct dfs_form *f);

/*
 * POST F to URL: one attempt, returning as dfs_http_perform().  A form that
 * failed is not sent; its error is returned.
 */
int dfs_form_post(struct dfs_http *http, const char *url, const struct dfs_form *f,
		  struct dfs_http_resp *resp);

#endif
