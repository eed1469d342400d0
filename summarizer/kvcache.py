"""The KV caches of the engine's static batches.

A cache written in place: transformers' DynamicCache with every layer's keys and values held in a buffer sized once
for the whole call (the prompt and every new token), so that a decode step writes one position per row instead of
copying the whole cache into a new tensor (DynamicLayer's torch.cat, whose cost grows with the cache: on a 2-core CPU
it was a sixth of a 14-row decode step at 600 cached tokens, docs/BENCHMARKS.md). Each layer's `keys`/`values` are
views `[rows, kv heads, tokens written, head dim]` of buffers `[rows, kv heads, capacity, head dim]`; everything that
reads a DynamicLayer reads them as before. Selecting rows (a static batch that drops its stopped rows, beam
reordering) copies only the tokens written into a new buffer of the same capacity.

The prompt store: the KV of prompts already run, one row each, from which a batch's cache is assembled left-padded."""

from __future__ import annotations

from transformers.cache_utils import DynamicCache, DynamicLayer


class InPlaceLayer(DynamicLayer):
    """A DynamicLayer whose update writes into a preallocated buffer of `capacity` tokens; a write past it moves the
    layer into a buffer twice as large (never expected when the capacity is the prompt plus max_new_tokens)."""

    def __init__(self, capacity: int, **kwargs):
        super().__init__(**kwargs)
        self.capacity = capacity
        self._buffers = None  # (keys buffer, values buffer) that self.keys/self.values are views of

    def lazy_initialization(self, key_states, value_states) -> None:
        super().lazy_initialization(key_states, value_states)
        self._buffers = None

    def _holds_views(self) -> bool:
        """Whether keys/values are still the views of the buffers (anything that replaced them, a DynamicLayer method
        this class does not override, leaves tensors of its own: they are copied into a new buffer at the next
        write)."""
        if self._buffers is None or self.keys is None or self.keys.numel() == 0:
            return False
        kb, vb = self._buffers
        return (self.keys.data_ptr() == kb.data_ptr() and self.values.data_ptr() == vb.data_ptr()
                and self.keys.shape[0] == kb.shape[0] and self.keys.stride() == kb.stride())

    def _rebuffer(self, keys, values, needed: int) -> None:
        """New buffers of max(capacity, needed) tokens (twice `needed` past the capacity) holding keys/values."""
        rows, heads, written, dim = keys.shape
        size = self.capacity if needed <= self.capacity else 2 * needed
        kb = keys.new_empty((rows, heads, size, dim))
        vb = values.new_empty((rows, heads, size, values.shape[-1]))
        kb[:, :, :written] = keys
        vb[:, :, :written] = values
        self._buffers = (kb, vb)
        self.keys, self.values = kb[:, :, :written], vb[:, :, :written]

    def start_left_padded(self, rows: list[tuple]) -> None:
        """Begin with one (keys, values) pair of `[1, kv heads, n, head dim]` per row, right-aligned to the longest:
        the columns before a shorter row are zeros, masked out by the batch's attention mask (zeros, not garbage: a
        masked score must stay finite)."""
        width = max(keys.shape[-2] for keys, _ in rows)
        self.lazy_initialization(*rows[0])
        buffers = []
        for part in (0, 1):
            first = rows[0][part]
            buffer = first.new_empty((len(rows), first.shape[1], max(self.capacity, width), first.shape[-1]))
            for row, pair in enumerate(rows):
                tensor = pair[part]
                buffer[row, :, :width - tensor.shape[-2]] = 0
                buffer[row, :, width - tensor.shape[-2]:width] = tensor[0]
            buffers.append(buffer)
        self._buffers = tuple(buffers)
        self.keys, self.values = buffers[0][:, :, :width], buffers[1][:, :, :width]

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        written = self.get_seq_length()
        new = key_states.shape[-2]
        if not written:
            self._rebuffer(key_states, value_states, new)
            return self.keys, self.values
        if not self._holds_views() or written + new > self._buffers[0].shape[-2]:
            self._rebuffer(self.keys, self.values, written + new)
        kb, vb = self._buffers
        kb[:, :, written:written + new] = key_states
        vb[:, :, written:written + new] = value_states
        self.keys, self.values = kb[:, :, :written + new], vb[:, :, :written + new]
        return self.keys, self.values

    def batch_select_indices(self, indices) -> None:
        if self.get_seq_length() > 0:
            self._rebuffer(self.keys[indices], self.values[indices], self.get_seq_length())

    def reorder_cache(self, beam_idx) -> None:
        if self.get_seq_length() > 0:
            beam_idx = beam_idx.to(self.keys.device)
            self._rebuffer(self.keys.index_select(0, beam_idx), self.values.index_select(0, beam_idx),
                           self.get_seq_length())

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.get_seq_length() > 0:
            self._rebuffer(self.keys.repeat_interleave(repeats, dim=0), self.values.repeat_interleave(repeats, dim=0),
                           self.get_seq_length())


def in_place_cache(config, capacity: int) -> DynamicCache:
    """A DynamicCache for `config`'s model whose full-attention layers write in place into buffers of `capacity` tokens
    (a call's longest prompt plus its max_new_tokens). Layers of another kind (sliding windows) keep their own class."""
    cache = DynamicCache(config=config)
    cache.layers = [InPlaceLayer(capacity) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


def shared_length(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """How many leading tokens a and b share."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo] and a[:hi] != b[:hi]: halve (tuple slices compare in C)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if a[:mid] == b[:mid] else (lo, mid)
    return lo


class PromptStore:
    """The KV of prompts already run, for later calls whose rows start with them (a paper's redraws and retries
    repeat its prompt; a section round's prompt is the last round's plus the reply so far; a day's rows share the
    system prompt and example turn). Entries are token-id tuples with one row's keys and values per layer
    (`[1, kv heads, tokens, head dim]`), at most `tokens` tokens in all; the least recently used go first."""

    def __init__(self, tokens: int):
        self.tokens = tokens
        self._entries: dict[tuple[int, ...], list] = {}  # in order of use, the most recent last

    def __len__(self) -> int:
        return len(self._entries)

    def held(self) -> int:
        """Tokens held over all entries."""
        return sum(map(len, self._entries))

    def longest(self, ids: tuple[int, ...]) -> tuple[int, list | None]:
        """(how many leading tokens `ids` shares with the entry that shares the most, that entry's per-layer (keys,
        values) cut to them), or (0, None); the entry becomes the most recently used. A shared start is as good as a
        whole entry: a token's keys and values depend only on the tokens before it."""
        best, shared = None, 0
        for key in self._entries:
            n = shared_length(key, ids)
            if n > shared:
                best, shared = key, n
        if best is None:
            return 0, None
        kv = self._entries.pop(best)
        self._entries[best] = kv
        return shared, [(k[:, :, :shared], v[:, :, :shared]) for k, v in kv]

    def put(self, ids: tuple[int, ...], kv: list) -> None:
        """Keep `kv` for `ids`; entries are dropped, least recently used first, until the store holds at most its
        tokens (an entry longer than that alone is not kept)."""
        self._entries.pop(ids, None)
        if len(ids) > self.tokens:
            return
        self._entries[ids] = kv
        total = self.held()
        while total > self.tokens:
            oldest = next(iter(self._entries))
            del self._entries[oldest]
            total -= len(oldest)


def left_padded_cache(config, kvs: list[list], capacity: int) -> DynamicCache:
    """An in-place cache of len(kvs) rows holding each row's prompt KV (one row's per-layer (keys, values) of
    `[1, kv heads, n, head dim]`) right-aligned to the longest, as a left-padded batch holds them."""
    cache = in_place_cache(config, capacity)
    for index, layer in enumerate(cache.layers):
        layer.start_left_padded([kv[index] for kv in kvs])
    return cache
