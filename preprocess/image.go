package preprocess

import "fmt"

// RGBImage is an 8-bit image with interleaved R, G, B samples, row-major,
// without row padding (sensor_msgs encoding rgb8 with step = 3·Width).
type RGBImage struct {
	Width, Height int
	Pix           []uint8
}

// NewRGBImage allocates a black width×height image.
func NewRGBImage(width, height int) RGBImage {
	return RGBImage{Width: width, Height: height, Pix: make([]uint8, 3*width*height)}
}

func (m RGBImage) check(what string) error {
	if m.Width <= 0 || m.Height <= 0 {
		return fmt.Errorf("preprocess: %s image size %dx%d is not positive", what, m.Width, m.Height)
	}
	if len(m.Pix) != 3*m.Width*m.Height {
		return fmt.Errorf("preprocess: %s image %dx%d needs %d bytes, got %d", what, m.Width, m.Height, 3*m.Width*m.Height, len(m.Pix))
	}
	return nil
}

// DepthImage is a depth image in metres along the optical axis, row-major,
// with 0 marking pixels without a valid measurement.
type DepthImage struct {
	Width, Height int
	Pix           []float32
}

func (m DepthImage) check() error {
	if m.Width <= 0 || m.Height <= 0 {
		return fmt.Errorf("preprocess: depth image size %dx%d is not positive", m.Width, m.Height)
	}
	if len(m.Pix) != m.Width*m.Height {
		return fmt.Errorf("preprocess: depth image %dx%d needs %d pixels, got %d", m.Width, m.Height, m.Width*m.Height, len(m.Pix))
	}
	return nil
}

// Raw is the content of a sensor_msgs/Image without its header.
type Raw struct {
	// Encoding is the sensor_msgs/image_encodings name, e.g. "rgb8", "16UC1".
	Encoding string
	// Width and Height are the image size in pixels.
	Width, Height int
	// Step is the length of a row in bytes, at least Width × pixel size.
	Step int
	// BigEndian is the message's is_bigendian: the byte order of 16- and
	// 32-bit samples.
	BigEndian bool
	// Data holds Height rows of Step bytes.
	Data []byte
}

// Encoding names (sensor_msgs/image_encodings.h) this package reads.
const (
	RGB8  = "rgb8"
	BGR8  = "bgr8"
	RGBA8 = "rgba8"
	BGRA8 = "bgra8"
	Mono8 = "mono8"
	// Mono16 is read as a colour (grey) image by DecodeRGB and as
	// millimetres by DecodeDepth.
	Mono16 = "mono16"
	// Depth16 is 16UC1 depth in millimetres (REP 118), 0 invalid.
	Depth16 = "16UC1"
	// Depth32 is 32FC1 depth in metres (REP 118), NaN or ±Inf invalid.
	Depth32 = "32FC1"
)

// maxPixels bounds the size of any image this package allocates for, so that
// a corrupt header cannot exhaust memory: 2^28 pixels (16384×16384).
const maxPixels = 1 << 28
