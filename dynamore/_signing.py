"""AWS Signature Version 4 for DynamoDB's JSON protocol: ``POST /`` with a JSON body.

Only what DynamoDB needs, and fast, as it runs on every request: the canonical request is one
f-string over parts fixed per :class:`Signer`, the signing key is derived once per day and
secret, and the clock is a parameter so tests are exact (``botocore.auth.SigV4Auth`` is the
oracle in ``tests/test_signing.py``).
"""

from __future__ import annotations

import time

from dynamore._credentials import Credentials
from dynamore.exceptions import ValidationError

try:
    # OpenSSL's SHA-256 and one-shot HMAC: what hashlib.sha256 and hmac.digest call, without
    # importing hashlib.py and hmac.py on every cold start (~0.2 MB of peak memory, ~1 ms).
    from _hashlib import hmac_digest as _hmac
    from _hashlib import openssl_sha256 as sha256
except ImportError:  # a Python without OpenSSL's hashes
    from hashlib import sha256
    from hmac import digest as _hmac  # type: ignore[assignment]

__all__ = [
    "ALGORITHM",
    "CONTENT_TYPE",
    "TARGET_PREFIX",
    "Signer",
    "signing_key",
]

#: The SigV4 algorithm name, first word of the ``Authorization`` header.
ALGORITHM = "AWS4-HMAC-SHA256"
#: The body type of DynamoDB's JSON 1.0 protocol.
CONTENT_TYPE = "application/x-amz-json-1.0"
#: ``X-Amz-Target`` is this prefix followed by the operation name.
TARGET_PREFIX = "DynamoDB_20120810."

_SIGNED = "content-type;host;x-amz-date;x-amz-target"
_SIGNED_WITH_TOKEN = "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"


class Signer:
    """Signs DynamoDB requests for one region and ``Host``; build once, reuse for every call.

    Safe to share between threads: the only state is a cache replaced as one tuple.

    >>> signer = Signer("us-east-1", "dynamodb.us-east-1.amazonaws.com")
    >>> creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    >>> h = signer.headers("GetItem", b"{}", creds, now=1_700_000_000.0)
    >>> h["X-Amz-Date"], h["X-Amz-Target"]
    ('20231114T221320Z', 'DynamoDB_20120810.GetItem')
    """

    __slots__ = (
        "_canonical_prefix",
        "_date_cache",
        "_key_cache",
        "_scope_suffix",
        "host_header",
        "region",
        "service",
    )

    def __init__(self, region: str, host_header: str, service: str = "dynamodb") -> None:
        self.region = region
        self.host_header = host_header
        self.service = service
        self._scope_suffix = f"/{region}/{service}/aws4_request"
        self._canonical_prefix = (
            f"POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{host_header}\nx-amz-date:"
        )
        # (secret, yyyymmdd, key): only the latest; a new day or a rotated secret replaces it.
        self._key_cache: tuple[str, str, bytes] = ("", "", b"")
        # (whole epoch second, X-Amz-Date): formatting the time costs more than the lookup.
        self._date_cache: tuple[int, str] = (-1, "")

    def __repr__(self) -> str:
        return f"<Signer {self.service} {self.region} host={self.host_header}>"

    def headers(
        self, target: str, body: bytes, credentials: Credentials, now: float
    ) -> dict[str, str]:
        """Every header of the request ``POST /`` with ``body`` for operation ``target``.

        ``now`` is the time in epoch seconds. Content-Length is left to the transport.
        An operation name that is not plain ASCII letters and digits raises
        :class:`~dynamore.exceptions.ValidationError`.
        """
        if not (target.isalnum() and target.isascii()):
            # It goes into a header line as is, so anything else could inject headers.
            raise ValidationError("", f"not a DynamoDB operation name: {target!r}")
        second = int(now)
        cached_second, amz_date = self._date_cache
        if cached_second != second:
            amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
            self._date_cache = (second, amz_date)
        day = amz_date[:8]
        scope = day + self._scope_suffix
        full_target = TARGET_PREFIX + target
        token = credentials.token
        if token:
            signed = _SIGNED_WITH_TOKEN
            canonical = (
                f"{self._canonical_prefix}{amz_date}\nx-amz-security-token:{token}\n"
                f"x-amz-target:{full_target}\n\n{signed}\n{sha256(body).hexdigest()}"
            )
        else:
            signed = _SIGNED
            canonical = (
                f"{self._canonical_prefix}{amz_date}\nx-amz-target:{full_target}\n\n"
                f"{signed}\n{sha256(body).hexdigest()}"
            )
        to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{sha256(canonical.encode()).hexdigest()}"
        secret = credentials.secret_key
        cached_secret, cached_day, key = self._key_cache
        if cached_day != day or cached_secret != secret:
            key = signing_key(secret, day, self.region, self.service)
            self._key_cache = (secret, day, key)
        signature = _hmac(key, to_sign.encode(), "sha256").hex()
        headers = {
            "Host": self.host_header,
            "Content-Type": CONTENT_TYPE,
            "X-Amz-Target": full_target,
            "X-Amz-Date": amz_date,
            "Authorization": (
                f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
                f"SignedHeaders={signed}, Signature={signature}"
            ),
        }
        if token:
            headers["X-Amz-Security-Token"] = token
        return headers


def signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    """The SigV4 signing key: HMAC chain over the day (``yyyymmdd``), region, service."""
    key = _hmac(("AWS4" + secret).encode(), day.encode(), "sha256")
    key = _hmac(key, region.encode(), "sha256")
    key = _hmac(key, service.encode(), "sha256")
    return _hmac(key, b"aws4_request", "sha256")
