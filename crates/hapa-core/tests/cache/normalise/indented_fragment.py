        for row in rows:
            yield row  # the cursor was cut out below
    return None
