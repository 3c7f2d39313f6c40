package preprocess

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// RVL is the run-length/variable-length depth codec of Wilson, "Fast Lossless
// Depth Image Compression" (ISS 2017), as compressed_depth_image_transport
// uses it. Its payload is uint32 width, uint32 height (little-endian), then
// 32-bit little-endian words of 4-bit nibbles, most significant nibble first.
// A number is written as 3-bit groups, least significant group first, the
// nibble's high bit saying another group follows. The image is a sequence of
// (zero run length, non-zero run length, zig-zag deltas of the non-zero values).

// decodeRVLImage decodes an RVL payload with its size prefix.
func decodeRVLImage(data []byte, use func(w, h int, counts []uint16) error) error {
	if len(data) < 8 {
		return fmt.Errorf("RVL payload has %d bytes, shorter than its 8-byte size", len(data))
	}
	w := binary.LittleEndian.Uint32(data[0:4])
	h := binary.LittleEndian.Uint32(data[4:8])
	if w == 0 || h == 0 || uint64(w)*uint64(h) > maxPixels {
		return fmt.Errorf("RVL image size %dx%d is not usable", w, h)
	}
	n := int(w) * int(h)
	// Zero runs compress without bound, so only a dry run over the data can
	// tell whether it describes the whole image; do it before allocating.
	if err := decodeRVL(nil, n, data[8:]); err != nil {
		return fmt.Errorf("RVL image %dx%d: %w", w, h, err)
	}
	out := make([]uint16, n)
	if err := decodeRVL(out, n, data[8:]); err != nil {
		return fmt.Errorf("RVL image %dx%d: %w", w, h, err)
	}
	return use(int(w), int(h), out)
}

var errRVLShort = errors.New("RVL data ends early")

type rvlReader struct {
	data   []byte
	word   uint32
	nibble int // nibbles left in word
}

func (r *rvlReader) next() (uint32, error) {
	var value uint32
	for shift := 0; ; shift += 3 {
		if r.nibble == 0 {
			if len(r.data) < 4 {
				return 0, errRVLShort
			}
			r.word = binary.LittleEndian.Uint32(r.data)
			r.data = r.data[4:]
			r.nibble = 8
		}
		nib := r.word >> 28
		r.word <<= 4
		r.nibble--
		if shift > 30 {
			return 0, errors.New("RVL number is longer than 32 bits")
		}
		value |= (nib & 7) << shift
		if nib&8 == 0 {
			return value, nil
		}
	}
}

// decodeRVL decodes n pixels from RVL words into out, which must be zeroed,
// or only checks the data when out is nil.
func decodeRVL(out []uint16, n int, data []byte) error {
	r := rvlReader{data: data}
	var previous uint16
	for i := 0; i < n; {
		zeros, err := r.next()
		if err != nil {
			return err
		}
		if uint64(zeros) > uint64(n-i) {
			return fmt.Errorf("RVL zero run of %d overflows the image at pixel %d", zeros, i)
		}
		i += int(zeros) // out starts zeroed

		nonzeros, err := r.next()
		if err != nil {
			return err
		}
		if uint64(nonzeros) > uint64(n-i) {
			return fmt.Errorf("RVL run of %d values overflows the image at pixel %d", nonzeros, i)
		}
		for end := i + int(nonzeros); i < end; i++ {
			p, err := r.next()
			if err != nil {
				return err
			}
			delta := int32(p>>1) ^ -int32(p&1)
			previous = uint16(int32(previous) + delta)
			if out != nil {
				out[i] = previous
			}
		}
	}
	return nil
}
