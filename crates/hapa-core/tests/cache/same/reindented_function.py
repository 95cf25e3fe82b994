def helper(x):
  if x:
    return 1
  return 0


def main():
    value = helper($0)
#- edited
def helper(x):
    if x:
        return 1
    return 0

def main():
    value = helper($0)
