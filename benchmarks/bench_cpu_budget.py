"""A sweep of embed() batch shapes on the CPU: max_batch_tokens and batch_size, interleaved in one process.

    T=2 JOB=400 R=3 [ONLY=tok2048,tok4096] [DT=bfloat16] .venv/bin/python benchmarks/bench_cpu_budget.py

The real MiniLM, JOB corpus sentences (seeded sample), mean pooling; each configuration is warmed up on 200 sentences,
then the job runs R rounds, round r starting at configuration r (round-robin). Prints min and median per
configuration and the ratio of minima to the 2,048-token budget. Under a loaded machine prefer the minima.
"""
import sys, time, random, os, statistics
sys.path.insert(0,'benchmarks')
import torch
torch.set_num_threads(int(os.environ.get("T","2")))
import fastenc
from harness import find_corpus, minilm_folder
lines=[l for p in sorted(find_corpus().glob("*.txt")) for l in p.read_text().splitlines() if l.strip()]
job=random.Random(2).sample(lines,int(os.environ.get("JOB","1000")))
dtype=getattr(torch, os.environ.get("DT","float32"))
m=fastenc.load(minilm_folder(), device="cpu", dtype=dtype)
configs={"tok1024":dict(max_batch_tokens=1024),"tok2048":dict(max_batch_tokens=2048),"tok4096":dict(max_batch_tokens=4096),
"tok8192":dict(max_batch_tokens=8192),"bs32":dict(batch_size=32), "bs64":dict(batch_size=64)}
only=os.environ.get("ONLY")
if only: configs={k:v for k,v in configs.items() if k in only.split(",")}
for c,kw in configs.items(): m.embed(job[:200],pooling="mean",**kw)
times={}
R=int(os.environ.get("R","3"))
names=list(configs)
for r in range(R):
    for c in names[r%len(names):]+names[:r%len(names)]:
        t=time.perf_counter(); m.embed(job,pooling="mean",normalize=True,**configs[c]); times.setdefault(c,[]).append(time.perf_counter()-t)
print("load", os.getloadavg(), "dtype", dtype, "job", len(job))
base=min(times["tok2048"])
for c in names:
    print(f"{c:8} min {min(times[c])*1e3:8.0f} ms (x{base/min(times[c]):.2f} vs tok2048)  median {statistics.median(times[c])*1e3:8.0f}  {[round(x*1e3) for x in times[c]]}")
