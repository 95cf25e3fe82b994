def greet(name:
    print("hello", name)


values = [1, 2, 3
total = sum(values)
