"""The function's code: the source tree at start, then whatever `UpdateFunctionCode` uploads (a zip).

Each upload is extracted into its own directory under the stack's work directory; `CodeSha256` is what
Lambda reports: the base64 SHA-256 of the zip.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

MAX_ZIP_BYTES = 50 * 1024 * 1024
"""Lambda's limit on a zip uploaded directly."""
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
"""Lambda's limit on the unzipped package."""


class InvalidCode(ValueError):
    """The upload is not a zip Lambda would accept; the message is Lambda's kind of explanation."""


@dataclass(frozen=True)
class CodeVersion:
    directory: Path
    sha256: str
    size: int
    last_modified: str


def lambda_timestamp(moment: datetime | None = None) -> str:
    """Lambda's `LastModified`: `2024-01-01T12:00:00.000+0000`."""
    moment = moment or datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def source_tree_version(directory: Path, package: str) -> CodeVersion:
    """The code as it lies in the source tree.

    Its CodeSha256 is that of the zip `util lambda-build` makes of the tree, so `util lambda-deploy`
    right after a start sees the same code and uploads nothing. A tree that is no package (some test
    handlers) gets a hash of its files instead.
    """
    from util.build import build_package
    from util.errors import InputError

    try:
        built = build_package(directory / package)
    except InputError:
        pass
    else:
        return CodeVersion(directory, built.code_sha256, built.size, lambda_timestamp())
    digest = hashlib.sha256()
    size = 0
    for path in sorted((directory / package).rglob("*.py")):
        content = path.read_bytes()
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0" + content)
        size += len(content)
    return CodeVersion(directory, base64.b64encode(digest.digest()).decode(), size, lambda_timestamp())


def extract_zip(data: bytes, target: Path) -> CodeVersion:
    """Check and extract an uploaded zip into `target` (which must not exist yet)."""
    if len(data) > MAX_ZIP_BYTES:
        raise InvalidCode(f"Unzipped size must be smaller than {MAX_ZIP_BYTES} bytes")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InvalidCode("Could not unzip uploaded file. Please check your file, then try to upload again.") from None
    with archive:
        members = archive.infolist()
        if sum(member.file_size for member in members) > MAX_UNZIPPED_BYTES:
            raise InvalidCode(f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes")
        for member in members:
            path = PurePosixPath(member.filename)
            if path.is_absolute() or ".." in path.parts:
                raise InvalidCode(f"the zip holds an unsafe path: {member.filename!r}")
        target.mkdir(parents=True)
        archive.extractall(target)
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    return CodeVersion(target, sha, len(data), lambda_timestamp())
