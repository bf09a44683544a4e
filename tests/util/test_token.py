"""`util token`: mints from the local stack's issuer, prints only the token, refuses elsewhere in one line."""

from __future__ import annotations

import os
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from util.local.aws.issuer import KEY_FILE_MODE, key_id, write_private_key
from util.token import parse_ttl

from .conftest import StateWriter, UtilRunner, assert_one_line_error

ISSUER = "http://127.0.0.1:3001/.issuer"


def issuer_state(tmp_path: Path, write_state: StateWriter, mode: int = KEY_FILE_MODE) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "issuer-key.pem"
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_private_key(path, pem)
    os.chmod(path, mode)
    write_state(
        {
            "auth_mode": "jwt",
            "jwt_issuer": ISSUER,
            "jwt_audience": "wspush-local",
            "local_issuer_key": str(path),
        }
    )
    return key


def test_util_token_prints_one_verifiable_token_and_nothing_else(
    util: UtilRunner, tmp_path: Path, write_state: StateWriter
) -> None:
    key = issuer_state(tmp_path, write_state)
    result = util("token", "--sub", "alice", "--name", "Alice", "--room", "team-*", "--room", "lobby", "--ttl", "2h")

    assert result.code == 0, result
    assert result.stderr == ""
    (token,) = result.stdout.split()
    claims = jwt.decode(token, key.public_key(), algorithms=["ES256"], audience="wspush-local", issuer=ISSUER)
    assert claims["sub"] == "alice" and claims["name"] == "Alice" and claims["rooms"] == ["team-*", "lobby"]
    assert claims["exp"] - claims["iat"] == 7200
    assert jwt.get_unverified_header(token)["kid"] == key_id(key.public_key())
    assert "PRIVATE" not in result.stdout
    assert "broadcast" not in claims and "send" not in claims, "no grant flag: no grant claim (the default decides)"


def test_util_token_grant_flags_set_the_broadcast_and_send_claims(
    util: UtilRunner, tmp_path: Path, write_state: StateWriter
) -> None:
    key = issuer_state(tmp_path, write_state)

    def claims_of(*flags: str) -> dict[str, object]:
        result = util("token", "--sub", "alice", "--room", "lobby", *flags)
        assert result.code == 0, result
        (token,) = result.stdout.split()
        decoded: dict[str, object] = jwt.decode(token, key.public_key(), algorithms=["ES256"], audience="wspush-local")
        return decoded

    granted = claims_of("--broadcast", "--send")
    denied = claims_of("--no-broadcast", "--no-send")
    assert (granted["broadcast"], granted["send"]) == (True, True)
    assert (denied["broadcast"], denied["send"]) == (False, False)


def test_util_token_refuses_a_key_file_others_can_read(
    util: UtilRunner, tmp_path: Path, write_state: StateWriter
) -> None:
    issuer_state(tmp_path, write_state, mode=0o644)
    assert_one_line_error(util("token", "--sub", "alice"), "readable by others")


def test_util_token_for_a_deployed_environment_says_tokens_come_from_its_issuer(util: UtilRunner) -> None:
    result = util("token", "--sub", "alice", "--env", "dev")
    assert_one_line_error(result, "issuer", code=1)


def test_util_token_without_a_jwt_stack_says_how_to_start_one(util: UtilRunner, write_state: StateWriter) -> None:
    write_state({"auth_mode": "none", "jwt_issuer": None})
    assert_one_line_error(util("token", "--sub", "alice"), "util local up --auth jwt")


def test_ttls_parse_in_seconds_minutes_hours_days_and_are_bounded() -> None:
    assert [parse_ttl(t) for t in ("90", "90s", "30m", "1h", "2d")] == [90, 90, 1800, 3600, 172800]
    for bad in ("0", "8d", "1w", "-1h", "soon"):
        try:
            parse_ttl(bad)
        except Exception as error:
            assert "--ttl" in str(error)
        else:
            raise AssertionError(bad)


def test_the_local_stacks_banner_never_shows_the_token() -> None:
    from pathlib import Path

    from util.local.cli import banner as stack_banner
    from util.local.settings import StackSettings
    from util.local.state import StackRecord

    secret = "s3cret-token-value-0123"
    outputs = {
        "websocket_url": "ws://127.0.0.1:1/live",
        "connections_url": "http://127.0.0.1:1/live",
        "aws_endpoint_url": "http://127.0.0.1:2",
        "web_url": "http://127.0.0.1:1/",
    }
    record = StackRecord(pid=1, port=1, host="127.0.0.1", outputs=outputs)
    banner = stack_banner(outputs, StackSettings(token=secret), record, Path("state.json"), True)
    assert secret not in banner and "token=<your token>" in banner
