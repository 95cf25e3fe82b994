SEPARATOR = ", "
value = $0
#- edited
SEPARATOR = ",  "
value = $0
