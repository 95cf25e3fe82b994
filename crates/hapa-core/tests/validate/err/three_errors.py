import os


def greet(name)
    print("hello", name)


total = 1 +* 2


class Point
    x: int = 0
