def area(r):
    return 3.14 *$0
#- edited
def area(r):
    return 3.14 * $0
