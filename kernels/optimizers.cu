// gpudnn CUDA kernels: optimizer updates. File format: see the top of activations.cu.
//
// Each update is ONE launch over a flat (P,) buffer: parameters and optimizer slots are
// out-params updated in place, g is the gradient. Hyperparameters fixed for a run (betas, rho,
// epsilon, momentum) arrive as T scalars. The values that change from step to step are read from
// the optimizer's small device array `hyper` when the kernel runs, never passed as host scalars,
// so that a captured step (a CUDA graph) sees them change:
//   hyper[0] = the step size: the learning rate, or Adam's bias-corrected alpha
//              (lr sqrt(1 - beta2^t) / (1 - beta1^t)), Adamax's lr / (1 - beta1^t);
//   hyper[1] = decay = lr * weight_decay (0 when weight decay is off), applied first as
//              param -= param * decay (Keras: variable - variable * weight_decay * lr);
//   hyper[2..] = kernel-specific per-step factors (Nadam).
// The host computes them in double precision, as the NumPy backend does, and the operations keep
// NumpyBackend's order, so that with --fmad=false float32 results match it to the bit.

// `lanes: 4`: the CuPy backend launches each update (and each norm clip) as its vector form
// NAME_x4, generated from this same body (gpudnn/backend/kernel_source.py, vector_form), when
// every buffer is C-contiguous and 16-byte aligned: one thread per 4 elements, 16-byte loads
// and stores, the tail of a P that is not a multiple of 4 in the same launch. On an H200 the
// scalar form keeps too few bytes in flight per thread to reach the memory's bandwidth.

// Weight decay first, as Keras: param -= param * decay, decay = hyper[1] (0: weight decay off).
template <typename U, typename H>
__device__ __forceinline__ void apply_weight_decay(U& param, H& hyper) {
  const U decay = hyper[1];
  if (decay != (U)0) param -= param * decay;
}

// NaN-propagating maximum, like numpy.maximum (CUDA's max/fmax drop a NaN).
template <typename U>
__device__ __forceinline__ U nan_max(U a, U b) {
  return (a != a || a > b) ? a : b;
}

// kernel: sgd_update | in: T g, raw T hyper | out: T param | lanes: 4
// param -= lr g
apply_weight_decay(param, hyper);
param -= hyper[0] * g;

// kernel: momentum_update | in: T g, raw T hyper, T momentum, int32 nesterov | out: T param, T velocity | scalars: momentum, nesterov | lanes: 4
// v = momentum v - lr g; param += v, or with Nesterov param += momentum v - lr g
apply_weight_decay(param, hyper);
const T step = hyper[0] * g;
velocity = velocity * momentum - step;
param = nesterov ? (param - step) + velocity * momentum : param + velocity;

// kernel: rmsprop_update | in: T g, raw T hyper, T rho, T one_minus_rho, T epsilon | out: T param, T velocity | scalars: rho, one_minus_rho, epsilon | lanes: 4
// v = rho v + (1 - rho) g^2; param -= lr g / sqrt(v + eps)
apply_weight_decay(param, hyper);
velocity = velocity * rho + g * g * one_minus_rho;
param -= hyper[0] * (g / sqrt(velocity + epsilon));

// kernel: rmsprop_momentum_update | in: T g, raw T hyper, T rho, T one_minus_rho, T epsilon, T momentum | out: T param, T velocity, T mom | scalars: rho, one_minus_rho, epsilon, momentum | lanes: 4
// v = rho v + (1 - rho) g^2; mom = momentum mom + lr g / sqrt(v + eps); param -= mom
apply_weight_decay(param, hyper);
velocity = velocity * rho + g * g * one_minus_rho;
mom = mom * momentum + hyper[0] * (g / sqrt(velocity + epsilon));
param -= mom;

// kernel: rmsprop_centered_update | in: T g, raw T hyper, T rho, T one_minus_rho, T epsilon, T momentum | out: T param, T velocity, T average, T mom | scalars: rho, one_minus_rho, epsilon, momentum | lanes: 4
// centered RMSprop: v = rho v + (1 - rho) g^2; a = rho a + (1 - rho) g;
// mom = momentum mom + lr g / sqrt(v - a^2 + eps); param -= mom (momentum 0: mom is the increment)
apply_weight_decay(param, hyper);
velocity = velocity * rho + g * g * one_minus_rho;
average = average * rho + g * one_minus_rho;
mom = mom * momentum + hyper[0] * (g / sqrt((velocity - average * average) + epsilon));
param -= mom;

// kernel: adam_update | in: T g, raw T hyper, T one_minus_beta1, T one_minus_beta2, T epsilon | out: T param, T m, T v | scalars: one_minus_beta1, one_minus_beta2, epsilon | lanes: 4
// m += (1 - beta1)(g - m); v += (1 - beta2)(g^2 - v); param -= alpha m / (sqrt(v) + eps)
apply_weight_decay(param, hyper);
m += (g - m) * one_minus_beta1;
v += (g * g - v) * one_minus_beta2;
param -= hyper[0] * (m / (sqrt(v) + epsilon));

// kernel: amsgrad_update | in: T g, raw T hyper, T one_minus_beta1, T one_minus_beta2, T epsilon | out: T param, T m, T v, T vhat | scalars: one_minus_beta1, one_minus_beta2, epsilon | lanes: 4
// Adam where vhat = max(vhat, v) replaces v in the step
apply_weight_decay(param, hyper);
m += (g - m) * one_minus_beta1;
v += (g * g - v) * one_minus_beta2;
vhat = nan_max(vhat, v);
param -= hyper[0] * (m / (sqrt(vhat) + epsilon));

// kernel: nadam_update | in: T g, raw T hyper, T one_minus_beta1, T one_minus_beta2, T epsilon | out: T param, T m, T v | scalars: one_minus_beta1, one_minus_beta2, epsilon | lanes: 4
// Keras Nadam: m += (1 - beta1)(g - m); v += (1 - beta2)(g^2 - v);
// m_hat = c_m m + c_g g (hyper[2], hyper[3]); v_hat = v c_v (hyper[4]);
// param -= lr m_hat / (sqrt(v_hat) + eps)
apply_weight_decay(param, hyper);
m += (g - m) * one_minus_beta1;
v += (g * g - v) * one_minus_beta2;
const T m_hat = m * hyper[2] + g * hyper[3];
param -= (m_hat * hyper[0]) / (sqrt(v * hyper[4]) + epsilon);

// kernel: adamax_update | in: T g, raw T hyper, T one_minus_beta1, T beta2, T epsilon | out: T param, T m, T u | scalars: one_minus_beta1, beta2, epsilon | lanes: 4
// Keras Adamax: m += (1 - beta1)(g - m); u = max(beta2 u, |g|); param -= alpha m / (u + eps),
// alpha = lr / (1 - beta1^t)
apply_weight_decay(param, hyper);
m += (g - m) * one_minus_beta1;
u = nan_max(u * beta2, (T)fabs(g + (T)0));  // + 0: DAZ reads a subnormal g as 0, as NumPy's flushed update does
param -= hyper[0] * (m / (u + epsilon));

// kernel: adagrad_update | in: T g, raw T hyper, T epsilon | out: T param, T accumulator | scalars: epsilon | lanes: 4
// acc += g^2; param -= lr g / sqrt(acc + eps)
apply_weight_decay(param, hyper);
accumulator += g * g;
param -= hyper[0] * (g / sqrt(accumulator + epsilon));

// kernel: ema_update | in: T param, raw T rate | out: T average | lanes: 4
// Keras use_ema, after every step: average = momentum average + (1 - momentum) param with
// momentum = rate[0], a per-step value (0 on the first step, so that the average starts as the
// weights, then ema_momentum); param is only read
const T momentum = rate[0];
average = momentum * average + ((T)1 - momentum) * param;

// kernel: accumulate_gradients | in: T g | out: T accumulator | lanes: 4
// Keras gradient_accumulation_steps: a batch that does not update adds its gradient
accumulator += g;

// kernel: average_gradients | in: T steps | out: T g, T accumulator | scalars: steps | lanes: 4
// ... and every steps-th batch updates with the mean, g = (g + accumulator) / steps, and the
// accumulator starts again from 0 (the host picks the kernel: a recorded step of each form)
g = (g + accumulator) / steps;
accumulator = (T)0;

// kernel: clip_by_value | in: T g_in, T limit | out: T g | scalars: limit
// g = clip(g_in, -limit, limit), NaN kept (Keras clipvalue); called in place (g_in is g)
g = g_in < -limit ? -limit : (g_in > limit ? limit : g_in);

// kernel: clip_by_norm | in: raw T norm2, T clipnorm | out: T g | scalars: clipnorm | lanes: 4
// Keras clipnorm: g = g clipnorm / max(||g||, clipnorm), ||g||^2 = norm2[0] (a device reduction)
const T norm = sqrt(norm2[0]);
g = (g * clipnorm) / nan_max(norm, clipnorm);

// kernel: clip_by_global_norm | in: raw T norm2, T clipnorm | out: T g | scalars: clipnorm | lanes: 4
// Keras global_clipnorm: g *= clipnorm min(1 / ||all g||, 1 / clipnorm) (NaN when the norm is not finite)
const T norm = sqrt(norm2[0]);
const T inv = (T)1 / norm;
const T cap = (T)1 / clipnorm;
g *= clipnorm * (inv < cap ? inv : cap) + (norm - norm);
