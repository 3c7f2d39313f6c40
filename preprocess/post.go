package preprocess

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Label is the element type of a label map.
type Label interface {
	~uint8 | ~uint16 | ~int32 | ~int64 | ~int
}

// ToCamera maps a per-pixel map at network size (g.NetWidth × g.NetHeight,
// row-major: labels, confidence, ...) back to the RGB image's size with
// nearest neighbour: camera pixel (x, y) takes network pixel
// (g.X + ⌊(2x+1)·g.Width / (2·SrcWidth)⌋, same for y), the pixel whose centre
// is nearest to the camera pixel's centre under the forward mapping. Padding
// of a letterbox is never read.
func ToCamera[T any](g Geometry, net []T) ([]T, error) {
	dst := make([]T, g.SrcWidth*g.SrcHeight)
	return dst, ToCameraTo(g, dst, net)
}

// ToCameraTo is ToCamera writing into dst (SrcWidth × SrcHeight).
func ToCameraTo[T any](g Geometry, dst, net []T) error {
	if g.SrcWidth <= 0 || g.SrcHeight <= 0 || g.Width <= 0 || g.Height <= 0 ||
		g.X < 0 || g.Y < 0 || g.X+g.Width > g.NetWidth || g.Y+g.Height > g.NetHeight {
		return fmt.Errorf("preprocess: geometry %+v is not usable", g)
	}
	if len(net) != g.NetWidth*g.NetHeight {
		return fmt.Errorf("preprocess: network output has %d pixels, the %dx%d input needs %d", len(net), g.NetWidth, g.NetHeight, g.NetWidth*g.NetHeight)
	}
	if len(dst) != g.SrcWidth*g.SrcHeight {
		return fmt.Errorf("preprocess: camera-size output has %d pixels, the %dx%d image needs %d", len(dst), g.SrcWidth, g.SrcHeight, g.SrcWidth*g.SrcHeight)
	}
	xs := make([]int32, g.SrcWidth)
	for x := range xs {
		xs[x] = int32(g.X + (2*x+1)*g.Width/(2*g.SrcWidth))
	}
	prev := -1
	for y := 0; y < g.SrcHeight; y++ {
		ny := g.Y + (2*y+1)*g.Height/(2*g.SrcHeight)
		out := dst[y*g.SrcWidth : (y+1)*g.SrcWidth]
		if ny == prev {
			copy(out, dst[(y-1)*g.SrcWidth:y*g.SrcWidth])
			continue
		}
		prev = ny
		row := net[ny*g.NetWidth : (ny+1)*g.NetWidth]
		for x, nx := range xs {
			out[x] = row[nx]
		}
	}
	return nil
}

// Argmax turns logits (float32 NCHW [1, classes, height, width]) into labels
// and, when confidence is not nil, the softmax probability of the winning
// class. labels and confidence have height × width elements.
func Argmax[L Label](labels []L, confidence []float32, logits []float32, classes, width, height int) error {
	n := width * height
	if classes <= 0 || width <= 0 || height <= 0 || len(logits) != classes*n {
		return fmt.Errorf("preprocess: %d logits do not hold %d classes of %dx%d", len(logits), classes, width, height)
	}
	if len(labels) != n || confidence != nil && len(confidence) != n {
		return fmt.Errorf("preprocess: outputs of %d labels and %d confidences for %dx%d pixels", len(labels), len(confidence), width, height)
	}
	best := make([]float32, n)
	copy(best, logits[:n])
	clear(labels)
	for c := 1; c < classes; c++ {
		plane := logits[c*n : (c+1)*n]
		for i, v := range plane {
			if v > best[i] {
				best[i], labels[i] = v, L(c)
			}
		}
	}
	if confidence == nil {
		return nil
	}
	clear(confidence)
	for c := 0; c < classes; c++ {
		plane := logits[c*n : (c+1)*n]
		for i, v := range plane {
			confidence[i] += float32(math.Exp(float64(v - best[i])))
		}
	}
	for i, s := range confidence {
		confidence[i] = 1 / s
	}
	return nil
}

// MaskInvalidDepth sets labels to unknown where depth (registered, RGB size,
// metres) is invalid or outside [min, max] (max 0: no upper bound), as MIT
// semantic_inference's DepthLabelMask does.
func MaskInvalidDepth[L Label](labels []L, depth DepthImage, min, max float32, unknown L) error {
	if len(labels) != len(depth.Pix) {
		return fmt.Errorf("preprocess: %d labels for a depth image of %d pixels", len(labels), len(depth.Pix))
	}
	for i, d := range depth.Pix {
		if !(d > 0 && d >= min && d <= math.MaxFloat32 && (max == 0 || d <= max)) {
			labels[i] = unknown
		}
	}
	return nil
}

// Colorize paints labels (width × height) with palette p into dst. Labels
// outside the palette are black.
func Colorize[L Label](dst *RGBImage, labels []L, width, height int, p Palette) error {
	if width <= 0 || height <= 0 || len(labels) != width*height {
		return fmt.Errorf("preprocess: %d labels for a %dx%d image", len(labels), width, height)
	}
	dst.Width, dst.Height = width, height
	dst.Pix = grow(dst.Pix, 3*width*height)
	// Out-of-palette labels (negative ones included, via the unsigned
	// conversion) take the black entry at the end of the table.
	// Colours are packed little-endian in a uint32 so that a pixel is one
	// 4-byte store whose fourth byte the next pixel overwrites.
	table := make([]uint32, len(p)+1)
	for i, c := range p {
		table[i] = uint32(c[0]) | uint32(c[1])<<8 | uint32(c[2])<<16
	}
	black := uint64(len(p))
	pix := dst.Pix[:3*len(labels)]
	last := len(labels) - 1
	for i, l := range labels[:last] {
		k := uint64(l)
		if k > black {
			k = black
		}
		binary.LittleEndian.PutUint32(pix[3*i:], table[k])
	}
	k := uint64(labels[last])
	if k > black {
		k = black
	}
	c := table[k]
	pix[3*last], pix[3*last+1], pix[3*last+2] = uint8(c), uint8(c>>8), uint8(c>>16)
	return nil
}

// Overlay blends color over rgb into dst: alpha·color + (1−alpha)·rgb, with
// alpha in [0, 1] quantised to 1/256.
func Overlay(dst *RGBImage, rgb, color RGBImage, alpha float32) error {
	if err := rgb.check("RGB"); err != nil {
		return err
	}
	if color.Width != rgb.Width || color.Height != rgb.Height || len(color.Pix) != len(rgb.Pix) {
		return fmt.Errorf("preprocess: colour mask %dx%d does not match the RGB image %dx%d", color.Width, color.Height, rgb.Width, rgb.Height)
	}
	if !(alpha >= 0 && alpha <= 1) {
		return fmt.Errorf("preprocess: overlay alpha %g is outside [0, 1]", alpha)
	}
	dst.Width, dst.Height = rgb.Width, rgb.Height
	dst.Pix = grow(dst.Pix, len(rgb.Pix))
	a := uint64(alpha*256 + 0.5)
	b := 256 - a
	out, src, col := dst.Pix, rgb.Pix, color.Pix[:len(rgb.Pix)]
	// Eight bytes at a time: even and odd bytes go to 16-bit lanes, where
	// col·a + src·b + 128 ≤ 255·256 + 128 cannot carry into the next lane.
	const lanes, half = 0x00ff00ff00ff00ff, 0x0080008000800080
	i := 0
	for ; i+8 <= len(out); i += 8 {
		c := binary.LittleEndian.Uint64(col[i:])
		s := binary.LittleEndian.Uint64(src[i:])
		even := ((c&lanes)*a + (s&lanes)*b + half) >> 8 & lanes
		odd := ((c>>8&lanes)*a + (s>>8&lanes)*b + half) >> 8 & lanes
		binary.LittleEndian.PutUint64(out[i:], even|odd<<8)
	}
	for ; i < len(out); i++ {
		out[i] = uint8((uint64(col[i])*a + uint64(src[i])*b + 128) >> 8)
	}
	return nil
}

// Label encodings for EncodeLabels.
const (
	// LabelsMono8 is mono8: one byte per label, for up to 255 classes.
	LabelsMono8 = "mono8"
	// Labels16 is 16UC1: little-endian uint16 per label.
	Labels16 = "16UC1"
)

// EncodeLabels writes labels (width × height) as the data of a
// sensor_msgs/Image in encoding mono8 or 16UC1 (little-endian, so
// is_bigendian is false), returning the data and its step.
func EncodeLabels[L Label](labels []L, width, height int, encoding string) ([]byte, int, error) {
	if width <= 0 || height <= 0 || len(labels) != width*height {
		return nil, 0, fmt.Errorf("preprocess: %d labels for a %dx%d image", len(labels), width, height)
	}
	switch encoding {
	case LabelsMono8:
		data := make([]byte, len(labels))
		for i, l := range labels {
			if l < 0 || int64(l) > math.MaxUint8 {
				return nil, 0, fmt.Errorf("preprocess: label %d at pixel %d does not fit mono8; use 16UC1", int64(l), i)
			}
			data[i] = uint8(l)
		}
		return data, width, nil
	case Labels16, Mono16:
		data := make([]byte, 2*len(labels))
		for i, l := range labels {
			if l < 0 || int64(l) > math.MaxUint16 {
				return nil, 0, fmt.Errorf("preprocess: label %d at pixel %d does not fit 16UC1", int64(l), i)
			}
			binary.LittleEndian.PutUint16(data[2*i:], uint16(l))
		}
		return data, 2 * width, nil
	}
	return nil, 0, fmt.Errorf("preprocess: label encoding %q is not mono8 or 16UC1", encoding)
}

// EncodeConfidence writes confidence (width × height) as the data of a 32FC1
// sensor_msgs/Image (little-endian), returning the data and its step.
func EncodeConfidence(confidence []float32, width, height int) ([]byte, int, error) {
	if width <= 0 || height <= 0 || len(confidence) != width*height {
		return nil, 0, fmt.Errorf("preprocess: %d confidences for a %dx%d image", len(confidence), width, height)
	}
	data := make([]byte, 4*len(confidence))
	for i, c := range confidence {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(c))
	}
	return data, 4 * width, nil
}

// LabelsToNet maps a label map at the RGB image's size (ground truth: g.SrcWidth × g.SrcHeight) into the
// network input that g describes, the way the depth image is resized: nearest neighbour with OpenCV's
// INTER_NEAREST rule (network pixel x of the image box reads source column ⌊x·SrcWidth/Width⌋), so labels and
// depth stay aligned pixel for pixel. Letterbox padding, which holds no image, gets ignore. dst has
// g.NetWidth × g.NetHeight elements.
func LabelsToNet[L Label](g Geometry, dst, src []L, ignore L) error {
	if g.SrcWidth <= 0 || g.SrcHeight <= 0 || g.Width <= 0 || g.Height <= 0 ||
		g.X < 0 || g.Y < 0 || g.X+g.Width > g.NetWidth || g.Y+g.Height > g.NetHeight {
		return fmt.Errorf("preprocess: geometry %+v is not usable", g)
	}
	if len(src) != g.SrcWidth*g.SrcHeight {
		return fmt.Errorf("preprocess: %d labels for a %dx%d image", len(src), g.SrcWidth, g.SrcHeight)
	}
	if len(dst) != g.NetWidth*g.NetHeight {
		return fmt.Errorf("preprocess: network-size labels have %d pixels, the %dx%d input needs %d", len(dst), g.NetWidth, g.NetHeight, g.NetWidth*g.NetHeight)
	}
	if g.Width != g.NetWidth || g.Height != g.NetHeight {
		for i := range dst {
			dst[i] = ignore
		}
	}
	// OpenCV computes the inverse scale in double precision and floors: the same expression here gives the
	// same source index in the rare cases where x·src/dst lands a rounding error below an integer.
	nearest := func(n, src, dst int) []int32 {
		idx := make([]int32, n)
		ifx := 1 / (float64(dst) / float64(src))
		for x := range idx {
			idx[x] = int32(min(int(math.Floor(float64(x)*ifx)), src-1))
		}
		return idx
	}
	xs := nearest(g.Width, g.SrcWidth, g.Width)
	ys := nearest(g.Height, g.SrcHeight, g.Height)
	for y, sy := range ys {
		row := src[int(sy)*g.SrcWidth : (int(sy)+1)*g.SrcWidth]
		out := dst[(g.Y+y)*g.NetWidth+g.X : (g.Y+y)*g.NetWidth+g.X+g.Width]
		for x, sx := range xs {
			out[x] = row[sx]
		}
	}
	return nil
}
