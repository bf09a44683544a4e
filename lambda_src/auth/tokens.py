"""Verifying a JWT: signature against the issuer's JWKS, then `iss`, `aud`, `exp`, `nbf` and `iat` with a leeway.

PyJWT (with `cryptography`) does the cryptography; it is imported on first use, so only the authorizer's
invocations pay for loading it, never a MESSAGE event's cold start. Only asymmetric algorithms are accepted:
`none` would need no key, and an HS* token would be checked against a public key used as an HMAC secret.
Every refusal is an `InvalidToken` whose reason is safe to log: it never holds the token or a key.
"""

from __future__ import annotations

from typing import Any

from lambda_src.auth.jwks import JwksCache
from lambda_src.config import JwtSettings
from lambda_src.errors import InvalidToken, JwksError

ACCEPTED_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
MAX_TOKEN_CHARS = 8192
"""API Gateway limits a request line to about 8 KB anyway; longer input is not worth parsing."""
REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")


class TokenVerifier:
    """Verifies tokens of one issuer; holds that issuer's key cache for the life of the execution environment."""

    def __init__(self, settings: JwtSettings, keys: JwksCache | None = None) -> None:
        self.settings = settings
        self.keys = keys or JwksCache(settings.jwks_url)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or `InvalidToken`."""
        import jwt

        if not token or len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("the token is empty or too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("the token is not a JWT") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ACCEPTED_ALGORITHMS:
            raise InvalidToken(f"algorithm {str(algorithm)[:16]!r} is not accepted")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("the token names no key (kid)")
        try:
            signing = self.keys.key(kid)
        except JwksError as error:
            raise InvalidToken(str(error)) from None
        if signing.declared_algorithm not in (None, algorithm):
            raise InvalidToken(f"key {kid[:64]!r} is for {signing.declared_algorithm}, not {algorithm}")
        settings = self.settings
        try:
            return jwt.decode(
                token,
                key=signing.key.key,
                algorithms=[str(algorithm)],
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=settings.leeway_s,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("the token is from another issuer") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("the token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as error:
            raise InvalidToken(f"the token has no {error.claim!r} claim") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            # InvalidKeyError (an EC token against an RSA key), a malformed payload, ...
            raise InvalidToken("the token is malformed or does not match its key") from None
