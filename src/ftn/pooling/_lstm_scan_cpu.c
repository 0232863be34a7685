/* Fused scalar-LSTM recurrence over pooling windows, forward and backward, for the CPU.
 *
 * Compiled twice by cpu_kernel.py: REAL=float (suffix _f32) and REAL=double (suffix _f64).
 *
 * The kernel reads the input through its strides, so one code serves NCHW, channels_last (NHWC) and the
 * window-free (L, M) layout of lstm_scan, with no layout copy: x is (B, C, H, W) with element strides xs, cut into
 * non-overlapping kh x kw windows (output (B, C, Ho, Wo), window stride = window size), each window read in the
 * order perm[0..L-1] (row-major positions within the window). The (L, M) layout is the case B = 1, C = M,
 * H = L, W = 1 with one L x 1 window per channel.
 *
 * Window (b, c, ho, wo) has the NCHW index j = ((b * C + c) * Ho + ho) * Wo + wo and uses parameter column
 * (j / D) % S of the (12, S) block: S = 1 one unit; D = 1, S = Ho * Wo one unit per position (architecture 1);
 * D = Cg * Ho * Wo, S = G one unit per group of Cg channels (packs).
 *
 * Work is split in chunks: up to n_max windows of one output row (b, ho), ordered so that neighbouring lanes are
 * neighbours in memory (channel-fastest in NHWC, column-fastest in NCHW). The inner loops run over a chunk's lanes
 * and vectorise (expf via glibc's libmvec; the strided loads become gathers). The backward recomputes the forward
 * of its chunk and keeps its gates in a small per-thread scratch, so nothing but the input is saved between passes.
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

#define NMAX 256          /* lanes of a chunk at most */
#define SCRATCH 4096      /* L * lanes per scratch array: the backward's six arrays stay in L2 */
#define DENSE_MIN 16      /* channels at least, for a chunk of one window position's channels */
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

typedef struct { long b, c, h, w; } Strides;

typedef struct {
    long B, C, Ho, Wo, kh, kw, L, S, D, n_max;
    const long *perm;  /* L positions in the window, row-major (kh x kw), in scan order */
    REAL slope;
} Geometry;

/* One chunk's lanes: where each window starts in x, in the output (or its gradient) and in grad_x, and its unit. */
typedef struct {
    long n, col0;       /* lanes; the unit column of lane 0 */
    int ps;             /* 1: the lanes' units differ (read from pl), 0: every lane uses column col0 */
    int dense;          /* 1: lane l starts at ox[0] + l in x and og[0] + l in grad_x: rows are read in place */
    long ox[NMAX], oo[NMAX], og[NMAX], col[NMAX];
} Lanes;

/* Chunks split groups of lanes: the C channels of one window position where channels are contiguous and at least a
 * vector's worth (NHWC: the chunk is read in place), else all C * Wo windows of an output row (b, ho). */
static long group_len(const Geometry *g, int c_fast) { return c_fast && g->C >= DENSE_MIN ? g->C : g->C * g->Wo; }
static long chunks_per_group(const Geometry *g, int c_fast) { return (group_len(g, c_fast) + g->n_max - 1) / g->n_max; }
static long chunk_count(const Geometry *g, int c_fast) {
    return g->B * g->Ho * g->C * g->Wo / group_len(g, c_fast) * chunks_per_group(g, c_fast);
}

/* Lanes of chunk q, ordered so that neighbouring lanes are neighbours in memory (channel-fastest when c_fast). */
static void lanes_of(const Geometry *g, long q, Strides xs, Strides os, Strides gs, int c_fast, Lanes *ln) {
    long len = group_len(g, c_fast), pieces = chunks_per_group(g, c_fast), per_row = g->C * g->Wo / len;
    long group = q / pieces, l0 = (q % pieces) * g->n_max;
    long row = group / per_row, first = (group % per_row) * len + l0;  /* the chunk's first lane in its row */
    long b = row / g->Ho, ho = row % g->Ho;
    ln->n = len - l0 < g->n_max ? len - l0 : g->n_max;
    /* (c, wo) of the first lane, then stepped lane by lane: no division per lane in the common one-unit case */
    long c = c_fast ? first % g->C : first / g->Wo, wo = c_fast ? first / g->C : first % g->Wo;
    long base_x = b * xs.b + ho * g->kh * xs.h, base_g = b * gs.b + ho * g->kh * gs.h, base_o = b * os.b + ho * os.h;
    ln->ps = 0;
    ln->dense = 1;
    for (long l = 0; l < ln->n; l++) {
        ln->ox[l] = base_x + c * xs.c + wo * g->kw * xs.w;
        ln->og[l] = base_g + c * gs.c + wo * g->kw * gs.w;
        ln->oo[l] = base_o + c * os.c + wo * os.w;
        ln->col[l] = g->S == 1 ? 0 : ((((b * g->C + c) * g->Ho + ho) * g->Wo + wo) / g->D) % g->S;
        ln->ps |= ln->col[l] != ln->col[0];
        ln->dense &= ln->ox[l] == ln->ox[0] + l && ln->og[l] == ln->og[0] + l;
        if (c_fast) { if (++c == g->C) { c = 0; wo++; } }
        else if (++wo == g->Wo) { wo = 0; c++; }
    }
    ln->col0 = ln->col[0];
}

/* Row t of a chunk's inputs, contiguous over its lanes: in place when dense, else gathered into buf. */
static inline const REAL *x_row(const REAL *xt, const Lanes *ln, REAL *restrict buf) {
    if (ln->dense) return xt + ln->ox[0];
    for (long l = 0; l < ln->n; l++) buf[l] = xt[ln->ox[l]];
    return buf;
}

/* Offset of step t of a window in a tensor with strides s. */
static inline long step_offset(const Geometry *g, long t, Strides s) {
    long pos = g->perm[t];
    return (pos / g->kw) * s.h + (pos % g->kw) * s.w;
}

/* The 12 parameters of every lane, (12, NMAX), when they differ across the chunk. */
static void lane_params(const REAL *p, long S, const Lanes *ln, REAL *pl) {
    for (int k = 0; k < 12; k++)
        for (long l = 0; l < ln->n; l++) pl[k * NMAX + l] = p[k * S + ln->col[l]];
}

/* P(k): parameter k (gate * 3 + {w, r, b}) of lane l. ps is 0 or 1 at every call: always_inline makes a copy of
 * the loops for each, with the one-unit copy keeping its 12 parameters in registers. */
#define P(k) (ps ? pl[(k) * NMAX + l] : pc[k])
#define INLINE static inline __attribute__((always_inline))

/* Forward of one chunk; with a scratch (i, f, o, z_g, c_{t-1}, h_{t-1} per step and lane) it keeps what the backward
 * needs, else it writes h to out. */
INLINE void forward_chunk(const REAL *restrict x, const Geometry *g, Strides xs, const Lanes *ln, int ps,
                          const REAL *restrict pc, const REAL *restrict pl, REAL *restrict out,
                          REAL *restrict scratch) {
    REAL h[NMAX], c[NMAX], buf[NMAX];
    long n = ln->n, L = g->L, stride = L * g->n_max;
    REAL slope = g->slope;
    for (long l = 0; l < n; l++) h[l] = c[l] = 0;
    for (long t = 0; t < L; t++) {
        const REAL *restrict xt = x_row(x + step_offset(g, t, xs), ln, buf);
        REAL *st = scratch ? scratch + t * g->n_max : NULL;
#pragma omp simd
        for (long l = 0; l < n; l++) {
            REAL xv = xt[l], hv = h[l], cp = c[l];
            REAL i = sigmoid(P(0) * xv + P(1) * hv + P(2));
            REAL f = sigmoid(P(3) * xv + P(4) * hv + P(5));
            REAL o = sigmoid(P(6) * xv + P(7) * hv + P(8));
            REAL zg = P(9) * xv + P(10) * hv + P(11);
            REAL cv = i * leaky(zg, slope) + f * cp;
            if (st) {
                st[l] = i; st[stride + l] = f; st[2 * stride + l] = o;
                st[3 * stride + l] = zg; st[4 * stride + l] = cp; st[5 * stride + l] = hv;
            }
            c[l] = cv;
            h[l] = o * leaky(cv, slope);
        }
    }
    if (out)
        for (long l = 0; l < n; l++) out[ln->oo[l]] = h[l];
}

/* Backward of one chunk from its scratch: grad_x written, per-lane parameter gradients accumulated into acc. */
INLINE void backward_chunk(const REAL *restrict x, const Geometry *g, Strides xs, Strides gs, const Lanes *ln,
                           int ps, const REAL *restrict pc, const REAL *restrict pl, const REAL *restrict gout,
                           REAL *restrict gx, const REAL *restrict scratch, REAL *restrict acc) {
    REAL dh[NMAX], dc[NMAX], buf[NMAX], gbuf[NMAX];
    long n = ln->n, L = g->L, stride = L * g->n_max;
    REAL slope = g->slope;
    for (long l = 0; l < n; l++) { dh[l] = gout[ln->oo[l]]; dc[l] = 0; }
    for (long t = L - 1; t >= 0; t--) {
        const REAL *restrict xt = x_row(x + step_offset(g, t, xs), ln, buf);
        REAL *gx_t = gx + step_offset(g, t, gs), *restrict gxt = ln->dense ? gx_t + ln->og[0] : gbuf;
        const REAL *st = scratch + t * g->n_max;
#pragma omp simd
        for (long l = 0; l < n; l++) {
            REAL xv = xt[l];
            REAL i = st[l], f = st[stride + l], o = st[2 * stride + l];
            REAL zg = st[3 * stride + l], cp = st[4 * stride + l], hv = st[5 * stride + l];
            REAL gg = leaky(zg, slope), cv = i * gg + f * cp;
            REAL dcv = dc[l] + dh[l] * o * dleaky(cv, slope);
            REAL dzi = dcv * gg * i * (1 - i);
            REAL dzf = dcv * cp * f * (1 - f);
            REAL dzo = dh[l] * leaky(cv, slope) * o * (1 - o);
            REAL dzg = dcv * i * dleaky(zg, slope);
            gxt[l] = P(0) * dzi + P(3) * dzf + P(6) * dzo + P(9) * dzg;
            dh[l] = P(1) * dzi + P(4) * dzf + P(7) * dzo + P(10) * dzg;
            dc[l] = dcv * f;
            acc[0 * NMAX + l] += dzi * xv; acc[1 * NMAX + l] += dzi * hv; acc[2 * NMAX + l] += dzi;
            acc[3 * NMAX + l] += dzf * xv; acc[4 * NMAX + l] += dzf * hv; acc[5 * NMAX + l] += dzf;
            acc[6 * NMAX + l] += dzo * xv; acc[7 * NMAX + l] += dzo * hv; acc[8 * NMAX + l] += dzo;
            acc[9 * NMAX + l] += dzg * xv; acc[10 * NMAX + l] += dzg * hv; acc[11 * NMAX + l] += dzg;
        }
        if (!ln->dense)
            for (long l = 0; l < n; l++) gx_t[ln->og[l]] = gbuf[l];
    }
}

static Geometry geometry(long B, long C, long Ho, long Wo, long kh, long kw, const long *perm, long S, long D,
                         REAL slope) {
    long L = kh * kw, n_max = SCRATCH / L;
    n_max = n_max > NMAX ? NMAX : (n_max < 16 ? 16 : n_max - n_max % 16);
    Geometry g = {B, C, Ho, Wo, kh, kw, L, S, D, n_max, perm, slope};
    return g;
}

/* An op's stride array (B, C, H, W order) as Strides. */
static Strides strides_of(const long *s) { Strides t = {s[0], s[1], s[2], s[3]}; return t; }

/* Lanes channel-fastest when channels are closer in memory than the next window of a row (NHWC, (L, M)). */
static int channel_fast(Strides xs, long kw, long Wo) { return Wo == 1 || xs.c <= xs.w * kw; }

/* What forward and backward share: the geometry, x's strides, the lane order and the number of chunks. */
typedef struct {
    Geometry g;
    Strides xs;
    int c_fast;
    long nchunks;
} Plan;

static Plan plan(long B, long C, long Ho, long Wo, long kh, long kw, const long *perm, long S, long D, REAL slope,
                 const long *x_strides) {
    Plan pn = {geometry(B, C, Ho, Wo, kh, kw, perm, S, D, slope), strides_of(x_strides), 0, 0};
    pn.c_fast = channel_fast(pn.xs, kw, Wo);
    pn.nchunks = chunk_count(&pn.g, pn.c_fast);
    return pn;
}

/* Chunk q's lanes, its first unit's 12 parameters in pcol and, when the lanes' units differ, every lane's in pl. */
static void load_chunk(const Plan *pn, long q, Strides os, Strides gs, const REAL *p, Lanes *ln, REAL *pcol,
                       REAL *pl) {
    lanes_of(&pn->g, q, pn->xs, os, gs, pn->c_fast, ln);
    for (int k = 0; k < 12; k++) pcol[k] = p[k * pn->g.S + ln->col0];
    if (ln->ps) lane_params(p, pn->g.S, ln, pl);
}

void FN(lstm_pool_forward)(const REAL *x, const REAL *p, REAL *out, long B, long C, long Ho, long Wo, long kh,
                           long kw, const long *perm, long S, long D, REAL slope, const long *x_strides,
                           const long *out_strides, int nthreads) {
    Plan pn = plan(B, C, Ho, Wo, kh, kw, perm, S, D, slope, x_strides);
    Strides os = strides_of(out_strides);
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        Lanes *ln = malloc(sizeof(Lanes));
        REAL *pl = malloc(sizeof(REAL) * 12 * NMAX);
#pragma omp for schedule(static)
        for (long q = 0; q < pn.nchunks; q++) {
            REAL pcol[12];
            load_chunk(&pn, q, os, pn.xs, p, ln, pcol, pl);
            if (ln->ps)
                forward_chunk(x, &pn.g, pn.xs, ln, 1, pcol, pl, out, NULL);
            else
                forward_chunk(x, &pn.g, pn.xs, ln, 0, pcol, pl, out, NULL);
        }
        free(pl);
        free(ln);
    }
}

/* gp: (nthreads, 12, S) zero-initialised doubles, one slice per thread; summed by the caller. grad_x must be zero
 * where no window covers the input (a border cut off by the windows). */
void FN(lstm_pool_backward)(const REAL *x, const REAL *p, const REAL *gout, REAL *gx, double *gp, long B, long C,
                            long Ho, long Wo, long kh, long kw, const long *perm, long S, long D, REAL slope,
                            const long *x_strides, const long *gout_strides, const long *gx_strides,
                            int nthreads) {
    Plan pn = plan(B, C, Ho, Wo, kh, kw, perm, S, D, slope, x_strides);
    Strides os = strides_of(gout_strides), gs = strides_of(gx_strides);
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
        Lanes *ln = malloc(sizeof(Lanes));
        REAL *pl = malloc(sizeof(REAL) * 12 * NMAX), *acc = malloc(sizeof(REAL) * 12 * NMAX);
        REAL *scratch = malloc(sizeof(REAL) * 6 * pn.g.L * pn.g.n_max);
        double *mine = gp + (long)omp_get_thread_num() * 12 * S;
#pragma omp for schedule(static)
        for (long q = 0; q < pn.nchunks; q++) {
            REAL pcol[12];
            load_chunk(&pn, q, os, gs, p, ln, pcol, pl);
            for (long k = 0; k < 12 * NMAX; k++) acc[k] = 0;
            if (ln->ps) {
                forward_chunk(x, &pn.g, pn.xs, ln, 1, pcol, pl, NULL, scratch);
                backward_chunk(x, &pn.g, pn.xs, gs, ln, 1, pcol, pl, gout, gx, scratch, acc);
                for (int k = 0; k < 12; k++)
                    for (long l = 0; l < ln->n; l++) mine[k * S + ln->col[l]] += acc[k * NMAX + l];
            } else {
                forward_chunk(x, &pn.g, pn.xs, ln, 0, pcol, pl, NULL, scratch);
                backward_chunk(x, &pn.g, pn.xs, gs, ln, 0, pcol, pl, gout, gx, scratch, acc);
                for (int k = 0; k < 12; k++) {
                    REAL sum = 0;
                    for (long l = 0; l < ln->n; l++) sum += acc[k * NMAX + l];
                    mine[k * S + ln->col0] += sum;
                }
            }
        }
        free(scratch);
        free(acc);
        free(pl);
        free(ln);
    }
}
