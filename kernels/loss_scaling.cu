// gpudnn CUDA kernels: dynamic loss scaling (mixed_float16's LossScaleOptimizer).
// File format: see the top of activations.cu. The rule: gpudnn/optimizers/loss_scale.py.
//
// The optimizer's state is a (4,) float32 device array [scale, good steps in a row, skipped
// steps, last step finite]; the kernels read and write it when they run, so a captured step
// replays the check, the skip and the new scale without a host read. The skip itself is the
// gated forms of the update kernels (gpudnn/backend/kernel_half.py): each first reads the
// finite flag and leaves every element untouched when it is 0.

// kernel: scale_by_loss_scale | in: raw float32 state | out: T g
// The model's output gradient times the loss scale, in place: g = g * scale.
g = g * (T)state[0];

// kernel: reset_finite_flag | in: int64 threads | out: raw float32 finite | scalars: threads
// One thread: finite[0] = 1, before unscale_gradients looks for a non-finite gradient.
finite[0] = 1.0f;

// kernel: unscale_gradients | in: raw float32 loss_scale | out: T g, raw float32 finite
// g = g / loss_scale[0], in place; a non-finite scaled gradient (inf or NaN: x - x is not 0)
// sets finite[0] = 0. Every thread that writes writes the same 0: the writes need no order.
const T scaled = g;
if (!(scaled - scaled == (T)0)) finite[0] = 0.0f;
g = scaled / (T)loss_scale[0];

// kernel: update_loss_scale | in: float32 growth, int64 threads | out: raw float32 state | scalars: growth, threads
// One thread, after the (possibly skipped) update, Keras's dynamic rule: a finite step counts
// one more good step and the growth-th in a row doubles the scale (the count restarts); a
// non-finite one halves the scale, restarts the count and counts one skipped step.
if (state[3] != 0.0f) {
  if (state[1] == growth - 1.0f) {
    state[0] = state[0] * 2.0f;
    state[1] = 0.0f;
  } else {
    state[1] = state[1] + 1.0f;
  }
} else {
  state[0] = state[0] * 0.5f;
  state[1] = 0.0f;
  state[2] = state[2] + 1.0f;
}
