package train

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cen-ros/cen/preprocess"
	"github.com/cen-ros/cen/synth"
)

// memDataset is a data set of generated samples held in memory.
type memDataset struct {
	samples []Sample
	fail    int // index whose Load fails; −1 for none
	loads   atomic.Int32
}

func newMemDataset(n, w, h int) *memDataset {
	d := &memDataset{fail: -1}
	for k := 0; k < n; k++ {
		s := Sample{Name: fmt.Sprintf("s%02d", k), RGB: preprocess.NewRGBImage(w, h),
			Depth:  preprocess.DepthImage{Width: w, Height: h, Pix: make([]float32, w*h)},
			Labels: make([]uint16, w*h)}
		for i := range s.Labels {
			x, y := i%w, i/w
			s.RGB.Pix[3*i], s.RGB.Pix[3*i+1], s.RGB.Pix[3*i+2] = uint8(7*x+13*k), uint8(5*y+x*y), uint8(31*k+x)
			s.Depth.Pix[i] = 0.5 + float32((x+2*y+k)%17)/4
			s.Labels[i] = uint16((x/4 + y/4 + k) % 5)
			if (x+y+k)%11 == 0 {
				s.Labels[i], s.Depth.Pix[i] = 255, 0
			}
		}
		d.samples = append(d.samples, s)
	}
	return d
}

func (d *memDataset) Len() int { return len(d.samples) }

func (d *memDataset) Load(i int) (Sample, error) {
	d.loads.Add(1)
	if i == d.fail {
		return Sample{}, fmt.Errorf("train: %s is broken", d.samples[i].Name)
	}
	return d.samples[i], nil
}

func (d *memDataset) Classes() preprocess.ClassSet { return preprocess.GenericClasses("mem", 5) }
func (d *memDataset) Ignore() uint16               { return 255 }

// testConf is a small official-recipe run: 10 samples of 32×24 cropped to 32×32 (so both padding and crops
// happen), batches of 3.
func testConf(d Dataset) LoaderConf {
	return LoaderConf{Dataset: d, Augment: Augment{CropWidth: 32, CropHeight: 32, MinSide: 20}, Spec: preprocess.DefaultSpec(),
		Batch: 3, Shuffle: true, DropLast: true, Seed: 5, Epoch: 2, Workers: 2, Prefetch: 2}
}

// epoch runs a loader to the end of its epoch.
func epoch(t *testing.T, conf LoaderConf) []*Batch {
	t.Helper()
	l, err := NewLoader(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var out []*Batch
	for {
		b, err := l.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if _, err := l.Next(); err != io.EOF {
		t.Fatalf("Next after the end = %v, want io.EOF again", err)
	}
	return out
}

func sameBatch(a, b *Batch) error {
	if a.N != b.N || a.H != b.H || a.W != b.W || a.Index != b.Index || strings.Join(a.Names, ",") != strings.Join(b.Names, ",") || len(a.Inputs) != len(b.Inputs) {
		return fmt.Errorf("batch %d (%v, %dx%dx%d) and batch %d (%v, %dx%dx%d) differ", a.Index, a.Names, a.N, a.H, a.W, b.Index, b.Names, b.N, b.H, b.W)
	}
	for m := range a.Inputs {
		if len(a.Inputs[m]) != len(b.Inputs[m]) {
			return fmt.Errorf("batch %d modality %d sizes differ", a.Index, m)
		}
		for i := range a.Inputs[m] {
			if a.Inputs[m][i] != b.Inputs[m][i] {
				return fmt.Errorf("batch %d modality %d element %d: %g vs %g", a.Index, m, i, a.Inputs[m][i], b.Inputs[m][i])
			}
		}
	}
	if !equalU16(a.Labels, b.Labels) {
		return fmt.Errorf("batch %d labels differ", a.Index)
	}
	return nil
}

func TestLoaderBatchesDoNotDependOnWorkers(t *testing.T) {
	d := newMemDataset(10, 32, 24)
	one := testConf(d)
	one.Workers, one.Prefetch = 1, 1
	three := testConf(d)
	three.Workers, three.Prefetch = 3, 4
	a, b := epoch(t, one), epoch(t, three)
	if len(a) != 3 || len(b) != 3 {
		t.Fatalf("%d and %d batches, want 10/3 = 3 with DropLast", len(a), len(b))
	}
	for i := range a {
		if a[i].N != 3 || a[i].H != 32 || a[i].W != 32 || a[i].Index != i || len(a[i].Inputs) != 2 || len(a[i].Inputs[0]) != 3*3*32*32 || len(a[i].Labels) != 3*32*32 {
			t.Fatalf("batch %d: N %d, %dx%d, index %d, %d inputs", i, a[i].N, a[i].W, a[i].H, a[i].Index, len(a[i].Inputs))
		}
		if err := sameBatch(a[i], b[i]); err != nil {
			t.Fatalf("1 and 3 workers: %v", err)
		}
	}
}

func TestLoaderResumesMidEpoch(t *testing.T) {
	d := newMemDataset(10, 32, 24)
	full := epoch(t, testConf(d))
	for k := 0; k <= 3; k++ {
		c := testConf(d)
		c.StartBatch = k
		part := epoch(t, c)
		if len(part) != len(full)-k {
			t.Fatalf("start %d: %d batches, want %d", k, len(part), len(full)-k)
		}
		for i, b := range part {
			if err := sameBatch(b, full[k+i]); err != nil {
				t.Fatalf("start %d: %v", k, err)
			}
		}
	}
}

// TestLoaderFeedsThroughTheOnePreprocessing rebuilds every batch slot from the data set with
// Augment.Apply, preprocess.Spec.Input and preprocess.LabelsToNet, and compares.
func TestLoaderFeedsThroughTheOnePreprocessing(t *testing.T) {
	d := newMemDataset(10, 32, 24)
	for _, mods := range [][]string{{"rgb", "depth"}, {"depth", "rgb"}, {"depth"}} {
		c := testConf(d)
		c.Modalities = mods
		order := epochOrder(10, true, c.Seed, c.Epoch)
		spec := c.Spec
		spec.Height, spec.Width = 32, 32
		for _, b := range epoch(t, c) {
			plane := b.H * b.W
			for k := 0; k < b.N; k++ {
				idx := order[b.Index*c.Batch+k]
				a, err := c.Augment.Apply(d.samples[idx], 255, c.Seed, c.Epoch, idx)
				if err != nil {
					t.Fatal(err)
				}
				in, err := spec.Input(a.RGB, a.Depth, nil)
				if err != nil {
					t.Fatal(err)
				}
				if b.Names[k] != d.samples[idx].Name {
					t.Fatalf("batch %d slot %d is %s, want %s", b.Index, k, b.Names[k], d.samples[idx].Name)
				}
				for m, name := range mods {
					want := in.RGB
					if name == "depth" {
						want = in.Depth
					}
					got := b.Inputs[m][k*3*plane : (k+1)*3*plane]
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("%v: batch %d slot %d %s element %d = %g, want %g", mods, b.Index, k, name, i, got[i], want[i])
						}
					}
				}
				if !equalU16(b.Labels[k*plane:(k+1)*plane], a.Labels) {
					t.Fatalf("batch %d slot %d: labels are not the augmented sample's", b.Index, k)
				}
			}
		}
	}
}

func TestLoaderOrder(t *testing.T) {
	d := newMemDataset(10, 32, 24)
	c := testConf(d)
	c.Shuffle, c.DropLast = false, false
	var names []string
	bs := epoch(t, c)
	for _, b := range bs {
		names = append(names, b.Names...)
	}
	if len(bs) != 4 || bs[3].N != 1 || len(bs[3].Labels) != 32*32 || strings.Join(names, " ") != "s00 s01 s02 s03 s04 s05 s06 s07 s08 s09" {
		t.Fatalf("%d batches (last N %d), order %v; want 4 in data set order", len(bs), bs[len(bs)-1].N, names)
	}
	perm := func(epoch int) string {
		o := epochOrder(795, true, 42, epoch)
		seen := make([]bool, 795)
		for _, i := range o {
			if seen[i] {
				t.Fatalf("epoch %d visits %d twice", epoch, i)
			}
			seen[i] = true
		}
		return fmt.Sprint(o)
	}
	if perm(0) == perm(1) || perm(0) != perm(0) {
		t.Error("epochs 0 and 1 must have different orders, each drawn the same way every time")
	}
	if got := BatchesPerEpoch(795, 6, true); got != 132 { // the official 132 iterations per epoch
		t.Errorf("BatchesPerEpoch(795, 6, drop) = %d, want 132", got)
	}
	if got := BatchesPerEpoch(795, 6, false); got != 133 {
		t.Errorf("BatchesPerEpoch(795, 6) = %d, want 133", got)
	}
}

func TestLoaderModeNoneFitsTheSpec(t *testing.T) {
	d := newMemDataset(4, 32, 24)
	c := testConf(d)
	c.Augment = Augment{Mode: AugmentNone}
	c.Spec.Height, c.Spec.Width, c.Spec.Resize = 40, 40, preprocess.Letterbox
	c.Shuffle = false
	bs := epoch(t, c)
	if len(bs) != 1 || bs[0].H != 40 || bs[0].W != 40 {
		t.Fatalf("%d batches of %dx%d, want one of 40x40", len(bs), bs[0].W, bs[0].H)
	}
	for k := 0; k < 3; k++ {
		s := d.samples[k]
		in, err := c.Spec.Input(s.RGB, s.Depth, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]uint16, 40*40)
		if err := preprocess.LabelsToNet(in.Geometry, want, s.Labels, 255); err != nil {
			t.Fatal(err)
		}
		if !equalU16(bs[0].Labels[k*1600:(k+1)*1600], want) || want[0] != 255 {
			t.Fatalf("slot %d: labels are not LabelsToNet's letterbox (corner %d)", k, want[0])
		}
	}
}

func TestLoaderFeedsHHAWithTheDataSetCamera(t *testing.T) {
	tr, _, err := OpenDataset(DataConf{Layout: LayoutSynthetic, Root: fixture("synthetic")})
	if err != nil {
		t.Fatal(err)
	}
	spec := preprocess.DefaultSpec()
	spec.DepthEncoding = preprocess.HHA
	c := LoaderConf{Dataset: tr, Augment: Augment{CropWidth: 40, CropHeight: 32, MinSide: 28}, Spec: spec,
		Modalities: []string{"rgb", "hha"}, Batch: 3, Seed: 1, Workers: 2}
	bs := epoch(t, c)
	if len(bs) != 1 || bs[0].N != 3 {
		t.Fatalf("%d batches", len(bs))
	}
	spec.Height, spec.Width = 32, 40
	for k := 0; k < 3; k++ {
		s, err := tr.Load(k)
		if err != nil {
			t.Fatal(err)
		}
		a, err := c.Augment.Apply(s, 255, 1, 0, k)
		if err != nil {
			t.Fatal(err)
		}
		in, err := spec.Input(a.RGB, a.Depth, a.View)
		if err != nil {
			t.Fatal(err)
		}
		got := bs[0].Inputs[1][k*len(in.Depth) : (k+1)*len(in.Depth)]
		for i := range got {
			if got[i] != in.Depth[i] {
				t.Fatalf("slot %d HHA element %d = %g, want %g (HHA of the moved camera)", k, i, got[i], in.Depth[i])
			}
		}
	}
	// A data set without a camera cannot feed HHA.
	f, _, err := OpenDataset(DataConf{Layout: LayoutFolder, Root: fixture("folder"), Classes: folderClasses, Columns: Columns{Labels: 0, RGB: 1, Depth: 2}})
	if err != nil {
		t.Fatal(err)
	}
	c.Dataset = f
	l, err := NewLoader(c)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want := "train: sample frames/f1_rgb.png: HHA needs the camera, and the data set has none (give DataConf.Camera or LoaderConf.View)"
	if _, err := l.Next(); err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}

func TestLoaderReportsASampleErrorAndStops(t *testing.T) {
	d := newMemDataset(10, 32, 24)
	d.fail = 4
	c := testConf(d)
	c.Shuffle = false
	l, err := NewLoader(c)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Next(); err != nil {
		t.Fatalf("batch 0: %v", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := l.Next(); err == nil || err.Error() != "train: s04 is broken" {
			t.Fatalf("call %d: err = %v, want the failing sample's error", i, err)
		}
	}
}

func TestLoaderCloseStopsTheWorkers(t *testing.T) {
	before := runtime.NumGoroutine()
	d := newMemDataset(10, 32, 24)
	for _, next := range []int{0, 1, 3} {
		c := testConf(d)
		c.Workers = 4
		l, err := NewLoader(c)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < next; i++ {
			if _, err := l.Next(); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		l.Close()
		if _, err := l.Next(); next < 3 && !errors.Is(err, ErrLoaderClosed) || next == 3 && err != io.EOF && !errors.Is(err, ErrLoaderClosed) {
			t.Fatalf("Next after Close = %v", err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

func TestLoaderPrefetchBoundsTheWork(t *testing.T) {
	d := newMemDataset(12, 32, 24)
	c := testConf(d)
	c.Batch, c.Prefetch, c.Workers = 2, 1, 4
	l, err := NewLoader(c)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	time.Sleep(100 * time.Millisecond)
	if n := d.loads.Load(); n > 2 {
		t.Fatalf("%d samples loaded before the first Next; Prefetch 1 of batch 2 allows 2", n)
	}
	if _, err := l.Next(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := d.loads.Load(); n > 4 {
		t.Fatalf("%d samples loaded after one Next, want at most 4", n)
	}
}

func TestNewLoaderRefusesBadConfigurations(t *testing.T) {
	d := newMemDataset(4, 32, 24)
	hha := preprocess.DefaultSpec()
	hha.DepthEncoding = preprocess.HHA
	for _, tc := range []struct {
		edit func(*LoaderConf)
		want string
	}{
		{func(c *LoaderConf) { c.Dataset = nil }, "train: the loader has no data set"},
		{func(c *LoaderConf) { c.Modalities = []string{"rgb", "hha"} }, `train: modality "hha" cannot be fed: the preprocessing encodes depth as replicate`},
		{func(c *LoaderConf) { c.Spec = hha; c.Modalities = []string{"depth"} }, `train: modality "depth" cannot be fed: the preprocessing encodes depth as hha`},
		{func(c *LoaderConf) { c.Modalities = []string{"rgb", "rgb"} }, "train: modalities [rgb rgb] feed the same input twice"},
		{func(c *LoaderConf) { c.Modalities = []string{"ir"} }, `train: modality "ir" cannot be fed: cen feeds rgb, depth (replicated metres) and hha`},
		{func(c *LoaderConf) { c.Modalities = []string{} }, "train: the loader needs at least one modality"},
		{func(c *LoaderConf) { c.Batch = -1 }, "train: batch size -1 is not positive"},
		{func(c *LoaderConf) { c.StartBatch = 2 }, "train: start batch 2 is outside the epoch's 1 batches"},
		{func(c *LoaderConf) { c.Epoch = -1 }, "train: epoch -1 is negative"},
		{func(c *LoaderConf) { c.Augment.Mode = "heavy" }, `train: augmentation mode "heavy" is not official or none`},
	} {
		c := testConf(d)
		tc.edit(&c)
		if l, err := NewLoader(c); err == nil || err.Error() != tc.want {
			if l != nil {
				l.Close()
			}
			t.Errorf("err = %v, want %s", err, tc.want)
		}
	}
	// The default modalities follow the spec's depth encoding.
	c := testConf(d)
	c.Spec = hha
	c.View = &preprocess.View{Camera: synth.Camera(24, 32)}
	bs := epoch(t, c)
	if len(bs) != 1 || len(bs[0].Inputs) != 2 {
		t.Fatalf("default modalities for an HHA spec: %d batches", len(bs))
	}
}

// BenchmarkLoaderSynthetic measures the data side of `cen train` on the default synthetic data set
// (240×320 frames) with the official augmentation (500×500 crops) and the official preprocessing, on two
// workers: samples per second through Next.
func BenchmarkLoaderSynthetic(b *testing.B) {
	dir := b.TempDir()
	if err := synth.WriteDataset(dir, synth.Conf{N: 12, Val: synth.NoVal}, nil); err != nil {
		b.Fatal(err)
	}
	tr, _, err := OpenDataset(DataConf{Layout: LayoutSynthetic, Root: dir})
	if err != nil {
		b.Fatal(err)
	}
	conf := LoaderConf{Dataset: tr, Spec: preprocess.DefaultSpec(), Batch: OfficialBatch, Shuffle: true, DropLast: true, Workers: 2}
	b.ResetTimer()
	samples := 0
	start := time.Now()
	for ep := 0; samples < b.N; ep++ {
		conf.Epoch = ep
		l, err := NewLoader(conf)
		if err != nil {
			b.Fatal(err)
		}
		for samples < b.N {
			bt, err := l.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			samples += bt.N
		}
		l.Close()
	}
	b.ReportMetric(float64(samples)/time.Since(start).Seconds(), "samples/s")
}
