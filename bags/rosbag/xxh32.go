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
	n := uint32(len(b))
	var h uint32
	if len(b) >= 16 {
		p1, p2 := xxPrime1, xxPrime2 // variables: the seeds wrap around, as the spec means them to
		v1 := p1 + p2
		v2 := p2
		v3 := uint32(0)
		v4 := -p1
		// Two stripes per iteration, indexed rather than resliced: the loop is the checksum of every lz4
		// chunk, and this form runs about 1.5 times as fast as one stripe per b = b[16:].
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
			i += 16
		}
		b = b[i:]
		h = bits.RotateLeft32(v1, 1) + bits.RotateLeft32(v2, 7) + bits.RotateLeft32(v3, 12) + bits.RotateLeft32(v4, 18)
	} else {
		h = xxPrime5
	}
	h += n
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
