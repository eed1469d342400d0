"""Two processes under `accelerate launch --cpu`, as on two GPUs: a rerun of a day whose sidecar exists reuses the
same records on every process and puts every summary on its own paper."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from summarizer import archive
from summarizer.papers import Paper

ROOT = Path(__file__).resolve().parent.parent
DATE = "2025-03-04"
NAMES = ["Gizmo", "Widget", "Sprocket", "Gadget", "Doohickey"]
ABSTRACT = ("We introduce {name}, a benchmark of 1,200 synthetic jar images from three sources and 7M marbles. "
            "A small CNN reaches 91.5% accuracy, 3x chance, and the code is public.")

# Each process loads the tiny model through load_model, with its placement faked as it is on GPUs (one device per
# process: "cuda:0", "cuda:1"), and runs the real digest and engine.generate; only the model's forward is replaced by
# a writer of a valid reply naming the paper its prompt holds, so a reply on the wrong paper shows. The day is run
# first for its first 3 papers, then whole: the second run must reuse those 3 on both processes.
CHILD = r'''
import json, re, sys
from pathlib import Path
from accelerate import PartialState
from summarizer import digest as pipeline, engine, loading
from summarizer.prompt import format_output
from summarizer.styles import STYLES

model_dir, home, out, names = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4].split(",")
# cpu=True: the gloo process group torchrun's environment names (PartialState() alone on a CPU-only machine stays
# one process); every later PartialState() shares this one.
state = PartialState(cpu=True)
assert state.num_processes == 2
loading._device_label = lambda: f"cuda:{state.process_index}"
style = STYLES["en-bullets"]
FIELDS = {"bullets": ["The paper introduces {n}, a toy benchmark for counting marbles in jars.",
                      "{n} holds 1,200 synthetic jar images with exact marble counts.",
                      "A small CNN reaches 91.5% accuracy, 3x better than chance."]}

def fake_static(lm, rows, config, forced, suppress):
    new = []
    for row in rows:
        name = next(n for n in names if n in lm.tokenizer.decode(row))
        reply = format_output(style, {"bullets": [b.format(n=name) for b in FIELDS["bullets"]]})
        reply = reply[len(style.prefill):] if reply.startswith(style.prefill) else reply
        new.append(lm.tokenizer(reply, add_special_tokens=False)["input_ids"] + [lm.tokenizer.eos_token_id])
    width = max(map(len, new))
    return [r + [lm.tokenizer.pad_token_id] * (width - len(r)) for r in new], tuple(map(len, rows))

engine._static = fake_static
pipeline.duplicates = lambda summaries: {}  # the replies differ in one name only
lm = loading.load_model(model_dir, dtype="float32")
report = []
for limit in (3, None):
    r = pipeline.digest("@DATE@", "en-bullets", lm=lm, home=home, arxiv=False, limit=limit)
    report.append({"reused": r.reused, "generated": r.generated, "valid": r.valid})
(out / f"process-{state.process_index}.json").write_text(json.dumps(report))
'''.replace("@DATE@", DATE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_rerun_reuses_the_same_records_everywhere(tmp_path, tiny_long_context_dir):
    home = tmp_path / "home"
    papers = [Paper(id=f"2503.0000{i + 1}", title=f"{name} paper", abstract=ABSTRACT.format(name=name), date=DATE,
                    upvotes=50 - i) for i, name in enumerate(NAMES)]
    archive.save_day(DATE, "hf", papers, {"hf.json": b"[]"}, home)
    child = tmp_path / "child.py"
    child.write_text(CHILD, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", SUMMARIZER_HOME=str(home),
               SUMMARIZER_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1",
               ACCELERATE_USE_CPU="true")
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()), str(child),
         str(tiny_long_context_dir), str(home), str(tmp_path), ",".join(NAMES)],
        env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, "\n".join(line for line in done.stderr.splitlines() if "[rank" in line)[-4000:]
    reports = [json.loads((tmp_path / f"process-{i}.json").read_text()) for i in (0, 1)]
    assert reports[0] == reports[1]  # the same records reused, the same papers generated, on both processes
    assert reports[0][1]["reused"] == 3 and reports[0][1]["generated"] == 2 and reports[0][1]["valid"] == 5
    side = json.loads((home / "digests" / "en-bullets" / f"{DATE}.json").read_text(encoding="utf-8"))
    for paper in papers:
        raw = side["records"][paper.id]["raw"]
        name = paper.title.split()[0]
        assert name in raw and not any(n in raw for n in NAMES if n != name), (paper.id, raw)
