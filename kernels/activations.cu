// gpudnn CUDA kernels: activations. Forward passes fuse the bias add; backward passes use the
// retained output y = f(x), never x.
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
