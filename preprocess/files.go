package preprocess

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"

	"github.com/cen-ros/cen/internal/atomicfile"
)

// WriteRGBPNG writes an RGB image as an 8-bit PNG, atomically.
func WriteRGBPNG(path string, img RGBImage) error {
	if len(img.Pix) != 3*img.Width*img.Height || img.Width <= 0 || img.Height <= 0 {
		return fmt.Errorf("preprocess: %dx%d RGB image holds %d bytes", img.Width, img.Height, len(img.Pix))
	}
	out := image.NewNRGBA(image.Rect(0, 0, img.Width, img.Height))
	for i := 0; i < img.Width*img.Height; i++ {
		out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2], out.Pix[4*i+3] = img.Pix[3*i], img.Pix[3*i+1], img.Pix[3*i+2], 255
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error { return png.Encode(w, out) })
}

// WriteLabelsPNG writes a label map as a single-channel PNG, atomically: 8-bit when every label fits in a byte,
// 16-bit otherwise (the NYUDv2 masks' convention: class k is value k, 255 is void).
func WriteLabelsPNG[L Label](path string, labels []L, width, height int) error {
	if width <= 0 || height <= 0 || len(labels) != width*height {
		return fmt.Errorf("preprocess: %d labels for a %dx%d image", len(labels), width, height)
	}
	wide := false
	for _, l := range labels {
		if l < 0 || int64(l) > 65535 {
			return fmt.Errorf("preprocess: label %d does not fit a 16-bit PNG", int64(l))
		}
		if l > 255 {
			wide = true
		}
	}
	var img image.Image
	if wide {
		g := image.NewGray16(image.Rect(0, 0, width, height))
		for i, l := range labels {
			g.SetGray16(i%width, i/width, color.Gray16{Y: uint16(l)})
		}
		img = g
	} else {
		g := image.NewGray(image.Rect(0, 0, width, height))
		for i, l := range labels {
			g.Pix[i] = uint8(l)
		}
		img = g
	}
	return atomicfile.Write(path, 0o644, func(w io.Writer) error { return png.Encode(w, img) })
}
