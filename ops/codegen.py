"""Generates the Python code (messages, gRPC stubs, mypy stubs) for every proto under protos/.

`make gen` runs this into gen/; tests/unit/test_generated_code.py runs it into a temporary folder and
fails when gen/ differs, so generated code can never silently go stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
GEN_ROOT = ROOT / "gen"


def proto_files() -> list[Path]:
    """Every .proto file of ours, in a stable order."""
    return sorted(PROTO_ROOT.rglob("*.proto"))


def generate(out_dir: Path) -> None:
    """Writes *_pb2.py, *_pb2_grpc.py and their .pyi stubs under out_dir, with package __init__ files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    bin_dir = Path(sys.executable).parent
    wkt_include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{wkt_include}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *(str(p.relative_to(PROTO_ROOT)) for p in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for package_dir in {p.parent for p in out_dir.rglob("*.py")}:
        for directory in [package_dir, *package_dir.parents]:
            if directory == out_dir or out_dir not in directory.parents:
                break
            (directory / "__init__.py").touch()
    (out_dir / "medins" / "py.typed").touch()


def main() -> None:
    generate(GEN_ROOT)
    print(f"generated {len(proto_files())} protos into {GEN_ROOT.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
