package preprocess

import (
	"fmt"
	"image"
	"math"
	"unsafe"

	"github.com/cen-ros/cen/calibration"
	"gocv.io/x/gocv"
)

// Geometry records where the RGB image lies in the network input, so that
// network outputs can be mapped back exactly (ToCamera).
type Geometry struct {
	// SrcWidth and SrcHeight are the RGB image's size.
	SrcWidth, SrcHeight int
	// NetWidth and NetHeight are the network's input size.
	NetWidth, NetHeight int
	// X, Y, Width and Height are the rectangle of the network input the image
	// was resized into: the whole input for Stretch, a centred box for
	// Letterbox.
	X, Y, Width, Height int
}

// Geometry returns where an RGB image of width×height goes in s's input.
func (s Spec) Geometry(width, height int) Geometry {
	g := Geometry{SrcWidth: width, SrcHeight: height, NetWidth: s.Width, NetHeight: s.Height, Width: s.Width, Height: s.Height}
	if s.Resize == Letterbox {
		// Integer arithmetic keeps the box identical on every platform.
		if width*s.Height >= height*s.Width { // limited by width
			g.Height = max(1, min(s.Height, (height*s.Width+width/2)/width))
		} else {
			g.Width = max(1, min(s.Width, (width*s.Height+height/2)/height))
		}
		g.X, g.Y = (s.Width-g.Width)/2, (s.Height-g.Height)/2
	}
	return g
}

// View is what depth broadening needs to know about the camera; only HHA
// uses it.
type View struct {
	// Camera is the RGB camera (depth registered into it), at any resolution
	// with the RGB image's field of view; it is scaled to the resolution HHA
	// is computed at. Distortion is ignored: HHA uses K only.
	Camera calibration.Pinhole
	// Up is the direction opposite to gravity in the camera frame (x right,
	// y down, z forward), e.g. (0, -1, 0) for a level camera, from an IMU or
	// a known mount. Zero means estimate it from the scene's surface normals
	// (see EncodeHHA); a given Up is always used as it is.
	Up [3]float64
}

// Input is a frame ready for the network.
type Input struct {
	// RGB is the normalised colour image, float32 NCHW [1, 3, NetHeight, NetWidth].
	RGB []float32
	// Depth is the broadened depth, float32 NCHW [1, DepthChannels, NetHeight, NetWidth].
	Depth []float32
	// DepthChannels is the number of channels in Depth.
	DepthChannels int
	// Geometry maps network pixels back to the RGB image.
	Geometry Geometry
	// Up is the up direction HHA used (given or estimated); zero for Replicate.
	Up [3]float64

	// Scratch buffers reused by Spec.InputTo.
	depth     []float32
	hha       []uint8 // HHA planes at the network box's size
	hhaWork   hhaScratch
	sensor    []float32 // depth at the camera's size, out-of-range pixels 0 (SensorResolution)
	sensorHHA []uint8
	lut       [3][256]float32
}

// Input turns an RGB image and the depth registered to it (same size, metres,
// 0 invalid) into network tensors: resize (RGB bicubic or bilinear, depth
// nearest) by stretching or letterboxing, normalise RGB, broaden depth.
// view is needed for HHA only and may be nil otherwise. This is the one
// function the node, evaluation and training use.
func (s Spec) Input(rgb RGBImage, depth DepthImage, view *View) (*Input, error) {
	in := new(Input)
	if err := s.InputTo(in, rgb, depth, view); err != nil {
		return nil, err
	}
	return in, nil
}

// InputTo is Input writing into dst, reusing its buffers; a stream of frames
// then allocates nothing after the first.
func (s Spec) InputTo(dst *Input, rgb RGBImage, depth DepthImage, view *View) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := rgb.check("RGB"); err != nil {
		return err
	}
	if err := depth.check(); err != nil {
		return err
	}
	if depth.Width != rgb.Width || depth.Height != rgb.Height {
		return fmt.Errorf("preprocess: depth image %dx%d does not match the RGB image %dx%d; register it first", depth.Width, depth.Height, rgb.Width, rgb.Height)
	}
	if s.DepthEncoding == HHA {
		if view == nil {
			return fmt.Errorf("preprocess: HHA needs the camera intrinsics (View)")
		}
		if err := view.Camera.Validate(); err != nil {
			return fmt.Errorf("preprocess: HHA camera: %w", err)
		}
	}
	g := s.Geometry(rgb.Width, rgb.Height)
	dst.Geometry = g
	dst.DepthChannels = s.DepthChannels
	dst.Up = [3]float64{}
	plane := s.Width * s.Height
	dst.RGB = grow(dst.RGB, 3*plane)
	dst.Depth = grow(dst.Depth, s.DepthChannels*plane)
	if g.Width != s.Width || g.Height != s.Height {
		clear(dst.RGB) // 0 is the mean colour after normalisation
		fill(dst.Depth, s.InvalidDepth)
	}
	if err := s.rgbTensor(dst, rgb, g); err != nil {
		return err
	}
	return s.depthTensor(dst, depth, g, view)
}

func fill(s []float32, v float32) {
	for i := range s {
		s[i] = v
	}
}

// rgbTensor resizes rgb into g's box and normalises it into dst.RGB.
func (s Spec) rgbTensor(dst *Input, rgb RGBImage, g Geometry) error {
	for c := 0; c < 3; c++ {
		for x := 0; x < 256; x++ {
			dst.lut[c][x] = (float32(x)*s.RGBScale - s.Mean[c]) / s.Std[c]
		}
	}
	pix := rgb.Pix
	if g.Width != rgb.Width || g.Height != rgb.Height {
		src, err := gocv.NewMatFromBytes(rgb.Height, rgb.Width, gocv.MatTypeCV8UC3, rgb.Pix)
		if err != nil {
			return fmt.Errorf("preprocess: %w", err)
		}
		defer src.Close()
		out := gocv.NewMat()
		defer out.Close()
		interp := gocv.InterpolationCubic
		if s.RGBInterp == Bilinear {
			interp = gocv.InterpolationLinear
		}
		gocv.Resize(src, &out, image.Pt(g.Width, g.Height), 0, 0, interp)
		if pix, err = out.DataPtrUint8(); err != nil {
			return fmt.Errorf("preprocess: %w", err)
		}
	}
	plane := s.Width * s.Height
	r, gr, b := dst.RGB[:plane], dst.RGB[plane:2*plane], dst.RGB[2*plane:3*plane]
	lr, lg, lb := &dst.lut[0], &dst.lut[1], &dst.lut[2]
	for y := 0; y < g.Height; y++ {
		o := (g.Y+y)*s.Width + g.X
		row := pix[3*g.Width*y : 3*g.Width*(y+1)]
		rr, rg, rb := r[o:o+g.Width], gr[o:o+g.Width], b[o:o+g.Width]
		for x := range rr {
			p := row[3*x : 3*x+3 : 3*x+3]
			rr[x], rg[x], rb[x] = lr[p[0]], lg[p[1]], lb[p[2]]
		}
	}
	return nil
}

// resizedDepth returns depth resized to g's box with nearest neighbour and
// pixels outside the valid range set to 0, in dst's scratch buffer.
func (s Spec) resizedDepth(dst *Input, depth DepthImage, g Geometry) error {
	n := g.Width * g.Height
	dst.depth = grow(dst.depth, n)
	if g.Width == depth.Width && g.Height == depth.Height {
		copy(dst.depth, depth.Pix)
	} else {
		bytes := unsafe.Slice((*byte)(unsafe.Pointer(&depth.Pix[0])), 4*len(depth.Pix))
		src, err := gocv.NewMatFromBytes(depth.Height, depth.Width, gocv.MatTypeCV32FC1, bytes)
		if err != nil {
			return fmt.Errorf("preprocess: %w", err)
		}
		defer src.Close()
		out := gocv.NewMat()
		defer out.Close()
		gocv.Resize(src, &out, image.Pt(g.Width, g.Height), 0, 0, gocv.InterpolationNearestNeighbor)
		pix, err := out.DataPtrFloat32()
		if err != nil {
			return fmt.Errorf("preprocess: %w", err)
		}
		copy(dst.depth, pix)
	}
	lo, hi := s.DepthMin, s.DepthMax
	for i, d := range dst.depth {
		if !(d > 0 && d >= lo && d <= math.MaxFloat32 && (hi == 0 || d <= hi)) {
			dst.depth[i] = 0
		}
	}
	return nil
}

// depthTensor broadens depth into dst.Depth.
func (s Spec) depthTensor(dst *Input, depth DepthImage, g Geometry, view *View) error {
	if err := s.resizedDepth(dst, depth, g); err != nil {
		return err
	}
	plane := s.Width * s.Height
	d := dst.depth
	if s.DepthEncoding == Replicate {
		for c := 0; c < s.DepthChannels; c++ {
			out := dst.Depth[c*plane : (c+1)*plane]
			if c > 0 && s.DepthMean[c] == s.DepthMean[0] && s.DepthStd[c] == s.DepthStd[0] {
				copy(out, dst.Depth[:plane]) // the same numbers as channel 0
				continue
			}
			scale, mean, std := s.DepthScale, s.DepthMean[c], s.DepthStd[c]
			for y := 0; y < g.Height; y++ {
				o := (g.Y+y)*s.Width + g.X
				row, orow := d[y*g.Width:(y+1)*g.Width], out[o:o+g.Width]
				for x, v := range row {
					if v == 0 {
						orow[x] = s.InvalidDepth
					} else {
						orow[x] = (v*scale - mean) / std
					}
				}
			}
		}
		return nil
	}
	n := len(d)
	dst.hha = grow(dst.hha, 3*n)
	up, err := s.hhaPlanes(dst, depth, g, view)
	if err != nil {
		return err
	}
	dst.Up = up
	// Reference holes carry values; otherwise a pixel without depth is
	// InvalidDepth in every channel.
	holes := s.HHA.Holes == InvalidHoles
	for c := 0; c < 3; c++ {
		out := dst.Depth[c*plane : (c+1)*plane]
		pc := c
		if s.HHA.Order == OrderAHD {
			pc = 2 - c
		}
		src := dst.hha[pc*n : (pc+1)*n]
		mean, std := s.DepthMean[c], s.DepthStd[c]
		var lut [256]float32
		for v := range lut {
			lut[v] = (float32(v)/255 - mean) / std
		}
		for y := 0; y < g.Height; y++ {
			o := (g.Y+y)*s.Width + g.X
			row, drow, orow := src[y*g.Width:(y+1)*g.Width], d[y*g.Width:(y+1)*g.Width], out[o:o+g.Width]
			for x, v := range row {
				if holes && drow[x] == 0 {
					orow[x] = s.InvalidDepth
				} else {
					orow[x] = lut[v]
				}
			}
		}
	}
	return nil
}

// hhaPlanes writes the D, H, A planes of g's box into dst.hha: computed on
// the resized depth (NetworkResolution), or on the camera's depth and then
// resized like an image (SensorResolution).
func (s Spec) hhaPlanes(dst *Input, depth DepthImage, g Geometry, view *View) ([3]float64, error) {
	if s.HHA.Resolution == NetworkResolution || depth.Width == g.Width && depth.Height == g.Height {
		cam := view.Camera.Scaled(g.Width, g.Height)
		return hhaInto(dst.hha, &dst.hhaWork, DepthImage{Width: g.Width, Height: g.Height, Pix: dst.depth}, cam, view.Up, s.HHA)
	}
	n := len(depth.Pix)
	dst.sensor = grow(dst.sensor, n)
	lo, hi := s.DepthMin, s.DepthMax
	for i, d := range depth.Pix {
		if !(d > 0 && d >= lo && d <= math.MaxFloat32 && (hi == 0 || d <= hi)) {
			d = 0
		}
		dst.sensor[i] = d
	}
	dst.sensorHHA = grow(dst.sensorHHA, 3*n)
	cam := view.Camera.Scaled(depth.Width, depth.Height)
	up, err := hhaInto(dst.sensorHHA, &dst.hhaWork, DepthImage{Width: depth.Width, Height: depth.Height, Pix: dst.sensor}, cam, view.Up, s.HHA)
	if err != nil {
		return up, err
	}
	interp := gocv.InterpolationCubic
	if s.RGBInterp == Bilinear {
		interp = gocv.InterpolationLinear
	}
	m := g.Width * g.Height
	for c := 0; c < 3; c++ {
		if err := resizePlane(dst.hha[c*m:(c+1)*m], g.Width, g.Height, dst.sensorHHA[c*n:(c+1)*n], depth.Width, depth.Height, interp); err != nil {
			return up, err
		}
	}
	return up, nil
}

// resizePlane resizes an 8-bit plane into dst (width×height).
func resizePlane(dst []uint8, width, height int, src []uint8, srcWidth, srcHeight int, interp gocv.InterpolationFlags) error {
	in, err := gocv.NewMatFromBytes(srcHeight, srcWidth, gocv.MatTypeCV8UC1, src)
	if err != nil {
		return fmt.Errorf("preprocess: %w", err)
	}
	defer in.Close()
	out := gocv.NewMat()
	defer out.Close()
	gocv.Resize(in, &out, image.Pt(width, height), 0, 0, interp)
	pix, err := out.DataPtrUint8()
	if err != nil {
		return fmt.Errorf("preprocess: %w", err)
	}
	copy(dst, pix)
	return nil
}
