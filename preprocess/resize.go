// Resizing of whole images for training-time augmentation. Spec.Input resizes into the network input itself;
// these functions give the same interpolation to code (train/) that must resize a frame before it reaches
// Spec.Input, so that a frame is never resized two different ways.

package preprocess

import (
	"fmt"
	"image"
	"unsafe"

	"gocv.io/x/gocv"
)

// checkResizeTarget reports a target size that cannot be allocated.
func checkResizeTarget(width, height int) error {
	if width <= 0 || height <= 0 || width > maxPixels/height {
		return fmt.Errorf("preprocess: resize target %dx%d is not usable", width, height)
	}
	return nil
}

// ResizeRGB returns rgb resized to width×height with OpenCV's INTER_CUBIC (Bicubic) or INTER_LINEAR
// (Bilinear): pixel centres map as x_src = (x+0.5)·SrcWidth/width − 0.5, borders replicate and 8-bit results
// saturate, as cv2.resize does on the official code's uint8 images. An image already at that size is copied.
func ResizeRGB(rgb RGBImage, width, height int, interp Interp) (RGBImage, error) {
	if err := rgb.check("RGB"); err != nil {
		return RGBImage{}, err
	}
	if err := checkResizeTarget(width, height); err != nil {
		return RGBImage{}, err
	}
	if interp != Bicubic && interp != Bilinear {
		return RGBImage{}, fmt.Errorf("preprocess: RGB interpolation %d is not bicubic or bilinear", int(interp))
	}
	out := NewRGBImage(width, height)
	if width == rgb.Width && height == rgb.Height {
		copy(out.Pix, rgb.Pix)
		return out, nil
	}
	src, err := gocv.NewMatFromBytes(rgb.Height, rgb.Width, gocv.MatTypeCV8UC3, rgb.Pix)
	if err != nil {
		return RGBImage{}, fmt.Errorf("preprocess: %w", err)
	}
	defer src.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	flag := gocv.InterpolationCubic
	if interp == Bilinear {
		flag = gocv.InterpolationLinear
	}
	gocv.Resize(src, &dst, image.Pt(width, height), 0, 0, flag)
	pix, err := dst.DataPtrUint8()
	if err != nil {
		return RGBImage{}, fmt.Errorf("preprocess: %w", err)
	}
	copy(out.Pix, pix)
	return out, nil
}

// ResizeDepth returns depth resized to width×height with nearest neighbour, the call Spec.Input makes
// (OpenCV's INTER_NEAREST: column x reads source column ⌊x·SrcWidth/width⌋, rows alike), so no depth is
// invented between surfaces and invalid pixels stay 0. ResizeLabels follows the same rule, so labels resized
// with it stay aligned with the depth pixel for pixel.
func ResizeDepth(depth DepthImage, width, height int) (DepthImage, error) {
	if err := depth.check(); err != nil {
		return DepthImage{}, err
	}
	if err := checkResizeTarget(width, height); err != nil {
		return DepthImage{}, err
	}
	out := DepthImage{Width: width, Height: height, Pix: make([]float32, width*height)}
	if width == depth.Width && height == depth.Height {
		copy(out.Pix, depth.Pix)
		return out, nil
	}
	bytes := unsafe.Slice((*byte)(unsafe.Pointer(&depth.Pix[0])), 4*len(depth.Pix))
	src, err := gocv.NewMatFromBytes(depth.Height, depth.Width, gocv.MatTypeCV32FC1, bytes)
	if err != nil {
		return DepthImage{}, fmt.Errorf("preprocess: %w", err)
	}
	defer src.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	gocv.Resize(src, &dst, image.Pt(width, height), 0, 0, gocv.InterpolationNearestNeighbor)
	pix, err := dst.DataPtrFloat32()
	if err != nil {
		return DepthImage{}, fmt.Errorf("preprocess: %w", err)
	}
	copy(out.Pix, pix)
	return out, nil
}

// ResizeLabels returns a label map of srcWidth×srcHeight resized to width×height with nearest neighbour, by
// LabelsToNet's rule (OpenCV's INTER_NEAREST, the rule of ResizeDepth): labels are never blended.
func ResizeLabels[L Label](labels []L, srcWidth, srcHeight, width, height int) ([]L, error) {
	if err := checkResizeTarget(width, height); err != nil {
		return nil, err
	}
	g := Geometry{SrcWidth: srcWidth, SrcHeight: srcHeight, NetWidth: width, NetHeight: height, Width: width, Height: height}
	out := make([]L, width*height)
	var zero L // no padding in a stretch geometry, so the ignore value is never written
	if err := LabelsToNet(g, out, labels, zero); err != nil {
		return nil, err
	}
	return out, nil
}
