"""Measure validity per style on real days: one model load, a digest per (style, day), one table.

    .venv/bin/python scripts/validity.py --model qwen2.5-coder-0.5b --styles zh-digest,ko-bullets \
        --limit 10 feeds/hf-daily-2025-10-26.xml feeds/hf-daily-2025-12-14.xml

Each digest runs in a throw-away SUMMARIZER_HOME, so nothing is reused between runs. Besides the validator's verdict
it audits the valid summaries itself: how many still look like the style's example or another paper's summary.

Two runs of the same papers (their --json files, e.g. a base and its fine-tune) compared paper by paper, per style:

    .venv/bin/python scripts/validity.py --compare base.jsonl tuned.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from summarizer.digest import digest  # noqa: E402
from summarizer.engine import load_model  # noqa: E402
from summarizer.evaluate import paired_lines, paired_validity  # noqa: E402
from summarizer.prompt import parse_output  # noqa: E402
from summarizer.styles import STYLES  # noqa: E402
from summarizer.validate import prose, similarity  # noqa: E402

DAY = re.compile(r"(\d{4}-\d{2}-\d{2})")
AUDIT = 0.5  # a valid summary this similar to the example or another summary is counted as a copy in the table


def audit(style_name: str, records: dict) -> tuple[int, int]:
    """(valid summaries similar to the style's example, valid summaries similar to another valid summary)."""
    style = STYLES[style_name]
    texts = {pid: prose(r["fields"]) for pid, r in records.items() if r.get("fields") and not r["problems"]}
    example = prose(parse_output(style, style.example)) if style.example else ""
    copies = sum(1 for t in texts.values() if example and similarity(t, example) >= AUDIT)
    dups = sum(1 for a, t in texts.items() if any(similarity(t, u) >= AUDIT for b, u in texts.items() if b != a))
    return copies, dups


def paper_outcomes(lines: list[dict]) -> dict[str, list[dict]]:
    """--json lines → per style, each paper's {id (day/arXiv id), first_pass, passes}, papers without an abstract left
    out (nothing was asked of the model)."""
    out: dict[str, list[dict]] = {}
    for d in lines:
        for pid, r in d["records"].items():
            if r.get("status") == "no-abstract":
                continue
            valid = bool(r["fields"]) and not r["problems"]
            out.setdefault(d["style"], []).append({"id": f"{d['date']}/{pid}", "passes": r.get("passes", 1),
                                                   "first_pass": valid and r["attempt"] == 0})
    return out


def compare(base: Path, tuned: Path) -> None:
    """Per style, the papers both runs wrote: first-pass validity and retries, paper by paper (paired_validity)."""
    runs = [paper_outcomes([json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line])
            for path in (base, tuned)]
    for style in sorted(set(runs[0]) & set(runs[1])):
        ids = {e["id"] for e in runs[0][style]} & {e["id"] for e in runs[1][style]}
        a, b = ([e for e in run[style] if e["id"] in ids] for run in runs)
        first = [sum(e["first_pass"] for e in x) for x in (a, b)]
        print(f"{style}: {len(ids)} papers in both; first pass valid {first[0]} -> {first[1]}. "
              + (paired_lines(paired_validity(a, b)) or "nothing to pair.\n"), end="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("feeds", nargs="*", type=Path, help="feed files named with their day (YYYY-MM-DD)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BASE_JSON", "TUNED_JSON"), default=None,
                        help="compare two runs' --json files paper by paper instead of generating")
    parser.add_argument("--model", default=None)
    parser.add_argument("--styles", default=",".join(STYLES))
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None,
                        help="the generation seed (retries and redraws are sampled from it; default: the preset's): "
                             "runs at several seeds show how far a day's counts move by chance")
    parser.add_argument("--json", type=Path, default=None, help="append one JSON line per (style, day) here")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep each run's SUMMARIZER_HOME under DIR/<style>-<day> (for `summarizer quality`)")
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    if not args.feeds:
        parser.error("give feed files to generate for, or --compare BASE_JSON TUNED_JSON")
    t0 = time.perf_counter()
    lm = load_model(args.model)
    print(f"model loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    print("| style | day | papers | valid | first pass valid | repaired | failing rules | copies of example | "
          "copies of another paper | retries per paper | engine rounds per paper | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|", flush=True)
    for style in args.styles.split(","):
        for feed in args.feeds:
            date = DAY.search(feed.name).group(1)
            t = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                home = args.keep / f"{style}-{date}" if args.keep else Path(tmp)
                res = digest(date, style, source=str(feed), limit=args.limit, arxiv=False, retries=args.retries,
                             home=home, lm=lm, **({"overrides": {"seed": args.seed}} if args.seed is not None else {}))
                records = json.loads(res.sidecar.read_text(encoding="utf-8"))["records"]
            seconds = time.perf_counter() - t
            ok = {pid for pid, r in records.items() if r["fields"] and not r["problems"]}  # no-abstract: not valid
            first = sum(1 for pid in ok if records[pid]["attempt"] == 0)
            repaired = sum(1 for pid in ok if records[pid]["repairs"])
            rules = Counter(p["rule"] for r in records.values() for p in r["problems"])
            copies, dups = audit(style, records)
            fails = ", ".join(f"{k} {v}" for k, v in sorted(rules.items())) or "-"
            # as summarizer eval counts them: a paper's passes beyond the first, and the engine rounds it took part in
            sent = [r for r in records.values() if r.get("status") != "no-abstract"] or [{}]
            retries = sum(max(r.get("passes", 0) - 1, 0) for r in sent) / len(sent)
            rounds = sum(r.get("rounds", 0) for r in sent) / len(sent)
            print(f"| {style} | {date} | {res.papers} | {res.valid} | {first} | {repaired} | {fails} | {copies} | "
                  f"{dups} | {retries:.2f} | {rounds:.1f} | {seconds:.0f} |", flush=True)
            if args.json:
                with open(args.json, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"style": style, "date": date, "papers": res.papers, "valid": res.valid,
                                        "first_pass_valid": first, "repaired": repaired, "failures": dict(rules),
                                        "copies": copies, "duplicates": dups, "retries_per_paper": round(retries, 3),
                                        "rounds_per_paper": round(rounds, 3), "seconds": round(seconds, 1),
                                        "records": records}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
