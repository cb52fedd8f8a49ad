"""Region, endpoint, attempts, CA bundle and the client's numeric options: precedence,
validation, and no botocore import on Lambda."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Optional

import pytest

from dynamore import Client
from dynamore._config import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_IDLE_TIME,
    DEFAULT_READ_TIMEOUT,
    Endpoint,
    max_attempts_from_env,
    positive_count,
    positive_seconds,
    resolve_ca_bundle,
    resolve_endpoint,
    resolve_region,
)
from dynamore.exceptions import ConfigurationError
from tests.kit import ROOT


@pytest.fixture
def aws_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No AWS variable from the developer's shell, and config files that don't exist yet."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name in ("DDB_ENDPOINT", "BOTO_CONFIG"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return tmp_path


def write_config(home: Path, text: str) -> None:
    (home / "config").write_text(textwrap.dedent(text))


def test_defaults() -> None:
    assert DEFAULT_MAX_ATTEMPTS == 3
    assert DEFAULT_CONNECT_TIMEOUT == 5.0
    assert DEFAULT_READ_TIMEOUT == 10.0
    assert DEFAULT_MAX_CONNECTIONS == 10
    assert DEFAULT_MAX_IDLE_TIME == 30.0


# --- Endpoint.parse -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "host_header", "normal"),
    [
        (
            "https://dynamodb.us-east-1.amazonaws.com",
            "https",
            "dynamodb.us-east-1.amazonaws.com",
            443,
            "dynamodb.us-east-1.amazonaws.com",
            "https://dynamodb.us-east-1.amazonaws.com",
        ),
        ("https://h.example:443/", "https", "h.example", 443, "h.example", "https://h.example"),
        ("http://127.0.0.1:8000", "http", "127.0.0.1", 8000, "127.0.0.1:8000", None),
        ("http://localhost:8000/", "http", "localhost", 8000, "localhost:8000", None),
        ("http://h.example:80", "http", "h.example", 80, "h.example", "http://h.example"),
        ("http://h.example", "http", "h.example", 80, "h.example", None),
        ("http://h.example:443", "http", "h.example", 443, "h.example:443", None),
        ("https://h.example:80", "https", "h.example", 80, "h.example:80", None),
        ("https://h.example:8443", "https", "h.example", 8443, "h.example:8443", None),
        ("HTTPS://DynamoDB.Example.COM", "https", "dynamodb.example.com", 443, None, None),
        ("http://[::1]:8000", "http", "::1", 8000, "[::1]:8000", None),
        ("https://[2001:db8::1]", "https", "2001:db8::1", 443, "[2001:db8::1]", None),
        ("  http://localhost:8000  ", "http", "localhost", 8000, "localhost:8000", None),
        ("http://h.example:/", "http", "h.example", 80, "h.example", "http://h.example"),
        (
            "http://[::FFFF:127.0.0.1]:1",
            "http",
            "::ffff:127.0.0.1",
            1,
            "[::ffff:127.0.0.1]:1",
            None,
        ),
    ],
)
def test_endpoint_parse(
    url: str, scheme: str, host: str, port: int, host_header: Optional[str], normal: Optional[str]
) -> None:
    endpoint = Endpoint.parse(url)
    host_header = host_header or host
    assert endpoint == Endpoint(
        normal or f"{scheme}://{host_header}", scheme, host, port, host_header
    )


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("ftp://h.example", "https:// or http://"),
        ("localhost:8000", "https:// or http://"),
        ("h.example", "https:// or http://"),
        ("", "https:// or http://"),
        ("http://", "no host"),
        ("https://:443", "no host"),
        ("http://h.example:99999", "invalid endpoint URL"),
        ("http://h.example:port", "invalid endpoint URL"),
        ("http://h.example:-1", "invalid endpoint URL"),
        ("http://[::1:8000", "invalid endpoint URL"),
        ("http://[::1]8000", "invalid endpoint URL"),
        ("http://[h.example]:80", "invalid endpoint URL"),
        ("http://h.ex]ample", "invalid endpoint URL"),
        ("http://h.example/prefix", "path"),
        ("http://h.example/?a=1", "query"),
        ("http://h.example/#x", "fragment"),
        ("http://user:pw@h.example", "user"),
    ],
)
def test_endpoint_parse_refuses(url: str, complaint: str) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        Endpoint.parse(url)


@pytest.mark.parametrize(
    "url",
    ["http://user:hunter2@h.example", "ftp://user:hunter2@h", "http://u:hunter2@h:99999/x"],
)
def test_endpoint_error_does_not_echo_a_password(url: str) -> None:
    with pytest.raises(ConfigurationError, match="user or password") as caught:
        Endpoint.parse(url)
    assert "hunter2" not in str(caught.value)


def test_endpoint_parse_refuses_non_strings() -> None:
    with pytest.raises(ConfigurationError, match="must be a str"):
        Endpoint.parse(8000)  # type: ignore[arg-type]


def test_endpoint_is_frozen() -> None:
    with pytest.raises(AttributeError, match="frozen"):
        Endpoint.parse("http://localhost:8000").port = 1  # type: ignore[misc]


# --- resolve_region -----------------------------------------------------------------------


def test_region_precedence(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(aws_home, "[default]\nregion = sa-east-1\n")
    assert resolve_region() == "sa-east-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert resolve_region() == "eu-central-1"
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert resolve_region() == "eu-west-3"
    assert resolve_region("ap-south-1") == "ap-south-1"


def test_empty_region_values_are_skipped(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "")
    monkeypatch.setenv("AWS_DEFAULT_REGION", " us-west-2 ")
    assert resolve_region("") == "us-west-2"


def test_region_from_the_profile_in_aws_profile(
    aws_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        aws_home,
        """
        [default]
        region = us-east-2
        [profile work]
        region = ca-central-1
        """,
    )
    monkeypatch.setenv("AWS_PROFILE", "work")
    assert resolve_region() == "ca-central-1"


def test_no_region_anywhere(aws_home: Path) -> None:
    with pytest.raises(ConfigurationError, match="AWS_REGION"):
        resolve_region()
    write_config(aws_home, "[default]\noutput = json\n")
    with pytest.raises(ConfigurationError, match="region="):
        resolve_region()


def test_unknown_profile_is_a_configuration_error(
    aws_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(aws_home, "[default]\nregion = us-east-2\n")
    monkeypatch.setenv("AWS_PROFILE", "nope")
    with pytest.raises(ConfigurationError, match="nope"):
        resolve_region()


# --- resolve_endpoint ---------------------------------------------------------------------


def test_endpoint_default_is_the_regional_https_one(aws_home: Path) -> None:
    assert resolve_endpoint(None, "eu-west-1") == "https://dynamodb.eu-west-1.amazonaws.com"


def test_endpoint_precedence(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(aws_home, "[default]\nendpoint_url = http://config:1\n")
    assert resolve_endpoint(None, "us-east-1") == "http://config:1"
    monkeypatch.setenv("DDB_ENDPOINT", "http://ddb-endpoint:2")
    assert resolve_endpoint(None, "us-east-1") == "http://ddb-endpoint:2"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://global:3")
    assert resolve_endpoint(None, "us-east-1") == "http://global:3"
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://service:4")
    assert resolve_endpoint(None, "us-east-1") == "http://service:4"
    assert resolve_endpoint("http://explicit:5/", "us-east-1") == "http://explicit:5"


def test_empty_endpoint_values_are_skipped(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "  ")
    monkeypatch.setenv("DDB_ENDPOINT", "http://localhost:8000")
    assert resolve_endpoint("", "us-east-1") == "http://localhost:8000"


def test_ignore_configured_endpoint_urls(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(aws_home, "[default]\nendpoint_url = http://config:1\n")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://service:4")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://global:3")
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert resolve_endpoint(None, "us-east-1") == "https://dynamodb.us-east-1.amazonaws.com"
    monkeypatch.setenv("DDB_ENDPOINT", "http://ddb-endpoint:2")
    assert resolve_endpoint(None, "us-east-1") == "http://ddb-endpoint:2"
    assert resolve_endpoint("http://explicit:5", "us-east-1") == "http://explicit:5"


def test_ignore_configured_endpoint_urls_in_the_config_file(aws_home: Path) -> None:
    write_config(
        aws_home,
        "[default]\nendpoint_url = http://config:1\nignore_configured_endpoint_urls = true\n",
    )
    assert resolve_endpoint(None, "us-east-1") == "https://dynamodb.us-east-1.amazonaws.com"


def test_endpoint_from_a_services_section(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(
        aws_home,
        """
        [profile local]
        services = local-ddb
        endpoint_url = http://every-service:1
        [services local-ddb]
        dynamodb =
          endpoint_url = http://localhost:8000
        s3 =
          endpoint_url = http://localhost:9000
        [profile other]
        services = local-s3
        endpoint_url = http://every-service:1
        [services local-s3]
        s3 =
          endpoint_url = http://localhost:9000
        """,
    )
    monkeypatch.setenv("AWS_PROFILE", "local")
    assert resolve_endpoint(None, "us-east-1") == "http://localhost:8000"
    monkeypatch.setenv("AWS_PROFILE", "other")
    assert resolve_endpoint(None, "us-east-1") == "http://every-service:1"


def test_missing_services_section(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(aws_home, "[default]\nservices = gone\n")
    with pytest.raises(ConfigurationError, match="services gone"):
        resolve_endpoint(None, "us-east-1")


@pytest.mark.parametrize(
    "variable", ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL", "DDB_ENDPOINT"]
)
def test_invalid_endpoint_from_the_environment(
    aws_home: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "localhost:8000")
    with pytest.raises(ConfigurationError, match="http://"):
        resolve_endpoint(None, "us-east-1")


def test_invalid_explicit_endpoint(aws_home: Path) -> None:
    with pytest.raises(ConfigurationError, match="no host"):
        resolve_endpoint("https://", "us-east-1")


@pytest.mark.parametrize("region", ["", "us east 1", "us-east-1/x", "evil.com#"])
def test_default_endpoint_refuses_a_bad_region(aws_home: Path, region: str) -> None:
    with pytest.raises(ConfigurationError, match="region"):
        resolve_endpoint(None, region)


# --- max_attempts_from_env ----------------------------------------------------------------


def test_max_attempts_default(aws_home: Path) -> None:
    assert max_attempts_from_env() == 3
    assert max_attempts_from_env(7) == 7


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("5", 5), (" 10 ", 10), ("", 3)])
def test_max_attempts_from_env(
    aws_home: Path, monkeypatch: pytest.MonkeyPatch, text: str, value: int
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", text)
    assert max_attempts_from_env() == value


@pytest.mark.parametrize("text", ["0", "-1", "two", "2.5", "1e3"])
def test_invalid_max_attempts(aws_home: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", text)
    with pytest.raises(ConfigurationError, match="AWS_MAX_ATTEMPTS"):
        max_attempts_from_env()


# --- numeric options ----------------------------------------------------------------------

NOT_SECONDS = [0, 0.0, -1, -0.5, math.nan, math.inf, "5", None, True, [1]]
NOT_COUNTS = [0, -1, 2.5, "3", None, True, 1e3]


@pytest.mark.parametrize("value", NOT_SECONDS)
def test_positive_seconds_refuses(value: object) -> None:
    with pytest.raises(ConfigurationError, match="^read_timeout must be a number of seconds > 0"):
        positive_seconds("read_timeout", value)


@pytest.mark.parametrize("value", NOT_COUNTS)
def test_positive_count_refuses(value: object) -> None:
    with pytest.raises(ConfigurationError, match="^max_connections must be a whole number >= 1"):
        positive_count("max_connections", value)


def test_positive_values_pass() -> None:
    assert positive_seconds("t", 1) == 1.0 and isinstance(positive_seconds("t", 1), float)
    assert positive_seconds("t", 0.001) == 0.001
    assert positive_count("n", 1) == 1


@pytest.mark.parametrize(
    ("option", "value"),
    [
        *(
            (name, value)
            for name in ("connect_timeout", "read_timeout", "max_idle_time")
            for value in (0, -1, "10", math.nan)
        ),
        *((name, value) for name in ("max_connections", "retry") for value in (0, -2, 1.5, "3")),
    ],
)
def test_client_options_are_checked_at_construction(option: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=f"^{option} must be"):
        Client(
            endpoint_url="http://127.0.0.1:9",
            region="us-east-1",
            credentials=("AKID", "secret"),
            **{option: value},
        )


def test_client_hands_its_options_to_the_transport() -> None:
    for kind in ("native", "botocore"):
        with Client(
            endpoint_url="http://127.0.0.1:9",
            region="us-east-1",
            credentials=("AKID", "secret"),
            transport=kind,
            max_idle_time=7.5,
        ) as client:
            assert client.transport.max_idle_time == 7.5


# --- CA bundle ----------------------------------------------------------------------------


def test_ca_bundle_precedence(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    assert resolve_ca_bundle() is None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/requests.pem")
    assert resolve_ca_bundle() == ("/requests.pem", "REQUESTS_CA_BUNDLE")
    write_config(aws_home, "[default]\nca_bundle = /profile.pem\n")
    assert resolve_ca_bundle() == ("/profile.pem", "ca_bundle in the AWS config file")
    monkeypatch.setenv("AWS_CA_BUNDLE", "/aws.pem")
    assert resolve_ca_bundle() == ("/aws.pem", "AWS_CA_BUNDLE")


def test_ca_bundle_of_the_chosen_profile(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    write_config(aws_home, "[default]\n[profile corp]\nca_bundle = /corp.pem\n")
    assert resolve_ca_bundle() is None
    monkeypatch.setenv("AWS_PROFILE", "corp")
    assert resolve_ca_bundle() == ("/corp.pem", "ca_bundle in the AWS config file")


# --- cold start ---------------------------------------------------------------------------


def test_lambda_like_environment_never_imports_botocore(tmp_path: Path) -> None:
    """With credentials and region in the environment and no config file (Lambda), nothing
    of the wire building blocks imports botocore, boto3 or urllib3."""
    script = textwrap.dedent(
        """
        import sys
        from dynamore._config import Endpoint, max_attempts_from_env, resolve_endpoint
        from dynamore._config import resolve_region
        from dynamore._credentials import resolve_credentials
        from dynamore._retry import RetryPolicy
        from dynamore._signing import Signer

        region = resolve_region()
        endpoint = Endpoint.parse(resolve_endpoint(None, region))
        creds = resolve_credentials().get()
        headers = Signer(region, endpoint.host_header).headers("GetItem", b"{}", creds, 1e9)
        RetryPolicy(max_attempts=max_attempts_from_env())
        from dynamore._transports import make_transport  # resolves the CA bundle (https)
        make_transport(endpoint.url).close()
        assert headers["X-Amz-Security-Token"] == "token"
        loaded = sorted(
            m for m in sys.modules if m.split(".")[0] in ("botocore", "boto3", "urllib3")
        )
        print(endpoint.url, loaded)
        """
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") and key not in ("DDB_ENDPOINT", "BOTO_CONFIG")
    }
    env.update(
        AWS_ACCESS_KEY_ID="AKID",
        AWS_SECRET_ACCESS_KEY="secret",
        AWS_SESSION_TOKEN="token",
        AWS_REGION="eu-west-1",
        AWS_CONFIG_FILE=str(tmp_path / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "credentials"),
        PYTHONPATH=str(ROOT),
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "https://dynamodb.eu-west-1.amazonaws.com []"


def test_a_password_in_an_endpoint_is_never_echoed() -> None:
    from dynamore._config import Endpoint
    from dynamore.exceptions import ConfigurationError

    for url in ("http://user:s3cret@[::1:8000", "https://user:s3cret@dynamodb.example"):
        with pytest.raises(ConfigurationError) as info:
            Endpoint.parse(url)
        assert "s3cret" not in str(info.value)
