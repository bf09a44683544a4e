"""`util lambda-build`: a deterministic zip of the lambda_src package."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from util.build import PACKAGE_NAME, ZIP_EPOCH, build_package, default_source

from .conftest import UtilRunner, assert_one_line_error

pytestmark = pytest.mark.stack

SHA256_LINE = re.compile(r"^sha256: ([0-9a-f]{64})$", re.MULTILINE)


def source_copy(tmp_path: Path, folder: str = "lambda_src") -> Path:
    """A copy of the real package to change freely, without bytecode the real one may have."""
    copy = tmp_path / folder
    shutil.copytree(default_source(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def sha256_of_output(stdout: str) -> str:
    match = SHA256_LINE.search(stdout)
    assert match, stdout
    return match.group(1)


def test_lambda_build_twice_gives_the_same_sha256(util: UtilRunner, tmp_path: Path) -> None:
    first = util("lambda-build", "--output", str(tmp_path / "a.zip"))
    second = util("lambda-build", "--output", str(tmp_path / "b.zip"))
    assert first.code == 0 and second.code == 0, (first, second)
    assert sha256_of_output(first.stdout) == sha256_of_output(second.stdout)
    data = (tmp_path / "a.zip").read_bytes()
    assert (tmp_path / "b.zip").read_bytes() == data
    assert sha256_of_output(first.stdout) == hashlib.sha256(data).hexdigest()


def test_lambda_build_prints_path_size_and_sha256(util: UtilRunner, tmp_path: Path) -> None:
    output = tmp_path / "out" / "lambda.zip"
    result = util("lambda-build", "-o", str(output))
    assert result.code == 0, result
    size = output.stat().st_size
    assert result.stdout.splitlines() == [
        f"path: {output}",
        f"size: {size} bytes",
        f"sha256: {hashlib.sha256(output.read_bytes()).hexdigest()}",
        f"CodeSha256: {base64.b64encode(hashlib.sha256(output.read_bytes()).digest()).decode()}",
        "target: arm64 python3.12",
    ]
    assert "the same digest" in result.stderr and "compiled " in result.stderr


def test_lambda_build_writes_build_lambda_zip_of_the_working_directory_by_default(
    util: UtilRunner, tmp_path: Path
) -> None:
    result = util("lambda-build", cwd=tmp_path)
    assert result.code == 0, result
    assert result.stdout.splitlines()[0] == "path: build/lambda.zip"
    assert zipfile.is_zipfile(tmp_path / "build" / "lambda.zip")


def test_lambda_build_leaves_out_caches_tests_and_hidden_files(util: UtilRunner, tmp_path: Path) -> None:
    source = source_copy(tmp_path)
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\x00cache")
    (source / "stale.pyc").write_bytes(b"\x00cache")
    (source / "tests").mkdir()
    (source / "tests" / "test_app.py").write_text("def test_x(): pass\n")
    (source / "test_inline.py").write_text("def test_y(): pass\n")
    (source / "conftest.py").write_text("")
    (source / ".env").write_text("SECRET=1\n")
    (source / ".mypy_cache").mkdir()
    (source / ".mypy_cache" / "x.json").write_text("{}")
    output = tmp_path / "lambda.zip"

    result = util("lambda-build", "--source", str(source), "--output", str(output))

    assert result.code == 0, result
    # The dependencies' files sit beside the package (tests/util/test_dependencies.py covers them).
    names = [name for name in zipfile.ZipFile(output).namelist() if name.startswith(f"{PACKAGE_NAME}/")]
    expected = sorted(
        f"{PACKAGE_NAME}/{path.relative_to(source).as_posix()}"
        for path in source.rglob("*.py")
        if path.name not in ("test_inline.py", "conftest.py", "test_app.py")
    )
    assert names == expected


def test_lambda_build_fixes_timestamps_and_modes(util: UtilRunner, tmp_path: Path) -> None:
    source = source_copy(tmp_path)
    first = util("lambda-build", "--source", str(source), "--output", str(tmp_path / "1.zip"))
    for path in source.rglob("*.py"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
        path.chmod(0o755)
    second = util("lambda-build", "--source", str(source), "--output", str(tmp_path / "2.zip"))

    assert sha256_of_output(first.stdout) == sha256_of_output(second.stdout)
    for info in zipfile.ZipFile(tmp_path / "2.zip").infolist():
        assert info.date_time == ZIP_EPOCH
        # Native extensions keep the executable bit, as pip installs them; everything else is 0644.
        assert stat.S_IMODE(info.external_attr >> 16) == (0o755 if info.filename.endswith(".so") else 0o644)


def test_lambda_build_roots_the_zip_at_lambda_src_whatever_the_folder_is_called(
    util: UtilRunner, tmp_path: Path
) -> None:
    source = source_copy(tmp_path, folder="patched_copy")
    output = tmp_path / "lambda.zip"
    assert util("lambda-build", "--source", str(source), "--output", str(output)).code == 0
    names = zipfile.ZipFile(output).namelist()
    assert f"{PACKAGE_NAME}/__init__.py" in names
    assert not [name for name in names if name.startswith("patched_copy")]


def test_lambda_build_sha256_changes_when_a_source_changes(util: UtilRunner, tmp_path: Path) -> None:
    source = source_copy(tmp_path)
    before = util("lambda-build", "--source", str(source), "--output", str(tmp_path / "1.zip"))
    with (source / "__init__.py").open("a") as handle:
        handle.write("# changed\n")
    after = util("lambda-build", "--source", str(source), "--output", str(tmp_path / "2.zip"))
    assert sha256_of_output(before.stdout) != sha256_of_output(after.stdout)


def test_lambda_build_rejects_a_source_that_is_not_a_package(util: UtilRunner, tmp_path: Path) -> None:
    result = util("lambda-build", "--source", str(tmp_path), "--output", str(tmp_path / "x.zip"))
    assert_one_line_error(result, "not a Python package", code=2)
    assert not (tmp_path / "x.zip").exists()


def test_compile_check_names_the_file_and_line_of_a_syntax_error(tmp_path: Path) -> None:
    from util.build import compile_check
    from util.errors import InputError

    source = tmp_path / "lambda_src"
    source.mkdir()
    (source / "__init__.py").write_text("")
    (source / "app.py").write_text("def handler(event, context):\n    return {}\n\ndef broken(:\n")
    with pytest.raises(InputError, match=r"^lambda_src/app.py:4: SyntaxError: .*nothing deployed$"):
        compile_check(build_package(source))


def test_compile_check_catches_what_only_the_compiler_sees(tmp_path: Path) -> None:
    from util.build import compile_check
    from util.errors import InputError

    source = tmp_path / "lambda_src"
    source.mkdir()
    (source / "__init__.py").write_text("return 1\n")
    with pytest.raises(InputError, match=r"lambda_src/__init__.py:1: SyntaxError: 'return' outside function"):
        compile_check(build_package(source))


def test_compile_check_counts_every_python_file_of_the_real_package() -> None:
    from util.build import compile_check

    package = build_package(default_source())
    assert compile_check(package).files == sum(1 for name in package.files if name.endswith(".py"))


def test_the_local_stacks_initial_code_sha256_is_lambda_builds() -> None:
    """So the first `lambda-deploy` of unchanged code after a start uploads nothing."""
    from util.local.runtime.function_code import source_tree_version

    source = default_source()
    assert source_tree_version(source.parent, source.name).sha256 == build_package(source).code_sha256
