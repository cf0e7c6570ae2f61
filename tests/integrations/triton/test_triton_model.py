"""fastenc's Triton Python-backend model, driven as the server drives it (through the stand-in for
triton_python_backend_utils in tests/helpers: the real server does not install here), on the repository that
`fastenc triton-repo` writes."""
import importlib.util
import json

import numpy as np
import pytest
import torch

import triton_backend_standin as pb_utils
from fastenc.cli import main

pb_utils.install()


def _load_model(folder):
    """What Triton does: import <model>/1/model.py, then initialize() with the config as JSON."""
    spec = importlib.util.spec_from_file_location("fastenc_triton_model", folder / "1" / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = pb_utils.read_config_pbtxt((folder / "config.pbtxt").read_text())
    model = module.TritonPythonModel()
    model.initialize({"model_config": json.dumps(config), "model_instance_kind": "CPU", "model_name": config["name"]})
    return model, config


def _request(*texts, name="TEXT"):
    array = np.array([[t.encode() if isinstance(t, str) else t] for t in texts], dtype=object)  # (b, 1) TYPE_STRING
    return pb_utils.InferenceRequest([pb_utils.Tensor(name, array)])


@pytest.fixture(scope="module")
def repository(checkpoints, tmp_path_factory):
    root = tmp_path_factory.mktemp("triton-repo")
    assert main(["triton-repo", str(checkpoints["classify"]), str(root), "--pooling", "mean", "--normalize",
                 "--max-batch-size", "16"]) == 0
    assert main(["triton-repo", str(checkpoints["classify"]), str(root), "--name", "scores", "--task",
                 "classify"]) == 0
    return root


def test_config_pbtxt_says_what_the_server_needs(repository, checkpoints):
    config = pb_utils.read_config_pbtxt((repository / "fastenc" / "config.pbtxt").read_text())
    assert config["backend"] == "python" and config["max_batch_size"] == 16
    assert config["input"] == [{"name": "TEXT", "data_type": "TYPE_STRING", "dims": [1]}]
    assert config["output"] == [{"name": "EMBEDDING", "data_type": "TYPE_FP32", "dims": [-1]}]
    assert config["dynamic_batching"] == {"max_queue_delay_microseconds": 2000}
    assert config["instance_group"] == [{"count": 1, "kind": "KIND_CPU"}]
    assert config["parameters"]["model"]["string_value"] == str(checkpoints["classify"].resolve())
    assert (repository / "fastenc" / "1" / "model.py").is_file()


def test_one_response_per_request_equal_to_the_engine(repository, engines):
    model, _ = _load_model(repository / "fastenc")
    requests = [_request("I love this!", "a"), _request("third text"), _request("héllo wörld")]
    responses = model.execute(requests)
    assert len(responses) == 3 and not any(r.has_error() for r in responses)
    got = [pb_utils.get_output_tensor_by_name(r, "EMBEDDING").as_numpy() for r in responses]
    assert [g.shape for g in got] == [(2, 32), (1, 32), (1, 32)] and all(g.dtype == np.float32 for g in got)
    expected = engines["classify"].embed(["I love this!", "a", "third text", "héllo wörld"], pooling="mean",
                                         normalize=True)
    torch.testing.assert_close(torch.from_numpy(np.concatenate(got)), expected)
    model.finalize()


def test_bad_requests_get_a_triton_error_and_the_others_an_answer(repository):
    model, _ = _load_model(repository / "fastenc")
    requests = [_request("fine"), _request("x", name="WRONG"), _request(b"\xff\xfe"), _request("also fine")]
    responses = model.execute(requests)
    assert len(responses) == 4
    assert [r.has_error() for r in responses] == [False, True, True, False]
    assert "no 'TEXT' input tensor" in responses[1].error().message()
    assert "element 0 is not UTF-8" in responses[2].error().message()
    assert pb_utils.get_output_tensor_by_name(responses[3], "EMBEDDING").as_numpy().shape == (1, 32)


def test_classify_task_returns_the_scores(repository, engines):
    model, config = _load_model(repository / "scores")
    assert config["output"][0]["name"] == "SCORES"
    (response,) = model.execute([_request("I love this!", "awful")])
    scores = pb_utils.get_output_tensor_by_name(response, "SCORES").as_numpy()
    expected = [list(r["scores"].values()) for r in engines["classify"].classify(["I love this!", "awful"])]
    np.testing.assert_allclose(scores, np.array(expected, dtype=np.float32), rtol=1e-6)


def test_repository_arguments_are_checked(checkpoints, tmp_path, capsys):
    assert main(["triton-repo", str(checkpoints["classify"]), str(tmp_path), "--max-batch-size", "0"]) == 1
    assert "max_batch_size must be a positive int" in capsys.readouterr().err
