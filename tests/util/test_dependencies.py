"""The Lambda's dependencies: one runtime source for Terraform and the build, pins that agree with pyproject.toml,
wheels for the function's platform, and a package that imports and verifies a token in a bare venv."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from util.build import build_for, default_source
from util.dependencies import PLATFORM_TAGS, Target, requirements, runtime_facts

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT = REPO_ROOT / "deployment"


def test_terraform_takes_the_runtime_and_architectures_from_the_shared_file() -> None:
    facts = runtime_facts(DEPLOYMENT)
    lambda_tf = (DEPLOYMENT / "lambda.tf").read_text(encoding="utf-8")
    variables = (DEPLOYMENT / "variables.tf").read_text(encoding="utf-8")
    architecture = re.search(r'variable "lambda_architecture" \{(.*?)\n\}', variables, re.DOTALL)

    assert 'jsondecode(file("${path.module}/lambda-runtime.json"))' in lambda_tf
    assert "runtime       = local.lambda_runtime.runtime" in lambda_tf
    assert architecture is not None
    assert f'default     = "{facts.default_architecture}"' in architecture.group(1)
    listed = re.search(r"contains\(\[(.*?)\], var.lambda_architecture\)", architecture.group(1))
    assert listed is not None
    assert sorted(re.findall(r'"([^"]+)"', listed.group(1))) == sorted(facts.architectures)
    assert set(facts.architectures) == set(PLATFORM_TAGS)


def test_the_lambdas_pins_are_what_pyproject_requires() -> None:
    pins = dict(pin.lower().split("==") for pin in requirements(default_source()))
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {
        re.split(r"[\[=<>]", dependency, maxsplit=1)[0].lower(): dependency for dependency in project["dependencies"]
    }
    for name in ("pyjwt", "cryptography"):
        assert declared[name].endswith(f"=={pins[name]}"), (name, declared[name])


@pytest.mark.stack
def test_the_arm64_package_holds_aarch64_wheels_and_the_same_inputs_give_the_same_bytes() -> None:
    target = Target.of_runtime(runtime_facts(DEPLOYMENT).runtime, "arm64")
    package = build_for(default_source(), target)

    native = [name for name in package.files if name.endswith(".so")]
    assert native, "cryptography and cffi bring native extensions"
    assert all("aarch64" in name or name.endswith(".abi3.so") for name in native), native
    with zipfile.ZipFile(__import__("io").BytesIO(package.data)) as archive:
        metadata = [archive.read(n).decode() for n in archive.namelist() if n.endswith(".dist-info/WHEEL")]
    tags = [line for text in metadata for line in text.splitlines() if line.startswith("Tag:")]
    platform_tags = [tag for tag in tags if not tag.endswith("-any")]
    assert platform_tags and all("aarch64" in tag for tag in platform_tags), platform_tags
    assert "cp312" in " ".join(tags)
    assert build_for(default_source(), target).data == package.data


@pytest.mark.stack
@pytest.mark.timeout(420)  # a fresh venv with boto3 installed from the index: minutes on a loaded machine
def test_an_x86_64_package_imports_and_verifies_a_token_in_a_venv_with_only_boto3(tmp_path: Path) -> None:
    # This machine's Python stands in for the runtime's, so the wheels are fetched for its version.
    target = Target("x86_64", f"{sys.version_info.major}.{sys.version_info.minor}")
    package = build_for(default_source(), target)
    unpacked = tmp_path / "task"
    with zipfile.ZipFile(__import__("io").BytesIO(package.data)) as archive:
        archive.extractall(unpacked)
    bare = tmp_path / "venv"
    venv.create(bare, with_pip=True)
    python = bare / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "boto3"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    probe = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import lambda_src.app
from cryptography.hazmat.primitives.asymmetric import ec
import jwt
from jwt.algorithms import ECAlgorithm
from lambda_src.config import JwtSettings
from lambda_src.auth.jwks import JwksCache
from lambda_src.auth.tokens import TokenVerifier
key = ec.generate_private_key(ec.SECP256R1())
jwk = {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "k1"}
settings = JwtSettings(issuer="https://i", audience="a", jwks_url="https://i/jwks")
verifier = TokenVerifier(settings, JwksCache(settings.jwks_url, fetch=lambda url: {"keys": [jwk]}))
now = int(time.time())
token = jwt.encode({"iss": "https://i", "aud": "a", "sub": "s", "exp": now + 60}, key, "ES256", headers={"kid": "k1"})
print(json.dumps({"sub": verifier.verify(token)["sub"], "jwt_from": jwt.__file__, "app_from": lambda_src.app.__file__}))
"""
    result = subprocess.run(
        [str(python), "-c", probe, str(unpacked)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    facts = __import__("json").loads(result.stdout)
    assert facts["sub"] == "s"
    assert facts["jwt_from"].startswith(str(unpacked)) and facts["app_from"].startswith(str(unpacked))
    listing = subprocess.run(
        [str(python), "-m", "pip", "list"], check=False, capture_output=True, text=True, timeout=60
    ).stdout
    assert "PyJWT" not in listing and "cryptography" not in listing, "the venv itself must not have them"
