"""The store's boundary, held by reading the source: only the store implementations name S3 or DynamoDB APIs,
and the facts the table shares with Terraform (keys, TTL, IAM actions, store kinds, expiry) have one value."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from lambda_src.store import dynamodb as dynamodb_store
from lambda_src.store import s3 as s3_store
from lambda_src.store.contract import RECORD_TTL_S
from lambda_src.store.open import StoreKind

LAMBDA_SRC = Path(dynamodb_store.__file__).parents[1]
DEPLOYMENT = LAMBDA_SRC.parent / "deployment"
STORE_IMPLEMENTATIONS = {"store/s3.py", "store/dynamodb.py"}
SERVICE_NAMES = re.compile(r"(?i)^(s3|dynamodb)$|mypy_boto3_(s3|dynamodb)|boto3\.dynamodb")


def named_services(path: Path) -> list[str]:
    """Imports of S3/DynamoDB type stubs or boto3's DynamoDB helpers, and string literals "s3" / "dynamodb"
    passed to a call (`client("s3")`), in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and SERVICE_NAMES.search(node.module):
            found.append(f"from {node.module} import")
        elif isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if SERVICE_NAMES.search(a.name)]
        elif isinstance(node, ast.Call):
            found += [
                f"call with {arg.value!r}"
                for arg in node.args
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and SERVICE_NAMES.search(arg.value)
            ]
    return found


def test_no_module_outside_the_store_implementations_names_s3_or_dynamodb_apis() -> None:
    offenders = {
        path.relative_to(LAMBDA_SRC).as_posix(): named_services(path)
        for path in sorted(LAMBDA_SRC.rglob("*.py"))
        if path.relative_to(LAMBDA_SRC).as_posix() not in STORE_IMPLEMENTATIONS and named_services(path)
    }

    assert offenders == {}


REPOSITORY = LAMBDA_SRC.parent
PROVISIONING_MODULES = {
    "util/local/aws/resources.py": "creates (and empties) the local stack's bucket or table, as deployment/ does",
    "util/local/aws/store_faults.py": "signs the store calls it passes on for moto (the fault proxy), reads none",
    "util/clients.py": "`s3_client` for the web-hosting bucket (util web-deploy), not the connection store",
    "util/web_deploy.py": "uploads the browser client to the web-hosting bucket (its type stubs), not the store",
    "bench/store_listing.py": "creates the bucket or table whose listing it measures, then lists it via the store",
}
"""Modules of util/ and bench/ that may name S3 or DynamoDB, each for a resource, never to read the store."""


def test_util_and_bench_name_s3_or_dynamodb_only_to_provision_resources() -> None:
    modules = sorted([*(REPOSITORY / "util").rglob("*.py"), *(REPOSITORY / "bench").rglob("*.py")])
    offenders = {
        path.relative_to(REPOSITORY).as_posix(): named_services(path)
        for path in modules
        if path.relative_to(REPOSITORY).as_posix() not in PROVISIONING_MODULES and named_services(path)
    }

    assert len(modules) > 50, "the check must see util/ and bench/"
    assert offenders == {}
    for allowed in PROVISIONING_MODULES:
        assert named_services(REPOSITORY / allowed), f"{allowed} no longer names S3 or DynamoDB: drop it from the list"


def test_the_check_sees_what_the_implementations_name() -> None:
    # Guards the guard: the implementations do name their service, so the check would catch it anywhere else.
    assert "call with 's3'" in named_services(LAMBDA_SRC / "store" / "s3.py")
    assert "call with 'dynamodb'" in named_services(LAMBDA_SRC / "store" / "dynamodb.py")
    assert "from mypy_boto3_dynamodb import" in named_services(LAMBDA_SRC / "store" / "dynamodb.py")


def _local(name: str) -> str:
    match = re.search(rf"^\s*{name}\s*=\s*(.+)$", (DEPLOYMENT / "locals.tf").read_text(encoding="utf-8"), re.M)
    assert match, f"locals.tf has no {name}"
    return match.group(1).strip()


def test_table_keys_and_ttl_attribute_are_terraforms() -> None:
    assert _local("table_partition_key") == f'"{dynamodb_store.PARTITION_KEY}"'
    assert _local("table_sort_key") == f'"{dynamodb_store.SORT_KEY}"'
    assert _local("table_ttl_attribute") == f'"{dynamodb_store.TTL_ATTRIBUTE}"'


def test_the_s3_store_writes_exactly_the_prefixes_terraform_grants_and_expires() -> None:
    declared = re.findall(r'^\s*(\w+_prefix)\s*=\s*"(.*)"$', _locals_text(), re.M)
    prefixes = dict(declared)
    granted = re.findall(r"local\.(\w+_prefix)", _local("store_prefixes"))
    expired = re.findall(r"prefix = local\.(\w+_prefix)", (DEPLOYMENT / "store.tf").read_text(encoding="utf-8"))

    assert tuple(prefixes[name] for name in granted) == s3_store.STORE_PREFIXES
    # History has a grant of its own (read and write, never delete) and its own expiry: the retention.
    assert prefixes["history_prefix"] == s3_store.HISTORY_PREFIX
    assert sorted(expired) == sorted([*granted, "history_prefix"])


def _locals_text() -> str:
    return (DEPLOYMENT / "locals.tf").read_text(encoding="utf-8")


def test_records_expire_after_terraforms_expiry() -> None:
    assert int(_local("connection_record_expiration_days")) * 24 * 3600 == RECORD_TTL_S


def test_store_kinds_are_the_values_terraform_validates() -> None:
    text = (DEPLOYMENT / "variables.tf").read_text(encoding="utf-8")
    match = re.search(r"contains\(\[([^\]]*)\], var\.connection_store\)", text)

    assert match
    assert tuple(re.findall(r'"([^"]+)"', match.group(1))) == tuple(StoreKind)


def test_iam_grants_exactly_the_dynamodb_calls_the_store_makes() -> None:
    tree = ast.parse(Path(dynamodb_store.__file__).read_text(encoding="utf-8"))
    calls = {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "_dynamodb"
    }
    actions = {"dynamodb:" + "".join(part.title() for part in call.split("_")) for call in calls}
    text = (DEPLOYMENT / "locals.tf").read_text(encoding="utf-8")
    block = text[text.index("dynamodb_store_actions = [") :]
    granted = set(re.findall(r'"(dynamodb:[A-Za-z]+)"', block[: block.index("]")]))

    assert actions == granted


def test_history_prefix_is_the_one_terraform_scopes_and_expires() -> None:
    from lambda_src.store.s3 import HISTORY_PREFIX

    assert _local("history_prefix") == f'"{HISTORY_PREFIX}"'


def test_history_and_presence_defaults_are_terraforms() -> None:
    from lambda_src import config

    text = (DEPLOYMENT / "variables.tf").read_text(encoding="utf-8")
    defaults = {
        name: int(value) for name, value in re.findall(r'variable "([a-z_]+)" \{[^}]*?default\s*=\s*(\d+)', text, re.S)
    }

    assert defaults["history_size"] == config.DEFAULT_HISTORY_SIZE
    assert defaults["history_retention_hours"] == config.DEFAULT_HISTORY_RETENTION_HOURS
    assert defaults["history_page_limit"] == config.DEFAULT_HISTORY_PAGE_LIMIT
    assert defaults["presence_max_members"] == config.DEFAULT_PRESENCE_MAX_MEMBERS
