// gpudnn CUDA kernels: moving training data into a step's buffers. File format: see the top of
// activations.cu.
//
// fit gathers each batch on the device from the data set's device copy, in the epoch's shuffled
// order. The batch's place in that order is read from device memory (`position`, advanced by
// increment_counter at the end of each step), never passed as a host scalar, so that a captured
// training step (a CUDA graph) gathers the next batch at every replay.

// kernel: take_rows_at | in: raw T src, raw int64 order, raw int64 position, int64 width | out: T out | scalars: width
// out (n, width) flat: row r is row order[position[0] + r] of src (N, width) flat
const long long row = i / width;
out = src[order[position[0] + row] * width + (i - row * width)];
