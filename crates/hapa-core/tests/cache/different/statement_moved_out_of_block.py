def check(x):
    if x:
        log(x)
        notify(x)
    $0
#- edited
def check(x):
    if x:
        log(x)
    notify(x)
    $0
