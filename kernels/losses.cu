// gpudnn CUDA kernels: loss gradients with respect to the prediction, the per-element terms
// whose sum is the loss value, and the L1/L2 weight penalty. File format: see the top of
// activations.cu.
//
// p is the prediction (a probability, or a logit x in the *_logits kernels), y the target, both
// (n, k) seen flat. Probabilities are clipped to [lo, hi] = [EPSILON, 1 - EPSILON] before a log
// or a division, and the gradient is zero where the clip is active: it is multiplied by
// (T)(c == p), which also keeps NaN in p as NaN, exactly as the NumPy backend does. The
// operations and their order match NumpyBackend so that the float32 results agree to the last
// bit or two.
//
// Label smoothing: the cross-entropies see the target t = y keep + shift, with keep = 1 - s and
// shift = s / k (categorical) or s / 2 (binary) for a smoothing s; s = 0 (keep 1, shift 0)
// leaves y exactly as it is.

// Per-sample weights (Keras's sample_weight): each loss-gradient, loss-term and hit kernel
// NAME below has a weighted twin NAME_w with the in-param `raw T w` (the loss-gradient and
// loss-term kernels marked `weighted: yes` get theirs generated from their own body by
// gpudnn/backend/kernel_source.py's weighted_form; the hit counts' and softmax_cce_step's are
// written at the end of the file),
// the (n, 1) weights seen flat (one per row of p), read as w[i / k] in an element-wise kernel
// (the compiled CPU loop keeps the row as a counter, as it does the column of i % k) and as
// w[i] or w[r] in a row kernel. Row i of the gradient and of the loss terms is the unweighted
// kernel's result times w_i, multiplied last, and a correct row adds w_i instead of 1, so that
// weights of ones give the unweighted results bit for bit and NumpyLosses can do the same
// operations in the same order. softmax_cce_step_w weights the loss and the gradient, not the
// hits (Keras's plain metrics are unweighted). An unweighted step runs the unweighted kernels.

// Accumulating a batch's loss and correct counts into a float64 device total takes one launch
// each (add_chunk_sums after a *_terms kernel, add_argmax_hits, add_threshold_hits) instead of
// a reduction and three small array operations: the step is launch-bound on a GPU. Each thread
// sums its share in double and adds it with one atomicAdd (double atomics: sm_60 and later).
// softmax_cce_step does a softmax + categorical cross-entropy step's loss, accuracy and output
// gradient together in one launch.

// numpy.argmax of the k values a[start], ..., a[start + k - 1]: the first maximum, and the
// first NaN if there is one. (A raw array is a CArray in CuPy and a pointer on the host: both
// index with [].)
template <typename A>
__device__ __forceinline__ int first_argmax(const A& a, ptrdiff_t start, int k) {
  int best = 0;
  for (int j = 1; j < k; ++j) {
    const auto v = a[start + j], b = a[start + best];
    if (b == b && (v > b || v != v)) best = j;
  }
  return best;
}

// kernel: scaled_diff | in: T p, T y, T scale | out: T g | scalars: scale | weighted: yes
// g = (p - y) scale. The MSE gradient (scale 2 / (n k)).
g = (p - y) * scale;

// kernel: smoothed_diff | in: T p, T y, T keep, T shift, T scale | out: T g | scalars: keep, shift, scale | weighted: yes
// g = (p - t) scale, t = y keep + shift. The fused gradient with respect to the pre-activation
// of softmax + categorical cross-entropy (scale 1 / n) or sigmoid + binary cross-entropy
// (scale 1 / (n k)).
g = (p - (y * keep + shift)) * scale;

// kernel: mae_grad | in: T p, T y, T scale | out: T g | scalars: scale | weighted: yes
// g = sign(p - y) scale, scale = 1 / (n k); 0 where p == y (as Keras), NaN stays NaN
const T d = p - y;
g = (d > (T)0 ? (T)1 : (d < (T)0 ? (T)-1 : d)) * scale;

// kernel: huber_grad | in: T p, T y, T delta, T scale | out: T g | scalars: delta, scale | weighted: yes
// g = clip(p - y, -delta, delta) scale, scale = 1 / (n k): the derivative of Huber's 0.5 d^2
// (|d| <= delta) and delta |d| - 0.5 delta^2 (beyond); NaN stays NaN
const T d = p - y;
g = (d > delta ? delta : (d < -delta ? -delta : d)) * scale;

// kernel: log_cosh_grad | in: T p, T y, T scale | out: T g | scalars: scale | weighted: yes
// g = tanh(p - y) scale, scale = 1 / (n k): the derivative of log(cosh(p - y))
g = (T)tanh(p - y) * scale;

// kernel: kld_grad | in: T p, T y, T lo, T scale | out: T g | scalars: lo, scale | weighted: yes
// g = t / c * scale [c == p], c = clip(p, lo, 1), t = clip(y, lo, 1), scale = -1 / n: the
// derivative of Keras's kl_divergence, sum_j t log(t / c)
const T c = p < lo ? lo : (p > (T)1 ? (T)1 : p);
const T t = y < lo ? lo : (y > (T)1 ? (T)1 : y);
g = t / c * scale * (T)(c == p);

// kernel: poisson_grad | in: T p, T y, T eps, T scale | out: T g | scalars: eps, scale | weighted: yes
// g = (1 - y / (p + eps)) scale, scale = 1 / (n k): the derivative of p - y log(p + eps)
g = ((T)1 - y / (p + eps)) * scale;

// kernel: mape_grad | in: T p, T y, T eps, T scale | out: T g | scalars: eps, scale | weighted: yes
// g = sign(p - y) (100 / m) scale, m = max(|y|, eps), scale = 1 / (n k): the derivative of
// Keras's mean_absolute_percentage_error, 100 |(y - p) / m|; 0 where p == y, NaN stays NaN
const T d = p - y;
const T a = y < (T)0 ? -y : y;
const T m = a < eps ? eps : a;
g = (d > (T)0 ? (T)1 : (d < (T)0 ? (T)-1 : d)) * ((T)100 / m) * scale;

// kernel: msle_grad | in: T p, T y, T eps, T scale | out: T g | scalars: eps, scale | weighted: yes
// g = 2 (log(c + 1) - log(u + 1)) / (c + 1) scale [c == p], c = max(p, eps), u = max(y, eps),
// scale = 1 / (n k): the derivative of Keras's mean_squared_logarithmic_error
const T c = p < eps ? eps : p;
const T u = y < eps ? eps : y;
const T d = (T)log(c + (T)1) - (T)log(u + (T)1);
g = (T)2 * d / (c + (T)1) * scale * (T)(c == p);

// kernel: hinge_grad | in: T p, T y, T scale | out: T g | scalars: scale | weighted: yes
// g = -t scale where m = 1 - t p > 0, else 0 (0 m: NaN stays NaN), t = -1 where y == 0, else
// y (Keras's {0, 1} labels as -1 and 1), scale = 1 / (n k): the derivative of max(m, 0)
const T t = y == (T)0 ? (T)-1 : y;
const T m = (T)1 - t * p;
g = (m > (T)0 ? -t : (T)0 * m) * scale;

// kernel: squared_hinge_grad | in: T p, T y, T scale | out: T g | scalars: scale | weighted: yes
// g = -2 t h scale, h = max(1 - t p, 0), t as in hinge_grad: the derivative of h^2
const T t = y == (T)0 ? (T)-1 : y;
const T m = (T)1 - t * p;
const T h = m < (T)0 ? (T)0 : m;
g = (T)-2 * t * h * scale;

// kernel: cce_grad | in: T p, T y, T keep, T shift, T lo, T hi, T scale | out: T g | scalars: keep, shift, lo, hi, scale | weighted: yes
// g = t / c * scale [c == p], c = clip(p, lo, hi), t = y keep + shift, scale = -1 / n
const T c = p < lo ? lo : (p > hi ? hi : p);
g = (y * keep + shift) / c * scale * (T)(c == p);

// kernel: bce_grad | in: T p, T y, T keep, T shift, T lo, T hi, T scale | out: T g | scalars: keep, shift, lo, hi, scale | weighted: yes
// g = (c - t) / ((1 - c) c) * scale [c == p], c = clip(p, lo, hi), t = y keep + shift,
// scale = 1 / (n k)
const T c = p < lo ? lo : (p > hi ? hi : p);
g = (c - (y * keep + shift)) / (((T)1 - c) * c) * scale * (T)(c == p);

// kernel: bce_logits_grad | in: T p, T y, T keep, T shift, T scale | out: T g | scalars: keep, shift, scale | weighted: yes
// g = (sigmoid(x) - t) scale, x = p (a logit), t = y keep + shift, scale = 1 / (n k);
// sigmoid(x) = 0.5 tanh(0.5 x) + 0.5, finite for every finite x
const T s = (T)0.5 * (T)tanh((T)0.5 * p) + (T)0.5;
g = (s - (y * keep + shift)) * scale;

// kernel: cce_logits_grad | in: raw T p, raw T y, T keep, T shift, T scale, int32 k | out: raw T g | scalars: keep, shift, scale, k | weighted: yes
// One thread per row i, x = p[i, :] (logits), t = y[i, :] keep + shift:
// g[i, :] = (softmax(x) S - t) scale with S = sum_j t_j (1 for a one-hot or smoothed row),
// scale = 1 / n: the gradient of S logsumexp(x) - sum_j t_j x_j. g must not be y.
const ptrdiff_t row = i * k;
T m = p[row];
for (int j = 1; j < k; ++j) {
  m = p[row + j] > m ? p[row + j] : m;
}
T s = (T)0;
T total = (T)0;
for (int j = 0; j < k; ++j) {
  const T e = (T)exp(p[row + j] - m);
  g[row + j] = e;
  s += e;
  total += y[row + j] * keep + shift;
}
for (int j = 0; j < k; ++j) {
  g[row + j] = (g[row + j] / s * total - (y[row + j] * keep + shift)) * scale;
}

// kernel: mse_terms | in: T p, T y | out: T l | weighted: yes
// l = (p - y)^2; loss = sum(l) / (n k)
const T d = p - y;
l = d * d;

// kernel: mae_terms | in: T p, T y | out: T l | weighted: yes
// l = |p - y|; loss = sum(l) / (n k)
const T d = p - y;
l = d < (T)0 ? -d : d;

// kernel: huber_terms | in: T p, T y, T delta | out: T l | scalars: delta | weighted: yes
// l = 0.5 d^2 for |d| <= delta, delta |d| - 0.5 delta^2 beyond, d = p - y (Keras's huber);
// loss = sum(l) / (n k)
const T d = p - y;
const T a = d < (T)0 ? -d : d;
l = a <= delta ? (T)0.5 * (d * d) : delta * a - (T)0.5 * (delta * delta);

// kernel: log_cosh_terms | in: T p, T y | out: T l | weighted: yes
// l = log(cosh(d)) = d + softplus(-2 d) - log 2, d = p - y, softplus(z) = max(z, 0) +
// log1p(exp(-|z|)): no overflow for large |d| (Keras's log_cosh); loss = sum(l) / (n k)
const T d = p - y;
const T z = (T)-2 * d;
const T softplus = (z > (T)0 ? z : (T)0) + (T)log1p((T)exp(-(z < (T)0 ? -z : z)));
l = (d + softplus) - (T)0.6931471805599453;

// kernel: kld_terms | in: T p, T y, T lo | out: T l | scalars: lo | weighted: yes
// l = t log(t / c), c = clip(p, lo, 1), t = clip(y, lo, 1) (Keras's kl_divergence); loss =
// sum(l) / n
const T c = p < lo ? lo : (p > (T)1 ? (T)1 : p);
const T t = y < lo ? lo : (y > (T)1 ? (T)1 : y);
l = t * log(t / c);

// kernel: poisson_terms | in: T p, T y, T eps | out: T l | scalars: eps | weighted: yes
// l = p - y log(p + eps) (Keras's poisson); loss = sum(l) / (n k)
l = p - y * log(p + eps);

// kernel: mape_terms | in: T p, T y, T eps | out: T l | scalars: eps | weighted: yes
// l = 100 |(y - p) / m|, m = max(|y|, eps) (Keras's mean_absolute_percentage_error); loss =
// sum(l) / (n k)
const T a = y < (T)0 ? -y : y;
const T m = a < eps ? eps : a;
const T q = (y - p) / m;
l = (q < (T)0 ? -q : q) * (T)100;

// kernel: msle_terms | in: T p, T y, T eps | out: T l | scalars: eps | weighted: yes
// l = (log(max(p, eps) + 1) - log(max(y, eps) + 1))^2 (Keras's
// mean_squared_logarithmic_error); loss = sum(l) / (n k)
const T c = p < eps ? eps : p;
const T u = y < eps ? eps : y;
const T d = (T)log(c + (T)1) - (T)log(u + (T)1);
l = d * d;

// kernel: hinge_terms | in: T p, T y | out: T l | weighted: yes
// l = max(1 - t p, 0), t = -1 where y == 0, else y (Keras's hinge, its {0, 1} labels as -1 and
// 1); loss = sum(l) / (n k)
const T t = y == (T)0 ? (T)-1 : y;
const T m = (T)1 - t * p;
l = m < (T)0 ? (T)0 : m;

// kernel: squared_hinge_terms | in: T p, T y | out: T l | weighted: yes
// l = max(1 - t p, 0)^2, t as in hinge_terms (Keras's squared_hinge); loss = sum(l) / (n k)
const T t = y == (T)0 ? (T)-1 : y;
const T m = (T)1 - t * p;
const T h = m < (T)0 ? (T)0 : m;
l = h * h;

// kernel: cce_terms | in: T p, T y, T keep, T shift, T lo, T hi | out: T l | scalars: keep, shift, lo, hi | weighted: yes
// l = t log c, c = clip(p, lo, hi), t = y keep + shift; loss = -sum(l) / n
const T c = p < lo ? lo : (p > hi ? hi : p);
l = (y * keep + shift) * log(c);

// kernel: bce_terms | in: T p, T y, T keep, T shift, T lo, T hi | out: T l | scalars: keep, shift, lo, hi | weighted: yes
// l = t log c + (1 - t) log(1 - c) = t (log c - log(1 - c)) + log(1 - c), c = clip(p, lo, hi),
// t = y keep + shift; loss = -sum(l) / (n k)
const T c = p < lo ? lo : (p > hi ? hi : p);
const T l1 = log((T)1 - c);
l = (y * keep + shift) * (log(c) - l1) + l1;

// kernel: bce_logits_terms | in: T p, T y, T keep, T shift | out: T l | scalars: keep, shift | weighted: yes
// l = max(x, 0) - x t + log1p(exp(-|x|)), x = p (a logit), t = y keep + shift: the binary
// cross-entropy of sigmoid(x), without overflow for any finite x; loss = sum(l) / (n k)
const T a = p < (T)0 ? -p : p;
l = (p > (T)0 ? p : (T)0) - p * (y * keep + shift) + (T)log1p((T)exp(-a));

// kernel: cce_logits_terms | in: raw T p, raw T y, T keep, T shift, int32 k | out: raw T l | scalars: keep, shift, k | weighted: yes
// One thread per row i, x = p[i, :] (logits), t = y[i, :] keep + shift:
// l[i, j] = t_j (logsumexp(x) - x_j) = -t_j log softmax(x)_j, logsumexp(x) = m + log sum_j
// exp(x_j - m) with m = max x; loss = sum(l) / n.
const ptrdiff_t row = i * k;
T m = p[row];
for (int j = 1; j < k; ++j) {
  m = p[row + j] > m ? p[row + j] : m;
}
T s = (T)0;
for (int j = 0; j < k; ++j) {
  s += (T)exp(p[row + j] - m);
}
const T lse = m + (T)log(s);
for (int j = 0; j < k; ++j) {
  l[row + j] = (y[row + j] * keep + shift) * (lse - p[row + j]);
}

// kernel: penalty_terms | in: T w, T l1, T l2 | out: T r | scalars: l1, l2
// r = l1 |w| + l2 w^2; penalty = sum(r) (Keras's L1L2 regularizer)
r = l1 * (w < (T)0 ? -w : w) + l2 * (w * w);

// kernel: penalty_grad | in: T w, T l1, T two_l2 | out: T g | scalars: l1, two_l2
// g = (g + l1 sign(w)) + 2 l2 w (two_l2 = 2 l2): the penalty's gradient added to the loss's;
// sign(0) = 0 as in Keras, NaN stays NaN
g = (g + (w > (T)0 ? (T)1 : (w < (T)0 ? (T)-1 : w)) * l1) + w * two_l2;

// kernel: add_chunk_sums | in: raw T terms, int64 size, int64 threads, float64 scale | out: raw float64 total | scalars: size, threads, scale
// total[0] += scale * sum(terms[:size]); thread i of `threads` sums terms[i], terms[i + threads],
// ... in double (neighbouring threads read neighbouring elements) and adds it atomically
double s = 0.0;
for (ptrdiff_t j = i; j < size; j += threads) {
  s += (double)terms[j];
}
atomicAdd(&total[0], s * scale);

// kernel: add_argmax_hits | in: raw T p, raw T y, int32 k | out: raw float64 total | scalars: k
// total[0] += 1 when row i's argmax of p equals its argmax of y (categorical accuracy)
if (first_argmax(p, (ptrdiff_t)i * k, k) == first_argmax(y, (ptrdiff_t)i * k, k)) {
  atomicAdd(&total[0], 1.0);
}

// kernel: add_threshold_hits | in: raw T p, raw T y, int32 k | out: raw float64 total | scalars: k
// total[0] += the number of j where (p[i, j] > 0.5) == (y[i, j] > 0.5) (binary accuracy)
int hits = 0;
for (int j = 0; j < k; ++j) {
  hits += (p[i * k + j] > (T)0.5) == (y[i * k + j] > (T)0.5);
}
atomicAdd(&total[0], (double)hits);

// kernel: softmax_cce_step | in: raw T p, raw T y, T keep, T shift, T lo, T hi, T scale, float64 loss_scale, int32 k, int64 n, int64 threads, int32 count_hits | out: raw T g, raw float64 loss_total, raw float64 hit_total | scalars: keep, shift, lo, hi, scale, loss_scale, k, n, threads, count_hits
// The loss part of a training step whose output is a softmax p and whose loss is categorical
// cross-entropy, in one launch instead of four (cce_terms + add_chunk_sums, add_argmax_hits,
// smoothed_diff), with the same arithmetic. Thread i of `threads` takes rows i, i + threads, ...
// of the (n, k) batch (neighbouring threads read neighbouring rows) and, with t = y keep + shift
// and c = clip(p, lo, hi):
//   loss_total[0] += loss_scale * sum t log c   (cce_terms summed in double; loss_scale = -1/n * n)
//   hit_total[0] += rows where argmax p == argmax y, when count_hits   (add_argmax_hits)
//   g = (p - t) scale, scale = 1 / n   (smoothed_diff: the gradient with respect to the logits)
// One atomicAdd per total per thread: the caller bounds `threads`, so that a large batch gives
// each thread several rows rather than queueing thousands of atomics on one address. A row's
// argmax is read before its gradient is written; g must not be y.
double loss = 0.0;
int hits = 0;
for (ptrdiff_t r = i; r < n; r += threads) {
  const ptrdiff_t row = r * k;
  if (count_hits && first_argmax(p, row, k) == first_argmax(y, row, k)) {
    ++hits;
  }
  for (int j = 0; j < k; ++j) {
    const T pj = p[row + j];
    const T t = y[row + j] * keep + shift;
    const T c = pj < lo ? lo : (pj > hi ? hi : pj);
    loss += (double)(t * log(c));
    g[row + j] = (pj - t) * scale;
  }
}
atomicAdd(&loss_total[0], loss * loss_scale);
if (count_hits) {
  atomicAdd(&hit_total[0], (double)hits);
}

// ------------------------------------------------ the hand-written weighted twins (see the top)

// kernel: add_argmax_hits_w | in: raw T p, raw T y, raw T w, int32 k | out: raw float64 total | scalars: k
// total[0] += w[i] when row i's argmax of p equals its argmax of y (weighted categorical
// accuracy: Keras's weighted_metrics)
if (first_argmax(p, (ptrdiff_t)i * k, k) == first_argmax(y, (ptrdiff_t)i * k, k)) {
  atomicAdd(&total[0], (double)w[i]);
}

// kernel: add_threshold_hits_w | in: raw T p, raw T y, raw T w, int32 k | out: raw float64 total | scalars: k
// total[0] += w[i] times the number of j where (p[i, j] > 0.5) == (y[i, j] > 0.5)
int hits = 0;
for (int j = 0; j < k; ++j) {
  hits += (p[i * k + j] > (T)0.5) == (y[i * k + j] > (T)0.5);
}
atomicAdd(&total[0], (double)hits * (double)w[i]);

// kernel: softmax_cce_step_w | in: raw T p, raw T y, raw T w, T keep, T shift, T lo, T hi, T scale, float64 loss_scale, int32 k, int64 n, int64 threads, int32 count_hits | out: raw T g, raw float64 loss_total, raw float64 hit_total | scalars: keep, shift, lo, hi, scale, loss_scale, k, n, threads, count_hits
// softmax_cce_step with the loss and the gradient of row r weighted by w[r] (cce_terms_w +
// add_chunk_sums and smoothed_diff_w, with their arithmetic); the hits stay unweighted
// (add_argmax_hits: Keras's plain metrics ignore sample weights).
double loss = 0.0;
int hits = 0;
for (ptrdiff_t r = i; r < n; r += threads) {
  const ptrdiff_t row = r * k;
  const T wr = w[r];
  if (count_hits && first_argmax(p, row, k) == first_argmax(y, row, k)) {
    ++hits;
  }
  for (int j = 0; j < k; ++j) {
    const T pj = p[row + j];
    const T t = y[row + j] * keep + shift;
    const T c = pj < lo ? lo : (pj > hi ? hi : pj);
    loss += (double)(t * log(c) * wr);
    g[row + j] = (pj - t) * scale * wr;
  }
}
atomicAdd(&loss_total[0], loss * loss_scale);
if (count_hits) {
  atomicAdd(&hit_total[0], (double)hits);
}
