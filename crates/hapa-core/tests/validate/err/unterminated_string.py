message = "never closed
print(message)
