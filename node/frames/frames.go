// Package frames turns the image messages of a colour camera and a depth camera into the frames the inference
// library segments: every sensor_msgs encoding decoded (raw, compressed, compressedDepth), depth in another
// frame than the colour image registered into the colour camera with both camera infos and the static
// transforms (/tf_static) or a given transform, and the colour camera HHA needs. The ROS node and the bag
// evaluation share it, so a bag is evaluated exactly as the node would process it. It does no image math of
// its own: decoding is preprocess's, registration calibration's.
package frames

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/tf2_msgs"

	"github.com/cen-ros/cen/calibration"
	"github.com/cen-ros/cen/infer"
	"github.com/cen-ros/cen/preprocess"
)

// Input is one received image: raw (sensor_msgs/Image) or compressed (sensor_msgs/CompressedImage).
type Input struct {
	Header     std_msgs.Header
	Raw        *sensor_msgs.Image
	Compressed *sensor_msgs.CompressedImage
}

// ErrWaiting marks a pair that cannot be built yet (a camera_info or a transform has not arrived); callers
// count it apart from rejected frames.
var ErrWaiting = errors.New("waiting")

// Conf configures a Builder.
type Conf struct {
	// DepthScale is metres per count of 16-bit depth (optional). It defaults to 0.001 (millimetres, REP 118);
	// 32FC1 depth is metres.
	DepthScale float64
	// FillHoles closes the holes of upsampling when registering depth, as depth_image_proc's
	// fill_upsampling_holes does (optional).
	FillHoles bool
	// DepthToRGB is the transform from the depth camera's frame to the colour camera's (optional); when set it
	// is used instead of the static transforms.
	DepthToRGB *calibration.Extrinsic
	// NeedCamera asks Build for the colour camera in the frame's View (HHA models need it).
	NeedCamera bool
}

// Builder builds frames. Its Set and Add methods may be called from any goroutine; Build from one at a time
// (it reuses its buffers: a frame is valid until the next Build).
type Builder struct {
	conf Conf

	mu        sync.Mutex
	rgbInfo   *sensor_msgs.CameraInfo
	depthInfo *sensor_msgs.CameraInfo
	tf        staticTF

	rgb        preprocess.RGBImage
	depth, reg preprocess.DepthImage
	registrar  *calibration.Registration
	regKey     string
}

// NewBuilder returns a Builder for conf.
func NewBuilder(conf Conf) *Builder { return &Builder{conf: conf} }

// SetRGBInfo records the colour camera's latest camera_info.
func (b *Builder) SetRGBInfo(m *sensor_msgs.CameraInfo) {
	b.mu.Lock()
	b.rgbInfo = m
	b.mu.Unlock()
}

// SetDepthInfo records the depth camera's latest camera_info.
func (b *Builder) SetDepthInfo(m *sensor_msgs.CameraInfo) {
	b.mu.Lock()
	b.depthInfo = m
	b.mu.Unlock()
}

// AddTF records the transforms of a /tf_static message.
func (b *Builder) AddTF(m *tf2_msgs.TFMessage) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tf.add(m)
}

// Build decodes a colour and a depth image into a frame. The error says why the pair cannot be segmented
// (wrapping ErrWaiting when it only has to wait for calibration).
func (b *Builder) Build(rgbIn, depthIn Input) (infer.Frame, error) {
	if err := b.decodeRGB(rgbIn); err != nil {
		return infer.Frame{}, fmt.Errorf("colour image: %w", err)
	}
	if err := b.decodeDepth(depthIn); err != nil {
		return infer.Frame{}, fmt.Errorf("depth image: %w", err)
	}
	depth, err := b.registered(rgbIn.Header.FrameId, depthIn.Header.FrameId)
	if err != nil {
		return infer.Frame{}, err
	}
	f := infer.Frame{RGB: b.rgb, Depth: depth}
	if b.conf.NeedCamera {
		cam, err := b.rgbCamera()
		if err != nil {
			return infer.Frame{}, err
		}
		f.View = &preprocess.View{Camera: cam}
	}
	return f, nil
}

func raw(m *sensor_msgs.Image) preprocess.Raw {
	return preprocess.Raw{Encoding: m.Encoding, Width: int(m.Width), Height: int(m.Height), Step: int(m.Step),
		BigEndian: m.IsBigendian != 0, Data: m.Data}
}

func (b *Builder) decodeRGB(in Input) error {
	if in.Raw != nil {
		return preprocess.DecodeRGBTo(&b.rgb, raw(in.Raw))
	}
	if in.Compressed == nil {
		return fmt.Errorf("no image")
	}
	img, err := preprocess.DecodeCompressedRGB(in.Compressed.Format, in.Compressed.Data)
	b.rgb = img
	return err
}

func (b *Builder) decodeDepth(in Input) error {
	unit := float32(b.conf.DepthScale)
	if in.Raw != nil {
		return preprocess.DecodeDepthTo(&b.depth, raw(in.Raw), unit)
	}
	if in.Compressed == nil {
		return fmt.Errorf("no image")
	}
	img, err := preprocess.DecodeCompressedDepth(in.Compressed.Format, in.Compressed.Data, unit)
	b.depth = img
	return err
}

// registered returns the depth image in the colour camera's pixels: as it came when both images share a
// frame, else registered with both camera infos and the depth→colour transform.
func (b *Builder) registered(rgbFrame, depthFrame string) (preprocess.DepthImage, error) {
	rgbFrame, depthFrame = strings.TrimPrefix(rgbFrame, "/"), strings.TrimPrefix(depthFrame, "/")
	if rgbFrame == depthFrame {
		return b.depth, nil
	}
	b.mu.Lock()
	rgbInfo, depthInfo := b.rgbInfo, b.depthInfo
	ext, tfErr := b.tf.lookup(depthFrame, rgbFrame)
	b.mu.Unlock()
	if b.conf.DepthToRGB != nil {
		ext, tfErr = *b.conf.DepthToRGB, nil
	}
	switch {
	case rgbInfo == nil || depthInfo == nil:
		return preprocess.DepthImage{}, fmt.Errorf("%w for rgb/camera_info and depth/camera_info to register depth (frame %q) into the colour frame %q", ErrWaiting, depthFrame, rgbFrame)
	case tfErr != nil:
		return preprocess.DepthImage{}, fmt.Errorf("%w for the transform %s → %s (/tf_static or ~depth_to_rgb): %v", ErrWaiting, depthFrame, rgbFrame, tfErr)
	}
	// Everything of the camera infos but their headers (whose stamps change every frame).
	key := fmt.Sprint(rgbInfo.Width, rgbInfo.Height, rgbInfo.K, rgbInfo.D, rgbInfo.R, rgbInfo.P, rgbInfo.BinningX, rgbInfo.BinningY, rgbInfo.Roi,
		depthInfo.Width, depthInfo.Height, depthInfo.K, depthInfo.D, depthInfo.R, depthInfo.P, depthInfo.BinningX, depthInfo.BinningY, depthInfo.Roi, ext)
	if b.registrar == nil || key != b.regKey {
		dc, err := Pinhole(depthInfo)
		if err != nil {
			return preprocess.DepthImage{}, fmt.Errorf("depth/camera_info: %w", err)
		}
		rc, err := Pinhole(rgbInfo)
		if err != nil {
			return preprocess.DepthImage{}, fmt.Errorf("rgb/camera_info: %w", err)
		}
		r, err := calibration.NewRegistration(dc, rc, ext)
		if err != nil {
			return preprocess.DepthImage{}, err
		}
		b.registrar, b.regKey = r, key
	}
	if err := preprocess.RegisterDepthTo(&b.reg, b.depth, b.registrar, b.conf.FillHoles); err != nil {
		return preprocess.DepthImage{}, err
	}
	return b.reg, nil
}

// rgbCamera is the colour camera's calibration, which HHA needs.
func (b *Builder) rgbCamera() (calibration.Pinhole, error) {
	b.mu.Lock()
	info := b.rgbInfo
	b.mu.Unlock()
	if info == nil {
		return calibration.Pinhole{}, fmt.Errorf("%w for rgb/camera_info: the model's HHA encoding needs the colour camera's intrinsics", ErrWaiting)
	}
	c, err := Pinhole(info)
	if err != nil {
		return c, fmt.Errorf("rgb/camera_info: %w", err)
	}
	return c, nil
}

// Pinhole reads a CameraInfo as the camera of the images it comes with: binning and a region of interest (a
// reduced-resolution camera) are applied as image_geometry applies them (calibration.Pinhole.Reduced), and P's
// Tx, Ty place the camera in its frame (calibration.Pinhole.Offset).
func Pinhole(m *sensor_msgs.CameraInfo) (calibration.Pinhole, error) {
	c, err := calibration.FromCameraInfo(int(m.Width), int(m.Height), m.DistortionModel, m.D, m.K, m.R, m.P)
	if err != nil {
		return c, err
	}
	if m.BinningX <= 1 && m.BinningY <= 1 && m.Roi.XOffset == 0 && m.Roi.YOffset == 0 && m.Roi.Width == 0 && m.Roi.Height == 0 {
		return c, nil
	}
	roi := calibration.ROI{X: int(m.Roi.XOffset), Y: int(m.Roi.YOffset), Width: int(m.Roi.Width), Height: int(m.Roi.Height)}
	r, err := c.Reduced(int(m.BinningX), int(m.BinningY), roi)
	if err != nil {
		return r, fmt.Errorf("binning %dx%d, region of interest: %w", m.BinningX, m.BinningY, err)
	}
	return r, nil
}
