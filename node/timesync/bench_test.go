package timesync

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// cameraStream is what a colour and depth driver deliver (plus further topics): 30 Hz each, the depth
// camera's stamps a few milliseconds off the colour camera's (identical ones for the Exact policy, as with
// hardware-synchronised sensors), jitter, unequal transport latency, one frame in fifty lost.
func cameraStream(topics, n int, exact bool) (msgs []feed, span int64) {
	r := rand.New(rand.NewPCG(1, 2))
	const period = 33_333_333
	base := int64(1_700_000_000) * 1e9
	frames := n / topics
	for i := 0; i < topics; i++ {
		offset := int64(i) * 4_000_000
		latency := int64(15_000_000 + i*5_000_000)
		for j := 0; j < frames; j++ {
			if r.IntN(50) == 0 {
				continue
			}
			m := feed{topic: i, stamp: base + int64(j)*period}
			if !exact {
				m.stamp += offset + r.Int64N(2_000_000)
			}
			m.receipt = m.stamp + latency + r.Int64N(3_000_000)
			msgs = append(msgs, m)
		}
	}
	slices.SortStableFunc(msgs, func(a, b feed) int { return cmp.Compare(a.receipt, b.receipt) })
	return msgs, int64(frames) * period
}

// BenchmarkAdd measures Add per message on camera-like streams, and reports the C++ policy's time on the
// same stream, measured in the same run by the differential test's harness (g++ -O2), as C++-ns/msg.
func BenchmarkAdd(b *testing.B) {
	for _, bc := range []struct {
		name string
		conf Conf
	}{
		{"Approximate/2topics", Conf{}},
		{"Approximate/4topics", Conf{Topics: 4}},
		{"Exact/2topics", Conf{Policy: Exact}},
		{"Exact/4topics", Conf{Policy: Exact, Topics: 4}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			topics := max(bc.conf.Topics, 2)
			msgs, span := cameraStream(topics, 2000, bc.conf.Policy == Exact)
			s, err := New[int](bc.conf)
			if err != nil {
				b.Fatal(err)
			}
			sets := 0
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				k := i % len(msgs)
				m := msgs[k]
				sets += len(s.Add(m.topic, m.stamp+int64(i/len(msgs))*span, k))
				i++
			}
			b.ReportMetric(float64(sets)/float64(i), "sets/msg")
			ns, err := cppNsPerMessage(b, bc.conf.Policy, topics, msgs, span)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(ns, "C++-ns/msg")
		})
	}
}

// cppNsPerMessage times the C++ policy (default parameters, queue DefaultQueueSize) on 100 repeats of msgs.
func cppNsPerMessage(b *testing.B, p Policy, topics int, msgs []feed, span int64) (float64, error) {
	d := diffStream{policy: p, topics: topics, queue: DefaultQueueSize, agePenalty: DefaultAgePenalty, maxInterval: -1,
		lowerBounds: make([]int64, topics), msgs: msgs}
	var in bytes.Buffer
	fmt.Fprintf(&in, "T 100 %d\n", span)
	d.encode(&in)
	cmd := exec.Command(harness(b))
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("harness: %w", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 3 || f[0] != "T" {
		return 0, fmt.Errorf("harness printed %q", out)
	}
	return strconv.ParseFloat(f[1], 64)
}
