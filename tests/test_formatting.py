"""Tables for people: labels, styles, no NaN, nothing cut."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from workbench.exceptions import InvalidArgument
from workbench.formatting import label, present


def test_a_presented_table_has_human_headers_no_index_and_no_missing_markers():
    frame = pd.DataFrame(
        {
            "ndcg_at_10_score": [0.15234, np.nan],
            "lift_low": [0.0123, -0.2],
            "users": [1200, 35],
            "passed": [True, False],
            "detail": ["a long explanation " * 20, None],
            "ts": [pd.Timestamp("2026-01-05 03:00"), pd.NaT],
        },
        index=["x", "y"],
    )
    table = present(frame, styles={"lift_low": "change"})
    rows = table.data
    assert rows.columns.tolist() == ["nDCG@10", "Lift low", "Users", "Passed", "Detail", "Ts"]
    assert rows.iloc[0].tolist()[:4] == ["0.152", "+1.2%", "1,200", "yes"]
    assert rows.iloc[1].tolist()[0] == "n/a" and rows.iloc[1].tolist()[4:] == ["n/a", "n/a"]
    assert rows.iloc[0]["Ts"] == "2026-01-05 03:00"
    assert rows.iloc[0]["Detail"] == frame["detail"].iloc[0]  # whole, never cut with "..."
    html = table.to_html()
    assert ">x<" not in html and "NaN" not in html and "None" not in html
    assert "text-align: left" in html  # words read from the left


def test_present_refuses_a_style_for_a_column_the_table_does_not_have():
    with pytest.raises(InvalidArgument, match="the table does not have; its columns are a"):
        present(pd.DataFrame({"a": [1]}), styles={"b": "percent"})
    with pytest.raises(InvalidArgument, match="takes a pandas DataFrame"):
        present([1, 2])


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("precision_at_k_score", "Precision@k"),
        ("catalog_coverage_at_10_score", "Catalog coverage@10"),
        ("srm_p_value", "SRM p-value"),
        ("fit_seconds", "Fit seconds"),
        ("because_item_id", "Because item ID"),
        ("kpi_alerts", "KPI alerts"),
    ],
)
def test_names_read_as_people_write_them(name, text):
    assert label(name) == text


def test_a_date_at_midnight_is_written_as_a_date():
    rows = present(pd.DataFrame({"day": [dt.datetime(2026, 1, 5)]})).data
    assert rows.iloc[0, 0] == "2026-01-05"


def test_a_short_heading_is_never_split_and_text_headings_read_from_the_left():
    frame = pd.DataFrame({"day": [1], "jobs": ["00:00 scan · 02:00 train"], "expected_ctr": [0.2]})
    html = present(frame).to_html()
    ids = {name: at for at, name in enumerate(["Day", "Jobs", "Expected CTR"])}
    # "Day" keeps its three letters' room beside a column of long text; "Jobs" is text.
    assert f"th.col{ids['Day']} {{\n  min-width: 4ch;\n}}" in html
    assert f"th.col{ids['Jobs']} {{\n  min-width: 5ch;\n  text-align: left;\n}}" in html
    # A heading with a long word may still break when a wide table needs the room.
    assert f"th.col{ids['Expected CTR']}" not in html
