#- budget 45
class Inventory:
    """Items on the shelves, counted."""

    shelves: dict[str, int]
    capacity: int
    restocked_at: float | None
    notes: list[str]

    def restock(self, item: str, count: int) -> None:
        self.shelves[item] = self.shelves.get(item, 0) + count
        self.$0
