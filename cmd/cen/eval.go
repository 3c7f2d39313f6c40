package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cen-ros/cen/bags"
	"github.com/cen-ros/cen/infer"
	"github.com/cen-ros/cen/node/frames"
	"github.com/cen-ros/cen/node/timesync"
)

func init() {
	register("eval", "score a model on a bag (offline or live through the node) or on a data set: the paper's metrics, latency, a report", runEval)
}

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", "--model M (--bag B --rgb-topic T --depth-topic T --label-topic T [--live] | --data DIR --dataset D) [--json out.json] [--report DIR]", stderr)
	model := fs.String("model", "", "model file: an ONNX export or a cen checkpoint")
	bag := fs.String("bag", "", "bag to evaluate")
	live := fs.Bool("live", false, "play the bag into the node (roslaunch, rosbag play --clock) and score what it publishes")
	master := fs.String("master", "", "--live: ROS master URI to use (default: ROS_MASTER_URI if a master answers, else one of its own)")
	rate := fs.Float64("rate", 1, "--live: rosbag play speed")
	rgbTopic := fs.String("rgb-topic", bags.SynthRGB, "colour topic (sensor_msgs/Image, or CompressedImage)")
	depthTopic := fs.String("depth-topic", bags.SynthDepth, "depth topic (16UC1/32FC1 Image, or compressedDepth)")
	labelTopic := fs.String("label-topic", bags.SynthLabels, "ground-truth topic (mono8/mono16/16UC1 ids, or rgb8/bgr8 with --label-palette)")
	rgbInfo := fs.String("rgb-info-topic", "", "colour camera_info (default: beside the colour topic)")
	depthInfo := fs.String("depth-info-topic", "", "depth camera_info (default: beside the depth topic)")
	sync := fs.String("sync", "approximate", "pairing of colour and depth: approximate or exact (the node's policies)")
	queue := fs.Int("queue-size", 10, "synchroniser queue per topic")
	pairInterval := fs.Duration("pair-interval", 50*time.Millisecond, "colour and depth further apart are not paired")
	maxInterval := fs.Duration("max-interval", 0, "ground truth may be this far from the colour image's stamp when none matches exactly")
	palette := fs.String("label-palette", "", "palette file of colour-coded ground truth (R G B [name] per line, in id order)")
	remap := fs.String("remap", "", "YAML file mapping ground-truth ids to the model's classes")
	ignore := fs.Int("ignore", 255, "ground-truth id that is not scored")
	depthScale := fs.Float64("depth-scale", 0, "metres per count of 16-bit depth (0: millimetres)")
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
	if *model == "" || *bag == "" {
		fs.Usage()
		return fmt.Errorf("give --model and --bag")
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
			Labels: bags.LabelConf{Palette: *palette, Remap: *remap, Ignore: *ignore}, MasterURI: *master, Rate: *rate, Samples: *samples,
			LaunchArgs: []string{"device:=" + *device}, Log: func(l string) { fmt.Fprintln(stderr, l) }})
		if err != nil {
			return err
		}
		return writeResults(res, *jsonOut, *report, stdout)
	}
	bar := newProgressBar(stderr)
	conf := bags.EvalConf{Model: *model, Bag: *bag, RGBTopic: *rgbTopic, DepthTopic: *depthTopic, LabelTopic: *labelTopic,
		RGBInfoTopic: *rgbInfo, DepthInfoTopic: *depthInfo, MaxInterval: *maxInterval, OutBag: *outBag, Samples: *samples,
		Sync:     timesync.Conf{Policy: policy, Topics: 2, QueueSize: *queue, MaxInterval: *pairInterval},
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
