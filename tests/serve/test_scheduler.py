"""The batching policy (FIFO up to the token or input budget, a request never split, cancelled work dropped) on a
real engine, and, over HTTP, 64 concurrent clients all answered correctly in merged batches, overload answered with
429 at once while the server stays healthy, and a client that goes away frees its slot."""
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from serve_checks import TEXTS, assert_same_answer
from fastenc.serve.scheduler import Scheduler, Work
from fastenc.serve.tokenization import InputEncoder

THREAD_TIMEOUT_S = 120
BURSTS = 5


@pytest.fixture(scope="module")
def encoder(engines):
    encoder = InputEncoder(engines["mlm"], 512, False, 1, {})
    yield encoder
    encoder.close()


def work(encoder, n_texts: int, words: int) -> Work:
    return Work(encoder.encode([" ".join(["word"] * words)] * n_texts), finish=lambda part: part.rows)


def test_fifo_token_budget_and_request_as_a_unit(engines, encoder):
    scheduler = Scheduler(engines["mlm"], max_batch_tokens=40, max_batch_requests=None)
    works = [work(encoder, 1, 8), work(encoder, 2, 8), work(encoder, 1, 8), work(encoder, 4, 30), work(encoder, 1, 1)]
    for w in works:
        scheduler.submit(w)
    assert [w.num_tokens for w in works] == [10, 20, 10, 128, 3]
    assert scheduler._next_batch() == works[:3]  # 40 tokens: the budget exactly
    assert scheduler._next_batch() == [works[3]]  # larger than the budget: alone, never split
    assert scheduler._next_batch() == [works[4]]


def test_input_budget_and_cancelled_work(engines, encoder):
    scheduler = Scheduler(engines["mlm"], max_batch_tokens=10_000, max_batch_requests=3)
    works = [work(encoder, 2, 1), work(encoder, 1, 1), work(encoder, 2, 1), work(encoder, 1, 1)]
    works[1].cancelled = True  # its client went away before the batch started
    for w in works:
        scheduler.submit(w)
    # FIFO: the cancelled one is skipped; the third (2 inputs) would make 4 > 3 inputs, so it starts the next batch
    assert scheduler._next_batch() == [works[0]]
    assert scheduler._next_batch() == [works[2], works[3]]


def test_results_split_back_per_request(engines, encoder):
    scheduler = Scheduler(engines["mlm"], max_batch_tokens=10_000, max_batch_requests=None).start()
    try:
        from fastenc.serve import results
        works = [Work(encoder.encode(TEXTS[i:i + 2]), finish=results.embed("mean", False, None)) for i in (0, 2, 4)]
        for w in works:
            scheduler.submit(w)
        for i, w in zip((0, 2, 4), works):
            assert_same_answer(w.future.result(timeout=60), engines["mlm"].embed(TEXTS[i:i + 2], pooling="mean"))
    finally:
        scheduler.stop()


def _metric(server, name: str) -> float:
    for line in server.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise KeyError(name)


def test_64_concurrent_clients_all_correct(servers, engines):
    name = "minilm" if "minilm" in servers else "classifier"
    server, engine = servers[name], engines[name]
    texts = [f"client {i} says: " + " ".join(TEXTS[j % len(TEXTS)] for j in range(i % 5 + 1)) for i in range(128)]
    expected = engine.embed(texts, pooling=server.get("/info").json()["model_type"]["embedding"]["pooling"]
                            if name == "minilm" else "cls", normalize=True)
    batches_before = _metric(server, "te_batch_next_size_count")
    barrier = threading.Barrier(64, timeout=THREAD_TIMEOUT_S)

    def client(i):
        import httpx
        with httpx.Client(base_url=server.url, timeout=THREAD_TIMEOUT_S) as c:
            barrier.wait()
            answers = []
            for k in (i, i + 64):  # two requests per client, of one and of two texts
                r = c.post("/embed", json={"inputs": texts[k:k + 1 + k % 2]})
                answers.append((k, r.status_code, r.json()))
            return answers

    with ThreadPoolExecutor(64) as pool:
        answers = [a for f in [pool.submit(client, i) for i in range(64)] for a in f.result(THREAD_TIMEOUT_S)]
    assert len(answers) == 128
    for k, status, body in answers:
        assert status == 200, body
        assert_same_answer(body, expected[k:k + 1 + k % 2])
    batches = _metric(server, "te_batch_next_size_count") - batches_before
    assert batches < 128, "concurrent requests were never merged into one batch"


def test_overload_is_429_at_once_and_server_stays_healthy(servers, engines):
    server = servers["mlm"]  # --max-concurrent-requests 24, --max-client-batch-size 8
    long_texts = [" ".join(["token"] * (engines["mlm"].max_length - 2))] * 8
    clients = 32

    def burst() -> list:
        barrier = threading.Barrier(clients, timeout=THREAD_TIMEOUT_S)

        def client(_):
            import httpx
            with httpx.Client(base_url=server.url, timeout=THREAD_TIMEOUT_S) as c:
                barrier.wait()
                r = c.post("/embed", json={"inputs": long_texts, "normalize": False})
                return r.status_code, r.json()

        with ThreadPoolExecutor(clients) as pool:
            return list(pool.map(client, range(clients), timeout=THREAD_TIMEOUT_S))

    answers = []
    for _ in range(BURSTS):  # a fast machine may answer a whole burst in time: try again, a bounded number of times
        answers += burst()
        if any(status == 429 for status, _ in answers):
            break
    statuses = [status for status, _ in answers]
    assert 429 in statuses and 200 in statuses, statuses
    assert set(statuses) <= {200, 429}
    expected = engines["mlm"].embed(long_texts[:1], pooling="cls")
    for status, body in answers:
        if status == 429:
            assert body["error_type"] == "overloaded" and "--max-concurrent-requests 24" in body["error"]
        else:
            assert_same_answer(body, expected.expand(8, -1))
    assert server.get("/health").status_code == 200
    assert server.post("/embed", {"inputs": TEXTS[:8]}).status_code == 200


def test_client_that_goes_away_frees_its_slot(servers, engines):
    server = servers["mlm"]  # --max-concurrent-requests 24: three requests of 8 inputs take every permit
    long_texts = [" ".join(["token"] * (engines["mlm"].max_length - 2))] * 8
    body = json.dumps({"inputs": long_texts}).encode()
    for _ in range(3):  # send a request, then hang up without reading the answer
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(b"POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def all_permits() -> list:  # 24 inputs at once: every one must be admitted if no permit leaked
        with ThreadPoolExecutor(3) as pool:
            return list(pool.map(lambda _: server.post("/embed", {"inputs": long_texts}), range(3)))

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the gone clients' permits are released as their requests end
        answers = all_permits()
        if all(r.status_code == 200 for r in answers):
            break
        time.sleep(0.1)
    assert [r.status_code for r in answers] == [200] * 3, [r.text for r in answers]
    assert np.asarray(answers[0].json()).shape == (8, engines["mlm"].config.hidden_size)
