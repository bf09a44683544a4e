"""The `util` command itself: help, usage errors in one line, shell completion, the `local` mount."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import UtilRunner, assert_one_line_error, run_in_process

pytestmark = pytest.mark.stack

COMMANDS = ("lambda-build", "lambda-deploy", "send-data", "tail-logs", "connect", "outputs", "token", "web-deploy")


def complete(util_env: dict[str, str], words: str) -> list[str]:
    """What bash completion offers for the command line `words` (completing its last word)."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {**util_env, "_UTIL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    result = run_in_process([], env)
    assert result.code == 0, result
    return result.stdout.split()


def test_util_help_lists_every_command(util: UtilRunner) -> None:
    result = util("--help")
    assert result.code == 0, result
    for command in COMMANDS:
        assert f"│ {command} " in result.stdout, command
    assert "--debug" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(util: UtilRunner, command: str) -> None:
    result = util(command, "-h")
    assert result.code == 0, result
    assert f"Usage: util {command} [OPTIONS]" in result.stdout
    assert ("--env" in result.stdout) == (command != "lambda-build")


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS), ["local", "up"], ["local", "down"]])
def test_help_shows_flags_without_a_value_placeholder(util: UtilRunner, command: list[str]) -> None:
    result = util(*command, "--help")
    assert result.code == 0, result
    assert "<bool>" not in result.stdout
    assert "--help" in result.stdout


@pytest.mark.parametrize("command", ["send-data", "tail-logs", "connect", "outputs", "lambda-deploy"])
def test_env_help_shows_its_default(util: UtilRunner, command: str) -> None:
    assert "[default: ($WSPUSH_ENV, else local)]" in util(command, "--help").stdout


def test_local_up_offers_no_env_option_and_lambda_build_none_either(util: UtilRunner) -> None:
    assert "--env" not in util("local", "up", "--help").stdout
    assert "--env" not in util("lambda-build", "--help").stdout


def test_util_without_a_command_shows_the_help(util: UtilRunner) -> None:
    result = util()
    assert result.code == 2
    assert "Usage: util [OPTIONS] COMMAND [ARGS]..." in result.stdout + result.stderr


def test_the_console_script_fails_in_one_line_with_exit_2(util_process: UtilRunner) -> None:
    """The same boundary as in-process: the real `util` process, its exit code and its stderr."""
    result = util_process("send-data")
    assert result.code == 2
    assert result.stderr == "error: Missing argument 'DATA'. (see `util send-data --help`)\n"
    assert result.stdout == ""


def test_the_console_script_exits_0_on_help(util_process: UtilRunner) -> None:
    result = util_process("--help")
    assert (result.code, result.stderr) == (0, "")
    assert "Usage: util [OPTIONS] COMMAND [ARGS]..." in result.stdout


def test_an_unknown_command_is_one_line(util: UtilRunner) -> None:
    assert_one_line_error(util("deploy"), "No such command 'deploy'", "util --help", code=2)


def test_a_missing_argument_is_one_line(util: UtilRunner) -> None:
    assert_one_line_error(util("send-data"), "Missing argument 'DATA'", "util send-data --help", code=2)


def test_an_invalid_option_value_is_one_line(util: UtilRunner) -> None:
    assert_one_line_error(util("connect", "--listen", "0"), "--listen", code=2)


def test_show_completion_prints_a_bash_script(util: UtilRunner) -> None:
    result = util("--show-completion", "bash")
    assert result.code == 0, result
    assert "_UTIL_COMPLETE=complete_bash" in result.stdout
    assert "complete -o default -F _util_completion util" in result.stdout


def test_install_completion_installs_the_script_for_bash(util_env: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = run_in_process(["--install-completion", "bash"], {**util_env, "HOME": str(home), "SHELL": "/bin/bash"})
    assert result.code == 0, result
    script = home / ".bash_completions" / "util.sh"
    assert "_UTIL_COMPLETE=complete_bash" in script.read_text()
    assert str(script) in (home / ".bashrc").read_text()


def test_completion_offers_matching_commands(util_env: dict[str, str]) -> None:
    assert complete(util_env, "util lambda-") == ["lambda-build", "lambda-deploy"]


def test_completion_offers_log_sources(util_env: dict[str, str]) -> None:
    assert complete(util_env, "util tail-logs --source ") == ["lambda", "api", "all"]


def test_completion_offers_local_and_the_terraform_workspaces(util_env: dict[str, str], tmp_path: Path) -> None:
    for workspace in ("prod", "dev"):
        (tmp_path / "deployment" / "terraform.tfstate.d" / workspace).mkdir(parents=True)
    env = {**util_env, "WSPUSH_DEPLOYMENT_DIR": str(tmp_path / "deployment")}
    assert complete(env, "util outputs --env ") == ["local", "dev", "prod"]
    assert complete(env, "util lambda-deploy p") == ["prod"]


def run_with_local_module(util_env: dict[str, str], setup: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh interpreter after `setup` has put a stand-in for util.local.cli in place."""
    code = f"import sys, types\n{setup}\nfrom util.cli import app\nsys.argv = ['util', *{list(args)!r}]\napp()\n"
    return subprocess.run(
        [sys.executable, "-c", code], env=util_env, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.stack  # a fresh interpreter: sys.modules must not hold the real util.local.cli
def test_the_cli_works_without_the_local_stack_module(util_env: dict[str, str]) -> None:
    # None in sys.modules makes `import util.local.cli` fail exactly as if the file did not exist.
    result = run_with_local_module(util_env, "sys.modules['util.local.cli'] = None", "--help")
    assert result.returncode == 0, result.stderr
    assert "lambda-deploy" in result.stdout
    assert "│ local " not in result.stdout


@pytest.mark.stack  # a fresh interpreter: sys.modules must not hold the real util.local.cli
def test_a_broken_local_stack_module_fails_only_util_local(util_env: dict[str, str]) -> None:
    setup = "sys.modules['util.local.cli'] = types.ModuleType('util.local.cli')"
    help_result = run_with_local_module(util_env, setup, "--help")
    local_result = run_with_local_module(util_env, setup, "local")
    assert help_result.returncode == 0, help_result.stderr
    assert local_result.returncode == 1
    assert local_result.stderr.strip().splitlines() == [
        "error: the local stack cannot load: util.local.cli has no typer app named `app`"
    ]


@pytest.mark.stack  # a fresh interpreter: sys.modules must not hold the real util.local.cli
def test_a_local_stack_app_is_mounted_as_util_local(util_env: dict[str, str]) -> None:
    setup = (
        "import typer\n"
        "module = types.ModuleType('util.local.cli')\n"
        "module.app = typer.Typer()\n"
        "@module.app.command()\n"
        "def up() -> None:\n"
        "    print('local stack up')\n"
        "@module.app.command()\n"
        "def down() -> None:\n"
        "    print('local stack down')\n"
        "sys.modules['util.local.cli'] = module"
    )
    result = run_with_local_module(util_env, setup, "local", "up")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "local stack up\n"


@pytest.mark.stack  # a fresh interpreter: sys.modules must not hold the real util.local.cli
def test_commands_other_than_local_do_not_load_the_local_stack(util_env: dict[str, str]) -> None:
    code = (
        "import sys\n"
        "from util.cli import app\n"
        "sys.argv = ['util', 'lambda-build', '--help']\n"
        "try:\n"
        "    app()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('util.local.cli' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=util_env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.stderr.strip() == "False", result.stderr
