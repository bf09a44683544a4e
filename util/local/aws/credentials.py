"""The local stack's own AWS credentials: generated at start, the only ones its Lambda API and `@connections` accept.

They live in the state file (0600) under `STATE_KEY`, beside the outputs but not among them, so `util outputs`
never shows them; the function gets them as Lambda gives a function its role's credentials (an `ASIA...` key,
a secret and a session token in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`). No repr, log
line or message carries the secret or the token. Stdlib only: `util.environments` imports this for every command.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

STATE_KEY = "local_credentials"
"""The state file's key for the credentials: not an output name, so the outputs contract never sees it."""
CONNECT_TOKEN_KEY = "local_connect_token"
"""The state file's key for `--token`, so `util connect -e local` can send it without the banner printing it."""
ACCESS_KEY_ID_FIELD = "aws_access_key_id"
SECRET_ACCESS_KEY_FIELD = "aws_secret_access_key"
SESSION_TOKEN_FIELD = "aws_session_token"
"""The state file's field names: those of `ClientCredentials` (a unit test holds them equal)."""
CHILD_VARIABLES = ("WSPUSH_LOCAL_ACCESS_KEY_ID", "WSPUSH_LOCAL_SECRET_ACCESS_KEY", "WSPUSH_LOCAL_SESSION_TOKEN")
"""Where the stack's children that check its credentials (the embedded moto) read them."""
ACCESS_KEY_PREFIX = "ASIA"
"""What AWS's temporary credentials (a Lambda function's) start with; never 12 digits, which moto would read as
an account id."""
_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_KEY_RANDOM_CHARS = 16
"""20 characters in all, as AWS's access key ids: 80 random bits (the id is not the secret)."""
SECRET_BYTES = 30
"""40 base64 characters, as AWS's secret access keys: 240 random bits."""
SESSION_TOKEN_BYTES = 48


class ClientCredentials(TypedDict):
    """Keyword arguments of `boto3.Session` and `boto3.client` (the names are botocore's)."""

    aws_access_key_id: str
    aws_secret_access_key: str
    aws_session_token: str


@dataclass(frozen=True)
class LocalCredentials:
    """One stack's credentials. `repr` shows the access key id only."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)

    @classmethod
    def generate(cls) -> LocalCredentials:
        key_id = ACCESS_KEY_PREFIX + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(_KEY_RANDOM_CHARS))
        return cls(key_id, secrets.token_urlsafe(SECRET_BYTES), secrets.token_urlsafe(SESSION_TOKEN_BYTES))

    def client_kwargs(self) -> ClientCredentials:
        """For `boto3.Session(**...)` or `boto3.client(..., **...)`."""
        return ClientCredentials(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
        )

    def function_environment(self) -> dict[str, str]:
        """The variables Lambda sets for a function's credentials (botocore's credential chain reads them)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }

    def child_environment(self) -> dict[str, str]:
        """The variables a child of the stack finds them in (`CHILD_VARIABLES`): never its argv, which every
        local user can read in `ps`; not `AWS_*`, which would make them the child's own for any AWS call."""
        return dict(zip(CHILD_VARIABLES, (self.access_key_id, self.secret_access_key, self.session_token), strict=True))

    @classmethod
    def from_child_environment(cls, environment: Mapping[str, str]) -> LocalCredentials | None:
        """What `child_environment` passed, or None if a variable is missing or empty."""
        key_id, secret, token = (environment.get(name, "") for name in CHILD_VARIABLES)
        return cls(key_id, secret, token) if key_id and secret and token else None

    def to_state(self) -> dict[str, str]:
        return {
            ACCESS_KEY_ID_FIELD: self.access_key_id,
            SECRET_ACCESS_KEY_FIELD: self.secret_access_key,
            SESSION_TOKEN_FIELD: self.session_token,
        }

    @classmethod
    def from_state(cls, value: Any) -> LocalCredentials | None:
        """The credentials stored in a state file's `STATE_KEY`, or None if absent or not well formed."""
        if not isinstance(value, Mapping):
            return None
        fields = [value.get(name) for name in (ACCESS_KEY_ID_FIELD, SECRET_ACCESS_KEY_FIELD, SESSION_TOKEN_FIELD)]
        if not all(isinstance(item, str) and item for item in fields):
            return None
        key_id, secret, token = fields
        assert isinstance(key_id, str) and isinstance(secret, str) and isinstance(token, str)
        return cls(key_id, secret, token)


FAKE_ACCESS_KEY_ID = "test"
FAKE_SECRET_ACCESS_KEY = "test"
FAKE_SESSION_TOKEN = "test"
"""A worker's credentials where no stack gives it its own (the runtime alone, in tests): never the user's real
keys. A stack's Lambda API, `@connections` and moto accept only its generated `LocalCredentials`."""
