"""Per-caller rate quotas (issue 22 item 2, R16, R35): besides its share of calls in progress and waiting
(admission.py), a kind of caller may be given a rate, calls per second with a burst, kept per caller
identity as a token bucket. A caller over its rate is answered at once RESOURCE_EXHAUSTED
(CALLER_OVER_RATE) with the time until its next call would be taken; another caller's rate is never
touched by it. Kinds without a rate are bounded by their shares alone.

`RateBook` is pure (the caller hands in a monotonic `now`) and bounded: a bucket that has refilled is
the same as no bucket, so it is dropped, and the book never keeps more than `capacity` callers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.common.identity import CallerKind, Identity

CALLER_OVER_RATE = "CALLER_OVER_RATE"


@dataclass(frozen=True)
class Rate:
    """Calls per second a caller may keep up, and how many it may make at once after a quiet spell."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError("a rate needs per_second > 0 and burst >= 1")


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateBook:
    """The token buckets of every caller whose kind has a rate."""

    def __init__(self, rates: Mapping[CallerKind, Rate], capacity: int = 100_000) -> None:
        self._rates = dict(rates)
        self._capacity = capacity
        self._buckets: dict[Identity, _Bucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, caller: Identity, now: float) -> float | None:
        """Takes one call of `caller` at `now`: None when it may go on, else the seconds until it may."""
        rate = self._rates.get(caller.kind)
        if rate is None:
            return None
        bucket = self._buckets.get(caller)
        tokens = rate.burst if bucket is None else min(rate.burst, bucket.tokens + (now - bucket.at) * rate.per_second)
        if tokens < 1:
            self._buckets[caller] = _Bucket(tokens, now)
            return (1 - tokens) / rate.per_second
        if len(self._buckets) >= self._capacity and caller not in self._buckets:
            self._forget_refilled(now)
        self._buckets[caller] = _Bucket(tokens - 1, now)
        return None

    def _forget_refilled(self, now: float) -> None:
        """Drops the buckets that are full again (as good as none); if every caller is still draining,
        the one idle longest goes (it gets a full bucket back: generous, never wrong about others)."""
        for caller, bucket in list(self._buckets.items()):
            rate = self._rates[caller.kind]
            if bucket.tokens + (now - bucket.at) * rate.per_second >= rate.burst:
                del self._buckets[caller]
        while len(self._buckets) >= self._capacity:
            oldest = min(self._buckets, key=lambda c: self._buckets[c].at)
            del self._buckets[oldest]
