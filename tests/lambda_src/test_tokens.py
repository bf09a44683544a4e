"""The JWT verifier and the JWKS cache, with real keys generated here (RS256 and ES256) and real PyJWT."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from lambda_src.auth.jwks import JwksCache
from lambda_src.auth.tokens import TokenVerifier
from lambda_src.config import JwtSettings
from lambda_src.errors import InvalidToken, JwksUnavailable, UnknownKey

ISSUER = "https://issuer.example"
AUDIENCE = "wspush-test"
SETTINGS = JwtSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url=f"{ISSUER}/.well-known/jwks.json", leeway_s=30)
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: Any, kid: str, alg: str | None = None) -> dict[str, Any]:
    algorithm = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
    jwk: dict[str, Any] = algorithm.to_jwk(key.public_key(), as_dict=True)
    jwk |= {"kid": kid, "use": "sig"}
    if alg is not None:
        jwk["alg"] = alg
    return jwk


class Issuer:
    """A JWKS served from memory; counts how often it is fetched."""

    def __init__(self, *keys: dict[str, Any]) -> None:
        self.document: dict[str, Any] = {"keys": list(keys)}
        self.fetches = 0
        self.fail = False

    def fetch(self, url: str) -> Mapping[str, Any]:
        self.fetches += 1
        if self.fail:
            raise JwksUnavailable("issuer down")
        copy: dict[str, Any] = json.loads(json.dumps(self.document))
        return copy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300}
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def verifier(issuer: Issuer, clock: Clock | None = None) -> TokenVerifier:
    cache = JwksCache(SETTINGS.jwks_url, fetch=issuer.fetch, clock=clock or Clock(), min_refetch_interval_s=60)
    return TokenVerifier(SETTINGS, cache)


def test_rs256_and_es256_tokens_verify_and_give_their_claims() -> None:
    issuer = Issuer(public_jwk(RSA_KEY, "rsa-1"), public_jwk(EC_KEY, "ec-1"))
    check = verifier(issuer)

    rs = jwt.encode(claims(name="Alice"), RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1"})
    es = jwt.encode(claims(sub="bob"), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})

    assert check.verify(rs)["name"] == "Alice"
    assert check.verify(es)["sub"] == "bob"
    assert issuer.fetches == 1, "the keys are cached while warm"


@pytest.mark.parametrize(
    ("label", "token_claims", "reason"),
    [
        # Times are offsets from the moment the token is made: collection may run minutes earlier.
        ("expired past the leeway", {"exp": -31}, "the token has expired"),
        ("not valid yet", {"nbf": 120}, "the token is not valid yet"),
        ("another audience", {"aud": "someone-else"}, "the token is for another audience"),
        ("another issuer", {"iss": "https://evil.example"}, "the token is from another issuer"),
        ("no sub", {"sub": None}, "the token has no 'sub' claim"),
        ("no exp", {"exp": None}, "the token has no 'exp' claim"),
    ],
)
def test_claims_outside_the_rules_are_refused(label: str, token_claims: dict[str, Any], reason: str) -> None:
    now = int(time.time())
    token_claims = {k: now + v if k in ("exp", "nbf") and v is not None else v for k, v in token_claims.items()}
    token = jwt.encode(claims(**token_claims), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})
    with pytest.raises(InvalidToken) as refused:
        verifier(Issuer(public_jwk(EC_KEY, "ec-1"))).verify(token)
    assert refused.value.reason == reason, label


def test_expiry_within_the_leeway_is_accepted() -> None:
    token = jwt.encode(claims(exp=int(time.time()) - 10), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})
    assert verifier(Issuer(public_jwk(EC_KEY, "ec-1"))).verify(token)["sub"] == "alice"


def test_alg_none_and_hs256_signed_with_the_public_key_are_refused() -> None:
    issuer = Issuer(public_jwk(RSA_KEY, "rsa-1"))
    check = verifier(issuer)
    unsigned = jwt.encode(claims(), "", algorithm="none", headers={"kid": "rsa-1"})
    # The classic confusion attack: HMAC keyed with the issuer's public key, which anyone can read.
    hs = _hs256(claims(), RSA_KEY.public_key(), kid="rsa-1")

    for token, reason in ((unsigned, "algorithm 'none' is not accepted"), (hs, "algorithm 'HS256' is not accepted")):
        with pytest.raises(InvalidToken) as refused:
            check.verify(token)
        assert refused.value.reason == reason


def _hs256(payload: dict[str, Any], public_key: Any, kid: str) -> str:
    import base64
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    secret = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode()) + "."
    signing_input += part(json.dumps(payload).encode())
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


def test_a_wrong_signature_under_a_known_kid_is_refused() -> None:
    impostor = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(claims(), impostor, algorithm="ES256", headers={"kid": "ec-1"})
    with pytest.raises(InvalidToken) as refused:
        verifier(Issuer(public_jwk(EC_KEY, "ec-1"))).verify(token)
    assert refused.value.reason == "the token's signature does not verify"


def test_a_token_whose_alg_differs_from_the_keys_declared_alg_is_refused() -> None:
    token = jwt.encode(claims(), RSA_KEY, algorithm="RS512", headers={"kid": "rsa-1"})
    with pytest.raises(InvalidToken) as refused:
        verifier(Issuer(public_jwk(RSA_KEY, "rsa-1", alg="RS256"))).verify(token)
    assert refused.value.reason == "key 'rsa-1' is for RS256, not RS512"


def test_symmetric_keys_in_the_jwks_are_never_used() -> None:
    issuer = Issuer({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"})
    with pytest.raises(UnknownKey):
        JwksCache("u", fetch=issuer.fetch).key("hmac")


def test_an_unknown_kid_refetches_once_per_interval_not_per_token() -> None:
    clock = Clock()
    issuer = Issuer(public_jwk(EC_KEY, "ec-1"))
    check = verifier(issuer, clock)
    for attempt in range(20):
        stranger = jwt.encode(claims(), EC_KEY, algorithm="ES256", headers={"kid": f"random-{attempt}"})
        with pytest.raises(InvalidToken):
            check.verify(stranger)
    assert issuer.fetches == 1, "20 unknown kids within the interval: no refetch beyond the first fetch"

    # The issuer rotates to a new key: found once the interval has passed.
    rotated = ec.generate_private_key(ec.SECP256R1())
    issuer.document["keys"].append(public_jwk(rotated, "ec-2"))
    token = jwt.encode(claims(), rotated, algorithm="ES256", headers={"kid": "ec-2"})
    clock.now += 61
    assert check.verify(token)["sub"] == "alice"
    assert issuer.fetches == 2


def test_an_unreachable_issuer_is_not_retried_on_every_connect_and_cached_keys_keep_working() -> None:
    clock = Clock()
    issuer = Issuer(public_jwk(EC_KEY, "ec-1"))
    issuer.fail = True
    cache = JwksCache("u", fetch=issuer.fetch, clock=clock, min_refetch_interval_s=60)
    for _ in range(5):
        with pytest.raises(JwksUnavailable):
            cache.key("ec-1")
    assert issuer.fetches == 1

    issuer.fail = False
    clock.now += 61
    assert cache.key("ec-1").key.key_id == "ec-1"
    issuer.fail = True
    clock.now += 4000  # keys expired, issuer down: the old keys still serve
    assert cache.key("ec-1").key.key_id == "ec-1"
