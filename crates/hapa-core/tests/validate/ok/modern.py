from dataclasses import dataclass


@dataclass
class Item:
    name: str
    price: float = 0.0


def describe(item: Item) -> str:
    match item:
        case Item(name=n, price=p) if p > 10:
            return f"{n} is {p:.2f} ({f'{p!r}'})"
        case _:
            return "cheap"


async def gather(xs: list[int]) -> int:
    return sum([await _one(x) async for x in _aiter(xs)])


type Pair[T] = tuple[T, T]
squares = {x: x * x for x in range(10) if (y := x) % 2}
