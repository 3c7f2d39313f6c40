package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/cen-ros/cen/calibration"
	"github.com/cen-ros/cen/cen/ort"
	"github.com/cen-ros/cen/infer"
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

func runPredict(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("predict", "--model M --rgb RGB.png --depth DEPTH.png [--depth-unit official|mm|m] [-o labels.png] [--color c.png] [--overlay o.png] [--logits l.npy]", stderr)
	model := fs.String("model", "", "cen checkpoint or ONNX model")
	rgbPath := fs.String("rgb", "", "colour image (PNG or JPEG)")
	depthPath := fs.String("depth", "", "16-bit depth PNG")
	unit := fs.String("depth-unit", "official", "depth PNG unit: official (metres × 5000, the NYUDv2 release), mm, or m")
	cameraPath := fs.String("camera", "", "camera calibration YAML of the RGB camera (HHA models)")
	out := fs.String("o", "", "label image to write (PNG at the RGB image's size; 8-bit, or 16-bit past 255 classes)")
	colorOut := fs.String("color", "", "colour-coded labels to write (PNG)")
	overlayOut := fs.String("overlay", "", "labels over the RGB image to write (PNG)")
	alpha := fs.Float64("alpha", 0.5, "overlay opacity of the label colours")
	logitsOut := fs.String("logits", "", "ensemble logits to write as float32 .npy [K, H/4, W/4]")
	height := fs.Int("height", 0, "network input height (default: the model's recipe)")
	width := fs.Int("width", 0, "network input width")
	threads := fs.Int("threads", 0, "threads (default: all cores)")
	device := fs.String("device", "auto", "auto, cpu, cuda or tensorrt (ONNX models; checkpoints run on the CPU)")
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
	if (*height > 0) != (*width > 0) {
		return fmt.Errorf("give both --height and --width")
	}
	if *alpha < 0 || *alpha > 1 {
		return fmt.Errorf("--alpha %g is outside [0, 1]", *alpha)
	}
	rgb, err := preprocess.LoadRGB(*rgbPath)
	if err != nil {
		return err
	}
	depth, err := preprocess.LoadDepthPNG(*depthPath, scale)
	if err != nil {
		return err
	}
	var view *preprocess.View
	if *cameraPath != "" {
		cam, err := calibration.LoadYAML(*cameraPath)
		if err != nil {
			return err
		}
		view = &preprocess.View{Camera: cam}
	}
	m, err := infer.Open(*model, infer.Conf{Device: *device, Threads: *threads, Height: *height, Width: *width,
		Logits: *logitsOut != "", ORT: ortOptions(*ortLib), Logger: func(l string) { fmt.Fprintln(stderr, l) }})
	if err != nil {
		return err
	}
	defer m.Close()
	info := m.Info()
	var res infer.Result
	if err := m.Segment(infer.Frame{RGB: rgb, Depth: depth, View: view}, &res); err != nil {
		return fmt.Errorf("%s + %s: %w", *rgbPath, *depthPath, err)
	}
	if *logitsOut != "" {
		if err := npy.WriteFloat32File(*logitsOut, []int{info.Classes, res.LogitsHeight, res.LogitsWidth}, res.Logits); err != nil {
			return err
		}
	}
	if *out != "" {
		if err := preprocess.WriteLabelsPNG(*out, res.Labels, res.Width, res.Height); err != nil {
			return err
		}
	}
	if *colorOut != "" || *overlayOut != "" {
		var color preprocess.RGBImage
		if err := preprocess.Colorize(&color, res.Labels, res.Width, res.Height, info.Palette); err != nil {
			return err
		}
		if *colorOut != "" {
			if err := preprocess.WriteRGBPNG(*colorOut, color); err != nil {
				return err
			}
		}
		if *overlayOut != "" {
			var over preprocess.RGBImage
			if err := preprocess.Overlay(&over, rgb, color, float32(*alpha)); err != nil {
				return err
			}
			if err := preprocess.WriteRGBPNG(*overlayOut, over); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(stdout, "%s: %dx%d at network size %dx%d on %s/%s in %.0f ms; most frequent: %s\n", *rgbPath, rgb.Width, rgb.Height,
		info.Spec.Width, info.Spec.Height, info.Backend, info.Device, float64(res.Timings.Total().Microseconds())/1e3, topClasses(res.Labels, info.ClassNames, 3))
	return nil
}

// topClasses names the n most frequent labels with their share of the pixels.
func topClasses(labels []uint16, names []string, n int) string {
	counts := make([]int, len(names))
	for _, l := range labels {
		if int(l) < len(counts) {
			counts[l]++
		}
	}
	var top []string
	for k := 0; k < n; k++ {
		best := -1
		for c, cnt := range counts {
			if cnt > 0 && (best < 0 || cnt > counts[best]) {
				best = c
			}
		}
		if best < 0 {
			break
		}
		top = append(top, fmt.Sprintf("%s %.1f%%", names[best], 100*float64(counts[best])/float64(len(labels))))
		counts[best] = 0
	}
	return strings.Join(top, ", ")
}

// ortOptions is the ONNX Runtime configuration of the --ort-lib flag.
func ortOptions(lib string) ort.Options { return ort.Options{Library: lib} }
