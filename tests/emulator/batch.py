"""``POST $batch`` (ref = dataverse-protocol.md section 8).

* multipart/mixed with CRLF lines (LF tolerated: DynamicsWebApi sends LF, see
  dataverse-clients.md); a body that does not end with a line ending after the closing
  delimiter fails with 400 0x80048d19 "Stream was not readable".
* Change sets are transactions: the org lock is held and the store journal rolled back if
  any part fails; the failing part is returned on its own (no change-set wrapper).
* GETs are not allowed inside change sets.  ``Content-ID`` is echoed and ``$n`` can be used
  as a URL prefix or an ``@odata.bind`` value.
* Default: stop at the first failure, outer status 400.  ``Prefer: odata.continue-on-error``:
  outer 200, every part carries its own status.
* At most 1000 requests.
"""

import http
import re
import urllib.parse
import uuid

import webapi
from odata import ODataError

MAX_PARTS = 1000


class Part:
    def __init__(self, method, url, headers, body, content_id):
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.content_id = content_id


class ChangeSet:
    def __init__(self, parts):
        self.parts = parts


def _boundary(ctype):
    m = re.search(r'boundary\s*=\s*"?([^";]+)"?', ctype or "", re.I)
    if not m or not (ctype or "").lower().startswith("multipart/mixed"):
        return None
    return m.group(1).strip()


def _headers(lines):
    h = {}
    for ln in lines:
        if ":" in ln:
            k, v = ln.split(":", 1)
            h[k.strip().lower()] = v.strip()
    return h


def _split(text, boundary):
    """Split a multipart body into raw part strings (lines joined with CRLF)."""
    lines = re.split(r"\r?\n", text)
    delim, close = "--" + boundary, "--" + boundary + "--"
    parts, cur, started, closed = [], None, False, False
    for ln in lines:
        s = ln.rstrip()
        if s == close:
            if cur is not None:
                parts.append(cur)
            cur, closed = None, True
            break
        if s == delim:
            if cur is not None:
                parts.append(cur)
            cur, started = [], True
            continue
        if cur is not None:
            cur.append(ln)
    if not started or not closed:
        raise ODataError(400, "0x80048d19", "Stream was not readable")
    return parts


def _parse_http(lines, content_id):
    # skip leading blank lines
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines):
        raise ODataError(400, "0x80048d19", "Error identified in Payload provided by the user: empty batch part.")
    m = re.match(r"^(GET|POST|PATCH|PUT|DELETE)\s+(\S+)(?:\s+HTTP/1\.[01])?\s*$", lines[i])
    if not m:
        raise ODataError(400, "0x80048d19", "Error identified in Payload provided by the user: invalid request "
                                            "line '%s'." % lines[i][:100])
    i += 1
    hdr = []
    while i < len(lines) and lines[i].strip():
        hdr.append(lines[i])
        i += 1
    body = "\r\n".join(lines[i + 1:]).strip()
    return Part(m.group(1), m.group(2), _headers(hdr), body.encode("utf-8"), content_id)


def parse(body, boundary):
    """Return a list of Part / ChangeSet."""
    text = body.decode("utf-8", errors="replace")
    if not text.endswith("\n"):
        raise ODataError(400, "0x80048d19", "Stream was not readable")
    items = []
    count = 0
    for raw in _split(text, boundary):
        i = 0
        hdr = []
        while i < len(raw) and raw[i].strip():
            hdr.append(raw[i])
            i += 1
        h = _headers(hdr)
        ctype = h.get("content-type", "")
        rest = raw[i + 1:]
        cs_boundary = _boundary(ctype)
        if cs_boundary:
            parts = []
            for inner in _split("\r\n".join(rest) + "\r\n", cs_boundary):
                j = 0
                ih = []
                while j < len(inner) and inner[j].strip():
                    ih.append(inner[j])
                    j += 1
                ihd = _headers(ih)
                parts.append(_parse_http(inner[j + 1:], ihd.get("content-id")))
                count += 1
            items.append(ChangeSet(parts))
        else:
            if not ctype.lower().startswith("application/http"):
                raise ODataError(400, "0x80048d19", "Error identified in Payload provided by the user: batch part "
                                                    "Content-Type must be application/http, was '%s'." % ctype)
            items.append(_parse_http(rest, h.get("content-id")))
            count += 1
    if count > MAX_PARTS:
        raise ODataError(400, "0x80060888", "Maximum number of requests in a batch is %d; the batch contains %d."
                         % (MAX_PARTS, count))
    return items


def _resolve_url(outer, url, content_ids):
    """Absolute, absolute-path, service-root-relative or ``$n``-prefixed URL -> (path, query)."""
    if url.startswith("$"):
        m = re.match(r"^\$(\d+)(.*)$", url)
        if not m or m.group(1) not in content_ids:
            raise ODataError(400, "0x0", "Content-ID Reference: '%s' does not exist in the batch context."
                             % url.split("/")[0])
        url = content_ids[m.group(1)] + m.group(2)
    if "://" in url:
        url = "/" + url.split("://", 1)[1].split("/", 1)[1] if "/" in url.split("://", 1)[1] else "/"
    path, _, query = url.partition("?")
    path = urllib.parse.unquote(path)
    if path.startswith("/"):
        prefix = "/%s/api/data/" % outer.org.name
        if not path.startswith(prefix):
            raise webapi.not_found_segment(path.strip("/").split("/")[0])
        rest = path[len(prefix):]
        ver, _, rest = rest.partition("/")
        if not re.fullmatch(r"v9\.[0-2]", ver):
            raise webapi.not_found_segment(ver)
    else:
        rest = path
    return rest, query


def _run(outer, part, content_ids):
    try:
        path, query = _resolve_url(outer, part.url, content_ids)
    except ODataError as e:
        return webapi.error_response(e)
    if path == "$batch":
        return webapi.error_response(ODataError(400, "0x80060888", "Nested $batch requests are not supported."))
    call = webapi.Call(outer.org, part.method, path, query, part.headers, part.body, outer.api,
                       principal=outer.principal, settings=outer.settings, in_batch=True,
                       content_ids=content_ids, capacity=outer.capacity)
    resp = webapi.handle(call)
    outer.records += call.records      # the batch's stats: rows and modelled time of its parts
    outer.cost_s += call.cost_s
    if part.content_id and resp.status < 300:
        for k, v in resp.headers:
            if k == "OData-EntityId":
                content_ids[part.content_id] = v
        if part.content_id not in content_ids and resp.body and part.method in ("POST", "PATCH"):
            # return=representation: derive the URL from the key in the body
            m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)", path)
            ent = call.cat.by_set.get(m.group(1)) if m else None
            if ent is not None:
                import json
                try:
                    rid = json.loads(resp.body).get(ent.pk)
                    if rid:
                        content_ids[part.content_id] = "%s%s(%s)" % (outer.api, ent.set_name, rid)
                except ValueError:
                    pass
    return resp


def _render_part(resp, content_id):
    phrase = http.HTTPStatus(resp.status).phrase
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append("Content-ID: %s" % content_id)
    lines.append("")
    lines.append("HTTP/1.1 %d %s" % (resp.status, phrase))
    hdrs = list(resp.headers)
    if resp.status >= 400:
        hdrs.insert(0, ("REQ_ID", str(uuid.uuid4())))
    names = {k.lower() for k, _ in hdrs}
    if "odata-version" not in names:
        hdrs.append(("OData-Version", "4.0"))
    for k, v in hdrs:
        lines.append("%s: %s" % (k, v))
    lines.append("")
    out = "\r\n".join(lines).encode("utf-8") + b"\r\n"
    if resp.body:
        out += resp.body + b"\r\n"
    else:
        out += b"\r\n"
    return out


def handle(outer):
    """Execute a $batch call; ``outer`` is the webapi.Call of the POST."""
    outer.kind = "batch"
    if outer.method != "POST":
        return webapi.error_response(ODataError(405, "0x80060888",
                                                "The requested resource does not support http method '%s'."
                                                % outer.method))
    boundary = _boundary(outer.headers.get("content-type"))
    if boundary is None:
        return webapi.error_response(ODataError(400, "0x80048d19", "The batch request must have a Content-Type of "
                                                                   "multipart/mixed with a boundary parameter."))
    try:
        items = parse(outer.body, boundary)
    except ODataError as e:
        return webapi.error_response(e)
    cont = "odata.continue-on-error" in outer.prefer
    org = outer.org
    content_ids = {}
    out_b = "batchresponse_%s" % uuid.uuid4()
    chunks = []
    failed = False
    for item in items:
        if isinstance(item, ChangeSet):
            cs_b = "changesetresponse_%s" % uuid.uuid4()
            results = []
            error = None
            with org.lock:
                org.begin()
                try:
                    for p in item.parts:
                        if p.method == "GET":
                            resp = webapi.error_response(ODataError(
                                400, "0x80060888", "GET requests are not allowed inside a change set."))
                        else:
                            resp = _run(outer, p, content_ids)
                        if resp.status >= 400:
                            error = (resp, p.content_id)
                            break
                        results.append((resp, p.content_id))
                    if error is not None:
                        org.rollback()
                    else:
                        org.commit()
                except BaseException:
                    org.rollback()
                    raise
            if error is not None:
                failed = True
                chunks.append(b"--" + out_b.encode() + b"\r\n" + _render_part(*error))
                if not cont:
                    break
            else:
                body = b""
                for resp, cid in results:
                    body += b"--" + cs_b.encode() + b"\r\n" + _render_part(resp, cid)
                body += b"--" + cs_b.encode() + b"--\r\n"
                chunks.append(b"--" + out_b.encode() + b"\r\nContent-Type: multipart/mixed; boundary=" +
                              cs_b.encode() + b"\r\n\r\n" + body)
        else:
            resp = _run(outer, item, content_ids)
            chunks.append(b"--" + out_b.encode() + b"\r\n" + _render_part(resp, item.content_id))
            if resp.status >= 400:
                failed = True
                if not cont:
                    break
    body = b"".join(chunks) + b"--" + out_b.encode() + b"--\r\n"
    status = 400 if failed and not cont else 200
    headers = [("Content-Type", "multipart/mixed; boundary=%s" % out_b)]
    if cont:
        headers.append(("Preference-Applied", "odata.continue-on-error"))
    return webapi.Response(status, headers, body)
