// Bidirectional attention over packed variable-length sequences on the CPU: reads Q, K, V where the QKV product left
// them (no gather into a padded layout, no per-bucket calls) and writes the output in packed order.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fastenc {

enum class AttnDtype { kFloat32 = 0, kBFloat16 = 1 };

struct VarlenAttentionArgs {
    const void* q;             // token t, head h, dim d at q[t * q_stride + h * head_dim + d]; k, v alike
    const void* k;
    const void* v;
    void* out;                 // (N, heads, head_dim) contiguous, same dtype as q
    const int32_t* cu_seqlens; // (batch + 1,) offsets of each sequence in the packed tokens
    int64_t batch;
    int64_t heads;
    int64_t head_dim;          // a multiple of 16
    int64_t q_stride;          // elements between consecutive tokens of q (of k, of v below): views of one fused
    int64_t k_stride;          // QKV product share one, a rotated q and k may have their own
    int64_t v_stride;
    float scale;               // softmax scale, usually head_dim ** -0.5
    AttnDtype dtype;
};

// softmax(q k^T * scale) v per sequence and head, in float32 whatever the storage dtype; the output is rounded to
// the storage dtype once. Runs on at most `max_threads` of PyTorch's OpenMP
// threads (0: all; the extension's own pool where it is built without OpenMP).
void varlen_attention(const VarlenAttentionArgs& args, size_t max_threads);

// The code path varlen_attention takes on this CPU: "avx512", "avx2" or "default" (capped by ATEN_CPU_CAPABILITY).
const char* varlen_attention_isa();

}  // namespace fastenc
