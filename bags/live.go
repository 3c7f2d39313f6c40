package bags

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/apimaster"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/diagnostic_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"

	"github.com/cen-ros/cen/cen/ort"
	"github.com/cen-ros/cen/infer"
	"github.com/cen-ros/cen/metrics"
	"github.com/cen-ros/cen/preprocess"
)

// LiveConf configures EvaluateLive: the bag is played into the node by `rosbag play --clock` and what the
// node publishes is scored.
type LiveConf struct {
	// Model, Bag and the topics are as for Evaluate; the node is launched on the bag's colour and depth topics.
	Model                            string
	Bag                              string
	RGBTopic, DepthTopic, LabelTopic string
	// Labels says how to read the ground truth.
	Labels LabelConf
	// MasterURI is the master to use (optional). It defaults to ROS_MASTER_URI when a master answers there;
	// otherwise EvaluateLive starts one of its own on a free port and stops it at the end.
	MasterURI string
	// Package is the folder of the cen_ros package (launch files, bin/cen) (optional). It defaults to the
	// repository the running binary lives in.
	Package string
	// LaunchArgs are extra arguments for segmentation.launch (device:=cpu, ...).
	LaunchArgs []string
	// Rate is rosbag play's speed (optional). It defaults to 1.
	Rate float64
	// Home is ROS_HOME for the processes started (logs) (optional). It defaults to a temporary folder.
	Home string
	// Samples frames are kept for the report (optional). It defaults to 4.
	Samples int
	// OutBag, when set, is where `rosbag record` keeps what the node published during the run: its labels,
	// colour masks and class info, with the input stamps, for replay in rviz.
	OutBag string
	// Log receives progress lines (optional).
	Log func(string)
}

// The node's outputs recorded into LiveConf.OutBag.
var liveOutputs = []string{"/cen/labels", "/cen/color", "/cen/class_info"}

// EvaluateLive scores the node live: it starts (or uses) a master, launches the node with roslaunch, plays
// the bag with `rosbag play --clock`, and matches the labels the node publishes with the bag's ground truth by
// stamp. Latency is from the colour image's arrival to its labels' arrival, as a subscriber of both sees it;
// a colour frame with ground truth but no labels counts as dropped. Everything started is stopped before it
// returns, also when ctx is cancelled.
func EvaluateLive(ctx context.Context, conf LiveConf) (*Result, error) {
	if conf.Rate == 0 {
		conf.Rate = 1
	}
	if conf.Samples == 0 {
		conf.Samples = 4
	}
	logf := func(format string, a ...any) {
		if conf.Log != nil {
			conf.Log(fmt.Sprintf(format, a...))
		}
	}
	if conf.Package == "" {
		p, err := packageDir()
		if err != nil {
			return nil, err
		}
		conf.Package = p
	}
	home := conf.Home
	if home == "" {
		d, err := os.MkdirTemp("", "cen-eval-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		home = d
	}
	// roslaunch runs the node in ROS_HOME: a relative model path would not be found there.
	if abs, err := filepath.Abs(conf.Model); err == nil {
		conf.Model = abs
	}
	info, err := modelInfo(conf.Model)
	if err != nil {
		return nil, err
	}
	gt, err := newGroundTruth(conf.Labels, info.Classes)
	if err != nil {
		return nil, err
	}
	procs := &processes{}
	defer procs.stopAll()

	uri := conf.MasterURI
	if uri == "" {
		uri = os.Getenv("ROS_MASTER_URI")
	}
	if uri == "" || masterDown(uri) {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		uri = fmt.Sprintf("http://127.0.0.1:%d", port)
		logf("starting a ROS master at %s", uri)
		if _, err := procs.start(env(uri, home, ""), "rosmaster", "--core", "-p", strconv.Itoa(port)); err != nil {
			return nil, err
		}
		if err := waitUntil(ctx, 20*time.Second, func() bool { return !masterDown(uri) }); err != nil {
			return nil, fmt.Errorf("eval: the master at %s did not answer: %w", uri, err)
		}
	} else {
		logf("using the ROS master at %s", uri)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(uri, "http://"), "/")
	launch := append([]string{"cen_ros", "segmentation.launch", "model:=" + conf.Model, "rgb:=" + conf.RGBTopic, "depth:=" + conf.DepthTopic,
		"use_sim_time:=true"}, conf.LaunchArgs...)
	logf("roslaunch %s", strings.Join(launch, " "))
	node, err := procs.start(env(uri, home, conf.Package), "roslaunch", launch...)
	if err != nil {
		return nil, err
	}
	gn, err := goroslib.NewNode(goroslib.NodeConf{Name: "cen_eval", MasterAddress: addr, Host: "127.0.0.1",
		LogDestinations: goroslib.LogDestinationCallback})
	if err != nil {
		return nil, fmt.Errorf("eval: connecting to the master at %s: %w", uri, err)
	}
	defer gn.Close()
	exited := func() bool {
		select {
		case <-node.done:
			return true
		default:
			return false
		}
	}
	if err := waitUntil(ctx, 120*time.Second, func() bool { return exited() || published(gn, "/cen/labels") }); err != nil {
		return nil, fmt.Errorf("eval: the node did not start within 2 minutes: %w\n%s", err, node.output())
	}
	if exited() {
		return nil, fmt.Errorf("eval: roslaunch exited before the node published /cen/labels:\n%s", lastLines(node.output(), 15))
	}
	col := newCollector(gt, info, conf.Samples)
	subs := []struct {
		topic string
		cb    any
	}{
		{conf.RGBTopic, func(m *sensor_msgs.Image) { col.rgb(m) }},
		{conf.LabelTopic, func(m *sensor_msgs.Image) { col.truth(m) }},
		{"/cen/labels", func(m *sensor_msgs.Image) { col.labels(m) }},
		{"/diagnostics", func(m *diagnostic_msgs.DiagnosticArray) { col.diagnostics(m) }},
	}
	for _, s := range subs {
		sub, err := goroslib.NewSubscriber(goroslib.SubscriberConf{Node: gn, Topic: s.topic, Callback: s.cb})
		if err != nil {
			return nil, fmt.Errorf("eval: subscribing to %s: %w", s.topic, err)
		}
		defer sub.Close()
	}
	var rec *process
	if conf.OutBag != "" {
		args := append([]string{"record", "--lz4", "-O", conf.OutBag}, liveOutputs...)
		if rec, err = procs.start(env(uri, home, ""), "rosbag", args...); err != nil {
			return nil, err
		}
		if err := waitUntil(ctx, 30*time.Second, func() bool { return subscribed(gn, liveOutputs[0], 2) }); err != nil {
			return nil, fmt.Errorf("eval: rosbag record did not subscribe to %s: %w\n%s", liveOutputs[0], err, rec.output())
		}
	}
	// The node subscribes to the bag's topics once it is up; give the TCPROS connections a moment.
	time.Sleep(time.Second)
	logf("rosbag play --clock %s", conf.Bag)
	play, err := procs.start(env(uri, home, ""), "rosbag", "play", "--clock", "-q", "-d", "1", "-r", strconv.FormatFloat(conf.Rate, 'f', -1, 64), conf.Bag)
	if err != nil {
		return nil, err
	}
	select {
	case <-play.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if play.err != nil {
		return nil, fmt.Errorf("eval: rosbag play %s: %v\n%s", conf.Bag, play.err, play.output())
	}
	// The last labels come a frame's inference time after the last colour image.
	time.Sleep(3 * time.Second)
	if rec != nil {
		// rosbag record closes the bag (index, rename from .active) on SIGINT.
		if err := procs.stop(rec, syscall.SIGINT, 20*time.Second); err != nil {
			return nil, fmt.Errorf("eval: rosbag record %s: %w\n%s", conf.OutBag, err, rec.output())
		}
		if _, err := os.Stat(conf.OutBag); err != nil {
			return nil, fmt.Errorf("eval: rosbag record left no %s:\n%s", conf.OutBag, rec.output())
		}
		logf("recorded the node's outputs into %s", conf.OutBag)
	}
	res := col.result(conf.Bag)
	res.Model = modelOf(info)
	if b, p := col.ran(); p != "" {
		res.Model.Backend, res.Model.Provider = b, p
	}
	res.Machine = thisMachine()
	return res, nil
}

// modelInfo reads the model's description without keeping it open (the node loads it).
func modelInfo(path string) (infer.Info, error) {
	m, err := infer.Open(path, infer.Conf{Device: "cpu", Threads: 1, ORT: ort.Options{NoWarmup: true}})
	if err != nil {
		return infer.Info{}, err
	}
	defer m.Close()
	i := m.Info()
	i.Device, i.Backend = "as the node runs it", "cen node"
	return i, nil
}

// collector matches what a live run publishes.
type collector struct {
	mu       sync.Mutex
	gt       *groundTruth
	info     infer.Info
	conf     *metrics.Confusion
	arrived  map[int64]time.Time // colour stamp → arrival
	labelled map[int64][]uint16  // colour stamp → labels, until the ground truth comes
	sizes    map[int64][2]int    // of the labels
	truths   map[int64]*gtFrame  // ground truth not yet matched
	rgbs     map[int64]*sensor_msgs.Image
	scored   map[int64]bool
	lat      []float64
	samples  []Sample
	keep     int
	frames   int
	withGT   map[int64]bool
	// backend and provider as the node's /diagnostics report them.
	backend, provider string
}

func newCollector(gt *groundTruth, info infer.Info, keep int) *collector {
	c, _ := metrics.NewConfusion(info.Classes)
	return &collector{gt: gt, info: info, conf: c, arrived: map[int64]time.Time{}, labelled: map[int64][]uint16{}, sizes: map[int64][2]int{},
		truths: map[int64]*gtFrame{}, rgbs: map[int64]*sensor_msgs.Image{}, scored: map[int64]bool{}, keep: keep, withGT: map[int64]bool{}}
}

func (c *collector) rgb(m *sensor_msgs.Image) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	t := m.Header.Stamp.UnixNano()
	c.arrived[t] = now
	c.frames++
	if len(c.samples) < c.keep && len(c.rgbs) < 64 {
		c.rgbs[t] = m
	}
}

// diagnostics keeps what the node says it runs on (the segmentation status's Backend and Provider).
func (c *collector) diagnostics(m *diagnostic_msgs.DiagnosticArray) {
	for _, st := range m.Status {
		var backend, provider, runtime string
		for _, kv := range st.Values {
			switch kv.Key {
			case "Backend":
				backend = kv.Value
			case "Provider":
				provider = kv.Value
			case "ONNX Runtime":
				runtime = kv.Value
			}
		}
		if provider == "" {
			continue
		}
		if runtime != "" {
			backend += " " + runtime
		}
		c.mu.Lock()
		c.backend, c.provider = backend, provider
		c.mu.Unlock()
	}
}

func (c *collector) ran() (backend, provider string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.backend, c.provider
}

func (c *collector) truth(m *sensor_msgs.Image) {
	f, err := c.gt.decode(m)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := m.Header.Stamp.UnixNano()
	c.withGT[t] = true
	c.truths[t] = f
	c.match(t)
}

func (c *collector) labels(m *sensor_msgs.Image) {
	now := time.Now()
	ids := make([]uint16, int(m.Width)*int(m.Height))
	if m.Encoding == "mono8" {
		for i := range ids {
			ids[i] = uint16(m.Data[(i/int(m.Width))*int(m.Step)+i%int(m.Width)])
		}
	} else {
		for i := range ids {
			o := (i/int(m.Width))*int(m.Step) + 2*(i%int(m.Width))
			ids[i] = uint16(m.Data[o]) | uint16(m.Data[o+1])<<8
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := m.Header.Stamp.UnixNano()
	if a, ok := c.arrived[t]; ok {
		c.lat = append(c.lat, float64(now.Sub(a).Microseconds())/1e3)
	}
	c.labelled[t], c.sizes[t] = ids, [2]int{int(m.Width), int(m.Height)}
	c.match(t)
}

// match scores stamp t once both its labels and its ground truth are in. Callers hold c.mu.
func (c *collector) match(t int64) {
	l, ok1 := c.labelled[t]
	g, ok2 := c.truths[t]
	if !ok1 || !ok2 || c.scored[t] {
		return
	}
	c.scored[t] = true
	delete(c.labelled, t)
	delete(c.truths, t)
	sz := c.sizes[t]
	if sz[0] != g.width || sz[1] != g.height {
		return
	}
	metrics.Add(c.conf, g.labels, l)
	m, ok := c.rgbs[t]
	delete(c.rgbs, t)
	if ok && len(c.samples) < c.keep && m.Encoding == "rgb8" && int(m.Step) == 3*int(m.Width) {
		c.samples = append(c.samples, Sample{Stamp: time.Unix(0, t), RGB: rgbOf(m), GT: append([]uint16(nil), g.labels...),
			Pred: l, Width: sz[0], High: sz[1]})
	}
}

func (c *collector) result(bag string) *Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := &Result{Bag: bag, Mode: "live", FramesSkipped: map[string]int{}, latencies: c.lat, samples: c.samples, palette: c.info.Palette}
	r.FramesScored = len(c.scored)
	dropped := 0
	for t := range c.withGT {
		if !c.scored[t] {
			dropped++
		}
	}
	if dropped > 0 {
		r.FramesSkipped["ground truth without labels from the node (dropped or not paired)"] = dropped
	}
	if n := c.frames - len(c.withGT); n > 0 {
		r.FramesSkipped["colour frames without ground truth"] = n
	}
	r.finish(c.conf, c.info.ClassNames)
	return r
}

func rgbOf(m *sensor_msgs.Image) preprocess.RGBImage {
	return preprocess.RGBImage{Width: int(m.Width), Height: int(m.Height), Pix: m.Data}
}

// processes are the child processes a live evaluation started, each in its own process group.
type processes struct {
	mu   sync.Mutex
	list []*process
}

type process struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	mu   sync.Mutex
	done chan struct{}
	err  error
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (ps *processes) start(env []string, name string, args ...string) (*process, error) {
	p := &process{cmd: exec.Command(name, args...), done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("eval: starting %s: %w", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	return p, nil
}

// stop sends sig to p's process group and waits up to d for it to exit.
func (ps *processes) stop(p *process, sig syscall.Signal, d time.Duration) error {
	syscall.Kill(-p.cmd.Process.Pid, sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(d):
		return fmt.Errorf("did not exit within %v of %v", d, sig)
	}
}

// stopAll stops the processes in reverse order: SIGINT (roslaunch and rosbag stop their children on it),
// SIGTERM (a background rosmaster ignores SIGINT), then SIGKILL.
func (ps *processes) stopAll() {
	ps.mu.Lock()
	list := ps.list
	ps.list = nil
	ps.mu.Unlock()
	for i := len(list) - 1; i >= 0; i-- {
		p := list[i]
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
			select {
			case <-p.done:
			default:
				syscall.Kill(-p.cmd.Process.Pid, sig)
				select {
				case <-p.done:
				case <-time.After(5 * time.Second):
				}
			}
		}
	}
}

func env(uri, home, pkg string) []string {
	e := append(os.Environ(), "ROS_MASTER_URI="+uri, "ROS_HOME="+home, "ROS_LOG_DIR="+filepath.Join(home, "log"))
	if os.Getenv("ROS_IP") == "" && os.Getenv("ROS_HOSTNAME") == "" && strings.Contains(uri, "127.0.0.1") {
		e = append(e, "ROS_IP=127.0.0.1")
	}
	if pkg != "" {
		e = append(e, "ROS_PACKAGE_PATH="+pkg)
	}
	return e
}

func masterDown(uri string) bool {
	addr := strings.TrimSuffix(strings.TrimPrefix(uri, "http://"), "/")
	_, err := apimaster.NewClient(addr, "/cen_eval", &http.Client{Timeout: time.Second}).GetURI()
	return err != nil
}

func published(n *goroslib.Node, topic string) bool {
	ts, err := n.MasterGetTopics()
	if err != nil {
		return false
	}
	t, ok := ts[topic]
	return ok && len(t.Publishers) > 0
}

// subscribed says whether topic has at least n subscribers.
func subscribed(n *goroslib.Node, topic string, min int) bool {
	ts, err := n.MasterGetTopics()
	if err != nil {
		return false
	}
	t, ok := ts[topic]
	return ok && len(t.Subscribers) >= min
}

// lastLines keeps the last n lines of a process's output.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func waitUntil(ctx context.Context, d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// packageDir finds the cen_ros package: the folder with package.xml above the running binary.
func packageDir() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	for d := filepath.Dir(exe); ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "package.xml")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "launch", "segmentation.launch")); err == nil {
				return d, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("eval: the cen_ros package (package.xml and launch/) is not above %s; give its folder", exe)
		}
	}
}
