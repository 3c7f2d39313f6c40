package node

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/diagnostic_msgs"
)

// The /diagnostics conventions of ROS's diagnostic_updater (C++, 1.11), reproduced so that rqt_robot_monitor
// and the diagnostic aggregator show what their users expect: status names "<node>: <task>", the texts and
// keys of FrequencyStatus and TimeStampStatus, a topic's status as their merged summary.

// Diagnostic levels (diagnostic_msgs/DiagnosticStatus).
const (
	levelOK    = diagnostic_msgs.DiagnosticStatus_OK
	levelWarn  = diagnostic_msgs.DiagnosticStatus_WARN
	levelError = diagnostic_msgs.DiagnosticStatus_ERROR
)

// status is one DiagnosticStatus being built: diagnostic_updater's DiagnosticStatusWrapper.
type status struct {
	level   int8
	message string
	values  []diagnostic_msgs.KeyValue
}

// summary sets the level and message (diagnostic_updater's summary()).
func (s *status) summary(level int8, msg string) { s.level, s.message = level, msg }

// merge keeps the higher level; when both are above OK the messages are joined with "; "
// (diagnostic_updater's mergeSummary()).
func (s *status) merge(level int8, msg string) {
	switch {
	case (level > levelOK) == (s.level > levelOK) && level > levelOK:
		if s.message != "" && msg != "" {
			s.message += "; " + msg
		} else {
			s.message += msg
		}
	case level > s.level:
		s.message = msg
	}
	if level > s.level {
		s.level = level
	}
}

func (s *status) add(key string, value any) {
	var v string
	switch x := value.(type) {
	case float64:
		v = strconv.FormatFloat(x, 'f', 6, 64) // diagnostic_updater's "%f"
	case string:
		v = x
	default:
		v = fmt.Sprint(x)
	}
	s.values = append(s.values, diagnostic_msgs.KeyValue{Key: key, Value: v})
}

// frequencyStatus is diagnostic_updater's FrequencyStatus: events counted by tick, the rate measured over the
// last windowSize update periods.
type frequencyStatus struct {
	mu         sync.Mutex
	min, max   float64 // Hz; max +Inf when unbounded
	tolerance  float64
	windowSize int
	count      int64
	times      []time.Time
	counts     []int64
	hist       int
}

func newFrequencyStatus(min, max float64) *frequencyStatus {
	f := &frequencyStatus{min: min, max: max, tolerance: 0.1, windowSize: 5}
	f.times = make([]time.Time, f.windowSize)
	f.counts = make([]int64, f.windowSize)
	return f
}

func (f *frequencyStatus) tick() {
	f.mu.Lock()
	f.count++
	f.mu.Unlock()
}

func (f *frequencyStatus) run(now time.Time, s *status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.times[0].IsZero() { // the window starts at the first run
		for i := range f.times {
			f.times[i] = now
		}
	}
	events := f.count - f.counts[f.hist]
	window := now.Sub(f.times[f.hist]).Seconds()
	freq := float64(events) / window
	f.counts[f.hist], f.times[f.hist] = f.count, now
	f.hist = (f.hist + 1) % f.windowSize
	switch {
	case events == 0:
		s.summary(levelError, "No events recorded.")
	case freq < f.min*(1-f.tolerance):
		s.summary(levelWarn, "Frequency too low.")
	case freq > f.max*(1+f.tolerance):
		s.summary(levelWarn, "Frequency too high.")
	default:
		s.summary(levelOK, "Desired frequency met")
	}
	s.add("Events in window", events)
	s.add("Events since startup", f.count)
	s.add("Duration of window (s)", window)
	s.add("Actual frequency (Hz)", freq)
	if f.min == f.max {
		s.add("Target frequency (Hz)", f.min)
	}
	if f.min > 0 {
		s.add("Minimum acceptable frequency (Hz)", f.min*(1-f.tolerance))
	}
	if !math.IsInf(f.max, 1) {
		s.add("Maximum acceptable frequency (Hz)", f.max*(1+f.tolerance))
	}
}

// timeStampStatus is diagnostic_updater's TimeStampStatus: how old the stamps of the messages in each period
// were when they arrived.
type timeStampStatus struct {
	mu                           sync.Mutex
	minAcceptable, maxAcceptable float64 // seconds
	minDelta, maxDelta           float64
	zeroSeen, deltaValid         bool
	early, late, zero            int
}

func newTimeStampStatus() *timeStampStatus {
	return &timeStampStatus{minAcceptable: -1, maxAcceptable: 5}
}

// tick records a message stamped stamp that arrived at now.
func (t *timeStampStatus) tick(stamp, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if stamp.IsZero() || stamp.UnixNano() == 0 {
		t.zeroSeen = true
		return
	}
	d := now.Sub(stamp).Seconds()
	if !t.deltaValid || d < t.minDelta {
		t.minDelta = d
	}
	if !t.deltaValid || d > t.maxDelta {
		t.maxDelta = d
	}
	t.deltaValid = true
}

func (t *timeStampStatus) run(s *status) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.deltaValid {
		s.summary(levelWarn, "No data since last update.")
	} else {
		s.summary(levelOK, "Timestamps are reasonable.")
		if t.minDelta < t.minAcceptable {
			s.summary(levelError, "Timestamps too far in future seen.")
			t.early++
		}
		if t.maxDelta > t.maxAcceptable {
			s.summary(levelError, "Timestamps too far in past seen.")
			t.late++
		}
		if t.zeroSeen {
			s.summary(levelError, "Zero timestamp seen.")
			t.zero++
		}
	}
	if t.deltaValid {
		s.add("Earliest timestamp delay:", t.minDelta)
		s.add("Latest timestamp delay:", t.maxDelta)
	} else {
		s.add("Earliest timestamp delay:", "No data")
		s.add("Latest timestamp delay:", "No data")
	}
	s.add("Earliest acceptable timestamp delay:", t.minAcceptable)
	s.add("Latest acceptable timestamp delay:", t.maxAcceptable)
	s.add("Late diagnostic update count:", t.late)
	s.add("Early diagnostic update count:", t.early)
	s.add("Zero seen diagnostic update count:", t.zero)
	t.deltaValid, t.zeroSeen = false, false
}

// topicDiagnostic is diagnostic_updater's TopicDiagnostic: "<topic> topic status", the merged summary of the
// topic's frequency and stamp statuses.
type topicDiagnostic struct {
	topic string
	freq  *frequencyStatus
	stamp *timeStampStatus
}

func newTopicDiagnostic(topic string, expectedRate float64) *topicDiagnostic {
	max := math.Inf(1)
	if expectedRate > 0 {
		max = expectedRate
	}
	return &topicDiagnostic{topic: topic, freq: newFrequencyStatus(expectedRate, max), stamp: newTimeStampStatus()}
}

func (d *topicDiagnostic) tick(stamp, now time.Time) {
	d.freq.tick()
	d.stamp.tick(stamp, now)
}

func (d *topicDiagnostic) run(now time.Time) status {
	var s, f, t status
	d.freq.run(now, &f)
	d.stamp.run(&t)
	s.summary(f.level, f.message)
	s.merge(t.level, t.message)
	s.values = append(f.values, t.values...)
	return s
}

// window keeps the last n durations for percentiles.
type window struct {
	mu   sync.Mutex
	v    []float64
	next int
	full bool
}

func newWindow(n int) *window { return &window{v: make([]float64, n)} }

func (w *window) add(d time.Duration) {
	w.mu.Lock()
	w.v[w.next] = float64(d.Microseconds()) / 1e3
	w.next = (w.next + 1) % len(w.v)
	w.full = w.full || w.next == 0
	w.mu.Unlock()
}

// percentiles returns the p50 and p95 in milliseconds and how many samples there are.
func (w *window) percentiles() (p50, p95 float64, n int) {
	w.mu.Lock()
	n = w.next
	if w.full {
		n = len(w.v)
	}
	s := append([]float64(nil), w.v[:n]...)
	w.mu.Unlock()
	if n == 0 {
		return 0, 0, 0
	}
	sort.Float64s(s)
	at := func(q float64) float64 { return s[int(math.Round(q*float64(n-1)))] }
	return at(0.5), at(0.95), n
}
