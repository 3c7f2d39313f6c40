// Package engine is the float32 compute core of CEN: the forward and backward
// kernels that the model code in package cen calls layer by layer.
//
// There is no autograd graph. Every operation is a plain function over a dense
// NCHW [Tensor]; the caller keeps what a backward kernel needs (usually the
// forward input or output) and calls the backward kernels in reverse order.
//
// The M modalities of a CEN model run as one batch of M*N samples through the
// shared convolutions. The batch is modality-major: samples [m*N, (m+1)*N) are
// modality m. Kernels with per-modality state (batch norm, exchange, ensemble)
// take the number of modalities (groups) and split the batch that way.
//
// Convolutions are im2col + SGEMM through gonum's blas32 facade backed by
// OpenBLAS (gonum.org/v1/netlib); the other kernels run in parallel over
// N*C planes with up to [Threads] goroutines.
//
// Kernels write their outputs into storage that may be recycled: a caller that
// knows a tensor is dead hands it back with [Release], and the next tensor of
// the same length reuses it (see buffers.go). Training releases every
// activation and gradient when it is dead, so steady steps allocate almost
// nothing and the heap stays at the working set instead of growing by a
// step's garbage between collections.
//
// Shape mismatches are programmer errors of the model code, so kernels panic
// with a message naming the operation, as gonum does.
package engine
