// gpudnn CUDA kernels: activations. Forward passes fuse the bias add; backward passes use the
// retained output y = f(x), except silu's and gelu's, which take the input x (see
// activations.FROM_INPUT: the layers keep it for them).
//
// File format (parsed by gpudnn/backend/kernel_source.py; the same in every kernels/*.cu):
//   * Everything before the first kernel header is the file's preamble (comments, __device__
//     helpers); it is prepended to every kernel of the file.
//   * A kernel header is one line:
//       // kernel: NAME | in: IN PARAMS | out: OUT PARAMS | scalars: NAMES | lanes: L
//     with the parameter lists in cupy.ElementwiseKernel's notation. `scalars` (optional) names
//     the in-params passed as Python scalars (hyperparameters, row lengths); every other param
//     is an array. `lanes` (optional) asks for a vector form NAME_xL of an element-wise kernel
//     as well: L elements per thread moved with 16-byte loads and stores, generated from the
//     same body by kernel_source.vector_form (the CuPy backend launches it for aligned arrays).
//   * The body is every line after the header up to the next header: the statements
//     ElementwiseKernel runs for each index i. A non-raw param is the element at i; a `raw`
//     param is a whole flat C-contiguous array indexed by hand; T is the arrays' dtype.
//   * Row kernels (softmax) have only raw arrays, a scalar k (the row length) and run with
//     size = n rows = len(out) / k, one thread per row.
//
// z, y, dy, dx are (n, k) batches seen flat (element i is row i / k, column i % k); bias is (k,).
// Constants are cast to T and ternaries yield T so that float16 has one unambiguous overload.
// x < 0 ? ... : x keeps NaN (like numpy.maximum) and -0.0.

// kernel: linear_fwd | in: T z, raw T bias, int32 k | out: T y | scalars: k
// y = z + bias
y = z + bias[i % k];

// kernel: relu_fwd | in: T z, raw T bias, int32 k | out: T y | scalars: k
// y = max(x, 0), x = z + bias
T x = z + bias[i % k];
y = x < (T)0 ? (T)0 : x;

// kernel: sigmoid_fwd | in: T z, raw T bias, int32 k | out: T y | scalars: k
// y = 1 / (1 + exp(-x)) computed as 0.5 tanh(0.5 x) + 0.5: no overflow for large |x|
T x = z + bias[i % k];
y = (T)0.5 * (T)tanh((T)0.5 * x) + (T)0.5;

// kernel: tanh_fwd | in: T z, raw T bias, int32 k | out: T y | scalars: k
// y = tanh(x)
T x = z + bias[i % k];
y = (T)tanh(x);

// kernel: leaky_relu_fwd | in: T z, raw T bias, int32 k, T alpha | out: T y | scalars: k, alpha
// y = x for x >= 0, alpha x for x < 0
T x = z + bias[i % k];
y = x < (T)0 ? (T)(alpha * x) : x;

// kernel: elu_fwd | in: T z, raw T bias, int32 k, T alpha | out: T y | scalars: k, alpha
// y = x for x >= 0, alpha (exp(x) - 1) for x < 0; expm1 keeps precision near 0
T x = z + bias[i % k];
y = x < (T)0 ? (T)(alpha * (T)expm1(x)) : x;

// kernel: selu_fwd | in: T z, raw T bias, int32 k | out: T y | scalars: k
// Keras selu: y = scale x for x >= 0, scale (alpha (exp(x) - 1)) for x < 0, with
// alpha = 1.6732632423543772, scale = 1.0507009873554805 (self-normalizing networks)
T x = z + bias[i % k];
y = x < (T)0 ? (T)((T)1.0507009873554805 * (T)((T)1.6732632423543772 * (T)expm1(x)))
             : (T)((T)1.0507009873554805 * x);

// kernel: softplus_fwd | in: T z, raw T bias, int32 k | out: T y | scalars: k
// y = log(1 + exp(x)) computed as max(x, 0) + log1p(exp(-|x|)): no overflow for large x
T x = z + bias[i % k];
y = (x > (T)0 ? x : (T)0) + (T)log1p((T)exp(-(T)fabs(x)));

// kernel: softsign_fwd | in: T z, raw T bias, int32 k | out: T y | scalars: k
// y = x / (1 + |x|)
T x = z + bias[i % k];
y = x / ((T)1 + (x < (T)0 ? (T)(-x) : x));

// kernel: hard_sigmoid_fwd | in: T z, raw T bias, int32 k | out: T y | scalars: k
// Keras 3's hard_sigmoid: y = relu6(x + 3) / 6 = clip(x + 3, 0, 6) / 6
T x = z + bias[i % k];
T r = x + (T)3;
r = r < (T)0 ? (T)0 : (r > (T)6 ? (T)6 : r);
y = r / (T)6;

// kernel: relu6_fwd | in: T z, raw T bias, int32 k | out: T y | scalars: k
// y = min(max(x, 0), 6)
T x = z + bias[i % k];
y = x < (T)0 ? (T)0 : (x > (T)6 ? (T)6 : x);

// kernel: exponential_fwd | in: T z, raw T bias, int32 k | out: T y | scalars: k
// y = exp(x)
T x = z + bias[i % k];
y = (T)exp(x);

// kernel: silu_fwd | in: T z, raw T bias, int32 k | out: T y | scalars: k
// Keras's silu (swish): y = x sigmoid(x), sigmoid from e = exp(-|x|) as 1 / (1 + e) for x >= 0
// and e / (1 + e) below: accurate in relative terms for large |x| (no cancellation)
T x = z + bias[i % k];
const T e = (T)exp(x < (T)0 ? x : (T)(-x));
y = x * (x >= (T)0 ? (T)((T)1 / ((T)1 + e)) : (T)(e / ((T)1 + e)));

// kernel: gelu_fwd | in: T z, raw T bias, int32 k | out: T y | scalars: k
// Keras's gelu (approximate=False): y = 0.5 x (1 + erf(x / sqrt(2)))
T x = z + bias[i % k];
y = (T)0.5 * x * ((T)1 + (T)erf(x * (T)0.7071067811865476));

// kernel: softmax_fwd | in: raw T z, raw T bias, int32 k | out: raw T y | scalars: k
// One thread per row i: x = z[i, :] + bias; y[i, :] = exp(x - max x) / sum exp(x - max x).
// y may be z: each element is read before it is overwritten.
const ptrdiff_t row = i * k;
T m = z[row] + bias[0];
for (int j = 1; j < k; ++j) {
  const T x = z[row + j] + bias[j];
  m = x > m ? x : m;
}
T s = (T)0;
for (int j = 0; j < k; ++j) {
  const T e = (T)exp(z[row + j] + bias[j] - m);
  y[row + j] = e;
  s += e;
}
for (int j = 0; j < k; ++j) {
  y[row + j] = y[row + j] / s;
}

// kernel: linear_bwd | in: T dy | out: T dx
// dx = dy
dx = dy;

// kernel: relu_bwd | in: T y, T dy | out: T dx
// dx = dy [y > 0]
dx = dy * (T)(y > (T)0);

// kernel: sigmoid_bwd | in: T y, T dy | out: T dx
// dx = dy y (1 - y)
dx = dy * (((T)1 - y) * y);

// kernel: tanh_bwd | in: T y, T dy | out: T dx
// dx = dy (1 - y^2)
dx = dy * ((T)1 - y * y);

// kernel: leaky_relu_bwd | in: T y, T dy, T alpha | out: T dx | scalars: alpha
// dx = dy (y > 0 ? 1 : alpha)
dx = dy * (y > (T)0 ? (T)1 : alpha);

// kernel: elu_bwd | in: T y, T dy, T alpha | out: T dx | scalars: alpha
// dx = dy (y > 0 ? 1 : y + alpha), since d/dx alpha (exp(x) - 1) = y + alpha for x < 0
dx = dy * (y > (T)0 ? (T)1 : (T)(y + alpha));

// kernel: selu_bwd | in: T y, T dy | out: T dx
// dx = dy (y > 0 ? scale : y + scale alpha), since d/dx scale alpha (exp(x) - 1) = y + scale
// alpha for x < 0 (scale alpha = 1.7580993408473766)
dx = dy * (y > (T)0 ? (T)1.0507009873554805 : (T)(y + (T)1.7580993408473766));

// kernel: softplus_bwd | in: T y, T dy | out: T dx
// dx = dy sigmoid(x) = dy (1 - exp(-y)), computed as -expm1(-y): exact for small y
dx = dy * (T)(-(T)expm1(-y));

// kernel: softsign_bwd | in: T y, T dy | out: T dx
// dx = dy (1 - |y|)^2, since 1 / (1 + |x|)^2 = (1 - |y|)^2
const T s = (T)1 - (y < (T)0 ? (T)(-y) : y);
dx = dy * (s * s);

// kernel: hard_sigmoid_bwd | in: T y, T dy | out: T dx
// dx = dy / 6 where 0 < y < 1 (the clip is inactive), else 0
dx = dy * ((y > (T)0 && y < (T)1) ? (T)((T)1 / (T)6) : (T)0);

// kernel: relu6_bwd | in: T y, T dy | out: T dx
// dx = dy where 0 < y < 6, else 0 (a select, as hard_sigmoid_bwd: the compiler vectorizes it)
dx = dy * ((y > (T)0 && y < (T)6) ? (T)1 : (T)0);

// kernel: exponential_bwd | in: T y, T dy | out: T dx
// dx = dy y
dx = dy * y;

// kernel: silu_bwd | in: T y, T dy | out: T dx
// From the INPUT x (passed as y: silu is not invertible from its output): with s = sigmoid(x)
// (as silu_fwd computes it), dx = dy s (1 + x (1 - s))
const T e = (T)exp(y < (T)0 ? y : (T)(-y));
const T s = y >= (T)0 ? (T)((T)1 / ((T)1 + e)) : (T)(e / ((T)1 + e));
dx = dy * (s * ((T)1 + y * ((T)1 - s)));

// kernel: gelu_bwd | in: T y, T dy | out: T dx
// From the INPUT x (passed as y): dx = dy (Phi(x) + x phi(x)), Phi(x) = 0.5 (1 + erf(x /
// sqrt(2))), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
const T cdf = (T)0.5 * ((T)1 + (T)erf(y * (T)0.7071067811865476));
const T pdf = (T)exp((T)-0.5 * (y * y)) * (T)0.3989422804014327;
dx = dy * (cdf + y * pdf);

// kernel: softmax_bwd | in: raw T y, raw T dy, int32 k | out: raw T dx | scalars: k
// One thread per row i: dx[i, :] = y[i, :] (dy[i, :] - sum_j dy[i, j] y[i, j]). dx may be dy.
const ptrdiff_t row = i * k;
T s = (T)0;
for (int j = 0; j < k; ++j) {
  s += dy[row + j] * y[row + j];
}
for (int j = 0; j < k; ++j) {
  dx[row + j] = (dy[row + j] - s) * y[row + j];
}
