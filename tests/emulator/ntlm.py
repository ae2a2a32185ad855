"""NTLM server side (MS-NLMP) for on-premises Dataverse (Windows authentication), stdlib only.

The handshake authenticates a *connection*: NEGOTIATE (type 1) -> 401 with a CHALLENGE
(type 2) -> AUTHENTICATE (type 3) on the same keep-alive connection; later requests on that
connection carry no Authorization header.  Only NTLMv2 responses are accepted (what current
clients - libcurl, Windows - send when the challenge carries target info); NTLMv1/LM are
refused like a server with "Network security: LAN Manager authentication level" = NTLMv2 only.

MD4 (for the NT hash) is implemented here because OpenSSL 3 no longer offers it to hashlib.
"""

import hashlib
import hmac
import os
import struct
import time

SIGNATURE = b"NTLMSSP\x00"
NEGOTIATE_UNICODE = 0x00000001
NEGOTIATE_OEM = 0x00000002
REQUEST_TARGET = 0x00000004
NEGOTIATE_NTLM = 0x00000200
NEGOTIATE_ALWAYS_SIGN = 0x00008000
TARGET_TYPE_DOMAIN = 0x00010000
NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000
NEGOTIATE_TARGET_INFO = 0x00800000
NEGOTIATE_VERSION = 0x02000000
NEGOTIATE_128 = 0x20000000
NEGOTIATE_56 = 0x80000000


def md4(data):
    """MD4 (RFC 1320)."""
    def f(x, y, z):
        return (x & y) | (~x & z)

    def g(x, y, z):
        return (x & y) | (x & z) | (y & z)

    def h(x, y, z):
        return x ^ y ^ z

    def rol(v, s):
        v &= 0xFFFFFFFF
        return ((v << s) | (v >> (32 - s))) & 0xFFFFFFFF

    msg = bytearray(data)
    bit_len = (8 * len(data)) & 0xFFFFFFFFFFFFFFFF
    msg.append(0x80)
    while len(msg) % 64 != 56:
        msg.append(0)
    msg += struct.pack("<Q", bit_len)
    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for off in range(0, len(msg), 64):
        x = struct.unpack("<16I", bytes(msg[off:off + 64]))
        aa, bb, cc, dd = a, b, c, d
        for i in (0, 4, 8, 12):
            a = rol(a + f(b, c, d) + x[i], 3)
            d = rol(d + f(a, b, c) + x[i + 1], 7)
            c = rol(c + f(d, a, b) + x[i + 2], 11)
            b = rol(b + f(c, d, a) + x[i + 3], 19)
        for i in (0, 1, 2, 3):
            a = rol(a + g(b, c, d) + x[i] + 0x5A827999, 3)
            d = rol(d + g(a, b, c) + x[i + 4] + 0x5A827999, 5)
            c = rol(c + g(d, a, b) + x[i + 8] + 0x5A827999, 9)
            b = rol(b + g(c, d, a) + x[i + 12] + 0x5A827999, 13)
        for i in (0, 2, 1, 3):
            a = rol(a + h(b, c, d) + x[i] + 0x6ED9EBA1, 3)
            d = rol(d + h(a, b, c) + x[i + 8] + 0x6ED9EBA1, 9)
            c = rol(c + h(d, a, b) + x[i + 4] + 0x6ED9EBA1, 11)
            b = rol(b + h(c, d, a) + x[i + 12] + 0x6ED9EBA1, 15)
        a, b, c, d = [(v + w) & 0xFFFFFFFF for v, w in ((a, aa), (b, bb), (c, cc), (d, dd))]
    return struct.pack("<4I", a, b, c, d)


def nt_hash(password):
    return md4(password.encode("utf-16-le"))


def message_type(msg):
    if len(msg) < 12 or msg[:8] != SIGNATURE:
        return None
    return struct.unpack("<I", msg[8:12])[0]


def _av(av_id, value):
    return struct.pack("<HH", av_id, len(value)) + value


def challenge(negotiate, nb_domain, dns_domain, nb_computer="DVEMU"):
    """CHALLENGE_MESSAGE for a NEGOTIATE_MESSAGE.  Returns (server_challenge, message)."""
    client_flags = struct.unpack("<I", negotiate[12:16])[0] if len(negotiate) >= 16 else 0
    unicode_ = bool(client_flags & NEGOTIATE_UNICODE) or not client_flags & NEGOTIATE_OEM
    enc = (lambda s: s.encode("utf-16-le")) if unicode_ else (lambda s: s.upper().encode("ascii", "replace"))
    flags = (REQUEST_TARGET | NEGOTIATE_NTLM | NEGOTIATE_ALWAYS_SIGN | TARGET_TYPE_DOMAIN | NEGOTIATE_TARGET_INFO
             | NEGOTIATE_VERSION | (NEGOTIATE_UNICODE if unicode_ else NEGOTIATE_OEM)
             | (client_flags & (NEGOTIATE_EXTENDED_SESSIONSECURITY | NEGOTIATE_128 | NEGOTIATE_56)))
    server_challenge = os.urandom(8)
    filetime = int((time.time() + 11644473600) * 10_000_000)
    u = lambda s: s.encode("utf-16-le")  # noqa: E731  (AV pairs are always Unicode)
    target_info = (_av(2, u(nb_domain)) + _av(1, u(nb_computer)) + _av(4, u(dns_domain))
                   + _av(3, u("%s.%s" % (nb_computer.lower(), dns_domain))) + _av(5, u(dns_domain))
                   + _av(7, struct.pack("<Q", filetime)) + _av(0, b""))
    target_name = enc(nb_domain)
    header_len = 56
    payload = target_name + target_info
    msg = (SIGNATURE + struct.pack("<I", 2)
           + struct.pack("<HHI", len(target_name), len(target_name), header_len)
           + struct.pack("<I", flags) + server_challenge + b"\x00" * 8
           + struct.pack("<HHI", len(target_info), len(target_info), header_len + len(target_name))
           + bytes([10, 0]) + struct.pack("<H", 20348) + b"\x00\x00\x00\x0f"   # version 10.0.20348, NTLM rev 15
           + payload)
    return server_challenge, msg


def parse_authenticate(msg):
    """AUTHENTICATE_MESSAGE -> dict(lm, nt, domain, user, workstation, flags)."""
    if message_type(msg) != 3 or len(msg) < 64:
        raise ValueError("not an NTLM AUTHENTICATE message")

    def field(off):
        ln, _, at = struct.unpack("<HHI", msg[off:off + 8])
        if at + ln > len(msg):
            raise ValueError("field outside the message")
        return msg[at:at + ln]

    flags = struct.unpack("<I", msg[60:64])[0]
    dec = (lambda b: b.decode("utf-16-le")) if flags & NEGOTIATE_UNICODE else (lambda b: b.decode("latin-1"))
    return {"lm": field(12), "nt": field(20), "domain": dec(field(28)), "user": dec(field(36)),
            "workstation": dec(field(44)), "flags": flags}


def verify_v2(auth, server_challenge, password):
    """True if the NTLMv2 response of ``auth`` was computed with ``password`` for the user and
    domain it names (MS-NLMP 3.3.2: NTOWFv2 = HMAC-MD5(NT hash, UPPER(user) + domain))."""
    nt = auth["nt"]
    if len(nt) <= 24:               # NTLMv1 / NTLM2 session response: refused
        return False
    key = hmac.new(nt_hash(password), (auth["user"].upper() + auth["domain"]).encode("utf-16-le"),
                   hashlib.md5).digest()
    proof, blob = nt[:16], nt[16:]
    return hmac.compare_digest(hmac.new(key, server_challenge + blob, hashlib.md5).digest(), proof)
