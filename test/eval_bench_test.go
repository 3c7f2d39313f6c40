package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cen-ros/cen/test/rosenv"
)

// BenchmarkEvalMemoryOver5xBag runs `cen eval --bag` (the shipped model, the report written) on a synthetic
// bag of 60 frames at 240×320 and on one five times as long, each in a process of its own, and reports both
// peak resident sets and their ratio (goal: within 10 %, i.e. the evaluation streams the bag). It runs with
// `make bench`, not in CI.
func BenchmarkEvalMemoryOver5xBag(b *testing.B) {
	bin := rosenv.Binary(b)
	model := filepath.Join(rosenv.RepoRoot(), "models", "synthetic-lite-r18.onnx")
	dir := b.TempDir()
	peak := func(frames int) (float64, int64) {
		bag := filepath.Join(dir, fmt.Sprintf("s%d.bag", frames))
		if _, err := os.Stat(bag); err != nil {
			if out, err := exec.Command(bin, "synth", "--bag", bag, "--n", fmt.Sprint(frames), "--size", "240x320", "--seed", "3").CombinedOutput(); err != nil {
				b.Fatalf("synth: %v\n%s", err, out)
			}
		}
		st, _ := os.Stat(bag)
		cmd := exec.Command(bin, "eval", "--model", model, "--bag", bag, "--report", filepath.Join(dir, fmt.Sprintf("r%d", frames)), "--threads", "2")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("eval: %v\n%s", err, out)
		}
		return float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024, st.Size()
	}
	for b.Loop() {
		small, smallSize := peak(60)
		large, largeSize := peak(300)
		b.ReportMetric(small, "RSS_MB_60_frames")
		b.ReportMetric(large, "RSS_MB_300_frames")
		b.ReportMetric(large/small, "ratio")
		b.ReportMetric(float64(largeSize)/float64(smallSize), "bag_size_ratio")
	}
}
