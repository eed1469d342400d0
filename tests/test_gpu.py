"""GPU paths on a CPU: the device queries (torch.cuda.*, accelerate's get_max_memory) are faked at the edge and the
decisions made from them (dtype, placement, batch sizes) are checked."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from summarizer import SummarizerError, loading

FIXTURES = Path(__file__).parent / "fixtures"
GB = 10**9
GIB = 1 << 30


def fake_gpu(monkeypatch, major: int, emulates_bf16: bool = True) -> None:
    """One CUDA device of compute capability `major`.x; torch's bf16 probe succeeds when it can emulate bf16."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: SimpleNamespace(major=major, minor=0))
    monkeypatch.setattr(torch.cuda, "_check_bf16_tensor_supported", lambda device: emulates_bf16)
    monkeypatch.setattr(torch.version, "hip", None)


@pytest.mark.parametrize(("major", "expected"), [(7, torch.float16), (8, torch.bfloat16), (9, torch.bfloat16)])
def test_auto_dtype_is_bf16_only_where_the_gpu_has_it(monkeypatch, major, expected):
    """V100/T4/RTX 20xx (7.x) can make a bf16 tensor (emulation), which torch counts by default: they get fp16."""
    fake_gpu(monkeypatch, major)
    assert loading.resolve_dtype("auto") == expected
    assert loading.resolve_dtype("float32") == torch.float32  # an explicit dtype is kept


@pytest.mark.parametrize("model_type", sorted(loading.FP16_OVERFLOW))
def test_fp16_warns_for_families_known_to_overflow(model_type):
    assert "float16" in loading.fp16_warning(model_type, torch.float16)
    assert loading.fp16_warning(model_type, torch.bfloat16) is None
    assert loading.fp16_warning("llama", torch.float16) is None


def test_loading_a_qwen2_model_in_fp16_warns(tmp_path, caplog):
    from conftest import build_byte_tokenizer
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = build_byte_tokenizer()
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    Qwen2ForCausalLM(cfg).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING, logger="summarizer.loading"):
        lm = loading.load_model(str(tmp_path), dtype="float16")
    assert lm.model.dtype == torch.float16
    assert any("qwen2 runs in float16" in r.getMessage() for r in caplog.records)


def skeleton(name: str):
    """The model of a real config.json on the meta device (sizes only, nothing allocated), in bf16."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model(**json.loads((FIXTURES / f"{name}.config.json").read_text(encoding="utf-8")))
    with init_empty_weights():
        return AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)


@pytest.fixture(scope="module")
def qwen7b():
    return skeleton("qwen2.5-7b-instruct")


def test_a_model_that_fits_one_gpu_goes_whole_on_the_freest_one(qwen7b):
    """7B in bf16 (15.2 GB) on two 80 GB GPUs: one GPU, not a split over both ("auto" would balance it)."""
    device_map, said = loading.plan_placement(qwen7b, {0: 40 * GB, 1: 79 * GB, "cpu": 200 * GB}, torch.bfloat16,
                                              allow_offload=False, name="qwen7b")
    assert device_map == {"": 1}
    assert "whole on cuda:1" in said


def test_a_model_too_big_for_the_gpu_is_a_one_line_error_not_a_cpu_offload(qwen7b):
    """7B in bf16 on a 16 GB card: its last layers would run on the CPU."""
    memory = {0: 15 * GIB, "cpu": 60 * GIB}
    with pytest.raises(SummarizerError, match=r"does not fit the GPU memory.*--allow-offload") as err:
        loading.plan_placement(qwen7b, memory, torch.bfloat16, allow_offload=False, name="qwen7b")
    assert "\n" not in str(err.value)
    device_map, said = loading.plan_placement(qwen7b, memory, torch.bfloat16, allow_offload=True, name="qwen7b")
    assert "cpu" in set(device_map.values()) and 0 in set(device_map.values()) and "cpu" in said


def test_a_model_that_needs_two_gpus_is_spread_over_them(qwen7b):
    device_map, said = loading.plan_placement(qwen7b, {0: 10 * GIB, 1: 10 * GIB, "cpu": 60 * GIB}, torch.bfloat16,
                                              allow_offload=False, name="qwen7b")
    assert set(device_map.values()) == {0, 1}
    assert said.startswith("spread over cuda:0, cuda:1")


def test_device_map_reads_the_gpus_memory_through_accelerate(monkeypatch, tiny_model_dir, caplog):
    """The edge: CUDA available and accelerate's get_max_memory faked; a tiny model lands whole on GPU 0."""
    from transformers import AutoConfig, AutoModelForCausalLM

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr("accelerate.utils.get_max_memory", lambda max_memory=None: {0: 8 * GIB, "cpu": 8 * GIB})
    cfg = AutoConfig.from_pretrained(tiny_model_dir)
    with caplog.at_level(logging.INFO, logger="summarizer.loading"):
        assert loading._device_map(cfg, AutoModelForCausalLM, torch.float32, trust=False, allow_offload=False,
                                   name="tiny") == {"": 0}
    assert any("whole on cuda:0" in r.getMessage() for r in caplog.records)
    monkeypatch.setattr("accelerate.utils.get_max_memory", lambda max_memory=None: {0: 1000, "cpu": 8 * GIB})
    with pytest.raises(SummarizerError, match="does not fit"):
        loading._device_map(cfg, AutoModelForCausalLM, torch.float32, trust=False, allow_offload=False, name="tiny")


def test_the_device_in_the_provenance_is_the_same_on_every_process(monkeypatch):
    """Under `accelerate launch` on GPUs each process has its own cuda:N; the provenance says "cuda" on all."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert loading._device_label() == "cuda"


def test_kv_bytes_per_token_from_the_config(qwen7b):
    assert loading.kv_bytes_per_token(qwen7b.config, torch.bfloat16) == 2 * 28 * 4 * 128 * 2
    assert loading.kv_bytes_per_token(skeleton("qwen2.5-0.5b-instruct").config, torch.bfloat16) == 2 * 24 * 2 * 64 * 2


@pytest.mark.parametrize(("free_gb", "batches"), [(62, 1), (7, 2)])
def test_a_gpu_day_runs_in_as_few_batches_as_its_memory_allows(qwen7b, free_gb, batches):
    """50 zh-digest prompts of 1.8k tokens on the 7B preset: one batch on an 80 GB card (62 GB free after the
    weights), two on a 24 GB one; the CPU sizes (16 rows, 16,384 tokens) make 8 for each section round."""
    from summarizer.config import GenerationConfig, load_preset
    from summarizer.engine import plan_batches

    preset = load_preset("qwen2.5-7b-instruct")
    rows, budget = loading.gpu_sizes(free_gb * GB, loading.kv_bytes_per_token(qwen7b.config, torch.bfloat16), preset)
    assert rows == preset.gpu_batch_size == 64
    lengths = [1800 + i for i in range(50)]
    cfg = GenerationConfig(max_new_tokens=512, batch_size=rows, token_budget=budget)
    assert len(plan_batches(lengths, cfg)) == batches
    cpu = preset.generation_config(max_new_tokens=512)
    assert (cpu.batch_size, cpu.token_budget) == (16, 16384) and len(plan_batches(lengths, cpu)) == 8


def test_a_model_loaded_on_a_gpu_gets_gpu_sizes_and_on_a_cpu_keeps_its_own(monkeypatch, tiny_model_dir, tmp_path):
    """The edge: CUDA and its free memory faked (the weights stay on the CPU), through load_model and a preset."""
    preset = tmp_path / "tiny.yaml"
    preset.write_text(f"# a tiny preset\nmodel: {tiny_model_dir}\nbatch_size: 4\ntoken_budget: 2048\n"
                      "gpu_batch_size: 32\ngpu_kv_share: 0.25\n")
    cpu = loading.load_model(str(preset), dtype="float32")
    assert (cpu.generation.batch_size, cpu.generation.token_budget, cpu.gpu_sizes) == (4, 2048, None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(loading, "_device_map", lambda *args, **kwargs: None)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (4 * GIB, 8 * GIB))
    gpu = loading.load_model(str(preset), dtype="float32")
    per_token = 2 * 2 * 1 * 8 * 4  # layers, KV heads, head dim, fp32 bytes
    assert gpu.gpu_sizes == (32, GIB // per_token)
    assert (gpu.generation.batch_size, gpu.generation.token_budget) == gpu.gpu_sizes
    assert gpu.provenance["device"] == "cuda"


def test_gpu_preset_fields_are_checked(tmp_path):
    from summarizer.config import load_preset

    path = tmp_path / "p.yaml"
    path.write_text("# mine\nmodel: org/m\ngpu_kv_share: 1.5\n")
    with pytest.raises(SummarizerError, match="gpu_kv_share between 0 and 1"):
        load_preset(str(path))
    path.write_text("# mine\nmodel: org/m\ngpu_kv_budget: 0.5\n")
    with pytest.raises(SummarizerError, match="unknown key 'gpu_kv_budget'"):
        load_preset(str(path))


def test_the_suite_hides_gpus_unless_asked():
    """Greedy equality across batch compositions holds on a CPU, not in bf16 on a GPU (tests/conftest.py)."""
    import os

    if os.environ.get("SUMMARIZER_TEST_GPU"):
        pytest.skip("GPUs left visible on purpose")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
