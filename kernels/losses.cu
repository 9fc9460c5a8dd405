// gpudnn CUDA kernels: loss gradients with respect to the prediction, and the per-element
// terms whose sum is the loss value. File format: see the top of activations.cu.
//
// p is the prediction, y the target, both (n, k) seen flat. Probabilities are clipped to
// [lo, hi] = [EPSILON, 1 - EPSILON] before a log or a division, and the gradient is zero where
// the clip is active: it is multiplied by (T)(c == p), which also keeps NaN in p as NaN, exactly
// as the NumPy backend does. The operations and their order match NumpyBackend so that the
// float32 results agree to the last bit or two.

// kernel: scaled_diff | in: T p, T y, T scale | out: T g | scalars: scale
// g = (p - y) scale. The MSE gradient (scale 2 / (n k)) and the fused gradient of softmax +
// categorical cross-entropy (scale 1 / n) or sigmoid + binary cross-entropy (scale 1 / (n k)).
g = (p - y) * scale;

// kernel: cce_grad | in: T p, T y, T lo, T hi, T scale | out: T g | scalars: lo, hi, scale
// g = y / c * scale [c == p], c = clip(p, lo, hi), scale = -1 / n
const T c = p < lo ? lo : (p > hi ? hi : p);
g = y / c * scale * (T)(c == p);

// kernel: bce_grad | in: T p, T y, T lo, T hi, T scale | out: T g | scalars: lo, hi, scale
// g = (c - y) / ((1 - c) c) * scale [c == p], c = clip(p, lo, hi), scale = 1 / (n k)
const T c = p < lo ? lo : (p > hi ? hi : p);
g = (c - y) / (((T)1 - c) * c) * scale * (T)(c == p);

// kernel: mse_terms | in: T p, T y | out: T l
// l = (p - y)^2; loss = sum(l) / (n k)
const T d = p - y;
l = d * d;

// kernel: cce_terms | in: T p, T y, T lo, T hi | out: T l | scalars: lo, hi
// l = y log c, c = clip(p, lo, hi); loss = -sum(l) / n
const T c = p < lo ? lo : (p > hi ? hi : p);
l = y * log(c);

// kernel: bce_terms | in: T p, T y, T lo, T hi | out: T l | scalars: lo, hi
// l = y log c + (1 - y) log(1 - c) = y (log c - log(1 - c)) + log(1 - c); loss = -sum(l) / (n k)
const T c = p < lo ? lo : (p > hi ? hi : p);
const T l1 = log((T)1 - c);
l = y * (log(c) - l1) + l1;
