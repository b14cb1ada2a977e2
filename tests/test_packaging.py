"""pyproject.toml ranges, the lock and environment.yml agree; the README commands exist."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent


def locked_versions() -> dict[str, str]:
    lines = (REPO / "requirements-lock.txt").read_text().splitlines()
    pairs = [line.split("==") for line in lines if line.strip() and not line.startswith("#")]
    return {canonicalize_name(name): version for name, version in pairs}


def test_lock_pins_every_dependency_within_its_range():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    locked = locked_versions()
    for line in project["dependencies"] + project["optional-dependencies"]["dev"]:
        requirement = Requirement(line)
        version = locked.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is missing from requirements-lock.txt"
        assert requirement.specifier.contains(version), f"locked {requirement.name}=={version} is outside {line!r}"
    assert "-c requirements-lock.txt" in (REPO / "tasks.sh").read_text()


def test_environment_yml_pins_pyproject_dependencies_at_the_locked_versions():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {canonicalize_name(Requirement(line).name)
              for line in project["dependencies"] + project["optional-dependencies"]["dev"]}
    lines = (REPO / "environment.yml").read_text().splitlines()
    pip_section = lines[lines.index("  - pip:") + 1:]
    listed = [line.strip()[2:] for line in pip_section if line.strip().startswith("- ")]
    pins = dict(item.split("==") for item in listed if item != "-e .")
    assert {canonicalize_name(name) for name in pins} == wanted
    locked = locked_versions()
    assert {name: version for name, version in pins.items() if locked[canonicalize_name(name)] != version} == {}


def test_readme_states_the_two_commands_that_ci_runs():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    assert "bash tasks.sh figures" in blocks[0] and "bash tasks.sh test" in blocks[1]
    assert "bash tasks.sh test" in (REPO / ".ci" / "run").read_text()
