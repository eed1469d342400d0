"""scripts/gpu_check.py on a CPU with a tiny shape: the same code a GPU runs, its tables and its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import load_script

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gpu_check():
    return load_script("gpu_check")


def test_the_gpu_check_runs_on_a_tiny_shape(gpu_check, tiny_long_context_dir, tmp_path, capsys):
    from transformers import AutoTokenizer

    vocab = len(AutoTokenizer.from_pretrained(tiny_long_context_dir))
    shape = tmp_path / "tiny-qwen2.config.json"
    shape.write_text(json.dumps({
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 16, "intermediate_size": 32,
        "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": vocab,
        "tie_word_embeddings": True, "max_position_embeddings": 4096, "eos_token_id": 2}))
    out = tmp_path / "report.json"
    report = gpu_check.main(["--shapes", str(shape), "--prompts", "5", "--prompt-tokens", "150",
                             "--max-new-tokens", "6", "--batch-sizes", "1,2", "--decode-steps", "2",
                             "--bandwidth-gbs", "10", "--tokenizer", str(tiny_long_context_dir),
                             "--finetune-steps", "1", "--finetune-max-length", "200", "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    (s,) = report["shapes"]
    # 2 (keys, values) × 2 layers × 1 KV head × 8 dims × the bytes of the dtype auto chose (bf16 on a CPU with it)
    itemsize = {"float32": 4, "bfloat16": 2}[s["dtype"]]
    assert s["shape"] == "tiny-qwen2" and s["kv_bytes_per_token"] == 2 * 2 * 1 * 8 * itemsize
    assert s["batch_size"] == 5  # on a CPU the whole day in one batch
    assert s["loading"]["auto_dtype"] in ("float32", "bfloat16") and "placement" not in s["loading"]
    assert [r["mode"] for r in s["day"]] == ["static", "continuous"] and not any("error" in r for r in s["day"])
    assert all(r["completion_tokens"] > 0 and r["tok_s"] > 0 and r["ceiling_tok_s"] > 0 for r in s["day"])
    assert s["day"][1]["same_text_as_static"] == "5/5"  # fp32 on a CPU: batch composition changes nothing
    assert [r["batch"] for r in s["sweep"]] == [1, 2]
    f = report["finetune"]
    assert f["steps"] == 1 and f["gradient_checkpointing"] and f["peak_gpu_gib"] is None
    table = capsys.readouterr().out
    assert "| tiny-qwen2 | static |" in table and "| tiny-qwen2 | continuous |" in table
    assert "finetune-qwen0.5b-zh-tldr-gpu.yaml" in table
