# A module header comment.
import os   # trailing comment


def add(a,b):   # spacing
  total = a+b \
      + 1

  # a comment between statements

  return total
if add(1,
       2) > 3:
	print( "big" )
