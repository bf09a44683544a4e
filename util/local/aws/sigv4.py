"""SigV4 verification as AWS does it, against the local stack's own credentials: sans-I/O, one request at a time.

The signature is recomputed with botocore's own signer from what arrived: the method, the path and query as
sent, only the headers the client listed in `SignedHeaders`, and the body; it is compared in constant time.
Before the body is read, `check_header` refuses what needs no body to refuse (no or malformed `Authorization`,
an unknown key or session token, a credential scope of another region or service, a timestamp outside the
allowed skew), so an unauthenticated caller never makes the stack buffer a body.

Refusals carry the error type and message AWS sends (both the Lambda API and `execute-api` answer 403 with
`x-amzn-ErrorType`); docs/local-stack.md ("Security") lists the evidence for each.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials
from multidict import CIMultiDictProxy

from util.local.aws.credentials import LocalCredentials

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_CLOCK_SKEW_S = 5 * 60.0
"""How far `X-Amz-Date` may be from the server's clock. The IAM User Guide ("Signing AWS API requests"): "a
request must reach AWS within five minutes of the time stamp in the request"; Lambda and execute-api both
answer "Signature expired: ... (... - 5 min.)" past it."""

MISSING_AUTHENTICATION_TOKEN = "MissingAuthenticationTokenException"
INCOMPLETE_SIGNATURE = "IncompleteSignatureException"
INVALID_SIGNATURE = "InvalidSignatureException"
UNRECOGNIZED_CLIENT = "UnrecognizedClientException"
SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."
_REQUIRED_PARAMETERS = ("Credential", "Signature", "SignedHeaders")
S3_SERVICE = "s3"
"""S3 signs its path as sent, where every other service signs it normalized and encoded once more (botocore's
`S3SigV4Auth`): an S3 key with `+`, `/` or `=` (a connection id) verifies only with S3's rule."""


class Refusal(Exception):
    """A request the stack will not serve: HTTP status, AWS error type (`x-amzn-ErrorType`) and message."""

    def __init__(self, error_type: str, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status


@dataclass(frozen=True)
class SignedRequestHeader:
    """The parts of a well-formed `Authorization` header, and the request's timestamp as SigV4 signs it."""

    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    """`X-Amz-Date` (or `Date`) in SigV4's basic ISO 8601 form."""
    service: str
    """The signing name the credential scope names (the one `check_header` required, if it required one)."""


class SigV4Verifier:
    """Verifies requests signed for `region` with one set of credentials; `clock` returns epoch seconds."""

    def __init__(
        self,
        credentials: LocalCredentials,
        region: str,
        *,
        clock: Callable[[], float] = time.time,
        max_skew_s: float = MAX_CLOCK_SKEW_S,
    ) -> None:
        self._credentials = credentials
        self._region = region
        self._clock = clock
        self._max_skew = timedelta(seconds=max_skew_s)
        self._keys: dict[tuple[str, str], bytes] = {}

    def check_header(self, headers: CIMultiDictProxy[str], service: str | None) -> SignedRequestHeader:
        """Everything that can be refused before the body is read; raises `Refusal`.

        `service` is the signing name the scope must name; None takes the one it names (the embedded moto serves
        every service on one port, and picks the service from the scope as AWS picks it from the host name).
        """
        authorization = headers.get("Authorization")
        if authorization is None:
            raise Refusal(MISSING_AUTHENTICATION_TOKEN, "Missing Authentication Token")
        scheme, _, rest = authorization.strip().partition(" ")
        parameters: dict[str, str] = {}
        if scheme == ALGORITHM:
            for element in (part.strip() for part in rest.split(",")):
                name, equals, value = element.partition("=")
                if not equals:
                    raise Refusal(
                        INCOMPLETE_SIGNATURE,
                        f"'{element}' not a valid key=value pair (missing equal-sign) in Authorization header.",
                    )
                parameters[name.strip()] = value.strip()
        timestamp = self._timestamp(headers)
        missing = [
            f"Authorization header requires '{name}' parameter."
            for name in _REQUIRED_PARAMETERS
            if not parameters.get(name)
        ]
        if timestamp is None:
            missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        if missing:
            raise Refusal(INCOMPLETE_SIGNATURE, " ".join(missing))
        assert timestamp is not None
        scope = parameters["Credential"].split("/")
        if len(scope) != 5:
            raise Refusal(
                INCOMPLETE_SIGNATURE,
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
                f"got '{parameters['Credential']}'",
            )
        key_id, scope_date, region, scope_service, terminator = scope
        if not hmac.compare_digest(key_id.encode(), self._credentials.access_key_id.encode()):
            raise Refusal(UNRECOGNIZED_CLIENT, INVALID_TOKEN_MESSAGE)
        token = headers.get("X-Amz-Security-Token", "")
        if not hmac.compare_digest(token.encode(), self._credentials.session_token.encode()):
            raise Refusal(UNRECOGNIZED_CLIENT, INVALID_TOKEN_MESSAGE)
        if region != self._region:
            raise Refusal(INVALID_SIGNATURE, f"Credential should be scoped to a valid region, not '{region}'. ")
        if service is not None and scope_service != service:
            raise Refusal(INVALID_SIGNATURE, f"Credential should be scoped to correct service: '{service}'. ")
        if terminator != TERMINATOR:
            raise Refusal(
                INVALID_SIGNATURE,
                f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'. ",
            )
        if scope_date != timestamp[:8]:
            raise Refusal(
                INVALID_SIGNATURE,
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{scope_date}' != '{timestamp[:8]}', from '{timestamp}'.",
            )
        self._check_skew(timestamp)
        signed = tuple(parameters["SignedHeaders"].split(";"))
        if "host" not in signed:
            raise Refusal(
                INVALID_SIGNATURE, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
            )
        return SignedRequestHeader(signed, parameters["Signature"], timestamp, scope_service)

    def verify(
        self,
        header: SignedRequestHeader,
        *,
        method: str,
        raw_path: str,
        headers: CIMultiDictProxy[str],
        body: bytes,
        service: str,
    ) -> None:
        """Recompute the signature over what arrived and compare; raises `Refusal` unless they are equal."""
        signed = HTTPHeaders()
        for name in header.signed_headers:
            values = headers.getall(name, [])
            if not values:
                raise Refusal(INVALID_SIGNATURE, SIGNATURE_MISMATCH_MESSAGE)
            for value in values:
                signed[name] = value
        declared_hash = headers.get("X-Amz-Content-SHA256")
        if declared_hash is not None and not hmac.compare_digest(
            declared_hash.encode(), hashlib.sha256(body).hexdigest().encode()
        ):
            # botocore trusts this header when it is present; the stack checks the body against it instead.
            raise Refusal(INVALID_SIGNATURE, SIGNATURE_MISMATCH_MESSAGE)
        # http://: botocore always hashes the payload of a plain-HTTP request, as the client did.
        request = AWSRequest(method=method, url=f"http://{headers.get('Host', '')}{raw_path}", data=body)
        request.context["timestamp"] = header.timestamp
        signer_class = _ReceivedHeadersS3Signer if service == S3_SERVICE else _ReceivedHeadersSigner
        signer = signer_class(
            Credentials(
                self._credentials.access_key_id, self._credentials.secret_access_key, self._credentials.session_token
            ),
            service,
            self._region,
            signed,
            self._signing_key(header.timestamp[:8], service),
        )
        expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        if not hmac.compare_digest(expected.encode(), header.signature.encode()):
            raise Refusal(INVALID_SIGNATURE, SIGNATURE_MISMATCH_MESSAGE)

    def _signing_key(self, date: str, service: str) -> bytes:
        # SigV4's derived key depends on the date, region and service only: derived once per day and service, as
        # the SDKs cache it (every `@connections` post of a fan-out would derive it again).
        key = self._keys.get((date, service))
        if key is None:
            key = f"AWS4{self._credentials.secret_access_key}".encode()
            for part in (date, self._region, service, TERMINATOR):
                key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
            if len(self._keys) >= 8:  # a few days and services at most; never grows without bound
                self._keys.clear()
            self._keys[(date, service)] = key
        return key

    @staticmethod
    def _timestamp(headers: CIMultiDictProxy[str]) -> str | None:
        amz_date = headers.get("X-Amz-Date")
        if amz_date is not None:
            try:
                _parse_amz(amz_date)
            except ValueError:
                raise Refusal(
                    INCOMPLETE_SIGNATURE,
                    f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601",
                ) from None
            return amz_date
        date = headers.get("Date")
        if date is None:
            return None
        try:
            parsed = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return None
        return parsed.astimezone(UTC).strftime(AMZ_DATE_FORMAT)

    def _check_skew(self, timestamp: str) -> None:
        signed_at = _parse_amz(timestamp)
        now = datetime.fromtimestamp(self._clock(), UTC)
        minutes = f"{self._max_skew.total_seconds() / 60:g} min."
        if signed_at < now - self._max_skew:
            raise Refusal(
                INVALID_SIGNATURE,
                f"Signature expired: {timestamp} is now earlier than {_amz(now - self._max_skew)} "
                f"({_amz(now)} - {minutes})",
            )
        if signed_at > now + self._max_skew:
            raise Refusal(
                INVALID_SIGNATURE,
                f"Signature not yet current: {timestamp} is still later than {_amz(now + self._max_skew)} "
                f"({_amz(now)} + {minutes})",
            )


@functools.lru_cache(maxsize=64)
def _parse_amz(timestamp: str) -> datetime:
    """`X-Amz-Date` as a UTC datetime (raises ValueError); cached, since a fan-out's posts share a few seconds."""
    return datetime.strptime(timestamp, AMZ_DATE_FORMAT).replace(tzinfo=UTC)


def _amz(moment: datetime) -> str:
    return moment.strftime(AMZ_DATE_FORMAT)


class _ReceivedHeadersSigner(SigV4Auth):
    """botocore's SigV4 signer over exactly the headers the client signed (botocore would choose its own set)."""

    def __init__(
        self, credentials: Credentials, service: str, region: str, signed: HTTPHeaders, signing_key: bytes
    ) -> None:
        super().__init__(credentials, service, region)
        self._signed = signed
        self._signing_key = signing_key

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return self._signed

    def signature(self, string_to_sign: str, request: AWSRequest) -> str:
        # botocore's last step with the cached derived key (botocore derives it again per request).
        return hmac.new(self._signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


class _ReceivedHeadersS3Signer(_ReceivedHeadersSigner, S3SigV4Auth):
    """The same with S3's canonical path, the path as sent (`S3SigV4Auth`'s, next in the method order)."""
