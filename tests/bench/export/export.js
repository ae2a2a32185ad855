"use strict";
// The bench's baseline: the serial export a person writes with DynamicsWebApi.
// retrieveMultiple page by page (server-driven paging, 5000 rows a page), one pretty-printed
// JSON file per record named <id>.json.  Client credentials from the emulator's
// emulator.json.
//
//   node export.js EMULATOR_JSON ORG ENTITY_SET DEST [PRIMARY_KEY]
//
// Prints one JSON line: {"records": n, "pages": n, "seconds": s}.
const fs = require("fs");
const path = require("path");
const { DynamicsWebApi } = require("dynamics-web-api");

async function clientCredentialsToken(org) {
  const body = new URLSearchParams({
    grant_type: "client_credentials",
    client_id: org.client_id,
    client_secret: org.client_secret,
    scope: org.url.replace(/\/$/, "") + "/.default",
  });
  const r = await fetch(org.token_url, { method: "POST", body });
  if (!r.ok) throw new Error(`token request failed: ${r.status} ${await r.text()}`);
  return (await r.json()).access_token;
}

async function main() {
  const [infoPath, orgName, set, dest, pkArg] = process.argv.slice(2);
  if (!dest) {
    console.error("usage: node export.js EMULATOR_JSON ORG ENTITY_SET DEST [PRIMARY_KEY]");
    process.exit(2);
  }
  const org = JSON.parse(fs.readFileSync(infoPath, "utf8")).orgs[orgName];
  const pk = pkArg || set.replace(/s$/, "") + "id";
  let token = null;
  const api = new DynamicsWebApi({
    serverUrl: org.url.replace(/\/?$/, "/"),   // a trailing slash keeps the org path
    dataApi: { version: "9.2" },
    onTokenRefresh: async () => (token = token || (await clientCredentialsToken(org))),
  });
  fs.mkdirSync(dest, { recursive: true });
  const t0 = process.hrtime.bigint();
  const request = { collection: set, maxPageSize: 5000 };
  let next = undefined;
  let records = 0;
  let pages = 0;
  do {
    const page = await api.retrieveMultiple(request, next);
    pages++;
    for (const rec of page.value) {
      fs.writeFileSync(path.join(dest, rec[pk] + ".json"), JSON.stringify(rec, null, 2) + "\n");
      records++;
    }
    next = page.oDataNextLink;
  } while (next);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ records, pages, seconds }));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
