package bags

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/tf2_msgs"

	"github.com/cen-ros/cen/bags/rosbag"
	"github.com/cen-ros/cen/infer"
	"github.com/cen-ros/cen/node/frames"
	"github.com/cen-ros/cen/node/timesync"
)

// pairReader takes a bag's messages as the node takes a camera's: colour and depth through the node's
// synchroniser, camera infos and /tf_static into the node's frame builder. Evaluate scores the pairs it
// gives; FrameReader builds them for the int8 calibration.
type pairReader struct {
	rgb, depth, rgbInfo, depthInfo string
	sy                             *timesync.Sync[frames.Input]
	fb                             *frames.Builder
	skipped                        map[string]int
	progress                       func(done, total int)
	done, total                    int
}

type pendingPair struct {
	rgb, depth frames.Input
}

// newPairReader reads the colour and depth topics (their camera infos default to the camera_info beside each)
// with the sync policy sc (default: ApproximateTime with timesync's default queue, 50 ms at most between the two), and counts
// undecodable messages in skipped.
func newPairReader(info rosbag.Info, rgb, depth, rgbInfo, depthInfo string, sc timesync.Conf, fc frames.Conf, skipped map[string]int, progress func(done, total int)) (*pairReader, error) {
	if rgbInfo == "" {
		rgbInfo = sibling(rgb)
	}
	if depthInfo == "" {
		depthInfo = sibling(depth)
	}
	if sc.Topics == 0 {
		sc.Topics = 2
	}
	if sc.MaxInterval == 0 && sc.Policy == timesync.Approximate {
		sc.MaxInterval = 50 * time.Millisecond
	}
	sy, err := timesync.New[frames.Input](sc)
	if err != nil {
		return nil, err
	}
	return &pairReader{rgb: rgb, depth: depth, rgbInfo: rgbInfo, depthInfo: depthInfo, sy: sy, fb: frames.NewBuilder(fc),
		skipped: skipped, progress: progress, total: int(info.TopicMessageCount(rgb))}, nil
}

// topics are the topics the reader takes.
func (p *pairReader) topics() []string {
	return []string{p.rgb, p.depth, p.rgbInfo, p.depthInfo, "/tf_static"}
}

// take handles msg when it is on one of the reader's topics, appending to pairs those the synchroniser
// completes; ok is false for a message on another topic.
func (p *pairReader) take(msg rosbag.Message, pairs []pendingPair) (_ []pendingPair, ok bool) {
	switch msg.Conn.Topic {
	case p.rgb, p.depth:
		in, err := decodeInput(msg)
		if err != nil {
			p.skipped["undecodable "+msg.Conn.Topic+" message"]++
			return pairs, true
		}
		topic := 0
		if msg.Conn.Topic == p.depth {
			topic = 1
		} else if p.done++; p.progress != nil {
			p.progress(p.done, p.total)
		}
		for _, set := range p.sy.Add(topic, in.Header.Stamp.UnixNano(), in) {
			pairs = append(pairs, pendingPair{rgb: set[0].Value, depth: set[1].Value})
		}
	case p.rgbInfo, p.depthInfo:
		var ci sensor_msgs.CameraInfo
		if rosbag.DecodeCameraInfo(&ci, msg.Data) == nil {
			if msg.Conn.Topic == p.rgbInfo {
				p.fb.SetRGBInfo(&ci)
			} else {
				p.fb.SetDepthInfo(&ci)
			}
		}
	case "/tf_static":
		var tm tf2_msgs.TFMessage
		if decodeReflect(&tm, msg.Data) == nil {
			p.fb.AddTF(&tm)
		}
	default:
		return pairs, false
	}
	return pairs, true
}

// build makes the frame of a pair as the node does; a pair it cannot build is counted in skipped, by reason.
// The frame is valid until the next build.
func (p *pairReader) build(pp pendingPair) (infer.Frame, bool) {
	f, err := p.fb.Build(pp.rgb, pp.depth)
	switch {
	case errors.Is(err, frames.ErrWaiting):
		p.skipped["waiting for camera_info or transform"]++
	case err != nil:
		p.skipped["rejected: "+firstWords(err.Error())]++
	default:
		return f, true
	}
	return infer.Frame{}, false
}

// haveTopics says which of want an indexed bag has no message on, listing the topics it has.
func haveTopics(bag string, info rosbag.Info, want ...string) error {
	for _, t := range want {
		if info.TopicMessageCount(t) == 0 && info.Indexed {
			return fmt.Errorf("%s has no messages on %s (its topics: %s)", bag, t, strings.Join(topics(info), ", "))
		}
	}
	return nil
}

// countUnpaired adds what the synchroniser could not pair to skipped, once the whole bag is read.
func (p *pairReader) countUnpaired() {
	for i, t := range p.sy.Stats().Topics {
		name := []string{"colour", "depth"}[i]
		if n := t.Overflow + t.TooFarApart + t.Superseded + t.Reset; n > 0 {
			p.skipped[name+" message without a partner"] += int(n)
		}
		if i == 0 && t.Waiting > 0 {
			// The approximate policy emits a pair once a later message proves it optimal; the bag's last
			// frames have no later message.
			p.skipped["colour message still unpaired at the end of the bag"] += t.Waiting
		}
	}
}

// FramesConf says which frames of a bag a FrameReader gives.
type FramesConf struct {
	Bag                          string
	RGBTopic, DepthTopic         string
	RGBInfoTopic, DepthInfoTopic string        // optional: the camera_info beside each image topic
	Sync                         timesync.Conf // optional: as EvalConf.Sync
	Frames                       frames.Conf
	// Spread keeps about this many pairs, spread evenly over the bag (optional; 0: all).
	Spread int
}

// FrameReader gives a bag's colour and depth frames as the node builds them (its synchroniser, camera infos,
// registration, /tf_static), in bag order. `cen export --int8 --calibrate BAG` measures activations on them.
type FrameReader struct {
	bag     *rosbag.Reader
	it      *rosbag.Iterator
	pr      *pairReader
	pairs   []pendingPair
	every   int
	paired  int
	Skipped map[string]int // pairs not built, by reason, as Result.FramesSkipped
	// Pairs is how many colour images the bag holds on the colour topic (from its index, or its scan).
	Pairs int
}

// OpenFrames opens the bag for a FrameReader.
func OpenFrames(conf FramesConf) (*FrameReader, error) {
	if conf.RGBTopic == "" || conf.DepthTopic == "" {
		return nil, errors.New("the colour and depth topics are both needed")
	}
	if conf.RGBTopic == conf.DepthTopic {
		return nil, fmt.Errorf("the colour and depth topics are the same (%s)", conf.RGBTopic)
	}
	bag, err := rosbag.Open(conf.Bag)
	if err != nil {
		return nil, err
	}
	info := bag.Info()
	if err := haveTopics(conf.Bag, info, conf.RGBTopic, conf.DepthTopic); err != nil {
		bag.Close()
		return nil, err
	}
	r := &FrameReader{bag: bag, every: 1, Skipped: map[string]int{}, Pairs: int(info.TopicMessageCount(conf.RGBTopic))}
	if conf.Spread > 0 {
		r.every = max(1, r.Pairs/conf.Spread)
	}
	if r.pr, err = newPairReader(info, conf.RGBTopic, conf.DepthTopic, conf.RGBInfoTopic, conf.DepthInfoTopic, conf.Sync, conf.Frames, r.Skipped, nil); err != nil {
		bag.Close()
		return nil, err
	}
	r.it = bag.Messages(rosbag.Filter{Topics: r.pr.topics()})
	return r, nil
}

// Next returns the next kept frame, valid until the following call; false at the end of the bag, with the
// damage that ended it early, if any (the frames before it were given).
func (r *FrameReader) Next() (infer.Frame, bool, error) {
	for {
		for len(r.pairs) > 0 {
			p := r.pairs[0]
			r.pairs = r.pairs[1:]
			r.paired++
			if (r.paired-1)%r.every != 0 {
				continue // not built: building (decoding, registering) is most of the cost
			}
			if f, ok := r.pr.build(p); ok {
				return f, true, nil
			}
		}
		if !r.it.Next() {
			return infer.Frame{}, false, r.it.Err()
		}
		r.pairs, _ = r.pr.take(r.it.Message(), r.pairs)
	}
}

// SkippedText says why pairs were not built, for an error message.
func (r *FrameReader) SkippedText() string {
	if len(r.Skipped) == 0 {
		return "the synchroniser paired no colour image with a depth image"
	}
	var parts []string
	for reason, n := range r.Skipped {
		parts = append(parts, fmt.Sprintf("%d %s", n, reason))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// Close releases the bag.
func (r *FrameReader) Close() error { return r.bag.Close() }
