"""Bad requests to a real server get a 4xx with TEI's (or OpenAI's) error body naming the field, never a 5xx; the
"mlm" server runs with --max-client-batch-size 8 and --payload-limit 100000."""
import json

import pytest


@pytest.mark.parametrize("route, body, status, kind, says", [
    ("/embed", {"inputs": []}, 400, "empty", "inputs is empty"),
    ("/embed", {"inputs": ["x"] * 9}, 422, "validation", "--max-client-batch-size 8"),
    ("/embed", {"inputs": 5}, 422, "validation", "inputs"),
    ("/embed", {"inputs": ["a", 1]}, 422, "validation", "inputs"),
    ("/embed", {"text": "no inputs field"}, 422, "validation", "inputs: Field required"),
    ("/embed", {"inputs": "x", "normalize": "yes"}, 422, "validation", "normalize"),
    ("/embed", {"inputs": "x", "dimensions": 0}, 422, "validation", "dimensions"),
    ("/embed", {"inputs": "x", "dimensions": 100000}, 422, "validation", "dimensions is 100000"),
    ("/embed", {"inputs": "x", "truncation_direction": "Up"}, 422, "validation", "truncation_direction"),
    ("/embed", {"inputs": "x", "prompt_name": "query"}, 422, "validation", "prompt_name 'query'"),
    ("/embed", {"inputs": [[1, 2], []]}, 422, "validation", "inputs[1] is an empty list"),
    ("/embed", {"inputs": [101, 10 ** 9]}, 422, "validation", "outside [0, 30522)"),
    ("/embed", {"inputs": [-1]}, 422, "validation", "outside [0, 30522)"),
    ("/embed", {"inputs": "lone \ud800 surrogate"}, 422, "tokenizer", "inputs"),
    ("/embed_all", [1, 2], 422, "validation", "body"),
    ("/fill_mask", {"inputs": "x [MASK]", "top_k": 0}, 422, "validation", "top_k"),
    ("/tokenize", {"inputs": []}, 400, "empty", "inputs is empty"),
    ("/decode", {"ids": []}, 400, "empty", "ids is empty"),
    ("/decode", {"ids": [[1], [30522]]}, 422, "validation", "ids[1]"),
    ("/decode", {"ids": "101"}, 422, "validation", "ids"),
])
def test_bad_body_is_4xx_naming_the_field(servers, route, body, status, kind, says):
    r = servers["mlm"].client.post(route, content=json.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert r.json()["error_type"] == kind and says in r.json()["error"], r.text


@pytest.mark.parametrize("content, status", [(b'{"inputs": ["a",', 400), (b"\xff\xfe", 400), (b"", 400)])
def test_malformed_json_is_400(servers, content, status):
    r = servers["mlm"].client.post("/embed", content=content, headers={"content-type": "application/json"})
    assert r.status_code == status and r.json()["error_type"] == "validation", r.text


def test_not_json_is_415(servers):
    r = servers["mlm"].client.post("/embed", data={"inputs": "x"})
    assert r.status_code == 415 and "Content-Type: application/json" in r.json()["error"]


def test_predict_shapes_refused(servers):
    server = servers["classifier"]
    assert server.post("/predict", {"inputs": ["a", "b", "c"]}).status_code == 422
    mixed = server.post("/predict", {"inputs": [["a"], ["a", "b"]]})
    assert mixed.status_code == 422 and "mixes single texts and pairs" in mixed.json()["error"]
    assert server.post("/predict", {"inputs": [["a", "b", "c"]]}).json()["error"].startswith("inputs[0] has 3")


def test_payload_limit_is_413(servers):
    server = servers["mlm"]
    big = {"inputs": ["word " * 30_000]}  # 150 kB > 100 kB
    r = server.post("/embed", big)
    assert r.status_code == 413 and r.json()["error_type"] == "payload_limit"

    def chunked():  # no Content-Length: the limit holds on the bytes received
        yield b'{"inputs": ["'
        for _ in range(30):
            yield b"word " * 1000
        yield b'"]}'
    r = server.client.post("/embed", content=chunked(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert server.get("/health").status_code == 200


def test_openai_errors_have_openai_shape(servers):
    r = servers["mlm"].post("/v1/embeddings", {"input": []})
    assert r.status_code == 400 and r.json() == {"message": "input is empty: send at least one input", "code": 400,
                                                 "type": "empty"}
    r = servers["mlm"].post("/v1/embeddings", {"input": "x", "encoding_format": "int8"})
    assert r.status_code == 422 and set(r.json()) == {"message", "code", "type"}


def test_unknown_route_and_method(servers):
    assert servers["mlm"].get("/nothing").status_code == 404
    assert servers["mlm"].get("/embed").status_code == 405


def test_api_key_required_everywhere(servers):
    client = servers["ner"].client
    for path in ("/health", "/info", "/metrics"):
        assert client.get(path, headers={"Authorization": ""}).status_code == 401
        assert client.get(path).status_code == 200  # the client sends the right key
