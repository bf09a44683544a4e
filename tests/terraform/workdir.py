"""Terraform runs for tests: on a throwaway copy of `deployment/`, offline, bounded in time.

The repository's `deployment/` never gets a `.terraform/`, a lock file or state: every run happens in
a copy under a temporary directory, initialised from the provider mirror (see mirror.py). Runs
against moto add an override file that only that copy carries.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .mirror import CLI_CONFIG_ENV
from .paths import DEPLOYMENT_DIR

TERRAFORM_BINARY = "terraform"
INIT_TIMEOUT_S = 60.0
DEFAULT_TIMEOUT_S = 120.0
STOP_GRACE_S = 10.0
MOTO_OVERRIDE_FILE = "moto_override.tf"
MOTO_SERVICES = (
    "apigateway",
    "apigatewayv2",
    "cloudfront",
    "cloudwatch",
    "cognitoidp",
    "dynamodb",
    "iam",
    "lambda",
    "logs",
    "s3",
    "sns",
    "sqs",
    "ssm",
    "sts",
)
"""Every service the stack's resources and data sources call."""
COPY_IGNORE = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "terraform.tfstate*", "*.tfstate.d")


class TerraformFailed(AssertionError):
    """A terraform command exited non-zero; the message carries its output for the test report."""


@dataclass
class BackgroundRun:
    """A terraform command running in the background (see `Workdir.start`)."""

    process: subprocess.Popen[str]
    args: tuple[str, ...]
    stdout_path: Path
    stderr_path: Path
    started_at: float

    def wait(self, timeout_s: float) -> subprocess.CompletedProcess[str]:
        """Wait until it ends, at most `timeout_s` after it started; then it is killed and this raises."""
        remaining = max(0.0, self.started_at + timeout_s - time.monotonic())
        try:
            self.process.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            self.stop()
            raise TerraformFailed(f"terraform {' '.join(self.args)} ran over {timeout_s} s and was killed") from None
        return subprocess.CompletedProcess(
            [TERRAFORM_BINARY, *self.args],
            self.process.returncode,
            self.stdout_path.read_text(encoding="utf-8"),
            self.stderr_path.read_text(encoding="utf-8"),
        )

    def stop(self) -> None:
        """End it if it still runs (terminate, then kill)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Workdir:
    """A copy of `deployment/` and the environment every terraform command in it runs with."""

    directory: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(
        self,
        *args: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        check: bool = True,
        workspace: str | None = None,
        input_text: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `terraform ARGS` here (`input_text` on its stdin); raises `TerraformFailed` on a non-zero exit."""
        env = dict(self.env)
        if workspace is not None:
            env["TF_WORKSPACE"] = workspace
        result = subprocess.run(
            [TERRAFORM_BINARY, *args],
            cwd=self.directory,
            env=env,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if check and result.returncode != 0:
            raise TerraformFailed(
                f"terraform {' '.join(args)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
            )
        return result

    def start(self, *args: str, log_dir: Path, workspace: str | None = None) -> BackgroundRun:
        """Start `terraform ARGS` here without waiting; its output goes to files in `log_dir`.

        Files, not pipes: nobody reads a pipe while it runs, and a full pipe would stall terraform.
        """
        env = dict(self.env)
        if workspace is not None:
            env["TF_WORKSPACE"] = workspace
        log_dir.mkdir(parents=True, exist_ok=True)
        stdout_path, stderr_path = log_dir / "stdout.log", log_dir / "stderr.log"
        with stdout_path.open("w") as stdout, stderr_path.open("w") as stderr:
            process = subprocess.Popen(
                [TERRAFORM_BINARY, *args], cwd=self.directory, env=env, stdout=stdout, stderr=stderr, text=True
            )
        return BackgroundRun(process, args, stdout_path, stderr_path, time.monotonic())

    def outputs(self, workspace: str | None = None) -> dict[str, Any]:
        """`terraform output -json`, reduced to {name: value}."""
        raw = json.loads(self.run("output", "-json", timeout_s=30, workspace=workspace).stdout)
        return {name: entry["value"] for name, entry in raw.items()}


def terraform_env(cli_config: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for offline terraform: our CLI config, no prompts, no version checks."""
    env = dict(os.environ if base is None else base)
    # The machine's own TF_CLI_CONFIG_FILE may name a missing file; ours replaces it.
    env[CLI_CONFIG_ENV] = str(cli_config)
    env["TF_IN_AUTOMATION"] = "1"
    env["TF_INPUT"] = "0"
    env["CHECKPOINT_DISABLE"] = "1"
    env["TF_CLI_ARGS"] = "-no-color"
    # A workspace is chosen per command (Workdir.run), never inherited.
    env.pop("TF_WORKSPACE", None)
    return env


def copy_deployment(destination: Path, source: Path = DEPLOYMENT_DIR) -> Path:
    """Copy the configuration (with its placeholder package and tests) to `destination`, without state."""
    shutil.copytree(source, destination, ignore=COPY_IGNORE)
    return destination


def moto_override(endpoint: str) -> str:
    """Provider settings that send every call to the moto server at `endpoint`, with fake credentials."""
    quoted = json.dumps(endpoint)
    endpoints = "\n".join(f"    {service:<12} = {quoted}" for service in MOTO_SERVICES)
    return (
        "# Written by tests/terraform for a throwaway copy: every AWS call goes to a local moto server.\n"
        'provider "aws" {\n'
        '  region                      = "us-east-1"\n'
        '  access_key                  = "test"\n'
        '  secret_key                  = "test"\n'
        "  skip_credentials_validation = true\n"
        "  skip_metadata_api_check     = true\n"
        "  skip_region_validation      = true\n"
        "  s3_use_path_style           = true\n"
        "  max_retries                 = 2\n"
        "  endpoints {\n"
        f"{endpoints}\n"
        "  }\n"
        "}\n"
    )


def prepare(destination: Path, cli_config: Path, moto_endpoint: str | None = None) -> Workdir:
    """Copy `deployment/` to `destination`, point it at moto if asked, and `terraform init` it offline."""
    copy_deployment(destination)
    if moto_endpoint is not None:
        (destination / MOTO_OVERRIDE_FILE).write_text(moto_override(moto_endpoint), encoding="utf-8")
    workdir = Workdir(destination, terraform_env(cli_config))
    workdir.run("init", "-input=false", timeout_s=INIT_TIMEOUT_S)
    return workdir
