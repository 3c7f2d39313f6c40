package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cen-ros/cen/bags"
	"github.com/cen-ros/cen/infer"
	"github.com/cen-ros/cen/node/frames"
	"github.com/cen-ros/cen/node/timesync"
	"github.com/cen-ros/cen/train"
)

func init() {
	register("eval", "score a model on a bag (offline or live through the node) or on a data set: the paper's metrics, latency, a report", runEval)
}

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", "--model M (--bag B --rgb-topic T --depth-topic T --label-topic T [--live] | --data DIR --dataset D) [--json out.json] [--report DIR]", stderr)
	model := fs.String("model", "", "model file: an ONNX export or a cen checkpoint")
	bag := fs.String("bag", "", "bag to evaluate")
	limit := fs.Int("frames", 0, "evaluate the first N frames only (0: all)")
	live := fs.Bool("live", false, "play the bag into the node (roslaunch, rosbag play --clock) and score what it publishes")
	master := fs.String("master", "", "--live: ROS master URI to use (default: ROS_MASTER_URI if a master answers, else one of its own)")
	rate := fs.Float64("rate", 1, "--live: rosbag play speed")
	rosHome := fs.String("ros-home", "", "--live: ROS_HOME of the processes started, for their logs (default: a temporary folder, removed)")
	rgbTopic := fs.String("rgb-topic", bags.SynthRGB, "colour topic (sensor_msgs/Image, or CompressedImage)")
	depthTopic := fs.String("depth-topic", bags.SynthDepth, "depth topic (16UC1/32FC1 Image, or compressedDepth)")
	labelTopic := fs.String("label-topic", bags.SynthLabels, "ground-truth topic (mono8/mono16/16UC1 ids, or rgb8/bgr8 with --label-palette)")
	rgbInfo := fs.String("rgb-info-topic", "", "colour camera_info (default: beside the colour topic)")
	depthInfo := fs.String("depth-info-topic", "", "depth camera_info (default: beside the depth topic)")
	sync := fs.String("sync", "approximate", "pairing of colour and depth: approximate or exact (the node's policies)")
	queue := fs.Int("queue-size", 10, "synchroniser queue per topic")
	pairInterval := fs.Duration("pair-interval", 50*time.Millisecond, "colour and depth further apart are not paired")
	lowerBound := fs.Duration("inter-message-lower-bound", 0, "least time between two frames of one camera (the node's ~inter_message_lower_bound): the approximate sync pairs without waiting for the next frame (0: unknown)")
	maxInterval := fs.Duration("max-interval", 0, "ground truth may be this far from the colour image's stamp when none matches exactly")
	palette := fs.String("label-palette", "", "palette file of colour-coded ground truth (R G B [name] per line, in id order)")
	remap := fs.String("remap", "", "YAML file mapping ground-truth ids to the model's classes")
	ignore := fs.Int("ignore", 255, "ground-truth id that is not scored")
	depthScale := fs.Float64("depth-scale", 0, "metres per count of 16-bit depth (0: millimetres for bags, 1/5000 for --data folders)")
	df := addDataFlags(fs, false, depthScale)
	outBag := fs.String("out-bag", "", "write the predicted labels and colours into this bag")
	jsonOut := fs.String("json", "", "write the result as JSON here")
	report := fs.String("report", "", "write the report folder (HTML page, confusion matrix, samples, latency) here")
	samples := fs.Int("samples", 4, "frames shown side by side in the report")
	device := fs.String("device", "auto", "auto, cpu, cuda or tensorrt")
	threads := fs.Int("threads", 0, "inference threads (0: one per core)")
	ortLib := fs.String("ort-lib", "", "ONNX Runtime library")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" || (*bag == "") == (*df.root == "") {
		fs.Usage()
		return fmt.Errorf("give --model and either --bag or --data")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *df.root != "" {
		for _, name := range []string{"live", "master", "rate", "ros-home", "rgb-topic", "depth-topic", "label-topic", "rgb-info-topic", "depth-info-topic",
			"sync", "queue-size", "pair-interval", "inter-message-lower-bound", "max-interval", "label-palette", "remap", "ignore", "out-bag"} {
			if set[name] {
				return fmt.Errorf("--%s is for bags; --data evaluates a data set folder", name)
			}
		}
		d, err := df.conf()
		if err != nil {
			return err
		}
		return evalData(*model, d, *limit, *samples,
			infer.Conf{Device: *device, Threads: *threads, ORT: ortOptions(*ortLib), PerModality: true}, *jsonOut, *report, stdout, stderr)
	}
	for _, name := range []string{"dataset", "val-list", "columns", "classes", "palette", "void", "label-offset", "depth-bit-shift", "camera"} {
		if set[name] {
			return fmt.Errorf("--%s is for --data folders, not bags", name)
		}
	}
	if *live {
		// The node is launched with segmentation.launch: only what it takes as arguments reaches the node.
		for _, name := range []string{"frames", "queue-size", "pair-interval", "max-interval", "depth-scale", "threads", "ort-lib", "rgb-info-topic", "depth-info-topic"} {
			if set[name] {
				return fmt.Errorf("--%s does not apply to --live (the node runs with segmentation.launch's settings); drop it, or evaluate offline without --live", name)
			}
		}
	}
	if *lowerBound < 0 {
		return fmt.Errorf("--inter-message-lower-bound %v: it must not be negative", *lowerBound)
	}
	policy := timesync.Approximate
	switch *sync {
	case "approximate":
	case "exact":
		policy = timesync.Exact
	default:
		return fmt.Errorf("--sync %q: use approximate or exact", *sync)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *live {
		res, err := bags.EvaluateLive(ctx, bags.LiveConf{Model: *model, Bag: *bag, RGBTopic: *rgbTopic, DepthTopic: *depthTopic, LabelTopic: *labelTopic,
			Labels: bags.LabelConf{Palette: *palette, Remap: *remap, Ignore: *ignore}, MasterURI: *master, Rate: *rate, Samples: *samples, OutBag: *outBag, Home: *rosHome,
			LaunchArgs: []string{"device:=" + *device, "sync:=" + *sync, fmt.Sprintf("inter_message_lower_bound:=%g", lowerBound.Seconds())}, Log: func(l string) { fmt.Fprintln(stderr, l) }})
		if err != nil {
			return err
		}
		return writeResults(res, *jsonOut, *report, stdout)
	}
	bar := newProgressBar(stderr)
	conf := bags.EvalConf{Model: *model, Bag: *bag, RGBTopic: *rgbTopic, DepthTopic: *depthTopic, LabelTopic: *labelTopic,
		RGBInfoTopic: *rgbInfo, DepthInfoTopic: *depthInfo, MaxInterval: *maxInterval, OutBag: *outBag, Samples: *samples, Limit: *limit,
		Sync:     timesync.Conf{Policy: policy, Topics: 2, QueueSize: *queue, MaxInterval: *pairInterval, LowerBounds: timesync.SameBound(2, *lowerBound)},
		Labels:   bags.LabelConf{Palette: *palette, Remap: *remap, Ignore: *ignore},
		Frames:   frames.Conf{DepthScale: *depthScale},
		Infer:    infer.Conf{Device: *device, Threads: *threads, ORT: ortOptions(*ortLib), Logger: func(l string) { fmt.Fprintln(stderr, l) }},
		Progress: bar.update}
	res, err := bags.Evaluate(ctx, conf)
	if res == nil {
		bar.abort()
		return err
	}
	bar.abort()
	if werr := writeResults(res, *jsonOut, *report, stdout); werr != nil {
		return werr
	}
	return err
}

// writeResults writes the JSON and the report and prints the summary.
func writeResults(res *bags.Result, jsonOut, report string, stdout io.Writer) error {
	if jsonOut != "" {
		if err := bags.WriteJSON(jsonOut, res); err != nil {
			return err
		}
	}
	if report != "" {
		if err := bags.WriteReport(report, res); err != nil {
			return err
		}
	}
	f := func(p *float64) string {
		if p == nil {
			return "–"
		}
		return fmt.Sprintf("%.2f", *p)
	}
	fmt.Fprintf(stdout, "%s: %d frames scored (%s): mIoU %s %%, pixel accuracy %s %%, mean accuracy %s %%; latency p50 %.1f ms, p95 %.1f ms\n",
		res.Bag, res.FramesScored, res.Mode, f(res.MIoU), f(res.PixelAcc), f(res.MeanAcc), res.LatencyMS.P50, res.LatencyMS.P95)
	for reason, n := range res.FramesSkipped {
		fmt.Fprintf(stdout, "  skipped %d: %s\n", n, reason)
	}
	if report != "" {
		fmt.Fprintf(stdout, "report: %s\n", report+"/"+bags.ReportHTML)
	}
	return nil
}

// evalData scores a model on a data set with the paper's protocol, each output apart.
func evalData(model string, d train.DataConf, limit, keep int, conf infer.Conf, jsonOut, report string, stdout, stderr io.Writer) error {
	_, val, err := train.OpenDataset(d)
	if err != nil {
		return err
	}
	m, err := infer.Open(model, conf)
	if err != nil && strings.Contains(err.Error(), "per-modality") {
		conf.PerModality = false // an export without per-modality outputs: the ensemble only
		m, err = infer.Open(model, conf)
	}
	if err != nil {
		return err
	}
	defer m.Close()
	bar := newProgressBar(stderr)
	ev, err := train.Evaluate(m, val, limit, bar.update, keep)
	if err != nil {
		bar.abort()
		return err
	}
	var samples []bags.Sample
	for _, s := range ev.Samples {
		samples = append(samples, bags.Sample{RGB: s.RGB, GT: s.Labels, Pred: s.Pred, Width: s.RGB.Width, High: s.RGB.Height})
	}
	last := len(ev.Confusions) - 1
	res := bags.NewResult(d.Root, "data set", m.Info(), ev.Confusions[last], ev.Latencies, samples)
	res.FramesScored = len(ev.Latencies)
	for i, name := range ev.Outputs {
		res.AddOutput(name, ev.Confusions[i])
	}
	for _, o := range res.Outputs {
		fmt.Fprintf(stdout, "  %-10s mIoU %s %%\n", o.Name, fmtPct(o.MIoU))
	}
	return writeResults(res, jsonOut, report, stdout)
}

func fmtPct(p *float64) string {
	if p == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f", *p)
}
