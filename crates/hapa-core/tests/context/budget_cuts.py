#- budget 60
import os
import sys
from pathlib import Path


def first(a):
    return a[0]


def second(a):
    return a[1]


class Walker:
    def walk(self, root: Path):
        for entry in os.scandir(root):
            if entry.is_dir():
                yield from self.walk(entry.path)
            else:
                $0yield entry.path

    def count(self, root: Path) -> int:
        return sum(1 for _ in self.walk(root))


def last(a):
    return a[-1]
