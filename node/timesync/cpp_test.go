package timesync

// The differential test: testdata/harness.cpp is compiled against Debian's libmessage-filters-dev (the real
// C++ ApproximateTime and ExactTime of ros_comm 1.15) and both implementations get the same streams. They must
// emit the same sets from the same messages, on the same Add, and hold the same messages at the end.

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// diffStream is one stream with the parameters both implementations get.
type diffStream struct {
	policy      Policy
	topics      int
	queue       int
	agePenalty  float64 // as C++ gets it: 0 is no penalty
	maxInterval int64   // ns; -1 is unlimited
	lowerBounds []int64 // ns per topic
	reset       bool
	msgs        []feed
}

func (d *diffStream) conf() Conf {
	c := Conf{Policy: d.policy, Topics: d.topics, QueueSize: d.queue, AgePenalty: d.agePenalty}
	if d.agePenalty == 0 {
		c.AgePenalty = NoAgePenalty
	}
	if d.maxInterval >= 0 {
		c.MaxInterval = time.Duration(d.maxInterval)
	}
	c.LowerBounds = make([]time.Duration, d.topics)
	for i, b := range d.lowerBounds {
		c.LowerBounds[i] = time.Duration(b)
	}
	return c
}

func (d *diffStream) encode(w *bytes.Buffer) {
	p := "a"
	if d.policy == Exact {
		p = "e"
	}
	reset := 0
	if d.reset {
		reset = 1
	}
	fmt.Fprintf(w, "S %s %d %d %s %d %d", p, d.topics, d.queue, strconv.FormatFloat(d.agePenalty, 'g', -1, 64), d.maxInterval, reset)
	for _, b := range d.lowerBounds {
		fmt.Fprintf(w, " %d", b)
	}
	w.WriteByte('\n')
	for _, m := range d.msgs {
		fmt.Fprintf(w, "M %d %d %d\n", m.topic, m.stamp, m.receipt)
	}
	w.WriteString("E\n")
}

// outcome is what one implementation did with a stream.
type outcome struct {
	sets    []string // "k id id ...": a set emitted while message k was added
	drops   []string // Exact: "k id" for each message of a dropped incomplete set (the C++ drop callback)
	waiting []int    // message ids held at the end, ascending
}

// runGo feeds d to this package, checking its counters on the way.
func runGo(t *testing.T, d *diffStream) (outcome, error) {
	conf := d.conf()
	var now int64
	if d.reset {
		conf.Clock = func() int64 { return now }
	}
	s, err := New[int](conf)
	if err != nil {
		return outcome{}, err
	}
	var o outcome
	gone := make([]bool, len(d.msgs))
	k := 0
	var problems []string
	s.ledger.onDrop = func(topic int, m Msg[int], why reason) {
		if gone[m.Value] {
			problems = append(problems, fmt.Sprintf("message %d dropped twice", m.Value))
		}
		gone[m.Value] = true
		if d.policy != Exact {
			return
		}
		// C++ ExactTime reports overflow and sets older than an emitted one to its drop callback; a message
		// replaced by one with the same stamp, and a reset, pass silently.
		replaced := why == superseded && d.msgs[k].topic == topic && d.msgs[k].stamp == m.Stamp && m.Value != k
		if why != reset && !replaced {
			o.drops = append(o.drops, fmt.Sprintf("%d %d", k, m.Value))
		}
	}
	for k = range d.msgs {
		m := d.msgs[k]
		now = m.receipt
		for _, set := range s.Add(m.topic, m.stamp, k) {
			line := strconv.Itoa(k)
			for i, e := range set {
				if gone[e.Value] {
					problems = append(problems, fmt.Sprintf("message %d emitted after it was dropped or used", e.Value))
				}
				gone[e.Value] = true
				if d.msgs[e.Value].topic != i || d.msgs[e.Value].stamp != e.Stamp {
					problems = append(problems, fmt.Sprintf("set %v: message %d is not topic %d's with stamp %d", set, e.Value, i, e.Stamp))
				}
				line += " " + strconv.Itoa(e.Value)
			}
			o.sets = append(o.sets, line)
		}
	}
	st := s.Stats()
	perTopic := make([]int, d.topics)
	for id, g := range gone {
		if !g {
			o.waiting = append(o.waiting, id)
			perTopic[d.msgs[id].topic]++
		}
	}
	for i, ts := range st.Topics {
		if ts.Waiting != perTopic[i] {
			problems = append(problems, fmt.Sprintf("topic %d: Stats says %d waiting, %d were neither emitted nor dropped", i, ts.Waiting, perTopic[i]))
		}
		if sum := st.Sets + ts.Overflow + ts.TooFarApart + ts.Superseded + ts.Reset + int64(ts.Waiting); sum != ts.Received {
			problems = append(problems, fmt.Sprintf("topic %d: received %d, accounted %d", i, ts.Received, sum))
		}
	}
	if problems != nil {
		return o, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return o, nil
}

// parseHarness splits the harness output into one outcome per stream.
func parseHarness(out []byte) ([]outcome, error) {
	var res []outcome
	var cur *outcome
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		tag, rest, _ := strings.Cut(line, " ")
		switch tag {
		case "S":
			res = append(res, outcome{})
			cur = &res[len(res)-1]
		case "O":
			cur.sets = append(cur.sets, rest)
		case "D":
			cur.drops = append(cur.drops, rest)
		case "P":
			for _, f := range strings.Fields(rest) {
				id, err := strconv.Atoi(f)
				if err != nil {
					return nil, fmt.Errorf("harness line %q: %w", line, err)
				}
				cur.waiting = append(cur.waiting, id)
			}
		case "E":
		default:
			return nil, fmt.Errorf("harness printed %q", line)
		}
	}
	return res, sc.Err()
}

var harnessOnce struct {
	sync.Once
	path string
	err  error
}

// harness compiles testdata/harness.cpp with g++ against the installed message_filters headers, once per run
// and cached (by the source, the compiler, the flags and the headers) in the user's cache directory.
func harness(t testing.TB) string {
	t.Helper()
	harnessOnce.Do(func() { harnessOnce.path, harnessOnce.err = buildHarness() })
	if harnessOnce.err != nil {
		t.Fatalf("C++ harness: %v", harnessOnce.err)
	}
	return harnessOnce.path
}

func buildHarness() (string, error) {
	src, err := filepath.Abs(filepath.Join("testdata", "harness.cpp"))
	if err != nil {
		return "", err
	}
	flags, err := exec.Command("pkg-config", "--cflags", "--libs", "message_filters").Output()
	if err != nil {
		return "", fmt.Errorf("pkg-config finds no message_filters (Debian's libmessage-filters-dev; run make setup): %w", err)
	}
	version, err := exec.Command("g++", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("g++ is missing (build-essential; run make setup): %w", err)
	}
	h := sha256.New()
	for _, f := range []string{src, "/usr/include/message_filters/synchronizer.h",
		"/usr/include/message_filters/sync_policies/approximate_time.h",
		"/usr/include/message_filters/sync_policies/exact_time.h"} {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", f, err)
		}
		h.Write(b)
	}
	// -DNDEBUG as in release builds (ROS's binary packages): with ROS_ASSERT on, ApproximateTime aborts in
	// reset mode when an out-of-order message removes the pivot's own message (see virtualSearch).
	opts := []string{"-std=c++17", "-O2", "-DNDEBUG"}
	fmt.Fprintln(h, opts)
	h.Write(flags)
	h.Write(version)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "cen", "timesync-harness")
	bin := filepath.Join(dir, hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "build-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	args := append(append(opts, "-o", tmp.Name(), src), strings.Fields(string(flags))...)
	if out, err := exec.Command("g++", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("g++ %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", err
	}
	// Harnesses built from older sources or headers are of no further use.
	old, _ := filepath.Glob(filepath.Join(dir, "[0-9a-f]*"))
	for _, f := range old {
		if f != bin {
			os.Remove(f)
		}
	}
	return bin, nil
}

// randomStream draws the parameters and messages of one stream: camera-like topics with their own rates,
// phases, jitter and latencies, plus what real inputs do wrong: lost frames, stalls followed by bursts,
// stamps out of order or repeated, and, with reset on, a clock that jumps back as when a bag loops.
func randomStream(r *rand.Rand) diffStream {
	d := diffStream{policy: Approximate, topics: []int{2, 2, 3, 4}[r.IntN(4)], queue: 1 + r.IntN(10), maxInterval: -1}
	if r.IntN(4) == 0 {
		d.policy = Exact
	}
	if r.IntN(50) == 0 {
		d.topics = 9
	}
	if r.IntN(20) == 0 {
		d.queue = 11 + r.IntN(90) // long queues, which the policies' buffers must grow to hold
	}
	// Coarse stamp grids make equal stamps and exact ties in the age-penalty comparisons; the 1 ns grid
	// exercises the rounding of the scaled durations.
	unit := []int64{1e9, 10e6, 1e6, 1}[r.IntN(4)]
	d.agePenalty = []float64{0.1, 0.1, 0, 0.05, 0.5, 1, 2.5, r.Float64()}[r.IntN(8)]
	if r.IntN(3) == 0 {
		d.maxInterval = unit * int64(1+r.IntN(20))
	}
	d.lowerBounds = make([]int64, d.topics)
	if r.IntN(3) == 0 {
		for i := range d.lowerBounds {
			if r.IntN(2) == 0 {
				d.lowerBounds[i] = unit * int64(r.IntN(12))
			}
		}
	}
	d.reset = r.IntN(5) == 0

	base := int64(100_000+r.IntN(1000)) * 1e9 // far enough from 0 that the clock can jump back
	if r.IntN(4) == 0 {
		base = 1_700_000_000 * 1e9 // a wall-clock epoch
	}
	period := unit * int64(3+r.IntN(30))
	n := 10 + r.IntN(150)
	lossy := r.Float64() * 0.3
	silent := -1 // a topic that delivers little, so that the others pile up
	if r.IntN(10) == 0 {
		silent = r.IntN(d.topics)
	}
	odd := r.Float64() * 0.1 // chance of a repeated or out-of-order stamp
	if r.IntN(10) == 0 {
		// Tangled: nanosecond stamps, many out of order, and a factor of 1.5 or 2.5, so that scaled negative
		// differences land on half nanoseconds, where rostime's rounding is not the obvious one.
		unit, period, odd = 1, int64(2+r.IntN(6)), 0.3
		d.agePenalty = []float64{0.5, 1.5}[r.IntN(2)]
	}
	var all []feed
	for i := 0; i < d.topics; i++ {
		p, phase, jitter := period, int64(0), int64(0)
		if d.policy == Approximate {
			p = period + unit*int64(r.IntN(5)-2)
			if r.IntN(4) == 0 {
				p *= int64(1 + r.IntN(3))
			}
			p = max(p, unit)
			phase = unit * r.Int64N(max(p/unit, 1))
			jitter = unit * int64(r.IntN(3))
		}
		latency := unit * int64(r.IntN(20))
		var arrival int64
		var prev *feed // the topic's previous message
		for j := 0; j < 2*n/d.topics+2; j++ {
			if r.Float64() < lossy || i == silent && r.IntN(10) != 0 {
				continue
			}
			m := feed{topic: i, stamp: base + phase + int64(j)*p}
			if jitter > 0 {
				m.stamp += r.Int64N(jitter + 1)
			}
			if d.policy == Exact && r.Float64() < odd {
				m.stamp += unit
			}
			if prev != nil && r.Float64() < odd {
				m.stamp = prev.stamp // repeated
			} else if prev != nil && r.Float64() < odd {
				m.stamp = prev.stamp - unit*int64(1+r.IntN(3)) // out of order
			}
			wait := latency + unit*int64(r.IntN(10))
			if r.IntN(30) == 0 {
				wait += p * int64(3+r.IntN(10)) // a stall; the frames behind it arrive in a burst
			}
			arrival = max(arrival, m.stamp+wait)
			m.receipt = arrival
			all = append(all, m)
			prev = &m
		}
	}
	slices.SortStableFunc(all, func(a, b feed) int { return cmp.Compare(a.receipt, b.receipt) })
	all = all[:min(n, len(all))]
	if d.reset {
		// The clock jumps back once or twice; stamps follow it (a bag that loops), or not (a restarted clock).
		for range 1 + r.IntN(2) {
			at := r.IntN(len(all))
			back := r.Int64N(max(all[len(all)-1].receipt-base, 1)) + 1
			follow := r.IntN(2) == 0
			for k := at; k < len(all); k++ {
				all[k].receipt -= back
				if follow {
					all[k].stamp -= back
				}
			}
		}
		if r.IntN(2) == 0 {
			for k := range all {
				all[k].receipt += unit * int64(r.IntN(3)-1) // receipts a little out of order
			}
		}
	}
	d.msgs = all
	return d
}

// fixedStreams are the hand-written cases of timesync_test.go, replayed through C++ as well.
func fixedStreams(t *testing.T) []diffStream {
	var out []diffStream
	add := func(conf Conf, in string) {
		msgs := parseFeed(t, in)
		d := diffStream{policy: conf.Policy, topics: max(conf.Topics, 2), queue: conf.QueueSize, agePenalty: 0.1,
			maxInterval: -1, reset: strings.Contains(in, "/"), msgs: msgs}
		if d.queue == 0 {
			d.queue = DefaultQueueSize
		}
		if conf.MaxInterval > 0 {
			d.maxInterval = int64(conf.MaxInterval)
		}
		d.lowerBounds = make([]int64, d.topics)
		for i, b := range conf.LowerBounds {
			d.lowerBounds[i] = int64(b)
		}
		out = append(out, d)
	}
	for _, tt := range rosScenarios {
		add(tt.conf, tt.in)
	}
	for _, tt := range approxDropCases {
		add(tt.conf, tt.in)
	}
	for _, tt := range exactCases {
		c := tt.conf
		c.Policy = Exact
		add(c, tt.in)
	}
	return out
}

func TestMatchesROSMessageFiltersOnRandomStreams(t *testing.T) {
	bin := harness(t)
	streams := fixedStreams(t)
	nFixed := len(streams)
	r := rand.New(rand.NewPCG(2026, 12))
	for range 6000 {
		streams = append(streams, randomStream(r))
	}
	var in bytes.Buffer
	for i := range streams {
		streams[i].encode(&in)
	}
	cmd := exec.Command(bin)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // the policies' one-time warnings
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("harness: %v\n%s", err, tail(stderr.String(), 2000))
	}
	want, err := parseHarness(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != len(streams) {
		t.Fatalf("harness answered %d streams of %d", len(want), len(streams))
	}
	failures := 0
	var msgs, sets, drops int
	count := map[string]int{}
	for i := range streams {
		d := &streams[i]
		got, err := runGo(t, d)
		msgs += len(d.msgs)
		sets += len(want[i].sets)
		drops += len(want[i].drops)
		count[fmt.Sprintf("%v/%d", d.policy, d.topics)]++
		if d.reset {
			count["reset"]++
		}
		if d.maxInterval >= 0 {
			count["max interval"]++
		}
		if slices.Max(d.lowerBounds) > 0 {
			count["lower bounds"]++
		}
		if d.queue > 10 {
			count["queue > 10"]++
		}
		diff := ""
		switch {
		case err != nil:
			diff = err.Error()
		case !slices.Equal(got.sets, want[i].sets):
			diff = fmt.Sprintf("sets (k ids...):\n  Go  %q\n  C++ %q", got.sets, want[i].sets)
		case !slices.Equal(got.waiting, want[i].waiting):
			diff = fmt.Sprintf("waiting at the end: Go %v, C++ %v", got.waiting, want[i].waiting)
		case !slices.Equal(got.drops, want[i].drops):
			diff = fmt.Sprintf("ExactTime drops (k id): Go %q, C++ %q", got.drops, want[i].drops)
		}
		if diff == "" {
			continue
		}
		failures++
		if failures <= 3 {
			var b bytes.Buffer
			d.encode(&b)
			kind := "random"
			if i < nFixed {
				kind = "hand-written"
			}
			t.Errorf("%s stream %d differs from C++: %s\nstream:\n%s", kind, i, diff, tail(b.String(), 6000))
		}
	}
	if failures > 0 {
		t.Errorf("%d of %d streams differ", failures, len(streams))
	}
	t.Logf("%d streams (%d hand-written; %v), %d messages, %d sets, %d ExactTime drop reports: all identical",
		len(streams), nFixed, count, msgs, sets, drops)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// The age penalty scales ros::Durations through float64 seconds; on random and adversarial durations the
// result must equal rostime's to the nanosecond.
func TestScaledMatchesRostime(t *testing.T) {
	bin := harness(t)
	r := rand.New(rand.NewPCG(7, 1))
	type pair struct {
		d      int64
		factor float64
	}
	var pairs []pair
	for range 200_000 {
		var d int64
		switch r.IntN(4) {
		case 0:
			d = r.Int64N(2001) - 1000 // half nanoseconds after scaling
		case 1:
			d = (r.Int64N(2001) - 1000) * []int64{1e9, 1e7, 1e6, 1e3}[r.IntN(4)]
		case 2:
			d = (r.Int64N(2001)-1000)*1e9 + r.Int64N(1e9) // ros::Duration's (sec, nsec) split
		default:
			d = r.Int64N(2e15) - 1e15
		}
		f := 1 + []float64{0, 0.1, 0.5, 1.5, 0.05, 3 * r.Float64()}[r.IntN(6)]
		pairs = append(pairs, pair{d, f})
	}
	var in bytes.Buffer
	for _, p := range pairs {
		fmt.Fprintf(&in, "X %d %s\n", p.d, strconv.FormatFloat(p.factor, 'g', -1, 64))
	}
	cmd := exec.Command(bin)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(pairs) {
		t.Fatalf("harness answered %d of %d products", len(lines), len(pairs))
	}
	bad := 0
	for k, p := range pairs {
		want, err := strconv.ParseInt(strings.TrimPrefix(lines[k], "X "), 10, 64)
		if err != nil {
			t.Fatalf("harness line %q: %v", lines[k], err)
		}
		a := &approx[int]{factor: p.factor}
		if got := a.scaled(p.d); got != want {
			if bad++; bad <= 5 {
				t.Errorf("scaled(%d) by %v = %d, rostime says %d", p.d, p.factor, got, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d products differ", bad, len(pairs))
	}
}
