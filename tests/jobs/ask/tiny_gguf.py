"""A tiny Llama-architecture GGUF model, written by the tests themselves (no download).

One transformer block, 32-dimensional, and a byte-level SentencePiece vocabulary
(``<unk>``, ``<s>``, ``</s>`` and the 256 byte tokens), so any text, a JSON plan included,
is written one byte per token. The model reads nothing: every token embeds to the same
vector and the attention and feed-forward outputs are zero, so its next-token scores are
the same at every step, a fixed order of preference (``prefer``: the end of text first,
then the characters of ``prefer`` in order, then every other byte). Under a grammar, greedy
decoding therefore writes the schema-valid JSON that always takes the most preferred
allowed character: with the default order, ``]`` closes every list at once, ``n`` picks
``null`` wherever a value may be null (no time window, no order, no limit, no search),
``t`` the plan before the refusal, ``i`` the table ``incidents`` and ``c`` the measure
``count``, so the plan is "count all incidents"; with ``r`` before ``t`` it refuses (``"``
first: with no reason). That is what the
llama.cpp path of the analyst assistant needs to be tested end to end (load a GGUF file,
constrain its generation with the plan's schema, read the plan, check it, run it) with a
real llama.cpp and no download, and the answer is known in advance. A real model is
plugged in the same way (docs/assistant.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

N_EMBD, N_HEAD, N_LAYER, N_FF, N_CTX = 32, 4, 1, 64, 16384
SPECIAL = ["<unk>", "<s>", "</s>"]


#: the default order of preference: empty strings and lists, nulls, table incidents, measure count
PLAN_ALL_INCIDENTS = "]nitc"
#: a model that prefers the refusal branch
REFUSES = '"r'


def write_tiny_gguf(path: Path, prefer: str = PLAN_ALL_INCIDENTS) -> Path:
    """Write the model to ``path`` (about 100 KB) and return it."""
    import gguf

    tokens = SPECIAL + [f"<0x{b:02X}>" for b in range(256)]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
    n_vocab = len(tokens)

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("crimefusion-tiny-test")
    w.add_context_length(N_CTX)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * n_vocab)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    # one direction u: every token embeds to it and the blocks add nothing, so the last hidden state is
    # u scaled by the RMS norm (positive) and token t's logit is proportional to scores[t]
    u = np.full(N_EMBD, 1 / np.sqrt(N_EMBD), dtype=np.float32)
    scores = np.zeros(n_vocab, dtype=np.float32)
    scores[2] = len(prefer) + 2  # </s>: end the text as soon as the grammar allows
    for rank, ch in enumerate(prefer.encode()):
        scores[3 + ch] = len(prefer) + 1 - rank
    zeros = np.zeros
    w.add_tensor("token_embd.weight", np.tile(u, (n_vocab, 1)))
    for i in range(N_LAYER):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v"):
            w.add_tensor(f"blk.{i}.{name}.weight", np.eye(N_EMBD, dtype=np.float32))
        w.add_tensor(f"blk.{i}.attn_output.weight", zeros((N_EMBD, N_EMBD), dtype=np.float32))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", np.ones((N_FF, N_EMBD), dtype=np.float32) / N_EMBD)
        w.add_tensor(f"blk.{i}.ffn_up.weight", np.ones((N_FF, N_EMBD), dtype=np.float32) / N_EMBD)
        w.add_tensor(f"blk.{i}.ffn_down.weight", zeros((N_EMBD, N_FF), dtype=np.float32))
    w.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    w.add_tensor("output.weight", (scores[:, None] * u[None, :]).astype(np.float32))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
