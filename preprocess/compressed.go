package preprocess

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	"gocv.io/x/gocv"
)

// ErrDepthJPEG is returned for depth compressed as JPEG: JPEG keeps 8 bits per
// sample, so 16-bit depth read back from it is truncated and useless
// (realsense-ros #2140, #2361).
var ErrDepthJPEG = errors.New("preprocess: depth compressed as JPEG keeps only 8 bits; publish depth with the compressedDepth transport or as PNG")

// DecodeCompressedRGB decodes the data of a colour sensor_msgs/CompressedImage
// (JPEG or PNG; format as image_transport's compressed plugin writes it, e.g.
// "bgr8; jpeg compressed bgr8", or a bare "jpeg"/"png") to 8-bit RGB.
func DecodeCompressedRGB(format string, data []byte) (RGBImage, error) {
	if strings.Contains(format, "compressedDepth") {
		return RGBImage{}, fmt.Errorf("preprocess: format %q is compressed depth, not a colour image", format)
	}
	img, err := decodeColour(data)
	if err != nil {
		return RGBImage{}, fmt.Errorf("preprocess: CompressedImage %q: %w", format, err)
	}
	// A publisher that compressed rgb8 without converting to bgr8 says so in
	// the format's tail; OpenCV then reads its channels as B, G, R.
	if tail := format[strings.LastIndex(format, " ")+1:]; tail == RGB8 || tail == RGBA8 {
		for i := 0; i+2 < len(img.Pix); i += 3 {
			img.Pix[i], img.Pix[i+2] = img.Pix[i+2], img.Pix[i]
		}
	}
	return img, nil
}

// LoadRGB reads a colour image file (PNG or JPEG, as in data sets) to 8-bit
// RGB, with the same decoder as DecodeCompressedRGB.
func LoadRGB(path string) (RGBImage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return RGBImage{}, fmt.Errorf("preprocess: %w", err)
	}
	img, err := decodeColour(data)
	if err != nil {
		return RGBImage{}, fmt.Errorf("preprocess: %s: %w", path, err)
	}
	return img, nil
}

// LoadDepthPNG reads a 16-bit single-channel depth PNG from a data set and
// converts it to metres: metres = value × scale (1/5000 for the NYUDv2
// release CEN uses, 1/1000 for millimetre PNGs). Value 0 is invalid.
func LoadDepthPNG(path string, scale float32) (DepthImage, error) {
	if !(scale > 0) || math.IsInf(float64(scale), 0) {
		return DepthImage{}, fmt.Errorf("preprocess: depth scale %g for %s must be positive", scale, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return DepthImage{}, fmt.Errorf("preprocess: %w", err)
	}
	var d DepthImage
	if err := decode16(data, func(w, h int, counts []uint16) error {
		d = DepthImage{Width: w, Height: h, Pix: make([]float32, w*h)}
		countsToMetresU16(d.Pix, counts, scale)
		return nil
	}); err != nil {
		return DepthImage{}, fmt.Errorf("preprocess: %s: %w", path, err)
	}
	return d, nil
}

// DecodeCompressedDepth decodes the data of a depth sensor_msgs/CompressedImage
// to metres. It reads the compressedDepth transport ("16UC1; compressedDepth
// png", "16UC1; compressedDepth rvl", the bare "16UC1; compressedDepth" of
// older publishers, and 32FC1 with inverse-depth quantisation) and 16-bit PNG
// from the compressed transport. 16-bit counts are unit metres each (unit ≤ 0
// means DefaultDepthUnit, millimetres). JPEG is refused with ErrDepthJPEG.
func DecodeCompressedDepth(format string, data []byte, unit float32) (DepthImage, error) {
	if !(unit > 0) || math.IsInf(float64(unit), 0) {
		unit = DefaultDepthUnit
	}
	encoding, rest, _ := strings.Cut(format, ";")
	encoding, rest = strings.TrimSpace(encoding), strings.TrimSpace(rest)
	if !strings.Contains(format, "compressedDepth") {
		if isJPEG(format, data) {
			return DepthImage{}, fmt.Errorf("%w (format %q)", ErrDepthJPEG, format)
		}
		var d DepthImage
		err := decode16(data, func(w, h int, counts []uint16) error {
			d = DepthImage{Width: w, Height: h, Pix: make([]float32, w*h)}
			countsToMetresU16(d.Pix, counts, unit)
			return nil
		})
		if err != nil {
			return DepthImage{}, fmt.Errorf("preprocess: CompressedImage %q: %w", format, err)
		}
		return d, nil
	}
	codec := "png"
	switch {
	case rest == "compressedDepth" || rest == "compressedDepth png":
	case rest == "compressedDepth rvl":
		codec = "rvl"
	case encoding == "compressedDepth" && rest == "":
		// Very old publishers wrote the transport name only; the payload is
		// 16UC1 PNG.
		encoding = Depth16
	default:
		return DepthImage{}, fmt.Errorf("preprocess: unsupported compressedDepth format %q (want \"<encoding>; compressedDepth [png|rvl]\")", format)
	}
	if encoding != Depth16 && encoding != Mono16 && encoding != Depth32 {
		return DepthImage{}, fmt.Errorf("preprocess: compressedDepth format %q: encoding %q is not 16UC1, mono16 or 32FC1", format, encoding)
	}
	if len(data) <= compressedDepthHeaderSize {
		return DepthImage{}, fmt.Errorf("preprocess: compressedDepth %q message has %d bytes, not more than its %d-byte header", format, len(data), compressedDepthHeaderSize)
	}
	quantA := math.Float32frombits(binary.LittleEndian.Uint32(data[4:8]))
	quantB := math.Float32frombits(binary.LittleEndian.Uint32(data[8:12]))
	payload := data[compressedDepthHeaderSize:]
	var d DepthImage
	convert := func(w, h int, counts []uint16) error {
		d = DepthImage{Width: w, Height: h, Pix: make([]float32, w*h)}
		if encoding != Depth32 {
			countsToMetresU16(d.Pix, counts, unit)
			return nil
		}
		// Inverse-depth quantisation: v = A/depth + B, 0 = invalid.
		for i, v := range counts {
			if v != 0 {
				d.Pix[i] = validMetres(quantA / (float32(v) - quantB))
			}
		}
		return nil
	}
	var err error
	if codec == "rvl" {
		err = decodeRVLImage(payload, convert)
	} else {
		err = decode16(payload, convert)
	}
	if err != nil {
		return DepthImage{}, fmt.Errorf("preprocess: compressedDepth %q: %w", format, err)
	}
	return d, nil
}

// compressedDepthHeaderSize is the size of compressed_depth_image_transport's
// ConfigHeader: int32 format (0 = inverse depth) and float32 depthParam[2]
// (quantisation A and B), in the publisher's (little-endian) byte order.
const compressedDepthHeaderSize = 12

func isJPEG(format string, data []byte) bool {
	f := strings.ToLower(format)
	return strings.Contains(f, "jpeg") || strings.Contains(f, "jpg") ||
		len(data) >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// decodeColour decodes a JPEG or PNG to 8-bit RGB with OpenCV.
func decodeColour(data []byte) (RGBImage, error) {
	if len(data) == 0 {
		return RGBImage{}, errors.New("no image data")
	}
	if !bytes.HasPrefix(data, pngMagic) && !isJPEG("", data) {
		return RGBImage{}, errors.New("data is neither PNG nor JPEG")
	}
	m, err := gocv.IMDecode(data, gocv.IMReadColor)
	if err != nil {
		return RGBImage{}, err
	}
	defer m.Close()
	if m.Empty() || m.Type() != gocv.MatTypeCV8UC3 {
		return RGBImage{}, errors.New("corrupt or unsupported image data")
	}
	w, h := m.Cols(), m.Rows()
	bgr, err := m.DataPtrUint8()
	if err != nil {
		return RGBImage{}, err
	}
	img := NewRGBImage(w, h)
	for i := 0; i+2 < len(img.Pix); i += 3 {
		s := bgr[i : i+3 : i+3]
		img.Pix[i], img.Pix[i+1], img.Pix[i+2] = s[2], s[1], s[0]
	}
	return img, nil
}

// decode16 decodes a 16-bit single-channel PNG and hands its samples to use
// before the decoder's buffer is released.
func decode16(data []byte, use func(w, h int, counts []uint16) error) error {
	if isJPEG("", data) {
		return ErrDepthJPEG
	}
	if !bytes.HasPrefix(data, pngMagic) {
		return errors.New("data is not a PNG")
	}
	m, err := gocv.IMDecode(data, gocv.IMReadUnchanged)
	if err != nil {
		return err
	}
	defer m.Close()
	if m.Empty() {
		return errors.New("corrupt PNG data")
	}
	if m.Type() != gocv.MatTypeCV16UC1 {
		return fmt.Errorf("PNG holds %d channel(s) of %d-bit samples, want one 16-bit channel", m.Channels(), 8*m.ElemSize()/m.Channels())
	}
	counts, err := m.DataPtrUint16()
	if err != nil {
		return err
	}
	return use(m.Cols(), m.Rows(), counts)
}

func countsToMetresU16(out []float32, counts []uint16, unit float32) {
	for i, c := range counts {
		out[i] = float32(c) * unit
	}
}
