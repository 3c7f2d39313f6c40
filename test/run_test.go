package test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cen-ros/cen/test/rosenv"
)

// runJob starts scripts/run.sh (what `make run` runs after set-up and build) in a process group of its own,
// as a terminal runs a foreground job, with a tag in its environment that every process it starts inherits.
func runJob(t *testing.T, outDir string, extra ...string) (*exec.Cmd, *rosenv.SyncBuffer, string) {
	t.Helper()
	rosenv.Binary(t)
	b := make([]byte, 8)
	rand.Read(b)
	tag := "cen-run-test-" + hex.EncodeToString(b)
	cmd := exec.Command("bash", filepath.Join(rosenv.RepoRoot(), "scripts", "run.sh"))
	cmd.Dir = rosenv.RepoRoot()
	cmd.Env = append(os.Environ(), append([]string{"CEN_RUN_TAG=" + tag, "RUN_OUT=" + outDir, "ROS_MASTER_URI=", "RUN_DEVICE=cpu"}, extra...)...)
	out := &rosenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		for _, p := range tagged(tag) {
			syscall.Kill(p, syscall.SIGKILL)
		}
	})
	return cmd, out, tag
}

// tagged lists the processes whose environment holds CEN_RUN_TAG=tag.
func tagged(tag string) []int {
	var pids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", d.Name(), "environ"))
		if err == nil && bytes.Contains(env, []byte("CEN_RUN_TAG="+tag+"\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func describe(pids []int) string {
	var s []string
	for _, p := range pids {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		s = append(s, fmt.Sprintf("%d: %s", p, strings.ReplaceAll(string(cmdline), "\x00", " ")))
	}
	return strings.Join(s, "\n")
}

func waitJob(t *testing.T, cmd *exec.Cmd, out *rosenv.SyncBuffer, d time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(d):
		t.Fatalf("make run still running after %v:\n%s", d, out)
		return -1
	}
}

// TestMakeRunScoresTheShippedModelLive runs the README's first command's job: the node on the shipped model,
// fed a synthetic bag by rosbag play, scored live. The report holds a mIoU far above chance (12 classes: a
// constant guess scores at most about 5 %), latency and the provider; overlays and the bag of published labels
// (read by Debian's rosbag) are left beside it, and no process it started is left running.
func TestMakeRunScoresTheShippedModelLive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run-out")
	cmd, out, tag := runJob(t, dir, "RUN_FRAMES=30")
	if code := waitJob(t, cmd, out, 5*time.Minute); code != 0 {
		t.Fatalf("make run exited %d:\n%s", code, out)
	}
	if left := tagged(tag); len(left) > 0 {
		t.Fatalf("make run left processes running:\n%s", describe(left))
	}
	var rep struct {
		MIoU         *float64 `json:"miou"`
		FramesScored int      `json:"frames_scored"`
		Mode         string   `json:"mode"`
		Latency      struct {
			P50, P95 float64
		} `json:"latency_ms"`
		Model struct {
			Provider string `json:"provider"`
			Arch     string `json:"arch"`
		} `json:"model"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Mode != "live" || rep.MIoU == nil || *rep.MIoU < 30 || rep.FramesScored < 25 || rep.Latency.P50 <= 0 || rep.Model.Provider != "cpu" {
		t.Fatalf("report.json: %s", b)
	}
	t.Logf("live mIoU %.1f %% over %d frames, latency p50 %.0f ms, p95 %.0f ms (%s, %s)", *rep.MIoU, rep.FramesScored, rep.Latency.P50, rep.Latency.P95, rep.Model.Arch, rep.Model.Provider)
	for _, f := range []string{"index.html", "samples.png", "confusion.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if ov, _ := filepath.Glob(filepath.Join(dir, "overlays", "*.png")); len(ov) == 0 {
		t.Error("no overlay images")
	}
	info, err := exec.Command("rosbag", "info", filepath.Join(dir, "labels.bag")).CombinedOutput()
	m := regexp.MustCompile(`/cen/labels\s+(\d+) msgs`).FindSubmatch(info)
	if err != nil || m == nil {
		t.Fatalf("rosbag info labels.bag: %v\n%s", err, info)
	}
	if n, _ := strconv.Atoi(string(m[1])); n < rep.FramesScored {
		t.Errorf("labels.bag holds %d label images, %d frames were scored", n, rep.FramesScored)
	}
	if !strings.Contains(out.String(), "all required checks passed") {
		t.Errorf("cen doctor did not run first:\n%s", out)
	}
}

// TestMakeRunInterruptedLeavesNothingRunning sends Ctrl-C (SIGINT to the job's process group, as a terminal
// does) while the node is running and the bag is playing: the master, roslaunch, the node, rosbag play and
// rosbag record are all gone when make run has exited.
func TestMakeRunInterruptedLeavesNothingRunning(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run-out")
	cmd, out, tag := runJob(t, dir, "RUN_FRAMES=300")
	deadline := time.Now().Add(3 * time.Minute)
	playing := regexp.MustCompile(`(?m)^rosbag play --clock `) // cen eval's line once the node is up and the bag starts
	for !playing.MatchString(out.String()) {
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			t.Fatalf("the bag never started playing:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	running := describe(tagged(tag))
	for _, want := range []string{"rosmaster", "roslaunch", "cen node", "rosbag play", "record"} {
		if !strings.Contains(running, want) {
			t.Fatalf("before Ctrl-C, %q should be running; running:\n%s\noutput:\n%s", want, running, out)
		}
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	if code := waitJob(t, cmd, out, time.Minute); code == 0 {
		t.Errorf("make run exited 0 after Ctrl-C")
	}
	if left := tagged(tag); len(left) > 0 {
		t.Fatalf("after Ctrl-C, make run left processes running:\n%s\noutput:\n%s", describe(left), out)
	}
	if !strings.Contains(out.String(), "interrupted") {
		t.Errorf("make run did not say it was interrupted:\n%s", out)
	}
}
