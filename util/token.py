"""`util token`: mint a token from the local stack's issuer (`util local up --auth jwt`), for `util connect --token`.

The token goes to stdout and nowhere else (it is a credential: no log line, no status line holds it); the private
key is read from the file the state file names and never printed. A deployed environment's tokens come from its
issuer (Cognito, Auth0, any OIDC provider): this command says so and exits non-zero.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Annotated

import typer

from lambda_src.config import AuthMode

from .environments import LOCAL_ENV, load_outputs
from .errors import InputError, UtilError
from .options import EnvOption, resolve_env

TTL_PATTERN = re.compile(r"(\d+)([smhd]?)")
TTL_UNITS_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TTL_S = 7 * 86400
SUBJECT_PATTERN = re.compile(r"[^\s]{1,128}")


def parse_ttl(text: str) -> int:
    """`90`, `90s`, `30m`, `1h`, `2d` -> seconds (at most a week)."""
    match = TTL_PATTERN.fullmatch(text.strip())
    if match is None:
        raise InputError(f"--ttl {text!r} is not a duration such as 90s, 30m, 1h or 2d")
    seconds = int(match.group(1)) * TTL_UNITS_S[match.group(2)]
    if not 0 < seconds <= MAX_TTL_S:
        raise InputError(f"--ttl must be more than 0 and at most {MAX_TTL_S // 86400} days")
    return seconds


def _private_key(path_text: str | None) -> bytes:
    if not path_text:
        raise UtilError("the local stack has no issuer: start it with `util local up --auth jwt`")
    path = Path(path_text)
    try:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            raise UtilError(f"the issuer's key file {path} is readable by others: refusing to use it")
        return path.read_bytes()
    except FileNotFoundError:
        raise UtilError("the local stack's issuer key is gone: is the stack still running (`util local up`)?") from None


def command(
    *,
    sub: Annotated[str, typer.Option("--sub", help="The user's id: the token's `sub`, the connection's principal.")],
    name: Annotated[str | None, typer.Option("--name", help="The display name (`name` claim).")] = None,
    room: Annotated[
        list[str] | None,
        typer.Option(
            "--room",
            help="A room (or pattern, like 'team-*') the user may join and broadcast to; repeat it. "
            "Without any, every room.",
        ),
    ] = None,
    broadcast: Annotated[
        bool | None,
        typer.Option(
            "--broadcast/--no-broadcast",
            help="Grant (or deny) a broadcast without a room, to everyone. Without either: granted unless --room "
            "is given.",
        ),
    ] = None,
    send: Annotated[
        bool | None,
        typer.Option(
            "--send/--no-send",
            help="Grant (or deny) direct messages (send) to other connections. Without either: granted unless "
            "--room is given.",
        ),
    ] = None,
    ttl: Annotated[str, typer.Option("--ttl", help="How long the token is valid: 90s, 30m, 1h, 2d.")] = "1h",
    env: EnvOption = None,
) -> None:
    """Mint a token from the local stack's issuer and print it, on stdout only, for `util connect --token`."""
    from lambda_src.errors import InvalidClaims
    from lambda_src.protocol.identity import room_patterns

    from .local.aws.issuer import mint

    chosen = resolve_env(env, None)
    if chosen != LOCAL_ENV:
        raise UtilError(
            f"environment {chosen!r} verifies tokens of its issuer (see `util outputs {chosen}`: jwt_issuer): "
            "get one from there; `util token` mints for the local stack only"
        )
    if not SUBJECT_PATTERN.fullmatch(sub):
        raise InputError("--sub must be 1 to 128 characters without spaces")
    try:
        rooms = room_patterns(room) if room else None
    except InvalidClaims as error:
        raise InputError(f"--room: {error}") from None
    seconds = parse_ttl(ttl)
    outputs = load_outputs(LOCAL_ENV)
    if outputs.get("auth_mode") != AuthMode.JWT:
        raise UtilError("the local stack does not verify tokens: restart it with `util local up --auth jwt`")
    key = _private_key(outputs.get("local_issuer_key"))
    token = mint(
        key,
        issuer=outputs.require("jwt_issuer"),
        audience=outputs.require("jwt_audience"),
        subject=sub,
        name=name,
        rooms=rooms,
        ttl_s=seconds,
        broadcast=broadcast,
        send=send,
    )
    typer.echo(token)
