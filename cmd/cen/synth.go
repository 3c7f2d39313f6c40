package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cen-ros/cen/bags"
	"github.com/cen-ros/cen/synth"
)

func init() {
	register("synth", "write the built-in synthetic RGB-D data set (NYUDv2 layout)", runSynth)
}

func runSynth(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("synth", "(--out DIR | --bag B) [--n N] [--seed S] [--size HxW] [--val N] [--rate HZ]", stderr)
	out := fs.String("out", "", "data set folder to write (created if needed)")
	bag := fs.String("bag", "", "bag to write instead: colour, 16UC1 depth (mm), camera infos and ground truth (topics "+bags.SynthRGB+", ...)")
	rate := fs.Float64("rate", 10, "frame rate of the bag's stamps (Hz)")
	n := fs.Int("n", 1000, "number of frames")
	seed := fs.Uint64("seed", 0, "seed selecting the data set")
	size := fs.String("size", "240x320", "image size as HEIGHTxWIDTH")
	val := fs.Int("val", 0, "frames listed in val.txt, the last ones (default: a fifth of --n)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	valSet := false
	fs.Visit(func(f *flag.Flag) { valSet = valSet || f.Name == "val" })
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags only)", fs.Arg(0))
	}
	if (*out == "") == (*bag == "") {
		fs.Usage()
		return fmt.Errorf("give --out (a data set folder) or --bag (a bag file)")
	}
	if *n < 1 || *n > synth.MaxFrames {
		return fmt.Errorf("--n %d: the frame count must be 1..%d", *n, synth.MaxFrames)
	}
	h, w, err := parseSize(*size)
	if err != nil {
		return err
	}
	if *bag != "" {
		bar := newProgressBar(stderr)
		if err := bags.WriteSyntheticBag(*bag, bags.SynthConf{N: *n, Height: h, Width: w, Seed: *seed, Rate: *rate}, bar.update); err != nil {
			bar.abort()
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: %d frames of %dx%d (seed %d) at %g Hz: %s (rgb8), %s (16UC1 mm), %s (ground truth, mono8, %d classes, %d void), camera infos\n",
			*bag, *n, w, h, *seed, *rate, bags.SynthRGB, bags.SynthDepth, bags.SynthLabels, len(synth.ClassNames), synth.Void)
		return nil
	}
	conf := synth.Conf{N: *n, Height: h, Width: w, Seed: *seed}
	switch {
	case !valSet:
		conf.Val = *n / 5
	case *val < 0 || *val >= *n:
		return fmt.Errorf("--val %d: the validation frames must be 0..%d (below --n)", *val, *n-1)
	default:
		conf.Val = *val
	}
	nVal := conf.Val
	if conf.Val == 0 {
		conf.Val = synth.NoVal
	}
	bar := newProgressBar(stderr)
	if err := synth.WriteDataset(*out, conf, bar.update); err != nil {
		bar.abort()
		return err
	}
	fmt.Fprintf(stdout, "wrote %d frames of %dx%d (seed %d) to %s:\n", *n, h, w, *seed, *out)
	fmt.Fprintf(stdout, "  rgb/, depth/ (16-bit, metres × %d, 0 invalid), masks/ (%d classes, %d void)\n",
		synth.DepthScale, len(synth.ClassNames), synth.Void)
	fmt.Fprintf(stdout, "  train.txt (%d frames), val.txt (%d frames), %s (palette and names), %s (camera)\n",
		*n-nVal, nVal, synth.PaletteFile, synth.CameraFile)
	return nil
}

// parseSize reads HEIGHTxWIDTH.
func parseSize(s string) (int, int, error) {
	hs, ws, ok := strings.Cut(strings.ToLower(s), "x")
	h, herr := strconv.Atoi(hs)
	w, werr := strconv.Atoi(ws)
	if !ok || herr != nil || werr != nil {
		return 0, 0, fmt.Errorf("--size %q is not HEIGHTxWIDTH (e.g. 240x320)", s)
	}
	if h < synth.MinSize || w < synth.MinSize || h > synth.MaxSize || w > synth.MaxSize {
		return 0, 0, fmt.Errorf("--size %s: height and width must be %d..%d", s, synth.MinSize, synth.MaxSize)
	}
	return h, w, nil
}

// progressBar draws count, rate and ETA on a terminal, redrawing at most ten
// times a second; elsewhere (a log file) it prints a line every 10 %.
type progressBar struct {
	w          io.Writer
	tty        bool
	start      time.Time
	last       time.Time
	lastDecile int
	drawn      bool
}

func newProgressBar(w io.Writer) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressBar{w: w, tty: tty, start: time.Now()}
}

func (b *progressBar) update(done, total int) {
	now := time.Now()
	final := done == total
	if b.tty {
		if !final && now.Sub(b.last) < 100*time.Millisecond {
			return
		}
	} else if d := 10 * done / total; d == b.lastDecile && !final {
		return
	} else {
		b.lastDecile = d
	}
	b.last = now
	elapsed := now.Sub(b.start).Seconds()
	rate := float64(done) / max(elapsed, 1e-9)
	eta := time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
	const width = 30
	fill := width * done / total
	line := fmt.Sprintf("[%s%s] %d/%d frames  %.1f frames/s  ETA %s", strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		done, total, rate, eta)
	if b.tty {
		fmt.Fprintf(b.w, "\r%s", line)
		b.drawn = true
		if final {
			fmt.Fprintln(b.w)
			b.drawn = false
		}
	} else {
		fmt.Fprintln(b.w, line)
	}
}

// abort ends a bar that stopped early, so an error starts on its own line.
func (b *progressBar) abort() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
