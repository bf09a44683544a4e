"""The local stack's token issuer (`util local up --auth jwt`): one key pair per stack, its JWKS served by the stack.

The private key lives in a file only the user can read, inside the stack's work directory (deleted on stop);
the state file names that path, so `util token` can mint tokens while the stack runs. Neither the key nor a
token is ever printed or logged by the stack. Tokens are ES256, with a `kid` derived from the public key.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from lambda_src.protocol.identity import BROADCAST_CLAIM, SEND_CLAIM

ISSUER_PATH = "/.issuer"
"""A path no stage can take (a stage name has no dot): the issuer shares the stack's origin."""
JWKS_PATH = f"{ISSUER_PATH}/.well-known/jwks.json"
OPENID_CONFIGURATION_PATH = f"{ISSUER_PATH}/.well-known/openid-configuration"
AUDIENCE = "wspush-local"
ALGORITHM = "ES256"
KEY_FILE_NAME = "issuer-key.pem"
KEY_FILE_MODE = 0o600


def key_id(public_key: Any) -> str:
    """A stable id of the key: the start of the SHA-256 of its DER encoding."""
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def write_private_key(path: Path, pem: bytes) -> None:
    """Create the key file readable by the user only (created with that mode: never readable by others)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)


class LocalIssuer:
    """Generates the stack's key pair, writes the private key to `key_path`, serves the public one as a JWKS."""

    def __init__(self, base_url: str, key_path: Path) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self.issuer = f"{base_url}{ISSUER_PATH}"
        self.jwks_url = f"{base_url}{JWKS_PATH}"
        self.audience = AUDIENCE
        self.key_path = key_path
        private = ec.generate_private_key(ec.SECP256R1())
        write_private_key(
            key_path,
            private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
        self._public = private.public_key()
        self.kid = key_id(self._public)

    def jwks(self) -> dict[str, Any]:
        from jwt.algorithms import ECAlgorithm

        jwk = ECAlgorithm.to_jwk(self._public, as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}]}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(JWKS_PATH, self._serve_jwks)
        app.router.add_get(OPENID_CONFIGURATION_PATH, self._serve_configuration)

    async def _serve_jwks(self, request: web.Request) -> web.Response:
        return web.json_response(self.jwks())

    async def _serve_configuration(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"issuer": self.issuer, "jwks_uri": self.jwks_url, "id_token_signing_alg_values_supported": [ALGORITHM]}
        )


def mint(
    private_key_pem: bytes,
    *,
    issuer: str,
    audience: str,
    subject: str,
    name: str | None,
    rooms: Sequence[str] | None,
    ttl_s: int,
    now_s: int | None = None,
    broadcast: bool | None = None,
    send: bool | None = None,
) -> str:
    """A token of the local issuer: `sub`, `name`, `rooms` and the grant claims `broadcast` and `send` as given (None
    leaves a claim out), valid from now for `ttl_s` seconds."""

    import jwt
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(private_key_pem, password=None)
    issued = int(time.time()) if now_s is None else now_s
    claims: dict[str, Any] = {"iss": issuer, "aud": audience, "sub": subject, "iat": issued, "exp": issued + ttl_s}
    if name is not None:
        claims["name"] = name
    if rooms is not None:
        claims["rooms"] = list(rooms)
    for claim, grant in ((BROADCAST_CLAIM, broadcast), (SEND_CLAIM, send)):
        if grant is not None:
            claims[claim] = grant
    return jwt.encode(claims, private, algorithm=ALGORITHM, headers={"kid": key_id(private.public_key())})  # type: ignore[arg-type]
