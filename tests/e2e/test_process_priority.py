"""R16 on a shared machine: the enrollment check and the payment intake run at the default priority;
registration's batches and the scheduled workers yield the CPU to them (niceness from ops/processes.py)."""

from __future__ import annotations

from pathlib import Path

from ops.processes import PROCESSES
from tests.e2e.system import System


def niceness(pid: int) -> int:
    # /proc/<pid>/stat: the command name (field 2) may hold spaces; the fields after it do not.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])  # field 19 of the whole line


def test_every_process_runs_at_the_niceness_its_spec_gives(system: System) -> None:
    seen = {spec.name: niceness(system.processes[spec.name].pid) for spec in PROCESSES}
    assert seen == {spec.name: spec.niceness for spec in PROCESSES}
    assert seen["enrollment"] == seen["collection"] == 0
    assert seen["registration"] > 0 and seen["renewal"] > seen["registration"]
