"""Prometheus metrics under TEI's `te_*` names, in the text exposition format (GET /metrics).

Written here rather than with prometheus_client, whose counters gain a `_total` suffix: TEI's dashboards read
`te_request_count`, not `te_request_count_total`. Updated from the event loop and the model thread: a lock each.
"""
import threading

DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)


def _labels(labels: dict) -> str:
    if not labels:
        return ""
    escaped = (f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
               for k, v in sorted(labels.items()))
    return "{" + ",".join(escaped) + "}"


class Counter:
    kind = "counter"

    def __init__(self, name: str, help: str):
        self.name, self.help = name, help
        self.values: dict[tuple, float] = {}
        self.lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels) -> None:
        key = tuple(sorted(labels.items()))
        with self.lock:
            self.values[key] = self.values.get(key, 0.0) + amount

    def lines(self) -> list:
        with self.lock:
            return [f"{self.name}{_labels(dict(key))} {value:g}" for key, value in sorted(self.values.items())]


class Gauge(Counter):
    kind = "gauge"

    def set(self, value: float) -> None:
        with self.lock:
            self.values[()] = float(value)


class Histogram:
    kind = "histogram"

    def __init__(self, name: str, help: str, buckets=DURATION_BUCKETS):
        self.name, self.help, self.buckets = name, help, tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        self.sum = 0.0
        self.lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self.lock:
            self.sum += value
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    self.counts[i] += 1
                    break
            else:
                self.counts[-1] += 1

    def lines(self) -> list:
        with self.lock:
            out, running = [], 0
            for bound, count in zip(self.buckets, self.counts):
                running += count
                out.append(f'{self.name}_bucket{{le="{bound:g}"}} {running}')
            running += self.counts[-1]
            out += [f'{self.name}_bucket{{le="+Inf"}} {running}', f"{self.name}_sum {self.sum:g}",
                    f"{self.name}_count {running}"]
            return out


class Metrics:
    def __init__(self):
        self.request_count = Counter("te_request_count", "requests received, by route")
        self.request_success = Counter("te_request_success", "requests answered without error, by route")
        self.request_failure = Counter("te_request_failure", "requests refused or failed, by error type")
        self.embed_count = Counter("te_embed_count", "embedding requests (embed, embed_all, embed_sparse, openai)")
        self.embed_success = Counter("te_embed_success", "embedding requests answered")
        self.predict_count = Counter("te_predict_count", "classification requests (predict, rerank)")
        self.predict_success = Counter("te_predict_success", "classification requests answered")
        self.duration = Histogram("te_request_duration", "seconds from request to response")
        self.tokenization = Histogram("te_request_tokenization_duration", "seconds spent tokenizing a request")
        self.queue = Histogram("te_request_queue_duration", "seconds a request waited for its batch")
        self.inference = Histogram("te_request_inference_duration", "seconds of the batch's forward pass")
        self.input_length = Histogram("te_request_input_length", "tokens per input", SIZE_BUCKETS)
        self.batch_size = Histogram("te_batch_next_size", "inputs per batch", SIZE_BUCKETS)
        self.batch_tokens = Histogram("te_batch_next_tokens", "real tokens per batch", SIZE_BUCKETS)
        self.queue_size = Gauge("te_queue_size", "requests waiting for a batch")
        self.queue_size.set(0)

    def render(self) -> str:
        blocks = []
        for metric in vars(self).values():
            blocks.append(f"# HELP {metric.name} {metric.help}\n# TYPE {metric.name} {metric.kind}")
            blocks.extend(metric.lines())
        return "\n".join(blocks) + "\n"
