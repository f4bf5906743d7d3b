"""Keys the engine chooses for new records."""

import uuid

from accord.model.keys import KeyPolicy, new_uuid


def test_new_uuids_are_version_7_and_time_ordered():
    keys = [new_uuid() for _ in range(2000)]
    parsed = [uuid.UUID(k) for k in keys]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert len(set(keys)) == len(keys)
    millis = [u.int >> 80 for u in parsed]
    assert millis == sorted(millis)  # never goes back in time


def test_number_series():
    policy = KeyPolicy(series="C", digits=5)
    assert policy.format(42) == "C00042"
    assert policy.number_of("C00042") == 42
    assert policy.number_of("CT00042") is None
    assert policy.number_of("X00042") is None
    assert policy.format(123456) == "C123456"  # grows past its digits instead of wrapping
