"""`edgereason serve`: real server processes on loopback, driven by the `openai` package and raw HTTP.

tiny-random artifacts: int4 `.onnx` (ctx 128) for the API's shape, `roomy` (int8, ctx 1024) where a request must
keep the model busy for a while (8 choices x 900 tokens: seconds, not milliseconds).
"""

import json
import re
import signal
import threading
import time

import httpx2
import openai
import pytest
from helpers import assert_one_line_error, cli

from edgereason.bench.serving import launched as served
from edgereason.quant.recipes import Format, RecipeName
from edgereason.runtime import generate, open_model

LONG = {"max_tokens": 900, "n": 8, "temperature": 1.0, "seed": 1}  # ~8 x 900 tokens: several seconds on tiny


@pytest.fixture(scope="module")
def fast(tiny_artifacts):
    return tiny_artifacts[Format.ONNX, RecipeName.INT4]


@pytest.fixture(scope="module")
def server(fast):
    with served(fast, "--threads", "1") as s:  # one thread: ORT's spinning pool oversubscribes a busy CI machine
        yield s


def client(s, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=s.v1, api_key=kw.pop("api_key", "unused"), max_retries=0, **kw)


def chat(s, content="Hello there", **kw):
    return client(s).chat.completions.create(model=s.model, messages=[{"role": "user", "content": content}], **kw)


def test_models_health_and_greedy_chat_is_the_runtime_s(server, fast):
    models = client(server).models.list().data
    assert [m.id for m in models] == [fast.name] and server.model == fast.name
    health = httpx2.get(server.url + "/health").json()
    assert health["status"] == "ok" and health["queue_depth"] == 0
    r = chat(server, max_tokens=24, temperature=0)
    model = open_model(fast)
    ids = model.text.chat_ids("Hello there")
    steps = [s for s in generate(model.backend, ids, max_new_tokens=24) if s.finish_reason != "stop"]
    assert r.choices[0].message.content == model.text.decode([s.token_id for s in steps])
    assert r.usage.prompt_tokens == len(ids) and r.usage.completion_tokens == len(steps)
    assert r.choices[0].finish_reason == ("length" if len(steps) == 24 else "stop")
    ext = r.model_extra["edgereason"]["choices"][0]
    assert ext["confidence"]["num_tokens"] == len(steps) and ext["finish"] in ("length", "eos")


def test_stream_equals_the_whole_reply_and_reports_usage(server):
    whole = chat(server, max_tokens=30, temperature=0).choices[0].message.content
    chunks = list(chat(server, max_tokens=30, temperature=0, stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("length", "stop")
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    two = list(chat(server, max_tokens=5, temperature=0, n=2, stream=True, stream_options={"include_usage": True}))
    whole_two = chat(server, max_tokens=5, temperature=0, n=2)
    assert two[-1].usage.prompt_tokens == whole_two.usage.prompt_tokens  # the prompt counts once, as OpenAI's
    assert two[-1].usage.completion_tokens == whole_two.usage.completion_tokens


def test_logprobs_are_before_sampling_and_sorted(server):
    r = chat(server, max_tokens=12, temperature=0, logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert "".join(e.token for e in content) == r.choices[0].message.content
    for e in content:
        tops = [t.logprob for t in e.top_logprobs]
        assert len(tops) == 3 and tops == sorted(tops, reverse=True) and all(lp <= 0 for lp in tops)
        assert e.top_logprobs[0].token == e.token and e.top_logprobs[0].logprob == pytest.approx(e.logprob, abs=1e-9)
    text = client(server).completions.create(model=server.model, prompt="Once upon", max_tokens=8, temperature=0,
                                             logprobs=2)
    lp = text.choices[0].logprobs
    assert "".join(lp.tokens) == text.choices[0].text and len(lp.top_logprobs[0]) == 2
    assert lp.text_offset == [sum(len(t) for t in lp.tokens[:i]) for i in range(len(lp.tokens))]


def test_n_choices_and_seeds(server):
    a = chat(server, max_tokens=16, n=3, temperature=1.0, seed=7)
    b = chat(server, max_tokens=16, n=3, temperature=1.0, seed=7)
    c = chat(server, max_tokens=16, n=3, temperature=1.0, seed=8)
    texts = [ch.message.content for ch in a.choices]
    assert [ch.index for ch in a.choices] == [0, 1, 2]
    assert texts == [ch.message.content for ch in b.choices]  # same seed, same texts
    assert len(set(texts)) > 1 and texts != [ch.message.content for ch in c.choices]


def test_stop_sequences_cut_the_text(server):
    whole = client(server).completions.create(model=server.model, prompt="The", max_tokens=40,
                                              temperature=0).choices[0].text
    stop = whole[len(whole) // 2:][:3]
    assert stop.strip(), whole
    cut = whole[: whole.index(stop)]
    for stream in (False, True):
        r = client(server).completions.create(model=server.model, prompt="The", max_tokens=40, temperature=0,
                                              stop=[stop, "\u2603never"], stream=stream)
        if stream:
            chunks = list(r)
            assert "".join(c.choices[0].text for c in chunks) == cut
            assert chunks[-1].choices[0].finish_reason == "stop"
        else:
            assert r.choices[0].text == cut and r.choices[0].finish_reason == "stop"
            assert r.model_extra["edgereason"]["choices"][0]["finish"] == "stop_sequence"


def _raw(s, body: bytes | str, path="/v1/chat/completions") -> httpx2.Response:
    return httpx2.post(s.url + path, content=body, headers={"Content-Type": "application/json"})


def test_bad_requests_get_openai_shaped_errors(server):
    def error(r: httpx2.Response, status: int, words: str) -> dict:
        assert r.status_code == status, r.text
        body = r.json()["error"]
        assert words in body["message"] and set(body) == {"message", "type", "param", "code"}
        return body

    error(_raw(server, b"{not json"), 400, "could not parse the JSON body")
    error(_raw(server, b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}'), 400, "not UTF-8")
    error(_raw(server, b"[1, 2]"), 400, "must be a JSON object")
    body = {"model": server.model, "messages": [{"role": "user", "content": "hi"}]}
    assert error(_raw(server, json.dumps({**body, "frobnicate": 1})), 400,
                 "Unrecognized request argument supplied: frobnicate")["param"] == "frobnicate"
    error(_raw(server, json.dumps({"model": server.model})), 400, "Missing required parameter: 'messages'")
    over = error(_raw(server, json.dumps({**body, "max_tokens": 10**9})), 400, "maximum context length is 128")
    assert over["code"] == "context_length_exceeded" and "1000000000 in the completion" in over["message"]
    long_prompt = {**body, "messages": [{"role": "user", "content": "word " * 400}]}
    error(_raw(server, json.dumps(long_prompt)), 400, "maximum context length is 128")
    error(_raw(server, json.dumps({**body, "max_tokens": 0})), 400, "max_tokens")
    error(_raw(server, json.dumps({**body, "top_logprobs": 21, "logprobs": True})), 400, "top_logprobs")
    error(_raw(server, json.dumps({**body, "presence_penalty": 0.5})), 400, "presence_penalty: not supported")
    error(_raw(server, json.dumps({**body, "edgereason": {"strategy": "vote"}})), 400, 'add "solve": true')
    error(_raw(server, json.dumps({**body, "model": "gpt-9"})), 404, "this server serves")
    error(_raw(server, json.dumps({"prompt": [10**7]}), "/v1/completions"), 400, "outside the vocabulary")
    error(httpx2.get(server.url + "/v2/nothing"), 404, "no route")
    with pytest.raises(openai.BadRequestError, match="maximum context length"):
        chat(server, max_tokens=100_000)
    # The server is still fine.
    assert chat(server, max_tokens=4, temperature=0).choices[0].message.content is not None


def _metrics(s) -> dict[str, float]:
    text = httpx2.get(s.url + "/metrics").text
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        match = re.fullmatch(r"(edgereason_[a-z_]+(?:\{[^}]*\})?) (\S+)", line)
        assert match, line
        values[match.group(1)] = float(match.group(2))
    return values


def test_metrics_count_requests_and_tokens(server):
    before = _metrics(server)
    r = chat(server, max_tokens=5, temperature=0)
    after = _metrics(server)
    key = 'edgereason_requests_total{endpoint="/v1/chat/completions",code="200"}'
    assert after[key] == before.get(key, 0) + 1
    assert after["edgereason_completion_tokens_total"] - before["edgereason_completion_tokens_total"] == (
        r.usage.completion_tokens)
    assert after["edgereason_queue_depth"] == 0 and after["edgereason_running"] == 0
    assert after['edgereason_time_to_first_token_seconds_bucket{le="+Inf"}'] == (
        after["edgereason_time_to_first_token_seconds_count"])


def _busy(s) -> threading.Thread:
    """Start a long request (seconds of decoding) and return once it is on the model."""
    holder = threading.Thread(target=lambda: httpx2.post(s.url + "/v1/chat/completions", timeout=600, json={
        "messages": [{"role": "user", "content": "go"}], **LONG}))
    holder.start()
    deadline = time.monotonic() + 60
    while httpx2.get(s.url + "/health").json()["running"] == 0:
        assert time.monotonic() < deadline, "the long request never started"
        time.sleep(0.02)
    return holder


def test_queue_full_is_503_with_retry_after(roomy):
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    with served(roomy, "--max-queue", "1", "--threads", "1") as s:
        holder = _busy(s)
        results: list[httpx2.Response | Exception] = []

        def post() -> None:
            try:
                results.append(httpx2.post(s.url + "/v1/chat/completions", json=body, timeout=600))
            except Exception as e:  # noqa: BLE001 (shown in the assertion)
                results.append(e)

        threads = [threading.Thread(target=post) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads + [holder]:
            t.join()
        codes = sorted(r.status_code if isinstance(r, httpx2.Response) else repr(r) for r in results)
        # One waits its turn (the queue's one place); the others are refused at once, not left to hang.
        assert codes.count(503) >= 2 and set(codes) <= {200, 503}, codes
        busy = next(r for r in results if r.status_code == 503)
        assert int(busy.headers["Retry-After"]) >= 1 and busy.json()["error"]["code"] == "queue_full"
        assert httpx2.post(s.url + "/v1/chat/completions", json=body, timeout=60).status_code == 200


def test_a_client_that_disconnects_frees_the_model(roomy):
    with served(roomy, "--max-queue", "1", "--threads", "1") as s:
        start = time.monotonic()
        with httpx2.stream("POST", s.url + "/v1/chat/completions", timeout=60,
                           json={"messages": [{"role": "user", "content": "go"}], "stream": True, **LONG}) as r:
            lines = r.iter_lines()
            got = [next(lines) for _ in range(6)]
            assert any(line.startswith("data: ") for line in got)
        # Gone after a few tokens: the next request runs at once, not after 7,000 more tokens.
        quick = httpx2.post(s.url + "/v1/chat/completions", timeout=60,
                            json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
        assert quick.status_code == 200
        served_tokens = _metrics(s)["edgereason_completion_tokens_total"]
        assert served_tokens < 2000, served_tokens
        assert time.monotonic() - start < 30
        assert httpx2.get(s.url + "/health").json()["running"] == 0


def test_sigterm_drains_running_streams_and_exits_0(roomy):
    with served(roomy, "--threads", "1", "--drain-timeout", "300") as s:
        body = {"messages": [{"role": "user", "content": "go"}], "stream": True, **LONG, "n": 3}
        with httpx2.stream("POST", s.url + "/v1/chat/completions", json=body, timeout=60) as r:
            lines = r.iter_lines()
            first = next(lines)
            assert first.startswith("data: ")
            s.process.send_signal(signal.SIGTERM)
            rest = [line for line in lines if line.startswith("data: ")]
        assert rest[-1] == "data: [DONE]"
        finishes = [json.loads(line[6:])["choices"][0]["finish_reason"] for line in rest[:-1]
                    if json.loads(line[6:])["choices"][0]["finish_reason"]]
        assert len(finishes) == 3
        assert s.process.wait(timeout=60) == 0
        with pytest.raises(httpx2.ConnectError):
            httpx2.get(s.url + "/health", timeout=5)


def test_api_key_is_checked_and_non_loopback_needs_one(fast):
    with served(fast, "--api-key", "sesame", "--threads", "1") as s:
        with pytest.raises(openai.AuthenticationError):
            chat(s, max_tokens=2)
        with pytest.raises(openai.AuthenticationError):
            client(s, api_key="wrong").models.list()
        assert client(s, api_key="sesame").chat.completions.create(
            model=s.model, messages=[{"role": "user", "content": "hi"}], max_tokens=2).choices
        assert httpx2.get(s.url + "/health").status_code == 200  # health needs no key
        assert httpx2.get(s.url + "/metrics").status_code == 401
    proc = cli("serve", str(fast), "--host", "0.0.0.0", "--port", "0")
    assert_one_line_error(proc, 2, "--api-key")
    assert_one_line_error(cli("serve", str(fast), "--port", "70000"), 2, "--port")


def test_solve_request_returns_the_decision(roomy):
    with served(roomy, "--threads", "1") as s:
        r = client(s).chat.completions.create(
            model=s.model, messages=[{"role": "user", "content": "Tom has 3 apples and buys 4. How many?"}],
            max_tokens=40, extra_body={"edgereason": {"solve": True, "shots": "none", "strategy": "greedy"}})
        solved = r.model_extra["edgereason"]["solve"]
        assert solved["decision"] in ("accept", "escalate") and solved["path"] == "fast"
        assert solved["fast"]["strategy"] == "greedy" and 0.0 <= solved["fast"]["p_correct"] <= 1.0
        assert solved["fast"]["reasons"] and r.usage.completion_tokens == solved["fast"]["tokens_generated"]
        with pytest.raises(openai.BadRequestError, match="exactly one user message"):
            client(s).chat.completions.create(
                model=s.model, messages=[{"role": "system", "content": "x"}, {"role": "user", "content": "2+2?"}],
                extra_body={"edgereason": {"solve": True}})
        with pytest.raises(openai.BadRequestError, match="edgereason.strategy"):
            client(s).chat.completions.create(model=s.model, messages=[{"role": "user", "content": "2+2?"}],
                                              temperature=0, extra_body={"edgereason": {"solve": True,
                                                                                        "strategy": "vote"}})


@pytest.mark.slow
@pytest.mark.xdist_group("smollm2-int4")  # the worker that holds the built-in model's int4 exports
def test_the_built_in_model_served_writes_what_run_writes(smollm2_int4):
    folder = smollm2_int4(Format.ONNX)
    question = "What is the capital of France?"
    with served(folder, "--threads", "1") as s:
        streamed = "".join(c.choices[0].delta.content or "" for c in chat(
            s, question, max_tokens=40, temperature=0, stream=True) if c.choices)
        reply = client(s).chat.completions.create(
            model=s.model, messages=[{"role": "user", "content": "Sam has 5 pens and buys 3 more. How many pens?"}],
            max_tokens=200, extra_body={"edgereason": {"solve": True, "strategy": "greedy"}})
        solved = reply.model_extra["edgereason"]["solve"]
    model = open_model(folder, num_threads=1)
    ids = model.text.chat_ids(question)
    steps = [st for st in generate(model.backend, ids, max_new_tokens=40) if st.finish_reason != "stop"]
    assert streamed == model.text.decode([st.token_id for st in steps]) and "Paris" in streamed
    assert solved["answer"] is not None and solved["fast"]["traces"][0]["tokens"] > 0


def test_a_solve_whose_client_leaves_stops(roomy):
    long_solve = {"messages": [{"role": "user", "content": "Tom has 3 apples and buys 4. How many?"}],
                  "max_tokens": 900, "temperature": 1.0,
                  "edgereason": {"solve": True, "strategy": "vote", "max_traces": 30, "shots": "none",
                                 "abort": False, "probe": False}}  # ~27,000 tokens: many seconds
    with served(roomy, "--threads", "1") as s:
        with pytest.raises(httpx2.ReadTimeout):
            httpx2.post(s.url + "/v1/chat/completions", json=long_solve, timeout=2)
        left = time.monotonic()
        while httpx2.get(s.url + "/health").json()["running"]:
            assert time.monotonic() - left < 5, "the solve kept the model after its client left"
            time.sleep(0.05)
        quick = httpx2.post(s.url + "/v1/chat/completions", timeout=60,
                            json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
        assert quick.status_code == 200


def test_serve_follows_its_spec(roomy, tmp_path):
    """`serve --spec FILE`: a solve request without settings of its own follows the file (prompt and budget); a
    broken or foreign spec stops the server before it binds."""
    from edgereason.runtime.answers import AnswerKind
    from edgereason.runtime.spec import read_spec

    path = tmp_path / "solve.greedy.json"
    assert cli("spec", str(roomy), "--strategy", "greedy", "-o", str(path)).returncode == 0
    data = json.loads(path.read_text())
    data["settings"]["max_new_tokens"] = 3
    path.write_text(json.dumps(data))
    question = "Tom has 3 apples and buys 4. How many?"
    model = open_model(roomy)
    prompt = read_spec(path).prompt_ids(model.text, question, kind=AnswerKind.MATH)
    with served(roomy, "--threads", "1", "--spec", str(path)) as s:
        r = client(s).chat.completions.create(model=s.model, messages=[{"role": "user", "content": question}],
                                              extra_body={"edgereason": {"solve": True}})
        solved = r.model_extra["edgereason"]["solve"]["fast"]
        assert solved["strategy"] == "greedy" and solved["tokens_generated"] <= 3
        assert r.usage.prompt_tokens == len(prompt)  # the spec's two shots, rendered by its template
    data["settings"]["exit"]["probe_patience"] = 0
    path.write_text(json.dumps(data))
    assert_one_line_error(cli("serve", str(roomy), "--spec", str(path)), 2, "settings.exit.probe_patience")
    data["settings"]["exit"]["probe_patience"] = 2
    data["artifact_sha256"] = "d" * 64
    path.write_text(json.dumps(data))
    assert_one_line_error(cli("serve", str(roomy), "--spec", str(path), "--threads", "1"), 2,
                          "belongs to another artifact")
