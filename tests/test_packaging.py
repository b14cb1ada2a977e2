"""pyproject.toml ranges, the lock and environment.yml agree; the README commands exist."""
from __future__ import annotations

import os
import re
import subprocess
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


def test_the_campaign_pauses_for_the_session_save_and_resumes_after_it(tmp_path):
    """``tasks.sh cpu-campaign save`` stops the running campaign (two cores) while it stores, renders and reports,
    and lets it go on afterwards; ``pause`` / ``resume`` do each half; ``stop`` ends it, paused or not. A stub interpreter records the campaign's
    process state at each step, and a sleeping process stands in for the campaign."""
    import shutil
    import stat
    import time

    shutil.copy(REPO / "tasks.sh", tmp_path / "tasks.sh")
    for name in ("pyproject.toml", "requirements-lock.txt"):
        (tmp_path / name).write_text("")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    campaign = subprocess.Popen(["sleep", "120"])
    try:
        (tmp_path / "build").mkdir()
        (tmp_path / "build" / "campaign.log.pid").write_text(str(campaign.pid))
        stub = tmp_path / ".venv" / "bin" / "python"
        stub.parent.mkdir(parents=True)
        # a signal takes effect when the process next runs: the stub waits up to 5 s for the stop before it records
        stub.write_text(f"#!/bin/sh\nfor i in $(seq 50); do s=$(cut -d' ' -f3 /proc/{campaign.pid}/stat); "
                        f"[ \"$s\" = T ] && break; sleep 0.1; done\necho $s >> {tmp_path}/states\n")
        stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
        time.sleep(0.01)
        (tmp_path / ".venv" / ".ltlib-installed").write_text("")  # newer than pyproject.toml: no install

        def state(wanted: str) -> str:  # the process state once it is one of ``wanted``, or after 5 s
            for _ in range(50):
                if (now := Path(f"/proc/{campaign.pid}/stat").read_text().split()[2]) in wanted:
                    break
                time.sleep(0.1)
            return now

        def tasks(*args):
            return subprocess.run(["bash", str(tmp_path / "tasks.sh"), "cpu-campaign", *args], capture_output=True,
                                  text=True, timeout=60, env={**os.environ, "LTLIB_VENV": ".venv"})

        done = tasks("save")
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "states").read_text().split() == ["T", "T", "T"]  # stopped at every step of the save
        assert state("SR") in ("S", "R") and f"campaign (pid {campaign.pid}): SIGCONT" in done.stdout
        assert tasks("pause").returncode == 0 and state("T") == "T"
        assert tasks("resume").returncode == 0 and state("SR") in ("S", "R")
        assert tasks("pause").returncode == 0 and state("T") == "T"
        stopped = tasks("stop")  # ends it even while paused
        assert stopped.returncode == 0 and f"campaign (pid {campaign.pid}) ended" in stopped.stdout
        assert state("Z") == "Z" and "not running" in tasks("status").stdout.splitlines()[0]
    finally:
        campaign.kill()
        campaign.wait()
    assert "no campaign runs" in tasks("pause").stdout
