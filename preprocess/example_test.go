package preprocess_test

import (
	"fmt"

	"github.com/cen-ros/cen/preprocess"
)

// The node path: decode a frame's messages, build the network inputs, and
// bring the network's labels back to camera size.
func Example() {
	rgbMsg := preprocess.Raw{Encoding: "bgr8", Width: 4, Height: 2, Step: 12, Data: make([]byte, 24)}
	depthMsg := preprocess.Raw{Encoding: "16UC1", Width: 4, Height: 2, Step: 8, Data: make([]byte, 16)}
	rgb, err := preprocess.DecodeRGB(rgbMsg)
	if err != nil {
		panic(err)
	}
	depth, err := preprocess.DecodeDepth(depthMsg, 0) // millimetres
	if err != nil {
		panic(err)
	}
	spec := preprocess.DefaultSpec()
	spec.Height, spec.Width, spec.Resize = 4, 4, preprocess.Letterbox
	in, err := spec.Input(rgb, depth, nil)
	if err != nil {
		panic(err)
	}
	netLabels := make([]uint8, spec.Height*spec.Width) // from the network
	labels, err := preprocess.ToCamera(in.Geometry, netLabels)
	if err != nil {
		panic(err)
	}
	data, step, err := preprocess.EncodeLabels(labels, rgb.Width, rgb.Height, preprocess.LabelsMono8)
	fmt.Println(len(in.RGB), len(in.Depth), in.Geometry.Y, in.Geometry.Height, len(data), step, err)
	// Output: 48 48 1 2 8 4 <nil>
}
