import os
from typing import Optional


class Repository(Base):
    """Stores users."""

    def find(self, user_id: int, *, active: bool = True) -> Optional["User"]:
        for row in self.rows:
            if row.id == user_id:
                return row.$0
        return None

    def count(self) -> int:
        return len(self.rows)


def helper(x):
    return x * 2
