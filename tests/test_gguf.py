"""The streaming GGUF dequantizer on tiny real GGUF files (written here with the gguf package's GGUFWriter): its
weights equal transformers' own dequantization, tied embeddings are recognised, shards and caches work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from summarizer import loading
from summarizer.config import GenerationConfig
from summarizer.engine import generate, load_model
from summarizer.prompt import Prompt

HIDDEN, FFN, LAYERS, HEADS, KV_HEADS = 64, 128, 2, 4, 2  # rows of 64 and 128: whole blocks of every type used


def write_tiny_gguf(path: Path, *, tied: bool, seed: int = 0) -> Path:
    """A 2-layer llama GGUF with the byte tokenizer of conftest, its tensors in six storage types. `tied`: output.weight
    is a Q8_0 copy of the matrix token_embd.weight holds as Q5_0 (as in Qwen2.5-0.5B's GGUF), else its own matrix.
    Q and K rows are random, so llama.cpp's permutation need not be applied: transformers un-permutes them all the same,
    and the test compares against transformers."""
    import gguf
    import numpy as np
    from conftest import CHAT_TEMPLATE, build_byte_tokenizer
    from gguf import GGMLQuantizationType as Q

    tok = build_byte_tokenizer()
    ids = tok.get_vocab()
    tokens = sorted(ids, key=ids.get)
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(LAYERS)
    w.add_context_length(512)
    w.add_embedding_length(HIDDEN)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(HIDDEN // HEADS)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_types([3 if ids[t] < 3 else 1 for t in tokens])  # the three specials are control tokens
    w.add_token_merges([])
    w.add_token_scores([0.0] * len(tokens))  # with no merges, transformers derives them from the scores: none
    w.add_eos_token_id(tok.eos_token_id)
    w.add_pad_token_id(tok.pad_token_id)
    w.add_chat_template(CHAT_TEMPLATE)

    def add(name: str, values, qtype) -> None:
        values = np.asarray(values, dtype=np.float32)
        if qtype == Q.F32:
            w.add_tensor(name, values)
        elif qtype == Q.F16:
            w.add_tensor(name, values.astype(np.float16))
        else:
            w.add_tensor(name, gguf.quants.quantize(values, qtype), raw_dtype=qtype)

    def normal(*shape, scale=0.05):
        return rng.normal(0, scale, shape)

    embedding = normal(len(tokens), HIDDEN)
    add("token_embd.weight", embedding, Q.Q5_0)
    add("output.weight", embedding if tied else normal(len(tokens), HIDDEN), Q.Q8_0)
    add("output_norm.weight", 1 + normal(HIDDEN), Q.F32)
    kv = KV_HEADS * HIDDEN // HEADS
    for i in range(LAYERS):
        add(f"blk.{i}.attn_norm.weight", 1 + normal(HIDDEN), Q.F32)
        add(f"blk.{i}.ffn_norm.weight", 1 + normal(HIDDEN), Q.F32)
        add(f"blk.{i}.attn_q.weight", normal(HIDDEN, HIDDEN), Q.Q8_0)
        add(f"blk.{i}.attn_k.weight", normal(kv, HIDDEN), Q.Q4_0)
        add(f"blk.{i}.attn_v.weight", normal(kv, HIDDEN), Q.F16)
        add(f"blk.{i}.attn_output.weight", normal(HIDDEN, HIDDEN), Q.Q4_1)
        add(f"blk.{i}.ffn_gate.weight", normal(FFN, HIDDEN), Q.Q5_0)
        add(f"blk.{i}.ffn_up.weight", normal(FFN, HIDDEN), Q.Q8_0)
        add(f"blk.{i}.ffn_down.weight", normal(HIDDEN, FFN), Q.Q5_1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture(scope="module")
def ggufs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("gguf")
    return {"tied": write_tiny_gguf(d / "tied.gguf", tied=True), "untied": write_tiny_gguf(d / "untied.gguf", tied=False)}


@pytest.fixture(scope="module")
def reference(ggufs) -> dict[str, dict]:
    """transformers' own dequantization (its GGUF loading path, in fp32) of each file."""
    import torch
    from transformers import AutoModelForCausalLM

    return {name: AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
            .state_dict() for name, path in ggufs.items()}


def streamed(path: Path, out: Path, dtype) -> tuple[dict, dict, dict]:
    """(tensors, config, notes) of one conversion into `out`."""
    from safetensors.torch import load_file

    out.mkdir()
    notes = loading._dequantize_gguf(path, out, dtype)
    tensors: dict = {}
    for f in sorted(out.glob("*.safetensors")):
        tensors.update(load_file(f))
    return tensors, json.loads((out / "config.json").read_text()), notes


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_streamed_weights_equal_transformers_dequantization(ggufs, reference, tmp_path, dtype):
    import torch

    dt = getattr(torch, dtype)
    tensors, config, notes = streamed(ggufs["untied"], tmp_path / "out", dt)
    ref = reference["untied"]
    assert set(tensors) == set(ref) and not notes["retied_embeddings"] and not config["tie_word_embeddings"]
    for name, tensor in tensors.items():  # bit for bit: same dequantization, same un-permutation, same rounding
        assert tensor.dtype == dt and torch.equal(tensor, ref[name].to(dt)), name
    assert config["dtype"] == dtype and config["architectures"] == ["LlamaForCausalLM"]


def test_a_second_quantization_of_the_embedding_is_tied_again(ggufs, reference, tmp_path):
    import torch

    tensors, config, notes = streamed(ggufs["tied"], tmp_path / "out", torch.float32)
    ref = reference["tied"]
    assert notes["retied_embeddings"] and config["tie_word_embeddings"]
    assert set(ref) - set(tensors) == {"lm_head.weight"}  # one matrix kept: the finer (Q8_0) output.weight
    assert torch.equal(tensors["model.embed_tokens.weight"], ref["lm_head.weight"])
    assert not torch.equal(ref["model.embed_tokens.weight"], ref["lm_head.weight"])  # the Q5_0 copy was dropped
    for name in set(tensors) - {"model.embed_tokens.weight"}:
        assert torch.equal(tensors[name], ref[name]), name


def test_big_tensors_are_streamed_in_row_chunks_and_shards(ggufs, reference, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(loading, "GGUF_CHUNK_ELEMENTS", 1000)  # 15 rows of 64 at a time
    monkeypatch.setattr(loading, "GGUF_SHARD_BYTES", 40_000)
    tensors, _, _ = streamed(ggufs["untied"], tmp_path / "out", torch.bfloat16)
    index = json.loads((tmp_path / "out" / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 2 and set(index["weight_map"]) == set(tensors)
    assert all((tmp_path / "out" / f).is_file() for f in index["weight_map"].values())
    for name, tensor in tensors.items():
        assert torch.equal(tensor, reference["untied"][name].to(torch.bfloat16)), name


def test_header_walk_finds_what_gguf_reader_finds(ggufs):
    from gguf import GGUFReader

    arch, table, _ = loading._read_gguf_table(ggufs["untied"])
    source = loading._GgufTensors(ggufs["untied"])
    reader = GGUFReader(ggufs["untied"])
    assert arch == source.architecture == "llama" and len(table) == len(reader.tensors)
    for t in reader.tensors:
        qtype, shape, offset, row_bytes = source.tensors[t.name]
        assert (qtype, shape, offset) == (t.tensor_type, tuple(reversed(t.shape.tolist())), t.data_offset)
        assert row_bytes * source.rows(t.name) == t.n_bytes


def test_load_model_runs_a_gguf_from_its_bf16_cache(ggufs, tmp_path, monkeypatch):
    import torch

    monkeypatch.setenv("SUMMARIZER_CACHE", str(tmp_path / "cache"))
    lm = load_model(str(ggufs["tied"]), dtype="float32")
    assert lm.provenance["gguf_cache_dtype"] == "bfloat16" and lm.model.dtype == torch.float32
    assert lm.model.config.tie_word_embeddings
    assert lm.model.get_output_embeddings().weight is lm.model.get_input_embeddings().weight
    (cache,) = (tmp_path / "cache" / "gguf").glob("*-bfloat16")
    assert json.loads((cache / loading.CACHE_MARKER).read_text())["retied_embeddings"] is True
    p = Prompt(key="k", system="s", user="Summarize: {abstract}", abstract="a tiny abstract")
    (gen,) = generate(lm, [p], GenerationConfig(max_new_tokens=4))
    assert gen.completion_tokens >= 1 and gen.prompt_tokens > 10
