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
