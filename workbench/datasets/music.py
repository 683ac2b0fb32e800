"""Music listening events with planted tastes, popularity and daily/weekly cycles."""

from __future__ import annotations

import datetime as dt

import numpy as np

from workbench.datasets._common import (
    DAY_US,
    HOUR_US,
    SyntheticDataset,
    check_int,
    entity_table,
    events_table,
    ids,
    start_us,
    weekday,
)

__all__ = ["make_music"]

_GENRES = (
    "rock",
    "pop",
    "hiphop",
    "electronic",
    "jazz",
    "classical",
    "country",
    "metal",
    "folk",
    "rnb",
    "reggae",
    "blues",
)
_DEVICES = ("mobile", "desktop", "smart_speaker")


def make_music(
    *,
    users: int = 500,
    items: int = 1000,
    days: int = 60,
    seed: int = 0,
    genres: int = 8,
    start: str | dt.date = "2026-01-01",
) -> SyntheticDataset:
    """Generate music listening events with planted tastes and popularity.

    Each user has a taste over genres (Dirichlet, peaked); each track has one
    genre and a Zipf-like popularity. A user picks a track with probability
    proportional to ``taste[genre] * popularity``, so a recommender that learns
    tastes beats a popularity list. The user then skips it (more likely when the
    genre is far from their favourite) or plays it, and sometimes likes it.
    Time of day follows a daily cycle with an evening peak, and weekend days are
    busier than weekdays by ``weekend_multiplier``.

    Parameters
    ----------
    users, items : int
        Number of users and tracks, >= 1.
    days : int
        Number of UTC days of events, >= 1, starting at ``start``.
    seed : int
        Seed for ``numpy.random.default_rng``; same arguments, same bytes.
    genres : int
        Number of genres, >= 1.
    start : str or datetime.date
        First UTC day (ISO date, or a datetime at midnight UTC).

    Returns
    -------
    SyntheticDataset
        Tables ``items``, ``users``, ``events`` (event types ``play`` with
        ``value`` = seconds played, ``skip`` and ``like`` with ``value`` 1.0).
        Truth keys: ``user_taste`` (user id -> taste per genre),
        ``item_genre`` (item id -> genre index), ``item_popularity``
        (item id -> share, summing to 1), ``genres`` (names),
        ``daily_peak_hour`` (UTC hour) and ``weekend_multiplier``.

    Raises
    ------
    InvalidArgument
        If a size is below its minimum or ``start`` is not a UTC date.

    Examples
    --------
    >>> music = make_music(users=10, items=30, days=3, genres=3)
    >>> sorted(set(music.tables["events"]["event_type"].to_pylist()))
    ['like', 'play', 'skip']
    >>> len(music.truth["user_taste"]["user_0000"])
    3
    """
    users = check_int("users", users, 1)
    items = check_int("items", items, 1)
    days = check_int("days", days, 1)
    genres = check_int("genres", genres, 1)
    origin = start_us(start)
    rng = np.random.default_rng(seed)

    # Planted truth. Dirichlet(0.3) gives most users one or two favourite genres.
    taste = rng.dirichlet(np.full(genres, 0.3), size=users)
    item_genre = rng.permutation(np.arange(items) % genres)  # every genre gets tracks
    popularity = 1.0 / (rng.permutation(items) + 1.0) ** 0.9
    popularity /= popularity.sum()
    duration = np.round(rng.lognormal(np.log(210.0), 0.25, items), 1)
    peak_hour = int(rng.integers(18, 23))
    weekend_multiplier = round(float(rng.uniform(1.3, 1.8)), 2)

    # Heavy-tailed activity: mean 1.5 interactions per user per day.
    activity = rng.lognormal(np.log(1.5) - 0.32, 0.8, users)
    user_of = np.repeat(np.arange(users), rng.poisson(activity * days))
    n = user_of.size

    # P(item | user) ~ taste[u, genre] * pop[item] factorizes as
    # P(genre | user) ~ taste[u, genre] * mass[genre], then P(item | genre) ~ pop[item].
    mass = np.bincount(item_genre, weights=popularity, minlength=genres)
    cdf = np.cumsum(taste * mass, axis=1)
    cdf /= cdf[:, -1:]
    cdf[:, -1] = 1.0
    # Offsetting row u by u makes one sorted array, so one searchsorted samples every row.
    flat = (cdf + np.arange(users)[:, None]).ravel()
    genre_of = np.searchsorted(flat, user_of + rng.random(n), side="right") - user_of * genres
    genre_of = np.minimum(genre_of, genres - 1)
    item_of = np.zeros(n, dtype=np.int64)
    for genre in range(genres):  # a loop over genres, each vectorized over its events
        members = np.flatnonzero(item_genre == genre)
        at = np.flatnonzero(genre_of == genre)
        if at.size:
            item_of[at] = rng.choice(members, size=at.size, p=popularity[members] / mass[genre])

    # Days weighted by weekday; hours by a daily profile peaking in the evening
    # (with a smaller morning-commute bump).
    day_weight = np.where(weekday(origin + np.arange(days) * DAY_US) >= 5, weekend_multiplier, 1)
    hours = np.arange(24)
    to_peak = np.minimum(abs(hours - peak_hour), 24 - abs(hours - peak_hour))
    to_morning = np.minimum(abs(hours - 8), 24 - abs(hours - 8))
    profile = (
        0.15 + np.exp(-0.5 * (to_peak / 3) ** 2) + 0.35 * np.exp(-0.5 * (to_morning / 1.5) ** 2)
    )
    day = rng.choice(days, size=n, p=day_weight / day_weight.sum())
    hour = rng.choice(24, size=n, p=profile / profile.sum())
    ts = origin + day * DAY_US + hour * HOUR_US + rng.integers(0, HOUR_US, n)

    # Feedback also carries taste: far-from-favourite genres are skipped more, liked less.
    closeness = taste[user_of, genre_of] / taste.max(axis=1)[user_of]
    skipped = rng.random(n) < 0.1 + 0.5 * (1.0 - closeness)
    seconds = np.round(duration[item_of] * rng.beta(4.0, 1.2, n), 1)
    value = np.where(skipped, 1.0, seconds)
    liked = ~skipped & (rng.random(n) < 0.3 * closeness**2)
    device = rng.choice(len(_DEVICES), size=n, p=[0.6, 0.25, 0.15])

    # A like lands mid-track; clipped so no event falls after the last day.
    like_ts = np.minimum(
        ts[liked] + (seconds[liked] * 5e5).astype(np.int64), origin + days * DAY_US - 1
    )
    user_ids, item_ids = ids("user_", users), ids("track_", items)
    events = events_table(
        "music",
        np.concatenate([ts, like_ts]),
        user_ids,
        np.concatenate([user_of, user_of[liked]]),
        item_ids,
        np.concatenate([item_of, item_of[liked]]),
        ("play", "skip", "like"),
        np.concatenate([skipped.astype(np.int64), np.full(liked.sum(), 2)]),
        np.concatenate([value, np.ones(liked.sum())]),
        [{"device": d} for d in _DEVICES],
        np.concatenate([device, device[liked]]),
    )

    genre_names = [_GENRES[g] if g < len(_GENRES) else f"genre_{g}" for g in range(genres)]
    item_list, user_list = item_ids.to_pylist(), user_ids.to_pylist()
    item_table = entity_table(
        "item_id",
        item_ids,
        [
            {"genre": genre_names[g], "popularity": p, "title": f"Track {i}", "duration_s": d}
            for i, (g, p, d) in enumerate(
                zip(item_genre.tolist(), popularity.tolist(), duration.tolist(), strict=True)
            )
        ],
        origin,
    )
    countries = rng.choice(["DE", "FR", "GB", "NL", "SE", "US"], size=users).tolist()
    plans = np.where(rng.random(users) < 0.3, "premium", "free").tolist()
    user_table = entity_table(
        "user_id",
        user_ids,
        [{"country": c, "plan": p} for c, p in zip(countries, plans, strict=True)],
        origin,
    )

    truth = {
        "user_taste": dict(zip(user_list, taste.tolist(), strict=True)),
        "item_genre": dict(zip(item_list, item_genre.tolist(), strict=True)),
        "item_popularity": dict(zip(item_list, popularity.tolist(), strict=True)),
        "genres": genre_names,
        "daily_peak_hour": peak_hour,
        "weekend_multiplier": weekend_multiplier,
    }
    return SyntheticDataset(
        "music", {"items": item_table, "users": user_table, "events": events}, truth
    )
