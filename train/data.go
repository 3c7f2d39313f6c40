// Data sets: the layouts cen trains and evaluates on, each read into samples of 8-bit RGB, depth in metres
// (0 invalid) and uint16 labels at the RGB size, ready for augmentation (augment.go) and the one
// preprocessing implementation (preprocess.Spec.InputTo, through loader.go). OpenDataset documents the
// layouts exactly.

package train

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"

	"github.com/cen-ros/cen/calibration"
	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/preprocess"
	"github.com/cen-ros/cen/synth"
)

// Layout names for DataConf.Layout.
const (
	// LayoutNYUDv2 is the NYUDv2 release the paper trained on.
	LayoutNYUDv2 = "nyudv2"
	// LayoutSUNRGBD is the common 37-class SUN RGB-D release.
	LayoutSUNRGBD = "sunrgbd"
	// LayoutFolder is any data set in list-file form, described by DataConf.
	LayoutFolder = "folder"
	// LayoutSynthetic is the folder `cen synth` writes.
	LayoutSynthetic = "synthetic"
)

// Sample is one frame of a data set.
type Sample struct {
	// Name identifies the frame in messages: its RGB path as the list gives it.
	Name string
	// RGB is the colour image.
	RGB preprocess.RGBImage
	// Depth is registered to RGB (same size), in metres, 0 where invalid.
	Depth preprocess.DepthImage
	// Labels holds one class per RGB pixel, row-major; the data set's Ignore marks pixels without a class.
	Labels []uint16
	// View is the camera of the frame, for HHA; nil when the data set has none.
	View *preprocess.View
}

// Dataset is a list of frames. Load must be safe for concurrent use: the loader's workers call it at once.
type Dataset interface {
	// Len returns the number of frames.
	Len() int
	// Load reads frame i, 0 ≤ i < Len().
	Load(i int) (Sample, error)
	// Classes names the classes the labels index.
	Classes() preprocess.ClassSet
	// Ignore is the label of pixels without a class: cen.IgnoreFor(number of classes), the loss's default.
	Ignore() uint16
}

// Columns says which column of a list line holds which file (0-based).
type Columns struct {
	RGB, Depth, Labels int
}

// nyuColumns is the official list order: rgb, masks, depth (the official code reads columns [0, 2, 1]).
var nyuColumns = Columns{RGB: 0, Depth: 2, Labels: 1}

// DataConf describes a data set on disk. Zero fields take the layout's defaults; fields a layout fixes
// (see OpenDataset) must be left zero for it.
type DataConf struct {
	// Layout is LayoutNYUDv2, LayoutSUNRGBD, LayoutFolder or LayoutSynthetic.
	Layout string
	// Root is the data set folder; relative paths in list files are relative to it.
	Root string
	// TrainList and ValList are list files (paths as given, not relative to Root). Defaults depend on the
	// layout.
	TrainList, ValList string
	// Columns gives the column of each file in a list line (folder only). Default: the official order,
	// rgb, labels, depth ({RGB: 0, Depth: 2, Labels: 1}).
	Columns Columns
	// Classes is the number of classes (folder only). Default: the number of colours in Palette.
	Classes int
	// Palette is a palette file for preprocess.LoadPalette giving each class's colour and name (folder only).
	// Default: preprocess.GenericClasses.
	Palette string
	// Name names the data set in model files (folder only). Default: Root's base name.
	Name string
	// DepthScale is metres per depth PNG count (folder only). Default 1/5000, the NYUDv2 release's
	// convention; 0.001 for millimetre PNGs.
	DepthScale float64
	// DepthBitShift reads depth PNGs as the SUN RGB-D toolbox writes them: millimetres rotated left by 3
	// bits in 16 (mm = v>>3 | v<<13), before DepthScale (folder and sunrgbd).
	DepthBitShift bool
	// Void is the label value in the files that marks pixels without a class (folder and sunrgbd). Default
	// 255, or 65535 for more than 255 classes. 0 means the default: files whose void is 0 and classes
	// 1..K take LabelOffset −1, which makes 0 void.
	Void int
	// LabelOffset is added to every other file value to give the class (folder and sunrgbd); values that
	// become negative are void. −1 reads 1-based labels (0 void), as the NYU and SUN RGB-D toolboxes write.
	LabelOffset int
	// Camera is a calibration YAML (calibration.LoadYAML) of the camera of every frame, for HHA. Default:
	// the NYU Kinect's colour camera for nyudv2, Root/camera.yaml for synthetic, none otherwise.
	Camera string
	// Up is the direction opposite to gravity in the camera frame for HHA (preprocess.View.Up); zero
	// estimates it per frame.
	Up [3]float64
}

//go:embed lists/nyudv2/train.txt lists/nyudv2/val.txt
var nyuLists embed.FS

// nyuCamera is the colour camera of the NYU Depth V2 Kinect at 640×480, from the NYU toolbox's
// camera_params.m (the labelled frames are undistorted, so D is zero), with its 1-based MATLAB principal point
// moved to the 0-based pixel centres this package uses (cx 325.58 → 324.58, cy 253.74 → 252.74).
var nyuCamera = calibration.Pinhole{
	Name: "nyudv2_kinect_rgb", Width: 640, Height: 480,
	K: [9]float64{518.8579, 0, 324.5824, 0, 519.4696, 252.7362, 0, 0, 1},
	R: [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1},
	P: [12]float64{518.8579, 0, 324.5824, 0, 0, 519.4696, 252.7362, 0, 0, 0, 1, 0},
}

// OpenDataset opens the training and validation lists of a data set. Every file a list names must exist;
// the frames themselves are read by Load. The layouts:
//
//   - nyudv2: the release CEN trained on (DrSleep's preprocessing with depth added):
//     Root/{rgb,masks,depth}/NNNNNN.png. RGB is 8-bit colour; masks are single-channel class ids 0..39
//     (preprocess.ClassesNYUDv2) with 255 void; depth is 16-bit, metres × 5000 (metres = PNG/5000), 0
//     invalid. The default lists are the standard split built into cen (train/lists/nyudv2: 795 training
//     and 654 test frames, the test frames validating), tab-separated "rgb<TAB>masks<TAB>depth" lines
//     relative to Root.
//   - sunrgbd: the common 37-class release of the 10,335 SUN RGB-D frames. Root/train.txt and Root/test.txt
//     (5,285 and 5,050 frames in the standard split) hold "rgb<TAB>depth<TAB>labels" lines relative to Root
//     (fields may also be separated by spaces). RGB is JPEG or PNG; depth is a 16-bit PNG in millimetres
//     (metres = PNG/1000), 0 invalid, or the toolbox's bit-rotated depth with DepthBitShift; labels are
//     single-channel PNGs with classes 0..36 (preprocess.ClassesSUNRGBD) and 255 void, or the toolbox's
//     1..37 with 0 void with LabelOffset −1. There is no built-in camera: frames come from four sensors.
//   - folder: any data set of that shape: Root/train.txt and Root/val.txt by default, columns, classes,
//     palette, depth scale, void value and label offset from DataConf.
//   - synthetic: what `cen synth` writes: the nyudv2 layout with Root/train.txt and Root/val.txt, class
//     names and colours from Root/classes.txt, depth PNG/5000, 255 void, and the camera from
//     Root/camera.yaml.
//
// Every layout reads masks as 8- or 16-bit grey or palette-index PNGs, and checks that RGB, depth and
// labels have one size and that every label is a class or void.
func OpenDataset(conf DataConf) (train, val Dataset, err error) {
	r, err := newReader(conf)
	if err != nil {
		return nil, nil, err
	}
	trainList, valList, err := r.lists(conf)
	if err != nil {
		return nil, nil, err
	}
	t, err := r.open(trainList)
	if err != nil {
		return nil, nil, err
	}
	v, err := r.open(valList)
	if err != nil {
		return nil, nil, err
	}
	return t, v, nil
}

// reader holds what the frames of one data set share.
type reader struct {
	layout     string
	root       string
	columns    Columns
	classes    preprocess.ClassSet
	void       int
	offset     int
	ignore     uint16
	depthScale float32
	bitShift   bool
	view       *preprocess.View
}

// list is a list file's name (for messages) and content.
type list struct {
	name string
	data []byte
}

func newReader(c DataConf) (*reader, error) {
	if c.Root == "" {
		return nil, fmt.Errorf("train: the %s data set needs its folder (DataConf.Root)", c.Layout)
	}
	if st, err := os.Stat(c.Root); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("train: data set folder %s does not exist or is not a folder", c.Root)
	}
	r := &reader{layout: c.Layout, root: c.Root, columns: nyuColumns, depthScale: 1.0 / 5000}
	folderOnly := c.Columns != (Columns{}) || c.Classes != 0 || c.Palette != "" || c.Name != "" || c.DepthScale != 0
	labelFields := c.DepthBitShift || c.Void != 0 || c.LabelOffset != 0
	switch c.Layout {
	case LayoutNYUDv2:
		if folderOnly || labelFields {
			return nil, fmt.Errorf("train: the nyudv2 layout fixes columns, classes, depth scale and labels; describe other data with the folder layout")
		}
		r.classes, _ = preprocess.KnownClasses(LayoutNYUDv2)
		cam := nyuCamera
		r.view = &preprocess.View{Camera: cam}
	case LayoutSUNRGBD:
		if folderOnly {
			return nil, fmt.Errorf("train: the sunrgbd layout fixes columns, classes and the depth scale (millimetres); describe other data with the folder layout")
		}
		r.classes, _ = preprocess.KnownClasses(LayoutSUNRGBD)
		r.columns = Columns{RGB: 0, Depth: 1, Labels: 2}
		r.depthScale = 1.0 / 1000
	case LayoutSynthetic:
		if folderOnly || labelFields {
			return nil, fmt.Errorf("train: the synthetic layout fixes columns, classes, depth scale and labels; describe other data with the folder layout")
		}
		path := filepath.Join(c.Root, synth.PaletteFile)
		pal, names, err := preprocess.LoadPalette(path)
		if err != nil {
			return nil, fmt.Errorf("train: synthetic data set %s: %w", c.Root, err)
		}
		r.classes = classSet(LayoutSynthetic, pal, names)
		r.depthScale = 1.0 / synth.DepthScale
		if c.Camera == "" {
			if _, err := os.Stat(filepath.Join(c.Root, synth.CameraFile)); err == nil {
				c.Camera = filepath.Join(c.Root, synth.CameraFile)
			}
		}
	case LayoutFolder:
		if c.Columns != (Columns{}) {
			r.columns = c.Columns
		}
		if cl := r.columns; cl.RGB < 0 || cl.Depth < 0 || cl.Labels < 0 || cl.RGB == cl.Depth || cl.RGB == cl.Labels || cl.Depth == cl.Labels {
			return nil, fmt.Errorf("train: columns rgb %d, depth %d, labels %d must be distinct and not negative", cl.RGB, cl.Depth, cl.Labels)
		}
		name := c.Name
		if name == "" {
			name = filepath.Base(filepath.Clean(c.Root))
		}
		switch {
		case c.Palette != "":
			pal, names, err := preprocess.LoadPalette(c.Palette)
			if err != nil {
				return nil, fmt.Errorf("train: %w", err)
			}
			if c.Classes != 0 && c.Classes != len(pal) {
				return nil, fmt.Errorf("train: palette %s has %d colours for %d classes", c.Palette, len(pal), c.Classes)
			}
			r.classes = classSet(name, pal, names)
		case c.Classes > 0:
			r.classes = preprocess.GenericClasses(name, c.Classes)
		default:
			return nil, fmt.Errorf("train: the folder layout needs the number of classes (DataConf.Classes) or a palette file, got %d classes", c.Classes)
		}
		if c.DepthScale != 0 {
			if !(c.DepthScale > 0) || c.DepthScale > 1e3 {
				return nil, fmt.Errorf("train: depth scale %g metres per count is not positive and finite", c.DepthScale)
			}
			r.depthScale = float32(c.DepthScale)
		}
	default:
		return nil, fmt.Errorf("train: unknown data set layout %q (want nyudv2, sunrgbd, folder or synthetic)", c.Layout)
	}
	k := len(r.classes.Names)
	if k < 1 || k > 65535 {
		return nil, fmt.Errorf("train: %d classes: want 1 to 65535", k)
	}
	r.ignore = cen.IgnoreFor(k)
	r.void = int(r.ignore)
	if c.Void != 0 {
		if c.Void < 0 || c.Void > 65535 {
			return nil, fmt.Errorf("train: void label %d does not fit a 16-bit PNG", c.Void)
		}
		r.void = c.Void
	}
	if c.LabelOffset < -65535 || c.LabelOffset > 65535 {
		return nil, fmt.Errorf("train: label offset %d is outside ±65535", c.LabelOffset)
	}
	r.offset = c.LabelOffset
	r.bitShift = c.DepthBitShift
	if c.Camera != "" {
		cam, err := calibration.LoadYAML(c.Camera)
		if err != nil {
			return nil, fmt.Errorf("train: camera of the data set: %w", err)
		}
		if err := cam.Validate(); err != nil {
			return nil, fmt.Errorf("train: camera %s: %w", c.Camera, err)
		}
		r.view = &preprocess.View{Camera: cam}
	}
	if r.view != nil {
		r.view.Up = c.Up
	}
	return r, nil
}

// classSet names a data set's classes from a palette file, "class_k" where the file gives no name.
func classSet(dataset string, pal preprocess.Palette, names []string) preprocess.ClassSet {
	gen := preprocess.GenericClasses(dataset, len(pal))
	for i, n := range names {
		if n != "" {
			gen.Names[i] = n
		}
	}
	gen.Palette = pal
	return gen
}

// lists reads the two list files the configuration names.
func (r *reader) lists(c DataConf) (train, val list, err error) {
	read := func(given, def string) (list, error) {
		if given == "" {
			given = filepath.Join(r.root, def)
		}
		data, err := os.ReadFile(given)
		if err != nil {
			return list{}, fmt.Errorf("train: cannot read the list file %s: %w", given, unwrapPath(err))
		}
		return list{name: given, data: data}, nil
	}
	builtin := func(given, name string) (list, error) {
		if given != "" {
			return read(given, "")
		}
		data, err := nyuLists.ReadFile("lists/nyudv2/" + name)
		return list{name: "the built-in nyudv2 " + name, data: data}, err
	}
	valName := "val.txt"
	if r.layout == LayoutSUNRGBD {
		valName = "test.txt"
	}
	if r.layout == LayoutNYUDv2 {
		if train, err = builtin(c.TrainList, "train.txt"); err != nil {
			return
		}
		val, err = builtin(c.ValList, "val.txt")
		return
	}
	if train, err = read(c.TrainList, "train.txt"); err != nil {
		return
	}
	val, err = read(c.ValList, valName)
	return
}

// unwrapPath drops the *PathError wrapper, whose text repeats the path the message already names.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// frame is one list line: absolute paths of its files and where it came from.
type frame struct {
	name               string
	rgb, depth, labels string
	line               int
}

// listDataset is a Dataset read from a list file.
type listDataset struct {
	*reader
	list   string
	frames []frame
}

// open parses a list and checks that its files exist.
func (r *reader) open(l list) (*listDataset, error) {
	d := &listDataset{reader: r, list: l.name}
	need := max(r.columns.RGB, r.columns.Depth, r.columns.Labels) + 1
	sc := bufio.NewScanner(bytes.NewReader(l.data))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		var fields []string
		if strings.Contains(text, "\t") {
			fields = strings.Split(text, "\t")
		} else {
			fields = strings.Fields(text)
		}
		if len(fields) < need {
			return nil, fmt.Errorf("train: %s:%d: want %d tab-separated paths (rgb in column %d, depth in %d, labels in %d), got %d in %q",
				l.name, line, need, r.columns.RGB+1, r.columns.Depth+1, r.columns.Labels+1, len(fields), text)
		}
		f := frame{name: strings.TrimSpace(fields[r.columns.RGB]), line: line}
		for _, p := range []struct {
			dst  *string
			col  int
			what string
		}{{&f.rgb, r.columns.RGB, "RGB"}, {&f.depth, r.columns.Depth, "depth"}, {&f.labels, r.columns.Labels, "label"}} {
			rel := strings.TrimSpace(fields[p.col])
			if rel == "" {
				return nil, fmt.Errorf("train: %s:%d: the %s path (column %d) is empty", l.name, line, p.what, p.col+1)
			}
			path := rel
			if !filepath.IsAbs(path) {
				path = filepath.Join(r.root, rel)
			}
			if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
				return nil, fmt.Errorf("train: %s:%d: %s file %s does not exist", l.name, line, p.what, path)
			}
			*p.dst = path
		}
		d.frames = append(d.frames, f)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("train: reading the list file %s: %w", l.name, err)
	}
	return d, nil
}

// Len returns the number of frames in the list.
func (d *listDataset) Len() int { return len(d.frames) }

// Classes returns the data set's classes.
func (d *listDataset) Classes() preprocess.ClassSet { return d.classes }

// Ignore returns the label of pixels without a class.
func (d *listDataset) Ignore() uint16 { return d.ignore }

// Load reads frame i. The files are read anew on every call; nothing is shared between calls.
func (d *listDataset) Load(i int) (Sample, error) {
	if i < 0 || i >= len(d.frames) {
		return Sample{}, fmt.Errorf("train: frame %d of %s is outside 0..%d", i, d.list, len(d.frames)-1)
	}
	f := d.frames[i]
	where := func(err error) error { return fmt.Errorf("train: %s:%d: %w", d.list, f.line, err) }
	rgb, err := preprocess.LoadRGB(f.rgb)
	if err != nil {
		return Sample{}, where(err)
	}
	depth, err := d.loadDepth(f.depth)
	if err != nil {
		return Sample{}, where(err)
	}
	labels, w, h, err := d.loadLabels(f.labels)
	if err != nil {
		return Sample{}, where(err)
	}
	if depth.Width != rgb.Width || depth.Height != rgb.Height {
		return Sample{}, where(fmt.Errorf("depth %s is %dx%d but the RGB image %s is %dx%d", f.depth, depth.Width, depth.Height, f.rgb, rgb.Width, rgb.Height))
	}
	if w != rgb.Width || h != rgb.Height {
		return Sample{}, where(fmt.Errorf("labels %s are %dx%d but the RGB image %s is %dx%d", f.labels, w, h, f.rgb, rgb.Width, rgb.Height))
	}
	s := Sample{Name: f.name, RGB: rgb, Depth: depth, Labels: labels}
	if d.view != nil {
		v := *d.view
		s.View = &v
	}
	return s, nil
}

func (d *listDataset) loadDepth(path string) (preprocess.DepthImage, error) {
	if !d.bitShift {
		return preprocess.LoadDepthPNG(path, d.depthScale)
	}
	// Counts come back exactly: every uint16 is a float32.
	depth, err := preprocess.LoadDepthPNG(path, 1)
	if err != nil {
		return depth, err
	}
	for i, v := range depth.Pix {
		c := uint16(v)
		depth.Pix[i] = float32(c>>3|c<<13) * d.depthScale
	}
	return depth, nil
}

// loadLabels reads a label PNG and maps its values to classes: the void value and values that the offset
// makes negative become Ignore; anything else must be a class.
func (d *listDataset) loadLabels(path string) ([]uint16, int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("cannot open the labels %s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	img, err := png.Decode(bufio.NewReader(f))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("labels %s are not a readable PNG: %w", path, err)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	raw := make([]uint16, w*h)
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			for x, v := range m.Pix[y*m.Stride : y*m.Stride+w] {
				raw[y*w+x] = uint16(v)
			}
		}
	case *image.Paletted: // PIL, and so the official loader, reads a palette PNG's indices
		for y := 0; y < h; y++ {
			for x, v := range m.Pix[y*m.Stride : y*m.Stride+w] {
				raw[y*w+x] = uint16(v)
			}
		}
	case *image.Gray16:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+2*w]
			for x := range w {
				raw[y*w+x] = uint16(row[2*x])<<8 | uint16(row[2*x+1])
			}
		}
	default:
		return nil, 0, 0, fmt.Errorf("labels %s are a colour PNG; want one channel of class ids (8- or 16-bit grey, or palette indices)", path)
	}
	k := len(d.classes.Names)
	for i, v := range raw {
		c := int(v) + d.offset
		switch {
		case int(v) == d.void || c < 0:
			raw[i] = d.ignore
		case c < k:
			raw[i] = uint16(c)
		default:
			msg := fmt.Sprintf("label %d at pixel (%d, %d) of %s is neither a class (0..%d) nor void (%d)", v, i%w, i/w, path, k-1, d.void)
			if d.offset != 0 {
				msg = fmt.Sprintf("label %d at pixel (%d, %d) of %s is class %d after the offset %d: neither a class (0..%d) nor void (%d)", v, i%w, i/w, path, c, d.offset, k-1, d.void)
			}
			return nil, 0, 0, fmt.Errorf("%s", msg)
		}
	}
	return raw, w, h, nil
}
