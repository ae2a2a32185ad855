/* jwt.c - client assertions and PKCE helpers on top of libcrypto
 * (see include/jwt.h).  No cryptography is written here: hashing, signing and
 * randomness are libcrypto's; this file only assembles the JWT text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "jwt.h"
#include "banned.h"

#define ASSERTION_LIFETIME 600  /* seconds; Entra ID accepts up to about ten minutes */

char *dfs_base64url(const unsigned char *data, size_t len)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = malloc(len / 3 * 4 + 5), *p = out;
	size_t i;
	unsigned v;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8 | data[i + 2];
		*p++ = tab[v >> 18 & 63];
		*p++ = tab[v >> 12 & 63];
		*p++ = tab[v >> 6 & 63];
		*p++ = tab[v & 63];
	}
	if (len - i == 1) {
		v = (unsigned)data[i] << 16;
		*p++ = tab[v >> 18 & 63];
		*p++ = tab[v >> 12 & 63];
	} else if (len - i == 2) {
		v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8;
		*p++ = tab[v >> 18 & 63];
		*p++ = tab[v >> 12 & 63];
		*p++ = tab[v >> 6 & 63];
	}
	*p = '\0';
	return out;
}

char *dfs_random_b64url(size_t nbytes)
{
	unsigned char buf[64];
	char *out;

	if (nbytes > sizeof(buf) || RAND_bytes(buf, (int)nbytes) != 1)
		return NULL;
	out = dfs_base64url(buf, nbytes);
	explicit_bzero(buf, sizeof(buf));
	return out;
}

char *dfs_sha256_b64url(const char *s)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL) != 1)
		return NULL;
	return dfs_base64url(md, n);
}

/* base64url of a JSON object's compact text. */
static char *json_b64url(cJSON *obj)
{
	char *text = cJSON_PrintUnformatted(obj), *out;

	if (!text)
		return NULL;
	out = dfs_base64url((const unsigned char *)text, strlen(text));
	free(text);
	return out;
}

/* The certificate's thumbprint with MD, base64url-encoded. */
static char *thumbprint(X509 *cert, const EVP_MD *md)
{
	unsigned char buf[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (X509_digest(cert, md, buf, &n) != 1)
		return NULL;
	return dfs_base64url(buf, n);
}

static const char *ossl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	return r ? r : "not PEM";
}

/* header.payload of the assertion (malloc'd). */
static char *signing_input(X509 *cert, const char *client_id, const char *audience)
{
	cJSON *hdr = cJSON_CreateObject(), *claims = cJSON_CreateObject();
	char *x5t = thumbprint(cert, EVP_sha1()), *x5t256 = thumbprint(cert, EVP_sha256());
	char *jti = dfs_random_b64url(16), *h = NULL, *c = NULL, *out = NULL;
	double now = (double)time(NULL);

	if (!hdr || !claims || !x5t || !x5t256 || !jti)
		goto out;
	/* x5t is what Entra ID looks the certificate up by; x5t#S256 is the
	 * SHA-256 form it is moving to.  Sending both works everywhere. */
	if (!cJSON_AddStringToObject(hdr, "alg", "RS256") ||
	    !cJSON_AddStringToObject(hdr, "typ", "JWT") ||
	    !cJSON_AddStringToObject(hdr, "x5t", x5t) ||
	    !cJSON_AddStringToObject(hdr, "x5t#S256", x5t256) ||
	    !cJSON_AddStringToObject(claims, "aud", audience) ||
	    !cJSON_AddStringToObject(claims, "iss", client_id) ||
	    !cJSON_AddStringToObject(claims, "sub", client_id) ||
	    !cJSON_AddStringToObject(claims, "jti", jti) ||
	    !cJSON_AddNumberToObject(claims, "nbf", now) ||
	    !cJSON_AddNumberToObject(claims, "iat", now) ||
	    !cJSON_AddNumberToObject(claims, "exp", now + ASSERTION_LIFETIME))
		goto out;
	h = json_b64url(hdr);
	c = json_b64url(claims);
	if (h && c && asprintf(&out, "%s.%s", h, c) < 0)
		out = NULL;
out:
	cJSON_Delete(hdr);
	cJSON_Delete(claims);
	free(x5t);
	free(x5t256);
	free(jti);
	free(h);
	free(c);
	return out;
}

int dfs_jwt_client_assertion(const char *cert_file, const char *key_file,
			     const char *client_id, const char *audience, char **out,
			     char *why, size_t why_len)
{
	EVP_MD_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	FILE *f = NULL;
	unsigned char *sig = NULL;
	char *input = NULL, *sig64 = NULL;
	size_t sig_len = 0;
	int ret = -EACCES;

	*out = NULL;
	ERR_clear_error();
	if (!(f = fopen(cert_file, "re"))) {
		ret = -errno;
		snprintf(why, why_len, "certificate_file: cannot read '%s': %s", cert_file,
			 strerror(errno));
		goto out;
	}
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!cert) {
		snprintf(why, why_len, "certificate_file: '%s' holds no PEM certificate (%s)",
			 cert_file, ossl_reason());
		goto out;
	}
	if (!(f = fopen(key_file, "re"))) {
		ret = -errno;
		snprintf(why, why_len, "private_key_file: cannot read '%s': %s", key_file,
			 strerror(errno));
		goto out;
	}
	/* No passphrase callback: an encrypted key fails here, with a clear reason. */
	key = PEM_read_PrivateKey(f, NULL, NULL, (void *)"");
	fclose(f);
	if (!key) {
		snprintf(why, why_len, "private_key_file: '%s' holds no unencrypted PEM private "
			 "key (%s)", key_file, ossl_reason());
		goto out;
	}
	if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
		snprintf(why, why_len, "private_key_file: '%s' is not an RSA key (RS256 needs one)",
			 key_file);
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		snprintf(why, why_len, "private_key_file: '%s' is not the key of certificate '%s'",
			 key_file, cert_file);
		goto out;
	}
	ret = -ENOMEM;
	if (!(input = signing_input(cert, client_id, audience)) || !(ctx = EVP_MD_CTX_new()))
		goto nomem;
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &sig_len, (const unsigned char *)input, strlen(input)) != 1 ||
	    !(sig = malloc(sig_len)) ||
	    EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)input, strlen(input)) != 1) {
		snprintf(why, why_len, "cannot sign the client assertion: %s", ossl_reason());
		ret = -EIO;
		goto out;
	}
	if (!(sig64 = dfs_base64url(sig, sig_len)) ||
	    asprintf(out, "%s.%s", input, sig64) < 0) {
		*out = NULL;
		goto nomem;
	}
	ret = 0;
	goto out;
nomem:
	snprintf(why, why_len, "out of memory");
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	X509_free(cert);
	free(sig);
	free(sig64);
	free(input);
	ERR_clear_error();
	return ret;
}
