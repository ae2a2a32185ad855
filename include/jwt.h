/* jwt.h - the little cryptography auth needs, done by libcrypto.
 *
 * Signed JWT client assertions (RFC 7523) for certificate credentials, and
 * the base64url / random / SHA-256 pieces of PKCE (RFC 7636) and OAuth state.
 */
#ifndef DFS_JWT_H
#define DFS_JWT_H

#include <stddef.h>

/* base64url without padding of LEN bytes (malloc'd), or NULL. */
char *dfs_base64url(const unsigned char *data, size_t len);

/* NBYTES random bytes from the system CSPRNG, base64url-encoded (malloc'd), or NULL. */
char *dfs_random_b64url(size_t nbytes);

/* base64url(SHA-256(S)): the PKCE S256 code challenge of verifier S (malloc'd). */
char *dfs_sha256_b64url(const char *s);

/*
 * A client assertion for CLIENT_ID at AUDIENCE (the token endpoint URL):
 * an RS256-signed JWT whose header names the certificate by its SHA-1 and
 * SHA-256 thumbprints (x5t, x5t#S256), valid for ten minutes.  The
 * certificate and key files are read each time, so a renewed certificate is
 * used without remounting.  Returns 0 and *OUT (malloc'd), or a negative
 * errno with WHY saying what is wrong with which file.
 */
int dfs_jwt_client_assertion(const char *cert_file, const char *key_file,
			     const char *client_id, const char *audience, char **out,
			     char *why, size_t why_len);

#endif
