// gpudnn CUDA kernels: counter-based random numbers (Dropout, GaussianNoise, GaussianDropout)
// and device-side step counters.
// File format: see the top of activations.cu.
//
// The random stream is keyed by (seed, step, element): no state is carried between launches,
// the step is read from device memory (so a captured CUDA graph sees it advance), and the CPU
// (g++ build of these bodies, and numpy_backend.py's vectorised uint64 form) draws the very same
// bits. For element i of a launch:
//   key  = mix64(mix64(seed) ^ step)
//   bits = mix64(key + GOLDEN * (i + 1))        (the i-th output of splitmix64 seeded with key)
//   u    = (bits >> 32) / 2^32                   (uniform in [0, 1), 32 bits)
// mix64 is splitmix64's finaliser (Steele, Lea and Flood 2014), a bijection of 64-bit words.
// Dropout keeps element i when u >= rate, compared exactly as integers: (bits >> 32) >= threshold
// with threshold = ceil(rate * 2^32) computed once on the host.
//
// Normal draws (GaussianNoise, GaussianDropout): Box-Muller on the two 32-bit halves of the
// element's word, z = sqrt(-2 ln u1) cos(2 pi u2), u1 = (hi + 1/2) / 2^32 in (0, 1) and
// u2 = lo / 2^32. ln and cos are computed here from + - * / sqrt, integer-to-double conversions
// and frexp (read off a double's bits), each exact or correctly rounded in IEEE double (on the
// GPU under --fmad=false, on the CPU under -ffp-contract=off), never from the CUDA, glibc or
// NumPy log and cos, whose last bits differ: so the GPU, the compiled CPU and NumPy's reference
// (counter_rng.normals) draw the same double. The body has no call and no branch but selects on
// bits, so g++ vectorises the CPU loop.
//   ln u1: u1 = m / 2^33, m = 2 hi + 1 = f 2^e (frexp, then f doubled once if below sqrt(1/2):
//          f in [sqrt(1/2), sqrt(2))); ln f = 2 atanh(s), s = (f - 1) / (f + 1), |s| < 0.172,
//          by its series through s^21 (error < 1e-18); ln u1 = ln f + (e - 33) ln 2.
//   cos 2 pi u2 = cos(q pi / 2 + t): quadrant q = lo >> 30, t = c pi / 2^31, c = lo mod 2^30,
//          folded to a in [0, pi/4] (c > 2^29: a = (2^30 - c) pi / 2^31 = pi/2 - t, so cos and
//          sin swap); cos a and sin a by their Taylor series through a^17 (error < 1e-18).

__device__ __forceinline__ unsigned long long gpudnn_mix64(unsigned long long z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

__device__ __forceinline__ unsigned long long gpudnn_random_bits(long long seed, long long step,
                                                                 unsigned long long i) {
  const unsigned long long key =
      gpudnn_mix64(gpudnn_mix64((unsigned long long)seed) ^ (unsigned long long)step);
  return gpudnn_mix64(key + 0x9E3779B97F4A7C15ULL * (i + 1ULL));
}

// a ? x : y chosen on the bits: both computed, no branch for g++ to sink work into, so the
// CPU loop stays vectorised (its default -ftrapping-math keeps floating-point work in a branch).
__device__ __forceinline__ double gpudnn_pick(bool a, double x, double y) {
  const long long mask = -(long long)a;
  return __longlong_as_double((__double_as_longlong(x) & mask) |
                              (__double_as_longlong(y) & ~mask));
}

// A standard normal from one random word (the scheme above), in double.
__device__ __forceinline__ double gpudnn_normal(unsigned long long bits) {
  // m = 2 hi + 1 = f 2^e: frexp read off the bits of m (exact), then f doubled (its exponent
  // field 0x3FF for 0x3FE) when below sqrt(1/2), so that f is in [sqrt(1/2), sqrt(2))
  const long long mb = __double_as_longlong((double)(long long)(((bits >> 32) << 1) | 1ULL));
  const long long mantissa = mb & 0xFFFFFFFFFFFFFLL;
  const bool low = __longlong_as_double(mantissa | 0x3FE0000000000000LL) < 0.7071067811865476;
  const double f =
      __longlong_as_double(mantissa | (0x3FE0000000000000LL + ((long long)low << 52)));
  const int e = (int)(mb >> 52) - 1022 - (int)low;
  const double s = (f - 1.0) / (f + 1.0);
  const double s2 = s * s;
  double p = 1.0 / 21.0;
  p = p * s2 + 1.0 / 19.0;
  p = p * s2 + 1.0 / 17.0;
  p = p * s2 + 1.0 / 15.0;
  p = p * s2 + 1.0 / 13.0;
  p = p * s2 + 1.0 / 11.0;
  p = p * s2 + 1.0 / 9.0;
  p = p * s2 + 1.0 / 7.0;
  p = p * s2 + 1.0 / 5.0;
  p = p * s2 + 1.0 / 3.0;
  p = p * s2 + 1.0;
  const double ln_u = 2.0 * s * p + (double)(e - 33) * 0.6931471805599453;
  const double r = sqrt(-2.0 * ln_u);
  const int q = (int)((bits >> 30) & 3ULL);
  const int c = (int)(bits & 0x3FFFFFFFULL);
  const int fold = c > 0x20000000;
  const double a = (double)(c + fold * (0x40000000 - 2 * c)) * (3.141592653589793 / 2147483648.0);
  const double a2 = a * a;
  double pc = 1.0 / 20922789888000.0;
  pc = pc * a2 - 1.0 / 87178291200.0;
  pc = pc * a2 + 1.0 / 479001600.0;
  pc = pc * a2 - 1.0 / 3628800.0;
  pc = pc * a2 + 1.0 / 40320.0;
  pc = pc * a2 - 1.0 / 720.0;
  pc = pc * a2 + 1.0 / 24.0;
  pc = pc * a2 - 1.0 / 2.0;
  pc = pc * a2 + 1.0;
  double ps = 1.0 / 355687428096000.0;
  ps = ps * a2 - 1.0 / 1307674368000.0;
  ps = ps * a2 + 1.0 / 6227020800.0;
  ps = ps * a2 - 1.0 / 39916800.0;
  ps = ps * a2 + 1.0 / 362880.0;
  ps = ps * a2 - 1.0 / 5040.0;
  ps = ps * a2 + 1.0 / 120.0;
  ps = ps * a2 - 1.0 / 6.0;
  ps = ps * a2 + 1.0;
  ps = ps * a;
  // cos t is cos a, or sin a when folded; quadrants 1, 2, 3 give -sin t, -cos t, sin t
  const double z = r * gpudnn_pick((q & 1) != fold, ps, pc);
  // negated (its sign bit flipped) in quadrants 1 and 2
  return __longlong_as_double(__double_as_longlong(z) ^
                              (long long)((unsigned long long)((q + 1) & 2) << 62));
}

// kernel: dropout | in: T x, raw int64 step, int64 seed, int64 threshold, T scale | out: T y | scalars: seed, threshold, scale
// y = x * scale * keep, keep = ((bits(seed, step[0], i) >> 32) >= threshold), scale = 1 / (1 - rate).
// Forward (x the layer input) and backward (x = dy) use the same key, so they apply one mask.
// y may be x. NaN in x stays NaN (NaN * 0), as in x * mask / (1 - rate).
const unsigned long long bits = gpudnn_random_bits(seed, step[0], (unsigned long long)i);
y = x * scale * (T)((long long)(bits >> 32) >= threshold);

// kernel: dropout_shared | in: T x, raw int64 step, int64 seed, int64 threshold, T scale, int32 k, int64 row_stride, int64 col_step | out: T y | scalars: seed, threshold, scale, k, row_stride, col_step
// Dropout with its mask shared along an axis of the (n, k) batch (Keras's noise_shape): element
// (i / k, i % k) keeps or drops as the draw of element j = (i / k) row_stride + (i % k) col_step,
// row_stride = k or 0 (one mask row for the whole batch), col_step = 1 or 0 (one draw per sample
// for all its features); k, 1 draws what the dropout kernel does. Backward: the same call on dy.
const unsigned long long j = (unsigned long long)(i / k) * (unsigned long long)row_stride +
                             (unsigned long long)(i % k) * (unsigned long long)col_step;
const unsigned long long bits = gpudnn_random_bits(seed, step[0], j);
y = x * scale * (T)((long long)(bits >> 32) >= threshold);

// kernel: gaussian_noise | in: T x, raw int64 step, int64 seed, float64 stddev | out: T y | scalars: seed, stddev
// GaussianNoise: y = x + (T)(stddev z), z = gpudnn_normal(bits(seed, step[0], i)) in double.
// (Its backward is dy itself.) y may be x.
y = x + (T)(stddev * gpudnn_normal(gpudnn_random_bits(seed, step[0], (unsigned long long)i)));

// kernel: gaussian_dropout | in: T x, raw int64 step, int64 seed, float64 stddev | out: T y | scalars: seed, stddev
// GaussianDropout: y = x * (T)(1 + stddev z), z as in gaussian_noise, stddev = sqrt(rate / (1 -
// rate)). Backward: the same call on dy (same key, same factor). y may be x.
y = x * (T)(1.0 + stddev * gpudnn_normal(gpudnn_random_bits(seed, step[0], (unsigned long long)i)));

// kernel: increment_counter | in: int64 by | out: int64 count | scalars: by
// count += by: the dropout step (by 1) and fit's batch position (by the batch size) advanced on
// the device, once per step.
count += by;
