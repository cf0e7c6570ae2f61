// Variable-length attention on the CPU, one task per (sequence, head, block of queries).
//
// Why a kernel of our own: PyTorch's CPU attention (SDPA's flash kernel) needs a padded (B, nh, T, hd) layout, so the
// packed QKV product has to be gathered into buckets of similar length first and scattered back after, and on the
// short sequences of an embedding job it runs at a few percent of the core's peak (~5-13 us per (sequence, head) of
// 38 tokens). Here each task copies its sequence's keys (transposed) and values into float32 scratch that stays in
// L1/L2, then for each block of 4 queries: scores against 16 keys at a time in registers, an exact-as-float32
// softmax (max subtracted, exp to ~1 ulp), and the weighted sum of the values. Only the sequence's real keys are
// touched: nothing is padded, nothing is masked.
//
// The code is plain C++ on GCC vector types (16 floats, one AVX-512 register), compiled three times (AVX-512,
// AVX2 + FMA, baseline) and picked at first use by what the CPU supports, so one build serves every x86 CPU.
#include "attention_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "thread_pool.h"

namespace fastenc {
namespace {

constexpr int64_t kLanes = 16;       // floats per vector
constexpr int64_t kQueryTile = 8;    // queries sharing one pass over the keys (8 accumulators per 16 keys)

typedef float v16 __attribute__((vector_size(64), aligned(4)));      // unaligned loads/stores through memcpy
typedef int32_t v16i __attribute__((vector_size(64), aligned(4)));

#if defined(__x86_64__) && defined(__GNUC__)
// The helpers pass vectors by value; always inlined into the ISA-specific entry points below, each compiles them for
// its own ISA (hence no ABI concern, which GCC would otherwise warn about).
#pragma GCC diagnostic ignored "-Wpsabi"
#define FASTENC_X86 1
#endif
#define FASTENC_INLINE inline __attribute__((always_inline))

// For constants (folded at compile time); runtime scalars enter as `vector * scalar`, which GCC broadcasts.
FASTENC_INLINE v16 splat(float x) { return v16{} + x; }

FASTENC_INLINE v16 load16(const float* p) {
    v16 x;
    std::memcpy(&x, p, sizeof x);
    return x;
}

FASTENC_INLINE void store16(float* p, v16 x) { std::memcpy(p, &x, sizeof x); }

// exp(x) for x <= 0 (scores minus their row's max), to about 1 ulp: exp(x) = 2^n exp(r), n = round(x / ln 2),
// |r| <= ln(2) / 2, exp(r) by its Taylor series to r^7 (truncation error < 1.5e-8 relative).
FASTENC_INLINE v16 exp_nonpositive(v16 x) {
    x = x < splat(-87.0f) ? splat(-87.0f) : x;                  // exp(-87) ~ 1.6e-38: keeps 2^n a normal float
    const v16 shifter = splat(12582912.0f);                     // 1.5 * 2^23: adding it rounds to an integer
    v16 n = (x * splat(1.44269504088896341f) + shifter) - shifter;
    v16 r = (x - n * splat(0.693359375f)) - n * splat(-2.12194440e-4f);  // ln 2 split in two (Cody-Waite)
    v16 p = splat(1.0f / 5040.0f);
    p = p * r + splat(1.0f / 720.0f);
    p = p * r + splat(1.0f / 120.0f);
    p = p * r + splat(1.0f / 24.0f);
    p = p * r + splat(1.0f / 6.0f);
    p = p * r + splat(0.5f);
    p = p * r + splat(1.0f);
    p = p * r + splat(1.0f);
    v16i e = (__builtin_convertvector(n, v16i) + 127) << 23;   // 2^n as float bits
    v16 two_n;
    std::memcpy(&two_n, &e, sizeof two_n);
    return p * two_n;
}

struct Scratch {
    std::vector<float> keys_t;  // (head_dim, padded length): the sequence's keys, transposed
    std::vector<float> values;  // (length, head_dim)
    std::vector<float> scores;  // (kQueryTile, padded length)
    std::vector<float> queries; // (kQueryTile, head_dim), already scaled
};

typedef uint16_t v16h __attribute__((vector_size(32), aligned(2)));
typedef uint32_t v16u __attribute__((vector_size(64), aligned(4)));

// Elements [i, i + 16) of a float32 or bfloat16 buffer as one float vector, and back (bf16 rounded to nearest even).
template <typename T>
FASTENC_INLINE v16 load16_as_float(const void* base, int64_t i) {
    if constexpr (sizeof(T) == 4) return load16(static_cast<const float*>(base) + i);
    v16h h;
    std::memcpy(&h, static_cast<const uint16_t*>(base) + i, sizeof h);
    const v16u bits = __builtin_convertvector(h, v16u) << 16;  // bf16 is the top half of a float
    v16 f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

template <typename T>
FASTENC_INLINE void store16_from_float(void* base, int64_t i, v16 x) {
    if constexpr (sizeof(T) == 4) {
        store16(static_cast<float*>(base) + i, x);
    } else {
        v16u bits;
        std::memcpy(&bits, &x, sizeof bits);
        bits += 0x7FFFu + ((bits >> 16) & 1u);  // round to nearest even, as PyTorch's float -> bfloat16
        const v16h h = __builtin_convertvector(bits >> 16, v16h);
        std::memcpy(static_cast<uint16_t*>(base) + i, &h, sizeof h);
    }
}

// Queries [q0, q1) of sequence `start` (length L) against all its keys, head `h`; T is float or uint16_t (bf16).
template <typename T>
FASTENC_INLINE void attend_task(const VarlenAttentionArgs& a, int64_t start, int64_t L, int64_t h, int64_t q0,
                                int64_t q1, Scratch& s) {
    constexpr int64_t Q = kQueryTile;
    const int64_t hd = a.head_dim, Lp = (L + kLanes - 1) / kLanes * kLanes, H = a.heads * hd;
    s.keys_t.resize(hd * Lp);
    s.values.resize(L * hd);
    s.scores.resize(Q * Lp);
    s.queries.resize(Q * hd);
    float* kt = s.keys_t.data();
    float* vv = s.values.data();
    for (int64_t j = 0; j < L; ++j) {
        const int64_t krow = (start + j) * a.k_stride + h * hd, vrow = (start + j) * a.v_stride + h * hd;
        for (int64_t d0 = 0; d0 < hd; d0 += kLanes) {
            const v16 kr = load16_as_float<T>(a.k, krow + d0);
            for (int64_t l = 0; l < kLanes; ++l) kt[(d0 + l) * Lp + j] = kr[l];  // transposed: keys along a row
            store16(vv + j * hd + d0, load16_as_float<T>(a.v, vrow + d0));
        }
    }
    for (int64_t d = 0; d < hd; ++d)
        for (int64_t j = L; j < Lp; ++j) kt[d * Lp + j] = 0.0f;  // padded key columns score 0, then weigh 0
    float* qs = s.queries.data();
    float* sc = s.scores.data();
    for (int64_t i0 = q0; i0 < q1; i0 += Q) {
        const int64_t nq = std::min(Q, q1 - i0);
        for (int64_t t = 0; t < Q; ++t)
            for (int64_t d0 = 0; d0 < hd; d0 += kLanes)
                store16(qs + t * hd + d0, t < nq ? load16_as_float<T>(a.q, (start + i0 + t) * a.q_stride + h * hd + d0)
                                                       * a.scale
                                                 : v16{});
        // Scores, 16 keys x Q queries per step, accumulated over head_dim in registers (Q independent chains keep
        // both FMA units busy).
        for (int64_t j0 = 0; j0 < Lp; j0 += kLanes) {
            v16 acc[Q] = {};
            for (int64_t d = 0; d < hd; ++d) {
                const v16 kv = load16(kt + d * Lp + j0);
                #pragma GCC unroll 8
                for (int64_t t = 0; t < Q; ++t) acc[t] += kv * qs[t * hd + d];
            }
            #pragma GCC unroll 8
            for (int64_t t = 0; t < Q; ++t) store16(sc + t * Lp + j0, acc[t]);
        }
        // Softmax of each query's row over its L real keys; the padded tail of the row becomes weight 0.
        float inv_sum[Q];
        for (int64_t t = 0; t < nq; ++t) {
            float* row = sc + t * Lp;
            for (int64_t j = L; j < Lp; ++j) row[j] = -std::numeric_limits<float>::infinity();
            v16 mx = splat(-std::numeric_limits<float>::infinity());
            for (int64_t j0 = 0; j0 < Lp; j0 += kLanes) {
                const v16 x = load16(row + j0);
                mx = x > mx ? x : mx;
            }
            float m = mx[0];
            for (int64_t l = 1; l < kLanes; ++l) m = std::max(m, mx[l]);
            v16 sum{};
            for (int64_t j0 = 0; j0 < Lp; j0 += kLanes) {
                const v16 e = exp_nonpositive(load16(row + j0) - m);
                store16(row + j0, e);
                if (j0 + kLanes <= L) sum += e;
            }
            float total = 0.0f;
            for (int64_t l = 0; l < kLanes; ++l) total += sum[l];
            for (int64_t j = L / kLanes * kLanes; j < L; ++j) total += row[j];  // the partial last block
            inv_sum[t] = 1.0f / total;
        }
        // Output = weights @ values, 16 dims x Q queries per step.
        for (int64_t d0 = 0; d0 < hd; d0 += kLanes) {
            v16 o[Q] = {};
            for (int64_t j = 0; j < L; ++j) {
                const v16 vj = load16(vv + j * hd + d0);
                #pragma GCC unroll 8
                for (int64_t t = 0; t < Q; ++t) o[t] += vj * sc[t * Lp + j];
            }
            for (int64_t t = 0; t < nq; ++t) {
                const int64_t base = (start + i0 + t) * H + h * hd + d0;
                store16_from_float<T>(a.out, base, o[t] * inv_sum[t]);
            }
        }
    }
}

FASTENC_INLINE void attend_any(const VarlenAttentionArgs& a, int64_t start, int64_t L, int64_t h, int64_t q0,
                               int64_t q1, Scratch& s) {
    if (a.dtype == AttnDtype::kFloat32) attend_task<float>(a, start, L, h, q0, q1, s);
    else attend_task<uint16_t>(a, start, L, h, q0, q1, s);
}

// The same code compiled three times; `varlen_attention` picks the widest the CPU runs.
#ifdef FASTENC_X86
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma"))) void attend_avx512(
    const VarlenAttentionArgs& a, int64_t start, int64_t L, int64_t h, int64_t q0, int64_t q1, Scratch& s) {
    attend_any(a, start, L, h, q0, q1, s);
}
__attribute__((target("avx2,fma"))) void attend_avx2(const VarlenAttentionArgs& a, int64_t start, int64_t L, int64_t h,
                                                      int64_t q0, int64_t q1, Scratch& s) {
    attend_any(a, start, L, h, q0, q1, s);
}
#endif
void attend_baseline(const VarlenAttentionArgs& a, int64_t start, int64_t L, int64_t h, int64_t q0, int64_t q1,
                     Scratch& s) {
    attend_any(a, start, L, h, q0, q1, s);
}

using AttendFn = void (*)(const VarlenAttentionArgs&, int64_t, int64_t, int64_t, int64_t, int64_t, Scratch&);

struct Variant {
    AttendFn fn;
    const char* name;
};

// The widest variant the CPU runs, capped by ATEN_CPU_CAPABILITY as PyTorch reads it ("avx2", "default"), so the
// suite's forced-AVX2 parity run takes the AVX2 code here too.
Variant pick_attend() {
    const char* cap = std::getenv("ATEN_CPU_CAPABILITY");
    const std::string limit = cap ? cap : "";
#ifdef FASTENC_X86
    __builtin_cpu_init();
    if (limit != "avx2" && limit != "default" && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return {attend_avx512, "avx512"};
    if (limit != "default" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return {attend_avx2, "avx2"};
#endif
    return {attend_baseline, "default"};
}

const Variant& variant() {
    static const Variant picked = pick_attend();
    return picked;
}

struct Task {
    int64_t start, length, head, q0, q1;
};

}  // namespace

const char* varlen_attention_isa() { return variant().name; }

void varlen_attention(const VarlenAttentionArgs& a, size_t max_threads) {
    ThreadPool& pool = ThreadPool::instance();
    const size_t threads = max_threads == 0 ? pool.size() : std::min(max_threads, pool.size());
    // One task per (sequence, head); a batch with few of them (one long text) splits each sequence's queries too,
    // so every thread gets work.
    const int64_t pairs = a.batch * a.heads;
    const int64_t splits = std::max<int64_t>(1, (8 * static_cast<int64_t>(threads) + pairs - 1) / std::max<int64_t>(pairs, 1));
    std::vector<Task> tasks;
    tasks.reserve(pairs * splits);
    for (int64_t b = 0; b < a.batch; ++b) {
        const int64_t start = a.cu_seqlens[b], L = a.cu_seqlens[b + 1] - start;
        if (L <= 0) continue;
        const int64_t chunk = std::max<int64_t>(kQueryTile, (L + splits - 1) / splits / kQueryTile * kQueryTile);
        for (int64_t h = 0; h < a.heads; ++h)
            for (int64_t q0 = 0; q0 < L; q0 += chunk) tasks.push_back({start, L, h, q0, std::min(L, q0 + chunk)});
    }
    // Longest first: the threads take tasks in order, so the short ones fill in at the end.
    std::stable_sort(tasks.begin(), tasks.end(), [](const Task& x, const Task& y) {
        return x.length * (x.q1 - x.q0) > y.length * (y.q1 - y.q0);
    });
    const AttendFn attend = variant().fn;
    pool.run(
        tasks.size(),
        [&](size_t i) {
            thread_local Scratch scratch;
            const Task& t = tasks[i];
            attend(a, t.start, t.length, t.head, t.q0, t.q1, scratch);
        },
        threads);
}

}  // namespace fastenc
