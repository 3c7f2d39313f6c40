package bags

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/protocommon"

	"github.com/cen-ros/cen/bags/rosbag"
	"github.com/cen-ros/cen/infer"
	"github.com/cen-ros/cen/metrics"
	"github.com/cen-ros/cen/node/frames"
	"github.com/cen-ros/cen/node/timesync"
	"github.com/cen-ros/cen/preprocess"
)

// EvalConf configures Evaluate.
type EvalConf struct {
	// Model is the model file; Infer how it runs (device, threads).
	Model string
	Infer infer.Conf
	// Bag is the recorded drive.
	Bag string
	// RGBTopic, DepthTopic and LabelTopic are the colour, depth and ground-truth topics. Colour and depth may
	// be sensor_msgs/CompressedImage topics (…/compressed, …/compressedDepth): they are read as the node reads
	// them.
	RGBTopic, DepthTopic, LabelTopic string
	// RGBInfoTopic and DepthInfoTopic are the camera infos, needed when depth is in another frame than colour
	// (registration) and for HHA models (optional). They default to the camera_info beside each image topic.
	RGBInfoTopic, DepthInfoTopic string
	// Sync is the pairing of colour and depth: the node's policy and parameters (optional). It defaults to
	// ApproximateTime with a queue of 10 and 50 ms at most between the two.
	Sync timesync.Conf
	// MaxInterval is how far the ground truth's stamp may be from the colour image's when no stamp matches
	// exactly (optional). It defaults to 0: exact matches only.
	MaxInterval time.Duration
	// Labels says how to read the ground truth.
	Labels LabelConf
	// Frames configures decoding and registration as the node's parameters do (depth scale, ...).
	Frames frames.Conf
	// Limit stops the evaluation after this many scored frames (optional; 0: the whole bag).
	Limit int
	// OutBag, when set, receives the predicted labels (and their colours) with the input stamps.
	OutBag string
	// Progress, when not nil, is called as colour frames are read (done, total).
	Progress func(done, total int)
	// Samples is the number of frames kept for the report's side-by-side images (optional). It defaults to 4.
	Samples int
}

// Result is an evaluation's outcome: the paper's metrics over every scored frame, how many frames were
// skipped and why, the latency per frame, and what ran.
type Result struct {
	Bag          string         `json:"bag"`
	Mode         string         `json:"mode"` // "offline" or "live"
	Scores       metrics.Scores `json:"-"`
	PixelAcc     *float64       `json:"pixel_acc"`
	MeanAcc      *float64       `json:"mean_acc"`
	MIoU         *float64       `json:"miou"`
	PerClassIoU  map[string]any `json:"per_class_iou"`
	FramesScored int            `json:"frames_scored"`
	// FramesSkipped counts the colour/depth pairs not scored, by reason.
	FramesSkipped map[string]int `json:"frames_skipped"`
	// LatencyMS is per scored frame: the inference path (offline) or input publish to labels received (live).
	LatencyMS Latency  `json:"latency_ms"`
	Model     Model    `json:"model"`
	Machine   Machine  `json:"machine"`
	Classes   []string `json:"classes"`
	// Confusion is the matrix over all scored frames (rows ground truth), Classes × Classes.
	Confusion []uint64 `json:"confusion"`
	// Outputs are the scores of each output the model gives (each modality's, then the ensemble's), when
	// the evaluation scored them apart (data set evaluations do, as the official evaluation reports them).
	Outputs []OutputScores `json:"outputs,omitempty"`
	// Error is the damage that ended reading the bag early, if any (the frames before it are scored).
	Error string `json:"error,omitempty"`

	latencies []float64
	samples   []Sample
	palette   preprocess.Palette
}

// OutputScores are one output's metrics.
type OutputScores struct {
	Name     string   `json:"name"`
	PixelAcc *float64 `json:"pixel_acc"`
	MeanAcc  *float64 `json:"mean_acc"`
	MIoU     *float64 `json:"miou"`
}

// NewResult builds a result from any evaluation: the scored confusion matrix (the model's prediction, the
// ensemble for CEN), per-frame latencies and sample frames. mode says where it came from ("offline",
// "live", "data set").
func NewResult(source, mode string, info infer.Info, c *metrics.Confusion, latencies []float64, samples []Sample) *Result {
	r := &Result{Bag: source, Mode: mode, FramesSkipped: map[string]int{}, latencies: latencies, samples: samples, palette: info.Palette}
	r.Model, r.Machine = modelOf(info), thisMachine()
	r.finish(c, info.ClassNames)
	return r
}

// AddOutput records one output's scores (see Result.Outputs).
func (r *Result) AddOutput(name string, c *metrics.Confusion) {
	s := c.Scores()
	nz := func(v float64) *float64 {
		if math.IsNaN(v) {
			return nil
		}
		return &v
	}
	r.Outputs = append(r.Outputs, OutputScores{Name: name, PixelAcc: nz(s.PixelAcc), MeanAcc: nz(s.MeanAcc), MIoU: nz(s.MIoU)})
}

// Latency summarises per-frame times in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	Max float64 `json:"max"`
}

// Model is what the result records of the model.
type Model struct {
	Path       string   `json:"path"`
	Arch       string   `json:"arch"`
	Classes    int      `json:"classes"`
	Dataset    string   `json:"dataset"`
	Modalities []string `json:"modalities"`
	Input      string   `json:"input"`
	Backend    string   `json:"backend"`
	Provider   string   `json:"provider"`
	Version    string   `json:"cen_version"`
}

// Machine is where the evaluation ran.
type Machine struct {
	CPU   string `json:"cpu"`
	Cores int    `json:"cores"`
	OS    string `json:"os"`
}

// Sample is one scored frame kept for the report: colour, ground truth and prediction.
type Sample struct {
	Stamp       time.Time
	RGB         preprocess.RGBImage
	GT, Pred    []uint16
	Width, High int
}

func modelOf(info infer.Info) Model {
	return Model{Path: info.Path, Arch: info.Arch, Classes: info.Classes, Dataset: info.Dataset, Modalities: info.Modalities,
		Input: fmt.Sprintf("%dx%d", info.Spec.Width, info.Spec.Height), Backend: info.Backend, Provider: info.Device, Version: info.Version}
}

func thisMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// finish fills the derived fields from the confusion matrix and the latencies.
func (r *Result) finish(c *metrics.Confusion, names []string) {
	r.Scores = c.Scores()
	r.Confusion, r.Classes = c.Counts, names
	nz := func(v float64) *float64 {
		if math.IsNaN(v) {
			return nil
		}
		return &v
	}
	r.PixelAcc, r.MeanAcc, r.MIoU = nz(r.Scores.PixelAcc), nz(r.Scores.MeanAcc), nz(r.Scores.MIoU)
	r.PerClassIoU = map[string]any{}
	for i, v := range r.Scores.PerClassIoU {
		if p := nz(v); p != nil {
			r.PerClassIoU[names[i]] = *p
		} else {
			r.PerClassIoU[names[i]] = nil
		}
	}
	s := append([]float64(nil), r.latencies...)
	sort.Float64s(s)
	if n := len(s); n > 0 {
		at := func(q float64) float64 { return math.Round(1000*s[int(math.Round(q*float64(n-1)))]) / 1000 }
		r.LatencyMS = Latency{P50: at(0.5), P95: at(0.95), Max: at(1)}
	}
}

// Samples are the frames kept for the report.
func (r *Result) Samples() []Sample { return r.samples }

// Latencies are the per-frame times in milliseconds, in frame order.
func (r *Result) Latencies() []float64 { return r.latencies }

// evaluator holds the state of one offline evaluation.
type evaluator struct {
	conf    EvalConf
	model   *infer.Model
	info    infer.Info
	gt      *groundTruth
	pr      *pairReader
	conf0   *metrics.Confusion
	res     *Result
	out     *outBag
	pending []pendingPair
	gtSeen  time.Time // newest ground-truth stamp read so far
	ires    infer.Result
}

// maxPending bounds the pairs waiting for their ground truth (each holds a colour and a depth image).
const maxPending = 32

// Evaluate runs the model over a bag offline, through the node's synchroniser, frame builder and the
// inference library, and scores its labels against the ground-truth topic. A bag damaged part-way gives the
// result of the frames before the damage together with an error naming the file and the offset.
func Evaluate(ctx context.Context, conf EvalConf) (*Result, error) {
	if conf.RGBTopic == "" || conf.DepthTopic == "" || conf.LabelTopic == "" {
		return nil, errors.New("eval: the colour, depth and ground-truth topics are all needed")
	}
	if conf.Samples == 0 {
		conf.Samples = 4
	}
	bag, err := rosbag.Open(conf.Bag)
	if err != nil {
		return nil, err
	}
	defer bag.Close()
	info := bag.Info()
	if err := haveTopics(conf.Bag, info, conf.RGBTopic, conf.DepthTopic, conf.LabelTopic); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	m, err := infer.Open(conf.Model, conf.Infer)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	e := &evaluator{conf: conf, model: m, info: m.Info(), res: &Result{Bag: conf.Bag, Mode: "offline", FramesSkipped: map[string]int{}}}
	e.res.Model, e.res.Machine, e.res.palette = modelOf(e.info), thisMachine(), e.info.Palette
	if e.gt, err = newGroundTruth(conf.Labels, e.info.Classes); err != nil {
		return nil, err
	}
	fc := conf.Frames
	fc.NeedCamera = e.info.Spec.DepthEncoding == preprocess.HHA
	e.conf0, _ = metrics.NewConfusion(e.info.Classes)
	if conf.OutBag != "" {
		if e.out, err = newOutBag(conf.OutBag, e.info); err != nil {
			return nil, err
		}
		defer e.out.abort()
	}
	if e.pr, err = newPairReader(info, conf.RGBTopic, conf.DepthTopic, conf.RGBInfoTopic, conf.DepthInfoTopic, conf.Sync, fc, e.res.FramesSkipped, conf.Progress); err != nil {
		return nil, err
	}
	it := bag.Messages(rosbag.Filter{Topics: append(e.pr.topics(), conf.LabelTopic)})
	for it.Next() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		msg := it.Message()
		var ours bool
		if e.pending, ours = e.pr.take(msg, e.pending); !ours && msg.Conn.Topic == conf.LabelTopic {
			stamp, err := e.gt.add(msg)
			if err != nil {
				return nil, fmt.Errorf("eval: %s: ground truth at %v: %w", conf.Bag, msg.Time, err)
			}
			if stamp.After(e.gtSeen) {
				e.gtSeen = stamp
			}
		}
		if err := e.resolve(false); err != nil {
			return nil, err
		}
		if e.limited() {
			break
		}
	}
	readErr := it.Err()
	if err := e.resolve(true); err != nil {
		return nil, err
	}
	if !e.limited() { // else the rest of the bag was not read: what the synchroniser holds says nothing
		e.pr.countUnpaired()
	}
	e.res.finish(e.conf0, e.info.ClassNames)
	if readErr != nil {
		e.res.Error = readErr.Error()
	}
	if e.out != nil {
		if err := e.out.close(); err != nil {
			return e.res, err
		}
	}
	return e.res, readErr
}

// resolve scores the pending pairs whose ground truth is decided: an exact stamp, or (all ground truth up to
// the pair's stamp plus MaxInterval having been read) the nearest within MaxInterval, or none. At the end of
// the bag everything is decided.
func (e *evaluator) resolve(final bool) error {
	for len(e.pending) > 0 && !e.limited() {
		p := e.pending[0]
		stamp := p.rgb.Header.Stamp
		gt, exact := e.gt.match(stamp, e.conf.MaxInterval)
		decided := exact || final || len(e.pending) > maxPending || e.gtSeen.After(stamp.Add(e.conf.MaxInterval))
		if !decided {
			return nil
		}
		e.pending = e.pending[1:]
		if gt == nil {
			e.res.FramesSkipped["no ground truth"]++
			continue
		}
		if err := e.score(p, gt); err != nil {
			return err
		}
		e.gt.forget(stamp.Add(-e.conf.MaxInterval))
	}
	return nil
}

func (e *evaluator) score(p pendingPair, gt *gtFrame) error {
	t0 := time.Now()
	f, ok := e.pr.build(p)
	if !ok {
		return nil
	}
	if err := e.model.Segment(f, &e.ires); err != nil {
		e.res.FramesSkipped["rejected: "+firstWords(err.Error())]++
		return nil
	}
	r := &e.ires
	if gt.width != r.Width || gt.height != r.Height {
		e.res.FramesSkipped["ground truth of another size than the colour image"]++
		return nil
	}
	if err := metrics.Add(e.conf0, gt.labels, r.Labels); err != nil {
		return err
	}
	e.res.latencies = append(e.res.latencies, float64(time.Since(t0).Microseconds())/1e3)
	e.res.FramesScored++
	if len(e.res.samples) < e.conf.Samples {
		e.res.samples = append(e.res.samples, Sample{Stamp: p.rgb.Header.Stamp, RGB: preprocess.RGBImage{Width: f.RGB.Width, Height: f.RGB.Height,
			Pix: append([]uint8(nil), f.RGB.Pix...)}, GT: append([]uint16(nil), gt.labels...), Pred: append([]uint16(nil), r.Labels...),
			Width: r.Width, High: r.Height})
	}
	if e.out != nil {
		return e.out.write(p.rgb.Header, r)
	}
	return nil
}

// limited says whether the evaluation has scored the frames it was asked for.
func (e *evaluator) limited() bool { return e.conf.Limit > 0 && e.res.FramesScored >= e.conf.Limit }

// firstWords keeps an error's text short enough to be a reason key.
func firstWords(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// sibling is the camera_info beside an image topic: /cam/color/image_raw → /cam/color/camera_info; the
// compressed subtopics are stripped first.
func sibling(topic string) string {
	topic = strings.TrimSuffix(strings.TrimSuffix(topic, "/compressed"), "/compressedDepth")
	return filepath.Dir(topic) + "/camera_info"
}

func topics(info rosbag.Info) []string {
	var out []string
	for _, c := range info.Connections {
		out = append(out, c.Topic)
	}
	sort.Strings(out)
	return out
}

// decodeInput reads a colour or depth message, raw or compressed, with its own copy of the data (the pair
// outlives the bag reader's buffer).
func decodeInput(m rosbag.Message) (frames.Input, error) {
	switch m.Conn.Type {
	case rosbag.ImageType.Type:
		var img sensor_msgs.Image
		if err := rosbag.DecodeImage(&img, m.Data, rosbag.CopyData); err != nil {
			return frames.Input{}, err
		}
		return frames.Input{Header: img.Header, Raw: &img}, nil
	case rosbag.CompressedImageType.Type:
		var img sensor_msgs.CompressedImage
		if err := rosbag.DecodeCompressedImage(&img, m.Data, rosbag.CopyData); err != nil {
			return frames.Input{}, err
		}
		return frames.Input{Header: img.Header, Compressed: &img}, nil
	}
	return frames.Input{}, fmt.Errorf("topic %s is %s, not an image", m.Conn.Topic, m.Conn.Type)
}

// decodeReflect decodes a message with goroslib's reflection codec (for rare messages such as /tf_static).
func decodeReflect(dst any, data []byte) error {
	b := make([]byte, 4+len(data))
	b[0], b[1], b[2], b[3] = byte(len(data)), byte(len(data)>>8), byte(len(data)>>16), byte(len(data)>>24)
	copy(b[4:], data)
	return protocommon.MessageDecode(bytesReader(b), dst)
}
