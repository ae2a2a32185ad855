"""$batch bodies (multipart/mixed) for the emulator's tests: build a request body, parse a
response into its parts.  Only the Python standard library is used."""

import json
import re

from lib.client import Headers


def batch_body(boundary, parts, final_crlf=True):
    """Build a multipart/mixed $batch body with CRLF line ends.

    parts: list of either
      ("request", method, url, headers_dict, body_or_None, content_id_or_None)  # top-level request
      ("changeset", changeset_boundary, [ (method, url, headers, body, content_id), ... ])
    """
    L = []

    def req_lines(method, url, headers, body, content_id):
        out = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
        if content_id is not None:
            out.append("Content-ID: %s" % content_id)
        out += ["", "%s %s HTTP/1.1" % (method, url)]
        h = dict(headers or {})
        if body is not None and not any(k.lower() == "content-type" for k in h):
            h["Content-Type"] = "application/json;type=entry"
        for k, v in h.items():
            out.append("%s: %s" % (k, v))
        out.append("")
        if body is not None:
            out.append(body if isinstance(body, str) else json.dumps(body))
        return out

    for p in parts:
        L.append("--" + boundary)
        if p[0] == "request":
            _, method, url, headers, body, cid = p
            L += req_lines(method, url, headers, body, cid)
        else:
            _, cs, reqs = p
            L.append("Content-Type: multipart/mixed;boundary=%s" % cs)
            L.append("")
            for method, url, headers, body, cid in reqs:
                L.append("--" + cs)
                L += req_lines(method, url, headers, body, cid)
            L.append("--%s--" % cs)
        L.append("")
    L.append("--%s--" % boundary)
    text = "\r\n".join(L)
    if final_crlf:
        text += "\r\n"
    return text.encode("utf-8")


class BatchPart:
    def __init__(self, headers, status, reason, http_headers, body, in_changeset):
        self.headers = headers            # MIME part headers (Headers)
        self.status = status              # inner HTTP status
        self.reason = reason
        self.http_headers = http_headers  # inner HTTP response headers (Headers)
        self.body = body                  # parsed JSON or raw text
        self.in_changeset = in_changeset

    @property
    def content_id(self):
        return self.headers.get("Content-ID")

    def __repr__(self):
        return "BatchPart(%s %s, cid=%s, body=%r)" % (self.status, self.reason, self.content_id,
                                                    str(self.body)[:200])


def _boundary_of(ctype):
    m = re.search(r'boundary="?([^";]+)"?', ctype or "", re.I)
    return m.group(1) if m else None


def _split_multipart(text, boundary):
    chunks = re.split(r"(?:\r?\n)?--" + re.escape(boundary) + r"(--)?[ \t]*(?:\r?\n|$)", text)
    # re.split with a group yields [pre, g, chunk, g, chunk, ...]
    out = []
    i = 1
    while i < len(chunks):
        closing = chunks[i]
        content = chunks[i + 1] if i + 1 < len(chunks) else ""
        if closing:
            break
        out.append(content)
        i += 2
    return out


def _parse_headers_block(block):
    pairs = []
    for line in block.split("\r\n"):
        if not line.strip():
            continue
        k, _, v = line.partition(":")
        pairs.append((k.strip(), v.strip()))
    return Headers(pairs)


def parse_batch_response(resp):
    """Parse a $batch response (Response) into a flat list of BatchPart."""
    raw = resp.raw.decode("utf-8") if isinstance(resp.raw, (bytes, bytearray)) else resp.raw
    boundary = _boundary_of(resp.headers.get("Content-Type"))
    assert boundary, "no multipart boundary in %r" % resp.headers.get("Content-Type")
    parts = []

    def walk(text, bnd, in_cs):
        for chunk in _split_multipart(text, bnd):
            head, _, rest = chunk.partition("\r\n\r\n")
            h = _parse_headers_block(head)
            ct = h.get("Content-Type") or ""
            if ct.lower().startswith("multipart/mixed"):
                walk(rest, _boundary_of(ct), True)
                continue
            status_line, _, rest2 = rest.partition("\r\n")
            m = re.match(r"HTTP/1\.1 (\d{3}) ?(.*)", status_line)
            assert m, "bad status line in batch part: %r" % status_line
            ihead, _, ibody = rest2.partition("\r\n\r\n")
            ih = _parse_headers_block(ihead)
            body = ibody.strip("\r\n")
            if body:
                try:
                    body = json.loads(body)
                except ValueError:
                    pass
            parts.append(BatchPart(h, int(m.group(1)), m.group(2), ih, body, in_cs))

    walk(raw, boundary, False)
    return parts

