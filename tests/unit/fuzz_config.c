/* fuzz_config.c - libFuzzer target for the INI loader (fs/config.c,
 * fs/config_keys.c, fs/config_url.c).
 *
 * The input is a whole dynfs.ini, loaded with dfs_config_parse_text: no
 * secret file is read and no program looked for, so no input can read a
 * file, run anything or block.  Besides "no crash, no leak, no sanitizer
 * report" it checks what users rely on:
 * - every line of the messages starts with the file's name: a name or
 *   value with a newline or an escape cannot forge or break a message;
 * - an inline secret (client_secret, password) is never quoted in them
 *   (as far as can be told: see check_secret);
 * - a load that succeeds has tenants, each with a name and a url that the
 *   loader's own rule accepts as it was kept (trailing slashes stripped),
 *   and every [global] key has a value to show.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_keys.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NAME "fuzz.ini"

#define FAIL(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)

/* How often NEEDLE occurs in the LEN bytes of HAY. */
static size_t occurrences(const char *hay, size_t len, const char *needle)
{
	size_t n = 0, k = strlen(needle), i;

	for (i = 0; k && i + k <= len; i++)
		if (memcmp(hay + i, needle, k) == 0)
			n++;
	return n;
}

/*
 * A secret quoted in the messages.  What is looked for is its first 16
 * bytes (a quoted value is cut at 64), and only when they are letters,
 * digits, '-', '_' and bytes >= 0x80, at least one of these: no message of
 * the loader's own has such a byte, and quoted text always meets the fixed
 * text at a quote, bracket, colon or blank, so the needle cannot be made of
 * a quoted piece and a fixed one (a secret "x]: missing re" would be).
 * Unless the input has it elsewhere too (then the messages may quote that
 * other place).
 */
static void check_secret(const char *input, size_t size, const char *msgs, size_t len,
			 const char *secret)
{
	char needle[17];
	size_t i;
	int high;

	if (!secret || strlen(secret) < 12)
		return;
	snprintf(needle, sizeof(needle), "%s", secret);
	for (i = 0, high = 0; needle[i]; i++) {
		unsigned char c = (unsigned char)needle[i];

		if (c >= 0x80)
			high = 1;
		else if (!isalnum(c) && c != '-' && c != '_')
			return;
	}
	if (!high)
		return;
	if (occurrences(msgs, len, needle) && occurrences(input, size, needle) < 2)
		FAIL("secret '%s' is quoted in the messages:\n%s",
		     dfs_printable(needle, (size_t)-1, (char[80]){ 0 }, 80), msgs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dfs_config cfg;
	char *msgs = NULL, *line, buf[128], why[512];
	const char *key;
	size_t len = 0, i;
	FILE *err = open_memstream(&msgs, &len);
	int ret;

	if (!err)
		return 0;
	ret = dfs_config_parse_text((const char *)data, size, NAME, &cfg, err);
	fclose(err);

	if (ret != 0 && ret != -EINVAL && ret != -ENOMEM)
		FAIL("unexpected return %d", ret);
	if (ret == -EINVAL && len == 0)
		FAIL("refused without a message");
	for (line = msgs; line && *line; line = strchr(line, '\n') + 1) {
		if (strncmp(line, NAME ":", sizeof(NAME)) != 0)
			FAIL("a message line does not start with the file's name:\n%s", msgs);
		if (!strchr(line, '\n'))
			FAIL("a message is not a whole line:\n%s", msgs);
	}
	for (i = 0; i < cfg.n_tenants; i++) {
		const struct dfs_tenant_config *tc = &cfg.tenants[i];

		check_secret((const char *)data, size, msgs, len, tc->secret.value);
		check_secret((const char *)data, size, msgs, len, tc->password.value);
		if (!tc->name || (ret == 0 && !tc->name[0]))
			FAIL("a tenant without a name");
		if (ret == 0 && (!tc->url || dfs_config_url_problem(tc->url, why, sizeof(why)) != 0))
			FAIL("tenant %s loaded with url %s, which the loader refuses",
			     tc->name, tc->url ? tc->url : "(null)");
	}
	if (ret == 0) {
		if (cfg.n_tenants == 0)
			FAIL("loaded without a tenant");
		for (i = 0; (key = dfs_config_global_key(i, NULL)); i++)
			if (dfs_config_global_text(&cfg, key, buf, sizeof(buf)) != 0)
				FAIL("global key %s has no text", key);
	}
	dfs_config_free(&cfg);
	free(msgs);
	return 0;
}
