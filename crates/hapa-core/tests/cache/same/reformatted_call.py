def report(rows):
    table = render(rows, header=True,
                   width=80)
    return table


def main():
    $0
#- edited
def report(rows):
    table = render(
        rows,
        header=True,
        width=80
    )

    return table


def main():
    $0
