"""Build next-line completion cases from the reserved packages (never trained on).

    python3 models/eval_cases.py --out ~/.cache/hapa/eval [--per-package 100]

Downloads the pinned wheels of reserved.txt with `pip download`, keeps the Python files that
CPython parses, and for each case puts the cursor at a random character of a random non-blank
line (after its indentation); the target is the rest of that line. Writes OUT/cases.jsonl:
{"package", "path", "prefix" (the whole file before the cursor), "suffix" (from the end of the
line on), "target"}. Deterministic for a given seed. Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from corpus import find_wheel, read_reserved  # noqa: E402


def sources(wheel: Path) -> list[tuple[str, str]]:
    files = []
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            if not name.endswith(".py"):
                continue
            text = archive.read(name).decode("utf-8", errors="replace")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ast.parse(text)
            except SyntaxError:
                continue
            if sum(1 for line in text.splitlines() if line.strip()) >= 10:
                files.append((name, text))
    return files


def cases_from(package: str, files: list[tuple[str, str]], count: int, rng: random.Random):
    weights = [len(text) for _, text in files]
    made = 0
    while made < count:
        path, text = rng.choices(files, weights)[0]
        lines = text.splitlines(keepends=True)
        index = rng.choice([i for i, line in enumerate(lines) if line.strip()])
        line = lines[index].rstrip("\r\n")
        indent = len(line) - len(line.lstrip())
        if len(line) - indent < 2:
            continue
        start = sum(len(previous) for previous in lines[:index])
        cursor = start + rng.randrange(indent, len(line))
        end = start + len(line)
        yield {"package": package, "path": path, "prefix": text[:cursor], "suffix": text[end:], "target": text[cursor:end]}
        made += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path.home() / ".cache/hapa/eval")
    parser.add_argument("--per-package", type=int, default=100)
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()
    wheels = args.out / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    reserved = read_reserved()
    missing = [f"{r.distribution}=={r.version}" for r in reserved if find_wheel(wheels, r.distribution) is None]
    if missing:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q", "-d", str(wheels)]
        subprocess.run([*command, *missing], check=True)
    rng = random.Random(args.seed)
    with open(args.out / "cases.jsonl", "w") as out:
        for r in reserved:
            files = sources(find_wheel(wheels, r.distribution))
            for case in cases_from(r.distribution, files, args.per_package, rng):
                out.write(json.dumps(case) + "\n")
    print(f"{args.per_package * len(reserved)} cases -> {args.out / 'cases.jsonl'}")


if __name__ == "__main__":
    main()
