/* fuzz_token.c - libFuzzer target for what the token endpoint and the token
 * store hand back: dfs_auth_parse_answer (fs/auth.c), dfs_token_store_load
 * (fs/tokenstore.c), dfs_auth_hint on the messages, and dfs_base64url
 * (fs/jwt.c) on the bytes.
 *
 * The input is a token endpoint's answer body; the same bytes are also
 * written to a private file and loaded as a token store.  Properties:
 * - an answer is taken exactly when it is a JSON object with a non-empty
 *   string access_token, which is what is handed back;
 * - lifetimes are finite: expires_in positive, refresh_in positive or -1
 *   (a NaN or infinite lifetime would make every request renew the token,
 *   or none);
 * - a refresh token saved to a store loads back the same;
 * - base64url is RFC 4648's URL alphabet without padding, of the right
 *   length.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "auth.h"
#include "jwt.h"
#include "tokenstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

static char dir[64];

/* At exit: the store files and their directory go. */
static void remove_dir(void)
{
	char path[96];

	snprintf(path, sizeof(path), "%s/in.token", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/again.token", dir);
	unlink(path);
	rmdir(dir);
}

/* A private directory for the token store files, made once. */
static const char *store_dir(void)
{
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/dynfs-fuzz-token.XXXXXX");
		if (!mkdtemp(dir))
			abort();
		atexit(remove_dir);
	}
	return dir;
}

static void check_base64url(const uint8_t *data, size_t size)
{
	char *s = dfs_base64url(data, size);
	size_t want = size / 3 * 4 + (size % 3 ? size % 3 + 1 : 0);

	if (!s)
		return;
	if (strlen(s) != want)
		FAIL("base64url of %zu bytes is %zu characters, not %zu", size, strlen(s), want);
	if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != want)
		FAIL("base64url has a character out of its alphabet: %s", s);
	free(s);
}

static void check_answer(const uint8_t *data, size_t size)
{
	struct dfs_token_answer ans;
	char why[256] = "";
	cJSON *root = cJSON_ParseWithLength((const char *)data, size);
	const char *at = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "access_token"));
	int ret = dfs_auth_parse_answer((const char *)data, size, &ans, why, sizeof(why));

	if (ret == 0) {
		if (!at || strcmp(at, ans.access_token) != 0)
			FAIL("answer taken with another access_token");
		if (!isfinite(ans.expires_in) || ans.expires_in <= 0)
			FAIL("expires_in %g", ans.expires_in);
		if (!isfinite(ans.refresh_in) || (ans.refresh_in <= 0 && ans.refresh_in != -1))
			FAIL("refresh_in %g", ans.refresh_in);
		if (ans.refresh_token && !ans.refresh_token[0])
			FAIL("empty refresh token handed back");
	} else {
		if (ret != -EIO && ret != -ENOMEM)
			FAIL("unexpected return %d", ret);
		if (at && at[0] && ret != -ENOMEM)
			FAIL("answer with access_token refused: %s", why);
		if (!why[0])
			FAIL("refused without a reason");
		if (ans.access_token || ans.refresh_token)
			FAIL("refused but tokens handed back");
	}
	dfs_auth_hint(why);
	dfs_auth_hint(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root,
									   "error_description")));
	cJSON_Delete(root);
	dfs_token_answer_free(&ans);
}

static void check_store(const uint8_t *data, size_t size)
{
	char path[96], again_path[96], why[512], *token = NULL, *again = NULL;
	int fd, ret;

	snprintf(path, sizeof(path), "%s/in.token", store_dir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	ret = dfs_token_store_load(path, &token, why, sizeof(why));
	if (ret == 0) {
		if (!token || !token[0])
			FAIL("store loaded without a token");
		/* What is saved loads back the same. */
		snprintf(again_path, sizeof(again_path), "%s/again.token", store_dir());
		if (dfs_token_store_save(again_path, token, why, sizeof(why)) != 0)
			FAIL("cannot save: %s", why);
		if (dfs_token_store_load(again_path, &again, why, sizeof(why)) != 0 ||
		    strcmp(again, token) != 0)
			FAIL("a saved token loads back otherwise");
		free(again);
	} else if (token || !why[0]) {
		FAIL("store refused (%d) with a token or without a reason", ret);
	}
	free(token);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_answer(data, size);
	check_store(data, size);
	check_base64url(data, size);
	return 0;
}
