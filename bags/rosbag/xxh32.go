package rosbag

import (
	"encoding/binary"
	"math/bits"
)

// xxHash32 primes (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md).
const (
	xxPrime1 uint32 = 2654435761
	xxPrime2 uint32 = 2246822519
	xxPrime3 uint32 = 3266489917
	xxPrime4 uint32 = 668265263
	xxPrime5 uint32 = 374761393
)

// xxh32 is the 32-bit xxHash of b with seed 0, the checksum of the LZ4 frame format.
func xxh32(b []byte) uint32 {
	if len(b) < 16 {
		return xxFinish(xxPrime5, b, len(b))
	}
	v := xxSeed()
	n := len(b) &^ 15
	xxStripes(&v, b[:n])
	return xxFinish(xxMerge(&v), b[n:], len(b))
}

// xxh32Pair is xxh32 of a and of b. Where the CPU has AVX2 it hashes the two side by side in one pass,
// which runs about twice as fast as hashing one after the other (BenchmarkXXH32 on an AMD EPYC: Go 4.1
// GB/s, AVX 6.7, a pair 13.0): each of a hash's four lanes is a chain of an add, a rotate and a multiply
// per 4 bytes, so one hash leaves the vector units waiting on that chain, and a second fills the gaps.
func xxh32Pair(a, b []byte) (uint32, uint32) {
	if !useAVX2 || len(a) < 256 || len(b) < 256 {
		return xxh32(a), xxh32(b)
	}
	var v [8]uint32
	s := xxSeed()
	copy(v[:4], s[:])
	copy(v[4:], s[:])
	n := min(len(a), len(b)) &^ 15
	xxStripes2AVX2(&v, &a[0], &b[0], n/16)
	va, vb := [4]uint32(v[:4]), [4]uint32(v[4:])
	na, nb := len(a)&^15, len(b)&^15
	xxStripes(&va, a[n:na])
	xxStripes(&vb, b[n:nb])
	return xxFinish(xxMerge(&va), a[na:], len(a)), xxFinish(xxMerge(&vb), b[nb:], len(b))
}

// xxSeed is the lanes' state before the first stripe, for seed 0. (Variables: the sums wrap around, as
// the spec means them to.)
func xxSeed() [4]uint32 {
	p1, p2 := xxPrime1, xxPrime2
	return [4]uint32{p1 + p2, p2, 0, -p1}
}

// xxStripes runs the lanes v over b, whose length is a multiple of 16: with AVX where the CPU has it
// (the four lanes in one vector register, about 1.6 times as fast), else in Go.
func xxStripes(v *[4]uint32, b []byte) {
	if useAVX && len(b) >= 64 {
		xxStripesAVX(v, &b[0], len(b)/16)
		return
	}
	xxStripesGo(v, b)
}

func xxStripesGo(v *[4]uint32, b []byte) {
	v1, v2, v3, v4 := v[0], v[1], v[2], v[3]
	// Two stripes per iteration, indexed rather than resliced: this form runs about 1.5 times as fast as
	// one stripe per b = b[16:].
	i := 0
	for ; len(b)-i >= 32; i += 32 {
		s := b[i : i+32 : i+32]
		v1 = xxRound(v1, binary.LittleEndian.Uint32(s[0:]))
		v2 = xxRound(v2, binary.LittleEndian.Uint32(s[4:]))
		v3 = xxRound(v3, binary.LittleEndian.Uint32(s[8:]))
		v4 = xxRound(v4, binary.LittleEndian.Uint32(s[12:]))
		v1 = xxRound(v1, binary.LittleEndian.Uint32(s[16:]))
		v2 = xxRound(v2, binary.LittleEndian.Uint32(s[20:]))
		v3 = xxRound(v3, binary.LittleEndian.Uint32(s[24:]))
		v4 = xxRound(v4, binary.LittleEndian.Uint32(s[28:]))
	}
	if len(b)-i >= 16 {
		s := b[i : i+16 : i+16]
		v1 = xxRound(v1, binary.LittleEndian.Uint32(s[0:]))
		v2 = xxRound(v2, binary.LittleEndian.Uint32(s[4:]))
		v3 = xxRound(v3, binary.LittleEndian.Uint32(s[8:]))
		v4 = xxRound(v4, binary.LittleEndian.Uint32(s[12:]))
	}
	v[0], v[1], v[2], v[3] = v1, v2, v3, v4
}

// xxMerge folds the four lanes into one value.
func xxMerge(v *[4]uint32) uint32 {
	return bits.RotateLeft32(v[0], 1) + bits.RotateLeft32(v[1], 7) + bits.RotateLeft32(v[2], 12) + bits.RotateLeft32(v[3], 18)
}

// xxFinish adds the total length n and the tail b (under 16 bytes) to h and mixes the result.
func xxFinish(h uint32, b []byte, n int) uint32 {
	h += uint32(n)
	for ; len(b) >= 4; b = b[4:] {
		h = bits.RotateLeft32(h+binary.LittleEndian.Uint32(b)*xxPrime3, 17) * xxPrime4
	}
	for _, c := range b {
		h = bits.RotateLeft32(h+uint32(c)*xxPrime5, 11) * xxPrime1
	}
	h ^= h >> 15
	h *= xxPrime2
	h ^= h >> 13
	h *= xxPrime3
	h ^= h >> 16
	return h
}

func xxRound(v, lane uint32) uint32 { return bits.RotateLeft32(v+lane*xxPrime2, 13) * xxPrime1 }
