"""Simulated held-out benchmarks for the decision gate: per-event discordant counts of a
champion and a challenger, with images of one event correlated the way real ones are.

Model (per event of ``n`` images): with probability ``wholly`` the event is wholly
discordant (one model right on every image, the other wrong on every image; the
challenger is the one right with probability (1 + gain) / 2); otherwise the event has a
difficulty p ~ Beta(7, 3) (mean accuracy 70%) and each image is right for the champion
with probability p and for the challenger with probability p + gain, independently. Both
parts give the challenger an expected magnitude accuracy ``gain`` (a fraction) higher;
``gain = 0`` is two models equal in truth.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from lifecycle.stats import EventPair, mcnemar

Size = int | tuple[int, int]  # images per event: fixed, or uniform in [lo, hi]


def holdouts(rng: np.random.Generator, events: int, images: Size, wholly: float, gain: float,
             reps: int) -> Iterator[tuple[EventPair, ...]]:
    """``reps`` simulated holdouts of ``events`` events each."""
    shape = (reps, events)
    n = (np.full(shape, images) if isinstance(images, int)
         else rng.integers(images[0], images[1] + 1, size=shape))
    whole = rng.random(shape) < wholly
    challenger_wins = rng.random(shape) < (1.0 + gain) / 2.0
    p = rng.beta(7.0, 3.0, size=shape)
    q = np.clip(p + gain, 0.0, 1.0)
    # per image: champion only right with p(1 - q), challenger only right with q(1 - p)
    b = rng.binomial(n, p * (1.0 - q))
    c = rng.binomial(n - b, np.where(1.0 - p * (1.0 - q) > 0, q * (1.0 - p) / (1.0 - p * (1.0 - q)), 0.0))
    b = np.where(whole, np.where(challenger_wins, 0, n), b)
    c = np.where(whole, np.where(challenger_wins, n, 0), c)
    for r in range(reps):
        yield tuple(EventPair(int(k), int(x), int(y)) for k, x, y in zip(n[r], b[r], c[r], strict=True))


def per_image_promotes(pairs: tuple[EventPair, ...], level: float) -> bool:
    """The gate as it was: McNemar on images, every image its own unit."""
    b, c = sum(p.b for p in pairs), sum(p.c for p in pairs)
    return mcnemar(b, c).p_value < level and c > b
