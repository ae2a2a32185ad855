#!/usr/bin/python3
"""The naive export: list the ids (a narrow paged query), then one GET per record, serially,
one pretty-printed JSON file per record.  Standard library only.

    naive.py EMULATOR_JSON ORG ENTITY_SET DEST [--pk accountid] [--limit K]

With --limit only the first K records are fetched (the bench extrapolates the rest).  Prints
one JSON line: {"records", "listed", "list_s", "get_s", "seconds"}.
"""

import argparse
import http.client
import json
import os
import time
import urllib.parse


class Client:
    """Keep-alive HTTP client with a client-credentials token."""

    def __init__(self, org):
        self.org = org
        u = urllib.parse.urlsplit(org["api_url"])
        self.base = u.path if u.path.endswith("/") else u.path + "/"
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        self.token = self._token()

    def _token(self):
        u = urllib.parse.urlsplit(self.org["token_url"])
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": self.org["client_id"],
                                       "client_secret": self.org["client_secret"],
                                       "scope": self.org["url"].rstrip("/") + "/.default"})
        c.request("POST", u.path, body, {"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        data = json.loads(r.read())
        c.close()
        if r.status != 200:
            raise SystemExit("token request failed: %s %s" % (r.status, data))
        return data["access_token"]

    def get(self, path_or_url, prefer=None):
        if "://" in path_or_url:
            u = urllib.parse.urlsplit(path_or_url)
            target = u.path + ("?" + u.query if u.query else "")
        else:
            target = self.base + path_or_url
        h = {"Authorization": "Bearer " + self.token, "Accept": "application/json", "OData-MaxVersion": "4.0",
             "OData-Version": "4.0"}
        if prefer:
            h["Prefer"] = prefer
        self.conn.request("GET", target, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise SystemExit("GET %s: %s %s" % (target, r.status, data[:300]))
        return json.loads(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("info")
    ap.add_argument("org")
    ap.add_argument("entity_set")
    ap.add_argument("dest")
    ap.add_argument("--pk")
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    with open(a.info) as f:
        org = json.load(f)["orgs"][a.org]
    pk = a.pk or a.entity_set.rstrip("s") + "id"
    os.makedirs(a.dest, exist_ok=True)
    t0 = time.monotonic()
    c = Client(org)
    ids = []
    page = c.get("%s?$select=%s" % (a.entity_set, pk))
    while True:
        ids += [r[pk] for r in page["value"]]
        nxt = page.get("@odata.nextLink")
        if not nxt:
            break
        page = c.get(nxt)
    t1 = time.monotonic()
    todo = ids[:a.limit] if a.limit else ids
    for rid in todo:
        rec = c.get("%s(%s)" % (a.entity_set, rid))
        with open(os.path.join(a.dest, rid + ".json"), "w", encoding="utf-8") as f:
            json.dump(rec, f, indent=2, ensure_ascii=False)
            f.write("\n")
    t2 = time.monotonic()
    print(json.dumps({"records": len(todo), "listed": len(ids), "list_s": round(t1 - t0, 3),
                      "get_s": round(t2 - t1, 3), "seconds": round(t2 - t0, 3)}))


if __name__ == "__main__":
    main()
