from dataclasses import (
    dataclass,  # the decorator
    field,
)


@dataclass(frozen=True)
class Config[T](
    Base,
    metaclass=Meta,  # registered
):
    name: str
    retries: int = 3


@cache
async def fetch(
    url: str,  # absolute
    timeout: float = 2.5,
    *urls: str,
) -> bytes:
    data = await get(url, \
        timeout)
    $0


LIMIT = 10
first, *rest = load()
type Pair[T] = tuple[T, T]
