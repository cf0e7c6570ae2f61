#!/usr/bin/env bash
# The parity tests (pytest -m parity) under each CPU dispatch PyTorch can be forced to, one after the other, with the
# machine, versions and the ISA MKL reports; writes everything to benchmarks/results/parity-isa-<date>.txt.
# Usage: benchmarks/parity_isa.sh   (from the repository root, after `make setup`)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=benchmarks/results/parity-isa-$(date -u +%F).txt
CONFIGS=(
  "native|"
  "avx2|ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2"
  "default|ATEN_CPU_CAPABILITY=default"
  "default+sse4|ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2"
)
{
  echo "# parity tests under forced CPU dispatch; $(date -u '+%F %T UTC'); command: benchmarks/parity_isa.sh"
  echo "# cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; flags with avx512/amx: $(grep -o 'avx512[a-z_0-9]*\|amx[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  $PY -c "import sys, torch, transformers; print(f'# python {sys.version.split()[0]}, torch {torch.__version__}, transformers {transformers.__version__}')"
  for config in "${CONFIGS[@]}"; do
    name=${config%%|*}; vars=${config#*|}
    echo; echo "===== $name: ${vars:-(no variables: the dispatch PyTorch picks for this CPU)}"
    echo "\$ $vars $PY -m pytest -m 'parity and not slow' -q -p no:cacheprovider"
    env $vars MKL_VERBOSE=1 $PY -c "import torch; torch.mm(torch.ones(8, 8), torch.ones(8, 8)); print('# aten cpu capability:', torch.backends.cpu.get_cpu_capability())" 2>&1 \
      | sed -n 's/^MKL_VERBOSE oneMKL[^I]*for Intel(R) 64 architecture /# mkl: /p; /aten cpu capability/p'
    start=$(date +%s)
    env $vars $PY -m pytest -m 'parity and not slow' -q -p no:cacheprovider 2>&1
    echo "# exit status $?, $(( $(date +%s) - start )) s wall"
  done
} > "$OUT" 2>&1
echo "wrote $OUT"
