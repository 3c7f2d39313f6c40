// Package bags evaluates segmentation on recorded drives and writes the bags cen produces: the synthetic
// scenes as a bag (WriteSyntheticBag), the offline evaluation of a bag through the inference library
// (Evaluate), the live one through the node (EvaluateLive), and the reports people read. Reading and
// writing the bag format itself is bags/rosbag's.
package bags

import (
	"fmt"
	"runtime"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/cen-ros/cen/bags/rosbag"
	"github.com/cen-ros/cen/calibration"
	"github.com/cen-ros/cen/synth"
)

// Topics of the bags WriteSyntheticBag writes: a RealSense-like camera with depth aligned to colour (one
// optical frame for both), and the ground truth as an id image (mono8, 255 void) with the colour image's
// stamp.
const (
	SynthRGB       = "/camera/color/image_raw"
	SynthDepth     = "/camera/aligned_depth_to_color/image_raw"
	SynthRGBInfo   = "/camera/color/camera_info"
	SynthDepthInfo = "/camera/aligned_depth_to_color/camera_info"
	SynthLabels    = "/camera/labels"
	SynthFrame     = "camera_color_optical_frame"
)

// SynthConf configures WriteSyntheticBag.
type SynthConf struct {
	// N, Height, Width and Seed select the frames, as for synth.WriteDataset (frame i of the bag is frame i of
	// the data set with the same seed and size). N defaults to 100, the size to 480×640.
	N, Height, Width int
	Seed             uint64
	// Rate is the camera's frame rate (optional). It defaults to 10 Hz.
	Rate float64
	// DepthDelay stamps each depth image this long after its colour image, as real cameras do (optional). It
	// defaults to 3 ms; the synchroniser's approximate policy pairs them.
	DepthDelay time.Duration
	// Start is the first frame's stamp (optional). It defaults to 2023-11-14T22:13:20Z (1700000000 s).
	Start time.Time
	// Compression is the bag's chunk compression, "lz4" or "none" (optional). It defaults to lz4.
	Compression string
}

func (c SynthConf) withDefaults() (SynthConf, error) {
	if c.N == 0 {
		c.N = 100
	}
	if c.Height == 0 && c.Width == 0 {
		c.Height, c.Width = 480, 640
	}
	if c.Rate == 0 {
		c.Rate = 10
	}
	if c.DepthDelay == 0 {
		c.DepthDelay = 3 * time.Millisecond
	}
	if c.Start.IsZero() {
		c.Start = time.Unix(1700000000, 0)
	}
	if c.Compression == "" {
		c.Compression = "lz4"
	}
	switch {
	case c.N < 1 || c.N > synth.MaxFrames:
		return c, fmt.Errorf("bags: %d frames: want 1 to %d", c.N, synth.MaxFrames)
	case !(c.Rate > 0) || c.Rate > 1000:
		return c, fmt.Errorf("bags: frame rate %g Hz: want (0, 1000]", c.Rate)
	case c.DepthDelay < 0 || c.DepthDelay >= time.Duration(float64(time.Second)/c.Rate):
		return c, fmt.Errorf("bags: depth delay %v must be shorter than a frame period", c.DepthDelay)
	}
	return c, nil
}

// WriteSyntheticBag writes the synthetic scenes as a bag: colour (rgb8), depth (16UC1 millimetres, 0 where
// the simulated sensor has no reading), both camera infos and the ground truth, with realistic stamps (depth
// a little after colour). progress, when not nil, is called after each frame. The bag appears under path
// only once complete.
func WriteSyntheticBag(path string, conf SynthConf, progress func(done, total int)) error {
	c, err := conf.withDefaults()
	if err != nil {
		return err
	}
	w, err := rosbag.Create(path, rosbag.WriterConf{Compression: c.Compression})
	if err != nil {
		return err
	}
	defer w.Abort() // a no-op after Close
	conn := map[string]*rosbag.Connection{}
	for topic, t := range map[string]rosbag.MsgType{SynthRGB: rosbag.ImageType, SynthDepth: rosbag.ImageType, SynthLabels: rosbag.ImageType,
		SynthRGBInfo: rosbag.CameraInfoType, SynthDepthInfo: rosbag.CameraInfoType} {
		if conn[topic], err = w.AddConnection(rosbag.Connection{Topic: topic, MsgType: t, CallerID: "/cen_synth"}); err != nil {
			return err
		}
	}
	stop := make(chan struct{})
	defer close(stop)
	frames := renderAhead(c, stop)
	period := time.Duration(float64(time.Second) / c.Rate)
	var buf []byte
	for i := 0; i < c.N; i++ {
		f := <-frames[i%len(frames)]
		if f.err != nil {
			return f.err
		}
		stamp := c.Start.Add(time.Duration(i) * period)
		hRGB := std_msgs.Header{Seq: uint32(i), Stamp: stamp, FrameId: SynthFrame}
		hDepth := std_msgs.Header{Seq: uint32(i), Stamp: stamp.Add(c.DepthDelay), FrameId: SynthFrame}
		info := cameraInfo(f.frame.Camera)
		// Record times: each message as a recorder would receive it, a few milliseconds after its stamp.
		write := func(topic string, t time.Time, data []byte) error {
			return w.WriteMessage(conn[topic], rosbag.StampTime(t.Add(2*time.Millisecond)), data)
		}
		fr := f.frame
		buf = rosbag.AppendImage(buf[:0], &sensor_msgs.Image{Header: hRGB, Width: uint32(c.Width), Height: uint32(c.Height),
			Encoding: "rgb8", Step: uint32(3 * c.Width), Data: fr.RGB.Pix})
		if err := write(SynthRGB, stamp, buf); err != nil {
			return err
		}
		info.Header = hRGB
		buf = rosbag.AppendCameraInfo(buf[:0], &info)
		if err := write(SynthRGBInfo, stamp, buf); err != nil {
			return err
		}
		buf = rosbag.AppendImage(buf[:0], &sensor_msgs.Image{Header: hDepth, Width: uint32(c.Width), Height: uint32(c.Height),
			Encoding: "16UC1", Step: uint32(2 * c.Width), Data: millimetres(fr.Depth.Pix)})
		if err := write(SynthDepth, hDepth.Stamp, buf); err != nil {
			return err
		}
		info.Header = hDepth
		buf = rosbag.AppendCameraInfo(buf[:0], &info)
		if err := write(SynthDepthInfo, hDepth.Stamp, buf); err != nil {
			return err
		}
		buf = rosbag.AppendImage(buf[:0], &sensor_msgs.Image{Header: hRGB, Width: uint32(c.Width), Height: uint32(c.Height),
			Encoding: "mono8", Step: uint32(c.Width), Data: fr.Labels})
		if err := write(SynthLabels, stamp, buf); err != nil {
			return err
		}
		if progress != nil {
			progress(i+1, c.N)
		}
	}
	return w.Close()
}

type rendered struct {
	frame *synth.Frame
	err   error
}

// renderAhead renders the frames on every core, in order: frame i arrives on channel i mod workers. Closing
// stop ends the workers.
func renderAhead(c SynthConf, stop <-chan struct{}) []chan rendered {
	workers := max(1, min(runtime.GOMAXPROCS(0), c.N))
	chans := make([]chan rendered, workers)
	for i := range chans {
		chans[i] = make(chan rendered, 2)
	}
	for wk := 0; wk < workers; wk++ {
		go func(wk int) {
			for i := wk; i < c.N; i += workers {
				f, err := synth.Render(c.Seed, i, c.Height, c.Width)
				select {
				case chans[wk] <- rendered{f, err}:
				case <-stop:
					return
				}
				if err != nil {
					return
				}
			}
		}(wk)
	}
	return chans
}

// millimetres turns metres (0 invalid) into 16UC1 millimetres, little-endian.
func millimetres(m []float32) []byte {
	out := make([]byte, 2*len(m))
	for i, v := range m {
		mm := uint32(v*1000 + 0.5)
		if v <= 0 || mm > 65535 {
			mm = 0
		}
		out[2*i], out[2*i+1] = byte(mm), byte(mm>>8)
	}
	return out
}

func cameraInfo(c calibration.Pinhole) sensor_msgs.CameraInfo {
	model := c.Model
	if model == "" {
		model = calibration.PlumbBob
	}
	d := append([]float64(nil), c.D...)
	for len(d) < 5 {
		d = append(d, 0)
	}
	return sensor_msgs.CameraInfo{Width: uint32(c.Width), Height: uint32(c.Height), DistortionModel: model, D: d, K: c.K, R: c.R, P: c.P}
}
