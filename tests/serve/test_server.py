"""SIGTERM stops a real server gracefully: requests already in flight are all answered, then it exits 0."""
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from serve_process import ServeProcess

CLIENTS = 12
TIMEOUT_S = 120


def test_sigterm_drains_in_flight_requests(mlm_folder, engines, tmp_path):
    engine = engines["mlm"]
    texts = [" ".join(["token"] * (engine.max_length - 2))] * 8
    # One request per batch (a request larger than the budget runs alone), so the requests finish one by one.
    with ServeProcess(mlm_folder, "--max-batch-tokens", 64, log_dir=tmp_path) as server:
        done_at = []
        started = threading.Barrier(CLIENTS + 1, timeout=TIMEOUT_S)

        def client(_):
            with httpx.Client(base_url=server.url, timeout=TIMEOUT_S) as c:
                started.wait()
                r = c.post("/embed", json={"inputs": texts})
                done_at.append(time.monotonic())
                return r.status_code

        with ThreadPoolExecutor(CLIENTS) as pool:
            futures = [pool.submit(client, i) for i in range(CLIENTS)]
            started.wait()
            deadline = time.monotonic() + TIMEOUT_S
            while not done_at and time.monotonic() < deadline:  # the first answer: the rest are queued or running
                time.sleep(0.005)
            server.process.send_signal(signal.SIGTERM)
            sent_at = time.monotonic()
            statuses = [f.result(TIMEOUT_S) for f in futures]
        assert statuses == [200] * CLIENTS
        assert any(t > sent_at for t in done_at), "no request was still in flight at SIGTERM: the test proved nothing"
        assert server.process.wait(TIMEOUT_S) == 0
        assert "Waiting for connections to close" in server.output() or "Shutting down" in server.output()


def test_bad_settings_fail_before_serving(mlm_folder, engines, capsys):
    from fastenc.cli import main

    longest = engines["mlm"].max_length
    for flags, says in ((["--max-input-length", longest + 1], f"more than this model takes ({longest})"),
                        (["--max-batch-tokens", 0], "--max-batch-tokens must be a positive integer"),
                        (["--api-key", ""], "--api-key must not be empty")):
        assert main(["serve", str(mlm_folder), *map(str, flags)]) == 1
        assert says in capsys.readouterr().err
