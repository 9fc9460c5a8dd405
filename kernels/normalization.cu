// gpudnn CUDA kernels: batch normalization of an (n, k) batch over its n rows, per feature.
// File format: see the top of activations.cu. The math: gpudnn/backend/normalization.py.
//
// The column kernels run one thread per feature j (size = threads = k, the strided kernels'
// convention of losses.cu, so a launch's size is its `threads`): thread j walks column j, whose
// elements x[r * k + j] neighbouring threads read at neighbouring addresses (coalesced). Each
// does a layer's whole forward or backward in one launch, two walks down the column: the column
// sums in double, rounded to T once, then the element-wise part, in the NumPy reference's order
// of operations. The row kernels (*_rows) are the same passes for a CPU.
//
// The training passes fuse the activation of an Activation layer that follows (act, alpha):
// the forward writes f(y), the backward takes the gradient through f from f's output. act is
// the index in normalization.FUSED_ACTIVATIONS: 0 linear, 1 relu, 2 sigmoid, 3 tanh,
// 4 leaky_relu, 5 elu, 6 selu, 7 softplus. bn_activate is activations.cu's *_fwd formula and
// bn_through_activation its *_bwd kernel's, operation for operation, so a fused pass gives the
// two layers' separate passes to the bit (tests/test_batchnorm_fusion.py checks every kind).

template <typename T>
__device__ __forceinline__ T bn_activate(const int act, const T value, const T alpha) {
  const T x = value + (T)0;  // as the activation kernels' zero bias: -0.0 becomes +0.0
  switch (act) {
    case 1: return x < (T)0 ? (T)0 : x;
    case 2: return (T)0.5 * (T)tanh((T)0.5 * x) + (T)0.5;
    case 3: return (T)tanh(x);
    case 4: return x < (T)0 ? (T)(alpha * x) : x;
    case 5: return x < (T)0 ? (T)(alpha * (T)expm1(x)) : x;
    case 6: return x < (T)0 ? (T)((T)1.0507009873554805 * (T)((T)1.6732632423543772 *
                                                                 (T)expm1(x)))
                            : (T)((T)1.0507009873554805 * x);
    case 7: return (x > (T)0 ? x : (T)0) + (T)log1p((T)exp(-(T)fabs(x)));
    default: return value;
  }
}

// dL/dx = dy f'(x), from f's output y = f(x)
template <typename T>
__device__ __forceinline__ T bn_through_activation(const int act, const T y, const T dy,
                                                   const T alpha) {
  switch (act) {
    case 1: return dy * (T)(y > (T)0);
    case 2: return dy * (((T)1 - y) * y);
    case 3: return dy * ((T)1 - y * y);
    case 4: return dy * (y > (T)0 ? (T)1 : alpha);
    case 5: return dy * (y > (T)0 ? (T)1 : (T)(y + alpha));
    case 6: return dy * (y > (T)0 ? (T)1.0507009873554805 : (T)(y + (T)1.7580993408473766));
    case 7: return dy * (T)(-(T)expm1(-y));
    default: return dy;
  }
}

// The batch's statistics of a column from its sums about a shift c (the column's first
// element, so that the sums stay small): s1 = sum (x - c), s2 = sum (x - c)^2, in double;
// mean = c + s1 / n and the biased variance s2 / n - (s1 / n)^2, floored at 0 (NaN kept).
__device__ __forceinline__ double bn_centred_mean(const double c, const double s1,
                                                  const double n) {
  return c + s1 / n;
}
__device__ __forceinline__ double bn_variance(const double s1, const double s2, const double n) {
  const double m = s1 / n;
  const double v = s2 / n - m * m;
  return v < 0.0 ? 0.0 : v;
}

// The row forms' passes (a CPU's), the activation a compile-time constant (ACT) so that the
// compiler vectorises each loop over the contiguous features.
//
// bn_column_sums: s1_j = sum_r t1(r, j) and s2_j = sum_r t2(r, j) in double, row by row as the
// reference adds them, for columns in blocks of B: a block's 2B sums stay in registers while
// its rows stream by, where sums kept in memory cost a load and a store per element (11.5
// against 18 us for a (128, 512) forward's sums). terms(e, j, a1, a2) adds element e's terms.
template <int B, typename Terms>
__device__ void bn_column_sums(const ptrdiff_t n, const int k, const Terms& terms, double* s1,
                               double* s2) {
  for (int j0 = 0; j0 < k; j0 += B) {
    const int width = k - j0 < B ? k - j0 : B;
    double a1[B], a2[B];
    for (int jj = 0; jj < B; ++jj) {
      a1[jj] = 0.0;
      a2[jj] = 0.0;
    }
    if (width == B) {  // a constant trip count: the block's sums live in vector registers
      for (ptrdiff_t r = 0; r < n; ++r) {
        for (int jj = 0; jj < B; ++jj) terms(r * k + j0 + jj, j0 + jj, a1[jj], a2[jj]);
      }
    } else {
      for (ptrdiff_t r = 0; r < n; ++r) {
        for (int jj = 0; jj < width; ++jj) terms(r * k + j0 + jj, j0 + jj, a1[jj], a2[jj]);
      }
    }
    for (int jj = 0; jj < width; ++jj) {
      s1[j0 + jj] = a1[jj];
      s2[j0 + jj] = a2[jj];
    }
  }
}

// The forward's terms: d = x - c with c the column's first element; t1 = d, t2 = d^2.
template <typename T>
struct bn_forward_terms {
  const T* x;
  __device__ void operator()(const ptrdiff_t e, const int j, double& a1, double& a2) const {
    const double d = (double)x[e] - (double)x[j];
    a1 += d;
    a2 += d * d;
  }
};

// The backward's terms: g = dy through the activation; t1 = g, t2 = g xhat.
template <int ACT, typename T>
struct bn_backward_terms {
  const T *x, *dy, *fy, *mean, *inv_std;
  T alpha;
  __device__ void operator()(const ptrdiff_t e, const int j, double& a1, double& a2) const {
    const T g = bn_through_activation(ACT, fy[e], dy[e], alpha);
    a1 += (double)g;
    a2 += (double)(g * ((x[e] - mean[j]) * inv_std[j]));
  }
};

// work: 5k doubles of work space, the column sums (2k doubles) then per-column factors in T
// (up to 3k), so that the element-wise loops read T, not a double converted per element (27
// against 19 us for a (128, 512) backward dx pass).
template <int ACT, typename T>
__device__ void bn_forward_rows(const T* __restrict__ x, const T* __restrict__ gamma,
                                const T* __restrict__ beta, const T momentum, const T epsilon,
                                const ptrdiff_t n, const int k, const T alpha, T* __restrict__ y,
                                T* __restrict__ mean, T* __restrict__ inv_std,
                                T* __restrict__ moving_mean, T* __restrict__ moving_var,
                                double* __restrict__ work) {
  double* s1 = work;
  double* s2 = work + k;
  T* a = reinterpret_cast<T*>(work + 2 * k);
  bn_column_sums<32>(n, k, bn_forward_terms<T>{x}, s1, s2);
  for (int j = 0; j < k; ++j) {
    const T m = (T)bn_centred_mean((double)x[j], s1[j], (double)n);
    const T v = (T)bn_variance(s1[j], s2[j], (double)n);
    const T s = (T)1 / (T)sqrt(v + epsilon);
    mean[j] = m;
    inv_std[j] = s;
    a[j] = s * gamma[j];
    moving_mean[j] = moving_mean[j] * momentum + m * ((T)1 - momentum);
    moving_var[j] = moving_var[j] * momentum + v * ((T)1 - momentum);
  }
  for (ptrdiff_t r = 0; r < n; ++r) {
    for (int j = 0; j < k; ++j) {
      y[r * k + j] = bn_activate(ACT, (T)((x[r * k + j] - mean[j]) * a[j] + beta[j]), alpha);
    }
  }
}

template <int ACT, typename T>
__device__ void bn_backward_rows(const T* __restrict__ x, const T* __restrict__ dy,
                                 const T* __restrict__ fy, const T* __restrict__ gamma,
                                 const T* __restrict__ mean, const T* __restrict__ inv_std,
                                 const ptrdiff_t n, const int k, const T alpha,
                                 const int want_dgamma, const int want_dbeta, const int want_dx,
                                 T* __restrict__ dgamma, T* __restrict__ dbeta,
                                 T* __restrict__ dx, double* __restrict__ work) {
  double* s1 = work;
  double* s2 = work + k;
  T* a = reinterpret_cast<T*>(work + 2 * k);  // a, b, scale: k each
  T* b = a + k;
  T* scale = b + k;
  bn_column_sums<32>(n, k, bn_backward_terms<ACT, T>{x, dy, fy, mean, inv_std, alpha}, s1, s2);
  for (int j = 0; j < k; ++j) {
    if (want_dbeta) dbeta[j] = (T)s1[j];
    if (want_dgamma) dgamma[j] = (T)s2[j];
    a[j] = (T)(s1[j] / (double)n);  // rounded to T as the column kernel does
    b[j] = (T)(s2[j] / (double)n);
    scale[j] = gamma[j] * inv_std[j];
  }
  if (want_dx) {
    for (ptrdiff_t r = 0; r < n; ++r) {
      for (int j = 0; j < k; ++j) {
        const ptrdiff_t e = r * k + j;
        const T g = bn_through_activation(ACT, fy[e], dy[e], alpha);
        dx[e] = (g - a[j] - ((x[e] - mean[j]) * inv_std[j]) * b[j]) * scale[j];
      }
    }
  }
}

// kernel: batchnorm_forward | in: raw T x, raw T gamma, raw T beta, T momentum, T epsilon, int64 n, int32 k, int64 threads, int32 act, T alpha | out: raw T y, raw T mean, raw T inv_std, raw T moving_mean, raw T moving_var | scalars: momentum, epsilon, n, k, threads, act, alpha
// Training: mean_j, var_j (biased) of column j from its sums about its first element;
// y = f((x - mean) (s gamma) + beta) with s = 1 / sqrt(var + epsilon) and f the fused
// activation; moving = moving momentum + batch (1 - momentum); mean and s kept for the backward
// pass. y must not be x.
const double c = (double)x[i];
double s1 = 0.0, s2 = 0.0;
for (ptrdiff_t r = 0; r < n; ++r) {
  const double d = (double)x[r * k + i] - c;
  s1 += d;
  s2 += d * d;
}
const T m = (T)bn_centred_mean(c, s1, (double)n);
const T v = (T)bn_variance(s1, s2, (double)n);
const T s = (T)1 / (T)sqrt(v + epsilon);
const T a = s * gamma[i];
for (ptrdiff_t r = 0; r < n; ++r) {
  y[r * k + i] = bn_activate(act, (T)((x[r * k + i] - m) * a + beta[i]), alpha);
}
mean[i] = m;
inv_std[i] = s;
moving_mean[i] = moving_mean[i] * momentum + m * ((T)1 - momentum);
moving_var[i] = moving_var[i] * momentum + v * ((T)1 - momentum);

// kernel: batchnorm_inference | in: T x, raw T gamma, raw T beta, raw T moving_mean, raw T moving_var, T epsilon, int32 k | out: T y | scalars: epsilon, k
// Inference, element-wise: y = (x - moving_mean) (gamma / sqrt(moving_var + epsilon)) + beta.
// y may be x.
const int j = i % k;
y = (x - moving_mean[j]) * (gamma[j] / (T)sqrt(moving_var[j] + epsilon)) + beta[j];

// kernel: batchnorm_backward | in: raw T x, raw T dy, raw T fy, raw T gamma, raw T mean, raw T inv_std, int64 n, int32 k, int64 threads, int32 want_dgamma, int32 want_dbeta, int32 want_dx, int32 act, T alpha | out: raw T dgamma, raw T dbeta, raw T dx | scalars: n, k, threads, want_dgamma, want_dbeta, want_dx, act, alpha
// Backward of the training forward, column j, with g = dL/d(bn output) (dy through the fused
// activation, from its output fy): dbeta = sum g, dgamma = sum g xhat with xhat = (x - mean)
// s; dx = (g - dbeta / n - xhat dgamma / n) (gamma s). The want_* flags leave out what the
// layer does not need (no beta, a first layer's dx).
const T m = mean[i];
const T s = inv_std[i];
double sum_g = 0.0, sum_g_xhat = 0.0;
for (ptrdiff_t r = 0; r < n; ++r) {
  const ptrdiff_t e = r * k + i;
  const T g = bn_through_activation(act, fy[e], dy[e], alpha);
  sum_g += (double)g;
  sum_g_xhat += (double)(g * ((x[e] - m) * s));
}
if (want_dbeta) {
  dbeta[i] = (T)sum_g;
}
if (want_dgamma) {
  dgamma[i] = (T)sum_g_xhat;
}
if (want_dx) {
  const T a = (T)(sum_g / (double)n);
  const T b = (T)(sum_g_xhat / (double)n);
  const T scale = gamma[i] * s;
  for (ptrdiff_t r = 0; r < n; ++r) {
    const ptrdiff_t e = r * k + i;
    const T g = bn_through_activation(act, fy[e], dy[e], alpha);
    dx[e] = (g - a - ((x[e] - m) * s) * b) * scale;
  }
}

// kernel: batchnorm_inference_backward | in: T dy, raw T gamma, raw T moving_var, T epsilon, int32 k | out: T dx | scalars: epsilon, k
// Backward of the inference forward (a frozen layer): dx = dy (gamma / sqrt(moving_var + eps)).
const int j = i % k;
dx = dy * (gamma[j] / (T)sqrt(moving_var[j] + epsilon));

// kernel: batchnorm_forward_rows | in: raw T x, raw T gamma, raw T beta, T momentum, T epsilon, int64 n, int32 k, int64 threads, int32 act, T alpha | out: raw T y, raw T mean, raw T inv_std, raw T moving_mean, raw T moving_var, raw float64 sums | scalars: momentum, epsilon, n, k, threads, act, alpha
// batchnorm_forward for a CPU (the compiled CPU backend's form; threads = 1): one thread walks
// the batch row by row, each pass a loop over the contiguous features that the compiler
// vectorises, where the column kernel's walk down each column defeats a CPU's caches. The
// same operations per element, the column sums in double in `sums` (5k doubles of work space).
switch (act) {
  case 1: bn_forward_rows<1>(&x[0], &gamma[0], &beta[0], momentum, epsilon, n, k, alpha, &y[0], &mean[0], &inv_std[0], &moving_mean[0], &moving_var[0], &sums[0]); break;
  case 2: bn_forward_rows<2>(&x[0], &gamma[0], &beta[0], momentum, epsilon, n, k, alpha, &y[0], &mean[0], &inv_std[0], &moving_mean[0], &moving_var[0], &sums[0]); break;
  case 3: bn_forward_rows<3>(&x[0], &gamma[0], &beta[0], momentum, epsilon, n, k, alpha, &y[0], &mean[0], &inv_std[0], &moving_mean[0], &moving_var[0], &sums[0]); break;
  case 4: bn_forward_rows<4>(&x[0], &gamma[0], &beta[0], momentum, epsilon, n, k, alpha, &y[0], &mean[0], &inv_std[0], &moving_mean[0], &moving_var[0], &sums[0]); break;
  case 5: bn_forward_rows<5>(&x[0], &gamma[0], &beta[0], momentum, epsilon, n, k, alpha, &y[0], &mean[0], &inv_std[0], &moving_mean[0], &moving_var[0], &sums[0]); break;
  case 6: bn_forward_rows<6>(&x[0], &gamma[0], &beta[0], momentum, epsilon, n, k, alpha, &y[0], &mean[0], &inv_std[0], &moving_mean[0], &moving_var[0], &sums[0]); break;
  case 7: bn_forward_rows<7>(&x[0], &gamma[0], &beta[0], momentum, epsilon, n, k, alpha, &y[0], &mean[0], &inv_std[0], &moving_mean[0], &moving_var[0], &sums[0]); break;
  default: bn_forward_rows<0>(&x[0], &gamma[0], &beta[0], momentum, epsilon, n, k, alpha, &y[0], &mean[0], &inv_std[0], &moving_mean[0], &moving_var[0], &sums[0]);
}

// kernel: batchnorm_backward_rows | in: raw T x, raw T dy, raw T fy, raw T gamma, raw T mean, raw T inv_std, int64 n, int32 k, int64 threads, int32 want_dgamma, int32 want_dbeta, int32 want_dx, int32 act, T alpha | out: raw T dgamma, raw T dbeta, raw T dx, raw float64 sums | scalars: n, k, threads, want_dgamma, want_dbeta, want_dx, act, alpha
// batchnorm_backward for a CPU, row by row as batchnorm_forward_rows; the same operations per
// element as the column kernel. sums: 5k doubles of work space.
switch (act) {
  case 1: bn_backward_rows<1>(&x[0], &dy[0], &fy[0], &gamma[0], &mean[0], &inv_std[0], n, k, alpha, want_dgamma, want_dbeta, want_dx, &dgamma[0], &dbeta[0], &dx[0], &sums[0]); break;
  case 2: bn_backward_rows<2>(&x[0], &dy[0], &fy[0], &gamma[0], &mean[0], &inv_std[0], n, k, alpha, want_dgamma, want_dbeta, want_dx, &dgamma[0], &dbeta[0], &dx[0], &sums[0]); break;
  case 3: bn_backward_rows<3>(&x[0], &dy[0], &fy[0], &gamma[0], &mean[0], &inv_std[0], n, k, alpha, want_dgamma, want_dbeta, want_dx, &dgamma[0], &dbeta[0], &dx[0], &sums[0]); break;
  case 4: bn_backward_rows<4>(&x[0], &dy[0], &fy[0], &gamma[0], &mean[0], &inv_std[0], n, k, alpha, want_dgamma, want_dbeta, want_dx, &dgamma[0], &dbeta[0], &dx[0], &sums[0]); break;
  case 5: bn_backward_rows<5>(&x[0], &dy[0], &fy[0], &gamma[0], &mean[0], &inv_std[0], n, k, alpha, want_dgamma, want_dbeta, want_dx, &dgamma[0], &dbeta[0], &dx[0], &sums[0]); break;
  case 6: bn_backward_rows<6>(&x[0], &dy[0], &fy[0], &gamma[0], &mean[0], &inv_std[0], n, k, alpha, want_dgamma, want_dbeta, want_dx, &dgamma[0], &dbeta[0], &dx[0], &sums[0]); break;
  case 7: bn_backward_rows<7>(&x[0], &dy[0], &fy[0], &gamma[0], &mean[0], &inv_std[0], n, k, alpha, want_dgamma, want_dbeta, want_dx, &dgamma[0], &dbeta[0], &dx[0], &sums[0]); break;
  default: bn_backward_rows<0>(&x[0], &dy[0], &fy[0], &gamma[0], &mean[0], &inv_std[0], n, k, alpha, want_dgamma, want_dbeta, want_dx, &dgamma[0], &dbeta[0], &dx[0], &sums[0]);
}
