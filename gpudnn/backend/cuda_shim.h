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
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
