"""Just enough X.509 and RSA for Entra certificate credentials, standard library only.

* ``parse_pem(text)`` -> list of DER certificates; ``Certificate(der)`` reads the validity and the
  RSA public key (SubjectPublicKeyInfo -> RSAPublicKey n, e) with a small DER reader.
* ``x5t`` = base64url(SHA-1(DER)), ``x5t_s256`` = base64url(SHA-256(DER)) - the JWT header
  values that name a certificate (Microsoft identity platform, "certificate credentials").
* ``verify(alg, n, e, signing_input, signature)`` for RS256 (RSASSA-PKCS1-v1_5, RFC 8017 8.2)
  and PS256 (RSASSA-PSS, MGF1-SHA-256, any salt length, RFC 8017 8.1 / 9.1.2).
"""

import base64
import datetime as _dt
import hashlib
import os
import re
import subprocess

OID_RSA = "1.2.840.113549.1.1.1"
OID_CN = "2.5.4.3"
SHA256_DIGESTINFO = bytes.fromhex("3031300d060960864801650304020105000420")


class DerError(ValueError):
    pass


def read_tlv(buf, pos):
    """One DER element at ``pos``: (tag, content_start, content_end)."""
    if pos + 2 > len(buf):
        raise DerError("truncated DER")
    tag = buf[pos]
    ln = buf[pos + 1]
    pos += 2
    if ln & 0x80:
        k = ln & 0x7F
        if k == 0 or k > 4 or pos + k > len(buf):
            raise DerError("bad DER length")
        ln = int.from_bytes(buf[pos:pos + k], "big")
        pos += k
    if pos + ln > len(buf):
        raise DerError("truncated DER")
    return tag, pos, pos + ln


def children(buf, start, end):
    """The elements inside a constructed value: list of (tag, cs, ce, element_start)."""
    out, pos = [], start
    while pos < end:
        tag, cs, ce = read_tlv(buf, pos)
        out.append((tag, cs, ce, pos))
        pos = ce
    return out


def oid_str(b):
    parts = [b[0] // 40, b[0] % 40]
    v = 0
    for byte in b[1:]:
        v = (v << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(v)
            v = 0
    return ".".join(str(p) for p in parts)


def _time(tag, raw):
    s = raw.decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        yy = int(s[:2])
        s = ("19" if yy >= 50 else "20") + s
    return _dt.datetime.strptime(s[:14], "%Y%m%d%H%M%S").replace(tzinfo=_dt.timezone.utc)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_dec(s):
    if not isinstance(s, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", s):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def parse_pem(text):
    """Every ``CERTIFICATE`` block of a PEM text as DER bytes."""
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----\s*(.*?)\s*-----END CERTIFICATE-----", text, re.S)
    return [base64.b64decode("".join(b.split())) for b in blocks]


class Certificate:
    def __init__(self, der):
        try:
            self._parse(der)
        except (IndexError, ValueError, UnicodeDecodeError) as e:
            raise DerError("not an X.509 certificate with an RSA key: %s" % e)

    def _parse(self, der):
        self.der = der
        tag, cs, ce = read_tlv(der, 0)
        if tag != 0x30:
            raise DerError("certificate is not a SEQUENCE")
        tbs = children(der, cs, ce)[0]
        f = children(der, tbs[1], tbs[2])
        i = 1 if f and f[0][0] == 0xA0 else 0      # [0] version
        # serial, signature algorithm, issuer, validity, subject, subjectPublicKeyInfo
        validity, subject, spki = f[i + 3], f[i + 4], f[i + 5]
        nb, na = children(der, validity[1], validity[2])[:2]
        self.not_before = _time(nb[0], der[nb[1]:nb[2]])
        self.not_after = _time(na[0], der[na[1]:na[2]])
        self.subject = self._cn(subject)
        alg, bits = children(der, spki[1], spki[2])[:2]
        alg_oid = children(der, alg[1], alg[2])[0]
        if oid_str(der[alg_oid[1]:alg_oid[2]]) != OID_RSA:
            raise DerError("not an RSA key")
        key = der[bits[1] + 1:bits[2]]              # BIT STRING: skip the unused-bits byte
        t, ks, ke = read_tlv(key, 0)
        n, e = children(key, ks, ke)[:2]
        self.n = int.from_bytes(key[n[1]:n[2]], "big")
        self.e = int.from_bytes(key[e[1]:e[2]], "big")
        self.x5t = b64url(hashlib.sha1(der).digest())
        self.x5t_s256 = b64url(hashlib.sha256(der).digest())
        self.thumbprint = hashlib.sha1(der).hexdigest().upper()

    def _cn(self, name):
        der = self.der
        for rdn in children(der, name[1], name[2]):
            for atv in children(der, rdn[1], rdn[2]):
                oid, val = children(der, atv[1], atv[2])[:2]
                if oid_str(der[oid[1]:oid[2]]) == OID_CN:
                    return der[val[1]:val[2]].decode("utf-8", "replace")
        return ""


def _mgf1(seed, length):
    out, c = b"", 0
    while len(out) < length:
        out += hashlib.sha256(seed + c.to_bytes(4, "big")).digest()
        c += 1
    return out[:length]


def verify(alg, n, e, signing_input, sig):
    """True if ``sig`` is a valid RS256/PS256 signature of ``signing_input`` under (n, e)."""
    k = (n.bit_length() + 7) // 8
    if len(sig) != k:
        return False
    s = int.from_bytes(sig, "big")
    if s >= n:
        return False
    em = pow(s, e, n).to_bytes(k, "big")
    digest = hashlib.sha256(signing_input).digest()
    if alg == "RS256":
        t = SHA256_DIGESTINFO + digest
        expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
        return em == expected
    if alg == "PS256":
        em_bits = n.bit_length() - 1
        em_len = (em_bits + 7) // 8
        em = em[-em_len:] if em_len < k else em
        if k > em_len and pow(s, e, n) >> (em_len * 8):
            return False
        hlen = 32
        if em_len < hlen + 2 or em[-1] != 0xBC:
            return False
        masked, h = em[:em_len - hlen - 1], em[em_len - hlen - 1:-1]
        unused = 8 * em_len - em_bits
        if unused and masked[0] >> (8 - unused):
            return False
        db = bytes(a ^ b for a, b in zip(masked, _mgf1(h, len(masked))))
        if unused:
            db = bytes([db[0] & (0xFF >> unused)]) + db[1:]
        sep = db.find(b"\x01")
        if sep < 0 or any(db[:sep]):
            return False
        salt = db[sep + 1:]
        return hashlib.sha256(b"\x00" * 8 + digest + salt).digest() == h
    return False


# ------------------------------------------------------------------ making test certificates

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

# ``openssl ca`` is the CLI that takes an explicit notBefore/notAfter (``openssl x509 -req``
# in OpenSSL 3.0 knows only -days from now), so an expired certificate needs this small CA
# configuration: its own database and serial file, no policy on the subject.
_CA_CONF = """[ca]
default_ca = dvemu
[dvemu]
database = {d}/index.txt
new_certs_dir = {d}
serial = {d}/serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
commonName = supplied
organizationName = optional
"""


def _openssl(*args):
    r = subprocess.run(("openssl",) + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode:
        raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr.decode("utf-8", "replace").strip()))


def _asn1_time(t):
    return t.astimezone(_dt.timezone.utc).strftime("%Y%m%d%H%M%SZ")


def make_ca(directory, name, cn):
    """A self-signed CA: (``name``.pem, ``name``.key) in ``directory``."""
    key, pem = os.path.join(directory, name + ".key"), os.path.join(directory, name + ".pem")
    _openssl("req", "-x509", *_EC, "-keyout", key, "-out", pem, "-days", "3650",
             "-subj", "/CN=%s/O=dynfs" % cn, "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    os.chmod(key, 0o600)
    return pem, key


def make_server_cert(directory, name, ca, sans, not_before=None, not_after=None):
    """A TLS server certificate signed by ``ca`` = (pem, key): (``name``.pem, ``name``.key).

    ``sans`` is a subjectAltName list such as ``["IP:127.0.0.1", "DNS:localhost"]``; the
    validity defaults to one hour ago .. 825 days ahead.  A ``not_after`` in the past makes an
    expired certificate."""
    now = _dt.datetime.now(_dt.timezone.utc)
    not_before = not_before or now - _dt.timedelta(hours=1)
    not_after = not_after or now + _dt.timedelta(days=825)
    key, crt = os.path.join(directory, name + ".key"), os.path.join(directory, name + ".pem")
    csr, ext = os.path.join(directory, name + ".csr"), os.path.join(directory, name + ".ext")
    cadir = os.path.join(directory, name + ".ca")
    os.makedirs(cadir, exist_ok=True)
    with open(os.path.join(cadir, "index.txt"), "w"):
        pass
    with open(os.path.join(cadir, "serial"), "w") as f:
        f.write("%032X\n" % int.from_bytes(os.urandom(15), "big"))
    conf = os.path.join(cadir, "ca.conf")
    with open(conf, "w") as f:
        f.write(_CA_CONF.format(d=cadir))
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
                % ",".join(sans))
    cn = next((s.split(":", 1)[1] for s in sans if s.startswith("DNS:")), "localhost")
    _openssl("req", "-new", *_EC, "-keyout", key, "-out", csr, "-subj", "/CN=%s/O=dynfs" % cn)
    _openssl("ca", "-batch", "-notext", "-config", conf, "-cert", ca[0], "-keyfile", ca[1],
             "-in", csr, "-out", crt, "-startdate", _asn1_time(not_before), "-enddate",
             _asn1_time(not_after), "-extfile", ext)
    os.chmod(key, 0o600)
    return crt, key
