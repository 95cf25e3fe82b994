def sort_users(users):
    # sort by name
    $0
#- edited
def sort_users(users):
    # sort by age, oldest first
    $0
