/* Training-mode batch norm fused with its activation (SiLU or ReLU), for channels_last float32.
 *
 * A channels_last N x C x H x W tensor is an M x C row-major matrix (M = N*H*W), so every pass
 * below streams rows and vectorises over the contiguous channels. PyTorch runs batch norm and the
 * activation as separate kernels: forward 3 reads + 2 writes of the map, backward 6 reads +
 * 2 writes. Fused, the forward is 2 reads + 1 write and the backward 4 reads + 2 writes, one of
 * them in place.
 *
 * Reductions are per-thread partial sums (float within blocks of rows, double across blocks) over
 * fixed row ranges, added in thread order, so for a given thread count the result is the same on
 * every run. Built and loaded by effsearch/fastbn.py.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

/* Rows per float partial sum before it is added into double: float's speed (16 lanes, no
 * conversions) with double's accuracy over the 10^5-10^6 rows of a batch. */
#define BLOCK 32

/* exp(x) for float, vectorisable: x = n ln2 + r with |r| <= ln2 / 2, e^r by its degree-7 Taylor
 * polynomial (relative error below 6e-9, under one float ulp), times 2^n built in the exponent bits.
 * Ternaries rather than fminf/fmaxf, whose NaN rules keep gcc from vectorising them. */
static inline float exp_approx(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float n = floorf(x * 1.44269504f + 0.5f);
    float r = x - n * 0.693145752f - n * 1.42860677e-6f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float act_fwd(float z, int relu) {
    return relu ? (z > 0.0f ? z : 0.0f) : z / (1.0f + exp_approx(-z));
}

/* d act(z) / dz */
static inline float act_grad(float z, int relu) {
    if (relu) return z > 0.0f ? 1.0f : 0.0f;
    float s = 1.0f / (1.0f + exp_approx(-z));
    return s * (1.0f + z * (1.0f - s));
}

/* Row range of thread t of T over M rows. */
static inline void rows_of(int64_t M, int t, int T, int64_t *lo, int64_t *hi) {
    int64_t chunk = (M + T - 1) / T;
    *lo = t * chunk < M ? t * chunk : M;
    *hi = *lo + chunk < M ? *lo + chunk : M;
}

/* Per-thread workspace (2C doubles of partial sums and 2C floats of block sums per thread) and the
 * reduced result, out: sums of the first quantity in out[0:C], of the second in out[C:2C]. */
typedef struct {
    int threads;
    double *sums;
    float *block;
    double *out;
} Partials;

static int partials_alloc(Partials *p, int64_t C) {
    p->threads = omp_get_max_threads();
    p->sums = calloc((size_t)p->threads * 2 * C, sizeof(double));
    p->block = calloc((size_t)p->threads * 2 * C, sizeof(float));
    p->out = calloc((size_t)2 * C, sizeof(double));
    if (p->sums && p->block && p->out) return 0;
    free(p->sums);
    free(p->block);
    free(p->out);
    return 1;
}

/* Adds the per-thread partials in thread order into p->out and frees them (p->out stays). */
static void partials_reduce(Partials *p, int64_t C) {
    for (int t = 0; t < p->threads; t++)
        for (int64_t c = 0; c < 2 * C; c++) p->out[c] += p->sums[t * 2 * C + c];
    free(p->sums);
    free(p->block);
}

static void flush_block(double *restrict s, double *restrict q, float *restrict fs, float *restrict fq, int64_t C) {
    for (int64_t c = 0; c < C; c++) {
        s[c] += fs[c];
        q[c] += fq[c];
        fs[c] = 0.0f;
        fq[c] = 0.0f;
    }
}

/* The helpers take restrict pointers so that gcc vectorises over channels (through OpenMP's
 * shared-variable struct it cannot prove the arrays apart). */

static void sum_rows(const float *restrict x, int64_t lo, int64_t hi, int64_t C, double *restrict s,
                     double *restrict q, float *restrict fs, float *restrict fq) {
    for (int64_t start = lo; start < hi; start += BLOCK) {
        int64_t end = start + BLOCK < hi ? start + BLOCK : hi;
        for (int64_t m = start; m < end; m++) {
            const float *restrict row = x + m * C;
            for (int64_t c = 0; c < C; c++) {
                fs[c] += row[c];
                fq[c] += row[c] * row[c];
            }
        }
        flush_block(s, q, fs, fq, C);
    }
}

static void forward_rows(const float *restrict x, float *restrict y, int64_t lo, int64_t hi, int64_t C,
                         const float *restrict mu, const float *restrict a, const float *restrict b, int relu) {
    for (int64_t m = lo; m < hi; m++) {
        const float *restrict row = x + m * C;
        float *restrict out = y + m * C;
        if (relu) {
            for (int64_t c = 0; c < C; c++) out[c] = act_fwd((row[c] - mu[c]) * a[c] + b[c], 1);
        } else {
            for (int64_t c = 0; c < C; c++) out[c] = act_fwd((row[c] - mu[c]) * a[c] + b[c], 0);
        }
    }
}

/* Stores dz = g * act'(z) in dz and accumulates its sum and the sum of dz * (x - mu). */
static void grad_rows(const float *restrict g, const float *restrict x, float *restrict dz, int64_t lo, int64_t hi,
                      int64_t C, const float *restrict mu, const float *restrict a, const float *restrict b, int relu,
                      double *restrict s, double *restrict q, float *restrict fs, float *restrict fq) {
    for (int64_t start = lo; start < hi; start += BLOCK) {
        int64_t end = start + BLOCK < hi ? start + BLOCK : hi;
        for (int64_t m = start; m < end; m++) {
            const float *restrict gr = g + m * C, *restrict xr = x + m * C;
            float *restrict out = dz + m * C;
            if (relu) {
                for (int64_t c = 0; c < C; c++) {
                    float xc = xr[c] - mu[c];
                    float d = gr[c] * act_grad(xc * a[c] + b[c], 1);
                    out[c] = d;
                    fs[c] += d;
                    fq[c] += d * xc;
                }
            } else {
                for (int64_t c = 0; c < C; c++) {
                    float xc = xr[c] - mu[c];
                    float d = gr[c] * act_grad(xc * a[c] + b[c], 0);
                    out[c] = d;
                    fs[c] += d;
                    fq[c] += d * xc;
                }
            }
        }
        flush_block(s, q, fs, fq, C);
    }
}

/* In place: dz becomes a * (dz - mean_dz) - k * (x - mu), batch norm's input gradient. */
static void input_grad_rows(const float *restrict x, float *restrict dz, int64_t lo, int64_t hi, int64_t C,
                            const float *restrict mu, const float *restrict a, const float *restrict mean_dz,
                            const float *restrict k) {
    for (int64_t m = lo; m < hi; m++) {
        const float *restrict xr = x + m * C;
        float *restrict d = dz + m * C;
        for (int64_t c = 0; c < C; c++) d[c] = a[c] * (d[c] - mean_dz[c]) - k[c] * (xr[c] - mu[c]);
    }
}

/* Forward in training mode: batch statistics, y = act((x - mu) * invstd * weight + bias), and the
 * running estimates updated PyTorch's way (biased variance to normalise, unbiased for the estimate;
 * running_mean NULL skips it). Writes mu, a = invstd * weight and invstd (C floats each) for the
 * backward. Returns nonzero when out of memory. */
int bn_act_train_forward(const float *x, float *y, int64_t M, int64_t C, const float *weight, const float *bias,
                         double eps, double momentum, float *running_mean, float *running_var, float *mu, float *a,
                         float *invstd, int relu) {
    Partials p;
    if (partials_alloc(&p, C)) return 1;
    #pragma omp parallel num_threads(p.threads)
    {
        int t = omp_get_thread_num();
        int64_t lo, hi;
        rows_of(M, t, omp_get_num_threads(), &lo, &hi);
        sum_rows(x, lo, hi, C, p.sums + t * 2 * C, p.sums + t * 2 * C + C, p.block + t * 2 * C, p.block + t * 2 * C + C);
    }
    partials_reduce(&p, C);
    const double *sums = p.out;
    for (int64_t c = 0; c < C; c++) {
        double mean = sums[c] / M, var = sums[C + c] / M - mean * mean;
        var = var > 0.0 ? var : 0.0;
        double inv = 1.0 / sqrt(var + eps);
        mu[c] = (float)mean;
        invstd[c] = (float)inv;
        a[c] = (float)(inv * weight[c]);
        if (running_mean) {
            double unbiased = M > 1 ? var * M / (M - 1) : var;
            running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
            running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
        }
    }
    free(p.out);
    #pragma omp parallel
    {
        int64_t lo, hi;
        rows_of(M, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        forward_rows(x, y, lo, hi, C, mu, a, bias, relu);
    }
    return 0;
}

/* Backward: dx (M x C, may not alias g or x) and the weight and bias gradients (C floats each),
 * from the upstream gradient g and what the forward saved. Returns nonzero when out of memory. */
int bn_act_train_backward(const float *g, const float *x, float *dx, int64_t M, int64_t C, const float *mu,
                          const float *a, const float *bias, const float *invstd, int relu, float *dweight,
                          float *dbias) {
    Partials p;
    float *coef = malloc(sizeof(float) * 2 * C);
    if (!coef || partials_alloc(&p, C)) {
        free(coef);
        return 1;
    }
    #pragma omp parallel num_threads(p.threads)
    {
        int t = omp_get_thread_num();
        int64_t lo, hi;
        rows_of(M, t, omp_get_num_threads(), &lo, &hi);
        grad_rows(g, x, dx, lo, hi, C, mu, a, bias, relu, p.sums + t * 2 * C, p.sums + t * 2 * C + C,
                  p.block + t * 2 * C, p.block + t * 2 * C + C);
    }
    partials_reduce(&p, C);
    const double *sums = p.out;
    float *mean_dz = coef, *k = coef + C;
    for (int64_t c = 0; c < C; c++) {
        double sum_dz = sums[c], sum_dz_xhat = sums[C + c] * invstd[c];
        dbias[c] = (float)sum_dz;
        dweight[c] = (float)sum_dz_xhat;
        mean_dz[c] = (float)(sum_dz / M);
        k[c] = (float)((double)a[c] * invstd[c] * sum_dz_xhat / M);
    }
    free(p.out);
    #pragma omp parallel
    {
        int64_t lo, hi;
        rows_of(M, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        input_grad_rows(x, dx, lo, hi, C, mu, a, mean_dz, k);
    }
    free(coef);
    return 0;
}

/* Threads a parallel region started now would use: torch's, since this library shares its OpenMP
 * runtime (see kernel_threads in bn_act.py). */
int bn_act_threads(void) {
    return omp_get_max_threads();
}
