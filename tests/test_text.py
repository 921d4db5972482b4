import pytest

from edgereason.runtime.text import Text

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{{ message['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


@pytest.fixture(scope="module")
def smol_text(smollm2_dir):
    from edgereason.export.hf import tokenizer_info

    info = tokenizer_info(smollm2_dir)
    return Text(smollm2_dir, chat_template=info.chat_template)


def test_chat_template_matches_transformers(smol_text, smollm2_dir):
    from transformers import AutoTokenizer

    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "2+2?"}]
    want = AutoTokenizer.from_pretrained(smollm2_dir).apply_chat_template(messages, add_generation_prompt=True,
                                                                          tokenize=False)
    assert smol_text.render(messages) == want
    assert smol_text.render(messages).startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")


def test_a_second_template_comes_from_the_model_not_from_smollm2(smollm2_dir):
    text = Text(smollm2_dir, chat_template=LLAMA3_TEMPLATE)
    rendered = text.render([{"role": "user", "content": " What is 2+2? "}])
    assert rendered == ("<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
                        "<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert "<|im_start|>" not in rendered


def test_no_template_falls_back_to_plain_text(smollm2_dir):
    assert Text(smollm2_dir, chat_template=None).render([{"role": "user", "content": "hi"}]) == "hi\n"


def test_stream_decoder_never_splits_a_character(smol_text):
    sentence = "Caf\u00e9 \U0001f642 \u4e2d\u6587 ok"
    ids = smol_text.encode(sentence)
    stream = smol_text.stream()
    pieces = [stream.push(i) for i in ids]
    assert "".join(pieces) == sentence
    assert all("\ufffd" not in p for p in pieces)
    assert len(ids) > len(sentence.split())  # the emoji and CJK really span several tokens


def test_bos_comes_from_the_template_and_is_never_doubled(smollm2_dir):
    text = Text(smollm2_dir, chat_template=LLAMA3_TEMPLATE, add_bos=True, bos_id=1)
    rendered = text.render([{"role": "user", "content": "hi"}])
    assert rendered.startswith(text.tokenizer.id_to_token(1) + "<|start_header_id|>")
    ids = text.chat_ids("hi")
    assert ids[0] == 1 and ids[1] != 1  # once, from the template
    assert text.encode("hi")[0] == 1 and text.encode("hi", add_bos=False)[0] != 1
