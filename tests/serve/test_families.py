"""The server's routes on the newer families (ModernBERT, DeBERTa-v3, ELECTRA, GTE, NomicBERT, MPNet): a real
`fastenc serve` per checkpoint answers what the engine's direct call computes, as for BERT and RoBERTa in
test_app.py."""
import pytest

from serve_checks import TEXTS, assert_same_answer
from real_vocab_checkpoints import NER_LABELS, build_with_tokenizer, write_sentence_transformers_files

# server name -> (family, head) of its tiny real-vocabulary checkpoint
CHECKPOINTS = {"modernbert-mlm": ("modernbert", "ForMaskedLM"),
               "deberta-cls": ("deberta-v2", "ForSequenceClassification"),
               "electra-ner": ("electra", "ForTokenClassification"),
               "gte-rerank": ("gte", "ForSequenceClassification"),
               "nomic-mlm": ("nomic_bert", "ForMaskedLM"),
               "mpnet-mlm": ("mpnet", "ForMaskedLM")}
# server name -> (vocabulary, class labels) where the family's defaults do not apply
SPECIAL = {"gte-rerank": ("xlmr-unigram", ["relevance"])}  # gte-multilingual-reranker-base's layout
# NomicBERT ships sentence-transformers files as nomic-embed-text does: mean pooling, normalised, task prompts.
NOMIC_PROMPTS = {"query": "search_query: ", "document": "search_document: "}


@pytest.fixture(scope="module")
def family_servers(tmp_path_factory):
    """name -> (running ServeProcess, the engine loaded in this process from the same folder)."""
    import fastenc
    from serve_process import ServeProcess, start_all, stop_all

    logs = tmp_path_factory.mktemp("serve-family-logs")
    folders, specs = {}, {}
    for seed, (name, (family, head)) in enumerate(CHECKPOINTS.items()):
        folders[name] = tmp_path_factory.mktemp(f"serve-{name}")
        labels = NER_LABELS if head == "ForTokenClassification" else None
        vocab, labels = SPECIAL.get(name, (None, labels))
        build_with_tokenizer(family, head, folders[name], seed=seed + 11, labels=labels, vocab=vocab)
        if family == "nomic_bert":
            write_sentence_transformers_files(folders[name], prompts=NOMIC_PROMPTS)
        specs[name] = ServeProcess(folders[name], "--tokenization-workers", 1, log_dir=logs)
    start_all(list(specs.values()))
    yield {name: (specs[name], fastenc.load(folders[name])) for name in specs}
    stop_all(list(specs.values()))


def test_modernbert_embed_and_fill_mask(family_servers):
    server, engine = family_servers["modernbert-mlm"]
    r = server.post("/embed", {"inputs": TEXTS, "normalize": False})
    assert r.status_code == 200, r.text
    assert_same_answer(r.json(), engine.embed(TEXTS, normalize=False))
    texts = [f"Paris is the {engine.tokenizer.mask_token} of France."]
    r = server.post("/fill_mask", {"inputs": texts, "top_k": 3})
    assert r.status_code == 200, r.text
    (got,), (want,) = r.json(), engine.fill_mask(texts, top_k=3)
    assert [(g["token"], g["sequence"]) for g in got] == [(w["token"], w["sequence"]) for w in want]
    assert_same_answer([g["score"] for g in got], [w["score"] for w in want])
    sparse = server.post("/embed_sparse", {"inputs": TEXTS[:2]})
    assert sparse.status_code == 200, sparse.text
    for got, want in zip(sparse.json(), engine.embed_sparse(TEXTS[:2])):
        assert [v["index"] for v in got] == [v["index"] for v in want]


def test_deberta_predict(family_servers):
    server, engine = family_servers["deberta-cls"]
    r = server.post("/predict", {"inputs": [[t] for t in TEXTS[:4]]})
    assert r.status_code == 200, r.text
    for got, want in zip(r.json(), engine.classify(TEXTS[:4])):
        assert got[0]["label"] == want["label"]
        assert_same_answer([p["score"] for p in got], [want["scores"][p["label"]] for p in got])
    assert server.post("/fill_mask", {"inputs": "x"}).status_code == 424  # no masked-LM head on this checkpoint


def test_electra_tag(family_servers):
    server, engine = family_servers["electra-ner"]
    texts = ["My name is Wolfgang and I live in Berlin.", "Nothing here."]
    r = server.post("/tag", {"inputs": texts})
    assert r.status_code == 200, r.text
    for got, want in zip(r.json(), engine.tag(texts)):
        assert [(e["entity_group"], e["word"], e["start"], e["end"]) for e in got] == \
               [(e["entity_group"], e["word"], e["start"], e["end"]) for e in want]
        assert_same_answer([e["score"] for e in got], [e["score"] for e in want])


def test_gte_rerank_and_embed(family_servers):
    server, engine = family_servers["gte-rerank"]
    texts = ["Deep learning is machine learning.", "Paris liegt in Frankreich.", "", "深度学习"]
    r = server.post("/rerank", {"query": "What is deep learning?", "texts": texts, "return_text": True})
    assert r.status_code == 200, r.text
    want = engine.rerank("What is deep learning?", texts, return_text=True)
    assert [(g["index"], g["text"]) for g in r.json()] == [(w["index"], w["text"]) for w in want]
    assert_same_answer([g["score"] for g in r.json()], [w["score"] for w in want])
    r = server.post("/embed", {"inputs": texts, "normalize": True})
    assert r.status_code == 200, r.text
    assert_same_answer(r.json(), engine.embed(texts, normalize=True))
    assert server.get("/info").json()["model_type"].keys() == {"reranker"}


def test_nomic_bert_embed_prompts_and_fill_mask(family_servers):
    """Mean-pooled, normalised embeddings (the checkpoint's sentence-transformers files) on /embed with a prompt and
    on /v1/embeddings, and /fill_mask, as the engine computes them."""
    server, engine = family_servers["nomic-mlm"]
    r = server.post("/embed", {"inputs": TEXTS, "prompt_name": "query"})
    assert r.status_code == 200, r.text
    prompted = [NOMIC_PROMPTS["query"] + t for t in TEXTS]
    assert_same_answer(r.json(), engine.embed(prompted, pooling="mean", normalize=True))
    r = server.post("/v1/embeddings", {"input": TEXTS[:3], "model": "nomic"})
    assert r.status_code == 200, r.text
    assert_same_answer([d["embedding"] for d in r.json()["data"]], engine.embed(TEXTS[:3]))
    texts = [f"search_query: Paris is the {engine.tokenizer.mask_token} of France."]
    r = server.post("/fill_mask", {"inputs": texts, "top_k": 3})
    assert r.status_code == 200, r.text
    (got,), (want,) = r.json(), engine.fill_mask(texts, top_k=3)
    assert [(g["token"], g["sequence"]) for g in got] == [(w["token"], w["sequence"]) for w in want]
    assert_same_answer([g["score"] for g in got], [w["score"] for w in want])


def test_mpnet_embed_fill_mask_and_tokenize(family_servers):
    server, engine = family_servers["mpnet-mlm"]
    r = server.post("/v1/embeddings", {"input": TEXTS, "model": "mpnet"})
    assert r.status_code == 200, r.text
    # OpenAI: normalised
    assert_same_answer([d["embedding"] for d in r.json()["data"]], engine.embed(TEXTS, normalize=True))
    texts = [f"Paris is the {engine.tokenizer.mask_token} of France.", f"A {engine.tokenizer.mask_token}b"]
    r = server.post("/fill_mask", {"inputs": texts, "top_k": 3})
    assert r.status_code == 200, r.text
    for got, want in zip(r.json(), engine.fill_mask(texts, top_k=3)):
        assert [(g["token"], g["sequence"]) for g in got] == [(w["token"], w["sequence"]) for w in want]
        assert_same_answer([g["score"] for g in got], [w["score"] for w in want])
    r = server.post("/tokenize", {"inputs": texts[1]})
    assert r.status_code == 200, r.text
    assert [t["id"] for t in r.json()[0]] == engine.tokenizer(texts[1])["input_ids"]
