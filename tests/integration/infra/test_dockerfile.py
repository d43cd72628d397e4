"""The image recipe: hadolint-clean, multi-stage, non-root, health-checked, built from locks."""

from __future__ import annotations

import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.integration.infra.conftest import ROOT, tool

DOCKERFILE = ROOT / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction with its continuation lines joined."""

    keyword: str
    args: str


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """Split a Dockerfile into stages (each starting at FROM) of joined instructions."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[list[Instruction]] = []
    for entry in logical:
        keyword, _, args = entry.partition(" ")
        instruction = Instruction(keyword.upper(), " ".join(args.split()))
        if instruction.keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def stages() -> list[list[Instruction]]:
    """The project's Dockerfile, parsed."""
    return parse_dockerfile(DOCKERFILE.read_text())


def pyproject() -> dict[str, object]:
    """The project's pyproject.toml."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def wheel_sources() -> set[str]:
    """The paths hatchling puts in the wheel (tool.hatch.build.targets.wheel.only-include)."""
    tool_table = pyproject()["tool"]
    assert isinstance(tool_table, dict)
    return set(tool_table["hatch"]["build"]["targets"]["wheel"]["only-include"])


def copy_sources(stage: list[Instruction]) -> list[str]:
    """The build-context paths a stage COPYs, in order (COPY --from=... excluded)."""
    sources: list[str] = []
    for instruction in stage:
        if instruction.keyword != "COPY" or "--from=" in instruction.args:
            continue
        sources.extend(path.rstrip("/") for path in instruction.args.split()[:-1])
    return sources


def locked_pins(path: Path) -> dict[str, Version]:
    """Map each package pinned in a pip-compile lock file to its version."""
    pins: dict[str, Version] = {}
    for match in re.finditer(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", path.read_text(), re.MULTILINE):
        pins[canonicalize_name(match[1])] = Version(match[2])
    return pins


def unhashed_pins(path: Path) -> list[str]:
    """Pinned packages in a lock file that carry no --hash (pip --require-hashes would refuse)."""
    blocks = re.split(r"^(?=[A-Za-z0-9])", path.read_text(), flags=re.MULTILINE)
    return [block.split()[0] for block in blocks if "==" in block and "--hash=sha256:" not in block]


def test_hadolint_reports_nothing() -> None:
    """hadolint (default threshold: any finding, info included, fails) has nothing to say."""
    result = subprocess.run(
        [tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_fails_a_careless_dockerfile() -> None:
    """The linter really runs: an unpinned apt install as root is reported and fails."""
    careless = "FROM python:3.11-slim\nRUN apt-get update && apt-get install -y curl\n"
    result = subprocess.run(
        [tool("hadolint"), "-"], input=careless, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "DL3008" in result.stdout


def test_image_is_multi_stage_and_the_runtime_installs_nothing() -> None:
    """A builder stage installs; the runtime stage only copies the finished venv from it."""
    builder, runtime = stages()[0], stages()[-1]
    assert len(stages()) >= 2
    assert builder[0].args.endswith("AS builder")
    runtime_runs = " ".join(i.args for i in runtime if i.keyword == "RUN")
    assert "pip" not in runtime_runs
    assert "apt-get" not in runtime_runs
    assert [i.args for i in runtime if i.keyword == "COPY"] == [
        "--from=builder /opt/venv /opt/venv"
    ]


def test_runtime_runs_as_a_numeric_non_root_user() -> None:
    """The last USER of the runtime stage is a numeric uid:gid other than root."""
    users = [i.args for i in stages()[-1] if i.keyword == "USER"]
    assert users
    assert re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1])


def test_runtime_health_stop_signal_volume_and_command() -> None:
    """HEALTHCHECK gets /healthz via urllib; SIGTERM; /data volume; runs `ibpicker bot`."""
    runtime = {i.keyword: i.args for i in stages()[-1]}
    assert "/healthz" in runtime["HEALTHCHECK"]
    assert "urllib.request" in runtime["HEALTHCHECK"]
    assert runtime["STOPSIGNAL"] == "SIGTERM"
    assert runtime["VOLUME"] == '["/data"]'
    assert "IBPICKER_DATA_DIR=/data" in runtime["ENV"]
    assert (runtime["ENTRYPOINT"], runtime["CMD"]) == ('["ibpicker"]', '["bot"]')


def test_builder_copies_exactly_the_wheel_sources_after_the_locks() -> None:
    """The builder copies what hatchling packs (no drift from pyproject), and the source last."""
    sources = copy_sources(stages()[0])
    assert sources[:2] == ["requirements-build.lock", "requirements.lock"]
    assert set(sources[2:]) == wheel_sources() | {"pyproject.toml", "README.md"}


def test_dockerignore_admits_only_what_the_dockerfile_copies() -> None:
    """.dockerignore is an allow-list: it excludes everything, then re-admits each COPY source."""
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert lines[0] == "*"
    assert admitted == set(copy_sources(stages()[0]))


def test_lock_pins_every_runtime_dependency_within_its_range() -> None:
    """requirements.lock pins, with hashes, each pyproject dependency within its range."""
    project = pyproject()["project"]
    assert isinstance(project, dict)
    pins = locked_pins(ROOT / "requirements.lock")
    stale = []
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None or pinned not in requirement.specifier:
            stale.append(f"{spec} (locked: {pinned})")
    assert stale == [], "refresh requirements.lock as docs/deploy.md says"
    assert unhashed_pins(ROOT / "requirements.lock") == []


def test_build_lock_pins_the_build_backend() -> None:
    """requirements-build.lock pins, with hashes, what [build-system] requires."""
    build_system = pyproject()["build-system"]
    assert isinstance(build_system, dict)
    pins = locked_pins(ROOT / "requirements-build.lock")
    for spec in build_system["requires"]:
        requirement = Requirement(spec)
        assert pins[canonicalize_name(requirement.name)] in requirement.specifier
    assert unhashed_pins(ROOT / "requirements-build.lock") == []
