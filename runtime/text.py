"""Text in and out of an artifact: its tokenizer, its chat template, and streaming decode.

The chat template and stop tokens come from the artifact's manifest (the model's own tokenizer
config), never from SmolLM2 assumptions. Rendering follows transformers: a sandboxed jinja2
environment with trim_blocks/lstrip_blocks, `raise_exception` and a non-escaping `tojson`.
"""

import datetime
import json
from collections.abc import Sequence
from pathlib import Path

from edgereason.errors import UsageError


class Text:
    """Tokenizer + chat template of one artifact (or normalized checkpoint) folder."""

    def __init__(self, folder: Path, *, chat_template: str | None, add_bos: bool = False, bos_id: int | None = None):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
        self.chat_template = chat_template
        self.add_bos = add_bos
        self.bos_id = bos_id

    def encode(self, text: str, *, add_bos: bool | None = None) -> list[int]:
        """Token ids of `text`; BOS is prepended when the model wants it (override with `add_bos`)."""
        ids = self.tokenizer.encode(text, add_special_tokens=False).ids
        want_bos = self.add_bos if add_bos is None else add_bos
        return [self.bos_id, *ids] if want_bos and self.bos_id is not None else ids

    def decode(self, ids: Sequence[int], *, skip_special: bool = True) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special)

    def render(self, messages: Sequence[dict[str, str]], *, add_generation_prompt: bool = True) -> str:
        """The chat template applied to `messages`; plain concatenation if the model has none."""
        if not self.chat_template:
            return "\n".join(m["content"] for m in messages) + "\n"
        # As transformers does: the template decides where BOS goes (Llama 3 writes {{ bos_token }}).
        bos = self.tokenizer.id_to_token(self.bos_id) if self.bos_id is not None else ""
        return _environment().from_string(self.chat_template).render(
            messages=list(messages), add_generation_prompt=add_generation_prompt, bos_token=bos or "", eos_token="")

    def chat_ids(self, user: str, *, history: Sequence[dict[str, str]] = (), system: str | None = None) -> list[int]:
        messages = ([{"role": "system", "content": system}] if system else []) + list(history)
        return self.prompt_ids([*messages, {"role": "user", "content": user}])

    def prompt_ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """The rendered chat as ids. With a template, BOS is the template's business, never added twice."""
        return self.encode(self.render(messages), add_bos=False if self.chat_template else None)

    def stream(self) -> "StreamDecoder":
        return StreamDecoder(self)


class StreamDecoder:
    """Token ids in, printable text out, never splitting a multi-byte character, at constant cost per token.

    A byte-level BPE token can end in the middle of a UTF-8 sequence; decoding it alone gives
    U+FFFD. Text is emitted only up to the last complete character. Each push decodes a short window
    (the tokens since the last emitted piece, and the piece before them, as vLLM's detokenizer
    does), so a tokenizer that drops a leading space at the start of a decode still decodes alike.
    """

    def __init__(self, text: Text):
        self.text = text
        self.ids: list[int] = []
        self._prefix = 0  # window start: the tokens of the piece emitted before the last one
        self._read = 0  # tokens already emitted

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        done = self.text.decode(self.ids[self._prefix:self._read])
        decoded = self.text.decode(self.ids[self._prefix:])
        if len(decoded) <= len(done) or decoded.endswith("\ufffd"):
            return ""
        self._prefix, self._read = self._read, len(self.ids)
        return decoded[len(done):]


def _environment():
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str):
        raise UsageError(f"chat template error: {message}")

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.now().strftime(fmt)
    return env
