"""The Ray Serve deployment on a real local Ray cluster, over HTTP on the loopback: TEI's /embed and /predict answers
equal the engine's direct calls; client mistakes get 4xx with TEI's error body."""
import json
import socket
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

serve = pytest.importorskip("ray.serve")
from fastenc.integrations.ray_serve import app  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def url(ray_cluster, checkpoints):
    port = _free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    # A classifier checkpoint serves both routes: /embed pools its encoder, /predict runs its head.
    serve.run(app(checkpoints["classify"], max_batch_size=8), route_prefix="/", name="fastenc-test")
    serve.run(app(checkpoints["mlm"]), route_prefix="/mlm", name="fastenc-mlm")  # no classifier head
    yield f"http://127.0.0.1:{port}"
    serve.shutdown()


def _post(url, body, raw=False):
    data = body if raw else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_embed_and_predict_equal_the_engine(url, engines):
    engine = engines["classify"]
    texts = ["I love this!", "a", "Ray Serve batches requests from many clients"]
    status, body = _post(url + "/embed", {"inputs": texts})
    assert status == 200 and len(body) == 3
    torch.testing.assert_close(torch.tensor(body), engine.embed(texts, normalize=True))  # TEI: normalize=true
    status, body = _post(url + "/embed", {"inputs": "I love this!", "normalize": False})
    torch.testing.assert_close(torch.tensor(body), engine.embed(["I love this!"]))
    status, body = _post(url + "/predict", {"inputs": texts})
    assert status == 200
    for predictions, record in zip(body, engine.classify(texts)):
        assert predictions[0]["label"] == record["label"]
        assert [p["score"] for p in predictions] == sorted((p["score"] for p in predictions), reverse=True)
        assert pytest.approx({p["label"]: p["score"] for p in predictions}, rel=1e-5) == record["scores"]


def test_concurrent_clients_each_get_their_own_answer(url, engines):
    texts = [f"client number {i} says hello" for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda t: _post(url + "/embed", {"inputs": t}), texts))
    assert all(status == 200 for status, _ in answers)
    got = torch.tensor([body[0] for _, body in answers])
    torch.testing.assert_close(got, engines["classify"].embed(texts, normalize=True))


@pytest.mark.parametrize("body, status, message", [
    (b"{not json", 422, "not JSON"),
    ({"inputs": []}, 422, "non-empty list of strings"),
    ({"inputs": [1, 2]}, 422, "non-empty list of strings"),
    ({"inputs": "x", "normalize": "yes"}, 422, "`normalize` must be true or false"),
    ({"inputs": "word " * 100}, 422, "inputs[0] has 102 tokens but the model takes at most 64"),
])
def test_client_mistakes_get_tei_errors(url, body, status, message):
    got_status, got = _post(url + "/embed", body, raw=isinstance(body, bytes))
    assert got_status == status and got["error_type"] == "Validation" and message in got["error"]


def test_truncate_and_unknown_route(url):
    status, body = _post(url + "/embed", {"inputs": "word " * 100, "truncate": True})
    assert status == 200 and len(body[0]) == 32
    status, body = _post(url + "/rerank", {"query": "x", "texts": ["y"]})
    assert status == 404 and "POST /embed" in body["error"]


def test_predict_on_a_model_without_a_classifier_is_424(url):
    status, body = _post(url + "/mlm/predict", {"inputs": "x"})
    assert status == 424 and body["error_type"] == "Backend" and "no sequence-classification head" in body["error"]
    status, body = _post(url + "/mlm/embed", {"inputs": "x"})
    assert status == 200 and len(body[0]) == 32
