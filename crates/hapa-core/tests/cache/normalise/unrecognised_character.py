price = 10 $ 2  # not Python
total   =   price
