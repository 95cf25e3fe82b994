def scale(v,k=2):
    return [x*k for x in v]


print(scale([1,2,3]))
result = $0
#- edited
def scale(v, k = 2):
    return [ x * k  for x in v ]


print( scale( [1, 2, 3] ) )
result = $0
