import os  # operating system


def total(items):
    # add them up
    return sum(items)


def mean(items):
    return total(items) / $0len(items)
#- edited
import os


def total(items):
    # Add every item up, including the negative ones.
    return sum(items)  # builtin


def mean(items):
    return total(items) / $0len(items)
