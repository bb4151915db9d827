"""Fingerprints of the standard library's value types, whose encoders load on first use
(``engine.caching.stdlib_values``): the same in every process whatever type is seen first."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

from engine.caching.data_version import fingerprint

VALUES = """
import datetime as dt, uuid
from decimal import Decimal
from fractions import Fraction

class MyDT(dt.datetime):
    pass

class MyDec(Decimal):
    pass

class Fixed(dt.tzinfo):
    def __init__(self, hours=2):
        self.hours = hours
    def utcoffset(self, d):
        return dt.timedelta(hours=self.hours)

VALUES = [dt.datetime(2024, 1, 2, 3, 4, 5, 6), dt.date(2024, 1, 2), dt.time(1, 2, 3), dt.timedelta(days=1, seconds=2),
          dt.timezone(dt.timedelta(hours=1)), dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), Decimal("1.50"),
          Fraction(2, 3), uuid.UUID(int=7), MyDT(2024, 1, 1), MyDec("2"), Fixed(), dt.datetime(2024, 1, 1, tzinfo=Fixed()),
          {"k": [dt.date(2020, 1, 1), Decimal("3")]}]
"""

CHILD = VALUES + """
import sys
from engine.caching.data_version import fingerprint
order = [int(i) for i in sys.argv[1:]]
got = {i: fingerprint(VALUES[i]) for i in order}
print(" ".join(str(got[i]) for i in range(len(VALUES))))
"""


def _fingerprints(order: list[int]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", CHILD, *map(str, order)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_the_same_in_every_process_whichever_type_comes_first() -> None:
    n = 14
    forward = _fingerprints(list(range(n)))
    assert "None" not in forward and len(set(forward)) == n
    assert _fingerprints(list(reversed(range(n)))) == forward
    assert _fingerprints([3, 11, 0, 13, 7, 1, 12, 2, 9, 4, 10, 5, 8, 6]) == forward


def test_a_nameless_time_zone_is_versioned_by_its_state_not_its_address() -> None:
    ns: dict = {}
    exec(VALUES, ns)  # noqa: S102 - the test's own source
    fixed = ns["Fixed"]
    assert fingerprint(dt.datetime(2024, 1, 1, tzinfo=fixed(2))) == fingerprint(dt.datetime(2024, 1, 1, tzinfo=fixed(2)))
    assert fingerprint(dt.datetime(2024, 1, 1, tzinfo=fixed(2))) != fingerprint(dt.datetime(2024, 1, 1, tzinfo=fixed(3)))
