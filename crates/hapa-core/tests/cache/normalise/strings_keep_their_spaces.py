greeting = "hello,   world"  # spaces inside strings are code
template = f"{ name }:  {value!r:>10}"
doc = """
    indented   text
"""
