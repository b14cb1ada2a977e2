"""environment.yml and pyproject.toml list the same dependencies; README commands exist."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    lines = (REPO / "environment.yml").read_text().splitlines()
    pip_section = lines[lines.index("  - pip:") + 1:]
    listed = {line.strip()[2:] for line in pip_section if line.strip().startswith("- ")} - {"-e ."}
    assert listed == wanted


def test_readme_states_the_two_commands_that_ci_runs():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    assert "bash tasks.sh figures" in blocks[0] and "bash tasks.sh test" in blocks[1]
    assert "bash tasks.sh test" in (REPO / ".ci" / "run").read_text()
