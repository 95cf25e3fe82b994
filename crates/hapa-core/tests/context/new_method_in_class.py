class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        # remember where we are

    $0


def parse(text):
    return Parser(text)
