// gpudnn CUDA kernels: optimizer updates. File format: see the top of activations.cu.
//
// Each update is ONE launch over the model's flat (P,) buffers: parameters and optimizer slots
// are out-params updated in place, g is the gradient. Hyperparameters arrive as T scalars;
// anything derived from them (1 - beta, Adam's bias-corrected step alpha) is computed on the
// host in double precision, as the NumPy backend does, and the operations keep NumpyBackend's
// order, so that with --fmad=false float32 results match it to the bit.

// NaN-propagating maximum, like numpy.maximum (CUDA's max/fmax drop a NaN).
template <typename U>
__device__ __forceinline__ U nan_max(U a, U b) {
  return (a != a || a > b) ? a : b;
}

// kernel: sgd_update | in: T g, T lr | out: T param | scalars: lr
// param -= lr g
param -= lr * g;

// kernel: momentum_update | in: T g, T lr, T momentum, int32 nesterov | out: T param, T velocity | scalars: lr, momentum, nesterov
// v = momentum v - lr g; param += v, or with Nesterov param += momentum v - lr g
const T step = lr * g;
velocity = velocity * momentum - step;
param = nesterov ? (param - step) + velocity * momentum : param + velocity;

// kernel: rmsprop_update | in: T g, T lr, T rho, T one_minus_rho, T epsilon | out: T param, T velocity | scalars: lr, rho, one_minus_rho, epsilon
// v = rho v + (1 - rho) g^2; param -= lr g / sqrt(v + eps)
velocity = velocity * rho + g * g * one_minus_rho;
param -= lr * (g / sqrt(velocity + epsilon));

// kernel: rmsprop_momentum_update | in: T g, T lr, T rho, T one_minus_rho, T epsilon, T momentum | out: T param, T velocity, T mom | scalars: lr, rho, one_minus_rho, epsilon, momentum
// v = rho v + (1 - rho) g^2; mom = momentum mom + lr g / sqrt(v + eps); param -= mom
velocity = velocity * rho + g * g * one_minus_rho;
mom = mom * momentum + lr * (g / sqrt(velocity + epsilon));
param -= mom;

// kernel: adam_update | in: T g, T alpha, T one_minus_beta1, T one_minus_beta2, T epsilon, T decay | out: T param, T m, T v | scalars: alpha, one_minus_beta1, one_minus_beta2, epsilon, decay
// AdamW decay first (decay = lr weight_decay, 0 for Adam): param -= decay param;
// m += (1 - beta1)(g - m); v += (1 - beta2)(g^2 - v); param -= alpha m / (sqrt(v) + eps),
// alpha = lr sqrt(1 - beta2^t) / (1 - beta1^t) from the host
if (decay != (T)0) param -= param * decay;
m += (g - m) * one_minus_beta1;
v += (g * g - v) * one_minus_beta2;
param -= alpha * (m / (sqrt(v) + epsilon));

// kernel: amsgrad_update | in: T g, T alpha, T one_minus_beta1, T one_minus_beta2, T epsilon, T decay | out: T param, T m, T v, T vhat | scalars: alpha, one_minus_beta1, one_minus_beta2, epsilon, decay
// Adam (with optional AdamW decay) where vhat = max(vhat, v) replaces v in the step
if (decay != (T)0) param -= param * decay;
m += (g - m) * one_minus_beta1;
v += (g * g - v) * one_minus_beta2;
vhat = nan_max(vhat, v);
param -= alpha * (m / (sqrt(vhat) + epsilon));

// kernel: adagrad_update | in: T g, T lr, T epsilon | out: T param, T accumulator | scalars: lr, epsilon
// acc += g^2; param -= lr g / sqrt(acc + eps)
accumulator += g * g;
param -= lr * (g / sqrt(accumulator + epsilon));
