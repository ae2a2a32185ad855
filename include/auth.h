/* auth.h - how one tenant's requests authenticate: OAuth 2.0 tokens from
 * Microsoft Entra ID or AD FS (client credentials with a secret or a
 * certificate, refresh token, password), or NTLM/Negotiate on premises.
 *
 * One token per tenant shared by all threads, renewed ahead of expiry; only one
 * renewal runs at a time while other callers wait for it.  A refused renewal
 * makes the tenant unhealthy (logged once, requests fail with -EACCES) until a
 * later renewal, which rereads every secret source, succeeds.
 *
 * Token requests are built with form.h (shared with `dynfs login`) and
 * retried by the policy in http.h (shared with the Web API).  Functions
 * return 0 or a negative errno (util.h).
 */
#ifndef DFS_AUTH_H
#define DFS_AUTH_H

#include "config.h"
#include "http.h"

struct dfs_auth;

struct dfs_auth *dfs_auth_new(const struct dfs_tenant_config *tc, struct dfs_http *http);
void dfs_auth_free(struct dfs_auth **auth);

/*
 * Copy a valid access token into *TOKEN (malloc'd), renewing it first when it
 * is missing or close to expiry.  Returns 0 or a negative errno; on failure
 * ERR (if not NULL) holds the Entra error code and the one-line explanation.
 */
int dfs_auth_token(struct dfs_auth *auth, char **token, struct dfs_http_error *err);

/*
 * The Web API rejected TOKEN with 401: drop it so the next dfs_auth_token()
 * renews, unless another thread already did.
 */
void dfs_auth_reject(struct dfs_auth *auth, const char *token);

/*
 * Put TOKEN (from dfs_auth_token) into REQ: a bearer token, or for NTLM and
 * Negotiate the libcurl HTTP authentication with the username and password.
 */
void dfs_auth_apply(const struct dfs_auth *auth, struct dfs_http_req *req, const char *token);

/*
 * SIGHUP: renew the token at the next request, rereading every secret
 * source, certificate and token store; a renewal held off after a failure
 * may run at once.  The current token stays in use until then.
 */
void dfs_auth_renew_soon(struct dfs_auth *auth);

/* What .status shows of a tenant's sign-in. */
struct dfs_auth_state {
	int unhealthy;           /* a renewal was refused and none has succeeded since */
	int last_errno;          /* of the last failed renewal, 0 after a success */
	struct dfs_http_error last_err;
	double expires_in;       /* seconds the current token has left; < 0: none */
	int has_expiry;          /* 0 for NTLM / Negotiate, which have no token */
};
void dfs_auth_state(struct dfs_auth *auth, struct dfs_auth_state *out);

/* What a token endpoint's answer holds (dfs_auth_parse_answer). */
struct dfs_token_answer {
	char *access_token;      /* never empty */
	char *refresh_token;     /* NULL when absent or empty */
	double expires_in;       /* seconds; 3599 when absent, not positive or not finite */
	double refresh_in;       /* seconds, or -1 when absent, not positive or not finite */
};

/*
 * Read a token endpoint's 200 answer BODY (LEN bytes): numbers may come as
 * JSON numbers (v2) or strings (v1, AD FS).  Returns 0 with *OUT (free with
 * dfs_token_answer_free, which zeroes the tokens), or -EIO / -ENOMEM with
 * WHY.  Pure: no I/O, no state.
 */
int dfs_auth_parse_answer(const char *body, size_t len, struct dfs_token_answer *out,
			  char *why, size_t cap);
void dfs_token_answer_free(struct dfs_token_answer *ans);

/*
 * One-line advice for an Entra ID error message ("AADSTS7000215: ..."), an AD
 * FS one ("MSIS9659: ...") or a Dataverse one ("... is not a member of the
 * organization"), or NULL.
 */
const char *dfs_auth_hint(const char *message);

#endif
