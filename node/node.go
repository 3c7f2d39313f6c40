package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/diagnostic_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/tf2_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/vision_msgs"

	"github.com/cen-ros/cen/calibration"
	"github.com/cen-ros/cen/infer"
	"github.com/cen-ros/cen/node/frames"
	"github.com/cen-ros/cen/node/reconfigure"
	"github.com/cen-ros/cen/node/timesync"
	"github.com/cen-ros/cen/preprocess"
)

// ParamServer is the part of the ROS parameter server the node uses: values of any type (lists included),
// which goroslib's scalar API cannot set.
type ParamServer interface {
	// Get returns the value of key and whether it is set.
	Get(key string) (any, bool, error)
	// Set sets key to v.
	Set(key string, v any) error
}

// Conf configures Run.
type Conf struct {
	// Namespace and Name are the node's namespace ("/" or "/robot") and name ("cen"), after __ns, __name and
	// ROS_NAMESPACE.
	Namespace, Name string
	// MasterAddress is the master's "host:port"; Host the address other nodes reach this one at ("" lets
	// goroslib choose).
	MasterAddress, Host string
	// TCPROSPort fixes the port of the TCPROS server (__tcpros_server_port); 0 picks a free one.
	TCPROSPort int
	// Resolve turns a graph name as the node uses it ("rgb/image", "~labels", "/tf_static") into the absolute
	// name after the command line's remappings.
	Resolve func(name string) (string, error)
	// Params reads and sets the node's parameters; it is made for the master once it answers.
	Params func() (ParamServer, error)
	// Defaults are the command line's values of the parameters, used where the parameter server has none.
	Defaults map[string]any
	// Infer configures the model beyond what the parameters say (library paths, engine options).
	Infer infer.Conf
	// Log receives the node's log lines (level "info", "warn", "error") besides /rosout; nil writes nothing.
	Log func(level, msg string)
	// Ready, when not nil, is called once the node subscribes (model loaded and warmed up).
	Ready func()
}

// Names of the node's inputs and outputs before resolution. Inputs are relative (remap them or push the node
// into a namespace); outputs are private.
const (
	TopicRGB        = "rgb/image"
	TopicDepth      = "depth/image"
	TopicRGBInfo    = "rgb/camera_info"
	TopicDepthInfo  = "depth/camera_info"
	TopicLabels     = "~labels"
	TopicColor      = "~color"
	TopicOverlay    = "~overlay"
	TopicConfidence = "~confidence"
	TopicClassInfo  = "~class_info"
	TopicTFStatic   = "/tf_static"
	TopicDiagnostic = "/diagnostics"
)

// node is a running cen node.
type node struct {
	conf  Conf
	set   Settings
	names map[string]string // resolved topic names
	model *infer.Model
	work  *worker
	fb    *frames.Builder
	stats stats

	dyn      atomic.Pointer[Dynamic]
	conn     atomic.Pointer[rosConn]
	wants    atomic.Pointer[wants]
	params   ParamServer
	shutdown context.CancelFunc
	events   chan event
	box      mailbox
	diag     diagnostics
	throttle sync.Map // reason → time of the last log line
}

// event is one message for the synchronising goroutine.
type event struct {
	topic int // 0 colour, 1 depth
	in    input
}

// pair is what the synchroniser hands the worker.
type pair struct {
	rgb, depth input
	synced     time.Time
}

// Run runs the node until ctx is done, the node is shut down (rosnode kill) or it fails to start. It waits for
// the master, reads the parameters, loads and warms up the model, then subscribes; after a master restart it
// registers everything again.
func Run(ctx context.Context, conf Conf) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n := &node{conf: conf, shutdown: cancel, events: make(chan event, 16), names: map[string]string{}}
	n.box.signal = make(chan struct{}, 1)
	for _, t := range []string{TopicRGB, TopicDepth, TopicRGBInfo, TopicDepthInfo, TopicLabels, TopicColor, TopicOverlay,
		TopicConfidence, TopicClassInfo, TopicTFStatic, TopicDiagnostic, "~"} {
		r, err := conf.Resolve(t)
		if err != nil {
			return err
		}
		n.names[t] = r
	}
	if err := n.waitForMaster(ctx); err != nil {
		return err
	}
	if err := n.start(); err != nil {
		return err
	}
	defer n.model.Close()
	if err := n.connect(); err != nil {
		return err
	}
	defer func() {
		if c := n.conn.Load(); c != nil {
			c.close()
		}
	}()
	if conf.Ready != nil {
		conf.Ready()
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); n.synchronise(ctx) }()
	go func() { defer wg.Done(); n.segment(ctx) }()
	n.watch(ctx)
	wg.Wait()
	return nil
}

// log writes a line to /rosout and, through goroslib's log callback (see connect), to Conf.Log; before the
// node is registered, to Conf.Log alone.
func (n *node) log(level, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	c := n.conn.Load()
	if c == nil {
		n.print(level, msg)
		return
	}
	lv := goroslib.LogLevelInfo
	switch level {
	case "warn":
		lv = goroslib.LogLevelWarn
	case "error":
		lv = goroslib.LogLevelError
	}
	c.node.Log(lv, "%s", msg)
}

func (n *node) print(level, msg string) {
	if n.conf.Log != nil {
		n.conf.Log(level, msg)
	}
}

// logThrottled logs at most one line per reason every 5 s, as ROS_ERROR_THROTTLE does.
func (n *node) logThrottled(level, reason, format string, a ...any) {
	now := time.Now()
	if last, ok := n.throttle.Load(reason); ok && now.Sub(last.(time.Time)) < 5*time.Second {
		return
	}
	n.throttle.Store(reason, now)
	n.log(level, format, a...)
}

// waitForMaster waits until the master answers, logging once while it does not.
func (n *node) waitForMaster(ctx context.Context) error {
	for said := false; ; {
		err := PingMaster(n.conf.MasterAddress, time.Second)
		if err == nil {
			return nil
		}
		if !said {
			n.log("warn", "waiting for the ROS master at %s (%v)", n.conf.MasterAddress, err)
			said = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// start reads the parameters and loads and warms up the model.
func (n *node) start() error {
	ps, err := n.conf.Params()
	if err != nil {
		return err
	}
	n.params = ps
	private := n.names["~"]
	set, err := ReadSettings(func(name string) (any, bool, error) {
		return ps.Get(private + "/" + name)
	}, n.conf.Defaults)
	if err != nil {
		return err
	}
	n.set = set
	d := set.Dynamic
	n.dyn.Store(&d)
	n.wants.Store(&wants{})
	fc := frames.Conf{DepthScale: set.DepthScale, FillHoles: set.FillHoles}
	if set.DepthToRGB != nil {
		v := set.DepthToRGB
		e, err := calibration.FromQuaternion(v[3], v[4], v[5], v[6], [3]float64{v[0], v[1], v[2]})
		if err != nil {
			return fmt.Errorf("~depth_to_rgb: %w", err)
		}
		fc.DepthToRGB = &e
	}
	ic := n.conf.Infer
	ic.Device, ic.Threads = set.Device, set.Threads
	ic.Logger = func(l string) { n.log("info", "%s", l) }
	m, err := infer.Open(set.Model, ic)
	if err != nil {
		return err
	}
	n.model = m
	info := m.Info()
	// Warm up the whole path (preprocessing buffers, the network, post-processing) on one frame of the
	// network's size before subscribing, so the first camera frame is not the slow one.
	w, h := info.Spec.Width, info.Spec.Height
	f := infer.Frame{RGB: preprocess.NewRGBImage(w, h), Depth: preprocess.DepthImage{Width: w, Height: h, Pix: make([]float32, w*h)}}
	for i := range f.Depth.Pix {
		f.Depth.Pix[i] = 1
	}
	if info.Spec.DepthEncoding == preprocess.HHA {
		f.View = &preprocess.View{Camera: calibration.Pinhole{Width: w, Height: h, K: [9]float64{float64(w), 0, float64(w) / 2, 0, float64(w), float64(h) / 2, 0, 0, 1},
			R: [9]float64{1, 0, 0, 0, 1, 0, 0, 0, 1}}, Up: [3]float64{0, -1, 0}}
	}
	var res infer.Result
	t0 := time.Now()
	if err := m.Segment(f, &res); err != nil {
		m.Close()
		return fmt.Errorf("warm-up of %s: %w", set.Model, err)
	}
	fc.NeedCamera = info.Spec.DepthEncoding == preprocess.HHA
	n.fb = frames.NewBuilder(fc)
	n.work = newWorker(m, set, n.fb)
	n.diag = newDiagnostics(n)
	provider := info.Device
	if info.Backend == "onnxruntime" {
		provider = fmt.Sprintf("%s (ONNX Runtime %s)", info.Device, info.RuntimeVersion)
	}
	n.log("info", "cen node %s: model %s (%s, %d classes of %s, modalities %s) at %dx%d on %s, %s backend; warm-up %.0f ms",
		n.names["~"], set.Model, info.Arch, info.Classes, datasetOrUnknown(info.Dataset), strings.Join(info.Modalities, "+"),
		w, h, provider, info.Backend, float64(time.Since(t0).Microseconds())/1e3)
	return nil
}

func datasetOrUnknown(d string) string {
	if d == "" {
		return "an unknown data set"
	}
	return d
}

// rosConn is everything the node has registered with one master: a goroslib node and its publishers,
// subscribers and services. A master restart replaces it as a whole.
type rosConn struct {
	node                                          *goroslib.Node
	labels, color, overlay, confidence, classInfo *goroslib.Publisher
	diagnostics                                   *goroslib.Publisher
	subs                                          []*goroslib.Subscriber
	reconf                                        *reconfigure.Server
	closeOnce                                     sync.Once
}

func (c *rosConn) close() {
	c.closeOnce.Do(func() {
		if c.reconf != nil {
			c.reconf.Close()
		}
		for _, s := range c.subs {
			s.Close()
		}
		for _, p := range []*goroslib.Publisher{c.labels, c.color, c.overlay, c.confidence, c.classInfo, c.diagnostics} {
			if p != nil {
				p.Close()
			}
		}
		c.node.Close()
	})
}

// connect registers the node with the master: publishers first (so nothing that arrives finds them missing),
// then the parameters it publishes, the reconfigure service, and the subscriptions.
func (n *node) connect() error {
	host := n.conf.Host
	gn, err := goroslib.NewNode(goroslib.NodeConf{
		Namespace: n.conf.Namespace, Name: n.conf.Name, MasterAddress: n.conf.MasterAddress, Host: host, TcprosPort: n.conf.TCPROSPort,
		LogDestinations: goroslib.LogDestinationRosout | goroslib.LogDestinationCallback,
		OnLog: func(level goroslib.LogLevel, msg string) {
			// Every line goroslib logs, the node's own included (node.log sends them through goroslib so they
			// reach /rosout), is printed here once.
			switch level {
			case goroslib.LogLevelWarn:
				n.print("warn", msg)
			case goroslib.LogLevelError, goroslib.LogLevelFatal:
				n.print("error", msg)
			default:
				n.print("info", msg)
			}
			if strings.HasPrefix(msg, "got shutdown request") {
				// rosnode kill (or another node taking this name): goroslib stops serving but keeps the process
				// alive; end it as roscpp does.
				n.print("info", "shutting down")
				n.shutdown()
			}
		},
	})
	if err != nil {
		return fmt.Errorf("registering with the master at %s: %w", n.conf.MasterAddress, err)
	}
	c := &rosConn{node: gn}
	fail := func(err error) error {
		c.close()
		return err
	}
	pub := func(topic string, msg any, latch bool) (*goroslib.Publisher, error) {
		p, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: gn, Topic: n.names[topic], Msg: msg, Latch: latch})
		if err != nil {
			return nil, fmt.Errorf("advertising %s: %w", n.names[topic], err)
		}
		return p, nil
	}
	if c.labels, err = pub(TopicLabels, &sensor_msgs.Image{}, false); err != nil {
		return fail(err)
	}
	if c.color, err = pub(TopicColor, &sensor_msgs.Image{}, false); err != nil {
		return fail(err)
	}
	if c.overlay, err = pub(TopicOverlay, &sensor_msgs.Image{}, false); err != nil {
		return fail(err)
	}
	if c.confidence, err = pub(TopicConfidence, &sensor_msgs.Image{}, false); err != nil {
		return fail(err)
	}
	if c.classInfo, err = pub(TopicClassInfo, &vision_msgs.VisionInfo{}, true); err != nil {
		return fail(err)
	}
	if c.diagnostics, err = pub(TopicDiagnostic, &diagnostic_msgs.DiagnosticArray{}, false); err != nil {
		return fail(err)
	}
	if err := n.publishClasses(c); err != nil {
		return fail(err)
	}
	if c.reconf, err = n.reconfigureServer(gn); err != nil {
		return fail(err)
	}
	if err := n.subscribe(c); err != nil {
		return fail(err)
	}
	n.conn.Store(c)
	return nil
}

// publishClasses sets ~class_names and ~palette and latches ~class_info (vision_msgs/VisionInfo, whose
// database_location names the class-names parameter, as ROS's vision_msgs convention has it).
func (n *node) publishClasses(c *rosConn) error {
	info := n.model.Info()
	names := make([]any, len(info.ClassNames))
	for i, s := range info.ClassNames {
		names[i] = s
	}
	pal := make([]any, len(info.Palette))
	for i, p := range info.Palette {
		pal[i] = []any{int(p[0]), int(p[1]), int(p[2])}
	}
	key := n.names["~"] + "/class_names"
	if err := n.params.Set(key, names); err != nil {
		return fmt.Errorf("setting %s: %w", key, err)
	}
	if err := n.params.Set(n.names["~"]+"/palette", pal); err != nil {
		return fmt.Errorf("setting %s/palette: %w", n.names["~"], err)
	}
	c.classInfo.Write(&vision_msgs.VisionInfo{Header: std_msgs.Header{Stamp: c.node.TimeNow()},
		Method: "cen " + info.Arch + " (" + datasetOrUnknown(info.Dataset) + ")", DatabaseLocation: key})
	return nil
}

// reconfigureServer serves the dynamic parameters through the dynamic_reconfigure protocol.
func (n *node) reconfigureServer(gn *goroslib.Node) (*reconfigure.Server, error) {
	var params []reconfigure.Param
	for _, p := range Params {
		if !p.Dynamic {
			continue
		}
		rp := reconfigure.Param{Name: p.Name, Description: p.Description, Default: p.Default}
		switch p.Type {
		case "bool":
			rp.Type = reconfigure.Bool
		case "double":
			rp.Type, rp.Min, rp.Max = reconfigure.Double, p.Min, p.Max
		}
		params = append(params, rp)
	}
	return reconfigure.New(reconfigure.ServerConf{Node: gn, Namespace: n.names["~"], Params: params,
		Initial: reconfigure.Values(n.dyn.Load().values()),
		OnChange: func(_, req reconfigure.Values) (reconfigure.Values, error) {
			d := *n.dyn.Load()
			for k, v := range req {
				p := ParamByName(k)
				if p == nil || !p.Dynamic {
					continue
				}
				t, err := p.typed(v)
				if err != nil {
					return nil, err
				}
				d.set(k, t)
			}
			n.dyn.Store(&d)
			n.log("info", "reconfigured: %v", req)
			return reconfigure.Values(d.values()), nil
		}})
}

// subscribe subscribes to the inputs, the camera infos and /tf_static.
func (n *node) subscribe(c *rosConn) error {
	add := func(topic string, cb any) error {
		s, err := goroslib.NewSubscriber(goroslib.SubscriberConf{Node: c.node, Topic: topic, Callback: cb})
		if err != nil {
			return fmt.Errorf("subscribing to %s: %w", topic, err)
		}
		c.subs = append(c.subs, s)
		return nil
	}
	push := func(topic int, in input) {
		in.received = time.Now()
		select {
		case n.events <- event{topic, in}:
		default:
			// The synchroniser is seconds behind (it is not: it only compares stamps): keep the callback from
			// blocking the transport, and count the message as dropped.
			n.stats.overrun.Add(1)
		}
	}
	for i, base := range []string{n.names[TopicRGB], n.names[TopicDepth]} {
		topic := i
		transport := n.set.ImageTransport
		if topic == 1 {
			transport = n.set.DepthTransport
		}
		var err error
		switch transport {
		case "raw":
			err = add(base, func(m *sensor_msgs.Image) { push(topic, input{Input: frames.Input{Header: m.Header, Raw: m}}) })
		default: // compressed, compressedDepth
			err = add(base+"/"+transport, func(m *sensor_msgs.CompressedImage) {
				push(topic, input{Input: frames.Input{Header: m.Header, Compressed: m}})
			})
		}
		if err != nil {
			return err
		}
	}
	if err := add(n.names[TopicRGBInfo], func(m *sensor_msgs.CameraInfo) { n.fb.SetRGBInfo(m) }); err != nil {
		return err
	}
	if err := add(n.names[TopicDepthInfo], func(m *sensor_msgs.CameraInfo) { n.fb.SetDepthInfo(m) }); err != nil {
		return err
	}
	return add(n.names[TopicTFStatic], func(m *tf2_msgs.TFMessage) {
		if err := n.fb.AddTF(m); err != nil {
			n.logThrottled("warn", "tf", "%v", err)
		}
	})
}

// synchronise pairs colour and depth with the message_filters policy and hands the newest pair to the
// worker, replacing (and counting) one it has not taken yet: latency never builds up.
func (n *node) synchronise(ctx context.Context) {
	conf := timesync.Conf{Policy: n.set.Sync, Topics: 2, QueueSize: n.set.QueueSize, MaxInterval: n.set.MaxInterval,
		AgePenalty: n.set.AgePenalty, LowerBounds: timesync.SameBound(2, n.set.LowerBound)}
	if conf.AgePenalty == 0 {
		conf.AgePenalty = timesync.NoAgePenalty
	}
	sy, err := timesync.New[input](conf)
	if err != nil {
		n.log("error", "synchroniser: %v", err)
		n.shutdown()
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-n.events:
			n.diag.input[e.topic].tick(e.in.Header.Stamp, n.now())
			if e.in.Header.Stamp.IsZero() || e.in.Header.Stamp.UnixNano() == 0 {
				n.stats.zeroStamps.Add(1)
			}
			for _, set := range sy.Add(e.topic, e.in.Header.Stamp.UnixNano(), e.in) {
				if n.box.put(&pair{rgb: set[0].Value, depth: set[1].Value, synced: time.Now()}) {
					n.stats.dropped.Add(1)
				}
				n.stats.pairs.Add(1)
			}
			n.stats.setSync(sy.Stats())
		}
	}
}

// now is ROS time (simulated under use_sim_time).
func (n *node) now() time.Time {
	if c := n.conn.Load(); c != nil {
		return c.node.TimeNow()
	}
	return time.Now()
}

// segment is the worker: it takes the newest pair, segments it and publishes the outputs.
func (n *node) segment(ctx context.Context) {
	var last time.Time
	for {
		p := n.box.take(ctx)
		if p == nil {
			return
		}
		dyn := *n.dyn.Load()
		if dyn.MaxRate > 0 && !last.IsZero() && time.Since(last) < time.Duration(float64(time.Second)/dyn.MaxRate) {
			n.stats.rateLimited.Add(1)
			continue
		}
		last = time.Now()
		out, err := n.work.process(p.rgb, p.depth, dyn, *n.wants.Load())
		switch {
		case errors.Is(err, frames.ErrWaiting):
			n.stats.waiting.Add(1)
			n.stats.setReason(&n.stats.waitReason, err.Error())
			n.logThrottled("warn", "waiting", "pair at %s not segmented: %v", stampString(p.rgb.Header.Stamp), err)
			continue
		case err != nil:
			n.stats.rejected.Add(1)
			n.stats.setReason(&n.stats.rejectReason, err.Error())
			n.logThrottled("error", "rejected", "frame at %s rejected: %v", stampString(p.rgb.Header.Stamp), err)
			continue
		}
		c := n.conn.Load()
		c.labels.Write(out.labels)
		for _, o := range []struct {
			p *goroslib.Publisher
			m *sensor_msgs.Image
		}{{c.color, out.color}, {c.overlay, out.overlay}, {c.confidence, out.confidence}} {
			if o.m != nil {
				o.p.Write(o.m)
			}
		}
		done := time.Now()
		res := &n.work.res
		n.stats.segmented.Add(1)
		n.diag.output.tick(out.labels.Header.Stamp, n.now())
		n.diag.pre.add(res.Timings.Preprocess)
		n.diag.inference.add(res.Timings.Inference)
		n.diag.total.add(done.Sub(p.synced))
		newest := p.rgb.received
		if p.depth.received.After(newest) {
			newest = p.depth.received
		}
		n.diag.latency.add(done.Sub(newest))
	}
}

func stampString(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// watch is the node's housekeeping loop: /diagnostics every period, and twice a second a look at the master
// (who subscribes to the optional outputs; whether the master still knows this node, or was restarted).
func (n *node) watch(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	nextDiag := time.Now()
	masterDown := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c := n.conn.Load()
		nodes, err := c.node.MasterGetNodes()
		switch {
		case err != nil:
			if !masterDown {
				n.log("warn", "the ROS master at %s does not answer (%v); publishing goes on to connected subscribers", n.conf.MasterAddress, err)
			}
			masterDown = true
		case nodes[n.names["~"]] == nil:
			// The master answers but does not know this node: it was restarted. Register everything again.
			n.log("warn", "the ROS master at %s was restarted: registering %s again", n.conf.MasterAddress, n.names["~"])
			c.close()
			if err := n.connect(); err != nil {
				n.log("error", "registering again: %v (retrying)", err)
				continue
			}
			n.stats.reconnects.Add(1)
			masterDown = false
			continue
		default:
			if masterDown {
				n.log("info", "the ROS master at %s answers again", n.conf.MasterAddress)
			}
			masterDown = false
			w := wants{}
			for name, info := range nodes {
				if name == n.names["~"] {
					continue
				}
				w.color = w.color || subscribes(info, n.names[TopicColor])
				w.overlay = w.overlay || subscribes(info, n.names[TopicOverlay])
				w.confidence = w.confidence || subscribes(info, n.names[TopicConfidence])
			}
			n.wants.Store(&w)
		}
		if time.Now().After(nextDiag) {
			nextDiag = time.Now().Add(n.set.DiagnosticPeriod)
			c.diagnostics.Write(n.diag.array(n.now(), masterDown))
		}
	}
}

func subscribes(info *goroslib.InfoNode, topic string) bool {
	_, ok := info.SubscribedTopics[topic]
	return ok
}

// mailbox holds the newest pair for the worker.
type mailbox struct {
	mu     sync.Mutex
	p      *pair
	signal chan struct{}
}

// put stores p and reports whether it replaced a pair the worker had not taken.
func (b *mailbox) put(p *pair) bool {
	b.mu.Lock()
	replaced := b.p != nil
	b.p = p
	b.mu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
	return replaced
}

// take waits for a pair; nil when ctx is done.
func (b *mailbox) take(ctx context.Context) *pair {
	for {
		b.mu.Lock()
		p := b.p
		b.p = nil
		b.mu.Unlock()
		if p != nil {
			return p
		}
		select {
		case <-ctx.Done():
			return nil
		case <-b.signal:
		}
	}
}

// stats are the node's counters, read by the diagnostics.
type stats struct {
	pairs, dropped, rateLimited, waiting, rejected, segmented, overrun, zeroStamps, reconnects atomic.Int64
	mu                                                                                         sync.Mutex
	sync                                                                                       timesync.Stats
	waitReason, rejectReason                                                                   reason
}

type reason struct {
	text string
	at   time.Time
}

func (s *stats) setReason(r *reason, text string) {
	s.mu.Lock()
	*r = reason{text, time.Now()}
	s.mu.Unlock()
}

func (s *stats) setSync(st timesync.Stats) {
	s.mu.Lock()
	s.sync = st
	s.mu.Unlock()
}

func (s *stats) snapshot() (timesync.Stats, reason, reason) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sync, s.waitReason, s.rejectReason
}

// diagnostics builds the node's /diagnostics statuses.
type diagnostics struct {
	n                              *node
	input                          [2]*topicDiagnostic
	output                         *topicDiagnostic
	pre, inference, total, latency *window
	lastRejected, lastWaiting      int64
	lastZero                       int64
	lastFar                        int64 // messages dropped as further apart than max_interval, both inputs
	lastUnderBound                 int64 // messages closer than inter_message_lower_bound to the one before, both inputs
}

func newDiagnostics(n *node) diagnostics {
	r := n.set.ExpectedRate
	return diagnostics{n: n,
		input:  [2]*topicDiagnostic{newTopicDiagnostic(n.names[TopicRGB], r), newTopicDiagnostic(n.names[TopicDepth], r)},
		output: newTopicDiagnostic(n.names[TopicLabels], 0),
		pre:    newWindow(200), inference: newWindow(200), total: newWindow(200), latency: newWindow(200)}
}

// array is one /diagnostics message: a topic status per input and for the labels, and the segmentation
// status with the counters, timings, model and provider.
func (d *diagnostics) array(now time.Time, masterDown bool) *diagnostic_msgs.DiagnosticArray {
	n := d.n
	info := n.model.Info()
	hw := "cen " + info.Device
	prefix := strings.TrimPrefix(n.names["~"], "/") + ": "
	out := &diagnostic_msgs.DiagnosticArray{Header: std_msgs.Header{Stamp: now}}
	emit := func(name string, s status) {
		out.Status = append(out.Status, diagnostic_msgs.DiagnosticStatus{Level: s.level, Name: prefix + name,
			Message: s.message, HardwareId: hw, Values: s.values})
	}
	for _, t := range d.input {
		emit(t.topic+" topic status", t.run(now))
	}
	labels := d.output.run(now)
	emit(d.output.topic+" topic status", labels)

	var s status
	s.summary(levelOK, "Segmenting")
	syncStats, wait, reject := n.stats.snapshot()
	rejected, waiting, zero := n.stats.rejected.Load(), n.stats.waiting.Load(), n.stats.zeroStamps.Load()
	if rejected > d.lastRejected {
		s.merge(levelError, fmt.Sprintf("%d frames rejected: %s", rejected-d.lastRejected, reject.text))
	}
	if waiting > d.lastWaiting {
		s.merge(levelWarn, fmt.Sprintf("%d pairs waiting: %s", waiting-d.lastWaiting, wait.text))
	}
	if zero > d.lastZero {
		s.merge(levelError, fmt.Sprintf("%d messages with a zero stamp", zero-d.lastZero))
	}
	if masterDown {
		s.merge(levelWarn, "the ROS master does not answer")
	}
	var far, under int64
	for _, t := range syncStats.Topics {
		far, under = far+t.TooFarApart, under+t.UnderBound
	}
	if far > d.lastFar {
		// Frames arrive but their stamps never come close enough: the classic "sync never fires".
		s.merge(levelWarn, fmt.Sprintf("%d messages dropped as further apart than max_interval (%.3f s) from the other input: check the cameras' clocks and stamps, or raise max_interval",
			far-d.lastFar, n.set.MaxInterval.Seconds()))
	}
	if under > d.lastUnderBound {
		s.merge(levelWarn, fmt.Sprintf("%d frames came less than inter_message_lower_bound (%.3f s) after the one before on their input: lower it below the cameras' frame time, or pairs may not be the closest",
			under-d.lastUnderBound, n.set.LowerBound.Seconds()))
	}
	d.lastRejected, d.lastWaiting, d.lastZero, d.lastFar, d.lastUnderBound = rejected, waiting, zero, far, under
	if s.level == levelOK && n.stats.segmented.Load() == 0 {
		s.summary(levelOK, "Waiting for the first synchronised pair")
	}
	s.add("Model", info.Path)
	s.add("Architecture", fmt.Sprintf("%s, %d classes (%s), modalities %s", info.Arch, info.Classes, datasetOrUnknown(info.Dataset), strings.Join(info.Modalities, "+")))
	s.add("Input size", fmt.Sprintf("%dx%d", info.Spec.Width, info.Spec.Height))
	s.add("Backend", info.Backend)
	s.add("Provider", info.Device)
	if info.RuntimeVersion != "" {
		s.add("ONNX Runtime", info.RuntimeVersion)
	}
	s.add("Sync policy", fmt.Sprintf("%s, queue %d, max interval %.3f s, inter-message lower bound %.3f s", n.set.Sync, n.set.QueueSize,
		n.set.MaxInterval.Seconds(), n.set.LowerBound.Seconds()))
	s.add("Pairs synchronised", n.stats.pairs.Load())
	s.add("Frames under inter_message_lower_bound", under)
	s.add("Frames segmented", n.stats.segmented.Load())
	s.add("Pairs dropped (newer pair arrived)", n.stats.dropped.Load())
	s.add("Pairs skipped (max_rate)", n.stats.rateLimited.Load())
	s.add("Pairs waiting (camera_info or transform)", waiting)
	s.add("Frames rejected", rejected)
	if reject.text != "" {
		s.add("Last rejection", reject.at.Format(time.RFC3339)+": "+reject.text)
	}
	for i, t := range syncStats.Topics {
		name := []string{"colour", "depth"}[i]
		s.add("Unmatched "+name+" messages", t.Overflow+t.TooFarApart+t.Superseded+t.Reset)
		s.add("Unmatched "+name+" (further apart than max_interval)", t.TooFarApart)
	}
	s.add("Messages lost (synchroniser overrun)", n.stats.overrun.Load())
	s.add("Zero stamps", zero)
	s.add("Master restarts survived", n.stats.reconnects.Load())
	for _, w := range []struct {
		name string
		w    *window
	}{{"Preprocess", d.pre}, {"Inference", d.inference}, {"Total (pair to publish)", d.total}, {"End to end (receive to publish)", d.latency}} {
		p50, p95, cnt := w.w.percentiles()
		if cnt > 0 {
			s.add(w.name+" p50 (ms)", p50)
			s.add(w.name+" p95 (ms)", p95)
		}
	}
	emit("Segmentation", s)
	return out
}
