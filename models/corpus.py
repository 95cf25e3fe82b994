"""Build HAPA's training corpus and its evaluation sources.

Training corpus: the Python files of this interpreter's standard library plus the pinned,
permissively licensed packages of packages.txt (fetched with `pip download`), each file kept
only if CPython parses it, deduplicated by content. The reserved packages of reserved.txt are
downloaded into a separate evaluation folder and never enter the corpus: not as packages, not as
vendored copies (a directory named after one of their import names), not as identical content.

    python models/corpus.py --out ~/.cache/hapa/corpus

writes OUT/train.jsonl ({"path", "source", "text"} a line), OUT/eval/<package>/... (the reserved
packages' sources), and OUT/manifest.json (packages, versions, licences, file and byte counts),
which MODEL_CARD.md quotes. Standard library only; the wheels come from `pip download`.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import subprocess
import sys
import sysconfig
import warnings
import zipfile
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path, PurePosixPath

HERE = Path(__file__).resolve().parent
MAX_FILE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Reserved:
    distribution: str
    version: str
    import_names: tuple[str, ...]


@dataclass
class Source:
    name: str
    version: str
    licence: str
    files: int = 0
    bytes: int = 0
    dropped: dict[str, int] = field(default_factory=dict)


def read_packages(path: Path = HERE / "packages.txt") -> list[tuple[str, str]]:
    pins = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins.append((name.strip(), version.strip()))
    return pins


def read_reserved(path: Path = HERE / "reserved.txt") -> list[Reserved]:
    reserved = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            pin, names = line.split()
            distribution, version = pin.split("==")
            reserved.append(Reserved(distribution, version, tuple(names.split(","))))
    return reserved


def normalise_distribution(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def content_digest(text: str) -> str:
    """Digest of a file's content with trailing whitespace and blank lines ignored."""
    lines = [line.rstrip() for line in text.splitlines()]
    return hashlib.sha256("\n".join(line for line in lines if line).encode()).hexdigest()


def reserved_path(path: str, reserved: list[Reserved]) -> bool:
    """Whether any directory (or module file) on `path` is named after a reserved import name."""
    names = {name for r in reserved for name in r.import_names}
    parts = PurePosixPath(path).parts
    return any(part in names or part.removesuffix(".py") in names for part in parts)


def keep_python(text: str) -> str | None:
    """Why a file is dropped, or None to keep it."""
    if len(text.encode()) > MAX_FILE_BYTES:
        return "too large"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except (SyntaxError, ValueError):
        return "does not parse"
    lines = text.splitlines()
    if lines and max(len(line) for line in lines) > 1000:
        return "generated (long lines)"
    return None


def drop_reason(path: str, text: str, reserved: list[Reserved], reserved_digests: set[str], seen: set[str]) -> str | None:
    """Why a corpus file is left out, or None to keep it (and remember its content in `seen`)."""
    if sum(1 for line in text.splitlines() if line.strip()) < 2:
        return "trivial (under two lines)"
    if reserved_path(path, reserved):
        return "reserved package"
    digest = content_digest(text)
    if digest in reserved_digests:
        return "reserved content"
    if digest in seen:
        return "duplicate"
    seen.add(digest)
    return keep_python(text)


def wheel_python_files(wheel: Path):
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.filename.endswith(".py") and not info.is_dir():
                yield info.filename, archive.read(info).decode("utf-8", errors="replace")


def wheel_licence(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        metadata_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(metadata_name).decode("utf-8", errors="replace"))
    if metadata.get("License-Expression"):
        return metadata["License-Expression"]
    classifiers = [c.split("::")[-1].strip() for c in metadata.get_all("Classifier") or [] if c.startswith("License ::")]
    licence = (metadata.get("License") or "").strip().splitlines()
    if classifiers:
        return ", ".join(classifiers)
    return licence[0][:80] if licence and licence[0] else "see package"


def pip_download(pins: list[tuple[str, str]], dest: Path) -> dict[str, Path]:
    dest.mkdir(parents=True, exist_ok=True)
    wanted = [f"{name}=={version}" for name, version in pins]
    missing = [pin for pin, (name, _) in zip(wanted, pins) if find_wheel(dest, name) is None]
    if missing:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q", "-d", str(dest)]
        subprocess.run([*command, *missing], check=True)
    return {name: find_wheel(dest, name) for name, _ in pins}


def find_wheel(folder: Path, name: str) -> Path | None:
    prefix = normalise_distribution(name)
    for wheel in sorted(folder.glob("*.whl")):
        if normalise_distribution(wheel.name.split("-")[0]) == prefix:
            return wheel
    return None


def stdlib_files():
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if "site-packages" in relative or "dist-packages" in relative:
            continue
        yield relative, path.read_text(encoding="utf-8", errors="replace")


def build(out: Path) -> dict:
    pins = read_packages()
    reserved = read_reserved()
    reserved_names = {normalise_distribution(r.distribution) for r in reserved}
    clash = [name for name, _ in pins if normalise_distribution(name) in reserved_names]
    if clash:
        raise SystemExit(f"packages.txt lists reserved packages: {clash}")

    wheels = out / "wheels"
    reserved_wheels = pip_download([(r.distribution, r.version) for r in reserved], wheels)
    reserved_digests = set()
    for r in reserved:
        for name, text in wheel_python_files(reserved_wheels[r.distribution]):
            target = out / "eval" / r.distribution / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            reserved_digests.add(content_digest(text))

    package_wheels = pip_download(pins, wheels)
    python = f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    sources = [(Source("cpython-stdlib", python, "PSF-2.0"), stdlib_files())]
    for name, version in pins:
        wheel = package_wheels[name]
        sources.append((Source(name, version, wheel_licence(wheel)), wheel_python_files(wheel)))

    seen: set[str] = set()
    with open(out / "train.jsonl", "w") as train:
        for source, files in sources:
            for path, text in files:
                reason = drop_reason(path, text, reserved, reserved_digests, seen)
                if reason:
                    source.dropped[reason] = source.dropped.get(reason, 0) + 1
                    continue
                train.write(json.dumps({"path": path, "source": source.name, "text": text}) + "\n")
                source.files += 1
                source.bytes += len(text.encode())

    manifest = {
        "sources": [vars(source) for source, _ in sources],
        "reserved": [vars(r) | {"import_names": list(r.import_names)} for r in reserved],
        "files": sum(source.files for source, _ in sources),
        "bytes": sum(source.bytes for source, _ in sources),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path.home() / ".cache/hapa/corpus")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = build(args.out)
    print(f"{manifest['files']} files, {manifest['bytes'] / 1e6:.1f} MB -> {args.out / 'train.jsonl'}")


if __name__ == "__main__":
    main()
