result = compute(
    first,   # the cursor's line follows
