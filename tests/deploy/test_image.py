"""The Dockerfile: multi-stage, slim Python 3.11, the Makefile's uv and the lock file, `make gen`'s
code generator, non-root, `python -m` as entrypoint; .dockerignore lets in exactly what it copies."""

from __future__ import annotations

import fnmatch
import re

from ops.processes import PROCESSES
from tests.deploy.manifests import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
INSTRUCTIONS = [line.strip() for line in DOCKERFILE.splitlines() if line.strip() and not line.startswith("#")]


def _makefile_variable(name: str) -> str:
    match = re.search(rf"^{name} := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, name
    return match.group(1)


def test_build_and_runtime_are_separate_stages_of_a_slim_python_311() -> None:
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim-\w+$", DOCKERFILE, re.MULTILINE)
    stages = re.findall(r"^FROM \$\{PYTHON_IMAGE\} AS (\w+)$", DOCKERFILE, re.MULTILINE)
    assert stages == ["build", "runtime"]


def test_dependencies_come_from_the_lock_file_with_the_makefiles_uv() -> None:
    assert f"ARG UV_VERSION={_makefile_variable('UV_VERSION')}" in INSTRUCTIONS
    syncs = [line for line in INSTRUCTIONS if "uv sync" in line]
    assert syncs and all("--frozen" in line for line in syncs)
    runtime_sync = [line for line in syncs if "/opt/venv" in line]
    assert len(runtime_sync) == 1 and "--no-dev" in runtime_sync[0]


def test_generated_code_is_made_by_the_same_generator_as_make_gen() -> None:
    assert "rm -rf gen && $(PY) -m ops.codegen" in (ROOT / "Makefile").read_text()
    assert "RUN /src/.venv/bin/python -m ops.codegen" in INSTRUCTIONS
    assert "COPY --from=build /src/gen /app/gen" in INSTRUCTIONS


def test_runs_as_a_non_root_user_with_python_m_as_entrypoint() -> None:
    runtime = DOCKERFILE.split("AS runtime", 1)[1]
    users = re.findall(r"^USER (\S+)$", runtime, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert 'ENTRYPOINT ["python", "-m"]' in INSTRUCTIONS
    # Nothing is installed in the runtime stage: no uv, no pip, no compiler; it only copies the venv.
    runtime_runs = [line for line in runtime.splitlines() if line.startswith("RUN ")]
    assert not any("pip " in line or "uv " in line or "apt-get" in line for line in runtime_runs)


def _ignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        if glob == "**" or fnmatch.fnmatch(path, glob) or path.startswith(glob + "/"):
            ignored = not negated
    return ignored


def test_dockerignore_lets_in_every_copied_source_and_keeps_local_state_out() -> None:
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and p[0] != "#"]
    sources = [
        s for line in INSTRUCTIONS if line.startswith("COPY ") and "--from" not in line for s in line.split()[1:-1]
    ]
    assert sources
    for source in sources:
        assert not _ignored(source, patterns), source
    for local in (".venv", ".tools", "gen", ".git", "tests", "run", ".make"):
        assert _ignored(local, patterns), local


def test_every_process_module_is_in_the_image() -> None:
    copied = {line.split()[1].rstrip("/") for line in INSTRUCTIONS if line.startswith("COPY ") and "--from" not in line}
    for spec in PROCESSES:
        top = spec.args[1].split(".")[0]
        assert top in copied, spec.name
