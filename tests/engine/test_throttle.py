"""Rate-limit maths (pure): the token bucket and the throttling inputs."""

from __future__ import annotations

import pytest

from opencdm.engine.options import DriverOptions
from opencdm.engine.throttle import TokenBucket, job_limits
from opencdm.errors import InvalidInput


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_holds_the_average_rate():
    clock = Clock()
    bucket = TokenBucket(1000, clock)
    waited = 0.0
    for _ in range(10):  # 10 batches of 500 rows at 1000 rows/s: 5 s in all
        pause = bucket.delay(500)
        clock.now += pause
        waited += pause
    assert waited == pytest.approx(5.0)


def test_bucket_lets_slow_consumers_through_and_caps_bursts():
    clock = Clock()
    bucket = TokenBucket(100, clock)
    clock.now += 10  # idle for 10 s: the bucket refills to one second's worth only
    assert bucket.delay(100) == 0
    assert bucket.delay(50) == pytest.approx(0.5)


def test_unlimited_never_waits():
    assert TokenBucket(0).delay(10**9) == 0


def test_job_limits_parse_driver_inputs():
    assert job_limits({}) == (0.0, 0.0)
    assert job_limits({"throttlingConfig.recordRate": "2000", "throttlingConfig.byteRate": 1e6}) == (2000.0, 1e6)
    with pytest.raises(InvalidInput):
        job_limits({"throttlingConfig.recordRate": "fast"})
    with pytest.raises(InvalidInput):
        job_limits({"throttlingConfig.byteRate": "-1"})


@pytest.mark.parametrize("value", ["0", "65", "two", True])
def test_num_loaders_is_checked_like_num_extractors(value):
    """CDM's numLoaders (HBase/Hive only) is taken as the seed sends it, and a bad value is refused, not kept."""
    assert DriverOptions.parse({"throttlingConfig.numLoaders": "1"}) == DriverOptions.parse({})
    with pytest.raises(InvalidInput, match="numLoaders") as err:
        DriverOptions.parse({"throttlingConfig.numLoaders": value})
    assert err.value.code == "Cdm.0009"
