package bags

import (
	"bytes"
	"encoding/binary"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"

	"github.com/cen-ros/cen/bags/rosbag"
	"github.com/cen-ros/cen/synth"
)

// TestSyntheticBagHoldsTheRenderedFrames writes a small synthetic bag and reads it back: every topic has one
// message per frame, the images are the rendered frames (depth in millimetres), depth is stamped after
// colour, and Debian's rosbag accepts the file without migrations.
func TestSyntheticBagHoldsTheRenderedFrames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.bag")
	const n, h, w = 5, 48, 64
	if err := WriteSyntheticBag(path, SynthConf{N: n, Height: h, Width: w, Seed: 3, Rate: 20}, nil); err != nil {
		t.Fatal(err)
	}
	r, err := rosbag.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, topic := range []string{SynthRGB, SynthDepth, SynthRGBInfo, SynthDepthInfo, SynthLabels} {
		if c := r.Info().TopicMessageCount(topic); c != n {
			t.Errorf("%s has %d messages, want %d", topic, c, n)
		}
	}
	it := r.Messages(rosbag.Filter{Topics: []string{SynthRGB, SynthDepth, SynthLabels}})
	seen := map[string]int{}
	stamps := map[string][]time.Time{}
	for it.Next() {
		m := it.Message()
		var img sensor_msgs.Image
		if err := rosbag.DecodeImage(&img, m.Data, rosbag.CopyData); err != nil {
			t.Fatal(err)
		}
		i := int(img.Header.Seq)
		f, err := synth.Render(3, i, h, w)
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		switch m.Conn.Topic {
		case SynthRGB:
			want = f.RGB.Pix
		case SynthLabels:
			want = f.Labels
		case SynthDepth:
			for _, v := range f.Depth.Pix {
				want = binary.LittleEndian.AppendUint16(want, uint16(v*1000+0.5))
			}
		}
		if !bytes.Equal(img.Data, want) {
			t.Errorf("%s frame %d differs from the rendered frame", m.Conn.Topic, i)
		}
		if img.Header.FrameId != SynthFrame || int(img.Width) != w || int(img.Height) != h {
			t.Errorf("%s frame %d: %s %dx%d", m.Conn.Topic, i, img.Header.FrameId, img.Width, img.Height)
		}
		seen[m.Conn.Topic]++
		stamps[m.Conn.Topic] = append(stamps[m.Conn.Topic], img.Header.Stamp)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	for i := range stamps[SynthRGB] {
		d := stamps[SynthDepth][i].Sub(stamps[SynthRGB][i])
		if d != 3*time.Millisecond || !stamps[SynthLabels][i].Equal(stamps[SynthRGB][i]) {
			t.Errorf("frame %d: depth %v after colour, ground truth at %v", i, d, stamps[SynthLabels][i])
		}
		if i > 0 && stamps[SynthRGB][i].Sub(stamps[SynthRGB][i-1]) != 50*time.Millisecond {
			t.Errorf("frame %d: %v after the previous one at 20 Hz", i, stamps[SynthRGB][i].Sub(stamps[SynthRGB][i-1]))
		}
	}
	out, err := exec.Command("rosbag", "check", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "does not need any migrations") {
		t.Errorf("rosbag check: %v\n%s", err, out)
	}
	if err := WriteSyntheticBag(path, SynthConf{N: -1}, nil); err == nil {
		t.Error("a negative frame count was accepted")
	}
}
