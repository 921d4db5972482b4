"""OLMo-2 in ExecuTorch's Llama model: post-norm blocks and full-width QK-norm, by module surgery.

ExecuTorch's ModelArgs can't express OLMo-2 (its blocks are pre-norm; its QK-norm is per head).
Its export keeps the eager model between construction and source transforms, so the blocks are
rewired there, before quantization and the custom-SDPA/KV-cache rewrites, which then apply as
for any Llama. The norms are ExecuTorch's own RMSNorm, so the graph is the same ops as Llama's.

    h   = x + post_attention_norm(attention(x))      (no norm before attention)
    out = h + post_ffn_norm(feed_forward(h))         (no norm before the MLP)
    q   = q_norm(wq(x)), k = k_norm(wk(x))           (RMSNorm over all heads, then RoPE)
"""

from torch import nn


class _PostNormAttention(nn.Module):
    """Attention whose output is normalized before the residual add."""

    def __init__(self, attention: nn.Module, norm: nn.Module):
        super().__init__()
        self.attention = attention
        self.norm = norm

    def forward(self, x, freqs_cos, freqs_sin, **kwargs):
        out, update = self.attention(x, freqs_cos, freqs_sin, **kwargs)
        return self.norm(out), update


def _norm(weight, eps: float) -> nn.Module:
    from executorch.examples.models.llama.norm import RMSNorm

    norm = RMSNorm(weight.shape[0], eps=eps)
    norm.weight.data.copy_(weight)
    return norm


def to_olmo2(model: nn.Module, state: dict, eps: float) -> None:
    """Rewire ExecuTorch's Transformer blocks in place; `state` is the Meta-layout state dict."""
    for i, block in enumerate(model.layers):
        attention = block.attention
        attention.wq = nn.Sequential(attention.wq, _norm(state[f"layers.{i}.attention.q_norm_fn.weight"], eps))
        attention.wk = nn.Sequential(attention.wk, _norm(state[f"layers.{i}.attention.k_norm_fn.weight"], eps))
        block.attention_norm = nn.Identity()
        block.ffn_norm = nn.Identity()
        block.attention = _PostNormAttention(attention, _norm(state[f"layers.{i}.post_attention_norm.weight"], eps))
        block.feed_forward = nn.Sequential(block.feed_forward, _norm(state[f"layers.{i}.post_ffn_norm.weight"], eps))


def olmo2_model(state: dict, eps: float):
    """While active, export_llama builds its eager model and then rewires it to OLMo-2."""
    from .pte import on_model_built

    return on_model_built(lambda model: to_olmo2(model, state, eps))
