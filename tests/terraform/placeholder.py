"""Builds `deployment/placeholder/lambda.zip`, the package the Lambda starts with, deterministically.

Run `python -m tests.terraform.placeholder` from the repository root after editing
`deployment/placeholder/app.py`; a test fails while the committed zip and the source disagree.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

from .paths import DEPLOYMENT_DIR

PLACEHOLDER_DIR = DEPLOYMENT_DIR / "placeholder"
PLACEHOLDER_SOURCE = PLACEHOLDER_DIR / "app.py"
PLACEHOLDER_ZIP = PLACEHOLDER_DIR / "lambda.zip"
PACKAGE_NAME = "lambda_src"
"""The zip's root package: the handler is `lambda_src.app.handler` as for the real code."""
FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
"""The earliest date a zip can hold: same bytes whoever builds it, whenever."""
FILE_MODE = 0o644


def placeholder_entries(source: Path = PLACEHOLDER_SOURCE) -> dict[str, bytes]:
    """The zip's members by name."""
    return {
        f"{PACKAGE_NAME}/__init__.py": b"",
        f"{PACKAGE_NAME}/app.py": source.read_bytes(),
    }


def build_placeholder_zip(source: Path = PLACEHOLDER_SOURCE) -> bytes:
    """The zip's bytes: sorted entries, fixed timestamps and modes, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(placeholder_entries(source).items()):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIMESTAMP)
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def main() -> int:
    PLACEHOLDER_ZIP.write_bytes(build_placeholder_zip())
    sys.stdout.write(f"wrote {PLACEHOLDER_ZIP}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
