package rosbag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/pierrec/lz4/v4"
)

// LZ4 frame format (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md), as roslz4 writes it:
// magic, descriptor, blocks (each with a 4-byte size whose top bit marks it stored), an end mark and an
// optional checksum of the content. Decoding blocks straight into the chunk buffer, rather than through a
// stream reader, saves two copies of every byte.
const (
	lz4Magic          = 0x184D2204
	lz4SkippableMagic = 0x184D2A50 // to 0x184D2A5F
)

// lz4Decode decodes the LZ4 frames in src and appends their content to dst, at most limit bytes in all.
// src cut inside a frame gives io.ErrUnexpectedEOF, with the content of the whole blocks before the cut
// appended. dst grows with the output actually produced, never to a size the data merely claims.
//
// With sum nil every frame's content checksum is verified here. Otherwise the last frame's is left to the
// caller, in *sum (unset when that frame has none, or on an error), so that it can hash two chunks side by
// side (xxh32Pair); the frames before it are verified here.
func lz4Decode(dst, src []byte, limit int64, sum *contentSum) ([]byte, error) {
	start := len(dst)
	var pend contentSum
	if sum != nil {
		*sum = contentSum{}
	}
	for p := 0; p < len(src); {
		if pend.set { // a frame follows the one whose checksum waits
			if err := pend.check(dst[start:]); err != nil {
				return dst, err
			}
			pend = contentSum{}
		}
		if len(src)-p < 4 {
			return dst, fmt.Errorf("lz4: %d bytes after the last frame: %w", len(src)-p, io.ErrUnexpectedEOF)
		}
		switch m := binary.LittleEndian.Uint32(src[p:]); {
		case m == lz4Magic:
			var err error
			dst, p, pend, err = lz4Frame(dst, src, p, limit, start, sum != nil)
			if err != nil {
				return dst, err
			}
		case m&0xFFFFFFF0 == lz4SkippableMagic:
			if len(src)-p < 8 {
				return dst, fmt.Errorf("lz4: skippable frame at byte %d: %w", p, io.ErrUnexpectedEOF)
			}
			n := int(binary.LittleEndian.Uint32(src[p+4:]))
			if n > len(src)-p-8 || n < 0 {
				return dst, fmt.Errorf("lz4: skippable frame at byte %d: %w", p, io.ErrUnexpectedEOF)
			}
			p += 8 + n
		default:
			return dst, fmt.Errorf("lz4: no frame magic at byte %d (found 0x%08x)", p, m)
		}
	}
	if sum != nil {
		*sum = pend
	}
	return dst, nil
}

// contentSum is a frame's content checksum still to be verified: the xxh32 of data[off:end] must be want,
// where data is the content of all the frames of the chunk (see lz4Decode).
type contentSum struct {
	want     uint32
	off, end int
	frame    int // the frame's offset in the compressed data, for the error
	set      bool
}

// check verifies the checksum against data.
func (s contentSum) check(data []byte) error {
	if s.set && xxh32(data[s.off:s.end]) != s.want {
		return errContentSum(s.frame)
	}
	return nil
}

// errContentSum is the error of a frame whose content does not give its checksum.
func errContentSum(frame int) error {
	return fmt.Errorf("lz4: frame at byte %d: content checksum mismatch", frame)
}

// lz4Frame decodes the frame at src[p:] and returns the offset after it. base is where the chunk's content
// starts in dst. With deferSum the frame's content checksum is returned rather than verified.
func lz4Frame(dst, src []byte, p int, limit int64, base int, deferSum bool) ([]byte, int, contentSum, error) {
	var none contentSum
	start := p
	cut := func(what string) error {
		return fmt.Errorf("lz4: frame at byte %d: %s cut short: %w", start, what, io.ErrUnexpectedEOF)
	}
	p += 4
	if len(src)-p < 3 {
		return dst, p, none, cut("descriptor")
	}
	flg, bd := src[p], src[p+1]
	if flg>>6 != 1 {
		return dst, p, none, fmt.Errorf("lz4: frame at byte %d: version %d, want 1", start, flg>>6)
	}
	if flg&0x02 != 0 || bd&0x8F != 0 {
		return dst, p, none, fmt.Errorf("lz4: frame at byte %d: reserved descriptor bits set", start)
	}
	if flg&0x01 != 0 {
		return dst, p, none, fmt.Errorf("lz4: frame at byte %d: needs a dictionary", start)
	}
	independent, blockSum, hasSize, hasSum := flg&0x20 != 0, flg&0x10 != 0, flg&0x08 != 0, flg&0x04 != 0
	blockMax := 0
	switch bd >> 4 {
	case 4:
		blockMax = 64 << 10
	case 5:
		blockMax = 256 << 10
	case 6:
		blockMax = 1 << 20
	case 7:
		blockMax = 4 << 20
	default:
		return dst, p, none, fmt.Errorf("lz4: frame at byte %d: block size code %d", start, bd>>4)
	}
	descEnd := p + 2
	if hasSize {
		descEnd += 8
	}
	if len(src) < descEnd+1 {
		return dst, p, none, cut("descriptor")
	}
	if want := byte(xxh32(src[p:descEnd]) >> 8); src[descEnd] != want {
		return dst, p, none, fmt.Errorf("lz4: frame at byte %d: descriptor checksum 0x%02x, want 0x%02x", start, src[descEnd], want)
	}
	var contentSize uint64
	if hasSize {
		contentSize = binary.LittleEndian.Uint64(src[p+2:])
	}
	p = descEnd + 1
	out := len(dst) // where this frame's content starts
	for {
		if len(src)-p < 4 {
			return dst, p, none, cut("block size")
		}
		bs := binary.LittleEndian.Uint32(src[p:])
		p += 4
		if bs == 0 {
			break
		}
		stored := bs&0x80000000 != 0
		n := int(bs & 0x7FFFFFFF)
		if n > blockMax {
			return dst, p, none, fmt.Errorf("lz4: frame at byte %d: block at byte %d of %d bytes, more than the frame's %d", start, p-4, n, blockMax)
		}
		if len(src)-p < n {
			return dst, p, none, cut("block")
		}
		block := src[p : p+n]
		p += n
		if blockSum {
			if len(src)-p < 4 {
				return dst, p, none, cut("block checksum")
			}
			if got, want := binary.LittleEndian.Uint32(src[p:]), xxh32(block); got != want {
				return dst, p, none, fmt.Errorf("lz4: frame at byte %d: block checksum mismatch at byte %d", start, p)
			}
			p += 4
		}
		// An LZ4 block expands at most about 255 times (a match length byte of 255 adds 255 bytes).
		room := min(int64(blockMax), limit-int64(len(dst)), 256*int64(n)+64)
		if stored {
			if int64(n) > room {
				return dst, p, none, errTooLong
			}
			dst = append(dst, block...)
			continue
		}
		dst = grow(dst, int(room))
		var k int
		var err error
		if independent {
			k, err = lz4.UncompressBlock(block, dst[len(dst):len(dst)+int(room)])
		} else {
			d := len(dst) - 64<<10
			if d < out {
				d = out
			}
			k, err = lz4.UncompressBlockWithDict(block, dst[len(dst):len(dst)+int(room)], dst[d:len(dst)])
		}
		if err != nil {
			if room == limit-int64(len(dst)) {
				return dst, p, none, fmt.Errorf("lz4: frame at byte %d: block at byte %d does not decode, or decodes past the chunk's size: %v", start, p-n-4, err)
			}
			return dst, p, none, fmt.Errorf("lz4: frame at byte %d: block at byte %d does not decode: %v", start, p-n-4, err)
		}
		dst = dst[:len(dst)+k]
	}
	if hasSize && uint64(len(dst)-out) != contentSize {
		return dst, p, none, fmt.Errorf("lz4: frame at byte %d: %d bytes of content, its descriptor says %d", start, len(dst)-out, contentSize)
	}
	if hasSum {
		if len(src)-p < 4 {
			return dst, p, none, cut("content checksum")
		}
		sum := contentSum{want: binary.LittleEndian.Uint32(src[p:]), off: out - base, end: len(dst) - base, frame: start, set: true}
		p += 4
		if deferSum {
			return dst, p, sum, nil
		}
		if err := sum.check(dst[base:]); err != nil {
			return dst, p, none, err
		}
	}
	return dst, p, none, nil
}

var errTooLong = errors.New("decompressed data is longer than the chunk's size field")

// grow makes room for n more bytes after len(b), doubling so that a chunk buffer settles at its size.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	c := 2 * cap(b)
	if c < len(b)+n {
		c = len(b) + n
	}
	g := make([]byte, len(b), c)
	copy(g, b)
	return g
}
