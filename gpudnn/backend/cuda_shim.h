// Lets the CUDA C bodies of kernels/*.cu compile as host C++ (g++ -std=c++17): used by
// gpudnn/backend/host_kernels.py (the compiled CPU backend and the tests' harness). Only what
// the bodies use or could plausibly use: the function qualifiers, and the math functions as
// unqualified overloads for float and double, as CUDA provides them.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#define __device__
#define __host__
#define __forceinline__ inline

// CUDA's 16-byte vector types (the vector forms of kernels/*.cu load and store through them).
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };

using std::exp;
using std::expm1;
using std::fabs;
using std::isnan;
using std::log;
using std::log1p;
using std::sqrt;
using std::tanh;

// The 16-bit storage types of the 16-bit kernel forms (gpudnn/backend/kernel_half.py): H is
// loaded with (float)h and stored with (H)f, rounding to nearest even, as CUDA's __half and
// __nv_bfloat16 (CuPy's float16 and bfloat16) do. float16 is the compiler's _Float16; bfloat16
// is the top half of a float32, rounded in integer arithmetic (NaN kept quiet), bit for bit
// what ml_dtypes.bfloat16 does. Only the 16-bit libraries define GPUDNN_HALF_TYPES, and only the
// float16 one GPUDNN_FLOAT16: a compiler without _Float16 in C++ (g++ < 12) then loses the
// float16 kernels (NumPy does those ops), not the bfloat16, float32 and float64 ones.
#ifdef GPUDNN_FLOAT16
typedef _Float16 gpudnn_float16;
#endif
#ifdef GPUDNN_HALF_TYPES
struct gpudnn_bfloat16 {
  std::uint16_t bits;
  gpudnn_bfloat16() = default;
  gpudnn_bfloat16(float f) {
    std::uint32_t u;
    __builtin_memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      bits = (std::uint16_t)((u >> 16) | 0x40u);  // a NaN stays a (quiet) NaN
    } else {
      u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
      bits = (std::uint16_t)(u >> 16);
    }
  }
  operator float() const {
    const std::uint32_t u = (std::uint32_t)bits << 16;
    float f;
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
  }
};
#endif  // GPUDNN_HALF_TYPES

// CUDA's max/min on floating point are fmax/fmin (a NaN operand is dropped).
inline float max(float a, float b) { return std::fmax(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
inline float min(float a, float b) { return std::fmin(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
// CUDA's bit casts between double and long long.
inline long long __double_as_longlong(double x) {
  long long r;
  __builtin_memcpy(&r, &x, sizeof r);
  return r;
}
inline double __longlong_as_double(long long x) {
  double r;
  __builtin_memcpy(&r, &x, sizeof r);
  return r;
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }

// CUDA's atomicAdd on a double: a compare-and-swap loop on its bits, so that OpenMP threads of
// a host row kernel add safely too. Returns the old value, as CUDA's does.
inline double atomicAdd(double* address, double value) {
  unsigned long long* bits = reinterpret_cast<unsigned long long*>(address);
  unsigned long long seen = __atomic_load_n(bits, __ATOMIC_RELAXED);
  for (;;) {
    double old;
    __builtin_memcpy(&old, &seen, sizeof old);
    const double sum = old + value;
    unsigned long long next;
    __builtin_memcpy(&next, &sum, sizeof next);
    if (__atomic_compare_exchange_n(bits, &seen, next, false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED)) {
      return old;
    }
  }
}
