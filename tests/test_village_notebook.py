"""The village loop report: the loop's answers beside the planted truth, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from notebook_support import execute, shown

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "village_loop.ipynb"

pytestmark = pytest.mark.slow


def test_the_report_answers_each_question_of_the_loop_and_reconciles(tmp_path):
    results, notebook = execute(
        NOTEBOOK, tmp_path, days=4, users=80, items=120, seed=3, incident_day=2, test_day=3
    )

    summary, days = results["summary"], results["days"]
    assert [day["day"] for day in days] == [1, 2, 3, 4]
    # Nothing lost or doubled, day by day: the notebook would have failed otherwise.
    for day in days:
        assert day["items_shown"] == day["deliveries_logged"] > 0
        assert day["responses"] == day["events_captured"] + day["quarantined"]
    assert summary["items_shown"] == sum(day["items_shown"] for day in days)
    # The references come from the planted tastes: the oracle is the ceiling.
    assert all(day["oracle_ctr"] > day["expected_ctr"] for day in days)
    assert summary["incident_day"] == 2 and summary["test_day"] == 3
    assert days[1]["incident"] and days[1]["fallback_share"] > 0.3
    low, high = summary["ope_lift"][1], summary["ope_lift"][2]
    assert low <= summary["ope_lift"][0] <= high

    text = "\n".join(shown(notebook, "text/markdown"))
    assert "Does the model get better?" in text and "Was anything lost?" in text
    assert f"{summary['items_shown']:,} items shown" in text
    assert "(0 lost)" in text
    charts = shown(notebook, "image/svg+xml")
    assert len(charts) == 1 and "plays per shown item" in charts[0]
