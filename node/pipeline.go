package node

import (
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/cen-ros/cen/infer"
	"github.com/cen-ros/cen/node/frames"
	"github.com/cen-ros/cen/preprocess"
)

// input is one received image and when it arrived (wall clock).
type input struct {
	frames.Input
	received time.Time
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
	frames   *frames.Builder
	labelEnc string
	unknown  uint16
	res      infer.Result
}

func newWorker(m *infer.Model, set Settings, fb *frames.Builder) *worker {
	info := m.Info()
	w := &worker{model: m, info: info, frames: fb, labelEnc: preprocess.LabelsMono8, unknown: 255}
	if info.Classes > 255 {
		w.labelEnc, w.unknown = preprocess.Labels16, 65535
	}
	if set.UnknownLabel >= 0 {
		w.unknown = uint16(set.UnknownLabel)
	}
	return w
}

// process segments one pair. The error says why a pair was rejected (frames.ErrWaiting when it only has to
// wait).
func (w *worker) process(rgbIn, depthIn input, dyn Dynamic, want wants) (*outputs, error) {
	f, err := w.frames.Build(rgbIn.Input, depthIn.Input)
	if err != nil {
		return nil, err
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
	h := rgbIn.Header // every output carries the colour image's header, exactly
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
			if err := preprocess.Overlay(&over, f.RGB, color, float32(dyn.OverlayAlpha)); err != nil {
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
