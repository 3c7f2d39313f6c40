package node

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/cen-ros/cen/calibration"
	"github.com/cen-ros/cen/infer"
	"github.com/cen-ros/cen/preprocess"
)

// input is one received image: raw (sensor_msgs/Image) or compressed (sensor_msgs/CompressedImage).
type input struct {
	header     std_msgs.Header
	raw        *sensor_msgs.Image
	compressed *sensor_msgs.CompressedImage
	received   time.Time // wall clock when it arrived
}

// errWaiting marks a pair that cannot be processed yet (a camera_info or a transform has not arrived); it is
// counted apart from rejected frames.
var errWaiting = errors.New("waiting")

// geometry holds what registration and HHA need besides the images: the latest camera infos and the static
// transforms. Subscriber goroutines update it; the worker reads it.
type geometry struct {
	mu        sync.Mutex
	rgbInfo   *sensor_msgs.CameraInfo
	depthInfo *sensor_msgs.CameraInfo
	tf        staticTF
	param     *calibration.Extrinsic // ~depth_to_rgb, when given
}

func (g *geometry) setRGBInfo(m *sensor_msgs.CameraInfo) {
	g.mu.Lock()
	g.rgbInfo = m
	g.mu.Unlock()
}

func (g *geometry) setDepthInfo(m *sensor_msgs.CameraInfo) {
	g.mu.Lock()
	g.depthInfo = m
	g.mu.Unlock()
}

// outputs are the messages one frame produces; nil for an output nobody asked for.
type outputs struct {
	labels, color, overlay, confidence *sensor_msgs.Image
}

// wants says which optional outputs have subscribers.
type wants struct{ color, overlay, confidence bool }

// worker turns a synchronised pair into output messages. It is used by one goroutine; its buffers are reused.
type worker struct {
	model    *infer.Model
	info     infer.Info
	set      Settings
	geo      *geometry
	labelEnc string
	unknown  uint16

	rgb        preprocess.RGBImage
	depth, reg preprocess.DepthImage
	res        infer.Result
	registrar  *calibration.Registration
	regKey     string
}

func newWorker(m *infer.Model, set Settings, geo *geometry) *worker {
	info := m.Info()
	w := &worker{model: m, info: info, set: set, geo: geo, labelEnc: preprocess.LabelsMono8, unknown: 255}
	if info.Classes > 255 {
		w.labelEnc, w.unknown = preprocess.Labels16, 65535
	}
	if set.UnknownLabel >= 0 {
		w.unknown = uint16(set.UnknownLabel)
	}
	return w
}

// process segments one pair. The error says why a pair was rejected (errWaiting when it only has to wait).
func (w *worker) process(rgbIn, depthIn input, dyn Dynamic, want wants) (*outputs, error) {
	if err := w.decodeRGB(rgbIn); err != nil {
		return nil, fmt.Errorf("colour image: %w", err)
	}
	if err := w.decodeDepth(depthIn); err != nil {
		return nil, fmt.Errorf("depth image: %w", err)
	}
	depth, err := w.registered(rgbIn.header.FrameId, depthIn.header.FrameId)
	if err != nil {
		return nil, err
	}
	f := infer.Frame{RGB: w.rgb, Depth: depth}
	if w.info.Spec.DepthEncoding == preprocess.HHA {
		cam, err := w.rgbCamera()
		if err != nil {
			return nil, err
		}
		f.View = &preprocess.View{Camera: cam}
	}
	if err := w.model.Segment(f, &w.res); err != nil {
		return nil, err
	}
	res := &w.res
	if t := float32(dyn.ConfidenceThreshold); t > 0 {
		for i, c := range res.Confidence {
			if c < t {
				res.Labels[i] = w.unknown
			}
		}
	}
	h := rgbIn.header // every output carries the colour image's header, exactly
	out := &outputs{}
	data, step, err := preprocess.EncodeLabels(res.Labels, res.Width, res.Height, w.labelEnc)
	if err != nil {
		return nil, err
	}
	out.labels = image(h, res.Width, res.Height, w.labelEnc, step, data)
	if (want.color && dyn.PublishColor) || (want.overlay && dyn.PublishOverlay) {
		var color preprocess.RGBImage
		if err := preprocess.Colorize(&color, res.Labels, res.Width, res.Height, w.info.Palette); err != nil {
			return nil, err
		}
		if want.color && dyn.PublishColor {
			out.color = image(h, res.Width, res.Height, preprocess.RGB8, 3*res.Width, color.Pix)
		}
		if want.overlay && dyn.PublishOverlay {
			var over preprocess.RGBImage
			if err := preprocess.Overlay(&over, w.rgb, color, float32(dyn.OverlayAlpha)); err != nil {
				return nil, err
			}
			out.overlay = image(h, res.Width, res.Height, preprocess.RGB8, 3*res.Width, over.Pix)
		}
	}
	if want.confidence && dyn.PublishConfidence {
		data, step, err := preprocess.EncodeConfidence(res.Confidence, res.Width, res.Height)
		if err != nil {
			return nil, err
		}
		out.confidence = image(h, res.Width, res.Height, preprocess.Depth32, step, data)
	}
	return out, nil
}

func image(h std_msgs.Header, width, height int, enc string, step int, data []byte) *sensor_msgs.Image {
	return &sensor_msgs.Image{Header: h, Width: uint32(width), Height: uint32(height), Encoding: enc, Step: uint32(step), Data: data}
}

func raw(m *sensor_msgs.Image) preprocess.Raw {
	return preprocess.Raw{Encoding: m.Encoding, Width: int(m.Width), Height: int(m.Height), Step: int(m.Step),
		BigEndian: m.IsBigendian != 0, Data: m.Data}
}

func (w *worker) decodeRGB(in input) error {
	if in.raw != nil {
		return preprocess.DecodeRGBTo(&w.rgb, raw(in.raw))
	}
	img, err := preprocess.DecodeCompressedRGB(in.compressed.Format, in.compressed.Data)
	w.rgb = img
	return err
}

func (w *worker) decodeDepth(in input) error {
	unit := float32(w.set.DepthScale)
	if in.raw != nil {
		return preprocess.DecodeDepthTo(&w.depth, raw(in.raw), unit)
	}
	img, err := preprocess.DecodeCompressedDepth(in.compressed.Format, in.compressed.Data, unit)
	w.depth = img
	return err
}

// registered returns the depth image in the colour camera's pixels: as it came when both images share a
// frame, else registered with both camera infos and the depth→colour transform.
func (w *worker) registered(rgbFrame, depthFrame string) (preprocess.DepthImage, error) {
	rgbFrame, depthFrame = strings.TrimPrefix(rgbFrame, "/"), strings.TrimPrefix(depthFrame, "/")
	if rgbFrame == depthFrame {
		return w.depth, nil
	}
	w.geo.mu.Lock()
	rgbInfo, depthInfo, param := w.geo.rgbInfo, w.geo.depthInfo, w.geo.param
	ext, tfErr := w.geo.tf.lookup(depthFrame, rgbFrame)
	w.geo.mu.Unlock()
	if param != nil {
		ext, tfErr = *param, nil
	}
	switch {
	case rgbInfo == nil || depthInfo == nil:
		return preprocess.DepthImage{}, fmt.Errorf("%w for rgb/camera_info and depth/camera_info to register depth (frame %q) into the colour frame %q", errWaiting, depthFrame, rgbFrame)
	case tfErr != nil:
		return preprocess.DepthImage{}, fmt.Errorf("%w for the transform %s → %s (/tf_static or ~depth_to_rgb): %v", errWaiting, depthFrame, rgbFrame, tfErr)
	}
	key := fmt.Sprint(rgbInfo.Width, rgbInfo.Height, rgbInfo.K, rgbInfo.D, rgbInfo.P, depthInfo.Width, depthInfo.Height, depthInfo.K, depthInfo.D, depthInfo.P, ext)
	if w.registrar == nil || key != w.regKey {
		dc, err := pinhole(depthInfo)
		if err != nil {
			return preprocess.DepthImage{}, fmt.Errorf("depth/camera_info: %w", err)
		}
		rc, err := pinhole(rgbInfo)
		if err != nil {
			return preprocess.DepthImage{}, fmt.Errorf("rgb/camera_info: %w", err)
		}
		r, err := calibration.NewRegistration(dc, rc, ext)
		if err != nil {
			return preprocess.DepthImage{}, err
		}
		w.registrar, w.regKey = r, key
	}
	if err := preprocess.RegisterDepthTo(&w.reg, w.depth, w.registrar, w.set.FillHoles); err != nil {
		return preprocess.DepthImage{}, err
	}
	return w.reg, nil
}

// rgbCamera is the colour camera's calibration, which HHA needs.
func (w *worker) rgbCamera() (calibration.Pinhole, error) {
	w.geo.mu.Lock()
	info := w.geo.rgbInfo
	w.geo.mu.Unlock()
	if info == nil {
		return calibration.Pinhole{}, fmt.Errorf("%w for rgb/camera_info: the model's HHA encoding needs the colour camera's intrinsics", errWaiting)
	}
	c, err := pinhole(info)
	if err != nil {
		return c, fmt.Errorf("rgb/camera_info: %w", err)
	}
	return c, nil
}

// pinhole reads a CameraInfo. Binning and a region of interest (a reduced-resolution camera) are refused
// rather than misread.
func pinhole(m *sensor_msgs.CameraInfo) (calibration.Pinhole, error) {
	if m.BinningX > 1 || m.BinningY > 1 || m.Roi.Width != 0 || m.Roi.Height != 0 {
		return calibration.Pinhole{}, fmt.Errorf("binning %dx%d / region of interest %dx%d is not supported; publish full-resolution camera infos",
			m.BinningX, m.BinningY, m.Roi.Width, m.Roi.Height)
	}
	return calibration.FromCameraInfo(int(m.Width), int(m.Height), m.DistortionModel, m.D, m.K, m.R, m.P)
}
