package rosbag

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/goroslib/v2"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/sensor_msgs"
	"github.com/bluenviron/goroslib/v2/pkg/msgs/std_msgs"

	"github.com/cen-ros/cen/test/rosenv"
)

// recordedImage is the image a test publisher sends as frame seq: its bytes say which frame it is.
func recordedImage(seq uint32) *sensor_msgs.Image {
	m := &sensor_msgs.Image{
		Header: std_msgs.Header{Seq: seq, Stamp: time.Now(), FrameId: "camera"},
		Height: 24, Width: 32, Encoding: "rgb8", Step: 96, Data: make([]byte, 24*96),
	}
	for i := range m.Data {
		m.Data[i] = byte(int(seq) + i)
	}
	return m
}

func TestReadsBagsRecordedByRosbagRecord(t *testing.T) {
	t.Parallel()
	rosbag := tool(t, "rosbag")
	m := rosenv.StartMaster(t)
	n, err := goroslib.NewNode(goroslib.NodeConf{Name: "cen_rosbag_test", MasterAddress: m.Addr, Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	img, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: n, Topic: "/camera/image_raw", Msg: &sensor_msgs.Image{}})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	info, err := goroslib.NewPublisher(goroslib.PublisherConf{Node: n, Topic: "/camera/camera_info", Msg: &sensor_msgs.CameraInfo{}})
	if err != nil {
		t.Fatal(err)
	}
	defer info.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for seq := uint32(0); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			img.Write(recordedImage(seq))
			info.Write(&sensor_msgs.CameraInfo{Header: std_msgs.Header{Seq: seq, Stamp: time.Now(), FrameId: "camera"},
				Height: 24, Width: 32, DistortionModel: "plumb_bob", D: []float64{0, 0, 0, 0, 0}})
		}
	}()
	defer func() { close(stop); <-done }()

	dir := t.TempDir()
	topics := []string{"/camera/image_raw", "/camera/camera_info"}
	bags := map[string]string{}
	var procs []*rosenv.Process
	for _, comp := range []string{"none", "lz4", "bz2"} {
		bags[comp] = filepath.Join(dir, "rec_"+comp+".bag")
		args := []string{"record", "-O", bags[comp], "-l", "30", "--chunksize=16"}
		if comp != "none" {
			args = append(args, "--"+comp)
		}
		procs = append(procs, m.Command(t, rosbag, append(args, topics...)...))
	}
	// A recorder killed mid-chunk leaves a .bag.active: closed chunks, their index data, an open chunk.
	killed := filepath.Join(dir, "killed.bag")
	kp := m.Command(t, rosbag, append([]string{"record", "-O", killed, "--chunksize=16"}, topics...)...)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, err := os.Stat(killed + ".active"); err == nil && st.Size() > 4117+100<<10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recorder wrote no 100 KB in 30 s:\n%s", kp.Output())
		}
	}
	syscall.Kill(-kp.Cmd.Process.Pid, syscall.SIGKILL)
	kp.Wait(10 * time.Second)
	for _, p := range procs {
		if err := p.Wait(60 * time.Second); err != nil {
			t.Fatalf("rosbag record: %v\n%s", err, p.Output())
		}
	}

	reindexed := filepath.Join(dir, "reindexed.bag")
	if err := os.WriteFile(reindexed, readFile(t, killed+".active"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, rosbag, "reindex", reindexed)
	py := pythonRead(t, bags["none"], bags["lz4"], bags["bz2"], reindexed)

	for _, comp := range []string{"none", "lz4", "bz2"} {
		t.Run(comp, func(t *testing.T) {
			r := mustOpen(t, bags[comp])
			in := r.Info()
			if !in.Indexed || in.MessageCount != 60 || in.TopicMessageCount(topics[0]) != 30 || in.ChunkCount < 2 || in.Compression[comp] != in.ChunkCount {
				t.Errorf("Info: indexed %v, %d messages (%d images) in %d chunks %v; want indexed, 60 (30), several %s chunks",
					in.Indexed, in.MessageCount, in.TopicMessageCount(topics[0]), in.ChunkCount, in.Compression, comp)
			}
			for _, c := range in.Connections {
				if c.CallerID != "/cen_rosbag_test" || c.Latching || c.MessageDefinition == "" {
					t.Errorf("connection %+v: want callerid /cen_rosbag_test, not latching, a definition", c)
				}
			}
			got, err := readAll(t, r, Filter{})
			if err != nil {
				t.Fatal(err)
			}
			sameMessages(t, "recorded bag", got, py[bags[comp]])
			checkRecordedImages(t, r)
		})
	}

	t.Run("killed recorder", func(t *testing.T) {
		r := mustOpen(t, killed+".active")
		in := r.Info()
		if in.Indexed || in.IndexErr != nil {
			t.Errorf("Info: indexed %v, index error %v; want a scan of an unindexed bag", in.Indexed, in.IndexErr)
		}
		got, err := readAll(t, r, Filter{})
		if err != nil && (in.Damage == nil || err.Error() != in.Damage.Error()) {
			t.Fatalf("reading: %v; Info.Damage %v", err, in.Damage)
		}
		if uint64(len(got)) != in.MessageCount {
			t.Errorf("read %d messages, Info counts %d", len(got), in.MessageCount)
		}
		// rosbag reindex recovers the closed chunks; we also read the messages of the open one.
		want := py[reindexed]
		if len(want) == 0 || len(got) < len(want) {
			t.Fatalf("%d messages, rosbag reindex recovered %d", len(got), len(want))
		}
		sameMessages(t, "killed recorder's bag (the messages rosbag reindex recovers)", byTime(got)[:len(want)], want)
		checkRecordedImages(t, r)
		t.Logf("killed recorder: %d messages read, %d recovered by rosbag reindex; damage: %v", len(got), len(want), in.Damage)
	})
}

// checkRecordedImages decodes every image of a recorded bag and checks its content against its seq.
func checkRecordedImages(t *testing.T, r *Reader) {
	t.Helper()
	it := r.Messages(Filter{Topics: []string{"/camera/image_raw"}})
	var m sensor_msgs.Image
	n := 0
	for it.Next() {
		if err := DecodeImage(&m, it.Message().Data, AliasData); err != nil {
			t.Fatal(err)
		}
		want := recordedImage(m.Header.Seq)
		if m.Width != want.Width || m.Height != want.Height || m.Encoding != want.Encoding || string(m.Data) != string(want.Data) {
			t.Fatalf("image seq %d: %dx%d %s does not hold what was published", m.Header.Seq, m.Width, m.Height, m.Encoding)
		}
		n++
	}
	if err := it.Err(); err != nil && (r.Info().Damage == nil || err.Error() != r.Info().Damage.Error()) {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no images")
	}
}
