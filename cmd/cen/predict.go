package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/cen/engine"
	"github.com/cen-ros/cen/internal/npy"
	"github.com/cen-ros/cen/preprocess"
)

func init() {
	register("predict", "segment one RGB-D frame (PNG files) with a checkpoint or ONNX model, no ROS", runPredict)
}

// depthUnits maps --depth-unit to the metres per PNG count.
var depthUnits = map[string]float32{
	"official": 1.0 / 5000, // the NYUDv2 release CEN trained on: metres × 5000
	"mm":       1.0 / 1000, // 16UC1 millimetres, as most RGB-D cameras record
	"m":        1,
}

// prediction is what a model gives back for one frame, at the network's input size.
type prediction struct {
	logits     *engine.Tensor // ensemble logits [1, K, H/4, W/4]
	labels     []int32        // argmax after bicubic upsampling of the logits to the input size (official evaluation)
	confidence []float32      // softmax probability of the chosen class
	width      int
	height     int
}

// predictor is a loaded model: a cen checkpoint run by the Go engine, or an ONNX model run by ONNX Runtime.
type predictor interface {
	spec() preprocess.Spec
	classes() int
	classNames() []string
	predict(in *preprocess.Input) (*prediction, error)
	close()
}

func runPredict(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("predict", "--model M --rgb RGB.png --depth DEPTH.png [--depth-unit official|mm|m] [-o labels.png] [--color c.png] [--overlay o.png] [--logits l.npy]", stderr)
	model := fs.String("model", "", "cen checkpoint or .onnx model")
	rgbPath := fs.String("rgb", "", "colour image (PNG or JPEG)")
	depthPath := fs.String("depth", "", "16-bit depth PNG")
	unit := fs.String("depth-unit", "official", "depth PNG unit: official (metres × 5000, the NYUDv2 release), mm, or m")
	out := fs.String("o", "", "label image to write (PNG at the RGB image's size; 8-bit, or 16-bit past 255 classes)")
	colorOut := fs.String("color", "", "colour-coded labels to write (PNG)")
	overlayOut := fs.String("overlay", "", "labels over the RGB image to write (PNG)")
	alpha := fs.Float64("alpha", 0.5, "overlay opacity of the label colours")
	logitsOut := fs.String("logits", "", "ensemble logits to write as float32 .npy [K, H/4, W/4]")
	height := fs.Int("height", 0, "network input height (default: the model's, or the image's for a checkpoint)")
	width := fs.Int("width", 0, "network input width")
	threads := fs.Int("threads", 0, "threads (default: all cores)")
	device := fs.String("device", "auto", "ONNX models: auto, cpu, cuda or tensorrt")
	ortLib := fs.String("ort-lib", "", "ONNX Runtime library (ONNX models)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" || *rgbPath == "" || *depthPath == "" {
		fs.Usage()
		return fmt.Errorf("--model, --rgb and --depth are required")
	}
	if *out == "" && *colorOut == "" && *overlayOut == "" && *logitsOut == "" {
		return fmt.Errorf("nothing to write: give -o, --color, --overlay or --logits")
	}
	scale, ok := depthUnits[*unit]
	if !ok {
		return fmt.Errorf("--depth-unit %q is not official, mm or m", *unit)
	}
	if *threads > 0 {
		engine.SetThreads(*threads)
	}
	rgb, err := preprocess.LoadRGB(*rgbPath)
	if err != nil {
		return err
	}
	depth, err := preprocess.LoadDepthPNG(*depthPath, scale)
	if err != nil {
		return err
	}
	var p predictor
	if strings.HasSuffix(strings.ToLower(*model), ".onnx") {
		p, err = openONNXPredictor(*model, *device, *ortLib, *threads)
	} else {
		p, err = openCheckpointPredictor(*model)
	}
	if err != nil {
		return err
	}
	defer p.close()

	spec := p.spec()
	switch {
	case *height > 0 && *width > 0:
		spec.Height, spec.Width = *height, *width
	case *height > 0 || *width > 0:
		return fmt.Errorf("give both --height and --width")
	case spec.Height == 0 || spec.Width == 0:
		// A checkpoint (or a dynamic ONNX model) runs at the image's own size, as the official evaluation does.
		spec.Height, spec.Width = rgb.Height, rgb.Width
	}
	in, err := spec.Input(rgb, depth, nil)
	if err != nil {
		return fmt.Errorf("%s + %s: %w", *rgbPath, *depthPath, err)
	}
	pred, err := p.predict(in)
	if err != nil {
		return err
	}
	if *logitsOut != "" {
		l := pred.logits
		if err := npy.WriteFloat32File(*logitsOut, []int{l.C, l.H, l.W}, l.Data); err != nil {
			return err
		}
	}
	labels, err := preprocess.ToCamera(in.Geometry, pred.labels)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := preprocess.WriteLabelsPNG(*out, labels, rgb.Width, rgb.Height); err != nil {
			return err
		}
	}
	if *colorOut != "" || *overlayOut != "" {
		color := preprocess.NewRGBImage(rgb.Width, rgb.Height)
		if err := preprocess.Colorize(&color, labels, rgb.Width, rgb.Height, preprocess.PaletteFor(p.classes())); err != nil {
			return err
		}
		if *colorOut != "" {
			if err := preprocess.WriteRGBPNG(*colorOut, color); err != nil {
				return err
			}
		}
		if *overlayOut != "" {
			over := preprocess.NewRGBImage(rgb.Width, rgb.Height)
			if err := preprocess.Overlay(&over, rgb, color, float32(*alpha)); err != nil {
				return err
			}
			if err := preprocess.WriteRGBPNG(*overlayOut, over); err != nil {
				return err
			}
		}
	}
	counts := make([]int, p.classes())
	for _, l := range labels {
		if int(l) < len(counts) {
			counts[l]++
		}
	}
	names := p.classNames()
	var top []string
	for k := 0; k < 3; k++ {
		best := -1
		for c, n := range counts {
			if n > 0 && (best < 0 || n > counts[best]) {
				best = c
			}
		}
		if best < 0 {
			break
		}
		name := fmt.Sprint(best)
		if best < len(names) {
			name = names[best]
		}
		top = append(top, fmt.Sprintf("%s %.1f%%", name, 100*float64(counts[best])/float64(len(labels))))
		counts[best] = 0
	}
	fmt.Fprintf(stdout, "%s: %dx%d at network size %dx%d; most frequent: %s\n", *rgbPath, rgb.Width, rgb.Height, spec.Width, spec.Height, strings.Join(top, ", "))
	return nil
}

// checkpointPredictor runs a cen checkpoint on the Go engine with the official preprocessing.
type checkpointPredictor struct {
	m *cen.Model
}

func openCheckpointPredictor(path string) (predictor, error) {
	m, _, err := cen.LoadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	if m.Config().M() != 2 {
		return nil, fmt.Errorf("%s has %d modalities %v; predict feeds RGB and depth", path, m.Config().M(), m.Config().Modalities)
	}
	return &checkpointPredictor{m: m}, nil
}

func (c *checkpointPredictor) spec() preprocess.Spec {
	s := preprocess.DefaultSpec()
	s.Height, s.Width = 0, 0 // run at the image's size
	return s
}

func (c *checkpointPredictor) classes() int { return c.m.Config().Classes }

func (c *checkpointPredictor) classNames() []string {
	switch c.classes() {
	case len(preprocess.ClassesNYUDv2):
		return preprocess.ClassesNYUDv2
	case len(preprocess.ClassesSUNRGBD):
		return preprocess.ClassesSUNRGBD
	}
	return nil
}

func (c *checkpointPredictor) predict(in *preprocess.Input) (*prediction, error) {
	h, w := in.Geometry.NetHeight, in.Geometry.NetWidth
	rgb := engine.TensorFrom(1, 3, h, w, in.RGB)
	depth := engine.TensorFrom(1, in.DepthChannels, h, w, in.Depth)
	out, err := c.m.Forward([]*engine.Tensor{rgb, depth})
	if err != nil {
		return nil, err
	}
	// The official evaluation: bicubic upsampling of the logits to the input size, then argmax.
	up := engine.ResizeBicubic(out.Ensemble, h, w)
	labels := make([]int32, h*w)
	conf := make([]float32, h*w)
	if err := preprocess.Argmax(labels, conf, up.Data, up.C, w, h); err != nil {
		return nil, err
	}
	return &prediction{logits: out.Ensemble, labels: labels, confidence: conf, width: w, height: h}, nil
}

func (c *checkpointPredictor) close() {}
