// gpudnn CUDA kernels: Keras 3's compiled metrics, accumulated on the device. File format: see
// the top of activations.cu.
//
// p is the prediction and y the target, (n, k) seen flat; every total and count is float64 and
// only ever added to (one atomicAdd per value per thread), so a training step (or its CUDA
// graph) adds a batch into accumulators that the host reads at progress updates and epoch ends.
// w holds the (n, 1) per-sample weights seen flat (Keras's sample_weight, for weighted_metrics)
// and is read only when `weighted` is 1; an unweighted launch passes any T array there (the
// backends pass p). A weighted row adds w[r] where an unweighted one adds 1, in double.
//
// The row kernels take the strided form of softmax_cce_step: thread i of `threads` walks rows
// i, i + threads, ... of the n rows and adds its share with one atomicAdd per value, so that a
// large batch does not queue thousands of atomics on one address (the caller bounds `threads`).
//
// The NumPy reference (gpudnn/backend/numpy_metrics.py) does the same comparisons in T; its sums
// run in another order, so weighted sums agree to rounding and counts agree exactly (the F-score
// counts of soft labels, sums of label values, to rounding).

// numpy.argmax of the k values a[start], ..., a[start + k - 1]: the first maximum, and the
// first NaN if there is one. The same helper as losses.cu's, kept in step with it: each family's
// preamble is compiled on its own (its own NVRTC program, its own namespace on the host).
template <typename A>
__device__ __forceinline__ int first_argmax(const A& a, ptrdiff_t start, int k) {
  int best = 0;
  for (int j = 1; j < k; ++j) {
    const auto v = a[start + j], b = a[start + best];
    if (b == b && (v > b || v != v)) best = j;
  }
  return best;
}

// kernel: add_matches | in: raw T p, raw T y, raw T w, T threshold, int32 k, int64 n, int64 threads, int32 binary, int32 weighted | out: raw float64 total | scalars: threshold, k, n, threads, binary, weighted
// Keras's Accuracy (binary 0: y == p) and BinaryAccuracy (binary 1: y == (p > threshold ? 1 :
// 0)), element by element: total[0] += sum over rows of (matches in the row) (times w[r]).
// The metric is total / (k * samples) or total / (k * sum of weights).
double s = 0.0;
for (ptrdiff_t r = i; r < n; r += threads) {
  const ptrdiff_t row = r * k;
  int hits = 0;
  for (int j = 0; j < k; ++j) {
    const T v = p[row + j];
    const T q = binary ? (v > threshold ? (T)1 : (T)0) : v;
    hits += y[row + j] == q;
  }
  s += weighted ? (double)hits * (double)w[r] : (double)hits;
}
atomicAdd(&total[0], s);

// kernel: add_top_k_hits | in: raw T p, raw T y, raw T w, int32 k, int32 top_k, int64 n, int64 threads, int32 weighted | out: raw float64 total | scalars: k, top_k, n, threads, weighted
// Keras's TopKCategoricalAccuracy (ops.in_top_k): the target class c = argmax y[r] is a hit
// when fewer than top_k scores of the row are strictly greater than p[r, c] (ties count as in
// the top k, as TensorFlow's in_top_k); a NaN score at the target is never a hit.
// total[0] += the hits (times w[r]); the metric is total / samples or total / sum of weights.
double s = 0.0;
for (ptrdiff_t r = i; r < n; r += threads) {
  const ptrdiff_t row = r * k;
  const T target = p[row + first_argmax(y, row, k)];
  int greater = top_k;
  if (target == target) {
    greater = 0;
    for (int j = 0; j < k; ++j) {
      greater += p[row + j] > target;
    }
  }
  if (greater < top_k) {
    s += weighted ? (double)w[r] : 1.0;
  }
}
atomicAdd(&total[0], s);

// kernel: add_error_sums | in: raw T p, raw T y, raw T w, int32 k, int64 n, int64 threads, int32 squared, int32 weighted | out: raw float64 total | scalars: k, n, threads, squared, weighted
// Keras's MeanSquaredError (squared 1) and MeanAbsoluteError metrics: with d = p - y in T,
// total[0] += sum over rows of (sum_j d^2 or |d|, in double) (times w[r]). The metric is
// total / (k * samples) or total / (k * sum of weights): each sample's mean over its outputs,
// averaged over the samples.
double s = 0.0;
for (ptrdiff_t r = i; r < n; r += threads) {
  const ptrdiff_t row = r * k;
  double e = 0.0;
  for (int j = 0; j < k; ++j) {
    const T d = p[row + j] - y[row + j];
    e += (double)(squared ? d * d : (d < (T)0 ? -d : d));
  }
  s += weighted ? e * (double)w[r] : e;
}
atomicAdd(&total[0], s);

// kernel: add_confusion | in: raw T p, raw T y, raw T w, raw T lw, raw T thresholds, int32 k, int32 m, int32 first, int32 width, int32 top_k, int64 n, int64 threads, int32 weighted, int32 label_weighted, int32 from_logits | out: raw float64 counts | scalars: k, m, first, width, top_k, n, threads, weighted, label_weighted, from_logits
// Keras's confusion counts at m thresholds (Precision, Recall; AUC with uneven thresholds):
// counts (4, m) = true positives, false positives, true negatives, false negatives. Element
// (r, j), for columns j in [first, first + width) (all k, or Keras's class_id alone), is a
// positive label when y != 0 and a positive prediction at threshold t when v > thresholds[t],
// v = p (or sigmoid(p) = 0.5 tanh(0.5 p) + 0.5 with from_logits) and, with top_k > 0, only when
// p[r, j] is among the row's top_k (rank = greater scores + equal scores at lower columns <
// top_k: Keras's top_k filter, ties to the lower index). It adds w[r] (weighted) times lw[j]
// (label_weighted), or 1, to its cell at every threshold.
for (int t = 0; t < m; ++t) {
  const T threshold = thresholds[t];
  double tp = 0.0, fp = 0.0, tn = 0.0, fn = 0.0;
  for (ptrdiff_t r = i; r < n; r += threads) {
    const ptrdiff_t row = r * k;
    const double wr = weighted ? (double)w[r] : 1.0;
    for (int j = first; j < first + width; ++j) {
      const T score = p[row + j];
      const T v = from_logits ? (T)0.5 * (T)tanh((T)0.5 * score) + (T)0.5 : score;
      bool positive = v > threshold;
      if (positive && top_k > 0) {
        int rank = 0;
        for (int l = 0; l < k; ++l) {
          const T o = p[row + l];
          rank += o > score || (o == score && l < j);
        }
        positive = rank < top_k;
      }
      const double c = label_weighted ? wr * (double)lw[j] : wr;
      if (y[row + j] != (T)0) {
        if (positive) tp += c; else fn += c;
      } else {
        if (positive) fp += c; else tn += c;
      }
    }
  }
  atomicAdd(&counts[t], tp);
  atomicAdd(&counts[m + t], fp);
  atomicAdd(&counts[2 * m + t], tn);
  atomicAdd(&counts[3 * m + t], fn);
}

// kernel: add_class_counts | in: raw T p, raw T y, raw T w, T threshold, int32 k, int64 n, int64 threads, int32 weighted, int32 by_max | out: raw float64 counts | scalars: threshold, k, n, threads, weighted, by_max
// Keras's FBetaScore counts of each class j (column): counts (4, k) += TP_j = sum_r w_r d y,
// FP_j = sum_r w_r d (1 - y), FN_j = sum_r w_r (1 - d) y and the support S_j = sum_r w_r y,
// y = y[r, j] the label as a number (a soft label counts by its value, as Keras multiplies),
// the decision d = p[r, j] > threshold, or with by_max p[r, j] >= the row's max and
// |p[r, j]| > 1e-9 (Keras: every tied column counts, an all-zero row none; a NaN in the row
// makes the max NaN, no decision). Thread i takes rows i, i + threads, ...
// An add of 0 is skipped: with one-hot labels and argmax decisions most elements add 0 to all
// four counts, and a warp's lanes (rows) would queue on the same k addresses.
if (k <= 0) return;
for (ptrdiff_t r = i; r < n; r += threads) {
  const ptrdiff_t row = r * k;
  T top = p[row];
  for (int l = 1; l < k; ++l) {
    const T o = p[row + l];
    top = (o > top || o != o) && top == top ? o : top;
  }
  const double wr = weighted ? (double)w[r] : 1.0;
  for (int j = 0; j < k; ++j) {
    const T score = p[row + j];
    const bool decided = by_max ? (score >= top && (T)fabs(score) > (T)1e-9) : score > threshold;
    const T label = y[row + j];
    const double d = decided ? 1.0 : 0.0;
    const double positive = (double)label, negative = (double)((T)1 - label);
    const double add[4] = {wr * (d * positive), wr * (d * negative),
                           wr * ((1.0 - d) * positive), wr * positive};
    for (int c = 0; c < 4; ++c) {
      if (add[c] != 0.0) atomicAdd(&counts[c * k + j], add[c]);  // NaN is added
    }
  }
}

// kernel: add_buckets | in: T p, T y, raw T w, raw T lw, int32 k, int32 buckets, int32 labels, int32 weighted, int32 label_weighted, int32 from_logits | out: raw float64 counts | scalars: k, buckets, labels, weighted, label_weighted, from_logits
// Keras's AUC with evenly spaced thresholds (its default: [-eps, 1/(N-1), ..., (N-2)/(N-1),
// 1 + eps], N = buckets), one element per thread: q = clip(p, 0, 1) (p = sigmoid(p) first with
// from_logits) falls in bucket b = max(ceil(q (N - 1)) - 1, 0), computed in T, which Keras's
// reverse cumulative sum turns into "positive at thresholds 0..b"; a NaN q goes to slot N
// (positive at no threshold). counts (2, labels, N + 1): [0] the weight of positive labels
// (y != 0), [1] of negative ones; label = column i % k when labels > 1 (multi_label), else 0;
// the weight is w[i / k] (weighted) times lw[i % k] (label_weighted), or 1.
T q = from_logits ? (T)0.5 * (T)tanh((T)0.5 * p) + (T)0.5 : p;
q = q < (T)0 ? (T)0 : (q > (T)1 ? (T)1 : q);
int b = buckets;
if (q == q) {
  const T x = q * (T)(buckets - 1);
  int up = (int)x;  // ceil(x) for 0 <= x <= N - 1
  up += (T)up < x;
  b = up > 0 ? up - 1 : 0;
}
const int label = labels > 1 ? (int)(i % k) : 0;
double weight = weighted ? (double)w[i / k] : 1.0;
if (label_weighted) {
  weight *= (double)lw[i % k];
}
const int negative = y == (T)0;
atomicAdd(&counts[((ptrdiff_t)negative * labels + label) * (buckets + 1) + b], weight);
