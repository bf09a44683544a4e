"""Cold start: the handler's import time without boto3's, its client setup, the package size, and deploy time.

- import: a fresh interpreter imports boto3 and botocore (the Lambda runtime has them; they are not ours),
  then times `import lambda_src.app` from the unzipped deployment package, as Lambda loads it: compiling the
  sources, since the package carries no bytecode and /var/task is read-only. Median of `--runs` interpreters.
  Also, for context: the same with bytecode cached, and with boto3's own import counted.
- first-invocation setup: what the first call pays on top (`Config.from_env` and `wiring.from_config`:
  a boto3 session and the S3 client), in the same fresh interpreters; no network is touched.
- package: `util lambda-build` (zip size and file count).
- deploy: `util lambda-deploy local --force` against a moto server holding the function (as tests/util does),
  wall time of the whole command (interpreter start, build, upload, wait until updated). Median of `--runs`;
  also one no-op deploy (unchanged code: one GetFunction, nothing uploaded).

Usage: python -m bench.coldstart [--runs 7] [--json bench/results/coldstart.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from util.local.aws.credentials import STATE_KEY, LocalCredentials

from .report import BenchError, default_json_path, positive_int, print_table, run_main, write_json

SUBPROCESS_TIMEOUT_S = 120.0
MOTO_START_TIMEOUT_S = 30.0
FUNCTION_NAME = "wspush-bench-handler"
REGION = "us-east-1"
SIZE_LINE = re.compile(r"^size: (\d+) bytes$", re.MULTILINE)
# Runs in a fresh interpreter whose working directory is the unzipped package (first on sys.path, as on Lambda).
IMPORT_PROBE = """
import json, os, sys, time
sys.path.insert(0, os.getcwd())
started = time.perf_counter()
if sys.argv[1] == "exclude-boto3":
    import boto3, boto3.session, botocore, botocore.auth, botocore.awsrequest, botocore.config, botocore.credentials
    started = time.perf_counter()
import lambda_src.app
imported = time.perf_counter()
from lambda_src.config import Config
from lambda_src.wiring import from_config
from_config(Config.from_env())
ready = time.perf_counter()
print(json.dumps({
    "import_ms": (imported - started) * 1000,
    "setup_ms": (ready - imported) * 1000,
    "from_package": lambda_src.app.__file__.startswith(os.getcwd()),
}))
"""
PROBE_ENVIRONMENT = {
    "CONNECTIONS_BUCKET": "wspush-bench-connections-123456789012",
    "CONNECTIONS_URL": "https://abcdef1234.execute-api.us-east-1.amazonaws.com/live",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
}
IMPORT_MODES = (
    # Lambda's /var/task is read-only and the package ships no bytecode: every cold start compiles (-B).
    ("lambda", ("-B",), "exclude-boto3"),
    ("bytecode_cached", (), "exclude-boto3"),
    ("with_boto3", ("-B",), "include-boto3"),
)
"""(name, interpreter flags, probe mode): boto3's own modules are byte-compiled in site-packages either way."""
# Variables of a developer's shell that would change what `util` does here.
SCRUBBED_VARIABLES = ("WSPUSH_ENV", "WSPUSH_DEBUG", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=positive_int, default=7, help="interpreters / deploys per median")
    parser.add_argument("--json", type=Path, default=default_json_path("coldstart"))
    return parser.parse_args()


def _util() -> Path:
    util = Path(sys.executable).parent / "util"
    if not util.exists():
        raise BenchError(f"no `util` console script next to {sys.executable}: run `make setup`")
    return util


def _run(command: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        completed = subprocess.run(
            command, env=env, cwd=cwd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"{Path(command[0]).name} did not finish within {SUBPROCESS_TIMEOUT_S:g} s") from None
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"{' '.join(Path(c).name if i == 0 else c for i, c in enumerate(command))} failed: {last}")
    return completed


def _clean_environment(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in SCRUBBED_VARIABLES}
    return {**env, **extra}


def build(work: Path) -> tuple[Path, dict[str, Any]]:
    output = work / "lambda.zip"
    started = time.perf_counter()
    completed = _run([str(_util()), "lambda-build", "--output", str(output)], _clean_environment())
    seconds = time.perf_counter() - started
    match = SIZE_LINE.search(completed.stdout)
    if match is None:
        raise BenchError(f"`util lambda-build` printed no size: {completed.stdout.strip()!r}")
    with zipfile.ZipFile(output) as archive:
        files = len(archive.namelist())
        uncompressed = sum(info.file_size for info in archive.infolist())
    size = int(match.group(1))
    if size != output.stat().st_size:
        raise BenchError(f"`util lambda-build` reported {size} bytes, the file has {output.stat().st_size}")
    return output, {"bytes": size, "files": files, "uncompressed_bytes": uncompressed, "build_s": seconds}


def measure_import(package: Path, runs: int, work: Path) -> dict[str, Any]:
    code_dir = work / "task"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(code_dir)
    env = _clean_environment(**PROBE_ENVIRONMENT)
    env.pop("PYTHONPATH", None)  # the package must come from the zip, not from the source tree
    probe = work / "import_probe.py"
    probe.write_text(IMPORT_PROBE, encoding="utf-8")
    results: dict[str, Any] = {}
    for mode, flags, boto3_mode in IMPORT_MODES:
        if mode == "bytecode_cached":
            _run([sys.executable, "-I", str(probe), boto3_mode], env, code_dir)  # writes __pycache__
        samples = []
        for _ in range(runs):
            # -I: no PYTHONPATH, no user site; the probe puts the package directory first, as Lambda does.
            completed = _run([sys.executable, "-I", *flags, str(probe), boto3_mode], env, code_dir)
            sample = json.loads(completed.stdout.strip().splitlines()[-1])
            if not sample["from_package"]:
                raise BenchError("the import probe loaded lambda_src from outside the built package")
            samples.append(sample)
        imports = [sample["import_ms"] for sample in samples]
        setups = [sample["setup_ms"] for sample in samples]
        results[mode] = {
            "import_ms_median": statistics.median(imports),
            "import_ms_runs": imports,
            "setup_ms_median": statistics.median(setups),
            "setup_ms_runs": setups,
        }
    return results


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """`python -m moto.server` on a free loopback port, in its own process."""

    def __enter__(self) -> str:
        port = _free_port()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env={**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + MOTO_START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    return url
            except OSError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.__exit__()
                    raise BenchError(f"moto did not start within {MOTO_START_TIMEOUT_S:g} s") from None
                time.sleep(0.1)

    def __exit__(self, *exc_info: object) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _placeholder_zip() -> bytes:
    # What Terraform deploys before `util lambda-deploy` ships the real code.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lambda_src/__init__.py", "")
        archive.writestr("lambda_src/app.py", "def handler(event, context):\n    return {'statusCode': 200}\n")
    return buffer.getvalue()


def create_function(moto_url: str) -> None:
    import boto3

    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    iam = session.client("iam", endpoint_url=moto_url)
    role = iam.create_role(
        RoleName=FUNCTION_NAME,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]
    session.client("lambda", endpoint_url=moto_url).create_function(
        FunctionName=FUNCTION_NAME,
        Runtime="python3.12",
        Role=role["Arn"],
        Handler="lambda_src.app.handler",
        Code={"ZipFile": _placeholder_zip()},
    )


def measure_deploy(runs: int, work: Path) -> dict[str, Any]:
    with MotoServer() as moto_url:
        create_function(moto_url)
        state = work / "local-stack.json"
        # Only what `lambda-deploy` reads: no `lambda_endpoint_url`, so the Lambda client goes to moto.
        # And credentials, as every state file has (moto takes any).
        state.write_text(
            json.dumps(
                {
                    "region": REGION,
                    "lambda_function_name": FUNCTION_NAME,
                    "aws_endpoint_url": moto_url,
                    STATE_KEY: LocalCredentials.generate().to_state(),
                }
            )
        )
        env = _clean_environment(
            WSPUSH_LOCAL_STATE=str(state),
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            AWS_DEFAULT_REGION=REGION,
        )
        command = [str(_util()), "lambda-deploy", "local"]
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            completed = _run([*command, "--force"], env)
            samples.append(time.perf_counter() - started)
            if "CodeSha256:" not in completed.stdout:
                raise BenchError(f"`util lambda-deploy` printed no CodeSha256: {completed.stdout.strip()!r}")
        started = time.perf_counter()
        no_op = _run(command, env)
        no_op_s = time.perf_counter() - started
        if "nothing to deploy" not in no_op.stderr:
            raise BenchError(f"the second deploy of unchanged code uploaded again: {no_op.stderr.strip()!r}")
    return {"forced_s_median": statistics.median(samples), "forced_s_runs": samples, "no_op_s": no_op_s}


def main() -> None:
    args = _arguments()
    with tempfile.TemporaryDirectory(prefix="wspush-bench-") as temporary:
        work = Path(temporary)
        package, package_facts = build(work)
        imports = measure_import(package, args.runs, work)
        deploy = measure_deploy(args.runs, work)
    results = {"package": package_facts, "import": imports, "deploy": deploy}
    path = write_json(args.json, "coldstart", {"runs": args.runs}, results)
    lambda_like, cached, included = imports["lambda"], imports["bytecode_cached"], imports["with_boto3"]
    print_table(
        f"cold start (medians of {args.runs})",
        ["measure", "value"],
        [
            ["import lambda_src.app, boto3 imported before, compiled", f"{lambda_like['import_ms_median']:.1f} ms"],
            ["the same, bytecode cached", f"{cached['import_ms_median']:.1f} ms"],
            ["import lambda_src.app, boto3's import included", f"{included['import_ms_median']:.1f} ms"],
            ["first invocation's setup (session + S3 client)", f"{lambda_like['setup_ms_median']:.1f} ms"],
            ["package (util lambda-build)", f"{package_facts['bytes']} bytes, {package_facts['files']} files"],
            ["util lambda-deploy --force, against moto", f"{deploy['forced_s_median']:.2f} s"],
            ["util lambda-deploy, code unchanged", f"{deploy['no_op_s']:.2f} s"],
        ],
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    run_main(main)
