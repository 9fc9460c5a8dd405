// gpudnn CUDA kernels: counter-based random numbers (dropout) and device-side step counters.
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

// kernel: dropout | in: T x, raw int64 step, int64 seed, int64 threshold, T scale | out: T y | scalars: seed, threshold, scale
// y = x * scale * keep, keep = ((bits(seed, step[0], i) >> 32) >= threshold), scale = 1 / (1 - rate).
// Forward (x the layer input) and backward (x = dy) use the same key, so they apply one mask.
// y may be x. NaN in x stays NaN (NaN * 0), as in x * mask / (1 - rate).
const unsigned long long bits = gpudnn_random_bits(seed, step[0], (unsigned long long)i);
y = x * scale * (T)((long long)(bits >> 32) >= threshold);

// kernel: increment_counter | in: int64 by | out: int64 count | scalars: by
// count += by: the dropout step (by 1) and fit's batch position (by the batch size) advanced on
// the device, once per step.
count += by;
