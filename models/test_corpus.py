"""The reserved evaluation packages never reach the training corpus (standard library only).

    python3 -m unittest discover -s models -p 'test_*.py'
"""

import unittest

from corpus import content_digest, drop_reason, normalise_distribution, read_packages, read_reserved

RESERVED = read_reserved()
FUNCTION = "def pairwise(iterable):\n    first = iter(iterable)\n    return zip(first, first)\n"


class ReservedPackages(unittest.TestCase):
    def test_the_five_reserved_packages_are_listed(self):
        names = {normalise_distribution(r.distribution) for r in RESERVED}
        self.assertEqual(names, {"boltons", "more-itertools", "sortedcontainers", "toolz", "attrs"})

    def test_no_training_package_is_reserved(self):
        reserved = {normalise_distribution(r.distribution) for r in RESERVED}
        for name, _ in read_packages():
            self.assertNotIn(normalise_distribution(name), reserved)

    def test_reserved_packages_and_vendored_copies_are_dropped(self):
        for path in [
            "more_itertools/recipes.py",
            "setuptools/_vendor/more_itertools/more.py",
            "pip/_vendor/attr/_make.py",
            "attrs/__init__.py",
            "boltons/iterutils.py",
            "sortedcontainers/sortedlist.py",
            "toolz/itertoolz.py",
            "tlz/__init__.py",
            "vendor/toolz.py",
        ]:
            self.assertEqual(drop_reason(path, FUNCTION, RESERVED, set(), set()), "reserved package", path)

    def test_a_copy_of_reserved_content_under_another_name_is_dropped(self):
        digests = {content_digest(FUNCTION)}
        reformatted = FUNCTION.replace("\n", "   \n") + "\n\n"
        self.assertEqual(drop_reason("mylib/itertools_copy.py", reformatted, RESERVED, digests, set()), "reserved content")

    def test_ordinary_files_are_kept_once(self):
        seen = set()
        self.assertIsNone(drop_reason("pandas/core/attribute.py", FUNCTION, RESERVED, set(), seen))
        self.assertEqual(drop_reason("other/copy.py", FUNCTION, RESERVED, set(), seen), "duplicate")

    def test_files_that_do_not_parse_are_dropped(self):
        self.assertEqual(drop_reason("x.py", "def broken(:\n    pass\n", RESERVED, set(), set()), "does not parse")


if __name__ == "__main__":
    unittest.main()
