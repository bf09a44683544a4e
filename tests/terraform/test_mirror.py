"""Finding the provider mirror and writing the offline CLI config."""

from __future__ import annotations

from pathlib import Path

import pytest

from .mirror import MIRROR_ENV, PROVIDER_SUBPATH, MirrorNotFound, cli_config_text, find_mirror_root


def make_mirror(root: Path) -> Path:
    (root / PROVIDER_SUBPATH / "5.100.0" / "linux_amd64").mkdir(parents=True)
    return root


def test_mirror_from_environment_variable_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configured = make_mirror(tmp_path / "configured")
    candidate = make_mirror(tmp_path / "candidate")
    monkeypatch.setenv(MIRROR_ENV, str(configured))

    assert find_mirror_root(candidates=[candidate], roots=[]) == configured


def test_environment_variable_without_provider_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))

    with pytest.raises(MirrorNotFound, match=f"^{MIRROR_ENV}=.* holds no registry.terraform.io/hashicorp/aws$"):
        find_mirror_root(candidates=[], roots=[])


def test_plugin_directory_candidate_is_taken_before_scanning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    candidate = make_mirror(tmp_path / "plugins")
    make_mirror(tmp_path / "scan" / "a")

    assert find_mirror_root(candidates=[tmp_path / "missing", candidate], roots=[tmp_path / "scan"]) == candidate


def test_scan_finds_a_mirror_nested_within_the_depth_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    nested = make_mirror(tmp_path / "opt" / "vendor" / "tf-plugins")

    assert find_mirror_root(candidates=[], roots=[tmp_path / "opt"], max_depth=3) == nested


def test_scan_does_not_descend_below_the_depth_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MIRROR_ENV, raising=False)
    make_mirror(tmp_path / "opt" / "a" / "b" / "c" / "d")

    with pytest.raises(MirrorNotFound, match=f"set {MIRROR_ENV} to its root$"):
        find_mirror_root(candidates=[], roots=[tmp_path / "opt"], max_depth=3)


def test_this_machine_has_a_mirror_with_the_aws_provider_binary() -> None:
    root = find_mirror_root()

    assert list((root / PROVIDER_SUBPATH).glob("*/*/terraform-provider-aws*")), f"no provider binary under {root}"


def test_cli_config_installs_hashicorp_providers_from_the_mirror_only(tmp_path: Path) -> None:
    text = cli_config_text(tmp_path / 'odd "dir"')

    assert text == (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{tmp_path}/odd \\"dir\\""\n'
        '    include = ["registry.terraform.io/hashicorp/*"]\n'
        "  }\n"
        "  direct {\n"
        '    exclude = ["registry.terraform.io/hashicorp/*"]\n'
        "  }\n"
        "}\n"
    )
