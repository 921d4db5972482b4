"""Regenerate tokenizer_smollm2.json: ids from the `tokenizers` library, which the Android app's Java port must match.

Run: EDGEREASON_HOME=... python tests/golden/make_tokenizer_vectors.py
(the built-in smollm2-135m checkpoint is materialized in the cache first; only the expected ids are stored here).
"""

import json
from pathlib import Path

from tokenizers import Tokenizer

from edgereason import models
from edgereason.export.hf import normalize
from edgereason.runtime.text import Text

OUT = Path(__file__).with_name("tokenizer_smollm2.json")

# Unicode the byte-level BPE must get right: accents, CJK, emoji (4-byte UTF-8 and ZWJ sequences), RTL scripts,
# combining marks, digits, contractions, whitespace runs and the chat template's special tokens.
CORPUS = [
    "Hello, world!",
    "A farmer has 12 sheep and buys 1,250 more. How many now?",
    "  leading spaces and trailing   ",
    "tabs\tand\nnewlines\n\n\nthree",
    "I'm sure they'll say we've done it; she'd know.",
    "Café naïve façade — “quotes” and ‘single’ … ellipsis",
    "日本語のテキストと中文字符",
    "emoji 😀👍🏽 family 👨‍👩‍👧 flag 🇫🇷",
    "مرحبا بالعالم",
    "שלום עולם",
    "e\u0301 combining vs é precomposed",
    "math: x^2 + y_1 = 3.14159; 10% off $5.50",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "code: def f(x):\n    return x  # comment\n",
    "\u00a0non-breaking\u2003em space\u3000ideographic",
    "Ünïcödé ÀÉÎÕÜ ßẞ ŒœÆæ",
]


# A template beyond SmolLM2's, for the Java renderer's Jinja subset: trim_blocks / lstrip_blocks, "-" whitespace
# control, set, elif, loop.last, filters, slices, inline if, `in`, string methods and raise_exception guards.
RICH_TEMPLATE = """{%- set sys = messages[0]['content'] if messages[0]['role'] == 'system' else 'Be brief.' %}
{{ bos_token }}<<SYS>>{{ sys | trim }}<</SYS>>
{% for m in messages %}
    {% if m['role'] == 'system' %}
    {% elif m['role'] in ['user', 'assistant'] %}
[{{ loop.index }}/{{ messages | length }}] {{ m.role | upper }}: {{ m['content'].strip()
}}{% if not loop.last %} |{% endif %}

    {% else %}
{{ raise_exception('unknown role ' + m['role']) }}
    {% endif %}
{% endfor %}
{#- a comment -#}
{% if add_generation_prompt %}{{ messages[-1]['content'][:5] ~ '...' }}ASSISTANT:{% endif %}"""

CHATS = [
    [{"role": "user", "content": "What is 2+2?"}],
    [{"role": "system", "content": "You are a careful math tutor."}, {"role": "user", "content": "Solve x+1=3."},
     {"role": "assistant", "content": "x = 2"}, {"role": "user", "content": "Now x+2=5 — ünïcode 😀"}],
]


def main() -> None:
    folder = normalize(models.resolve("smollm2-135m"))
    tok = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
    cases = []
    for text in CORPUS:
        ids = tok.encode(text, add_special_tokens=False).ids
        cases.append({"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=True)})
    # A multi-byte character split across tokens: decoding a prefix must give U+FFFD, as the library does.
    emoji = tok.encode("😀", add_special_tokens=False).ids
    partial = {"ids": emoji[:1], "decoded": tok.decode(emoji[:1])}
    templates = []
    config = json.loads((Path(folder) / "tokenizer_config.json").read_text())
    for name, source in (("smollm2", config["chat_template"]), ("rich", RICH_TEMPLATE)):
        text = Text(folder, chat_template=source, add_bos=False, bos_id=1)
        for messages in CHATS:
            templates.append({"name": name, "template": source, "messages": messages,
                              "rendered": text.render(messages), "ids": text.prompt_ids(messages)})
    doc = {"source": "smollm2-135m tokenizer.json via tokenizers; chat templates via runtime/text.py (jinja2)",
           "cases": cases, "partial": partial, "templates": templates}
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
