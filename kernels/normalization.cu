// gpudnn CUDA kernels: batch normalization of an (n, k) batch over its n rows, per feature.
// File format: see the top of activations.cu. The math: gpudnn/backend/normalization.py.
//
// The column kernels run one thread per feature j (size = threads = k, the strided kernels'
// convention of losses.cu, so a launch's size is its `threads`): thread j walks column j, whose
// elements x[r * k + j] neighbouring threads read at neighbouring addresses (coalesced). Each
// does a layer's whole forward or backward in one launch: the column sums in double, rounded to
// T once, then the element-wise part, in the NumPy reference's order of operations.

// kernel: batchnorm_forward | in: raw T x, raw T gamma, raw T beta, T momentum, T epsilon, int64 n, int32 k, int64 threads | out: raw T y, raw T mean, raw T inv_std, raw T moving_mean, raw T moving_var | scalars: momentum, epsilon, n, k, threads
// Training: mean_j, var_j (biased) of column j; y = (x - mean) (s gamma) + beta with
// s = 1 / sqrt(var + epsilon); moving = moving momentum + batch (1 - momentum); mean and s kept
// for the backward pass. y must not be x.
double sum = 0.0;
for (ptrdiff_t r = 0; r < n; ++r) {
  sum += (double)x[r * k + i];
}
const T m = (T)(sum / (double)n);
double squares = 0.0;
for (ptrdiff_t r = 0; r < n; ++r) {
  const double d = (double)(x[r * k + i] - m);
  squares += d * d;
}
const T v = (T)(squares / (double)n);
const T s = (T)1 / (T)sqrt(v + epsilon);
const T a = s * gamma[i];
for (ptrdiff_t r = 0; r < n; ++r) {
  y[r * k + i] = (x[r * k + i] - m) * a + beta[i];
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

// kernel: batchnorm_backward | in: raw T x, raw T dy, raw T gamma, raw T mean, raw T inv_std, int64 n, int32 k, int64 threads, int32 want_dgamma, int32 want_dbeta, int32 want_dx | out: raw T dgamma, raw T dbeta, raw T dx | scalars: n, k, threads, want_dgamma, want_dbeta, want_dx
// Backward of the training forward, column j: dbeta = sum dy, dgamma = sum dy xhat with
// xhat = (x - mean) s; dx = (dy - dbeta / n - xhat dgamma / n) (gamma s). The want_* flags
// leave out what the layer does not need (no beta, a first layer's dx).
const T m = mean[i];
const T s = inv_std[i];
double sum_dy = 0.0, sum_dy_xhat = 0.0;
for (ptrdiff_t r = 0; r < n; ++r) {
  const T g = dy[r * k + i];
  sum_dy += (double)g;
  sum_dy_xhat += (double)(g * ((x[r * k + i] - m) * s));
}
if (want_dbeta) {
  dbeta[i] = (T)sum_dy;
}
if (want_dgamma) {
  dgamma[i] = (T)sum_dy_xhat;
}
if (want_dx) {
  const T a = (T)(sum_dy / (double)n);
  const T b = (T)(sum_dy_xhat / (double)n);
  const T scale = gamma[i] * s;
  for (ptrdiff_t r = 0; r < n; ++r) {
    const ptrdiff_t e = r * k + i;
    dx[e] = (dy[e] - a - ((x[e] - m) * s) * b) * scale;
  }
}

// kernel: batchnorm_inference_backward | in: T dy, raw T gamma, raw T moving_var, T epsilon, int32 k | out: T dx | scalars: epsilon, k
// Backward of the inference forward (a frozen layer): dx = dy (gamma / sqrt(moving_var + eps)).
const int j = i % k;
dx = dy * (gamma[j] / (T)sqrt(moving_var[j] + epsilon));

// kernel: batchnorm_forward_rows | in: raw T x, raw T gamma, raw T beta, T momentum, T epsilon, int64 n, int32 k, int64 threads | out: raw T y, raw T mean, raw T inv_std, raw T moving_mean, raw T moving_var, raw float64 sums | scalars: momentum, epsilon, n, k, threads
// batchnorm_forward for a CPU (the compiled CPU backend's form; threads = 1): one thread walks
// the batch row by row, each pass a loop over the contiguous features that the compiler
// vectorises, where the column kernel's walk down each column defeats a CPU's caches. The
// same operations per element, the column sums in double in `sums` (2k doubles of work space).
for (int j = 0; j < k; ++j) {
  sums[j] = 0.0;
  sums[k + j] = 0.0;
}
for (ptrdiff_t r = 0; r < n; ++r) {
  for (int j = 0; j < k; ++j) {
    sums[j] += (double)x[r * k + j];
  }
}
for (int j = 0; j < k; ++j) {
  mean[j] = (T)(sums[j] / (double)n);
}
for (ptrdiff_t r = 0; r < n; ++r) {
  for (int j = 0; j < k; ++j) {
    const double d = (double)(x[r * k + j] - mean[j]);
    sums[k + j] += d * d;
  }
}
for (int j = 0; j < k; ++j) {
  const T m = mean[j];
  const T v = (T)(sums[k + j] / (double)n);
  const T s = (T)1 / (T)sqrt(v + epsilon);
  inv_std[j] = s;
  sums[j] = (double)(s * gamma[j]);  // a = s gamma, kept exactly
  moving_mean[j] = moving_mean[j] * momentum + m * ((T)1 - momentum);
  moving_var[j] = moving_var[j] * momentum + v * ((T)1 - momentum);
}
for (ptrdiff_t r = 0; r < n; ++r) {
  for (int j = 0; j < k; ++j) {
    y[r * k + j] = (x[r * k + j] - mean[j]) * (T)sums[j] + beta[j];
  }
}

// kernel: batchnorm_backward_rows | in: raw T x, raw T dy, raw T gamma, raw T mean, raw T inv_std, int64 n, int32 k, int64 threads, int32 want_dgamma, int32 want_dbeta, int32 want_dx | out: raw T dgamma, raw T dbeta, raw T dx, raw float64 sums | scalars: n, k, threads, want_dgamma, want_dbeta, want_dx
// batchnorm_backward for a CPU, row by row as batchnorm_forward_rows; the same operations per
// element as the column kernel. sums: 2k doubles of work space.
for (int j = 0; j < k; ++j) {
  sums[j] = 0.0;
  sums[k + j] = 0.0;
}
for (ptrdiff_t r = 0; r < n; ++r) {
  for (int j = 0; j < k; ++j) {
    const T g = dy[r * k + j];
    sums[j] += (double)g;
    sums[k + j] += (double)(g * ((x[r * k + j] - mean[j]) * inv_std[j]));
  }
}
for (int j = 0; j < k; ++j) {
  if (want_dbeta) dbeta[j] = (T)sums[j];
  if (want_dgamma) dgamma[j] = (T)sums[k + j];
  sums[j] = (double)(T)(sums[j] / (double)n);  // a, rounded to T as the column kernel does
  sums[k + j] = (double)(T)(sums[k + j] / (double)n);  // b
}
if (want_dx) {
  for (ptrdiff_t r = 0; r < n; ++r) {
    for (int j = 0; j < k; ++j) {
      const ptrdiff_t e = r * k + j;
      dx[e] = (dy[e] - (T)sums[j] - ((x[e] - mean[j]) * inv_std[j]) * (T)sums[k + j]) *
              (gamma[j] * inv_std[j]);
    }
  }
}
