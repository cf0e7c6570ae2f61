"""The server tests' checkpoints and their real servers (one each, started together, shared); the comparison rule is
tests/helpers/serve_checks.py."""
import pytest

pytest.importorskip("fastapi", reason="the test extra installs the server's packages (fastapi, uvicorn)")
from real_vocab_checkpoints import NER_LABELS, build_with_tokenizer
from serve_checks import minilm_folder


@pytest.fixture(scope="session")
def mlm_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve-bert-mlm")
    build_with_tokenizer("bert", "ForMaskedLM", folder)
    return folder


@pytest.fixture(scope="session")
def classifier_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve-bert-cls")
    build_with_tokenizer("bert", "ForSequenceClassification", folder, seed=3)
    return folder


@pytest.fixture(scope="session")
def reranker_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve-roberta-rerank")
    build_with_tokenizer("roberta", "ForSequenceClassification", folder, seed=4, labels=["score"])
    return folder


@pytest.fixture(scope="session")
def ner_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serve-bert-ner")
    build_with_tokenizer("bert", "ForTokenClassification", folder, seed=5, labels=NER_LABELS)
    return folder


API_KEY = "test-key-123"
MLM_FLAGS = ("--max-client-batch-size", 8, "--max-concurrent-requests", 24, "--payload-limit", 100_000,
             "--tokenization-workers", 1)


@pytest.fixture(scope="session")
def servers(mlm_folder, classifier_folder, reranker_folder, ner_folder, tmp_path_factory):
    """name -> a running ServeProcess; all start together (their model loads overlap) and stop at the end.
    "mlm" runs with small limits so the error tests reach them; "ner" requires an API key."""
    from serve_process import ServeProcess, start_all, stop_all

    logs = tmp_path_factory.mktemp("serve-logs")
    specs = {"mlm": ServeProcess(mlm_folder, *MLM_FLAGS, log_dir=logs),
             "classifier": ServeProcess(classifier_folder, "--tokenization-workers", 1, log_dir=logs),
             "reranker": ServeProcess(reranker_folder, "--tokenization-workers", 1, log_dir=logs),
             "ner": ServeProcess(ner_folder, "--tokenization-workers", 1, api_key=API_KEY, log_dir=logs)}
    if minilm_folder() is not None:
        specs["minilm"] = ServeProcess(minilm_folder(), "--tokenization-workers", 1, log_dir=logs)
    start_all(list(specs.values()))
    yield specs
    stop_all(list(specs.values()))


@pytest.fixture(scope="session")
def engines(mlm_folder, classifier_folder, reranker_folder, ner_folder):
    import fastenc

    loaded = {"mlm": fastenc.load(mlm_folder), "classifier": fastenc.load(classifier_folder),
              "reranker": fastenc.load(reranker_folder), "ner": fastenc.load(ner_folder)}
    if minilm_folder() is not None:
        loaded["minilm"] = fastenc.load(minilm_folder())
    return loaded
