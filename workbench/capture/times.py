"""Reading times from text, each value on its own terms.

DuckDB's ``CAST(text AS TIMESTAMPTZ)`` keeps state between the values of one vector:
a value naming a zone (``2026-01-01 10:00:00 Europe/Berlin``) changes how the
offset-less values after it are read, so one row could shift thousands of others
silently. Here a time is taken apart by a regular expression and rebuilt from its
parts (a plain ``TIMESTAMP`` for the wall-clock part, integer arithmetic for the
offset), so no value can influence another. A named zone is resolved with
``timezone(zone, instant)`` on that row alone, and a wall-clock time that the zone
skipped or repeated (daylight saving) is refused rather than guessed.

Everything is SQL, in steps that each compute a value once and name it
(:func:`steps_sql`: the parts of the text, then the wall-clock time and whether it names
a known zone, then the zone's offsets around it), so the query stays small however often
a value is used; :func:`parse_sql` turns the last step into ``{utc: TIMESTAMP, problem:
VARCHAR}``; exactly one of the two is set for a present value.
"""

from __future__ import annotations

#: The accepted forms: ISO 8601 date, optional time (``T`` or a space), optional fraction,
#: then ``Z``, a numeric offset, or a zone name. The parts are named for ``regexp_extract``.
PATTERN = (
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?|([A-Za-z][A-Za-z0-9_/+\-]*))?$"
)
PARTS = ("y", "mo", "d", "h", "mi", "s", "f", "z", "sign", "oh", "om", "zone")
#: Largest offset accepted, in hours: no place uses more (the range java.time accepts).
MAX_OFFSET_HOURS = 18
#: Zone names read as UTC without a lookup.
_UTC_NAMES = ("UTC", "GMT", "Etc/UTC", "Etc/GMT")
#: How far either side of an instant to look for the zone's offset before and after a
#: clock change: wider than any change (at most 2 hours), narrower than the time between two.
_AROUND = "INTERVAL 12 HOUR"

FORMAT_HINT = "use ISO 8601 (2026-01-31T12:00:00Z) or seconds since 1970"


def match_sql(text: str) -> str:
    """SQL: the parts of ``text`` (a trimmed VARCHAR) as a struct of strings, '' where absent."""
    parts = ", ".join(f"'{p}'" for p in PARTS)
    return f"regexp_extract({text}, '{PATTERN}', [{parts}])"


def steps_sql(text: str) -> tuple[str, str, str]:
    """SQL steps for a time in ``text``, each reading the one before it as ``{m}``.

    1. the parts (:func:`match_sql`);
    2. those, plus ``wall`` (the wall-clock time as a plain TIMESTAMP, NULL when it is not
       a real one), ``named`` (it names a zone other than UTC) and ``known`` (that zone
       exists: the zone lookups below run only for those);
    3. those, plus ``before`` and ``after``: the zone's offsets, in microseconds, a little
       before and a little after the moment (the only two candidates).
    """
    return match_sql(text), _wall_sql("{m}"), _offsets_sql("{m}")


def _wall_sql(m: str) -> str:
    hour = f"coalesce(nullif({m}.h, ''), '00')"
    wall_text = (
        f"{m}.y || '-' || {m}.mo || '-' || {m}.d || ' ' || {hour} || ':' || "
        f"coalesce(nullif({m}.mi, ''), '00') || ':' || coalesce(nullif({m}.s, ''), '00')"
    )
    # TRY_CAST of an offset-less text to a plain TIMESTAMP involves no zone at all; it
    # refuses February 30 and second 60. Hour 24 it would roll over: refused first.
    wall = f"CASE WHEN {m}.y <> '' AND {hour} < '24' THEN TRY_CAST({wall_text} AS TIMESTAMP) END"
    utc_names = ", ".join(f"'{n}'" for n in _UTC_NAMES)
    named = f"({m}.zone <> '' AND {m}.zone NOT IN ({utc_names}))"
    # Abbreviations (EST, BST, IST) are refused: several zones share some of them.
    known = f"(strpos({m}.zone, '/') > 0 AND {m}.zone IN (SELECT name FROM pg_timezone_names()))"
    return f"struct_insert({m}, wall := {wall}, named := {named}, known := {named} AND {known})"


def _offsets_sql(m: str) -> str:
    guess = f"timezone({m}.zone, {m}.wall)"
    looked_up = f"{m}.known AND {m}.wall IS NOT NULL"
    before = f"CASE WHEN {looked_up} THEN {_offset_us(f'{m}.zone', f'({guess} - {_AROUND})')} END"
    after = f"CASE WHEN {looked_up} THEN {_offset_us(f'{m}.zone', f'({guess} + {_AROUND})')} END"
    return f"struct_insert({m}, before := {before}, after := {after})"


def _offset_us(zone: str, instant: str) -> str:
    """SQL: the offset of ``zone`` at a TIMESTAMPTZ ``instant``, in microseconds."""
    return f"(epoch_us(timezone({zone}, {instant})) - epoch_us({instant}))"


def parse_sql(m: str) -> str:
    """SQL: ``{utc, problem}`` from the struct ``m`` that :func:`steps_sql` made.

    ``problem`` says, in words that end a sentence starting with the value, why a value
    that is not NULL has no time; ``utc`` is the instant as a UTC ``TIMESTAMP`` otherwise.
    """
    wall = f"{m}.wall"
    micros = f"CASE WHEN {m}.f = '' THEN 0 ELSE CAST(left(rpad({m}.f, 6, '0'), 6) AS BIGINT) END"
    finer = f"length({m}.f) > 6 AND ltrim(substr({m}.f, 7), '0') <> ''"
    offset_minutes = (
        f"(CASE {m}.sign WHEN '-' THEN -1 ELSE 1 END) * "
        f"(TRY_CAST({m}.oh AS INTEGER) * 60 + coalesce(TRY_CAST(nullif({m}.om, '') AS INTEGER), 0))"
    )
    bad_offset = (
        f"{m}.sign <> '' AND (TRY_CAST({m}.oh AS INTEGER) > {MAX_OFFSET_HOURS} OR "
        f"coalesce(TRY_CAST(nullif({m}.om, '') AS INTEGER), 0) >= 60 OR "
        f"(TRY_CAST({m}.oh AS INTEGER) = {MAX_OFFSET_HOURS} AND nullif({m}.om, '') <> '00'))"
    )
    named = f"{m}.named"
    zoned = _zoned(wall, f"{m}.zone", f"{m}.before", f"{m}.after")
    problem = (
        f"CASE WHEN {m}.y = '' THEN 'is not a time; {FORMAT_HINT}' "
        f"WHEN {wall} IS NULL THEN 'is not a real date and time (a month, day, hour, minute or "
        f"second out of range); {FORMAT_HINT}' "
        f"WHEN {finer} THEN 'has digits beyond microseconds, which the store keeps; round it "
        "to 6 decimals' "
        f"WHEN {bad_offset} THEN 'has an offset outside -{MAX_OFFSET_HOURS}:00 to "
        f"+{MAX_OFFSET_HOURS}:00; check the digits after the time' "
        f"WHEN {named} AND NOT {m}.known THEN 'names ''' || {m}.zone || ''', which is not "
        f"a time zone name' || CASE WHEN strpos({m}.zone, '/') = 0 THEN ' (abbreviations are "
        "refused: several zones share some)' ELSE '' END || '; give an offset such as -05:00, "
        "or a zone such as America/New_York' "
        f"WHEN {named} AND {zoned.problem} THEN {zoned.message} "
        "END"
    )
    wall_us = f"epoch_us({wall}) + {micros}"
    utc_us = (
        f"CASE WHEN {m}.sign <> '' THEN {wall_us} - CAST({offset_minutes} AS BIGINT) * 60000000 "
        f"WHEN {named} THEN {zoned.utc_us} + {micros} "
        f"ELSE {wall_us} END"
    )
    return (
        f"CASE WHEN ({problem}) IS NULL THEN {{'utc': make_timestamp({utc_us}), "
        f"'problem': CAST(NULL AS VARCHAR)}} "
        f"ELSE {{'utc': CAST(NULL AS TIMESTAMP), 'problem': ({problem})}} END"
    )


class _Zoned:
    """SQL for a wall-clock time in a named zone: its UTC instant, or why it has none."""

    def __init__(self, utc_us: str, problem: str, message: str) -> None:
        self.utc_us, self.problem, self.message = utc_us, problem, message


def _zoned(wall: str, zone: str, before: str, after: str) -> _Zoned:
    """The instant of ``wall`` (a TIMESTAMP) in ``zone``, found without trusting a guess.

    ``before`` and ``after`` are the zone's offsets a little before and after the moment,
    the only two candidates. A candidate is right when the zone, at that instant, shows
    ``wall`` with that offset. One right candidate is the answer; none means the clocks
    skipped the time (spring forward), two different ones that it happened twice (fall
    back).
    """

    def candidate(offset: str) -> str:
        return f"(epoch_us({wall}) - {offset})"

    def holds(offset: str) -> str:
        instant = f"CAST(make_timestamp({candidate(offset)}) AS TIMESTAMPTZ)"
        return f"({_offset_us(zone, instant)} = {offset})"

    skipped = f"NOT {holds(before)} AND NOT {holds(after)}"
    repeated = f"{before} <> {after} AND {holds(before)} AND {holds(after)}"
    utc_us = f"CASE WHEN {holds(before)} THEN {candidate(before)} ELSE {candidate(after)} END"
    change = f"' (the clocks went from ' || {_shown_offset(before)} || ' to ' || {_shown_offset(after)} || ')'"
    message = (
        f"CASE WHEN {skipped} THEN 'does not exist in ' || {zone} || {change} || '; give the "
        "time with its offset' "
        f"ELSE 'happened twice in ' || {zone} || {change} || '; give the time with its offset' END"
    )
    return _Zoned(utc_us, f"({skipped} OR {repeated})", message)


def _shown_offset(offset_us: str) -> str:
    """SQL: an offset in microseconds as text, ``+02:00``."""
    minutes = f"(abs({offset_us}) // 60000000)"
    return (
        f"(CASE WHEN {offset_us} < 0 THEN '-' ELSE '+' END || "
        f"lpad(CAST({minutes} // 60 AS VARCHAR), 2, '0') || ':' || "
        f"lpad(CAST({minutes} % 60 AS VARCHAR), 2, '0'))"
    )
