"""Where `util local up` takes the connect token from: `--token-file` (0600), `$WSPUSH_LOCAL_TOKEN` or `--token`,
and the clear errors of each way it can be wrong. Nothing here starts a stack: every case fails before that, or
reads the file only (that a detached stack's token is in no process's argv: tests/util_e2e/test_local_stacks.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from util.errors import InputError
from util.local.cli import read_token_file
from util.local.settings import TOKEN_VARIABLE

from .conftest import UtilRunner, assert_one_line_error, run_in_process


def token_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "connect-token"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_a_token_file_gives_its_first_line_without_the_newline(tmp_path: Path) -> None:
    assert read_token_file(token_file(tmp_path, "s3cret token\nnot this line\n")) == "s3cret token"


@pytest.mark.parametrize("mode", [0o400, 0o600, 0o700])
def test_a_token_file_only_its_owner_may_read_is_accepted(tmp_path: Path, mode: int) -> None:
    assert read_token_file(token_file(tmp_path, "s3cret", mode)) == "s3cret"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_token_file_its_group_or_others_may_read_is_refused_naming_chmod(
    util: UtilRunner, tmp_path: Path, mode: int
) -> None:
    path = token_file(tmp_path, "s3cret", mode)
    result = util("local", "up", "--token-file", str(path))
    assert_one_line_error(result, f"is readable by others (mode {mode:04o})", f"chmod 600 {path}", code=2)
    assert "s3cret" not in result.stdout + result.stderr


@pytest.mark.parametrize("text", ["", "\n", "   \nsecond line\n"])
def test_a_token_file_without_a_token_on_its_first_line_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(InputError, match="holds no token on its first line"):
        read_token_file(token_file(tmp_path, text))


def test_a_missing_token_file_is_one_line_error(util: UtilRunner, tmp_path: Path) -> None:
    result = util("local", "up", "--token-file", str(tmp_path / "absent"))
    assert_one_line_error(result, "cannot read --token-file", "No such file or directory", code=2)


def test_a_directory_as_token_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read --token-file .*: Is a directory"):
        read_token_file(tmp_path)


def test_a_pipe_as_token_file_gives_its_first_line() -> None:
    """As `--token-file <(pass show wspush)` passes it: no file on disk at all."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"piped s3cret\n")
        os.close(write_end)
        assert read_token_file(Path(f"/dev/fd/{read_end}")) == "piped s3cret"
    finally:
        os.close(read_end)


def test_token_and_token_file_together_are_refused(util: UtilRunner, tmp_path: Path) -> None:
    result = util("local", "up", "--token", "one", "--token-file", str(token_file(tmp_path, "two")))
    assert_one_line_error(result, "give the token once: --token or --token-file, not both", code=2)


def test_an_empty_token_variable_is_refused(util_env: dict[str, str]) -> None:
    result = run_in_process(["local", "up"], {**util_env, TOKEN_VARIABLE: ""})
    assert_one_line_error(result, f"${TOKEN_VARIABLE} is set but empty", code=2)


def test_a_token_variable_with_auth_jwt_is_refused_naming_every_way_a_token_comes(util_env: dict[str, str]) -> None:
    result = run_in_process(["local", "up", "--auth", "jwt"], {**util_env, TOKEN_VARIABLE: "s3cret"})
    assert_one_line_error(result, f"--token-file FILE, ${TOKEN_VARIABLE} or --token TOKEN) is for --auth token", code=2)
    assert "s3cret" not in result.stdout + result.stderr
