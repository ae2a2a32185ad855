"""Certificates and client assertions (private_key_jwt) and PKCE for the auth tests.

Certificates are made with the openssl CLI; RSA signing is pure Python (the private key is
read from its PEM with a minimal DER reader).  Only the Python standard library is used.
"""

import base64
import hashlib
import json
import os
import re
import secrets
import subprocess
import time
import uuid


def make_certificate(directory, name="client", days=365, cn=None, bits=2048):
    """A self-signed RSA certificate made with the openssl CLI in `directory`.

    Returns {"cert_path", "key_path", "cert_pem", "key_pem"}."""
    key_path = os.path.join(directory, "%s.key" % name)
    cert_path = os.path.join(directory, "%s.pem" % name)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:%d" % bits, "-nodes", "-keyout", key_path,
                    "-out", cert_path, "-days", str(days), "-subj", "/CN=%s" % (cn or "dynfs-test-" + name)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.chmod(key_path, 0o600)
    with open(cert_path) as f:
        cert_pem = f.read()
    with open(key_path) as f:
        key_pem = f.read()
    return {"cert_path": cert_path, "key_path": key_path, "cert_pem": cert_pem, "key_pem": key_pem}


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _tlv(buf, pos):
    tag, ln = buf[pos], buf[pos + 1]
    pos += 2
    if ln & 0x80:
        k = ln & 0x7F
        ln = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    return tag, pos, pos + ln


def _seq_items(buf, start, end):
    out = []
    while start < end:
        t, cs, ce = _tlv(buf, start)
        out.append((t, cs, ce))
        start = ce
    return out


def _pem_der(pem, label):
    m = re.search(r"-----BEGIN %s-----(.*?)-----END %s-----" % (label, label), pem, re.S)
    return base64.b64decode("".join(m.group(1).split())) if m else None


def rsa_private_key(key_pem):
    """(n, e, d) of an RSA private key PEM (PKCS#8 "PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY")."""
    der = _pem_der(key_pem, "PRIVATE KEY")
    if der is not None:
        _, cs, ce = _tlv(der, 0)
        items = _seq_items(der, cs, ce)
        der = der[items[2][1]:items[2][2]]          # OCTET STRING holding RSAPrivateKey
    else:
        der = _pem_der(key_pem, "RSA PRIVATE KEY")
    _, cs, ce = _tlv(der, 0)
    ints = [int.from_bytes(der[a:b], "big") for _, a, b in _seq_items(der, cs, ce)]
    return ints[1], ints[2], ints[3]


def cert_thumbprints(cert_pem):
    """{"x5t": b64url(SHA-1(DER)), "x5t#S256": b64url(SHA-256(DER))} of the first certificate."""
    der = _pem_der(cert_pem, "CERTIFICATE")
    return {"x5t": _b64url(hashlib.sha1(der).digest()), "x5t#S256": _b64url(hashlib.sha256(der).digest())}


def rsa_sign(key_pem, data, alg="RS256"):
    """RS256 (PKCS#1 v1.5) or PS256 (PSS, MGF1-SHA-256, 32-byte salt) signature of `data`."""
    n, _, d = rsa_private_key(key_pem)
    k = (n.bit_length() + 7) // 8
    h = hashlib.sha256(data).digest()
    if alg == "RS256":
        t = bytes.fromhex("3031300d060960864801650304020105000420") + h
        em = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    elif alg == "PS256":
        em_bits = n.bit_length() - 1
        em_len = (em_bits + 7) // 8
        salt = secrets.token_bytes(32)
        hh = hashlib.sha256(b"\x00" * 8 + h + salt).digest()
        db = b"\x00" * (em_len - 32 - 32 - 2) + b"\x01" + salt
        mask, c = b"", 0
        while len(mask) < len(db):
            mask += hashlib.sha256(hh + c.to_bytes(4, "big")).digest()
            c += 1
        masked = bytearray(a ^ b for a, b in zip(db, mask))
        masked[0] &= 0xFF >> (8 * em_len - em_bits)
        em = bytes(masked) + hh + b"\xbc"
    else:
        raise ValueError("alg must be RS256 or PS256")
    return pow(int.from_bytes(em, "big"), d, n).to_bytes(k, "big")


def client_assertion(cert, client_id, audience, alg="RS256", thumbprint="x5t", lifetime=600, now=None,
                     claims=None, header=None, jti=None, drop=()):
    """A signed client assertion (JWT) as Entra's "certificate credentials" describe it.

    cert: a make_certificate() dict; thumbprint: "x5t" (SHA-1) or "x5t#S256"; claims/header:
    extra or overriding values; drop: claim names to leave out (e.g. ("jti",))."""
    now = int(time.time()) if now is None else int(now)
    head = {"alg": alg, "typ": "JWT"}
    head[thumbprint] = cert_thumbprints(cert["cert_pem"])[thumbprint]
    head.update(header or {})
    body = {"aud": audience, "iss": client_id, "sub": client_id, "jti": jti or str(uuid.uuid4()),
            "nbf": now, "iat": now, "exp": now + lifetime}
    body.update(claims or {})
    for k in drop:
        body.pop(k, None)
    signing_input = (_b64url(json.dumps(head, separators=(",", ":")).encode()) + "." +
                     _b64url(json.dumps(body, separators=(",", ":")).encode()))
    return signing_input + "." + _b64url(rsa_sign(cert["key_pem"], signing_input.encode(), alg))


def pkce_pair(verifier=None):
    """(code_verifier, S256 code_challenge)."""
    verifier = verifier or _b64url(secrets.token_bytes(48))
    return verifier, _b64url(hashlib.sha256(verifier.encode()).digest())

