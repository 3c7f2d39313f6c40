package synth

import "math"

// The random numbers are our own (SplitMix64 steps and finaliser) rather than
// math/rand's, whose helper methods promise no fixed output across Go
// releases: a data set must stay the same bytes for a seed.

const goldenGamma = 0x9e3779b97f4a7c15

// mix64 is the SplitMix64 finaliser: a bijective scramble of all 64 bits.
func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}

// rng is a SplitMix64 stream.
type rng struct{ s uint64 }

func newRNG(seed uint64) *rng { return &rng{s: mix64(seed ^ 0x5eed5eed5eed5eed)} }

func (r *rng) next() uint64 {
	r.s += goldenGamma
	return mix64(r.s)
}

// float returns a uniform number in [0, 1).
func (r *rng) float() float64 { return unit(r.next()) }

// uniform returns a uniform number in [a, b).
func (r *rng) uniform(a, b float64) float64 { return a + (b-a)*r.float() }

// between returns a uniform integer in [a, b].
func (r *rng) between(a, b int) int { return a + int((r.next()>>32)*uint64(b-a+1)>>32) }

// chance is true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// unit maps 53 bits of h to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) * (1.0 / (1 << 53)) }

// hash2 hashes a 2-D lattice point under a seed.
func hash2(seed uint64, x, y int64) uint64 {
	return mix64(seed ^ mix64(uint64(x)*0xd6e8feb86659fd93^uint64(y)*0xa0761d6478bd642f))
}

// gauss turns one hash into an approximately standard normal number: the sum
// of four 16-bit uniforms, centred and scaled to unit variance (Irwin–Hall).
func gauss(h uint64) float64 {
	s := float64(h&0xffff) + float64(h>>16&0xffff) + float64(h>>32&0xffff) + float64(h>>48)
	return (s/65536 - 2) * math.Sqrt(3)
}

// valueNoise is smooth lattice noise in [0, 1) with unit feature size.
func valueNoise(seed uint64, x, y float64) float64 {
	fx, fy := math.Floor(x), math.Floor(y)
	ix, iy := int64(fx), int64(fy)
	tx, ty := x-fx, y-fy
	tx = tx * tx * (3 - 2*tx)
	ty = ty * ty * (3 - 2*ty)
	a := unit(hash2(seed, ix, iy))
	b := unit(hash2(seed, ix+1, iy))
	c := unit(hash2(seed, ix, iy+1))
	d := unit(hash2(seed, ix+1, iy+1))
	top := a + (b-a)*tx
	bot := c + (d-c)*tx
	return top + (bot-top)*ty
}

// fbm is two octaves of value noise, in [0, 1).
func fbm(seed uint64, x, y float64) float64 {
	return (2*valueNoise(seed, x, y) + valueNoise(seed+1, 2.03*x, 2.03*y)) / 3
}

// cell is a per-cell random number in [0, 1) for a square lattice of size sz.
func cell(seed uint64, x, y, sz float64) float64 {
	return unit(hash2(seed, int64(math.Floor(x/sz)), int64(math.Floor(y/sz))))
}
