class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        $0

    def peek(self) -> str:
        return self.text[self.pos]
