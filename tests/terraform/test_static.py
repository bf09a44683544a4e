"""The configuration as text: formatted, valid, and declaring what the contracts ask for."""

from __future__ import annotations

import re

from util.environments import OUTPUT_NAMES, WEB_HOSTING_OUTPUT_NAMES, WEB_OUTPUT_NAMES

from .declarations import attribute, blocks
from .paths import DEPLOYMENT_DIR
from .workdir import Workdir


def test_configuration_is_formatted(offline_workdir: Workdir) -> None:
    # The copy holds every .tf, .tftest.hcl and .tfmock.hcl file of deployment/.
    result = offline_workdir.run("fmt", "-check", "-recursive", "-list=true", check=False)

    assert result.returncode == 0, f"not formatted (run `terraform fmt -recursive deployment`): {result.stdout}"


def test_configuration_is_valid(offline_workdir: Workdir) -> None:
    result = offline_workdir.run("validate", "-json", check=False)

    assert result.returncode == 0, result.stdout
    assert '"valid": true' in result.stdout
    assert '"warning_count": 0' in result.stdout


def test_outputs_tf_declares_exactly_the_contract_outputs() -> None:
    declared = blocks(DEPLOYMENT_DIR / "outputs.tf", "output")

    assert sorted(declared) == sorted((*OUTPUT_NAMES, *WEB_OUTPUT_NAMES, *WEB_HOSTING_OUTPUT_NAMES))


def test_every_output_has_a_description() -> None:
    declared = blocks(DEPLOYMENT_DIR / "outputs.tf", "output")

    assert [name for name, body in declared.items() if attribute(body, "description") is None] == []


def test_every_variable_has_description_type_and_validation_unless_boolean() -> None:
    declared = blocks(DEPLOYMENT_DIR / "variables.tf", "variable")
    problems = []
    for name, body in declared.items():
        type_ = attribute(body, "type")
        if attribute(body, "description") is None:
            problems.append(f"{name}: no description")
        if type_ is None:
            problems.append(f"{name}: no type")
        if type_ != "bool" and "\n  validation {" not in body:
            problems.append(f"{name}: no validation")

    assert len(declared) >= 15
    assert problems == []


def test_variables_have_the_defaults_the_design_fixes() -> None:
    declared = blocks(DEPLOYMENT_DIR / "variables.tf", "variable")

    assert attribute(declared["project"], "default") == '"wspush"'
    assert attribute(declared["stage_name"], "default") == '"live"'
    assert attribute(declared["init_api_gw_logging_role"], "default") == "false"
    assert attribute(declared["force_destroy"], "default") == "false"
    assert attribute(declared["auth_mode"], "default") == '"none"'
    assert attribute(declared["create_user_pool"], "default") == "false"


def test_only_variables_tf_declares_variables() -> None:
    others = [
        path.name for path in DEPLOYMENT_DIR.glob("*.tf") if path.name != "variables.tf" and blocks(path, "variable")
    ]

    assert others == []


def test_terraform_never_holds_the_connect_token_only_its_parameters_placeholder() -> None:
    """The token lives in an SSM SecureString that Terraform creates with a placeholder and then ignores: no
    variable, plan or state ever holds it; the function refuses the placeholder (same text in both places)."""
    from lambda_src.config import CONNECT_TOKEN_PLACEHOLDER

    deployment = DEPLOYMENT_DIR
    variables = (deployment / "variables.tf").read_text(encoding="utf-8")
    assert re.search(r'variable\s+"connect_token"', variables) is None
    auth = (deployment / "auth.tf").read_text(encoding="utf-8")
    block = re.search(r'resource\s+"aws_ssm_parameter"\s+"connect_token"\s*\{(.*?)\n\}', auth, re.DOTALL)
    assert block is not None
    assert re.search(r'type\s*=\s*"SecureString"', block.group(1))
    assert re.search(r"ignore_changes\s*=\s*\[value\]", block.group(1))
    assert f'connect_token_placeholder = "{CONNECT_TOKEN_PLACEHOLDER}"' in auth
