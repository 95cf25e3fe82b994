if ready:
        go()
    stop()
