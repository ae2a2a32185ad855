/* test_token.c - unit tests for dfs_auth_parse_answer (fs/auth.c): what a
 * token endpoint's answer gives, whatever shape its numbers come in.
 * Cases marked "fuzz" are inputs fuzz_token found. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "auth.h"
#include "check.h"

/* Parse TEXT; check the outcome, the token and the two lifetimes. */
static void expect(int line, const char *text, int want_ret, const char *want_at,
		   const char *want_rt, double want_exp, double want_ref)
{
	struct dfs_token_answer ans;
	char why[256] = "";
	int ret = dfs_auth_parse_answer(text, strlen(text), &ans, why, sizeof(why));

	check_at(ret == want_ret, __FILE__, line, "returned %d (%s), want %d", ret, why, want_ret);
	if (ret == 0 && want_ret == 0) {
		check_at(streq(ans.access_token, want_at), __FILE__, line, "access_token %s",
			 str(ans.access_token));
		check_at(want_rt ? streq(ans.refresh_token, want_rt) : !ans.refresh_token,
			 __FILE__, line, "refresh_token %s", str(ans.refresh_token));
		check_at(ans.expires_in == want_exp, __FILE__, line, "expires_in %g, want %g",
			 ans.expires_in, want_exp);
		check_at(ans.refresh_in == want_ref, __FILE__, line, "refresh_in %g, want %g",
			 ans.refresh_in, want_ref);
	} else if (ret < 0) {
		check_at(streq(why, "token response has no access_token"), __FILE__, line,
			 "why: %s", why);
		check_at(!ans.access_token && !ans.refresh_token, __FILE__, line,
			 "tokens handed back on failure");
	}
	dfs_token_answer_free(&ans);
}

#define EXPECT(...) expect(__LINE__, __VA_ARGS__)

int main(void)
{
	/* Entra ID v2: numbers. */
	EXPECT("{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"at\"}",
	       0, "at", NULL, 3599, -1);
	/* v1 and AD FS: strings. */
	EXPECT("{\"expires_in\":\"4753\",\"refresh_in\":\"2376\",\"access_token\":\"at\","
	       "\"refresh_token\":\"rt\"}", 0, "at", "rt", 4753, 2376);
	/* No lifetime, or a useless one: the documented default. */
	EXPECT("{\"access_token\":\"at\"}", 0, "at", NULL, 3599, -1);
	EXPECT("{\"access_token\":\"at\",\"expires_in\":0,\"refresh_in\":0}", 0, "at", NULL,
	       3599, -1);
	EXPECT("{\"access_token\":\"at\",\"expires_in\":null,\"refresh_in\":[1]}", 0, "at", NULL,
	       3599, -1);
	/* fuzz: "nan" and "inf" in strings (strtod takes them) are no lifetime: a NaN
	 * expiry made every request renew the token. */
	EXPECT("{\"access_token\":\"at\",\"expires_in\":\"nan\",\"refresh_in\":\"inf\"}", 0, "at",
	       NULL, 3599, -1);
	EXPECT("{\"access_token\":\"at\",\"expires_in\":\"-inf\",\"refresh_in\":\"NaN\"}", 0,
	       "at", NULL, 3599, -1);
	/* fuzz: a negative refresh_in is none: renewal goes by expires_in. */
	EXPECT("{\"access_token\":\"at\",\"expires_in\":60,\"refresh_in\":\"-1e9\"}", 0, "at",
	       NULL, 60, -1);
	/* An empty refresh token is none. */
	EXPECT("{\"access_token\":\"at\",\"refresh_token\":\"\"}", 0, "at", NULL, 3599, -1);
	/* Refused: no JSON, no object, no or an empty or a non-string access_token. */
	EXPECT("<html>Sign in</html>", -EIO, NULL, NULL, 0, 0);
	EXPECT("", -EIO, NULL, NULL, 0, 0);
	EXPECT("[\"access_token\",\"at\"]", -EIO, NULL, NULL, 0, 0);
	EXPECT("{\"access_token\":\"\"}", -EIO, NULL, NULL, 0, 0);
	EXPECT("{\"access_token\":42}", -EIO, NULL, NULL, 0, 0);
	EXPECT("{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: x\"}", -EIO,
	       NULL, NULL, 0, 0);
	return check_report("test_token");
}
