"""The lean `@connections` client: SigV4 as API Gateway checks it, and botocore's standard retry policy."""

from __future__ import annotations

from botocore.credentials import Credentials

from lambda_src.aws.management_api import MAX_ATTEMPTS, SignedPoster
from lambda_src.aws.posting import Outcome, PostResult
from tests.conftest import free_port

from .connections_server import ConnectionsServer

TEST_CREDENTIALS = Credentials("test", "test")


def _poster(url: str, credentials: Credentials = TEST_CREDENTIALS) -> SignedPoster:
    return SignedPoster(url, credentials, "us-east-1", sleep=lambda _: None)


def test_signature_survives_ids_that_need_encoding(connections_server: ConnectionsServer) -> None:
    odd = "L0S/9cO+vHcCIhw="

    assert _poster(connections_server.url).post(odd, b"hi") == PostResult(Outcome.DELIVERED)
    assert connections_server.frames(odd) == ["hi"]


def test_wrong_secret_is_refused_and_not_retried(connections_server: ConnectionsServer) -> None:
    result = _poster(connections_server.url, Credentials("test", "wrong")).post("a", b"hi")

    assert result == PostResult(Outcome.FAILED, "ForbiddenException")
    assert connections_server.posts == []


def test_gone_is_reported_without_retry(connections_server: ConnectionsServer) -> None:
    connections_server.gone = {"a"}

    assert _poster(connections_server.url).post("a", b"hi") == PostResult(Outcome.GONE)
    assert connections_server.attempts["a"] == 1


def test_server_errors_are_retried_up_to_the_attempt_limit(connections_server: ConnectionsServer) -> None:
    connections_server.scripted = {"a": [500] * MAX_ATTEMPTS, "b": [503, 500]}
    poster = _poster(connections_server.url)

    assert poster.post("a", b"hi") == PostResult(Outcome.FAILED, "InternalServerErrorException")
    assert connections_server.attempts["a"] == MAX_ATTEMPTS
    assert poster.post("b", b"hi") == PostResult(Outcome.DELIVERED)
    assert connections_server.attempts["b"] == 3


def test_refused_connection_fails_after_retries() -> None:
    result = _poster(f"http://127.0.0.1:{free_port()}/test").post("a", b"hi")

    assert result.outcome is Outcome.FAILED
    assert result.error == "ConnectionRefusedError"
