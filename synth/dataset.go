package synth

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cen-ros/cen/internal/atomicfile"
	"github.com/cen-ros/cen/preprocess"
	"gopkg.in/yaml.v3"
)

// DepthScale is the number of depth PNG counts per metre: the NYUDv2
// release's convention (metres × 5000, 0 invalid), which CEN's loader divides
// by.
const DepthScale = 5000

// Files of a data set besides the frames and the list files.
const (
	// PaletteFile holds one "R G B name" line per class, in label order
	// (preprocess.LoadPalette reads it).
	PaletteFile = "classes.txt"
	// CameraFile is the camera of every frame in the camera_calibration_parsers
	// YAML format (calibration.LoadYAML reads it).
	CameraFile = "camera.yaml"
)

// MaxFrames is the most frames a data set can have: six-digit file numbers.
const MaxFrames = 1000000

// Conf describes a data set. The zero value of each field means its
// default.
type Conf struct {
	// N is the number of frames, numbered 0..N-1. Default 1000.
	N int
	// Height and Width are the image size in pixels, MinSize..MaxSize.
	// Default 240 × 320.
	Height, Width int
	// Seed selects the data set; every value, 0 included, gives a
	// different one.
	Seed uint64
	// Val is the number of frames listed in val.txt: the last Val frames;
	// the others are in train.txt. Default N/5; NoVal for an empty val.txt.
	Val int
	// Workers is the number of frames rendered at once. Default
	// runtime.GOMAXPROCS(0). The files do not depend on it.
	Workers int
}

// NoVal as Conf.Val puts every frame in train.txt.
const NoVal = -1

// withDefaults fills in the defaults and checks the result.
func (c Conf) withDefaults() (Conf, error) {
	if c.N == 0 {
		c.N = 1000
	}
	if c.Height == 0 && c.Width == 0 {
		c.Height, c.Width = 240, 320
	}
	switch c.Val {
	case 0:
		c.Val = c.N / 5
	case NoVal:
		c.Val = 0
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	switch {
	case c.N < 1 || c.N > MaxFrames:
		return c, fmt.Errorf("synth: frame count N=%d is outside 1..%d", c.N, MaxFrames)
	case c.Val < 0 || c.Val >= c.N:
		return c, fmt.Errorf("synth: Val=%d validation frames must be at least 0 and below N=%d", c.Val, c.N)
	}
	if err := checkSize(c.Height, c.Width); err != nil {
		return c, err
	}
	return c, nil
}

// WriteDataset renders conf.N frames and writes them under dir in the NYUDv2
// layout (see the package comment), creating dir if needed. progress, if not
// nil, is called from one goroutine after each frame with the number of
// frames written so far. The list files are written last, so a data set with
// lists is complete. Every file is written atomically.
func WriteDataset(dir string, conf Conf, progress func(done, total int)) error {
	c, err := conf.withDefaults()
	if err != nil {
		return err
	}
	for _, sub := range []string{"rgb", "depth", "masks"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("synth: cannot create the data set folder %s: %w", dir, err)
		}
	}
	if err := writeMeta(dir, c); err != nil {
		return err
	}

	jobs := make(chan int)
	done := make(chan error)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < min(c.Workers, c.N); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				var err error
				if !stop.Load() {
					err = writeFrame(dir, c, i)
				}
				done <- err
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := 0; i < c.N && !stop.Load(); i++ {
			jobs <- i
		}
	}()
	go func() {
		wg.Wait()
		close(done)
	}()
	var first error
	n := 0
	for err := range done {
		if err != nil {
			if first == nil {
				first = err
			}
			stop.Store(true)
			continue
		}
		n++
		if progress != nil && first == nil {
			progress(n, c.N)
		}
	}
	if first != nil {
		return first
	}
	return writeLists(dir, c)
}

// frameName is the file name of frame i in each folder.
func frameName(i int) string { return fmt.Sprintf("%06d.png", i) }

func writeFrame(dir string, c Conf, i int) error {
	f := render(frameScene(c.Seed, i), c.Height, c.Width, nil)
	name := frameName(i)
	if err := preprocess.WriteRGBPNG(filepath.Join(dir, "rgb", name), f.RGB); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	if err := WriteDepthPNG(filepath.Join(dir, "depth", name), f.Depth); err != nil {
		return err
	}
	if err := preprocess.WriteLabelsPNG(filepath.Join(dir, "masks", name), f.Labels, c.Width, c.Height); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}

// WriteDepthPNG writes depth in metres as a 16-bit PNG of metres ×
// DepthScale (0 stays 0, values past 65535 counts saturate), atomically.
func WriteDepthPNG(path string, depth preprocess.DepthImage) error {
	if depth.Width <= 0 || depth.Height <= 0 || len(depth.Pix) != depth.Width*depth.Height {
		return fmt.Errorf("synth: %dx%d depth image holds %d pixels", depth.Width, depth.Height, len(depth.Pix))
	}
	img := image.NewGray16(image.Rect(0, 0, depth.Width, depth.Height))
	for i, m := range depth.Pix {
		c := math.Round(float64(m) * DepthScale)
		if !(c > 0) {
			c = 0
		}
		c = math.Min(c, 65535)
		img.Pix[2*i], img.Pix[2*i+1] = uint8(uint16(c)>>8), uint8(c)
	}
	if err := atomicfile.Write(path, 0o644, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}

// writeMeta writes the palette and the camera.
func writeMeta(dir string, c Conf) error {
	var pal strings.Builder
	for k, name := range ClassNames {
		fmt.Fprintf(&pal, "%d %d %d %s\n", Palette[k][0], Palette[k][1], Palette[k][2], name)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, PaletteFile), []byte(pal.String()), 0o644); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	var cam bytes.Buffer
	enc := yaml.NewEncoder(&cam)
	enc.SetIndent(2)
	if err := enc.Encode(Camera(c.Height, c.Width)); err != nil {
		return fmt.Errorf("synth: camera YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("synth: camera YAML: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, CameraFile), cam.Bytes(), 0o644); err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}

// writeLists writes train.txt and val.txt in the official format: one
// tab-separated "rgb mask depth" line per frame, no newline after the last.
func writeLists(dir string, c Conf) error {
	list := func(from, to int) []byte {
		var b bytes.Buffer
		for i := from; i < to; i++ {
			if i > from {
				b.WriteByte('\n')
			}
			n := frameName(i)
			b.WriteString("rgb/" + n + "\tmasks/" + n + "\tdepth/" + n)
		}
		return b.Bytes()
	}
	split := c.N - c.Val
	err := errors.Join(
		atomicfile.WriteFile(filepath.Join(dir, "train.txt"), list(0, split), 0o644),
		atomicfile.WriteFile(filepath.Join(dir, "val.txt"), list(split, c.N), 0o644))
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	return nil
}
