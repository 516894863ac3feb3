// Tile iteration over an N1×N2 Gram (or its upper triangle), OpenMP scheduling and interrupt
// polling. A tile's result never depends on which thread computes it, nor on the tile size:
// every entry is produced by the same sequence of floating-point operations.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fastntk {

struct Tile {
    int64_t i0, i1, j0, j1;
};

// Tiles covering [0, n1) × [0, n2); with `upper` only those on or above the diagonal (n1 == n2).
// Ordered so that the expensive rows come first, which balances a dynamic schedule.
inline std::vector<Tile> make_tiles(int64_t n1, int64_t n2, int64_t tile, bool upper) {
    std::vector<Tile> tiles;
    for (int64_t i0 = 0; i0 < n1; i0 += tile)
        for (int64_t j0 = upper ? i0 : 0; j0 < n2; j0 += tile)
            tiles.push_back({i0, std::min(i0 + tile, n1), j0, std::min(j0 + tile, n2)});
    return tiles;
}

// Writes the ni×nj tile `src` (rows of nj) into `out` (row stride ld) at (t.i0, t.j0). With
// `symmetric` it also writes the mirror out[j][i] = out[i][j] below the diagonal (a diagonal tile
// stores only its upper triangle and mirrors the rest). The mirror is a transpose in 8×8 blocks:
// the tile's columns are read from L1 and each output row gets a whole cache line at a time.
template <class T>
inline void store_tile(const T* src, const Tile& t, T* out, int64_t ld, bool symmetric) {
    const int ni = int(t.i1 - t.i0), nj = int(t.j1 - t.j0);
    const bool diagonal_tile = symmetric && t.i0 == t.j0;
    for (int i = 0; i < ni; ++i) {
        const int j_begin = diagonal_tile ? i : 0;
        std::memcpy(out + (t.i0 + i) * ld + t.j0 + j_begin, src + int64_t(i) * nj + j_begin,
                    sizeof(T) * size_t(nj - j_begin));
    }
    if (!symmetric) return;
    constexpr int B = 8;
    for (int j0 = 0; j0 < nj; j0 += B)
        for (int i0 = 0; i0 < ni; i0 += B) {
            if (diagonal_tile && i0 > j0) break;  // strictly below the diagonal only: i < j
            for (int j = j0; j < std::min(j0 + B, nj); ++j) {
                T* row = out + (t.j0 + j) * ld + t.i0;
                const int i_end = std::min(i0 + B, diagonal_tile ? j : ni);
                for (int i = i0; i < i_end; ++i) row[i] = src[int64_t(i) * nj + j];
            }
        }
}

inline int resolve_threads(int n_threads) {
#ifdef _OPENMP
    return n_threads > 0 ? n_threads : omp_get_max_threads();
#else
    (void)n_threads;
    return 1;
#endif
}

inline int thread_id() {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// Asked by the calling thread of a long loop, with (tasks done, tasks in all): returns true to stop
// it (a pending Ctrl-C), and may report the progress meanwhile.
using Poll = std::function<bool(int64_t done, int64_t total)>;

// Runs body(tile_index, thread_id) for every index in [0, count) on `n_threads` threads.
// The calling thread polls about every 50 ms (between tasks) and once more at the end; once the
// poll answers true, remaining tasks are skipped and the function returns false.
inline bool parallel_for(int64_t count, int n_threads, const std::function<void(int64_t, int)>& body,
                         const Poll& poll) {
    using clock = std::chrono::steady_clock;
    std::atomic<bool> stop{false};
    std::atomic<int64_t> done{0};
    auto last = clock::now();
    const int nt = resolve_threads(n_threads);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t t = 0; t < count; ++t) {
        if (stop.load(std::memory_order_relaxed)) continue;
        const int tid = thread_id();
        body(t, tid);
        done.fetch_add(1, std::memory_order_relaxed);
        if (tid == 0 && poll) {
            const auto now = clock::now();
            if (now - last > std::chrono::milliseconds(50)) {
                last = now;
                if (poll(done.load(std::memory_order_relaxed), count)) stop.store(true, std::memory_order_relaxed);
            }
        }
    }
    if (!stop.load() && poll && poll(count, count)) stop.store(true);
    return !stop.load();
}

}  // namespace fastntk
