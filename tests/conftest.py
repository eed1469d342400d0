"""Shared fixtures: tiny random models built offline, an isolated SUMMARIZER_HOME, and a loopback HTTP server."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The suite runs on the CPU, on a GPU machine too: its equality tests (batch of one vs of n, static vs continuous,
# prefix cache or not) compare greedy texts across batch compositions, which hold bit for bit in fp32 on a CPU but
# not on a GPU, where the batch's shape picks the kernels and their summation order (in bf16 a near-tie of the
# random tiny models' logits then flips a token). GPU runs are checked by scripts/gpu_check.py; SUMMARIZER_TEST_GPU=1
# leaves the GPUs visible.
if not os.environ.get("SUMMARIZER_TEST_GPU"):
    os.environ["CUDA_VISIBLE_DEVICES"] = ""

# A tiny chat template in the ChatML shape SmolLM2 and Qwen use.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_byte_tokenizer():
    """A byte-level BPE tokenizer with no merges: every byte is a token, so any language round-trips."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<|im_start|>", "<|im_end|>"]
    vocab = {s: i for i, s in enumerate(specials)}
    for ch in sorted(ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, unk_token="<unk>", eos_token="<|im_end|>", pad_token="<|im_end|>"
    )
    tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    tok.chat_template = CHAT_TEMPLATE
    return tok


def save_tiny_llama(out: Path, max_positions: int = 512) -> Path:
    """A 2-layer random Llama (hidden 16) with the byte tokenizer and chat template, saved as safetensors."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_byte_tokenizer()
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=max_positions,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The tiny random Llama with 512 positions (a byte tokenizer fills them fast: for engine limits)."""
    return save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_long_context_dir(tmp_path_factory) -> Path:
    """The tiny random Llama with 4096 positions: room for a whole style prompt spelled in bytes."""
    return save_tiny_llama(tmp_path_factory.mktemp("tiny-llama-4k"), max_positions=4096)


@pytest.fixture(scope="session")
def tiny_marian_dir(tmp_path_factory) -> Path:
    """A tiny random Marian (seq2seq) translator sharing the byte tokenizer, saved as safetensors."""
    import torch
    from transformers import MarianConfig, MarianMTModel

    out = tmp_path_factory.mktemp("tiny-marian")
    tok = build_byte_tokenizer()
    cfg = MarianConfig(
        vocab_size=len(tok), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=512,
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.pad_token_id, forced_eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(0)
    MarianMTModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """An empty SUMMARIZER_HOME for one test, so nothing touches ./data."""
    h = tmp_path / "home"
    monkeypatch.setenv("SUMMARIZER_HOME", str(h))
    return h


Handler = Callable[[str, dict], tuple[int, dict, bytes]]  # (path, headers) -> (status, headers, body)


class LoopbackServer:
    """An HTTP server on 127.0.0.1 whose answers a test scripts; it records every request path."""

    def __init__(self, handler: Handler):
        self.handler = handler
        self.requests: list[str] = []
        outer = self

        class _H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                outer.requests.append(self.path)
                status, headers, body = outer.handler(self.path, dict(self.headers))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], LoopbackServer]]:
    """Start loopback servers with a handler; all are stopped after the test."""
    servers: list[LoopbackServer] = []

    def start(handler: Handler) -> LoopbackServer:
        s = LoopbackServer(handler)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def json_response(obj, status: int = 200, headers: dict | None = None) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(obj).encode()


def load_script(name: str):
    """scripts/<name>.py as a module (the scripts are no package; a script that imports a sibling finds it)."""
    scripts = Path(__file__).resolve().parent.parent / "scripts"
    if str(scripts) not in sys.path:
        sys.path.insert(0, str(scripts))
    spec = importlib.util.spec_from_file_location(name, scripts / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
