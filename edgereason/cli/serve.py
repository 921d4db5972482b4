"""`edgereason serve`: an artifact behind an OpenAI-compatible HTTP API (runtime/serve)."""

import ipaddress
import signal
import socket
import time
from pathlib import Path
from typing import Annotated

import typer

from edgereason.cli import app, console, handle_errors, out, positive
from edgereason.cli.bench import _print_table, _warn_if_busy, bench_app
from edgereason.cli.reason import EscalateModel, EscalateTimeout, EscalateTo, SpecOpt, slow_path, spec_option
from edgereason.errors import UsageError
from edgereason.runtime.escalate import DEFAULT_TIMEOUT_S
from edgereason.runtime.spec import default_spec

SOLVE = default_spec().config

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the model loads' end is announced (port 0: any free port)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise UsageError(f"--host {host}: cannot resolve it ({e.strerror}): give an IP address or a host name") from e
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without it a keep-alive reply written in two pieces waits ~40 ms for the
    # client's delayed ACK (Nagle), on every request after the first.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({e.strerror}): pick another --port or --host") from e
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@app.command("serve")
@handle_errors
def serve(
    folder: Annotated[Path, typer.Argument(help="An artifact folder made by `edgereason export`")],
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback needs --api-key or "
                                           "--insecure")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free one, printed)")] = 8080,
    threads: Annotated[int | None, typer.Option(help="CPU threads for the runtime")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="EDGEREASON_API_KEY", show_envvar=True,
                                                help="Require Authorization: Bearer KEY on /v1 and /metrics")] = None,
    insecure: Annotated[bool, typer.Option(help="Allow a non-loopback --host without --api-key")] = False,
    max_queue: Annotated[int, typer.Option(help="Requests that may wait for the model; more get 503 + "
                                                "Retry-After")] = 16,
    spec: SpecOpt = None,
    escalate_to: EscalateTo = None,
    escalate_model: EscalateModel = None,
    escalate_timeout: EscalateTimeout = DEFAULT_TIMEOUT_S,
    drain_timeout: Annotated[float, typer.Option(help="On SIGTERM, seconds to let running requests "
                                                      "finish")] = 30.0,
) -> None:
    """Serve an artifact over the OpenAI API (chat and text completions, streaming, logprobs) with edgereason's
    confidence in every reply, solve requests with their accept/escalate decision, /health and /metrics.

    A solve request follows --spec FILE (its prompt, settings and calibrator; the request's own settings over it),
    else the artifact's solve.<strategy>.json for the request's strategy, else edgereason's defaults.

    SIGTERM (or Ctrl-C) stops accepting, lets running requests finish (--drain-timeout) and exits 0."""
    import uvicorn

    from edgereason.runtime import open_model
    from edgereason.runtime.serve import build

    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be in 0..65535, got {port}")
    positive(max_queue, "--max-queue")
    if not is_loopback(host) and api_key is None and not insecure:
        raise UsageError(f"--host {host} is reachable from other machines: give --api-key KEY (or set "
                         "EDGEREASON_API_KEY), or pass --insecure to serve it open")
    if api_key is not None and not api_key.strip():
        raise UsageError("--api-key is empty: give a key, or leave it out on loopback")
    given = spec_option(spec)
    slow = slow_path(escalate_to, escalate_model, escalate_timeout, (given.config if given else SOLVE).max_new_tokens)
    sock = bind(host, port)
    with console.status(f"loading {folder}"):
        model = open_model(folder, num_threads=positive(threads, "--threads"))
        if given is not None:
            given = model.checked_spec(given, "--spec")
        server, asgi = build(model, max_queue=max_queue, api_key=api_key, slow=slow, spec=given)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"serving {server.model_id} on http://{shown}:{bound}/v1 (OpenAI-compatible; /health, /metrics)",
          flush=True)
    config = uvicorn.Config(asgi, log_level="warning", lifespan="off", timeout_graceful_shutdown=drain_timeout,
                            access_log=False)
    # uvicorn drains on SIGTERM/SIGINT, then re-raises the signal to the handler it found: make that a no-op so
    # a drained server exits 0 (handle_errors' SIGTERM handler would turn it into exit 143).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    start = time.monotonic()
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        server.engine.shutdown()
        sock.close()
    console.print(f"[dim]stopped after {time.monotonic() - start:.0f} s[/dim]")


@bench_app.command("serve")
@handle_errors
def bench_serve(
    folder: Annotated[Path, typer.Argument(help="An artifact folder made by `edgereason export`")],
    rounds: Annotated[int, typer.Option(help="Interleaved rounds of the overhead comparison")] = 5,
    max_tokens: Annotated[int, typer.Option(help="Tokens per reply in the overhead rounds")] = 128,
    clients: Annotated[int, typer.Option(help="Concurrent streaming clients in the load test (0: skip it)")] = 8,
    requests: Annotated[int, typer.Option(help="Requests per client in the load test")] = 20,
    load_tokens: Annotated[int, typer.Option(help="Tokens per reply in the load test")] = 32,
    threads: Annotated[int, typer.Option(help="CPU threads, the same in-process and in the server")] = 1,
    output: Annotated[Path, typer.Option("--output", "-o", help="Parent of the report folder")] = Path(
        "bench-results"),
) -> None:
    """Server overhead (decode tok/s and TTFT through `edgereason serve` + the openai client vs in-process, same
    artifact, interleaved, medians) and load (concurrent streaming clients: errors, p50/p99 latency, tok/s)."""
    import openai
    from rich.progress import Progress

    from edgereason.bench import machine, plots, serving
    from edgereason.bench.report import Column, Report, check_output, num, pct
    from edgereason.runtime import open_model

    for value, flag in ((rounds, "--rounds"), (max_tokens, "--max-tokens"), (requests, "--requests"),
                        (load_tokens, "--load-tokens"), (threads, "--threads")):
        positive(value, flag)
    if clients < 0:
        raise UsageError(f"--clients must be >= 0, got {clients}")
    check_output(output)
    _warn_if_busy(threads)
    model = open_model(folder, num_threads=threads)
    facts = machine.facts(threads)
    with serving.launched(folder, "--threads", str(threads), "--max-queue", str(max(16, clients))) as server, \
            Progress(console=console) as bar:
        client = openai.OpenAI(base_url=server.v1, api_key="-", max_retries=0, timeout=600)
        serving.through_server(client, server.model, serving.PROMPT, 8)  # warm both paths once
        serving.in_process(model, serving.PROMPT, 8)
        job = bar.add_task("overhead rounds", total=rounds)
        over = serving.overhead(model, client, server.model, rounds=rounds, max_tokens=max_tokens,
                                on_round=lambda: bar.advance(job))
        loaded = None
        if clients:
            job = bar.add_task(f"load: {clients} clients x {requests}", total=clients * requests)
            loaded = serving.load(server.url, server.model, clients=clients, requests=requests,
                                  max_tokens=load_tokens, on_request=lambda: bar.advance(job))
    title = f"Server: {folder.name}, {threads} thread{'s' if threads != 1 else ''}"
    report = Report(output, title, facts)
    columns = [Column("path", "path"), Column("tokens", "tokens"), Column("ttft_ms", "TTFT ms", num(1)),
               Column("decode_tps", "decode tok/s", num(1)), Column("decode_tps_range", "per-round range"),
               Column("decode_slowdown", "slower", pct),
               Column("ttft_added_ms", "TTFT added ms", num(1))]
    report.table(f"Overhead: in-process vs `edgereason serve` + openai client (medians of {rounds} interleaved "
                 "rounds)", over["rows"], columns)
    load_columns = [Column("clients", "clients"), Column("requests", "requests"), Column("errors", "errors"),
                    Column("latency_p50_s", "p50 s", num(2)), Column("latency_p99_s", "p99 s", num(2)),
                    Column("ttft_p50_s", "TTFT p50 s", num(2)), Column("ttft_p99_s", "TTFT p99 s", num(2)),
                    Column("total_tps", "total tok/s", num(1))]
    if loaded:
        report.table(f"Load: {clients} streaming clients x {requests} requests of {load_tokens} tokens", [loaded],
                     load_columns)
    report.figure("serve.png", plots.serve_figure(over["rows"], loaded), "Server overhead and load latency")
    path = report.publish({"kind": "serve", "artifact": str(folder), "threads": threads, "overhead": over,
                           "load": loaded}, over["rows"])
    _print_table(title + ": overhead", over["rows"], columns)
    if loaded:
        _print_table(title + ": load", [loaded], load_columns)
        if loaded["errors"]:
            console.print(f"[yellow]warning:[/yellow] {loaded['errors']} requests failed: {loaded['first_errors'][0]}",
                          soft_wrap=True)
    out.print(f"report: {path / 'report.md'}")
