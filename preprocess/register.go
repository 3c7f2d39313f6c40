package preprocess

import (
	"fmt"

	"github.com/cen-ros/cen/calibration"
)

// RegisterDepth maps depth (the depth camera's image, metres) into the pixels
// of r's RGB camera, keeping the nearest depth per pixel; fillHoles closes the
// holes of upsampling (see calibration.Registration.Register).
func RegisterDepth(depth DepthImage, r *calibration.Registration, fillHoles bool) (DepthImage, error) {
	var out DepthImage
	if err := RegisterDepthTo(&out, depth, r, fillHoles); err != nil {
		return DepthImage{}, err
	}
	return out, nil
}

// RegisterDepthTo is RegisterDepth writing into dst, reusing its buffer.
func RegisterDepthTo(dst *DepthImage, depth DepthImage, r *calibration.Registration, fillHoles bool) error {
	if err := depth.check(); err != nil {
		return err
	}
	dc, rc := r.DepthCamera(), r.RGBCamera()
	if depth.Width != dc.Width || depth.Height != dc.Height {
		return fmt.Errorf("preprocess: depth image %dx%d does not match its camera calibration %dx%d", depth.Width, depth.Height, dc.Width, dc.Height)
	}
	dst.Width, dst.Height = rc.Width, rc.Height
	dst.Pix = grow(dst.Pix, rc.Width*rc.Height)
	return r.Register(dst.Pix, depth.Pix, fillHoles)
}
