"""`util lambda-deploy ENV`: ship the Lambda's code to an environment, only when it changed.

Terraform creates the function with a placeholder and ignores its code afterwards; this is how the
real code gets there. The same boto3 calls serve AWS and the local stack (whose Lambda API swaps the
code in its running workers).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .build import Package, SourceOption, build_for, build_package, compile_check, default_source, describe_check
from .clients import lambda_client
from .console import err, out, status
from .dependencies import Target
from .environments import Outputs, load_outputs
from .errors import InputError
from .options import EnvArgument, EnvOption, resolve_env

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient

MAX_DIRECT_UPLOAD_BYTES = 50 * 1024 * 1024
"""Lambda refuses a ZipFile upload larger than this (bigger packages go through S3)."""
WAIT_DELAY_S = 1
WAIT_MAX_ATTEMPTS = 300


@dataclass(frozen=True)
class DeployResult:
    function_name: str
    code_sha256: str
    changed: bool


def deploy(outputs: Outputs, package: Package, force: bool) -> DeployResult:
    """Upload `package` unless the function already runs exactly this code (or `force`)."""
    if package.size > MAX_DIRECT_UPLOAD_BYTES:
        raise InputError(
            f"the package is {package.size} bytes, over Lambda's direct upload limit of {MAX_DIRECT_UPLOAD_BYTES}"
        )
    name = outputs.require("lambda_function_name")
    client = lambda_client(outputs)
    current = client.get_function(FunctionName=name)["Configuration"].get("CodeSha256")
    if current == package.code_sha256 and not force:
        return DeployResult(function_name=name, code_sha256=current, changed=False)
    status(f"uploading {package.size} bytes to {name} ({outputs.env})")
    client.update_function_code(FunctionName=name, ZipFile=package.data)
    with err.status(f"waiting for {name} to run the new code"):
        _wait_until_updated(client, name)
    deployed = client.get_function_configuration(FunctionName=name).get("CodeSha256", "")
    return DeployResult(function_name=name, code_sha256=deployed, changed=True)


def _package_for(outputs: Outputs, source: Path) -> Package:
    """What ENV's function runs. A local stack's workers import the dependencies from this environment (they run
    this interpreter), so its package is the source alone, the same zip the stack started with: a deploy right
    after `util local up` uploads nothing."""
    if outputs.is_local:
        return build_package(source)
    return build_for(source, target_of(outputs))


def target_of(outputs: Outputs) -> Target:
    """The platform the dependencies' wheels must be for: the function's runtime and architecture."""
    name = outputs.require("lambda_function_name")
    configuration = lambda_client(outputs).get_function_configuration(FunctionName=name)
    architectures = configuration.get("Architectures") or ["x86_64"]
    return Target.of_runtime(configuration.get("Runtime", ""), architectures[0])


def _wait_until_updated(client: LambdaClient, name: str) -> None:
    waiter = client.get_waiter("function_updated_v2")
    waiter.wait(FunctionName=name, WaiterConfig={"Delay": WAIT_DELAY_S, "MaxAttempts": WAIT_MAX_ATTEMPTS})


def command(
    *,
    env_positional: EnvArgument = None,
    env: EnvOption = None,
    source: SourceOption = None,
    force: Annotated[bool, typer.Option("--force", help="Upload even when the code is unchanged.")] = False,
) -> None:
    """Build the Lambda and upload it to ENV's function; a no-op when the code is unchanged.

    Waits until the new code is live and prints its CodeSha256. For `local` the running local stack
    swaps its workers to the new code.
    """
    outputs = load_outputs(resolve_env(env, env_positional))
    package = _package_for(outputs, source or default_source())
    # Lambda would take a package that cannot import and fail every invocation: check before uploading.
    status(describe_check(compile_check(package)))
    result = deploy(outputs, package, force=force)
    if result.changed:
        status(f"deployed {result.function_name} ({outputs.env})")
    else:
        status(f"{result.function_name} already runs this code: nothing to deploy (--force uploads anyway)")
    out.print(f"CodeSha256: {result.code_sha256}", markup=False)
    out.print(f"sha256: {_hex(result.code_sha256)}", markup=False)


def _hex(code_sha256: str) -> str:
    """CodeSha256 (base64) as the hex `lambda-build` prints: the same digest."""
    try:
        return base64.b64decode(code_sha256, validate=True).hex()
    except (binascii.Error, ValueError):
        return "?"
