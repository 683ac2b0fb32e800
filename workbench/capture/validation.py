"""Validation: SQL that turns a staged input into a table's typed columns and reasons.

Everything here is derived from the table's declaration (:mod:`workbench.schema`),
so every ingestable table gets the same treatment. The SQL has two layers: the
first parses each source column once (``__wb_p_<column>``), the second decides
the final value and collects, per row, every reason it cannot be accepted. A
value is never coerced: text that is not a number, a fraction where a whole
number is declared, a time outside the accepted range, all become reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from workbench.capture import times
from workbench.capture.staging import EXTRAS, INTERNAL_COLUMNS, PARSE_ERROR, RAW, ROW, STAGE
from workbench.exceptions import IngestError
from workbench.schema import MAX_ID_LENGTH, MAX_TIMESTAMP, MIN_TIMESTAMP, TableSpec
from workbench.sql import identifier, literal

if TYPE_CHECKING:
    import duckdb

EPOCH_UNITS = {"s": 1, "ms": 1_000, "us": 1_000_000}

_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
)


@dataclass
class Plan:
    """The SQL of one batch's validation.

    ``select_sql`` yields one row per staged row: its row number, the table's
    columns, and ``__wb_reason`` (NULL when the row is acceptable). ``raw_sql``
    gives the original row's text from the staged input aliased ``st``.
    """

    select_sql: str
    columns: list[str]
    key: tuple[str, ...]
    raw_sql: str


class Reason(NamedTuple):
    """A rule: an SQL condition that refuses a row, and SQL for the message saying why."""

    condition: str
    message: str


@dataclass
class _Column:
    """How one table column is read from the input: parsed once, then judged."""

    parsed: str | None  # SQL over the staged row, or None when final needs no parse step
    final: str  # SQL over the parsed layer; {p} stands for the parsed value
    reasons: list[Reason]  # when a row is refused and why; {p} stands for the parsed value
    # Steps computed before ``parsed``, each in its own layer: the first is SQL over the
    # staged row, each next one reads the one before as {m}, and ``parsed`` reads the last
    # as {m}. A value used many times is then computed once and named, instead of its SQL
    # being repeated in every place that uses it (which made a plan take seconds to build).
    matched: tuple[str, ...] = ()


def _shown(expr: str) -> str:
    """SQL for a value as it appears in a reason: quoted, cut to 60 characters.

    Only the message is cut; the quarantined row keeps the whole original text.
    """
    text = f"CAST({expr} AS VARCHAR)"
    return (
        f"'''' || left({text}, 60) || CASE WHEN length({text}) > 60 THEN '...' ELSE '' END || ''''"
    )


def build_plan(
    raw: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    mapping: Mapping[str, str],
    *,
    name: str,
    batch_id: str,
    now: datetime,
    epoch_unit: str,
) -> Plan:
    """Build the validation SQL for the staged input against ``spec``."""
    if epoch_unit not in EPOCH_UNITS:
        raise IngestError(f"epoch_unit {epoch_unit!r} is not one of {', '.join(EPOCH_UNITS)}.")
    types = {
        column: sql_type for column, sql_type, *_ in raw.execute(f"DESCRIBE {STAGE}").fetchall()
    }
    source_columns = [c for c in types if c not in INTERNAL_COLUMNS]
    provided = _match_columns(spec, mapping, source_columns)
    extras = [c for c in source_columns if c not in set(provided.values())]

    required = set(spec.required)
    if _derived_from_series_point(spec, provided):
        # The target is series_id@ts: a row without either has no target at all.
        required |= {"series_id", "ts"}
    columns: dict[str, _Column] = {}
    for column, sql_type in spec.columns.items():
        kind = spec.defaults.get(column)
        if column == spec.extras_column:
            columns[column] = _extras_column(column, provided.get(column), extras, types)
        elif column in provided:
            source = provided[column]
            label = column if column == source else f"{column} (from {source})"
            columns[column] = _convert(
                label, identifier(source), types[source], sql_type, epoch_unit
            )
            if column in required:
                columns[column].reasons.append(
                    Reason(
                        _is_empty(identifier(source), types[source], sql_type),
                        f"'{column} is missing'",
                    )
                )
        elif kind == "now":
            columns[column] = _Column(None, f"TIMESTAMP {literal(now.isoformat(sep=' '))}", [])
        elif kind == "batch":
            columns[column] = _Column(None, literal(batch_id), [])
        elif kind == "source":
            columns[column] = _Column(None, literal(name), [])
        else:
            columns[column] = _Column(None, f"CAST(NULL AS {sql_type})", [])
    if EXTRAS in types:
        # JSON lines: a declared column holds one value; an object or array there is no id,
        # time or number (its text would otherwise be stored as if it were one).
        for column, source in provided.items():
            if column != spec.extras_column and source in types:
                path = literal('$."' + source.replace("\\", "\\\\").replace('"', '\\"') + '"')
                columns[column].reasons.append(
                    Reason(
                        f"json_type({EXTRAS}, {path}) IN ('OBJECT', 'ARRAY')",
                        f"'{column} is a JSON ' || lower(json_type({EXTRAS}, {path})) || "
                        "', not a single value'",
                    )
                )
    for column, (condition, message) in _checks(spec).items():
        if column in provided:
            final = columns[column].final
            # A rule may compare with the row's ts (a span's end is not before its start).
            ts = (
                f"({_fill(columns['ts'].final, 'ts', columns['ts'])})"
                if "ts" in columns
                else "NULL"
            )
            columns[column].reasons.append(
                Reason(
                    f"({final}) IS NOT NULL AND NOT ({condition.format(v=f'({final})', ts=ts)})",
                    f"'{column} ' || {_shown(identifier(provided[column]))} || ' {message}'",
                )
            )

    depth = max((len(col.matched) for col in columns.values()), default=0)
    layers = [
        [
            f"{_step(col.matched[level], name_, level)} AS {identifier(_step_name(name_, level))}"
            for name_, col in columns.items()
            if level < len(col.matched)
        ]
        for level in range(depth)
    ]
    parsed = [
        f"{_fill(col.parsed, name_, col)} AS {identifier('__wb_p_' + name_)}"
        for name_, col in columns.items()
        if col.parsed is not None
    ]
    finals = {name_: _fill(col.final, name_, col) for name_, col in columns.items()}
    # Derived defaults are computed from the other columns' final values.
    for column, kind in spec.defaults.items():
        if column in provided:
            continue
        if kind == "content_hash":
            parts = [
                f"coalesce(CAST({finals[c]} AS VARCHAR), '')"
                for c in spec.columns
                if c != column and spec.defaults.get(c) not in ("batch", "source")
            ]
            finals[column] = f"md5(concat_ws(chr(31), {', '.join(parts)}))"
        elif kind == "series_point":
            point = _series_point(finals["series_id"], finals["ts"])
            if "ts_end" in provided:
                # A span's target: series_id@start/end.
                end = _iso_utc(finals["ts_end"])
                point = (
                    f"CASE WHEN {finals['ts_end']} IS NULL OR {finals['ts_end']} = {finals['ts']} "
                    f"THEN {point} ELSE {point} || '/' || {end} END"
                )
            finals[column] = point
    rules = [
        Reason(_fill(r.condition, name_, col), _fill(r.message, name_, col))
        for name_, col in columns.items()
        for r in col.reasons
    ]
    reason = _reason_sql(rules)
    if PARSE_ERROR in types:
        # A row that could not be parsed has no values to judge: its parse error says it all.
        reason = f"coalesce({PARSE_ERROR}, {reason})"
    select_list = ", ".join(f"{expr} AS {identifier(c)}" for c, expr in finals.items())
    parsed_list = ", ".join(
        [
            ROW,
            *[identifier(c) for c in source_columns],
            *([PARSE_ERROR] if PARSE_ERROR in types else []),
            *([EXTRAS] if EXTRAS in types else []),
            *parsed,
        ]
    )
    select_sql = (
        "WITH "
        + "".join(
            f"matched{level} AS (SELECT *{''.join(', ' + m for m in layer)} FROM "
            f"{'matched' + str(level - 1) if level else STAGE}), "
            for level, layer in enumerate(layers)
        )
        + f"parsed AS (SELECT {parsed_list} FROM {f'matched{depth - 1}' if depth else STAGE}) "
        f"SELECT {ROW}, {select_list}, {reason} AS __wb_reason FROM parsed"
    )
    # The original row, read from the staged input under the alias "st".
    if RAW in types:
        raw_sql = f"st.{RAW}"
    elif source_columns:
        pairs = ", ".join(f"{literal(c)}, st.{identifier(c)}" for c in source_columns)
        raw_sql = f"CAST(json_object({pairs}) AS VARCHAR)"
    else:
        raw_sql = "'{}'"
    return Plan(select_sql, list(finals), spec.key, raw_sql)


def _step_name(column: str, level: int) -> str:
    return f"__wb_m{level}_{column}"


def _step(template: str, column: str, level: int) -> str:
    """A matched step's SQL, reading the step before it as {m}."""
    return template.replace("{m}", identifier(_step_name(column, level - 1))) if level else template


def _fill(template: str, column: str, col: _Column) -> str:
    if col.matched:
        template = template.replace("{m}", identifier(_step_name(column, len(col.matched) - 1)))
    return (
        template.replace("{p}", identifier("__wb_p_" + column))
        if col.parsed is not None
        else template
    )


def _match_columns(
    spec: TableSpec, mapping: Mapping[str, str], source_columns: list[str]
) -> dict[str, str]:
    """Table column -> source column, from the mapping and same-named columns."""
    unknown_targets = [t for t in mapping if t not in spec.columns]
    if unknown_targets:
        raise IngestError(
            f"--map names {unknown_targets}, which table {spec.name!r} does not have; its "
            f"columns are {', '.join(spec.columns)}."
        )
    missing_sources = [s for s in mapping.values() if s not in source_columns]
    if missing_sources:
        raise IngestError(
            f"--map uses {missing_sources}, which the input does not have; its columns are "
            f"{', '.join(source_columns) or '(none)'}."
        )
    provided: dict[str, str] = {}
    for column in spec.columns:
        if spec.defaults.get(column) == "batch":
            continue  # always this batch's id; an input column of that name goes to extras
        if column in mapping:
            provided[column] = mapping[column]
        elif column in source_columns and column not in mapping.values():
            provided[column] = column
    missing = [c for c in spec.required if c not in provided and c not in spec.defaults]
    if missing:
        hints = " ".join(f"--map {c}=COLUMN" for c in missing)
        raise IngestError(
            f"The input has no column for {', '.join(missing)}, required by table {spec.name!r}. "
            f"Its columns are {', '.join(source_columns) or '(none)'}; name the right ones "
            f"with {hints}."
        )
    for column in _derived_from_series_point(spec, provided):
        if not {"series_id", "ts"} <= provided.keys():
            raise IngestError(
                f"The input has no column for {column}, nor both series_id and ts to derive it "
                f"from, required by table {spec.name!r}. Its columns are "
                f"{', '.join(source_columns) or '(none)'}; name them with --map {column}=COLUMN, "
                "or --map series_id=COLUMN --map ts=COLUMN."
            )
    return provided


def _derived_from_series_point(spec: TableSpec, provided: Mapping[str, str]) -> list[str]:
    """Columns (a label's target) that the input leaves to be derived as ``series_id@ts``."""
    return [
        column
        for column, kind in spec.defaults.items()
        if kind == "series_point" and column not in provided
    ]


def _is_empty(source: str, source_type: str, target_type: str) -> str:
    if source_type != "VARCHAR":
        return f"{source} IS NULL"
    if target_type == "VARCHAR":
        return f"nullif({source}, '') IS NULL"
    return f"nullif(trim({source}), '') IS NULL"


def _checks(spec: TableSpec) -> dict[str, tuple[str, str]]:
    """Rules beyond types: column -> (SQL condition on ``{v}``, what the value must be)."""
    if spec.name == "labels":
        return {
            "label": ("{v} IN (0, 1)", "must be 1 (anomalous) or 0 (normal)"),
            "ts_end": ("{ts} IS NULL OR {v} >= {ts}", "is before ts: a span ends after it starts"),
        }
    if spec.name == "deliveries":
        return {
            "propensity": ("{v} > 0 AND {v} <= 1", "must be a probability in (0, 1]"),
            "position": ("{v} >= 0", "must be 0 or more"),
        }
    return {}


def _is_numeric(source_type: str) -> bool:
    return source_type in _NUMERIC or source_type.startswith("DECIMAL")


def _reason_sql(rules: list[Reason]) -> str:
    """SQL for every reason a row is refused, joined by '; ', or NULL when there is none.

    The messages are built only for rows that break a rule: the cheap conditions are
    checked first, which keeps validation fast on clean data.
    """
    if not rules:
        return "CAST(NULL AS VARCHAR)"
    any_broken = " OR ".join(f"coalesce({r.condition}, false)" for r in rules)
    messages = ", ".join(f"CASE WHEN {r.condition} THEN {r.message} END" for r in rules)
    return f"CASE WHEN {any_broken} THEN concat_ws('; ', {messages}) END"


def _not_parsed(label: str, s: str, what: str) -> Reason:
    return Reason(f"{s} IS NOT NULL AND {{p}} IS NULL", f"'{label} ' || {_shown(s)} || ' {what}'")


def _convert(label: str, s: str, source_type: str, target: str, epoch_unit: str) -> _Column:
    """How to read one declared column from a source column of ``source_type``."""
    numeric = _is_numeric(source_type)
    as_text = s if source_type == "VARCHAR" else f"CAST({s} AS VARCHAR)"
    if target == "VARCHAR":
        # Empty text is no id: it counts as missing, not as the id "".
        value = f"nullif({s}, '')" if source_type == "VARCHAR" else as_text
        return _Column(
            value,
            "{p}",
            [
                # strlen (bytes) first: cheap, and never less than the length in characters.
                Reason(
                    f"strlen({{p}}) > {MAX_ID_LENGTH} AND length({{p}}) > {MAX_ID_LENGTH}",
                    f"'{label} is ' || format('{{:,}}', length({{p}})) || "
                    f"' characters long; at most {MAX_ID_LENGTH} are accepted'",
                ),
                # Blank text is no value either; kept, it would be an id nobody can type.
                Reason(
                    "trim({p}, ' \t\n\r\v\f') = ''",
                    f"'{label} ' || {_shown(s)} || ' is only whitespace'",
                ),
            ],
        )
    if target == "TIMESTAMP":
        return _convert_timestamp(label, s, source_type, epoch_unit)
    # Empty text in a number column is a missing value, as an empty CSV field is.
    text = f"nullif(trim({as_text}), '')"
    present = f"{s} IS NOT NULL" if numeric else f"{text} IS NOT NULL"
    # DuckDB (and Python) read "1_000" as 1000; a data file means something else by it.
    as_number = (
        f"CAST({s} AS DOUBLE)"
        if numeric
        else f"CASE WHEN NOT contains({text}, '_') THEN TRY_CAST({text} AS DOUBLE) END"
    )
    if target == "DOUBLE":
        parsed = as_number
        reasons = (
            []
            if numeric
            else [
                Reason(
                    f"{present} AND {{p}} IS NULL",
                    f"'{label} ' || {_shown(s)} || ' is not a number'",
                )
            ]
        )
        reasons.append(
            Reason("NOT isfinite({p})", f"'{label} ' || {_shown(s)} || ' is not a finite number'")
        )
        return _Column(parsed, "CASE WHEN isfinite({p}) THEN {p} END", reasons)
    if target in ("TINYINT", "INTEGER", "BIGINT"):
        # Read as a number first: DuckDB would round '1.5' to 2 when casting to an integer.
        final = f"CASE WHEN {{p}} = round({{p}}) THEN TRY_CAST({{p}} AS {target}) END"
        return _Column(
            as_number,
            final,
            [
                Reason(
                    f"{present} AND ({final}) IS NULL",
                    f"'{label} ' || {_shown(s)} || ' is not a whole number in range'",
                )
            ],
        )
    if target == "BOOLEAN":
        return _Column(
            f"TRY_CAST({s} AS BOOLEAN)", "{p}", [_not_parsed(label, s, "is not true/false")]
        )
    raise IngestError(f"Column {label} of type {target} cannot be ingested.")


def _convert_timestamp(label: str, s: str, source_type: str, epoch_unit: str) -> _Column:
    scale = EPOCH_UNITS[epoch_unit]
    low, high = f"TIMESTAMP '{MIN_TIMESTAMP}'", f"TIMESTAMP '{MAX_TIMESTAMP}'"
    span = f"between {MIN_TIMESTAMP[:10]} and {MAX_TIMESTAMP[:10]}"
    epoch_hint = (
        f"is not a time {span} when read as {epoch_unit} since 1970; if it counts other "
        "units, pass --epoch-unit s, ms or us"
    )

    def from_epoch(number: str) -> str:
        # Range-check the number before converting it, so huge values cannot overflow.
        return (
            f"CASE WHEN {number} >= epoch({low}) * {scale} AND {number} < epoch({high}) * {scale} "
            f"THEN make_timestamp(CAST(round({number} * {1_000_000 // scale}) AS BIGINT)) END"
        )

    in_range = "CASE WHEN {p} >= " + low + " AND {p} < " + high + " THEN {p} END"
    out_of_range = Reason(
        f"{{p}} < {low} OR {{p}} >= {high}",
        f"'{label} ' || {_shown(s)} || ' is outside the accepted range ({span})'",
    )
    if _is_numeric(source_type):
        return _Column(
            from_epoch(f"CAST({s} AS DOUBLE)"), "{p}", [_not_parsed(label, s, epoch_hint)]
        )
    if source_type == "TIMESTAMP WITH TIME ZONE":
        # The instant in microseconds, rebuilt as a UTC timestamp: no time zone lookups.
        return _Column(f"make_timestamp(epoch_us({s}))", in_range, [out_of_range])
    if source_type.startswith("TIMESTAMP") or source_type == "DATE":
        return _Column(f"CAST({s} AS TIMESTAMP)", in_range, [out_of_range])
    # Text: seconds (or --epoch-unit) since 1970 when it is a plain number, else ISO 8601
    # read by workbench.capture.times; a time without an offset is UTC.
    text = f"nullif(trim(CAST({s} AS VARCHAR)), '')"
    is_number = f"regexp_full_match({text}, '-?[0-9]+(\\.[0-9]+)?')"
    epoch = from_epoch(f"TRY_CAST({text} AS DOUBLE)")
    parsed = (
        f"CASE WHEN {text} IS NULL THEN NULL WHEN {is_number} THEN "
        f"{{'utc': {epoch}, 'problem': CASE WHEN ({epoch}) IS NULL THEN '{epoch_hint}' END}} "
        f"ELSE {times.parse_sql('{m}')} END"
    )
    unparsed = Reason(
        "{p}.problem IS NOT NULL", f"'{label} ' || {_shown(s)} || ' ' || {{p}}.problem"
    )
    utc = "{p}.utc"
    return _Column(
        parsed,
        in_range.replace("{p}", utc),
        [unparsed, Reason(out_of_range.condition.replace("{p}", utc), out_of_range.message)],
        matched=times.steps_sql(text),
    )


def _extras_column(
    column: str, source: str | None, extras: list[str], types: dict[str, str]
) -> _Column:
    """The JSON column: the input's own JSON object, plus every undeclared input column."""
    reasons: list[Reason] = []
    own = None
    if source is not None:
        s = identifier(source)
        if types[source] in ("VARCHAR", "JSON"):
            # TRY_CAST validates and minifies, so an object is exactly text starting with "{".
            own = f"CAST(TRY_CAST(nullif(trim(CAST({s} AS VARCHAR)), '') AS JSON) AS VARCHAR)"
            reasons.append(
                Reason(
                    f"nullif(trim(CAST({s} AS VARCHAR)), '') IS NOT NULL AND "
                    f"({{p}} IS NULL OR left({{p}}, 1) <> '{{')",
                    f"'{column} ' || {_shown(s)} || ' is not a JSON object'",
                )
            )
        else:
            own = f"CAST(to_json({s}) AS VARCHAR)"
    if EXTRAS in types:
        # JSON-lines input: the record itself (JSON types kept), less its declared keys.
        extra = _jsonl_extras([literal(k) for k in _declared(types, extras)])
    elif extras:
        # JSON has no NaN or infinity: a float's NaN is pandas' "missing" (null in JSON); an
        # infinite value cannot be stored as JSON at all, so its row is refused.
        floats = [c for c in extras if types[c] in ("DOUBLE", "FLOAT")]
        values = [
            f"CASE WHEN isnan({identifier(c)}) THEN NULL ELSE {identifier(c)} END"
            if c in floats
            else identifier(c)
            for c in extras
        ]
        reasons += [
            Reason(
                f"isinf({identifier(c)})",
                f"'{c} ' || {_shown(identifier(c))} || ' is infinite; JSON cannot hold it'",
            )
            for c in floats
        ]
        extra = (
            "CAST(json_object("
            + ", ".join(f"{literal(c)}, {v}" for c, v in zip(extras, values, strict=True))
            + ") AS VARCHAR)"
        )
    else:
        extra = None
    if own is None and extra is None:
        return _Column(None, "CAST(NULL AS JSON)", reasons)
    if own is None:
        return _Column(extra, "CAST({p} AS JSON)", reasons)
    judged = "CASE WHEN left({p}, 1) = '{' THEN {p} END"
    if extra is None:
        return _Column(own, f"CAST({judged} AS JSON)", reasons)
    # Both: the input's object stays as it is, the other columns go under "source_columns",
    # so no key of one can overwrite a key of the other.
    combined = (
        f"CASE WHEN {extra} IS NULL THEN {judged} "
        f"WHEN ({judged}) IS NULL OR {{p}} = '{{}}' THEN '{{\"source_columns\":' || {extra} || '}}' "
        f"ELSE left({{p}}, length({{p}}) - 1) || ',\"source_columns\":' || {extra} || '}}' END"
    )
    return _Column(own, f"CAST({combined} AS JSON)", reasons)


def _declared(types: dict[str, str], extras: list[str]) -> list[str]:
    """Input columns used as declared columns (everything that is not an extra)."""
    return [c for c in types if c not in INTERNAL_COLUMNS and c not in extras]


def _jsonl_extras(used: list[str]) -> str:
    """SQL for a JSON-lines record without its declared keys, null values kept."""
    if not used:
        return f"CAST({EXTRAS} AS VARCHAR)"
    keep = f"list_filter(json_keys({EXTRAS}), k -> NOT list_contains([{', '.join(used)}], k))"
    return (
        f"CASE WHEN {EXTRAS} IS NULL OR len({keep}) = 0 THEN NULL ELSE "
        f"'{{' || array_to_string(list_transform({keep}, k -> to_json(k) || ':' || "
        # A JSON pointer, not a '$."key"' path: any key is safe in it, even "" or "*".
        f"json_extract({EXTRAS}, '/' || replace(replace(k, '~', '~0'), '/', '~1'))), ',') "
        "|| '}' END"
    )


def _series_point(series_id: str, ts: str) -> str:
    """SQL for a series point's label target, ``series_id@ISO-time`` in UTC."""
    return f"{series_id} || '@' || {_iso_utc(ts)}"


def _iso_utc(ts: str) -> str:
    """SQL for a UTC time as a label target writes it, ``YYYY-MM-DDTHH:MM:SS+00:00``."""
    micros = f"microsecond({ts}) % 1000000"
    return (
        f"strftime({ts}, '%Y-%m-%dT%H:%M:%S') || "
        f"CASE WHEN {micros} <> 0 THEN '.' || lpad(CAST({micros} AS VARCHAR), 6, '0') ELSE '' END "
        f"|| '+00:00'"
    )
