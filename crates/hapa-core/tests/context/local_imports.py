#- package app
#- module app
from .factory import make
VERSION = "1.0"
#- module app.factory
def make(kind: str, **options) -> "Widget":
    """Builds a widget."""
    return Widget(kind, **options)
#- module app.models
from dataclasses import dataclass


@dataclass
class Point:
    """A point."""

    x: float
    y: float = 0.0
    ORIGIN = None

    def norm(self) -> float:
        return (self.x**2 + self.y**2) ** 0.5

    @property
    def flipped(self) -> "Point":
        return Point(self.y, self.x)


DEFAULT, OTHER = Point(0, 0), Point(1, 1)
#- module app.util
def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


class Timer: ...
#- document
import os
import app.util
from app.models import Point, DEFAULT, Missing
from app import make
from . import util
from .models import norm_all


def area(p: Point) -> float:
    return p.$0
