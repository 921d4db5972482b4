"""OLMo-2 for the ONNX Runtime GenAI model builder: a `Model` subclass, the builder's own extension point.

The builder has OLMo (1) but not OLMo-2. Two things differ from its Llama graph:
- post-norm: `h = x + RMSNorm(attn(x))`, `out = h + RMSNorm(mlp(h))`, with no norm before either.
  The builder threads the residual stream through SkipSimplifiedLayerNorm pairs (root, skip);
  here each block adds explicitly and normalizes the branch output instead.
- QK-norm over the full projected q and k (all heads), before RoPE: one SimplifiedLayerNorm on
  the unpacked q/k paths instead of the builder's per-head reshape.
Attention itself stays the builder's GroupQueryAttention with its fused rotate-half RoPE.

Built only after `onnxruntime_genai.models.builder` is imported: that module puts the builder's
folder on sys.path, and the classes must be the ones it uses.
"""

def olmo2_class():
    """The builder subclass (created on demand: the builder's modules load only after its import)."""
    from builders.llama import LlamaModel  # the builder's own module (see the module docstring)

    class Olmo2Model(LlamaModel):
        def make_attention_init(self, config):
            # q_norm/k_norm make the builder keep q, k, v apart so the norms can sit on them.
            self.attention_attrs["q_norm"] = True
            self.attention_attrs["k_norm"] = True
            super().make_attention_init(config)

        def is_fused_qk_norm_gqa_supported(self):
            return False  # the fused variant is per head

        def make_qk_norm(self, layer_id, attention):
            for kind, norm, width in (("q", attention.q_norm, self.q_size), ("k", attention.k_norm, self.kv_size)):
                name = f"/model/layers.{layer_id}/attn/{kind}_norm/SimplifiedLayerNormalization"
                weight = f"model.layers.{layer_id}.attn.{kind}_norm.layernorm.weight"
                self.make_initializer(norm.weight, weight, to=self.io_dtype)
                output = f"{name}/output_0"
                self.make_node("SimplifiedLayerNormalization", inputs=[self.attention_attrs[f"{kind}_path"], weight],
                               outputs=[output], name=name, epsilon=self.layernorm_attrs["epsilon"], axis=-1,
                               stash_type=1)
                self.make_value(output, self.io_dtype, shape=["batch_size", "sequence_length", width])
                self.attention_attrs[f"{kind}_path"] = output

        def _residual(self, layer_id: int, location: str) -> str:
            """The residual stream as one tensor: root + skip (the embedding alone before block 0)."""
            root, skip = self.layernorm_attrs["root_input"], self.layernorm_attrs["skip_input"]
            if root == skip:
                return root
            name = f"/model/layers.{layer_id}/{location}_residual/Add"
            self.make_add(name, [root, skip], dtype=self.io_dtype, shape=self.make_hidden_state_shape())
            return f"{name}/output_0"

        def _post_norm(self, layer_id: int, norm, location: str, residual: str) -> None:
            """Normalize the branch output (skip_input); the pair (residual, normed) carries on."""
            self.layernorm_attrs["root_input"] = self.layernorm_attrs["skip_input"]
            self.make_layernorm(layer_id, norm, skip=False, simple=True, location=location)
            self.layernorm_attrs["skip_input"] = self.layernorm_attrs["output_0"]
            self.layernorm_attrs["root_input"] = residual

        def make_layer(self, layer_id, layer):
            x = self._residual(layer_id, "attention")
            if layer_id in self.aux_hidden_state_layers:  # the residual stream entering this block (the probes')
                self.aux_hidden_state_taps[layer_id] = (x, self.io_dtype)
            self.make_attention(layer_id, layer.self_attn, root_input=x)
            self._post_norm(layer_id, layer.post_attention_layernorm, "post_attention", x)
            h = self._residual(layer_id, "mlp")
            self.make_mlp(layer_id, layer.mlp, root_input=h)
            self._post_norm(layer_id, layer.post_feedforward_layernorm, "post_feedforward", h)
            self.layernorm_attrs["first_layernorm"] = False
            if layer_id == self.num_layers - 1:
                self.layernorm_attrs["last_layernorm"] = True  # the final norm adds the last pair

    return Olmo2Model
