def area(r):
    return $0


def perimeter(r):
    return 2 * 3.14 * r
#- edited
def area(r):
    return $0


def perimeter(r):
    return 2 * 3.14159 * r
