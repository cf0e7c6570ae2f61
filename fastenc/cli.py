"""The `fastenc` command (also `python -m fastenc`): fill-mask, embed (also on Ray), classify, tag, info, serve,
triton-repo, bench.

Results go to stdout as JSON lines (one object per input text; `--format table` for a readable table); progress and
notes go to stderr. A failure prints one line, `fastenc: error: ...`, and exits 1 (`--debug` shows the traceback).
"""
import argparse
import json
import sys

EXIT_ERROR = 1
EXIT_USAGE = 2  # argparse's code for bad usage; also "this command is not available"


def _common_options(argument_default=None) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, argument_default=argument_default)
    common.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: CUDA when available)")
    common.add_argument("--dtype", choices=["float32", "fp32", "float16", "fp16", "bfloat16", "bf16"],
                        help="weights and activations (default: bf16 on CUDA, fp32 on CPU)")
    common.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    return common


def build_parser() -> argparse.ArgumentParser:
    # The options are accepted before and after the command; after it, unset ones must not overwrite the values
    # given before it, hence no defaults in the commands' copy.
    parser = argparse.ArgumentParser(prog="fastenc", description="Fast inference for BERT-family encoders.",
                                     parents=[_common_options()])
    common = _common_options(argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("fill-mask", parents=[common], help="predict the mask token(s) of each text")
    p.add_argument("model", help="local folder or Hugging Face Hub id")
    p.add_argument("texts", nargs="+", metavar="TEXT", help="text with the model's mask token ([MASK], <mask>)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--format", choices=["jsonl", "table"], default="jsonl")

    p = commands.add_parser("embed", parents=[common], help="embed a file of texts (one per line) into a .npy; "
                                                            "with --ray, files or folders into parquet")
    p.add_argument("model")
    p.add_argument("--input", required=True, help="text file, one text per line ('-': standard input)")
    p.add_argument("--output", required=True, help="where to write the (N, H) float32 array (.npy; with --ray: "
                                                   "a parquet folder)")
    p.add_argument("--pooling", choices=["cls", "mean", "max"], default="cls")
    p.add_argument("--normalize", action="store_true", help="L2-normalise each embedding")
    p.add_argument("--batch-size", type=int, help="at most this many texts per forward pass")
    p.add_argument("--max-batch-tokens", type=int, help="at most this many padded tokens per forward pass")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _ray_options(p)

    p = commands.add_parser("classify", parents=[common], help="sequence classification of each text")
    p.add_argument("model")
    p.add_argument("texts", nargs="+", metavar="TEXT")
    p.add_argument("--pair", nargs="+", metavar="TEXT", help="second texts of pairs, one per TEXT")
    p.add_argument("--format", choices=["jsonl", "table"], default="jsonl")

    p = commands.add_parser("tag", parents=[common], help="token classification (entities) of each text")
    p.add_argument("model")
    p.add_argument("texts", nargs="+", metavar="TEXT")
    p.add_argument("--format", choices=["jsonl", "table"], default="jsonl")

    p = commands.add_parser("info", parents=[common], help="what a checkpoint is: family, head, sizes, labels")
    p.add_argument("model")
    p.add_argument("--format", choices=["jsonl", "table"], default="table")

    p = commands.add_parser("serve", parents=[common], help="serve the model over HTTP (TEI's and OpenAI's APIs)")
    p.add_argument("model")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--max-batch-tokens", type=int,
                   help="real (unpadded) tokens per batch (default 16384 on a GPU, 2048 on the CPU)")
    p.add_argument("--max-batch-requests", type=int, help="inputs per batch (default: no limit but the tokens)")
    p.add_argument("--max-concurrent-requests", type=int, default=512, help="inputs in flight before 429")
    p.add_argument("--max-client-batch-size", type=int, default=32, help="inputs per request before 422")
    p.add_argument("--max-input-length", type=int, help="tokens per input (default: the model's maximum)")
    p.add_argument("--auto-truncate", action="store_true", help="truncate over-long inputs instead of a 422")
    p.add_argument("--payload-limit", type=int, default=2_000_000, help="bytes per request body before 413")
    p.add_argument("--pooling", choices=["cls", "mean", "max"],
                   help="default: the checkpoint's sentence-transformers files, else cls")
    p.add_argument("--api-key", help="require 'Authorization: Bearer KEY' on every request")
    p.add_argument("--tokenization-workers", type=int, help="tokenizer threads (default: one per CPU core)")
    p = commands.add_parser("triton-repo", parents=[common],
                            help="write a Triton Inference Server model repository (Python backend) serving MODEL")
    p.add_argument("model", help="local folder or Hugging Face Hub id, as the Triton server's fastenc.load sees it")
    p.add_argument("out_dir", help="the model repository folder to write (created; an existing model folder in it "
                                   "is replaced)")
    p.add_argument("--name", default="fastenc", help="model name in the repository (default: fastenc)")
    p.add_argument("--task", choices=["embed", "classify"], default="embed")
    p.add_argument("--pooling", choices=["cls", "mean", "max"], help="embed pooling (default: the engine's)")
    p.add_argument("--normalize", action="store_true", help="L2-normalise each embedding")
    p.add_argument("--max-batch-size", type=int, default=64, help="texts per batch Triton forms (default 64)")
    p.add_argument("--max-queue-delay-us", type=int, default=2000,
                   help="dynamic batching: how long Triton waits to fill a batch, in microseconds (default 2000)")
    p.add_argument("--instances", type=int, default=1, help="model instances (default 1)")
    p.add_argument("--kind", choices=["KIND_CPU", "KIND_GPU"], help="instance_group kind (default: KIND_GPU when "
                                                                    "--device is cuda..., else KIND_CPU)")

    commands.add_parser("bench", help="run the model benchmark (benchmarks/harness.py of a checkout)", add_help=False)
    return parser


def _ray_options(p) -> None:
    """`fastenc embed --ray`: the same job on a Ray cluster, parquet in and out (fastenc.integrations.ray_job)."""
    g = p.add_argument_group("Ray (fastenc[ray]): --input may then be a text, JSON-lines or parquet file or folder, "
                             "--output is a parquet folder")
    g.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="run on Ray: no ADDRESS starts a local Ray (or joins $RAY_ADDRESS, as under `ray job "
                        "submit`); 'auto' joins the running cluster; ray://host:10001 a remote one")
    g.add_argument("--input-format", choices=["text", "jsonl", "parquet"], help="default: from the file extensions")
    g.add_argument("--column", help="the text field of JSON lines / parquet rows (default: text)")
    g.add_argument("--id-column", help="kept in the output when the input has it (default: id); else a 'row' "
                                       "column holds each text's index in the input")
    g.add_argument("--concurrency", type=int, help="actors, each loading the model once (default 1)")
    g.add_argument("--num-gpus", type=float, help="GPUs per actor (default 0)")
    g.add_argument("--num-cpus", type=float, help="CPUs per actor, and its torch threads (default 1)")
    g.add_argument("--shard-rows", type=int, help="texts per shard and per output file (default 10000)")
    g.add_argument("--errors", choices=["value", "raise"],
                   help="a text that cannot be embedded: an error value in 'embedding_error' (default) or a failed "
                        "job")


_RAY_ONLY = ("input_format", "column", "id_column", "concurrency", "num_gpus", "num_cpus", "shard_rows", "errors")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return _bench(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("fastenc: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # one line for users; the traceback only on request
        if args.debug:
            raise
        print(f"fastenc: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_ERROR


def _one_line(error: Exception) -> str:
    message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    message = " ".join(str(message).split()) or type(error).__name__
    return message if isinstance(error, (ValueError, KeyError, OSError)) else f"{type(error).__name__}: {message}"


def _load(args):
    import fastenc

    return fastenc.load(args.model, device=args.device, dtype=args.dtype)


def _emit(records, fmt: str, table) -> None:
    if fmt == "jsonl":
        for record in records:
            print(json.dumps(record, ensure_ascii=False))
    else:
        table(records)


def _fill_mask(args) -> int:
    model = _load(args)
    results = model.fill_mask(args.texts, top_k=args.top_k)
    _emit([{"text": t, "predictions": r} for t, r in zip(args.texts, results)], args.format, _fill_mask_table)
    return 0


def _fill_mask_table(records) -> None:
    for record in records:
        print(record["text"])
        per_mask = record["predictions"]
        per_mask = per_mask if per_mask and isinstance(per_mask[0], list) else [per_mask]
        for m, predictions in enumerate(per_mask):
            if len(per_mask) > 1:
                print(f"  mask {m + 1}")
            for rank, p in enumerate(predictions, 1):
                print(f"  {rank:>3}  {p['score']:.4g}  {p['token_str']!r:<16}  {p['sequence']}")


def _embed(args) -> int:
    import numpy as np

    if args.ray is not None:
        return _embed_ray(args)
    given = [f"--{name.replace('_', '-')}" for name in _RAY_ONLY if getattr(args, name) is not None]
    if given:
        raise ValueError(f"{', '.join(given)} only apply with --ray")
    model = _load(args)
    with _open_input(args.input) as lines:
        texts = (line.rstrip("\r\n") for line in lines)
        try:
            embeddings = model.embed(texts, pooling=args.pooling, normalize=args.normalize,
                                     batch_size=args.batch_size, max_batch_tokens=args.max_batch_tokens,
                                     progress=False if args.no_progress else None)
        except UnicodeDecodeError as e:  # the message alone would not say which file
            raise ValueError(f"--input {args.input!r} is not UTF-8 text: {e}") from e
    np.save(args.output, embeddings.numpy())
    print(f"fastenc: wrote {tuple(embeddings.shape)} float32 embeddings to {args.output}", file=sys.stderr)
    return 0


def _embed_ray(args) -> int:
    from .integrations import ray_job

    if args.batch_size is not None:
        raise ValueError("--batch-size does not apply with --ray: --max-batch-tokens bounds each forward pass, "
                         "--shard-rows each actor call")
    load = {k: v for k, v in (("device", args.device), ("dtype", args.dtype)) if v is not None}
    options = {name: getattr(args, name) for name in _RAY_ONLY if getattr(args, name) is not None}
    summary = ray_job.run(args.model, args.input, args.output, address=args.ray, pooling=args.pooling,
                          normalize=args.normalize, max_batch_tokens=args.max_batch_tokens,
                          progress=not args.no_progress, **options, **load)
    print(f"fastenc: {summary['rows']} texts in {summary['shards']} shards at {args.output} ({summary['written']} "
          f"written now, {summary['skipped']} already there; {summary['errors']} rows with an error value)",
          file=sys.stderr)
    return 0


def _triton_repo(args) -> int:
    from .integrations.triton.repository import write_repository

    folder = write_repository(args.model, args.out_dir, name=args.name, task=args.task, pooling=args.pooling,
                              normalize=args.normalize, max_batch_size=args.max_batch_size,
                              max_queue_delay_us=args.max_queue_delay_us, instances=args.instances, kind=args.kind,
                              device=args.device, dtype=args.dtype)
    print(f"fastenc: wrote the Triton model {args.name!r} to {folder} (tritonserver --model-repository "
          f"{args.out_dir})", file=sys.stderr)
    return 0


def _open_input(path: str):
    if path == "-":
        return _NoClose(sys.stdin)
    return open(path, encoding="utf-8")


class _NoClose:
    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        return self.stream

    def __exit__(self, *exc):
        return False


def _classify(args) -> int:
    model = _load(args)
    if args.pair is not None and len(args.pair) != len(args.texts):
        raise ValueError(f"{len(args.texts)} texts but {len(args.pair)} --pair texts: give one pair text per text")
    results = model.classify(args.texts, text_pairs=args.pair)
    records = [{"text": t, **r} for t, r in zip(args.texts, results)]
    _emit(records, args.format, _classify_table)
    return 0


def _classify_table(records) -> None:
    width = max(len(r["label"]) for r in records)
    for r in records:
        print(f"{r['label']:<{width}}  {r['score']:.4f}  {r['text']}")


def _tag(args) -> int:
    model = _load(args)
    results = model.tag(args.texts)
    _emit([{"text": t, "entities": r} for t, r in zip(args.texts, results)], args.format, _tag_table)
    return 0


def _tag_table(records) -> None:
    for record in records:
        print(record["text"])
        for e in record["entities"]:
            print(f"  {e['entity_group']:<8}  {e['score']:.4f}  [{e['start']}:{e['end']}]  {e['word']}")


def _info(args) -> int:
    from .models.registry import has_labels, label_names

    model = _load(args)
    config = model.config
    info = {
        "model": args.model,
        "model_type": config.model_type,
        "family": config.family,
        "task": config.task,
        "layers": config.num_layers,
        "hidden_size": config.hidden_size,
        "heads": config.num_heads,
        "vocab_size": config.vocab_size,
        "max_length": model.max_length,
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": str(model.device),
        "dtype": str(model.dtype).removeprefix("torch."),
        "backend": model.backend,
        "tokenizer": repr(model.tokenizer) if model.tokenizer is not None else None,
        "classification_heads": model.classification_head_names,
    }
    if has_labels(config):
        info["labels"] = label_names(config)
    if args.format == "jsonl":
        print(json.dumps(info, ensure_ascii=False))
    else:
        width = max(len(k) for k in info)
        for key, value in info.items():
            print(f"{key:<{width}}  {value}")
    return 0


def _serve(args) -> int:
    import logging

    from .serve.server import serve
    from .serve.service import ServeConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    names = ("host", "port", "max_batch_tokens", "max_batch_requests", "max_concurrent_requests",
             "max_client_batch_size", "max_input_length", "auto_truncate", "payload_limit", "pooling", "api_key",
             "tokenization_workers")
    return serve(ServeConfig(args.model, device=args.device, dtype=args.dtype,
                             **{name: getattr(args, name) for name in names}))


def bench_harness():
    """benchmarks/harness.py of the checkout fastenc runs from (editable install), or None: the benchmarks import
    transformers and test packages, so they live outside the runtime package and are not installed with it."""
    import importlib.util
    from pathlib import Path

    package = importlib.util.find_spec("fastenc")
    path = Path(package.origin).resolve().parent.parent / "benchmarks" / "harness.py"
    return path if path.is_file() else None


def _bench(argv) -> int:
    """Forwards to the checkout's benchmark harness, main(argv), when there is one."""
    import importlib.util

    path = bench_harness()
    if path is None:
        print("fastenc: error: the bench command needs a source checkout (benchmarks/harness.py beside the fastenc "
              "package); this installation has none", file=sys.stderr)
        return EXIT_USAGE
    sys.path.insert(0, str(path.parent))  # the harness imports its sibling scripts
    spec = importlib.util.spec_from_file_location("fastenc_bench_harness", path)
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    return int(harness.main(argv) or 0)


_COMMANDS = {"fill-mask": _fill_mask, "embed": _embed, "classify": _classify, "tag": _tag, "info": _info,
             "serve": _serve, "triton-repo": _triton_repo}


if __name__ == "__main__":
    sys.exit(main())
