"""Offline `terraform init`: find the machine's provider mirror and write a CLI config that uses only it.

The mirror root is the folder holding `registry.terraform.io/hashicorp/aws/...` (the unpacked layout of
`terraform providers mirror` or of a plugin directory). It is `$TF_PROVIDER_MIRROR` when set; else the
first hit among Terraform's own plugin directories and a depth-limited scan of a few system roots.
No path of a particular machine is written down here.

Run `python -m tests.terraform.mirror` to print the root that would be used, or
`python -m tests.terraform.mirror --write-cli-config DIR` to write the config into DIR and print its
path (for `export TF_CLI_CONFIG_FILE=...` before a hand-run `terraform init`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

MIRROR_ENV = "TF_PROVIDER_MIRROR"
CLI_CONFIG_ENV = "TF_CLI_CONFIG_FILE"
REGISTRY_HOST = "registry.terraform.io"
PROVIDER_SUBPATH = Path(REGISTRY_HOST) / "hashicorp" / "aws"
SCAN_MAX_DEPTH = 4
"""How deep below each scan root a mirror root may sit (e.g. <root>/share/terraform/plugins)."""
SCAN_SKIP_DIRS = frozenset({"proc", "sys", "dev", "run", "tmp", "node_modules", ".git", "__pycache__", "site-packages"})


class MirrorNotFound(RuntimeError):
    """No provider mirror holding hashicorp/aws was found."""


def plugin_dirs() -> list[Path]:
    """Terraform's own implied local mirror directories (per its CLI documentation), user first."""
    home = Path.home()
    data_home = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    data_dirs = (os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(os.pathsep)
    return [
        home / ".terraform.d" / "plugins",
        data_home / "terraform" / "plugins",
        *(Path(entry) / "terraform" / "plugins" for entry in data_dirs if entry),
    ]


def scan_roots() -> list[Path]:
    """Where else mirrors are customarily installed: system-wide add-on trees, then the home directory."""
    return [Path("/opt"), Path("/usr/local"), Path("/usr/share"), Path("/srv"), Path.home()]


def is_mirror_root(path: Path) -> bool:
    return (path / PROVIDER_SUBPATH).is_dir()


def _walk_limited(root: Path, max_depth: int) -> Iterator[Path]:
    """Directories under `root` down to `max_depth`, breadth first, never following symlinks."""
    level = [root]
    for _ in range(max_depth + 1):
        following: list[Path] = []
        for directory in level:
            yield directory
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False) and entry.name not in SCAN_SKIP_DIRS:
                            following.append(Path(entry.path))
            except OSError:
                continue
        level = sorted(following)


def find_mirror_root(
    candidates: Iterable[Path] | None = None,
    roots: Iterable[Path] | None = None,
    max_depth: int = SCAN_MAX_DEPTH,
) -> Path:
    """The provider mirror root; raises `MirrorNotFound` saying where it looked and how to point at one."""
    configured = os.environ.get(MIRROR_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not is_mirror_root(path):
            raise MirrorNotFound(f"{MIRROR_ENV}={configured} holds no {PROVIDER_SUBPATH}")
        return path
    candidates = plugin_dirs() if candidates is None else list(candidates)
    for candidate in candidates:
        if is_mirror_root(candidate):
            return candidate
    roots = scan_roots() if roots is None else list(roots)
    for root in roots:
        for directory in _walk_limited(root, max_depth):
            if directory.name == REGISTRY_HOST and is_mirror_root(directory.parent):
                return directory.parent
    searched = ", ".join(str(path) for path in [*candidates, *roots])
    raise MirrorNotFound(
        f"no Terraform provider mirror with {PROVIDER_SUBPATH} under {searched}: set {MIRROR_ENV} to its root"
    )


def cli_config_text(mirror_root: Path) -> str:
    """A CLI config that installs hashicorp providers from the mirror and never from the network."""
    # A JSON string literal is a valid HCL string literal, whatever the path holds.
    root = json.dumps(str(mirror_root))
    return (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {root}\n"
        '    include = ["registry.terraform.io/hashicorp/*"]\n'
        "  }\n"
        "  direct {\n"
        '    exclude = ["registry.terraform.io/hashicorp/*"]\n'
        "  }\n"
        "}\n"
    )


def write_cli_config(directory: Path, mirror_root: Path | None = None) -> Path:
    """Write the CLI config into `directory`; returns its path, for `TF_CLI_CONFIG_FILE`."""
    path = directory / "terraform-offline.tfrc"
    path.write_text(cli_config_text(find_mirror_root() if mirror_root is None else mirror_root), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Find the Terraform provider mirror for offline init.")
    parser.add_argument("--write-cli-config", metavar="DIR", type=Path, help="write a CLI config into DIR")
    args = parser.parse_args(argv)
    try:
        if args.write_cli_config is None:
            sys.stdout.write(f"{find_mirror_root()}\n")
        else:
            args.write_cli_config.mkdir(parents=True, exist_ok=True)
            sys.stdout.write(f"{write_cli_config(args.write_cli_config)}\n")
    except (MirrorNotFound, OSError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
