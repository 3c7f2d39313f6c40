package bags

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"gopkg.in/yaml.v3"

	"github.com/cen-ros/cen/bags/rosbag"
	"github.com/cen-ros/cen/infer"
	"github.com/cen-ros/cen/preprocess"
)

// LabelConf says how ground-truth images are read.
type LabelConf struct {
	// Palette is a palette file (preprocess.LoadPalette: R G B [name] per line, in id order) for ground truth
	// stored as colour-coded images (rgb8, bgr8): each colour is mapped to its line's id; a colour not in the
	// palette is ignored (optional). Without it the ground truth must be id images (mono8, mono16, 16UC1).
	Palette string
	// Remap is a YAML file mapping ground-truth ids to the model's classes ({3: 0, 7: 255, ...}), for a data
	// set labelled with other ids (optional). Unmapped ids are kept.
	Remap string
	// Ignore is the ground-truth id that is not scored (optional). It defaults to 255; ids at or above the
	// model's class count are never scored either.
	Ignore int
}

// groundTruth holds the ground-truth frames read but not yet matched, by stamp.
type groundTruth struct {
	palette map[[3]uint8]uint16
	remap   map[uint16]uint16
	ignore  uint16
	frames  map[int64]*gtFrame
	stamps  []int64 // sorted
}

type gtFrame struct {
	labels        []uint16
	width, height int
}

func newGroundTruth(c LabelConf, classes int) (*groundTruth, error) {
	g := &groundTruth{frames: map[int64]*gtFrame{}, ignore: 255}
	if c.Ignore != 0 {
		if c.Ignore < 0 || c.Ignore > 65535 {
			return nil, fmt.Errorf("eval: ignore label %d is not a 16-bit id", c.Ignore)
		}
		g.ignore = uint16(c.Ignore)
	}
	if c.Palette != "" {
		pal, _, err := preprocess.LoadPalette(c.Palette)
		if err != nil {
			return nil, err
		}
		g.palette = map[[3]uint8]uint16{}
		for i, col := range pal {
			if _, dup := g.palette[col]; !dup {
				g.palette[col] = uint16(i)
			}
		}
	}
	if c.Remap != "" {
		b, err := os.ReadFile(c.Remap)
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		var m map[int]int
		if err := yaml.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("eval: %s is not a YAML map of ids to ids: %v", c.Remap, err)
		}
		g.remap = map[uint16]uint16{}
		for k, v := range m {
			if k < 0 || k > 65535 || v < 0 || v > 65535 {
				return nil, fmt.Errorf("eval: %s maps %d to %d: ids are 0..65535", c.Remap, k, v)
			}
			if v >= classes && v != int(g.ignore) {
				return nil, fmt.Errorf("eval: %s maps %d to %d, which is not one of the model's %d classes nor the ignore label %d", c.Remap, k, v, classes, g.ignore)
			}
			g.remap[uint16(k)] = uint16(v)
		}
	}
	return g, nil
}

// add decodes a ground-truth message and keeps it under its header stamp.
func (g *groundTruth) add(m rosbag.Message) (time.Time, error) {
	var img sensor_msgs.Image
	if err := rosbag.DecodeImage(&img, m.Data, rosbag.AliasData); err != nil {
		return time.Time{}, err
	}
	f, err := g.decode(&img)
	if err != nil {
		return time.Time{}, err
	}
	t := img.Header.Stamp.UnixNano()
	if _, dup := g.frames[t]; !dup {
		i := sort.Search(len(g.stamps), func(i int) bool { return g.stamps[i] >= t })
		g.stamps = append(g.stamps, 0)
		copy(g.stamps[i+1:], g.stamps[i:])
		g.stamps[i] = t
	}
	g.frames[t] = f
	return img.Header.Stamp, nil
}

// decode turns a ground-truth image into ids (remapped, ignore where unknown).
func (g *groundTruth) decode(img *sensor_msgs.Image) (*gtFrame, error) {
	w, h := int(img.Width), int(img.Height)
	r := preprocess.Raw{Encoding: img.Encoding, Width: w, Height: h, Step: int(img.Step), BigEndian: img.IsBigendian != 0, Data: img.Data}
	f := &gtFrame{labels: make([]uint16, w*h), width: w, height: h}
	switch img.Encoding {
	case preprocess.Mono8, preprocess.Mono16, preprocess.Depth16:
		if g.palette != nil {
			return nil, fmt.Errorf("%s ground truth with a palette: colour-coded ground truth is rgb8 or bgr8", img.Encoding)
		}
		if err := preprocess.DecodeLabelsTo(f.labels, r); err != nil {
			return nil, err
		}
	case preprocess.RGB8, preprocess.BGR8:
		if g.palette == nil {
			return nil, fmt.Errorf("colour-coded (%s) ground truth needs a palette file (--label-palette)", img.Encoding)
		}
		rgb, err := preprocess.DecodeRGB(r)
		if err != nil {
			return nil, err
		}
		for i := range f.labels {
			id, ok := g.palette[[3]uint8{rgb.Pix[3*i], rgb.Pix[3*i+1], rgb.Pix[3*i+2]}]
			if !ok {
				id = g.ignore
			}
			f.labels[i] = id
		}
	default:
		return nil, fmt.Errorf("ground truth encoding %q: use mono8, mono16, 16UC1 (ids) or rgb8/bgr8 with a palette", img.Encoding)
	}
	if g.remap != nil {
		for i, v := range f.labels {
			if to, ok := g.remap[v]; ok {
				f.labels[i] = to
			}
		}
	}
	if g.ignore != 255 {
		// metrics skips ids at or above the class count: move the data set's ignore id there.
		for i, v := range f.labels {
			if v == g.ignore {
				f.labels[i] = 65535
			}
		}
	}
	return f, nil
}

// match returns the ground truth for a colour stamp: the exact stamp, else the nearest within d.
func (g *groundTruth) match(stamp time.Time, d time.Duration) (*gtFrame, bool) {
	t := stamp.UnixNano()
	if f, ok := g.frames[t]; ok {
		return f, true
	}
	if d <= 0 {
		return nil, false
	}
	i := sort.Search(len(g.stamps), func(i int) bool { return g.stamps[i] >= t })
	best, bestD := int64(0), int64(-1)
	for _, j := range []int{i - 1, i} {
		if j >= 0 && j < len(g.stamps) {
			dd := g.stamps[j] - t
			if dd < 0 {
				dd = -dd
			}
			if dd <= int64(d) && (bestD < 0 || dd < bestD) {
				best, bestD = g.stamps[j], dd
			}
		}
	}
	if bestD < 0 {
		return nil, false
	}
	return g.frames[best], false
}

// forget drops the ground truth stamped before t: bounded memory on long bags.
func (g *groundTruth) forget(t time.Time) {
	cut := sort.Search(len(g.stamps), func(i int) bool { return g.stamps[i] >= t.UnixNano() })
	for _, s := range g.stamps[:cut] {
		delete(g.frames, s)
	}
	g.stamps = append(g.stamps[:0], g.stamps[cut:]...)
}

// outBag writes the predicted labels and their colours with the input stamps.
type outBag struct {
	w              *rosbag.Writer
	labels, colors *rosbag.Connection
	palette        preprocess.Palette
	enc            string
	buf            []byte
	color          preprocess.RGBImage
}

// Topics of the bag of predictions.
const (
	OutLabels = "/cen/labels"
	OutColor  = "/cen/color"
)

func newOutBag(path string, info infer.Info) (*outBag, error) {
	w, err := rosbag.Create(path, rosbag.WriterConf{Compression: "lz4"})
	if err != nil {
		return nil, err
	}
	o := &outBag{w: w, palette: info.Palette, enc: preprocess.LabelsMono8}
	if info.Classes > 255 {
		o.enc = preprocess.Labels16
	}
	if o.labels, err = w.AddConnection(rosbag.Connection{Topic: OutLabels, MsgType: rosbag.ImageType, CallerID: "/cen_eval"}); err != nil {
		w.Abort()
		return nil, err
	}
	if o.colors, err = w.AddConnection(rosbag.Connection{Topic: OutColor, MsgType: rosbag.ImageType, CallerID: "/cen_eval"}); err != nil {
		w.Abort()
		return nil, err
	}
	return o, nil
}

func (o *outBag) write(h std_msgs.Header, r *infer.Result) error {
	data, step, err := preprocess.EncodeLabels(r.Labels, r.Width, r.Height, o.enc)
	if err != nil {
		return err
	}
	t := rosbag.StampTime(h.Stamp)
	o.buf = rosbag.AppendImage(o.buf[:0], &sensor_msgs.Image{Header: h, Width: uint32(r.Width), Height: uint32(r.Height), Encoding: o.enc, Step: uint32(step), Data: data})
	if err := o.w.WriteMessage(o.labels, t, o.buf); err != nil {
		return err
	}
	if err := preprocess.Colorize(&o.color, r.Labels, r.Width, r.Height, o.palette); err != nil {
		return err
	}
	o.buf = rosbag.AppendImage(o.buf[:0], &sensor_msgs.Image{Header: h, Width: uint32(r.Width), Height: uint32(r.Height), Encoding: preprocess.RGB8,
		Step: uint32(3 * r.Width), Data: o.color.Pix})
	return o.w.WriteMessage(o.colors, t, o.buf)
}

func (o *outBag) close() error { return o.w.Close() }
func (o *outBag) abort()       { o.w.Abort() }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
