/* Fused scalar-LSTM recurrence over pooling windows, forward and backward, for the CPU.
 *
 * Compiled twice by cpu_kernel.py: REAL=float (suffix _f32) and REAL=double (suffix _f64).
 * Layout: x is (L, M) contiguous, and window j uses parameter column (j / D) % S of the (12, S)
 * parameter block: S = 1 is one shared unit; D = 1 and S > 1 one unit per position (window j = n * S + s
 * uses column s); D > 1 one unit per run of D consecutive windows, e.g. per channel group, whose windows
 * are D = channels_per_group * H_out * W_out consecutive ones. Windows are processed in chunks of
 * CHUNK so that the inner loops run over contiguous windows and vectorise (expf via
 * glibc's libmvec). The backward recomputes the forward for its chunk
 * into a small per-thread scratch instead of keeping gates alive between passes.
 */
#include <math.h>
#include <stdlib.h>
#include <omp.h>

/* glibc's math.h declares the vector variants of exp (libmvec) only under __FAST_MATH__, i.e. only
 * with -ffinite-math-only, which would let gcc drop NaN handling: a NaN gate would then give a
 * finite h where the reference gives NaN. Declaring them here keeps the loops vectorised with NaN
 * semantics intact (libmvec handles NaN and inf inputs on its scalar fallback path). */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((__simd__("notinbranch"))) float expf(float);
__attribute__((__simd__("notinbranch"))) double exp(double);
#endif

#define CHUNK 256
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define FN(name) CAT(name, SUFFIX)

/* Clamp so exp(-z) stays finite (sigmoid is already 0 there); a NaN z fails the test and stays NaN. */
static inline REAL sigmoid(REAL z) {
    z = z < -EXP_LIMIT ? -EXP_LIMIT : z;
    return (REAL)1 / ((REAL)1 + EXP(-z));
}
static inline REAL leaky(REAL z, REAL slope) { return z > 0 ? z : slope * z; }
static inline REAL dleaky(REAL z, REAL slope) { return z > 0 ? (REAL)1 : slope; }

/* Parameter k (0..11: gate*3 + {w,r,b}) of window s inside a chunk; ps is 0 or 1. */
#define P(k) p[(k) * S + ps * s]

/* One chunk forward. Stores h_{t-1} and c_{t-1} for every step if hs/cs are given. */
static inline void forward_chunk(const REAL *restrict x, long M, long L, const REAL *restrict p, long S, int ps,
                                 long j0, long n, REAL slope, REAL *restrict out, REAL *restrict hs,
                                 REAL *restrict cs) {
    REAL h[CHUNK], c[CHUNK];
    for (long s = 0; s < n; s++) h[s] = c[s] = 0;
    for (long t = 0; t < L; t++) {
        const REAL *xt = x + t * M + j0;
        if (hs) {
            for (long s = 0; s < n; s++) { hs[t * CHUNK + s] = h[s]; cs[t * CHUNK + s] = c[s]; }
        }
#pragma omp simd
        for (long s = 0; s < n; s++) {
            REAL xv = xt[s], hv = h[s];
            REAL i = sigmoid(P(0) * xv + P(1) * hv + P(2));
            REAL f = sigmoid(P(3) * xv + P(4) * hv + P(5));
            REAL o = sigmoid(P(6) * xv + P(7) * hv + P(8));
            REAL g = leaky(P(9) * xv + P(10) * hv + P(11), slope);
            REAL cv = i * g + f * c[s];
            c[s] = cv;
            h[s] = o * leaky(cv, slope);
        }
    }
    if (out) for (long s = 0; s < n; s++) out[j0 + s] = h[s];
}

/* One chunk backward: gx (L, M) is written, gp (12, S) doubles accumulated. */
static inline void backward_chunk(const REAL *restrict x, long M, long L, const REAL *restrict p, long S, int ps,
                                  long j0, long n, REAL slope, const REAL *restrict gout,
                                  REAL *restrict gx, double *restrict gp, REAL *restrict hs, REAL *restrict cs) {
    REAL dh[CHUNK], dc[CHUNK];
    REAL acc[12][CHUNK];
    forward_chunk(x, M, L, p, S, ps, j0, n, slope, NULL, hs, cs);
    for (long s = 0; s < n; s++) { dh[s] = gout[j0 + s]; dc[s] = 0; }
    for (int k = 0; k < 12; k++) for (long s = 0; s < n; s++) acc[k][s] = 0;
    for (long t = L - 1; t >= 0; t--) {
        const REAL *xt = x + t * M + j0;
        REAL *gxt = gx + t * M + j0;
#pragma omp simd
        for (long s = 0; s < n; s++) {
            REAL xv = xt[s], hv = hs[t * CHUNK + s], cp = cs[t * CHUNK + s];
            REAL i = sigmoid(P(0) * xv + P(1) * hv + P(2));
            REAL f = sigmoid(P(3) * xv + P(4) * hv + P(5));
            REAL o = sigmoid(P(6) * xv + P(7) * hv + P(8));
            REAL zg = P(9) * xv + P(10) * hv + P(11);
            REAL g = leaky(zg, slope);
            REAL cv = i * g + f * cp;
            REAL dcv = dc[s] + dh[s] * o * dleaky(cv, slope);
            REAL dzi = dcv * g * i * (1 - i);
            REAL dzf = dcv * cp * f * (1 - f);
            REAL dzo = dh[s] * leaky(cv, slope) * o * (1 - o);
            REAL dzg = dcv * i * dleaky(zg, slope);
            gxt[s] = P(0) * dzi + P(3) * dzf + P(6) * dzo + P(9) * dzg;
            dh[s] = P(1) * dzi + P(4) * dzf + P(7) * dzo + P(10) * dzg;
            dc[s] = dcv * f;
            acc[0][s] += dzi * xv; acc[1][s] += dzi * hv; acc[2][s] += dzi;
            acc[3][s] += dzf * xv; acc[4][s] += dzf * hv; acc[5][s] += dzf;
            acc[6][s] += dzo * xv; acc[7][s] += dzo * hv; acc[8][s] += dzo;
            acc[9][s] += dzg * xv; acc[10][s] += dzg * hv; acc[11][s] += dzg;
        }
    }
    for (int k = 0; k < 12; k++) {
        if (ps) {
            for (long s = 0; s < n; s++) gp[k * S + s] += acc[k][s];
        } else {
            REAL sum = 0;
            for (long s = 0; s < n; s++) sum += acc[k][s];
            gp[k * S] += sum;
        }
    }
}

/* Chunks never straddle two rows: a row is S positions (D = 1, S > 1), each chunk's windows using columns
 * s0 .. s0+n-1 (ps = 1); or D windows of one unit, column row % S (ps = 0); or all M windows of the one unit. */
#define FOR_EACH_CHUNK(BODY)                                                          \
    int ps = D == 1 && S > 1;                                                         \
    long row_len = D > 1 ? D : (S > 1 ? S : M);                                       \
    long rows = M / row_len;                                                          \
    long chunks_per_row = (row_len + CHUNK - 1) / CHUNK;                              \
    long nchunks = rows * chunks_per_row;                                             \
    _Pragma("omp for schedule(static)")                                               \
    for (long q = 0; q < nchunks; q++) {                                              \
        long row = q / chunks_per_row, s0 = (q % chunks_per_row) * CHUNK;             \
        long n = row_len - s0 < CHUNK ? row_len - s0 : CHUNK;                         \
        long j0 = row * row_len + s0;                                                 \
        long col = ps ? s0 : (D > 1 ? row % S : 0);                                   \
        const REAL *pc = p + col;                                                     \
        BODY                                                                          \
    }

void FN(lstm_scan_forward)(const REAL *x, const REAL *p, REAL *out, long L, long M, long S, long D,
                          REAL slope, int nthreads) {
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        FOR_EACH_CHUNK(
            if (ps) forward_chunk(x, M, L, pc, S, 1, j0, n, slope, out, NULL, NULL);
            else forward_chunk(x, M, L, pc, S, 0, j0, n, slope, out, NULL, NULL);
        )
    }
}

/* gp: (nthreads, 12, S) zero-initialised doubles, one slice per thread; summed by the caller. */
void FN(lstm_scan_backward)(const REAL *x, const REAL *p, const REAL *gout, REAL *gx, double *gp,
                           long L, long M, long S, long D, REAL slope, int nthreads) {
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        REAL *hs = malloc(sizeof(REAL) * L * CHUNK), *cs = malloc(sizeof(REAL) * L * CHUNK);
        double *mine = gp + (long)omp_get_thread_num() * 12 * S;
        FOR_EACH_CHUNK(
            if (ps) backward_chunk(x, M, L, pc, S, 1, j0, n, slope, gout, gx, mine + col, hs, cs);
            else backward_chunk(x, M, L, pc, S, 0, j0, n, slope, gout, gx, mine + col, hs, cs);
        )
        free(hs);
        free(cs);
    }
}
