"""Keys the engine chooses for new records."""

import uuid

from accord.model.keys import KeyPolicy, new_uuid, new_uuids


def test_new_uuids_are_version_7_and_time_ordered():
    keys = [new_uuid() for _ in range(2000)]
    parsed = [uuid.UUID(k) for k in keys]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert len(set(keys)) == len(keys)
    millis = [u.int >> 80 for u in parsed]
    assert millis == sorted(millis)  # never goes back in time


def test_a_batch_of_uuids_is_version_7_ascending_and_random():
    first, second = new_uuids(5000), new_uuids(5000)
    for batch in (first, second):
        parsed = [uuid.UUID(k) for k in batch]
        assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
        assert [str(u) for u in parsed] == batch  # the canonical lower-case text
        assert batch == sorted(batch)
    assert len(set(first) | set(second)) == 10_000
    assert first[-1][:13] <= second[0][:13]  # the millisecond never goes back
    # the 74 random bits vary: every variant nibble and plenty of distinct tails appear
    assert {k[19] for k in first} == set("89ab")
    assert len({k[24:] for k in first}) == 5000


def test_number_series():
    policy = KeyPolicy(series="C", digits=5)
    assert policy.format(42) == "C00042"
    assert policy.number_of("C00042") == 42
    assert policy.number_of("CT00042") is None
    assert policy.number_of("X00042") is None
    assert policy.format(123456) == "C123456"  # grows past its digits instead of wrapping
