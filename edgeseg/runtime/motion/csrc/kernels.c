/* edgeseg propagation kernels: nearest backward warp of several maps, IAM inconsistency mask,
 * masked blend + argmax, colour overlay, bilinear upsampling of scores fused with argmax, pixel normalisation
 * by table. Row bands run on POSIX threads with the GIL released.
 *
 * Semantics are defined by edgeseg/runtime/motion/reference.py (NumPy); tests check that both agree exactly.
 * Float arithmetic is done in the same order and precision as the reference (float32 flow maths,
 * float64 grid ratios), so the results are bit-identical. Build without -ffast-math and with -ffp-contract=off (no
 * fused multiply-adds, which compilers for aarch64 and clang would otherwise form: NumPy never fuses).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* x86-64's baseline SSE2 has no vector int32 multiply, min/max or float rounding, so the bands that compute source
 * indices are also compiled for SSE4.1 and AVX2 and the best one for the CPU is picked at load time (GCC's
 * target_clones, which needs glibc's ifunc). The clones do the same IEEE operations (no FMA), so their results are
 * identical: 640x480 label warp 0.46 -> 0.30 ms on one thread, IAM 0.49 -> 0.31 ms on two; the upsampling argmax
 * (below) uses the clones for its vertical pass and its gathers. */
#if defined(__x86_64__) && defined(__ELF__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(EDGESEG_NO_CLONES)
#define SIMD_CLONES __attribute__((target_clones("avx2", "sse4.1", "default")))
#else
#define SIMD_CLONES
#endif
#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline)) /* into each clone, compiled for its target */
#else
#define ALWAYS_INLINE inline
#endif

#define MAX_THREADS 64
#define MAX_MAPS 16

typedef void (*band_fn)(void *ctx, Py_ssize_t y0, Py_ssize_t y1, int band);

typedef struct {
    band_fn fn;
    void *ctx;
    Py_ssize_t y0, y1;
    int index;
} band_t;

static void *run_band(void *arg) {
    band_t *b = (band_t *)arg;
    b->fn(b->ctx, b->y0, b->y1, b->index);
    return NULL;
}

/* ---- a persistent worker pool: threads are started once and woken per call, not created per call ----
 * One caller at a time uses it (`call`); a second concurrent caller (e.g. a flow worker thread warping
 * while the main thread overlays) falls back to threads of its own for that call. Every worker takes
 * part in every generation (band index + 1 if there is one), so `pending` counts all of them. */
static struct {
    pthread_mutex_t call, mu;
    pthread_cond_t go, done;
    int workers;
    unsigned long generation;
    unsigned long birth[MAX_THREADS]; /* the generation each worker was started at: it waits for the next */
    band_t *bands;
    int nbands, pending;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
          0, 0, {0}, NULL, 0, 0};

static void *pool_worker(void *arg) {
    int index = (int)(intptr_t)arg;
    pthread_mutex_lock(&pool.mu);
    unsigned long seen = pool.birth[index];
    for (;;) {
        while (pool.generation == seen) pthread_cond_wait(&pool.go, &pool.mu);
        seen = pool.generation;
        band_t *b = index + 1 < pool.nbands ? &pool.bands[index + 1] : NULL;
        pthread_mutex_unlock(&pool.mu);
        if (b != NULL) run_band(b);
        pthread_mutex_lock(&pool.mu);
        if (--pool.pending == 0) pthread_cond_signal(&pool.done);
    }
    return NULL;
}

/* In a forked child the workers do not exist: start over (the parent's locks may have been held). */
static void pool_after_fork(void) {
    pthread_mutex_init(&pool.call, NULL);
    pthread_mutex_init(&pool.mu, NULL);
    pthread_cond_init(&pool.go, NULL);
    pthread_cond_init(&pool.done, NULL);
    pool.workers = 0;
    pool.generation = 0;
}

/* Run bands[1..n) on the pool and bands[0] here; 0 when done, -1 when the pool is busy or cannot grow. */
static int pool_run(band_t *bands, int n) {
    if (pthread_mutex_trylock(&pool.call) != 0) return -1;
    while (pool.workers < n - 1) {
        pthread_t tid;
        pool.birth[pool.workers] = pool.generation;
        if (pthread_create(&tid, NULL, pool_worker, (void *)(intptr_t)pool.workers) != 0) break;
        pthread_detach(tid);
        pool.workers++;
    }
    if (pool.workers < n - 1) {
        pthread_mutex_unlock(&pool.call);
        return -1;
    }
    pthread_mutex_lock(&pool.mu);
    pool.bands = bands;
    pool.nbands = n;
    pool.pending = pool.workers;
    pool.generation++;
    pthread_cond_broadcast(&pool.go);
    pthread_mutex_unlock(&pool.mu);
    run_band(&bands[0]);
    pthread_mutex_lock(&pool.mu);
    while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
    pthread_mutex_unlock(&pool.call);
    return 0;
}

/* Split rows [0, h) into `threads` bands; band 0 runs on the calling thread, the others on the pool (or on
 * threads started for this call when the pool is busy). */
static void parallel_rows(band_fn fn, void *ctx, Py_ssize_t h, int threads) {
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads > h) threads = (int)(h > 0 ? h : 1);
    band_t bands[MAX_THREADS];
    for (int i = 0; i < threads; i++) {
        bands[i].fn = fn;
        bands[i].ctx = ctx;
        bands[i].y0 = h * i / threads;
        bands[i].y1 = h * (i + 1) / threads;
        bands[i].index = i;
    }
    if (threads == 1) {
        run_band(&bands[0]);
        return;
    }
    if (pool_run(bands, threads) == 0) return;
    pthread_t tids[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int i = 1; i < threads; i++)
        started[i] = pthread_create(&tids[i], NULL, run_band, &bands[i]) == 0;
    run_band(&bands[0]);
    for (int i = 1; i < threads; i++) {
        if (started[i]) pthread_join(tids[i], NULL);
        else run_band(&bands[i]); /* could not start a thread: do its band here */
    }
}

/* Run `fn` over rows [0, h) with the GIL released; returns a new reference to None (the kernels that
 * only fill their output arrays). */
static PyObject *run_rows_released(band_fn fn, void *ctx, Py_ssize_t h, int threads) {
    Py_BEGIN_ALLOW_THREADS
    parallel_rows(fn, ctx, h, threads);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* ---- the flow a grid reads, and the source index: the map pixel that (y, x) samples, exactly as reference.py ----
 * A flow is either full resolution (fh x fw x 2), or coarse: DIS's flow at its finest pyramid scale (ch x cw x 2),
 * standing for `factor` x its bilinear resize to fh x fw, which is how DIS makes its output. A coarse flow's
 * full-resolution rows are computed here as they are needed, with OpenCV's INTER_LINEAR taps and float order
 * (each coarse row resized horizontally once, then two of them combined vertically, plain multiply-adds: the
 * extension is built with -ffp-contract=off), so the values are the ones DIS returns on x86, without the
 * full-resolution field being written and read back (reference.upsample_flow). */

typedef struct {
    const float *flow; /* full: fh x fw x 2; coarse: ch x cw x 2 */
    Py_ssize_t fh, fw, h, w;
    Py_ssize_t ch, cw; /* 0 x 0 for a full-resolution flow */
    float factor;
    int32_t *tx0, *tx1, *ty0, *ty1; /* coarse taps of every full-resolution column and row */
    float *ax0, *ax1, *by0, *by1;
    double sy, sx;
    float fsy, fsx;
    Py_ssize_t *fx; /* full-resolution column of each map column, computed once per call */
} grid_t;

/* OpenCV's INTER_LINEAR taps along one axis (cv::resize, generic path): f = (float)((i + 0.5) * scale - 0.5) with
 * scale = 1 / (n_out / n_in), s = floor(f), f -= s. Horizontally (`clamp`) a tap outside the source moves onto the
 * border pixel with weight 1; vertically the weights stay and only the rows are clamped. */
static void linear_taps(Py_ssize_t n_in, Py_ssize_t n_out, int clamp, int32_t *i0, int32_t *i1, float *w0, float *w1) {
    double scale = 1.0 / ((double)n_out / (double)n_in);
    for (Py_ssize_t i = 0; i < n_out; i++) {
        float f = (float)(((double)i + 0.5) * scale - 0.5);
        Py_ssize_t s = (Py_ssize_t)floorf(f);
        f -= (float)s;
        if (clamp && s < 0) { f = 0.0f; s = 0; }
        if (clamp && s >= n_in - 1) { f = 0.0f; s = n_in - 1; }
        i0[i] = (int32_t)(s < 0 ? 0 : s > n_in - 1 ? n_in - 1 : s);
        i1[i] = (int32_t)(s + 1 < 0 ? 0 : s + 1 > n_in - 1 ? n_in - 1 : s + 1);
        w0[i] = 1.0f - f;
        w1[i] = f;
    }
}

/* `flow` is bh x bw x 2; full_h > 0 makes it a coarse flow for a full_h x full_w field (x factor). */
static int grid_init(grid_t *g, const float *flow, Py_ssize_t bh, Py_ssize_t bw, Py_ssize_t full_h, Py_ssize_t full_w,
                     float factor, Py_ssize_t h, Py_ssize_t w) {
    memset(g, 0, sizeof(*g));
    /* a coarse flow needs both full sizes (and a finite factor): zero or negative sizes would divide by zero below */
    if (full_h < 0 || full_w < 0 || (full_h > 0) != (full_w > 0) || (full_h > 0 && !isfinite(factor))) {
        PyErr_SetString(PyExc_ValueError, "coarse flow: full_h, full_w must both be >= 1 (or both 0) and factor finite");
        return -1;
    }
    g->flow = flow; g->h = h; g->w = w; g->factor = factor;
    if (full_h > 0) {
        g->ch = bh; g->cw = bw; g->fh = full_h; g->fw = full_w;
    } else {
        g->fh = bh; g->fw = bw;
    }
    g->sy = (double)g->fh / (double)h;
    g->sx = (double)g->fw / (double)w;
    g->fsy = (float)g->sy;
    g->fsx = (float)g->sx;
    g->fx = PyMem_RawMalloc(sizeof(Py_ssize_t) * (size_t)w);
    if (g->fx == NULL) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t x = 0; x < w; x++) {
        Py_ssize_t fx = (Py_ssize_t)floor(((double)x + 0.5) * g->sx);
        g->fx[x] = fx < g->fw - 1 ? fx : g->fw - 1;
    }
    if (g->ch > 0) {
        size_t n = (size_t)(g->fw + g->fh);
        g->tx0 = PyMem_RawMalloc(2 * n * (sizeof(int32_t) + sizeof(float)));
        if (g->tx0 == NULL) { PyErr_NoMemory(); return -1; }
        g->tx1 = g->tx0 + g->fw; g->ty0 = g->tx1 + g->fw; g->ty1 = g->ty0 + g->fh;
        g->ax0 = (float *)(g->ty1 + g->fh); g->ax1 = g->ax0 + g->fw; g->by0 = g->ax1 + g->fw; g->by1 = g->by0 + g->fh;
        linear_taps(g->cw, g->fw, 1, g->tx0, g->tx1, g->ax0, g->ax1);
        linear_taps(g->ch, g->fh, 0, g->ty0, g->ty1, g->by0, g->by1);
    }
    return 0;
}

static void grid_free(grid_t *g) {
    PyMem_RawFree(g->fx);
    PyMem_RawFree(g->tx0);
    g->fx = NULL;
    g->tx0 = NULL;
}

static inline Py_ssize_t grid_full_row(const grid_t *g, Py_ssize_t y) {
    Py_ssize_t fy = (Py_ssize_t)floor(((double)y + 0.5) * g->sy);
    return fy < g->fh - 1 ? fy : g->fh - 1;
}

/* One band's rows of a coarse flow: two coarse rows resized horizontally (consecutive output rows mostly share them)
 * and the full-resolution row combined from them, each as x and y planes of fw floats. */
typedef struct {
    float *buf; /* 6 planes of fw floats: slot 0 x, y; slot 1 x, y; full row x, y */
    Py_ssize_t held[2]; /* the coarse row in each slot, -1: none */
} rows_t;

static int rows_init(const grid_t *g, rows_t *r) {
    r->held[0] = r->held[1] = -1;
    r->buf = NULL;
    if (g->ch == 0) return 0;
    r->buf = malloc(sizeof(float) * 6 * (size_t)g->fw);
    return r->buf != NULL ? 0 : -1;
}

static void rows_free(rows_t *r) { free(r->buf); }

/* Coarse row `cy` resized horizontally (x plane, then y plane at + fw), in a slot that does not evict row `keep`.
 * Output columns come in runs that share their two taps (4 at a time at 1/4 scale): the taps are loaded once
 * per run and the run's loop is a plain multiply-add over the weights. */
static const float *coarse_hrow(const grid_t *g, rows_t *r, Py_ssize_t cy, Py_ssize_t keep) {
    int slot = r->held[0] == cy ? 0 : r->held[1] == cy ? 1 : -1;
    Py_ssize_t fw = g->fw;
    if (slot >= 0) return r->buf + 2 * slot * fw;
    slot = r->held[0] == keep ? 1 : 0;
    float *hx = r->buf + 2 * slot * fw, *hy = hx + fw;
    const float *c = g->flow + 2 * cy * g->cw, *a0 = g->ax0, *a1 = g->ax1;
    for (Py_ssize_t x = 0; x < fw;) {
        int32_t i0 = g->tx0[x], i1 = g->tx1[x];
        float p0 = c[2 * i0], p1 = c[2 * i0 + 1], q0 = c[2 * i1], q1 = c[2 * i1 + 1];
        Py_ssize_t end = x + 1;
        while (end < fw && g->tx0[end] == i0 && g->tx1[end] == i1) end++;
        for (; x < end; x++) {
            hx[x] = p0 * a0[x] + q0 * a1[x];
            hy[x] = p1 * a0[x] + q1 * a1[x];
        }
    }
    r->held[slot] = cy;
    return hx;
}

/* The two horizontally resized coarse rows that full-resolution row fy combines (x planes; y planes at + fw). */
static inline void coarse_pair(const grid_t *g, rows_t *r, Py_ssize_t fy, const float **ha, const float **hb) {
    *ha = coarse_hrow(g, r, g->ty0[fy], g->ty1[fy]);
    *hb = coarse_hrow(g, r, g->ty1[fy], g->ty0[fy]);
}

/* Flow at full-resolution pixel (fy, fx), pixel by pixel: coarse_hrow's then source_row's arithmetic for one value. */
static inline void flow_value(const grid_t *g, Py_ssize_t fy, Py_ssize_t fx, float *d) {
    if (g->ch == 0) {
        const float *f = g->flow + 2 * (fy * g->fw + fx);
        d[0] = f[0]; d[1] = f[1];
        return;
    }
    const float *c0 = g->flow + 2 * g->ty0[fy] * g->cw, *c1 = g->flow + 2 * g->ty1[fy] * g->cw;
    float a0 = g->ax0[fx], a1 = g->ax1[fx];
    for (int k = 0; k < 2; k++) {
        float h0 = c0[2 * g->tx0[fx] + k] * a0 + c0[2 * g->tx1[fx] + k] * a1;
        float h1 = c1[2 * g->tx0[fx] + k] * a0 + c1[2 * g->tx1[fx] + k] * a1;
        d[k] = (h0 * g->by0[fy] + h1 * g->by1[fy]) * g->factor;
    }
}

static inline Py_ssize_t clamp_round(float base, float d, float hi) {
    float p = base + d;
    if (!(p >= 0.0f)) p = 0.0f; /* also catches NaN, which cannot occur after the isfinite check */
    if (p > hi) p = hi;
    return (Py_ssize_t)(p + 0.5f); /* p + 0.5 > 0: truncation is floorf, without a libm call */
}

/* Index into the h x w map that output pixel (y, x) reads, given the full-res row fy (pixel by pixel: the path for
 * maps of 2^31 pixels or more, or when the row buffers cannot be had). */
static inline Py_ssize_t grid_source(const grid_t *g, Py_ssize_t y, Py_ssize_t x, Py_ssize_t fy) {
    float f[2];
    flow_value(g, fy, g->fx[x], f);
    float dx = isfinite(f[0]) ? f[0] : 0.0f;
    float dy = isfinite(f[1]) ? f[1] : 0.0f;
    dx = dx / g->fsx;
    dy = dy / g->fsy;
    Py_ssize_t rx = clamp_round((float)x, dx, (float)(g->w - 1));
    Py_ssize_t ry = clamp_round((float)y, dy, (float)(g->h - 1));
    return ry * g->w + rx;
}

static inline float finite_or_zero(float v) { return fabsf(v) <= FLT_MAX ? v : 0.0f; }

/* clamp_round's arithmetic without branches (NaN -> 0 as there), for loops that compilers vectorise */
static inline int32_t round_clamped(float p, float hi) {
    p = p >= 0.0f ? p : 0.0f;
    p = p > hi ? hi : p;
    return (int32_t)(p + 0.5f);
}

/* Source index of every pixel of row y (maps below 2^31 pixels), exactly grid_source's arithmetic. At the flow's
 * resolution the grid is the identity and the flow needs no rescaling (d / 1.0f = d): branch-free loops over
 * float32 and int32 that compilers vectorise (x < 2^24 converts to float exactly); a coarse flow's two rows are
 * combined vertically in the same loop. */
static ALWAYS_INLINE void source_row(const grid_t *g, rows_t *r, Py_ssize_t y, int32_t *idx) {
    int32_t w = (int32_t)g->w;
    float hx = (float)(w - 1), hy = (float)(g->h - 1), fy = (float)y;
    int identity = g->fh == g->h && g->fw == w;
    if (identity && g->ch == 0) {
        const float *f = g->flow + 2 * y * w;
        for (int32_t x = 0; x < w; x++) {
            float dx = finite_or_zero(f[2 * x]), dy = finite_or_zero(f[2 * x + 1]);
            idx[x] = round_clamped(fy + dy, hy) * w + round_clamped((float)x + dx, hx);
        }
        return;
    }
    Py_ssize_t row = identity ? y : grid_full_row(g, y);
    const float *px, *py;
    Py_ssize_t step = 1;
    if (g->ch > 0) {
        const float *ha, *hb;
        coarse_pair(g, r, row, &ha, &hb);
        float b0 = g->by0[row], b1 = g->by1[row], k = g->factor;
        Py_ssize_t fw = g->fw;
        if (identity) {
            for (int32_t x = 0; x < w; x++) {
                float dx = finite_or_zero((ha[x] * b0 + hb[x] * b1) * k);
                float dy = finite_or_zero((ha[fw + x] * b0 + hb[fw + x] * b1) * k);
                idx[x] = round_clamped(fy + dy, hy) * w + round_clamped((float)x + dx, hx);
            }
            return;
        }
        float *ox = r->buf + 4 * fw, *oy = ox + fw;
        for (Py_ssize_t x = 0; x < fw; x++) {
            ox[x] = (ha[x] * b0 + hb[x] * b1) * k;
            oy[x] = (ha[fw + x] * b0 + hb[fw + x] * b1) * k;
        }
        px = ox; py = oy;
    } else {
        px = g->flow + 2 * row * g->fw;
        py = px + 1;
        step = 2;
    }
    for (int32_t x = 0; x < w; x++) {
        Py_ssize_t at = step * g->fx[x];
        float dx = finite_or_zero(px[at]) / g->fsx, dy = finite_or_zero(py[at]) / g->fsy;
        idx[x] = round_clamped(fy + dy, hy) * w + round_clamped((float)x + dx, hx);
    }
}

/* ---- (a) warp several maps (same h x w, any channel count and item size) in one pass ----
 * Per row: the source index of every pixel is computed once (a loop specialised for maps at the flow's
 * resolution, where the grid is the identity and the flow needs no rescaling), then each map's channel
 * planes are gathered row by row with a loop specialised for the item size. */

typedef struct {
    grid_t g;
    int n;
    const char *src[MAX_MAPS];
    char *dst[MAX_MAPS];
    Py_ssize_t channels[MAX_MAPS], itemsize[MAX_MAPS];
} warp_ctx;

/* A band's buffers: the source index of one row and, for a coarse flow, its flow rows. NULL: none (a map of 2^31
 * pixels or more, or no memory), and the band goes pixel by pixel. */
static int32_t *band_buffers(const grid_t *g, rows_t *r) {
    r->buf = NULL;
    if (g->h * g->w > INT32_MAX || rows_init(g, r) != 0) return NULL;
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)g->w);
    if (idx == NULL) {
        rows_free(r);
        r->buf = NULL;
    }
    return idx;
}

#define GATHER_ROW(T)                                                                       \
    for (Py_ssize_t ch = 0; ch < c->channels[m]; ch++) {                                     \
        const T *from = (const T *)c->src[m] + ch * plane;                                   \
        T *to = (T *)c->dst[m] + ch * plane + y * w;                                         \
        for (Py_ssize_t x = 0; x < w; x++) to[x] = from[idx[x]];                             \
    }

SIMD_CLONES static void warp_band(void *p, Py_ssize_t y0, Py_ssize_t y1, int band) {
    (void)band;
    warp_ctx *c = (warp_ctx *)p;
    Py_ssize_t w = c->g.w, plane = c->g.h * w;
    rows_t rows;
    int32_t *idx = band_buffers(&c->g, &rows);
    if (idx == NULL) {
        for (Py_ssize_t y = y0; y < y1; y++) {
            Py_ssize_t fy = grid_full_row(&c->g, y);
            for (Py_ssize_t x = 0; x < w; x++) {
                Py_ssize_t s = grid_source(&c->g, y, x, fy), d = y * w + x;
                for (int m = 0; m < c->n; m++)
                    for (Py_ssize_t ch = 0; ch < c->channels[m]; ch++)
                        memcpy(c->dst[m] + (ch * plane + d) * c->itemsize[m], c->src[m] + (ch * plane + s) * c->itemsize[m],
                               (size_t)c->itemsize[m]);
            }
        }
        return;
    }
    for (Py_ssize_t y = y0; y < y1; y++) {
        source_row(&c->g, &rows, y, idx);
        for (int m = 0; m < c->n; m++) {
            switch (c->itemsize[m]) {
            case 1: GATHER_ROW(uint8_t) break;
            case 2: GATHER_ROW(uint16_t) break;
            case 4: GATHER_ROW(uint32_t) break;
            default:
                for (Py_ssize_t ch = 0; ch < c->channels[m]; ch++)
                    for (Py_ssize_t x = 0; x < w; x++)
                        memcpy(c->dst[m] + (ch * plane + y * w + x) * c->itemsize[m], c->src[m] + (ch * plane + idx[x]) * c->itemsize[m],
                               (size_t)c->itemsize[m]);
            }
        }
    }
    free(idx);
    rows_free(&rows);
}

static int get_buffer(PyObject *obj, Py_buffer *view, int writable, const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) != 0) {
        PyErr_Format(PyExc_ValueError, "%s must be a C-contiguous%s array", what, writable ? " writable" : "");
        return -1;
    }
    return 0;
}

/* warp(flow f32 x 2, srcs: list, dsts: list, h, w, channels: list, threads, full_h, full_w, factor): full_h 0 for a
 * full-resolution flow, else the flow is coarse (grid_init) */
static PyObject *py_warp(PyObject *self, PyObject *args) {
    PyObject *flow_obj, *srcs, *dsts, *chans;
    Py_ssize_t h, w, full_h, full_w;
    int threads;
    float factor;
    if (!PyArg_ParseTuple(args, "OO!O!nnO!innf", &flow_obj, &PyList_Type, &srcs, &PyList_Type, &dsts, &h, &w,
                          &PyList_Type, &chans, &threads, &full_h, &full_w, &factor))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(srcs);
    if (n != PyList_GET_SIZE(dsts) || n != PyList_GET_SIZE(chans) || n < 1 || n > MAX_MAPS || h < 1 || w < 1) {
        PyErr_SetString(PyExc_ValueError, "warp: 1..16 maps with matching srcs/dsts/channels and h, w >= 1");
        return NULL;
    }
    Py_buffer fb, sb[MAX_MAPS], db[MAX_MAPS];
    int got = 0;
    PyObject *result = NULL;
    if (get_buffer(flow_obj, &fb, 0, "flow") != 0) return NULL;
    warp_ctx c;
    c.g.fx = NULL;
    c.g.tx0 = NULL;
    Py_ssize_t fh = fb.ndim == 3 ? fb.shape[0] : 0, fw = fb.ndim == 3 ? fb.shape[1] : 0;
    if (fb.ndim != 3 || fb.shape[2] != 2 || fb.itemsize != 4 || fh < 1 || fw < 1) {
        PyErr_SetString(PyExc_ValueError, "flow must be a float32 HxWx2 array");
        goto done;
    }
    if (grid_init(&c.g, (const float *)fb.buf, fh, fw, full_h, full_w, factor, h, w) != 0) goto done;
    c.n = (int)n;
    for (; got < n; got++) {
        if (get_buffer(PyList_GET_ITEM(srcs, got), &sb[got], 0, "src") != 0) goto done;
        if (get_buffer(PyList_GET_ITEM(dsts, got), &db[got], 1, "dst") != 0) { PyBuffer_Release(&sb[got]); goto done; }
        Py_ssize_t ch = PyLong_AsSsize_t(PyList_GET_ITEM(chans, got));
        if (ch < 1 || sb[got].itemsize != db[got].itemsize || sb[got].len != ch * h * w * sb[got].itemsize ||
            db[got].len != sb[got].len) {
            PyErr_SetString(PyExc_ValueError, "warp: each src/dst must hold channels x h x w items of one size");
            got++;
            goto done;
        }
        c.src[got] = sb[got].buf; c.dst[got] = db[got].buf;
        c.channels[got] = ch; c.itemsize[got] = sb[got].itemsize;
    }
    result = run_rows_released(warp_band, &c, h, threads);
done:
    grid_free(&c.g);
    for (int i = 0; i < got; i++) { PyBuffer_Release(&sb[i]); PyBuffer_Release(&db[i]); }
    PyBuffer_Release(&fb);
    return result;
}

/* ---- (b) IAM: M = [L_F != L_BF], L_B = L_F sampled by the forward flow, L_BF = L_B sampled by the backward flow ---- */

typedef struct {
    grid_t back, fwd;
    const uint8_t *lf;
    uint8_t *lb, *mask;
    Py_ssize_t counts[MAX_THREADS];
} iam_ctx;

SIMD_CLONES static void iam_back_band(void *p, Py_ssize_t y0, Py_ssize_t y1, int band) {
    iam_ctx *c = (iam_ctx *)p;
    Py_ssize_t w = c->fwd.w;
    (void)band;
    rows_t rows;
    int32_t *idx = band_buffers(&c->fwd, &rows);
    for (Py_ssize_t y = y0; y < y1; y++) {
        uint8_t *lb = c->lb + y * w;
        if (idx != NULL) {
            source_row(&c->fwd, &rows, y, idx);
            for (Py_ssize_t x = 0; x < w; x++) lb[x] = c->lf[idx[x]];
        } else {
            Py_ssize_t fy = grid_full_row(&c->fwd, y);
            for (Py_ssize_t x = 0; x < w; x++) lb[x] = c->lf[grid_source(&c->fwd, y, x, fy)];
        }
    }
    free(idx);
    rows_free(&rows);
}

SIMD_CLONES static void iam_mask_band(void *p, Py_ssize_t y0, Py_ssize_t y1, int band) {
    iam_ctx *c = (iam_ctx *)p;
    Py_ssize_t w = c->back.w, count = 0;
    rows_t rows;
    int32_t *idx = band_buffers(&c->back, &rows);
    for (Py_ssize_t y = y0; y < y1; y++) {
        const uint8_t *lf = c->lf + y * w;
        uint8_t *mask = c->mask + y * w;
        if (idx != NULL) {
            source_row(&c->back, &rows, y, idx);
            for (Py_ssize_t x = 0; x < w; x++) mask[x] = lf[x] != c->lb[idx[x]];
        } else {
            Py_ssize_t fy = grid_full_row(&c->back, y);
            for (Py_ssize_t x = 0; x < w; x++) mask[x] = lf[x] != c->lb[grid_source(&c->back, y, x, fy)];
        }
        for (Py_ssize_t x = 0; x < w; x++) count += mask[x];
    }
    free(idx);
    rows_free(&rows);
    c->counts[band] = count;
}

/* iam(labels_f u8 h x w, flow_back, flow_fwd, scratch u8 h x w, mask u8 h x w, threads, back_h, back_w, back_factor,
 * fwd_h, fwd_w, fwd_factor) -> inconsistent pixels; *_h 0 for a full-resolution flow, else it is coarse (grid_init) */
static PyObject *py_iam(PyObject *self, PyObject *args) {
    PyObject *obj[5];
    const char *names[5] = {"labels", "flow_back", "flow_fwd", "scratch", "mask"};
    int threads, got = 0;
    Py_ssize_t bh, bw, fh, fw;
    float bk, fk;
    if (!PyArg_ParseTuple(args, "OOOOOinnfnnf", &obj[0], &obj[1], &obj[2], &obj[3], &obj[4], &threads, &bh, &bw, &bk,
                          &fh, &fw, &fk))
        return NULL;
    Py_buffer b[5];
    PyObject *result = NULL;
    iam_ctx c;
    c.back.fx = c.fwd.fx = NULL;
    c.back.tx0 = c.fwd.tx0 = NULL;
    for (; got < 5; got++)
        if (get_buffer(obj[got], &b[got], got >= 3, names[got]) != 0) goto done;
    Py_buffer *lf = &b[0], *fb = &b[1], *ff = &b[2];
    if (lf->ndim != 2 || lf->itemsize != 1 || fb->ndim != 3 || ff->ndim != 3 || fb->itemsize != 4 || ff->itemsize != 4 ||
        fb->shape[2] != 2 || ff->shape[2] != 2 || b[3].len != lf->len || b[4].len != lf->len || lf->len < 1) {
        PyErr_SetString(PyExc_ValueError, "iam: uint8 HxW labels/scratch/mask and float32 HxWx2 flows");
        goto done;
    }
    Py_ssize_t h = lf->shape[0], w = lf->shape[1], total = 0;
    if (grid_init(&c.back, (const float *)fb->buf, fb->shape[0], fb->shape[1], bh, bw, bk, h, w) != 0) goto done;
    if (grid_init(&c.fwd, (const float *)ff->buf, ff->shape[0], ff->shape[1], fh, fw, fk, h, w) != 0) goto done;
    c.lf = lf->buf; c.lb = b[3].buf; c.mask = b[4].buf;
    memset(c.counts, 0, sizeof(c.counts));
    Py_BEGIN_ALLOW_THREADS
    parallel_rows(iam_back_band, &c, h, threads);
    parallel_rows(iam_mask_band, &c, h, threads);
    Py_END_ALLOW_THREADS
    for (int i = 0; i < MAX_THREADS; i++) total += c.counts[i];
    result = PyLong_FromSsize_t(total);
done:
    grid_free(&c.back);
    grid_free(&c.fwd);
    for (int i = 0; i < got; i++) PyBuffer_Release(&b[i]);
    return result;
}

/* ---- (c) masked blend + argmax: where M > 0, label = argmax_l M*Pr[l] + (1-M)*Pw[l] at the nearest 1/s pixel ---- */

typedef struct {
    const float *mask, *pr, *pw;
    uint8_t *labels;
    Py_ssize_t H, W, L, h, w;
    double sy, sx;
    Py_ssize_t counts[MAX_THREADS];
} blend_ctx;

static inline Py_ssize_t blend_source(Py_ssize_t i, double s, Py_ssize_t n) {
    Py_ssize_t r = (Py_ssize_t)floor(((double)i + 0.5) / s);
    return r > n - 1 ? n - 1 : r;
}

/* Pixel by pixel (the path when a band's row buffers cannot be had). */
static Py_ssize_t blend_pixels(const blend_ctx *c, Py_ssize_t y0, Py_ssize_t y1) {
    Py_ssize_t plane = c->h * c->w, count = 0;
    for (Py_ssize_t y = y0; y < y1; y++) {
        Py_ssize_t ry = blend_source(y, c->sy, c->h);
        for (Py_ssize_t x = 0; x < c->W; x++) {
            float m = c->mask[y * c->W + x];
            if (!(m > 0.0f)) continue;
            Py_ssize_t q = ry * c->w + blend_source(x, c->sx, c->w);
            float best = 0.0f, one_minus = 1.0f - m;
            int arg = 0;
            for (Py_ssize_t l = 0; l < c->L; l++) {
                float v = m * c->pr[l * plane + q] + one_minus * c->pw[l * plane + q];
                if (l == 0 || v > best) { best = v; arg = (int)l; }
            }
            c->labels[y * c->W + x] = (uint8_t)arg;
            count++;
        }
    }
    return count;
}

/* Row by row: the low-resolution row's probabilities are spread over the frame's columns once (consecutive rows
 * mostly share it), then each class is blended and compared over the whole row, branch-free loops that compilers
 * vectorise; the labels change only where M > 0. Per pixel the arithmetic and comparisons are blend_pixels'. */
SIMD_CLONES static void blend_band(void *p, Py_ssize_t y0, Py_ssize_t y1, int band) {
    blend_ctx *c = (blend_ctx *)p;
    Py_ssize_t W = c->W, L = c->L, plane = c->h * c->w, held = -1, count = 0;
    float *buf = malloc(sizeof(float) * (size_t)((2 * L + 1) * W));
    int32_t *ints = malloc(sizeof(int32_t) * (size_t)(2 * W));
    if (buf == NULL || ints == NULL) {
        free(buf);
        free(ints);
        c->counts[band] = blend_pixels(c, y0, y1);
        return;
    }
    float *spread_r = buf, *spread_w = buf + L * W, *best = buf + 2 * L * W;
    int32_t *rx = ints, *arg = ints + W;
    for (Py_ssize_t x = 0; x < W; x++) rx[x] = (int32_t)blend_source(x, c->sx, c->w);
    for (Py_ssize_t y = y0; y < y1; y++) {
        const float *restrict m = c->mask + y * W;
        Py_ssize_t ry = blend_source(y, c->sy, c->h), touched = 0;
        for (Py_ssize_t x = 0; x < W; x++) touched += m[x] > 0.0f;
        if (touched == 0) continue;
        count += touched;
        if (ry != held) {
            for (Py_ssize_t l = 0; l < L; l++) {
                const float *r = c->pr + l * plane + ry * c->w, *q = c->pw + l * plane + ry * c->w;
                for (Py_ssize_t x = 0; x < W; x++) {
                    spread_r[l * W + x] = r[rx[x]];
                    spread_w[l * W + x] = q[rx[x]];
                }
            }
            held = ry;
        }
        for (Py_ssize_t x = 0; x < W; x++) {
            best[x] = m[x] * spread_r[x] + (1.0f - m[x]) * spread_w[x];
            arg[x] = 0;
        }
        for (Py_ssize_t l = 1; l < L; l++) {
            const float *restrict a = spread_r + l * W, *restrict b = spread_w + l * W;
            float *restrict bst = best;
            int32_t *restrict at = arg, ll = (int32_t)l;
            for (Py_ssize_t x = 0; x < W; x++) {
                float v = m[x] * a[x] + (1.0f - m[x]) * b[x], o = bst[x];
                int32_t more = -(int32_t)(v > o);
                bst[x] = v > o ? v : o;
                at[x] = (ll & more) | (at[x] & ~more);
            }
        }
        uint8_t *out = c->labels + y * W;
        for (Py_ssize_t x = 0; x < W; x++) out[x] = m[x] > 0.0f ? (uint8_t)arg[x] : out[x];
    }
    free(buf);
    free(ints);
    c->counts[band] = count;
}

/* blend(mask f32 H x W, p_ref f32 L x h x w, p_warp f32 L x h x w, labels u8 H x W (in/out), threads) -> pixels */
static PyObject *py_blend(PyObject *self, PyObject *args) {
    PyObject *obj[4];
    const char *names[4] = {"mask", "p_refined", "p_warped", "labels"};
    int threads, got = 0;
    if (!PyArg_ParseTuple(args, "OOOOi", &obj[0], &obj[1], &obj[2], &obj[3], &threads)) return NULL;
    Py_buffer b[4];
    PyObject *result = NULL;
    for (; got < 4; got++)
        if (get_buffer(obj[got], &b[got], got == 3, names[got]) != 0) goto done;
    if (b[0].ndim != 2 || b[0].itemsize != 4 || b[1].ndim != 3 || b[1].itemsize != 4 || b[2].len != b[1].len ||
        b[3].ndim != 2 || b[3].itemsize != 1 || b[3].shape[0] != b[0].shape[0] || b[3].shape[1] != b[0].shape[1] ||
        b[1].shape[0] < 1 || b[1].shape[0] > 256 || b[0].len < 1 || b[1].len < 1) {
        PyErr_SetString(PyExc_ValueError, "blend: float32 HxW mask, float32 Lxhxw probabilities (L <= 256), uint8 HxW labels");
        goto done;
    }
    blend_ctx c;
    c.mask = b[0].buf; c.pr = b[1].buf; c.pw = b[2].buf; c.labels = b[3].buf;
    c.H = b[0].shape[0]; c.W = b[0].shape[1];
    c.L = b[1].shape[0]; c.h = b[1].shape[1]; c.w = b[1].shape[2];
    c.sy = (double)c.H / (double)c.h; c.sx = (double)c.W / (double)c.w;
    memset(c.counts, 0, sizeof(c.counts));
    Py_ssize_t total = 0;
    Py_BEGIN_ALLOW_THREADS
    parallel_rows(blend_band, &c, c.H, threads);
    Py_END_ALLOW_THREADS
    for (int i = 0; i < MAX_THREADS; i++) total += c.counts[i];
    result = PyLong_FromSsize_t(total);
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&b[i]);
    return result;
}

/* ---- (d) overlay: out = (rgb * (256 - a) + palette[label] * a + 128) >> 8 ---- */

typedef struct {
    const uint8_t *rgb, *labels, *palette;
    uint8_t *out;
    Py_ssize_t w;
    int a;
} overlay_ctx;

static void overlay_band(void *p, Py_ssize_t y0, Py_ssize_t y1, int band) {
    overlay_ctx *c = (overlay_ctx *)p;
    int a = c->a, keep = 256 - a;
    (void)band;
    for (Py_ssize_t i = y0 * c->w; i < y1 * c->w; i++) {
        const uint8_t *col = c->palette + 3 * c->labels[i];
        for (int k = 0; k < 3; k++)
            c->out[3 * i + k] = (uint8_t)((c->rgb[3 * i + k] * keep + col[k] * a + 128) >> 8);
    }
}

/* overlay(rgb u8 H x W x 3, labels u8 H x W, palette u8 256 x 3, out u8 H x W x 3, alpha 0..256, threads) */
static PyObject *py_overlay(PyObject *self, PyObject *args) {
    PyObject *obj[4];
    const char *names[4] = {"rgb", "labels", "palette", "out"};
    int a, threads, got = 0;
    if (!PyArg_ParseTuple(args, "OOOOii", &obj[0], &obj[1], &obj[2], &obj[3], &a, &threads)) return NULL;
    Py_buffer b[4];
    PyObject *result = NULL;
    for (; got < 4; got++)
        if (get_buffer(obj[got], &b[got], got == 3, names[got]) != 0) goto done;
    if (b[0].ndim != 3 || b[0].shape[2] != 3 || b[0].itemsize != 1 || b[1].ndim != 2 || b[1].itemsize != 1 ||
        b[1].shape[0] != b[0].shape[0] || b[1].shape[1] != b[0].shape[1] || b[2].len != 256 * 3 ||
        b[3].len != b[0].len || a < 0 || a > 256) {
        PyErr_SetString(PyExc_ValueError, "overlay: uint8 HxWx3 rgb/out, uint8 HxW labels, uint8 256x3 palette, alpha 0..256");
        goto done;
    }
    overlay_ctx c = {b[0].buf, b[1].buf, b[2].buf, b[3].buf, b[0].shape[1], a};
    result = run_rows_released(overlay_band, &c, b[0].shape[0], threads);
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&b[i]);
    return result;
}

/* ---- (e) bilinear upsampling of C x h x w scores fused with argmax (no C x H x W intermediate) ----
 * Per-axis source indices and weights come from the caller (reference.bilinear_axis), so both
 * implementations share them; v = (s[y0,x0]*a0 + s[y0,x1]*a1)*b0 + (s[y1,x0]*a0 + s[y1,x1]*a1)*b1. */

typedef struct {
    const float *scores, *ax0, *ax1, *by0, *by1;
    const int32_t *x0, *x1, *y0, *y1;
    uint8_t *out;
    Py_ssize_t c, h, w, ow;
} upargmax_ctx;

/* Pixel by pixel (the path when a band's row buffers cannot be had). */
static void upargmax_pixels(const upargmax_ctx *u, Py_ssize_t r0, Py_ssize_t r1) {
    Py_ssize_t plane = u->h * u->w;
    for (Py_ssize_t y = r0; y < r1; y++) {
        const float *row0 = u->scores + (Py_ssize_t)u->y0[y] * u->w, *row1 = u->scores + (Py_ssize_t)u->y1[y] * u->w;
        float b0 = u->by0[y], b1 = u->by1[y];
        uint8_t *out = u->out + y * u->ow;
        for (Py_ssize_t x = 0; x < u->ow; x++) {
            int32_t i0 = u->x0[x], i1 = u->x1[x];
            float a0 = u->ax0[x], a1 = u->ax1[x], best = 0.0f;
            int arg = 0;
            for (Py_ssize_t k = 0; k < u->c; k++) {
                const float *r = row0 + k * plane, *q = row1 + k * plane;
                float top = r[i0] * a0 + r[i1] * a1;
                float bottom = q[i0] * a0 + q[i1] * a1;
                float v = top * b0 + bottom * b1;
                if (k == 0 || v > best) {
                    best = v;
                    arg = (int)k;
                }
            }
            out[x] = (uint8_t)arg;
        }
    }
}

/* Source row `sy` of every class resized horizontally (c planes of ow floats), in a slot that does not evict `keep`. */
static ALWAYS_INLINE const float *upargmax_hrows(const upargmax_ctx *u, float *slots, Py_ssize_t *held, Py_ssize_t sy,
                                                 Py_ssize_t keep) {
    Py_ssize_t n = u->c * u->ow;
    int slot = held[0] == sy ? 0 : held[1] == sy ? 1 : -1;
    if (slot >= 0) return slots + slot * n;
    slot = held[0] == keep ? 1 : 0;
    float *out = slots + slot * n;
    const int32_t *restrict x0 = u->x0, *restrict x1 = u->x1;
    const float *restrict a0 = u->ax0, *restrict a1 = u->ax1;
    for (Py_ssize_t k = 0; k < u->c; k++) {
        const float *restrict r = u->scores + (k * u->h + sy) * u->w;
        float *restrict o = out + k * u->ow;
        for (Py_ssize_t x = 0; x < u->ow; x++) o[x] = r[x0[x]] * a0[x] + r[x1[x]] * a1[x];
    }
    held[slot] = sy;
    return out;
}

/* Row by row: the two source rows' horizontal passes are kept (consecutive output rows share them), then each class
 * is combined vertically and compared over the whole row, loops compilers vectorise. Per pixel the arithmetic and
 * the comparisons are upargmax_pixels' (first maximal class, NaN never wins after class 0). */
SIMD_CLONES static void upargmax_band(void *p, Py_ssize_t r0, Py_ssize_t r1, int band) {
    upargmax_ctx *u = (upargmax_ctx *)p;
    Py_ssize_t ow = u->ow, held[2] = {-1, -1};
    (void)band;
    float *slots = malloc(sizeof(float) * (size_t)(2 * u->c * ow + ow));
    int32_t *arg = malloc(sizeof(int32_t) * (size_t)ow);
    if (slots == NULL || arg == NULL) {
        free(slots);
        free(arg);
        upargmax_pixels(u, r0, r1);
        return;
    }
    float *best = slots + 2 * u->c * ow;
    for (Py_ssize_t y = r0; y < r1; y++) {
        const float *ha = upargmax_hrows(u, slots, held, u->y0[y], u->y1[y]);
        const float *hb = upargmax_hrows(u, slots, held, u->y1[y], u->y0[y]);
        float b0 = u->by0[y], b1 = u->by1[y];
        for (Py_ssize_t x = 0; x < ow; x++) {
            best[x] = ha[x] * b0 + hb[x] * b1;
            arg[x] = 0;
        }
        for (Py_ssize_t k = 1; k < u->c; k++) {
            const float *restrict ta = ha + k * ow, *restrict tb = hb + k * ow;
            float *restrict bst = best;
            int32_t *restrict at = arg, kk = (int32_t)k;
            for (Py_ssize_t x = 0; x < ow; x++) {
                float v = ta[x] * b0 + tb[x] * b1, b = bst[x];
                int32_t more = -(int32_t)(v > b); /* all ones where class k wins: a select without branches */
                bst[x] = v > b ? v : b;
                at[x] = (kk & more) | (at[x] & ~more);
            }
        }
        uint8_t *out = u->out + y * ow;
        for (Py_ssize_t x = 0; x < ow; x++) out[x] = (uint8_t)arg[x];
    }
    free(slots);
    free(arg);
}

/* upsample_argmax(scores f32 C x h x w, x0, x1 i32 W, ax0, ax1 f32 W, y0, y1 i32 H, by0, by1 f32 H, out u8 H x W, threads) */
static PyObject *py_upsample_argmax(PyObject *self, PyObject *args) {
    PyObject *obj[10];
    const char *names[10] = {"scores", "x0", "x1", "ax0", "ax1", "y0", "y1", "by0", "by1", "out"};
    int threads, got = 0;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOi", &obj[0], &obj[1], &obj[2], &obj[3], &obj[4], &obj[5], &obj[6], &obj[7],
                          &obj[8], &obj[9], &threads))
        return NULL;
    Py_buffer b[10];
    PyObject *result = NULL;
    for (; got < 10; got++)
        if (get_buffer(obj[got], &b[got], got == 9, names[got]) != 0) goto done;
    Py_ssize_t oh = b[9].ndim == 2 ? b[9].shape[0] : -1, ow = b[9].ndim == 2 ? b[9].shape[1] : -1;
    int ok = b[0].ndim == 3 && b[0].itemsize == 4 && b[0].shape[0] >= 1 && b[0].shape[0] <= 256 && b[9].itemsize == 1 && oh >= 0;
    for (int i = 1; ok && i < 9; i++) ok = b[i].ndim == 1 && b[i].itemsize == 4 && b[i].shape[0] == (i < 5 ? ow : oh);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "upsample_argmax: f32 CxHxW scores (C <= 256), 4-byte axis tables, uint8 HxW out");
        goto done;
    }
    Py_ssize_t h = b[0].shape[1], w = b[0].shape[2];
    const int32_t *tabs[4] = {b[1].buf, b[2].buf, b[5].buf, b[6].buf};
    for (int t = 0; t < 4; t++) {
        Py_ssize_t n = t < 2 ? ow : oh, hi = t < 2 ? w : h;
        for (Py_ssize_t i = 0; i < n; i++)
            if (tabs[t][i] < 0 || tabs[t][i] >= hi) {
                PyErr_SetString(PyExc_ValueError, "upsample_argmax: source index out of range");
                goto done;
            }
    }
    upargmax_ctx u = {b[0].buf, b[3].buf, b[4].buf, b[7].buf, b[8].buf, b[1].buf, b[2].buf, b[5].buf, b[6].buf,
                      b[9].buf, b[0].shape[0], h, w, ow};
    result = run_rows_released(upargmax_band, &u, oh, threads);
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&b[i]);
    return result;
}

/* ---- (f) pixel normalisation by table: out[k] = lut[k][rgb[src_k]], uint8 HxWx3 -> float32 3xHxW or HxWx3 ----
 * The caller computes lut (3 x 256) with the reference's float32 arithmetic, so the result is that
 * arithmetic exactly; here it is a gather and a transpose, no float maths (one pass instead of five). */

typedef struct {
    const uint8_t *rgb;
    const float *lut;
    float *out;
    Py_ssize_t w, plane;
    int planar, bgr;
} normalize_ctx;

static void normalize_band(void *p, Py_ssize_t y0, Py_ssize_t y1, int band) {
    normalize_ctx *c = (normalize_ctx *)p;
    (void)band;
    for (int k = 0; k < 3; k++) {
        const float *lut = c->lut + 256 * k;
        const uint8_t *src = c->rgb + (c->bgr ? 2 - k : k);
        if (c->planar) {
            float *dst = c->out + k * c->plane;
            for (Py_ssize_t i = y0 * c->w; i < y1 * c->w; i++) dst[i] = lut[src[3 * i]];
        } else {
            for (Py_ssize_t i = y0 * c->w; i < y1 * c->w; i++) c->out[3 * i + k] = lut[src[3 * i]];
        }
    }
}

/* normalize(rgb u8 H x W x 3, lut f32 3 x 256, out f32 (3 x H x W if planar else H x W x 3), planar, bgr, threads) */
static PyObject *py_normalize(PyObject *self, PyObject *args) {
    PyObject *obj[3];
    const char *names[3] = {"rgb", "lut", "out"};
    int planar, bgr, threads, got = 0;
    if (!PyArg_ParseTuple(args, "OOOiii", &obj[0], &obj[1], &obj[2], &planar, &bgr, &threads)) return NULL;
    Py_buffer b[3];
    PyObject *result = NULL;
    for (; got < 3; got++)
        if (get_buffer(obj[got], &b[got], got == 2, names[got]) != 0) goto done;
    if (b[0].ndim != 3 || b[0].shape[2] != 3 || b[0].itemsize != 1 || b[1].len != 3 * 256 * 4 || b[1].itemsize != 4 ||
        b[2].itemsize != 4 || b[2].len != b[0].len * 4) {
        PyErr_SetString(PyExc_ValueError, "normalize: uint8 HxWx3 rgb, float32 3x256 lut, float32 out of 3xHxW values");
        goto done;
    }
    normalize_ctx c = {b[0].buf, b[1].buf, b[2].buf, b[0].shape[1], b[0].shape[0] * b[0].shape[1], planar != 0, bgr != 0};
    result = run_rows_released(normalize_band, &c, b[0].shape[0], threads);
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&b[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"warp", py_warp, METH_VARARGS, "Nearest backward warp of several CxHxW maps by one flow (full-resolution or coarse)."},
    {"iam", py_iam, METH_VARARGS, "IAM forward-backward inconsistency mask; returns the inconsistent pixel count."},
    {"blend", py_blend, METH_VARARGS, "Masked blend of two probability maps + argmax where mask > 0; returns pixels touched."},
    {"overlay", py_overlay, METH_VARARGS, "Colour overlay of labels on an RGB frame."},
    {"upsample_argmax", py_upsample_argmax, METH_VARARGS, "Bilinear upsampling of CxHxW scores fused with argmax."},
    {"normalize", py_normalize, METH_VARARGS, "uint8 RGB -> float32 by a per-channel table, planar or interleaved."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", "edgeseg C propagation kernels", -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) {
    pthread_atfork(NULL, NULL, pool_after_fork);
    return PyModule_Create(&module);
}
