"""Shared set-up of the integration tests: tiny checkpoints with real vocabularies (one per task head) and ONE local
Ray cluster for every Ray test of the session (Ray takes seconds to start), shut down at the end."""
import pytest

import fastenc
from real_vocab_checkpoints import NER_LABELS, build_with_tokenizer

CLASS_LABELS = ["NEGATIVE", "POSITIVE"]


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> dict:
    """Task name -> folder: "mlm" (embed, fill_mask), "classify", "tag"."""
    root = tmp_path_factory.mktemp("integration-checkpoints")
    build_with_tokenizer("bert", "ForMaskedLM", root / "mlm", seed=1)
    build_with_tokenizer("bert", "ForSequenceClassification", root / "classify", seed=2, labels=CLASS_LABELS)
    build_with_tokenizer("bert", "ForTokenClassification", root / "tag", seed=3, labels=NER_LABELS,
                         vocab="bert-base-cased")
    return {name: root / name for name in ("mlm", "classify", "tag")}


@pytest.fixture(scope="session")
def engines(checkpoints) -> dict:
    return {name: fastenc.load(folder) for name, folder in checkpoints.items()}


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster of 2 CPUs, started once for the session's Ray tests (Ray Data and Ray Serve)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()
