/* test_collection.c - unit tests for dfs_url_same_origin (fs/collection.c):
 * which links a listing may follow with the tenant's token.  Cases marked
 * "fuzz" come from fuzz_page. */
#include "check.h"
#include "collection.h"

#define API "https://org.crm.dynamics.com/api/data/v9.2/"

int main(void)
{
	static const struct {
		const char *base, *url;
		int same;
	} cases[] = {
		{ API, API "accounts?$skiptoken=x", 1 },
		{ API, "https://ORG.CRM.DYNAMICS.COM/other", 1 },       /* hosts ignore case */
		{ API, "HTTPS://org.crm.dynamics.com:443/x", 1 },        /* the default port */
		{ API, "https://org.crm.dynamics.com:444/x", 0 },
		{ API, "http://org.crm.dynamics.com/api/data/v9.2/x", 0 },   /* never to http */
		{ API, "https://evil.example.com/api/data/v9.2/x", 0 },
		{ API, "https://org.crm.dynamics.com.evil.example.com/", 0 },
		/* libcurl, which fetches the link too, reads a user name here
		 * and connects to the tenant's host. */
		{ API, "https://evil.example.com\\@org.crm.dynamics.com/", 1 },
		{ API, "/api/data/v9.2/accounts", 0 },                    /* no URL at all */
		{ API, "", 0 },
		{ "http://127.0.0.1:8080/t/api/data/v9.2/", "http://127.0.0.1:8080/t/x", 1 },
		{ "http://127.0.0.1:8080/t/api/data/v9.2/", "http://127.0.0.1:8081/t/x", 0 },
		/* fuzz (clang's warning in the fuzz build): a base that is no URL
		 * freed pointers never set; now simply not the same origin. */
		{ "not a url", API, 0 },
		{ "", "", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(dfs_url_same_origin(cases[i].base, cases[i].url) == cases[i].same,
		      "same origin of %s and %s: want %d", cases[i].base, cases[i].url,
		      cases[i].same);
	return check_report("test_collection");
}
