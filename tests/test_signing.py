"""SigV4 signing, checked header for header against botocore.auth.SigV4Auth.

DynamoDB Local does not verify signatures, so this oracle test is the only proof they are
right. botocore reads its clock through ``botocore.auth.get_current_datetime``; patching it
makes the oracle sign at exactly the instant our signer is given.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import threading
from typing import Optional
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamore._config import Endpoint
from dynamore._credentials import Credentials
from dynamore._signing import CONTENT_TYPE, TARGET_PREFIX, Signer, signing_key
from dynamore.exceptions import ValidationError

DAY = 86_400
# 2023-11-15T00:00:00Z: a UTC midnight.
MIDNIGHT = 1_700_006_400


def oracle(
    url: str,
    host_header: str,
    region: str,
    target: str,
    body: bytes,
    creds: Credentials,
    now: float,
) -> dict[str, str]:
    """The headers botocore's SigV4Auth produces for the same request at time ``now``."""
    request = AWSRequest(
        method="POST",
        url=url + "/",
        data=body,
        headers={
            "Content-Type": CONTENT_TYPE,
            "X-Amz-Target": TARGET_PREFIX + target,
            "Host": host_header,
        },
    )
    frozen = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).replace(tzinfo=None)
    auth = SigV4Auth(
        BotocoreCredentials(creds.access_key, creds.secret_key, creds.token), "dynamodb", region
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=frozen):
        auth.add_auth(request)
    headers = dict(request.headers.items())
    # Guard the oracle itself: if botocore stopped reading that clock, say so plainly.
    assert headers["X-Amz-Date"] == frozen.strftime("%Y%m%dT%H%M%SZ")
    return headers


ENDPOINTS = [
    "https://dynamodb.us-east-1.amazonaws.com",
    "https://dynamodb.eu-west-3.amazonaws.com:443",
    "http://127.0.0.1:8000",
    "http://localhost:8000",
    "http://[::1]:8000",
    "https://ddb.example.com:8443",
    "http://ddb.example.com",
    "http://ddb.example.com:443",
]
REGIONS = ["us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1", "cn-north-1"]
OPERATIONS = ["PutItem", "GetItem", "Query", "TransactWriteItems", "BatchWriteItem"]

bodies = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=500).map(lambda s: s.encode("utf-8")),
    st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=8).map(
        lambda d: repr(d).encode("utf-8")
    ),
)
# Session tokens are base64; "" counts as no token, for botocore as for us.
tokens = st.one_of(
    st.none(),
    st.just(""),
    st.text(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
        min_size=1,
        max_size=400,
    ),
)
credentials = st.builds(
    Credentials,
    access_key=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=16, max_size=20),
    secret_key=st.text(min_size=1, max_size=40),  # any unicode: both sides encode UTF-8
    token=tokens,
)
# Instants a few seconds either side of a UTC midnight, to the millisecond, in 2000-2037.
around_midnight = st.builds(
    lambda day, offset_ms: MIDNIGHT + day * DAY + offset_ms / 1000,
    st.integers(-8700, 5000),
    st.integers(-5000, 5000),
)
anytime = st.integers(946_684_800_000, 2_100_000_000_000).map(lambda ms: ms / 1000)


@settings(max_examples=300, deadline=None)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    region=st.sampled_from(REGIONS),
    requests=st.lists(
        st.tuples(
            st.sampled_from(OPERATIONS) | st.from_regex(r"\A[A-Za-z0-9]{1,30}\Z"),
            bodies,
            credentials,
            around_midnight | anytime,
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_headers_match_botocore(
    endpoint: str, region: str, requests: list[tuple[str, bytes, Credentials, float]]
) -> None:
    # One signer for several requests: its key and date caches must follow each one.
    parsed = Endpoint.parse(endpoint)
    signer = Signer(region, parsed.host_header)
    for target, body, creds, now in requests:
        expected = oracle(parsed.url, parsed.host_header, region, target, body, creds, now)
        assert signer.headers(target, body, creds, now) == expected


def test_signing_key_changes_at_midnight_utc() -> None:
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "token")
    host = "127.0.0.1:8000"
    signer = Signer("us-east-1", host)
    # Back and forth across the boundary, so a stale cached key would show.
    for now in (MIDNIGHT - 0.001, MIDNIGHT, MIDNIGHT - 1, MIDNIGHT + 0.5):
        got = signer.headers("PutItem", b"{}", creds, now)
        assert got == oracle("http://" + host, host, "us-east-1", "PutItem", b"{}", creds, now)
    before = signer.headers("PutItem", b"{}", creds, MIDNIGHT - 0.001)["Authorization"]
    after = signer.headers("PutItem", b"{}", creds, MIDNIGHT)["Authorization"]
    assert "Credential=AKIDEXAMPLE/20231114/us-east-1/dynamodb/aws4_request" in before
    assert "Credential=AKIDEXAMPLE/20231115/us-east-1/dynamodb/aws4_request" in after
    assert signing_key(creds.secret_key, "20231114", "us-east-1", "dynamodb") != signing_key(
        creds.secret_key, "20231115", "us-east-1", "dynamodb"
    )


def test_rotated_secret_is_not_signed_with_the_old_key() -> None:
    host = "dynamodb.us-east-1.amazonaws.com"
    signer = Signer("us-east-1", host)
    old = Credentials("AKID", "old-secret")
    new = Credentials("AKID", "new-secret")
    now = MIDNIGHT + 3600
    signer.headers("GetItem", b"{}", old, now)
    got = signer.headers("GetItem", b"{}", new, now)
    assert got == oracle("https://" + host, host, "us-east-1", "GetItem", b"{}", new, now)


def test_signing_key_matches_the_aws_documented_example() -> None:
    # The worked example of "Deriving the signing key" in the AWS SigV4 documentation.
    key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_header_set_without_and_with_token() -> None:
    signer = Signer("eu-west-1", "dynamodb.eu-west-1.amazonaws.com")
    plain = signer.headers("Query", b"{}", Credentials("AKID", "secret"), MIDNIGHT)
    assert set(plain) == {"Host", "Content-Type", "X-Amz-Target", "X-Amz-Date", "Authorization"}
    assert plain["Host"] == "dynamodb.eu-west-1.amazonaws.com"
    assert plain["Content-Type"] == "application/x-amz-json-1.0"
    assert plain["X-Amz-Target"] == "DynamoDB_20120810.Query"
    assert plain["X-Amz-Date"] == "20231115T000000Z"
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-target," in plain["Authorization"]

    with_token = signer.headers("Query", b"{}", Credentials("AKID", "secret", "tok"), MIDNIGHT)
    assert with_token["X-Amz-Security-Token"] == "tok"
    assert (
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,"
        in with_token["Authorization"]
    )


def test_signature_covers_the_body() -> None:
    signer = Signer("us-east-1", "127.0.0.1:8000")
    creds = Credentials("AKID", "secret")
    a = signer.headers("PutItem", b'{"a":1}', creds, MIDNIGHT)["Authorization"]
    b = signer.headers("PutItem", b'{"a":2}', creds, MIDNIGHT)["Authorization"]
    assert a != b


def test_signature_by_hand_for_one_request() -> None:
    # An independent spelling of the algorithm for one fixed request, so the oracle test
    # is not the only witness.
    body = b'{"TableName":"t"}'
    signer = Signer("us-east-1", "127.0.0.1:8000")
    creds = Credentials("AKIDEXAMPLE", "secret")
    headers = signer.headers("DescribeTable", body, creds, MIDNIGHT + 42.9)
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            "content-type:application/x-amz-json-1.0",
            "host:127.0.0.1:8000",
            "x-amz-date:20231115T000042Z",
            "x-amz-target:DynamoDB_20120810.DescribeTable",
            "",
            "content-type;host;x-amz-date;x-amz-target",
            hashlib.sha256(body).hexdigest(),
        ]
    )
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            "20231115T000042Z",
            "20231115/us-east-1/dynamodb/aws4_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = signing_key("secret", "20231115", "us-east-1", "dynamodb")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231115/us-east-1/dynamodb/aws4_request, "
        f"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={signature}"
    )


@pytest.mark.parametrize("target", ["", "Put Item", "PutItem\r\nX-Evil: 1", "Put-Item", "Pütitem"])
def test_operation_names_that_could_inject_headers_are_refused(target: str) -> None:
    signer = Signer("us-east-1", "127.0.0.1:8000")
    with pytest.raises(ValidationError, match="operation name"):
        signer.headers(target, b"{}", Credentials("AKID", "secret"), MIDNIGHT)


def test_no_secret_in_repr() -> None:
    signer = Signer("us-east-1", "127.0.0.1:8000")
    signer.headers("GetItem", b"{}", Credentials("AKID", "very-secret", "tok"), MIDNIGHT)
    assert "very-secret" not in repr(signer)
    assert repr(signer) == "<Signer dynamodb us-east-1 host=127.0.0.1:8000>"


def test_one_signer_shared_by_threads_signs_like_fresh_ones() -> None:
    host = "127.0.0.1:8000"
    shared = Signer("us-east-1", host)
    secrets = ["s1", "s2", "s3"]
    instants = [MIDNIGHT - 1 + i * 0.7 for i in range(6)]
    jobs = [(s, t) for s in secrets for t in instants] * 20
    errors: list[Optional[str]] = []
    start = threading.Barrier(8)

    def work(offset: int) -> None:
        start.wait()
        for secret, now in jobs[offset:] + jobs[:offset]:
            creds = Credentials("AKID", secret)
            got = shared.headers("GetItem", b"{}", creds, now)
            want = Signer("us-east-1", host).headers("GetItem", b"{}", creds, now)
            if got != want:
                errors.append(f"{secret} at {now}")

    threads = [threading.Thread(target=work, args=(i * 7,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
