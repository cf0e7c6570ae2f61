"""A task over an Arrow table equals the engine's direct call; bad rows become error values (or raise)."""
import pytest

pytest.importorskip("pyarrow", reason="the test extra installs pyarrow")
import pyarrow as pa
import torch

from fastenc.integrations.table_task import TableTask

TEXTS = ["Paris is the capital of France.", "a", "", "Ray Data runs many actors at once " * 3, "hello [MASK] world"]


def _table(texts):
    return pa.table({"id": list(range(10, 10 + len(texts))), "text": texts,
                     "other": [f"x{i}" for i in range(len(texts))]})


def test_embed_equals_the_engine_and_keeps_other_columns(engines):
    engine = engines["mlm"]
    out = TableTask(engine, "embed", options={"pooling": "mean", "normalize": True})(_table(TEXTS))
    assert out.column_names == ["id", "text", "other", "embedding", "embedding_error"]
    assert out.column("id").to_pylist() == list(range(10, 15)) and out.column("other").to_pylist()[0] == "x0"
    assert out.column("embedding_error").null_count == len(TEXTS)
    got = torch.tensor(out.column("embedding").to_pylist())
    assert torch.equal(got, engine.embed(TEXTS, pooling="mean", normalize=True))


def test_classify_tag_fill_mask_equal_the_engine(engines):
    texts = ["I love this!", "My name is Wolfgang and I live in Berlin."]
    out = TableTask(engines["classify"], "classify")(_table(texts))
    assert out.column("classification").to_pylist() == engines["classify"].classify(texts)
    out = TableTask(engines["tag"], "tag")(_table(texts))
    assert out.column("entities").to_pylist() == engines["tag"].tag(texts)
    masked = ["hello [MASK] world", "[MASK] and [MASK]"]
    out = TableTask(engines["mlm"], "fill_mask", options={"top_k": 3})(_table(masked))
    direct = engines["mlm"].fill_mask(masked, top_k=3)
    assert out.column("predictions").to_pylist() == [[direct[0]], direct[1]]  # one list per mask, always


def test_bad_rows_are_error_values_and_good_rows_still_match(engines):
    engine = engines["mlm"]
    mixed = pa.Table.from_pylist([{"text": "good one"}, {"text": None}, {"text": "another good one"}])
    out = TableTask(engine, "embed")(mixed)
    assert out.column("embedding").to_pylist()[1] is None
    assert out.column("embedding_error").to_pylist() == [None, "text is null", None]
    kept = torch.tensor([out.column("embedding").to_pylist()[i] for i in (0, 2)])
    assert torch.equal(kept, engine.embed(["good one", "another good one"]))
    # A row the engine itself rejects (no mask token) is isolated by halving; the others are answered.
    rows = pa.table({"text": ["a [MASK] day", "no mask here", "[MASK] again"]})
    out = TableTask(engine, "fill_mask")(rows)
    errors = out.column("predictions_error").to_pylist()
    assert errors[0] is None and errors[2] is None and "no mask token" in errors[1]
    assert out.column("predictions").to_pylist()[0] == [engine.fill_mask("a [MASK] day")]


def test_non_string_values_are_named(engines):
    out = TableTask(engines["mlm"], "embed")(pa.table({"text": [1, 2]}))
    assert out.column("embedding_error").to_pylist() == ["text must be a str, not int"] * 2
    # Every row bad: the output column still has the model's type, so blocks concatenate.
    assert out.schema.field("embedding").type == pa.list_(pa.float32(), engines["mlm"].config.hidden_size)


def test_errors_raise_and_column_checks(engines):
    engine = engines["mlm"]
    with pytest.raises(TypeError, match="row 1 of the batch: text is null"):
        TableTask(engine, "embed", errors="raise")(pa.table({"text": ["ok", None]}))
    with pytest.raises(ValueError, match="no mask token"):
        TableTask(engine, "fill_mask", errors="raise")(pa.table({"text": ["no mask"]}))
    with pytest.raises(KeyError, match="column 'body' is not a column"):
        TableTask(engine, "embed", column="body")(pa.table({"text": ["x"]}))
    with pytest.raises(ValueError, match="output column 'embedding' already exists"):
        TableTask(engine, "embed")(pa.table({"text": ["x"], "embedding": [1]}))
    with pytest.raises(ValueError, match="errors must be one of"):
        TableTask(engine, "embed", errors="ignore")
    with pytest.raises(ValueError, match="task must be one of"):
        TableTask(engine, "translate")


def test_classify_pairs_from_a_second_column(engines):
    texts, pairs = ["A man eats.", "It rains."], ["Someone is eating.", None]
    out = TableTask(engines["classify"], "classify", pair_column="hypothesis")(
        pa.table({"text": texts, "hypothesis": pairs}))
    assert out.column("classification").to_pylist()[0] == engines["classify"].classify(texts[:1], pairs[:1])[0]
    assert out.column("classification_error").to_pylist() == [None, "hypothesis is null"]
    with pytest.raises(ValueError, match="pair_column is for classify only"):
        TableTask(engines["mlm"], "embed", pair_column="hypothesis")
