try:
    import ujson as json
except ImportError:
    import json

if TYPE_CHECKING:
    from collections.abc import Iterator

    def walk() -> Iterator[str]: ...
else:
    walk = None

with suppress(ImportError):
    import orjson


def dump(obj) -> str:
    def inner():
        import pickle
    return json.dumps(obj)$0
