package engine

import "fmt"

// Tensor is a dense float32 array in NCHW layout, contiguous: element
// (n, c, h, w) is Data[((n*C+c)*H+h)*W+w].
type Tensor struct {
	N, C, H, W int
	Data       []float32
}

// NewTensor returns a zeroed tensor of shape [n, c, h, w]. Its storage may be a released tensor's (see Release).
func NewTensor(n, c, h, w int) *Tensor {
	t := Empty(n, c, h, w)
	clear(t.Data)
	return t
}

func checkShape(n, c, h, w int) {
	if n < 0 || c < 0 || h < 0 || w < 0 {
		panic(fmt.Sprintf("engine: negative tensor shape [%d %d %d %d]", n, c, h, w))
	}
}

// TensorFrom wraps data (not copied) as a tensor of shape [n, c, h, w].
// It panics if len(data) != n*c*h*w.
func TensorFrom(n, c, h, w int, data []float32) *Tensor {
	checkShape(n, c, h, w)
	if len(data) != n*c*h*w {
		panic(fmt.Sprintf("engine: TensorFrom shape [%d %d %d %d] does not match %d values", n, c, h, w, len(data)))
	}
	return &Tensor{N: n, C: c, H: h, W: w, Data: data}
}

// Len returns the number of elements, N*C*H*W.
func (t *Tensor) Len() int { return t.N * t.C * t.H * t.W }

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	u := &Tensor{N: t.N, C: t.C, H: t.H, W: t.W, Data: buffers.get(len(t.Data))}
	copy(u.Data, t.Data)
	return u
}

// SameShape reports whether t and u have the same N, C, H and W.
func (t *Tensor) SameShape(u *Tensor) bool {
	return t.N == u.N && t.C == u.C && t.H == u.H && t.W == u.W
}

// Shape returns [N, C, H, W].
func (t *Tensor) Shape() [4]int { return [4]int{t.N, t.C, t.H, t.W} }

// String returns the shape, for error and panic messages.
func (t *Tensor) String() string {
	return fmt.Sprintf("Tensor[%d %d %d %d]", t.N, t.C, t.H, t.W)
}

// Batch returns the samples [lo, hi) of t as a tensor that shares t's data,
// so a modality's slice of a modality-major batch needs no copy.
func (t *Tensor) Batch(lo, hi int) *Tensor {
	if lo < 0 || hi > t.N || lo > hi {
		panic(fmt.Sprintf("engine: Batch [%d, %d) out of range for %v", lo, hi, t))
	}
	s := t.C * t.H * t.W
	return &Tensor{N: hi - lo, C: t.C, H: t.H, W: t.W, Data: t.Data[lo*s : hi*s : hi*s]}
}

// Split cuts a modality-major batch [m*N, ...] into m tensors [N, ...] that
// share t's data.
func (t *Tensor) Split(m int) []*Tensor {
	if m <= 0 || t.N%m != 0 {
		panic(fmt.Sprintf("engine: Split of %v into %d groups", t, m))
	}
	n := t.N / m
	out := make([]*Tensor, m)
	for i := range out {
		out[i] = t.Batch(i*n, (i+1)*n)
	}
	return out
}

// Concat stacks tensors of equal C, H, W along the batch axis into a new tensor.
func Concat(ts []*Tensor) *Tensor {
	if len(ts) == 0 {
		panic("engine: Concat of no tensors")
	}
	n := 0
	for _, t := range ts {
		if t.C != ts[0].C || t.H != ts[0].H || t.W != ts[0].W {
			panic(fmt.Sprintf("engine: Concat of %v and %v", ts[0], t))
		}
		n += t.N
	}
	out := Empty(n, ts[0].C, ts[0].H, ts[0].W)
	off := 0
	for _, t := range ts {
		off += copy(out.Data[off:], t.Data)
	}
	return out
}

func mustSameShape(op string, a, b *Tensor) {
	if !a.SameShape(b) {
		panic(fmt.Sprintf("engine: %s: shape %v does not match %v", op, a, b))
	}
}
