"""The sidecar's typed record: round trip, versions, and a clear error for what is not a digest record."""

import json

import pytest

from summarizer import SummarizerError, sidecar
from summarizer.sidecar import Record


def test_a_record_round_trips_through_the_document():
    rec = Record(fields={"bullets": ["a"]}, raw="- a", problems=[], repairs=["bullets: kept 1 of 2 items"], attempt=1,
                 sampling={"temperature": 0.7, "top_p": 0.9, "seed": 1}, completion_tokens=3, seconds=0.5)
    doc = json.loads(sidecar.document("2025-03-04", "en-bullets", "now", {}, [], {"2503.00001": rec,
                                                                                "2503.00002": sidecar.no_abstract()}))
    back = sidecar.records(doc, "x.json")
    assert doc["version"] == sidecar.VERSION and back["2503.00001"] == rec and back["2503.00001"].valid
    assert back["2503.00002"].status == "no-abstract" and not back["2503.00002"].valid


def test_a_version_1_record_reads_with_the_new_defaults():
    old = {"version": 1, "records": {"p": {"fields": {"bullets": ["a"]}, "raw": "- a", "problems": [], "attempt": 0,
                                          "sampling": None, "prompt_tokens": 9, "completion_tokens": 2,
                                          "seconds": 0.1, "truncated": False, "finished": True}}}
    rec = sidecar.records(old)["p"]
    assert rec.repairs == [] and rec.status == "generated" and rec.valid


@pytest.mark.parametrize("doc, message", [
    ({"version": sidecar.VERSION + 1, "records": {}}, "reads versions up to"),
    ({"version": "2", "records": {}}, "reads versions up to"),
    ({"version": 2, "records": []}, "no records mapping"),
    ({"version": 2, "records": {"p": {"fields": None, "raw": None, "problems": [], "score": 3}}}, "unknown keys"),
    ({"version": 2, "records": {"p": {"raw": "x"}}}, "not a digest record"),
])
def test_what_this_code_cannot_read_is_a_clear_error(doc, message):
    with pytest.raises(SummarizerError, match=message):
        sidecar.records(doc, "day.json")
