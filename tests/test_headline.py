"""Headlines: one sentence, a status and the key figures, checked before they are recorded."""

from __future__ import annotations

import pytest

from workbench.exceptions import InvalidArgument
from workbench.formatting import format_value
from workbench.headline import Figure, Headline


@pytest.mark.parametrize(
    ("value", "style", "text"),
    [
        (0.15234, "number", "0.152"),
        (12.345, "number", "12.3"),
        (123456.7, "number", "123,457"),
        (1234567, "count", "1,234,567"),
        (0.1244, "percent", "12.4%"),
        (0.1244, "change", "+12.4%"),
        (-0.05, "change", "-5.0%"),
        (2.04, "seconds", "2.0 s"),
        (0.00000223, "number", "2.2e-06"),
        (float("nan"), "number", "n/a"),
        (None, "count", "n/a"),
    ],
)
def test_values_are_written_as_a_reader_expects(value, style, text):
    assert format_value(value, style) == text


def test_a_headline_refuses_an_unknown_status_an_empty_sentence_or_a_figure_that_is_not_a_number():
    with pytest.raises(InvalidArgument, match="choose one of ok, watch, act"):
        Headline("Fine.", "good")
    with pytest.raises(InvalidArgument, match="sentence"):
        Headline("  ")
    with pytest.raises(InvalidArgument, match="is not a number"):
        Figure("lift", "12%")
    with pytest.raises(InvalidArgument, match="choose one of number"):
        Figure("lift", 0.1, "percentage")


def test_a_headline_round_trips_as_json_data_and_a_missing_value_stays_missing():
    line = Headline("Lift measured.", "watch", (Figure("lift", float("nan"), "change"),))
    data = line.to_dict()
    assert data["figures"][0]["value"] is None
    again = Headline.from_dict(data)
    assert again.status == "watch" and again.figures[0].text() == "n/a"


def test_record_headline_records_it_for_the_report_and_refuses_anything_else():
    from workbench.runs import record_headline
    from workbench.runs.results import recorded

    record_headline(Headline("All good.", "ok", (Figure("rows", 3, "count"),)))
    assert recorded()["headline"]["text"] == "All good."
    with pytest.raises(InvalidArgument, match=r"domain reports offer one as \.headline\(\)"):
        record_headline({"text": "All good."})
