/* form.c - token endpoint forms: built field by field with a sticky
 * error, zeroed when freed, sent in one attempt (see include/form.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "secret.h"
#include "banned.h"

void dfs_form_init(struct dfs_form *f)
{
	dfs_buf_init(&f->body, 0);
	f->error = 0;
	f->why[0] = '\0';
}

void dfs_form_free(struct dfs_form *f)
{
	if (f->body.data)
		explicit_bzero(f->body.data, f->body.len);
	dfs_buf_free(&f->body);
	dfs_form_init(f);
}

void dfs_form_add(struct dfs_form *f, const char *key, const char *value)
{
	char *e;

	if (f->error)
		return;
	if (!(e = dfs_http_escape(value))) {
		f->error = -ENOMEM;
		return;
	}
	f->error = dfs_buf_appendf(&f->body, "%s%s=%s", f->body.len ? "&" : "", key, e);
	explicit_bzero(e, strlen(e));
	free(e);
}

void dfs_form_add_scope(struct dfs_form *f, const struct dfs_tenant_config *tc)
{
	if (tc->resource)
		dfs_form_add(f, "resource", tc->resource);
	else
		dfs_form_add(f, "scope", tc->scope);
}

void dfs_form_add_secret(struct dfs_form *f, const struct dfs_tenant_config *tc)
{
	char *secret = NULL, why[sizeof(f->why)] = "";
	int ret;

	/* Not even read when the form has failed already. */
	if (f->error || !dfs_secret_given(&tc->secret))
		return;
	ret = dfs_secret_get(&tc->secret, "client_secret", &secret, why, sizeof(why));
	if (ret < 0) {
		dfs_form_fail(f, ret, why);
		return;
	}
	dfs_form_add(f, "client_secret", secret);
	dfs_secret_free(secret);
}

void dfs_form_add_client(struct dfs_form *f, const struct dfs_tenant_config *tc,
			 int with_secret)
{
	dfs_form_add(f, "client_id", tc->client_id);
	dfs_form_add_scope(f, tc);
	if (with_secret)
		dfs_form_add_secret(f, tc);
}

int dfs_form_fail(struct dfs_form *f, int error, const char *why)
{
	if (!f->error) {
		f->error = error;
		/* Never "": an empty why means the form ran out of memory. */
		snprintf(f->why, sizeof(f->why), "%s", why && *why ? why : strerror(-error));
	}
	return f->error;
}

int dfs_form_error(const struct dfs_form *f)
{
	return f->error;
}

int dfs_form_post(struct dfs_http *http, const char *url, const struct dfs_form *f,
		  struct dfs_http_resp *resp)
{
	struct dfs_http_req req = { 0 };

	if (f->error)
		return f->error;
	req.method = "POST";
	req.url = url;
	req.content_type = "application/x-www-form-urlencoded";
	req.body = f->body.data;
	req.body_len = f->body.len;
	return dfs_http_perform(http, &req, resp);
}
