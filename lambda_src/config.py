"""The Lambda's configuration: environment variables only, read in one place.

- `CONNECTION_STORE` (default `s3`): which connection store, `s3` or `dynamodb` (`store.open.StoreKind`).
- `CONNECTIONS_BUCKET` (required with `s3`): the S3 bucket of the connection store.
- `CONNECTIONS_TABLE` (required with `dynamodb`): the DynamoDB table of the connection store.
- `CONNECTIONS_URL` (required): the `@connections` endpoint,
  `https://{api_id}.execute-api.{region}.amazonaws.com/{stage}` on AWS, `http://127.0.0.1:PORT/STAGE` locally.
- `AUTH_MODE` (default none): who may connect. `none`: anyone. `token`: a client passes `?token=` equal to the
  shared secret kept in the SSM Parameter Store (SecureString) named by `CONNECT_TOKEN_PARAMETER`, read once per
  execution environment (never from this environment). `jwt`: API Gateway's REQUEST authorizer on `$connect` (this
  same function, see `authorizer`) verifies a signed token; the identity then travels in every event.
- `CONNECT_TOKEN_PARAMETER` (token mode): the SSM parameter's name.
- `JWT_ISSUER`, `JWT_AUDIENCE` (jwt mode, required): the token's expected `iss` and `aud`.
- `JWT_JWKS_URL` (jwt mode, default `{JWT_ISSUER}/.well-known/jwks.json`): the issuer's signing keys; https, or
  http on a loopback address (the local stack).
- `JWT_LEEWAY_S` (default 30, 0 to 300): clock skew allowed on `exp`, `nbf` and `iat`.
- `JWT_NAME_CLAIM` (default `name`): the claim holding the display name (`sub` when it is absent).
- `JWT_ROOMS_CLAIM` (default `rooms`): the claim listing the room patterns a user may join and broadcast to.
- `FANOUT_CONCURRENCY` (default 64, 1 to 512): posts in flight at once during a fan-out.
- `LOG_LEVEL` (default INFO): DEBUG, INFO, WARNING or ERROR.
- `MESSAGE_RATE_PER_S` (default 5, 0 to 1000; 0 turns the limit off) and `MESSAGE_BURST` (default 20, 1 to 10000):
  each connection may send this many messages a second on average and this many at once (a token bucket per
  connection, kept in the connection store, see `rate_limit`); a message past it is refused with `rate_limited`.
  Why these defaults: a person in a chat sends well under one message a second, and a client starting up sends a
  `whoami` and a few `join`s at once; 5 a second with bursts of 20 leaves that untouched while one connection can
  no longer make a `broadcast` to N recipients N posts at any rate it likes. Each admitted message costs one store
  read and one conditional write (docs/deploy.md has the cost).
- `FANOUT_BUDGET_PER_S` (default 1000, 0 to 100000; 0 turns it off): the posts a second one connection, and with an
  identity one user (all its connections together), may cause by its messages (a broadcast's recipients, a `send`'s
  one, a `join`'s or `leave`'s presence frames), in bursts of one second's worth; a message past it is refused with
  `rate_limited` before anything is posted. A full budget admits any one fan-out, however large, and then stays in
  debt for its size over the rate (see `rate_limit`). Why 1000: a tenth of the account's `@connections` quota
  (10,000 a second for every API in the Region), so one sender alone cannot take it, and at $1 per million
  messages at most $0.001 a second ($3.60 an hour) of messages per sender; a chat of 100 at the message rate (5 a
  second) needs 500 (docs/deploy.md, "The cost of a broadcast").
- `MAX_ROOMS_PER_CONNECTION` (default 50, 1 to 1000): rooms one connection may be in at once; a `join` past it is
  refused with `too_many_rooms` (the record read on every message grows with each room).
- `SHARD_SIZE` (default 1000, 0 turns sharding off): a fan-out to more recipients than this is split into shards
  of at most this many, each posted by its own asynchronous invocation of this function; a broadcast to everyone
  splits the store's listing too, one invocation per store segment of about 80% of this many (`segments`).
- `HISTORY_SIZE` (default 100, 0 turns history off, at most 1000): the newest this-many messages of a room are
  readable with `history`.
- `HISTORY_RETENTION_HOURS` (default 24, 1 to 720): a message leaves its room's history this long after it was sent
  (reads hold to it exactly; the store's own expiry, S3's lifecycle rule in whole days or DynamoDB's TTL, deletes it).
- `HISTORY_PAGE_LIMIT` (default 100, 1 to 1000): the most messages one `history` reply carries (the cap on `limit`).
- `PRESENCE_MAX_MEMBERS` (default 100, 0 to 100000): above this many members a room's presence frames carry only the
  member count, not the member (presence fan-out grows with the square of the room).
- `AWS_LAMBDA_FUNCTION_NAME` (set by Lambda itself): the function that shard and continuation invocations go to.

Endpoints of S3, DynamoDB and the other services come from boto3's own variables (`AWS_ENDPOINT_URL`,
`AWS_ENDPOINT_URL_S3`, ...), so the same code runs on AWS, in the local stack and in tests.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from lambda_src.errors import ConfigError
from lambda_src.store.open import StoreKind
from lambda_src.store.rate_limit import RateLimit

DEFAULT_FANOUT_CONCURRENCY = 64
DEFAULT_SHARD_SIZE = 1000
DEFAULT_MAX_ROOMS_PER_CONNECTION = 50
DEFAULT_MESSAGE_RATE_PER_S = 5.0
MAX_MESSAGE_RATE_PER_S = 1000.0
DEFAULT_MESSAGE_BURST = 20
MAX_MESSAGE_BURST = 10_000
DEFAULT_MESSAGE_RATE = RateLimit(DEFAULT_MESSAGE_RATE_PER_S, DEFAULT_MESSAGE_BURST)
DEFAULT_FANOUT_BUDGET_PER_S = 1000.0
MAX_FANOUT_BUDGET_PER_S = 100_000.0
FANOUT_BUDGET_BURST_S = 1.0
"""The budget's burst is this many seconds of its rate."""


def fanout_budget(posts_per_s: float) -> RateLimit | None:
    """The fan-out budget of `FANOUT_BUDGET_PER_S`: None (off) at 0, else bursts of `FANOUT_BUDGET_BURST_S` of it."""
    if posts_per_s <= 0:
        return None
    return RateLimit(posts_per_s, max(1, math.ceil(posts_per_s * FANOUT_BUDGET_BURST_S)))


DEFAULT_FANOUT_BUDGET = fanout_budget(DEFAULT_FANOUT_BUDGET_PER_S)
MAX_MAX_ROOMS_PER_CONNECTION = 1000
MAX_SHARD_SIZE = 100_000
MAX_FANOUT_CONCURRENCY = 512
DEFAULT_HISTORY_SIZE = 100
MAX_HISTORY_SIZE = 1000
DEFAULT_HISTORY_RETENTION_HOURS = 24
MAX_HISTORY_RETENTION_HOURS = 720
DEFAULT_HISTORY_PAGE_LIMIT = 100
MAX_HISTORY_PAGE_LIMIT = 1000
DEFAULT_PRESENCE_MAX_MEMBERS = 100
MAX_PRESENCE_MAX_MEMBERS = 100_000
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class AuthMode(StrEnum):
    """Values of `AUTH_MODE`: who may connect (the module's docstring says how each mode checks)."""

    NONE = "none"
    TOKEN = "token"
    JWT = "jwt"


DEFAULT_JWT_LEEWAY_S = 30
MAX_JWT_LEEWAY_S = 300
JWKS_WELL_KNOWN_PATH = "/.well-known/jwks.json"
CONNECT_TOKEN_PLACEHOLDER = "placeholder: set the connect token with aws ssm put-parameter --overwrite"
"""Terraform's initial value of the connect token parameter (deployment/auth.tf): a function reading it fails."""
STORE_VARIABLE = "CONNECTION_STORE"
STORE_NAME_VARIABLES = {StoreKind.S3: "CONNECTIONS_BUCKET", StoreKind.DYNAMODB: "CONNECTIONS_TABLE"}
"""The variable naming the store's bucket or table, by store kind."""


@dataclass(frozen=True)
class JwtSettings:
    """What a token must satisfy in `jwt` mode, and which claims carry the name and the rooms."""

    issuer: str
    audience: str
    jwks_url: str
    leeway_s: int = DEFAULT_JWT_LEEWAY_S
    name_claim: str = "name"
    rooms_claim: str = "rooms"


@dataclass(frozen=True)
class Config:
    """Everything the handler reads from its environment."""

    connections_bucket: str
    """The S3 store's bucket; empty when the store is DynamoDB."""
    connections_url: str
    connect_token: str | None = None
    """The shared secret of `token` mode, once read from `connect_token_parameter` (see `services`)."""
    fanout_concurrency: int = DEFAULT_FANOUT_CONCURRENCY
    log_level: str = "INFO"
    shard_size: int = DEFAULT_SHARD_SIZE
    function_name: str | None = None
    max_rooms_per_connection: int = DEFAULT_MAX_ROOMS_PER_CONNECTION
    auth_mode: AuthMode = AuthMode.NONE
    connect_token_parameter: str | None = None
    jwt: JwtSettings | None = None
    connection_store: StoreKind = StoreKind.S3
    connections_table: str = ""
    """The DynamoDB store's table; empty when the store is S3."""
    history_size: int = DEFAULT_HISTORY_SIZE
    history_retention_hours: int = DEFAULT_HISTORY_RETENTION_HOURS
    history_page_limit: int = DEFAULT_HISTORY_PAGE_LIMIT
    presence_max_members: int = DEFAULT_PRESENCE_MAX_MEMBERS
    message_rate: RateLimit | None = DEFAULT_MESSAGE_RATE
    """Each connection's message rate limit; None when `MESSAGE_RATE_PER_S` is 0 (no limit)."""
    fanout_budget: RateLimit | None = DEFAULT_FANOUT_BUDGET
    """Posts each connection (and user) may cause; None when `FANOUT_BUDGET_PER_S` is 0 (no budget)."""

    @property
    def store_name(self) -> str:
        """The bucket or table of the chosen store."""
        return self.connections_table if self.connection_store == StoreKind.DYNAMODB else self.connections_bucket

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read the configuration; raises `ConfigError` naming the variable that is wrong."""
        env = os.environ if env is None else env
        raw_store = env.get(STORE_VARIABLE, "").strip().lower() or StoreKind.S3
        if raw_store not in tuple(StoreKind):
            raise ConfigError(f"{STORE_VARIABLE} must be one of {', '.join(StoreKind)}, not {raw_store!r}")
        store = StoreKind(raw_store)
        names = {kind: env.get(variable, "").strip() for kind, variable in STORE_NAME_VARIABLES.items()}
        if not names[store]:
            raise ConfigError(f"{STORE_NAME_VARIABLES[store]} is not set ({STORE_VARIABLE} is {store})")
        url = env.get("CONNECTIONS_URL", "").strip().rstrip("/")
        if not url.startswith(("https://", "http://")):
            raise ConfigError("CONNECTIONS_URL must be the http(s) URL of the @connections endpoint")
        concurrency = _int_var(env, "FANOUT_CONCURRENCY", DEFAULT_FANOUT_CONCURRENCY, 1, MAX_FANOUT_CONCURRENCY)
        shard_size = _int_var(env, "SHARD_SIZE", DEFAULT_SHARD_SIZE, 0, MAX_SHARD_SIZE)
        max_rooms = _int_var(
            env, "MAX_ROOMS_PER_CONNECTION", DEFAULT_MAX_ROOMS_PER_CONNECTION, 1, MAX_MAX_ROOMS_PER_CONNECTION
        )
        level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        mode, parameter, jwt = _auth(env)
        history_size = _int_var(env, "HISTORY_SIZE", DEFAULT_HISTORY_SIZE, 0, MAX_HISTORY_SIZE)
        retention = _int_var(
            env, "HISTORY_RETENTION_HOURS", DEFAULT_HISTORY_RETENTION_HOURS, 1, MAX_HISTORY_RETENTION_HOURS
        )
        page_limit = _int_var(env, "HISTORY_PAGE_LIMIT", DEFAULT_HISTORY_PAGE_LIMIT, 1, MAX_HISTORY_PAGE_LIMIT)
        presence_max = _int_var(env, "PRESENCE_MAX_MEMBERS", DEFAULT_PRESENCE_MAX_MEMBERS, 0, MAX_PRESENCE_MAX_MEMBERS)
        rate = _float_var(env, "MESSAGE_RATE_PER_S", DEFAULT_MESSAGE_RATE_PER_S, 0.0, MAX_MESSAGE_RATE_PER_S)
        burst = _int_var(env, "MESSAGE_BURST", DEFAULT_MESSAGE_BURST, 1, MAX_MESSAGE_BURST)
        budget = _float_var(env, "FANOUT_BUDGET_PER_S", DEFAULT_FANOUT_BUDGET_PER_S, 0.0, MAX_FANOUT_BUDGET_PER_S)
        return cls(
            connections_bucket=names[StoreKind.S3] if store == StoreKind.S3 else "",
            connections_url=url,
            fanout_concurrency=concurrency,
            log_level=level,
            shard_size=shard_size,
            function_name=env.get("AWS_LAMBDA_FUNCTION_NAME") or None,
            max_rooms_per_connection=max_rooms,
            auth_mode=mode,
            connect_token_parameter=parameter,
            jwt=jwt,
            connection_store=store,
            connections_table=names[StoreKind.DYNAMODB] if store == StoreKind.DYNAMODB else "",
            history_size=history_size,
            history_retention_hours=retention,
            history_page_limit=page_limit,
            presence_max_members=presence_max,
            message_rate=RateLimit(rate, burst) if rate > 0 else None,
            fanout_budget=fanout_budget(budget),
        )


def _int_var(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}")
    return value


def _float_var(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip() or str(default)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if not low <= value <= high:  # also refuses nan, which compares false
        raise ConfigError(f"{name} must be between {low:g} and {high:g}")
    return value


def _auth(env: Mapping[str, str]) -> tuple[AuthMode, str | None, JwtSettings | None]:
    raw = env.get("AUTH_MODE", "").strip().lower() or AuthMode.NONE
    if raw not in tuple(AuthMode):
        raise ConfigError(f"AUTH_MODE must be one of {', '.join(AuthMode)}")
    mode = AuthMode(raw)
    if mode == AuthMode.TOKEN:
        parameter = env.get("CONNECT_TOKEN_PARAMETER", "").strip()
        if not parameter:
            raise ConfigError("AUTH_MODE=token needs CONNECT_TOKEN_PARAMETER (the SSM parameter holding the token)")
        return mode, parameter, None
    if mode == AuthMode.JWT:
        issuer = env.get("JWT_ISSUER", "").strip()  # exactly as tokens carry it: Auth0's ends in '/'

        audience = env.get("JWT_AUDIENCE", "").strip()
        if not issuer or not audience:
            raise ConfigError("AUTH_MODE=jwt needs JWT_ISSUER and JWT_AUDIENCE")
        jwks_url = env.get("JWT_JWKS_URL", "").strip() or issuer.rstrip("/") + JWKS_WELL_KNOWN_PATH
        if not _safe_url(jwks_url):
            raise ConfigError("JWT_JWKS_URL must be an https URL (http only on a loopback address)")
        settings = JwtSettings(
            issuer=issuer,
            audience=audience,
            jwks_url=jwks_url,
            leeway_s=_int_var(env, "JWT_LEEWAY_S", DEFAULT_JWT_LEEWAY_S, 0, MAX_JWT_LEEWAY_S),
            name_claim=env.get("JWT_NAME_CLAIM", "").strip() or "name",
            rooms_claim=env.get("JWT_ROOMS_CLAIM", "").strip() or "rooms",
        )
        return mode, None, settings
    return mode, None, None


def _safe_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return parts.hostname == "localhost"
