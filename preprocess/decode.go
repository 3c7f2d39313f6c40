package preprocess

import (
	"encoding/binary"
	"fmt"
	"math"
)

// pixelSize returns the bytes per pixel of a raw encoding, 0 if unknown.
func pixelSize(enc string) int {
	switch enc {
	case RGB8, BGR8:
		return 3
	case RGBA8, BGRA8:
		return 4
	case Mono8:
		return 1
	case Mono16, Depth16:
		return 2
	case Depth32:
		return 4
	}
	return 0
}

// checkRaw validates the header of r against its data for encoding r.Encoding.
func checkRaw(r Raw) (int, error) {
	ps := pixelSize(r.Encoding)
	if ps == 0 {
		return 0, fmt.Errorf("preprocess: unknown image encoding %q (want rgb8, bgr8, rgba8, bgra8, mono8, mono16, 16UC1 or 32FC1)", r.Encoding)
	}
	if r.Width <= 0 || r.Height <= 0 {
		return 0, fmt.Errorf("preprocess: %s image size %dx%d is not positive", r.Encoding, r.Width, r.Height)
	}
	if r.Width > maxPixels/r.Height {
		return 0, fmt.Errorf("preprocess: %s image size %dx%d is larger than %d pixels", r.Encoding, r.Width, r.Height, maxPixels)
	}
	if r.Step < r.Width*ps {
		return 0, fmt.Errorf("preprocess: %s image %dx%d has step %d, less than %d bytes per row", r.Encoding, r.Width, r.Height, r.Step, r.Width*ps)
	}
	// The last row may end at its pixels: some publishers trim the padding.
	need := r.Step*(r.Height-1) + r.Width*ps
	if len(r.Data) < need {
		return 0, fmt.Errorf("preprocess: %s image %dx%d (step %d) needs %d bytes, got %d", r.Encoding, r.Width, r.Height, r.Step, need, len(r.Data))
	}
	return ps, nil
}

// DecodeRGB converts a colour or grey sensor_msgs/Image (rgb8, bgr8, rgba8,
// bgra8, mono8, mono16) to 8-bit RGB. Alpha is dropped; grey is replicated;
// mono16 keeps its high byte.
func DecodeRGB(r Raw) (RGBImage, error) {
	var m RGBImage
	if err := DecodeRGBTo(&m, r); err != nil {
		return RGBImage{}, err
	}
	return m, nil
}

// DecodeRGBTo is DecodeRGB writing into dst, whose pixel buffer is reused when
// it is large enough.
func DecodeRGBTo(dst *RGBImage, r Raw) error {
	ps, err := checkRaw(r)
	if err != nil {
		return err
	}
	if r.Encoding == Depth16 || r.Encoding == Depth32 {
		return fmt.Errorf("preprocess: %s is a depth encoding, not a colour image", r.Encoding)
	}
	w, h := r.Width, r.Height
	dst.Width, dst.Height = w, h
	dst.Pix = grow(dst.Pix, 3*w*h)
	for y := 0; y < h; y++ {
		src := r.Data[y*r.Step : y*r.Step+w*ps]
		out := dst.Pix[3*w*y : 3*w*(y+1)]
		switch r.Encoding {
		case RGB8:
			copy(out, src)
		case BGR8:
			for x := 0; x < w; x++ {
				s, o := src[3*x:3*x+3:3*x+3], out[3*x:3*x+3:3*x+3]
				o[0], o[1], o[2] = s[2], s[1], s[0]
			}
		case RGBA8:
			for x := 0; x < w; x++ {
				s, o := src[4*x:4*x+3:4*x+3], out[3*x:3*x+3:3*x+3]
				o[0], o[1], o[2] = s[0], s[1], s[2]
			}
		case BGRA8:
			for x := 0; x < w; x++ {
				s, o := src[4*x:4*x+3:4*x+3], out[3*x:3*x+3:3*x+3]
				o[0], o[1], o[2] = s[2], s[1], s[0]
			}
		case Mono8:
			for x, g := range src {
				o := out[3*x : 3*x+3 : 3*x+3]
				o[0], o[1], o[2] = g, g, g
			}
		case Mono16:
			hi := 0 // index of the most significant byte
			if !r.BigEndian {
				hi = 1
			}
			for x := 0; x < w; x++ {
				g := src[2*x+hi]
				o := out[3*x : 3*x+3 : 3*x+3]
				o[0], o[1], o[2] = g, g, g
			}
		}
	}
	return nil
}

// DefaultDepthUnit is the size in metres of one count of a 16-bit depth image
// (16UC1, mono16): millimetres, as REP 118 specifies.
const DefaultDepthUnit = 0.001

// DecodeDepth converts a depth sensor_msgs/Image to metres. 16UC1 and mono16
// are counts of unit metres (unit ≤ 0 means DefaultDepthUnit, millimetres);
// 32FC1 is metres. Invalid depth (0, NaN, ±Inf, negative) becomes 0.
func DecodeDepth(r Raw, unit float32) (DepthImage, error) {
	var m DepthImage
	if err := DecodeDepthTo(&m, r, unit); err != nil {
		return DepthImage{}, err
	}
	return m, nil
}

// DecodeDepthTo is DecodeDepth writing into dst, whose pixel buffer is reused
// when it is large enough.
func DecodeDepthTo(dst *DepthImage, r Raw, unit float32) error {
	ps, err := checkRaw(r)
	if err != nil {
		return err
	}
	if r.Encoding != Depth16 && r.Encoding != Mono16 && r.Encoding != Depth32 {
		return fmt.Errorf("preprocess: %s is not a depth encoding (want 16UC1, mono16 or 32FC1)", r.Encoding)
	}
	if !(unit > 0) || math.IsInf(float64(unit), 0) {
		unit = DefaultDepthUnit
	}
	w, h := r.Width, r.Height
	dst.Width, dst.Height = w, h
	dst.Pix = grow(dst.Pix, w*h)
	var order binary.ByteOrder = binary.LittleEndian
	if r.BigEndian {
		order = binary.BigEndian
	}
	for y := 0; y < h; y++ {
		src := r.Data[y*r.Step : y*r.Step+w*ps]
		out := dst.Pix[w*y : w*(y+1)]
		if ps == 2 {
			countsToMetres(out, src, order, unit)
			continue
		}
		for x := range out {
			out[x] = validMetres(math.Float32frombits(order.Uint32(src[4*x:])))
		}
	}
	return nil
}

// countsToMetres converts 16-bit depth counts to metres. It is the one
// conversion used for camera images, compressed images and data set PNGs, so
// that all give the same bits.
func countsToMetres(out []float32, src []byte, order binary.ByteOrder, unit float32) {
	if order == binary.LittleEndian {
		for x := range out {
			out[x] = float32(uint16(src[2*x])|uint16(src[2*x+1])<<8) * unit
		}
		return
	}
	for x := range out {
		out[x] = float32(uint16(src[2*x+1])|uint16(src[2*x])<<8) * unit
	}
}

// validMetres maps invalid float depth (NaN, ±Inf, ≤ 0) to 0.
func validMetres(d float32) float32 {
	if d > 0 && d <= math.MaxFloat32 {
		return d
	}
	return 0
}

// grow returns s resized to n elements, reusing its storage when possible.
func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// DecodeLabelsTo reads a label image (ids: mono8, or 16-bit mono16/16UC1 in the message's byte order) into
// dst, which holds Width × Height labels.
func DecodeLabelsTo(dst []uint16, r Raw) error {
	ps, err := checkRaw(r)
	if err != nil {
		return err
	}
	if r.Encoding != Mono8 && r.Encoding != Mono16 && r.Encoding != Depth16 {
		return fmt.Errorf("preprocess: %s is not a label encoding (want mono8, mono16 or 16UC1)", r.Encoding)
	}
	if len(dst) != r.Width*r.Height {
		return fmt.Errorf("preprocess: %d labels for a %dx%d label image", len(dst), r.Width, r.Height)
	}
	var order binary.ByteOrder = binary.LittleEndian
	if r.BigEndian {
		order = binary.BigEndian
	}
	for y := 0; y < r.Height; y++ {
		src := r.Data[y*r.Step : y*r.Step+r.Width*ps]
		out := dst[y*r.Width : (y+1)*r.Width]
		for x := range out {
			if ps == 1 {
				out[x] = uint16(src[x])
			} else {
				out[x] = order.Uint16(src[2*x:])
			}
		}
	}
	return nil
}
