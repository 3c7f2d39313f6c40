package engine

import (
	"runtime"
	"sync"
)

// Tensor storage is recycled. A training step allocates and drops about a hundred activation- and gradient-sized
// tensors per layer group, and left to the garbage collector that traffic lets the heap grow to twice what is
// live (GOGC=100) before a collection: peak memory 1.5–2× the working set, where PyTorch frees each tensor the
// moment its last reference goes. Callers that know a tensor is dead hand it back with Release; the next tensor
// of the same length reuses its storage, so a steady training loop allocates (and the collector sees) almost
// nothing after its first step, and the heap stays at the working set.
//
// The free lists are keyed by exact length: a network's tensors come in a few dozen sizes that repeat every
// step. Buffers that wait through two garbage collections without being reused (sizes a run stopped using, such
// as a validation pass at another resolution) are dropped, so the lists never hold much more than the sizes in
// use.
var buffers = bufferPool{free: map[int][]pooled{}}

type bufferPool struct {
	mu    sync.Mutex
	free  map[int][]pooled // by length; last in, first out
	bytes int64            // capacity held, in bytes
	gen   uint64           // garbage collections seen
}

type pooled struct {
	b   []float32
	gen uint64 // buffers.gen when it was released
}

func init() { watchGC() }

// watchGC calls buffers.collected after every garbage collection: a finalizer on an unreachable object runs
// once the collector has found it unreachable, and each run arms the next.
func watchGC() {
	s := new([4]uint64) // 32 bytes: not batched into the tiny allocator, so it is collected on its own
	runtime.SetFinalizer(s, func(*[4]uint64) {
		buffers.collected()
		watchGC()
	})
}

// collected drops the buffers that were already free at the previous collection.
func (p *bufferPool) collected() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	for n, l := range p.free {
		keep := l[:0]
		for _, e := range l {
			if p.gen-e.gen < 2 {
				keep = append(keep, e)
			} else {
				p.bytes -= 4 * int64(cap(e.b))
			}
		}
		clear(l[len(keep):])
		if len(keep) == 0 {
			delete(p.free, n)
		} else {
			p.free[n] = keep
		}
	}
}

// get returns a buffer of length n with unspecified contents.
func (p *bufferPool) get(n int) []float32 {
	if n == 0 {
		return []float32{}
	}
	p.mu.Lock()
	if l := p.free[n]; len(l) > 0 {
		b := l[len(l)-1].b
		l[len(l)-1] = pooled{}
		p.free[n] = l[:len(l)-1]
		p.bytes -= 4 * int64(cap(b))
		p.mu.Unlock()
		return b
	}
	p.mu.Unlock()
	return make([]float32, n)
}

func (p *bufferPool) put(b []float32) {
	if len(b) == 0 {
		return
	}
	p.mu.Lock()
	p.free[len(b)] = append(p.free[len(b)], pooled{b: b, gen: p.gen})
	p.bytes += 4 * int64(cap(b))
	p.mu.Unlock()
}

// Empty returns a tensor of shape [n, c, h, w] with unspecified contents, for outputs a kernel overwrites
// entirely. Its storage may be a released tensor's.
func Empty(n, c, h, w int) *Tensor {
	checkShape(n, c, h, w)
	return &Tensor{N: n, C: c, H: h, W: w, Data: buffers.get(n * c * h * w)}
}

// Release hands t's storage back for reuse by later tensors and empties t (its Data becomes nil, so a use after
// release fails loudly instead of reading another tensor's values). Only a tensor that owns its storage and has
// no other user may be released: one made by NewTensor, Empty, Clone, Concat or a kernel, not a TensorFrom of
// the caller's data nor a Batch or Split view. Release(nil) does nothing.
func Release(t *Tensor) {
	if t == nil || t.Data == nil {
		return
	}
	buffers.put(t.Data[:cap(t.Data)])
	t.Data = nil
}

// FreeBuffers drops every released buffer, so the garbage collector can return the memory to the system (after
// a training run, before a long idle period).
func FreeBuffers() {
	buffers.mu.Lock()
	defer buffers.mu.Unlock()
	buffers.free = map[int][]pooled{}
	buffers.bytes = 0
}

// BufferBytes reports the bytes of released storage waiting for reuse (tests and memory reports).
func BufferBytes() int64 {
	buffers.mu.Lock()
	defer buffers.mu.Unlock()
	return buffers.bytes
}
