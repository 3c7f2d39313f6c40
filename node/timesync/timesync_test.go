package timesync

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// feed is one message of a test stream: topic, stamp and receipt time in nanoseconds.
type feed struct {
	topic          int
	stamp, receipt int64
}

// parseFeed reads "A@0 B@1.5 ..." (topic letter, stamp in seconds) into messages; a receipt time may follow
// as "A@3/7" (receipt 7 s), else it is the stamp.
func parseFeed(t *testing.T, s string) []feed {
	t.Helper()
	var out []feed
	for _, f := range strings.Fields(s) {
		topic, rest, ok := strings.Cut(f, "@")
		if !ok || len(topic) != 1 || topic[0] < 'A' || topic[0] > 'I' {
			t.Fatalf("bad message %q", f)
		}
		stamp, receipt, hasReceipt := strings.Cut(rest, "/")
		m := feed{topic: int(topic[0] - 'A'), stamp: seconds(t, stamp)}
		m.receipt = m.stamp
		if hasReceipt {
			m.receipt = seconds(t, receipt)
		}
		out = append(out, m)
	}
	return out
}

func seconds(t *testing.T, s string) int64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("bad stamp %q: %v", s, err)
	}
	return int64(v * 1e9)
}

// formatSets writes sets as the tests do: the stamps in seconds, then the index of the message whose Add
// returned the set, "(0,1)@3".
func formatSets(sets [][]int64, at []int) string {
	var b strings.Builder
	for k, set := range sets {
		if k > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('(')
		for i, s := range set {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.FormatFloat(float64(s)/1e9, 'g', -1, 64))
		}
		fmt.Fprintf(&b, ")@%d", at[k])
	}
	return b.String()
}

// run feeds msgs to a Sync made from conf (with a Clock reading the receipt times when withClock) and returns
// the sets in the "(0,1)@3" form, the sync and the values of the dropped messages by reason.
func run(t *testing.T, conf Conf, withClock bool, msgs []feed) (string, *Sync[int], map[reason][]int) {
	t.Helper()
	var now int64
	if withClock {
		conf.Clock = func() int64 { return now }
	}
	s, err := New[int](conf)
	if err != nil {
		t.Fatal(err)
	}
	drops := map[reason][]int{}
	s.ledger.onDrop = func(_ int, m Msg[int], why reason) { drops[why] = append(drops[why], m.Value) }
	var sets [][]int64
	var at []int
	for k, m := range msgs {
		now = m.receipt
		for _, set := range s.Add(m.topic, m.stamp, k) {
			stamps := make([]int64, len(set))
			for i, e := range set {
				stamps[i] = e.Stamp
				if e.Value < 0 || e.Value > k || msgs[e.Value].topic != i || msgs[e.Value].stamp != e.Stamp {
					t.Fatalf("set %v holds message %d, which is not topic %d's with stamp %d", set, e.Value, i, e.Stamp)
				}
			}
			sets = append(sets, stamps)
			at = append(at, k)
		}
	}
	checkAccounting(t, s)
	return formatSets(sets, at), s, drops
}

// checkAccounting requires every received message to be emitted, dropped or waiting, exactly once.
func checkAccounting(t *testing.T, s *Sync[int]) {
	t.Helper()
	st := s.Stats()
	for i, ts := range st.Topics {
		if sum := st.Sets + ts.Overflow + ts.TooFarApart + ts.Superseded + ts.Reset + int64(ts.Waiting); sum != ts.Received {
			t.Errorf("topic %d: received %d but sets+dropped+waiting = %d (%+v, %d sets)", i, ts.Received, sum, ts, st.Sets)
		}
	}
}

// The stamps and expected sets of ROS's test_approximate_time_policy.cpp (ros_comm 1.15), as described in
// shared/reference/ros-sync-diagnostics.md §4. The C++ test checks the sets and their order; the index after
// "@" (the message whose Add emits the set) is what the C++ policy itself does, as the harness of cpp_test.go
// shows when it replays these streams.
var rosScenarios = []struct {
	name string
	conf Conf
	in   string
	want string
}{
	{"ExactMatchEmitsEachPairWhenComplete", Conf{QueueSize: 10},
		"A@0 B@0 A@3 B@3 A@6 B@6", "(0,0)@1 (3,3)@3 (6,6)@5"},
	{"PerfectMatchHoldsBackTheLastPairUntilProvenOptimal", Conf{QueueSize: 10},
		"A@0 B@1 A@3 B@4 A@6 B@7", "(0,1)@2 (3,4)@4"},
	{"ImperfectMatchSkipsMessagesThatPairWorse", Conf{QueueSize: 10},
		"A@0 B@1 A@2 A@3 B@5 A@6 B@7", "(0,1)@2 (6,5)@5"},
	{"AccelerationFollowsAChangingRate", Conf{QueueSize: 10},
		"A@0 B@7 A@12 B@15 A@17 B@18", "(12,7)@2 (17,18)@5"},
	{"DroppedMessagesQueue1", Conf{QueueSize: 1},
		"A@0 B@1 B@3 A@4 B@7 A@8 A@10 B@11 A@13 B@14", "(4,3)@4 (10,11)@8"},
	{"DroppedMessagesQueue2", Conf{QueueSize: 2},
		"A@0 B@1 B@3 A@4 B@7 A@8 A@10 B@11 A@13 B@14", "(0,1)@3 (4,3)@4 (8,7)@7 (10,11)@8"},
	{"LongQueueOverflowsAndStillFindsTheMatch", Conf{QueueSize: 5},
		"A@0 A@1 A@2 A@3 A@4 A@5 A@6 A@7 A@8 B@3 A@9 A@10 A@11 A@12 B@10 A@13", "(10,10)@14"},
	{"DoublePublishEmitsTwoSetsOnOneMessage", Conf{QueueSize: 10},
		"A@0 B@1 B@3 A@3", "(0,1)@3 (3,3)@3"},
	{"FourTopics", Conf{Topics: 4, QueueSize: 10},
		"A@0 B@1 C@2 D@3 A@5 D@5 B@6 C@6 A@8 B@9 C@10 D@11 A@10 A@13 B@14",
		"(0,1,2,3)@6 (5,6,6,5)@8 (10,9,10,11)@14"},
	{"EarlyPublishNeedsNoOtherTopic", Conf{Topics: 4, QueueSize: 10},
		"A@0 B@1 C@2 D@3 A@7", "(0,1,2,3)@4"},
	{"RateBoundOnOneTopic1.5s", Conf{QueueSize: 10, LowerBounds: []time.Duration{1500 * time.Millisecond, 0}},
		"A@0 B@1 A@3 B@4 A@6 B@7", "(0,1)@2 (3,4)@4"},
	{"RateBoundOnOneTopic2sProvesTheLastPair", Conf{QueueSize: 10, LowerBounds: []time.Duration{2 * time.Second, 0}},
		"A@0 B@1 A@3 B@4 A@6 B@7", "(0,1)@1 (3,4)@3 (6,7)@5"},
	{"RateBoundAllNone", Conf{QueueSize: 10},
		"A@0 B@1 A@3 B@4 A@6 B@7", "(0,1)@2 (3,4)@4"},
	{"RateBoundAll2sProvesTheLastPair", Conf{QueueSize: 10, LowerBounds: []time.Duration{2 * time.Second, 2 * time.Second}},
		"A@0 B@1 A@3 B@4 A@6 B@7", "(0,1)@1 (3,4)@3 (6,7)@5"},
}

func TestApproximateReproducesROSScenarios(t *testing.T) {
	for _, tt := range rosScenarios {
		t.Run(tt.name, func(t *testing.T) {
			got, _, _ := run(t, tt.conf, false, parseFeed(t, tt.in))
			if got != tt.want {
				t.Errorf("sets %s, want %s", got, tt.want)
			}
		})
	}
}

// Small streams whose drops were traced by hand through the C++ code; cpp_test.go replays them as well.
var approxDropCases = []struct {
	name  string
	conf  Conf
	in    string
	want  string
	drops map[reason][]int // values (message indices) dropped, by reason
}{
	{"PassedOverMessagesAreSupersededByABetterSet", Conf{},
		"A@0 B@1 A@2 A@3 B@5 A@6 B@7", "(0,1)@2 (6,5)@5",
		map[reason][]int{superseded: {2, 3}}},
	{"SetWiderThanMaxIntervalDropsItsEarliestMessage", Conf{MaxInterval: time.Second},
		"A@0 B@5 A@4.5 A@6", "(4.5,5)@3",
		map[reason][]int{tooFarApart: {0}}},
	{"FullQueueDropsItsOldest", Conf{QueueSize: 2},
		"A@0 A@1 A@2 B@2", "(2,2)@3",
		map[reason][]int{overflow: {0}, superseded: {1}}},
	{"OverflowedPivotDropsTheEarliestHead", Conf{QueueSize: 1},
		"A@0 B@1 B@3 A@4 B@7", "(4,3)@4",
		map[reason][]int{overflow: {1, 0}}},
	{"ClockGoingBackClearsTheTopic", Conf{},
		"A@10/10 A@11/11 B@2/2 A@2/3", "(2,2)@3",
		map[reason][]int{reset: {0, 1}}},
	{"OutOfOrderStampInResetModeDropsTheOldest", Conf{},
		"A@5/1 A@4/2 B@4/3", "(4,4)@2",
		map[reason][]int{reset: {0}}},
}

func TestApproximateCountsWhyMessagesWereDropped(t *testing.T) {
	for _, tt := range approxDropCases {
		t.Run(tt.name, func(t *testing.T) {
			got, _, drops := run(t, tt.conf, strings.Contains(tt.in, "/"), parseFeed(t, tt.in))
			if got != tt.want {
				t.Errorf("sets %s, want %s", got, tt.want)
			}
			if fmt.Sprint(drops) != fmt.Sprint(tt.drops) {
				t.Errorf("dropped %v, want %v", drops, tt.drops)
			}
		})
	}
}

// Exact policy cases (Policy is set by the test); cpp_test.go replays them as well.
var exactCases = []struct {
	name  string
	conf  Conf
	in    string
	want  string
	drops map[reason][]int
}{
	{"PairsInAnyArrivalOrder", Conf{},
		"A@1 B@2 B@1 A@2", "(1,1)@2 (2,2)@3", map[reason][]int{}},
	{"NeverPairsCloseStamps", Conf{},
		"A@0 B@0.001 A@1 B@1.001", "", map[reason][]int{}},
	{"EmittedSetDropsOlderIncompleteSets", Conf{},
		"A@1 A@2 B@3 B@2", "(2,2)@3", map[reason][]int{superseded: {0}}},
	{"OlderStampAfterASetCanStillPair", Conf{},
		"A@1 A@2 B@2 B@1 A@1", "(2,2)@2 (1,1)@4", map[reason][]int{superseded: {0}}},
	{"TooManyStampsDropsTheOldestIncompleteSet", Conf{QueueSize: 2},
		"A@1 A@2 A@3 B@1 B@2", "(2,2)@4", map[reason][]int{overflow: {0, 3}}},
	{"SameStampTwiceOnATopicReplacesTheFirst", Conf{},
		"A@1 A@1 B@1", "(1,1)@2", map[reason][]int{superseded: {0}}},
	{"FourTopics", Conf{Topics: 4},
		"A@1 B@1 C@1 D@2 D@1", "(1,1,1,1)@4", map[reason][]int{}},
	{"ClockGoingBackClearsEverything", Conf{},
		"A@5/5 B@6/6 A@1/1 B@5/2 A@5/3", "(5,5)@4", map[reason][]int{reset: {0, 1}, superseded: {2}}},
}

func TestExactPairsIdenticalStampsOnly(t *testing.T) {
	for _, tt := range exactCases {
		t.Run(tt.name, func(t *testing.T) {
			conf := tt.conf
			conf.Policy = Exact
			got, _, drops := run(t, conf, strings.Contains(tt.in, "/"), parseFeed(t, tt.in))
			if got != tt.want {
				t.Errorf("sets %s, want %s", got, tt.want)
			}
			if fmt.Sprint(drops) != fmt.Sprint(tt.drops) {
				t.Errorf("dropped %v, want %v", drops, tt.drops)
			}
		})
	}
}

func TestStatsCountSetsReceivedAndWaiting(t *testing.T) {
	_, s, _ := run(t, Conf{}, false, parseFeed(t, "A@0 B@1 A@2 A@3 B@5 A@6 B@7"))
	got := s.Stats()
	want := Stats{Sets: 2, Topics: []TopicStats{
		{Received: 4, Superseded: 2},
		{Received: 3, Waiting: 1},
	}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Stats() = %+v, want %+v", got, want)
	}
}

// A message closer to its topic's previous one than the topic's lower bound is counted (a repeated or earlier
// stamp is not: that is out of order, not too fast); a topic without a bound counts nothing.
func TestStatsCountMessagesUnderTheLowerBound(t *testing.T) {
	_, s, _ := run(t, Conf{LowerBounds: []time.Duration{2 * time.Second, 0}}, false, parseFeed(t, "A@0 B@1 A@1 A@3 B@2 A@3 A@4 B@2"))
	got := s.Stats().Topics
	if got[0].UnderBound != 2 || got[1].UnderBound != 0 {
		t.Errorf("UnderBound %d and %d, want 2 (A@1 after A@0, A@4 after A@3) and 0 (B has no bound)", got[0].UnderBound, got[1].UnderBound)
	}
}

func TestNewFillsTheCDefaults(t *testing.T) {
	s, err := New[int](Conf{})
	if err != nil {
		t.Fatal(err)
	}
	a := s.approx
	if s.conf.Topics != 2 || a.queueSize != DefaultQueueSize || a.factor != 1+0.1 || a.maxSpread != 1<<63-1 || s.conf.Policy != Approximate {
		t.Errorf("zero Conf gave topics %d, queue %d, factor %v, max spread %d, policy %v", s.conf.Topics, a.queueSize, a.factor, a.maxSpread, s.conf.Policy)
	}
	s, err = New[int](Conf{AgePenalty: NoAgePenalty})
	if err != nil {
		t.Fatal(err)
	}
	if s.approx.factor != 1 {
		t.Errorf("NoAgePenalty gave factor %v, want 1", s.approx.factor)
	}
}

func TestNewNamesTheBadField(t *testing.T) {
	tests := []struct {
		conf Conf
		want string
	}{
		{Conf{Policy: 2}, "'Policy' is 2"},
		{Conf{Topics: 1}, "'Topics' is 1; it must be between 2 and 9"},
		{Conf{Topics: 10}, "'Topics' is 10"},
		{Conf{QueueSize: -1}, "'QueueSize' is -1"},
		{Conf{AgePenalty: -0.5}, "'AgePenalty' is -0.5"},
		{Conf{AgePenalty: 1 / zero()}, "'AgePenalty' is +Inf"},
		{Conf{MaxInterval: -time.Second}, "'MaxInterval' is -1s"},
		{Conf{LowerBounds: []time.Duration{0}}, "'LowerBounds' has 1 entries; it must have one per topic (2)"},
		{Conf{LowerBounds: []time.Duration{0, -1}}, "'LowerBounds[1]' is -1ns"},
	}
	for _, tt := range tests {
		s, err := New[int](tt.conf)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "timesync: ") {
			t.Errorf("New(%+v) = %v, %v; want an error containing %q", tt.conf, s, err, tt.want)
		}
		if s != nil {
			t.Errorf("New(%+v) returned a Sync with its error", tt.conf)
		}
	}
}

func zero() float64 { return 0 }

func TestAddPanicsOnATopicOutOfRange(t *testing.T) {
	s, err := New[int](Conf{Topics: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "topic 3 out of range [0, 3)") {
			t.Errorf("recovered %v", r)
		}
	}()
	s.Add(3, 0, 0)
}

func TestScaledRoundsLikeRosDuration(t *testing.T) {
	// Expected values as rostime 0.7.2's ros::Duration::operator*(double) computes them (seconds as a
	// float64, times the factor, floor for the seconds, round-half-away for the nanoseconds); they were
	// printed by a C++ program linked with Debian's librostime.
	tests := []struct {
		d      int64
		factor float64
		want   int64
	}{
		{0, 1.1, 0},
		{1e9, 1.1, 1_100_000_000},
		{3e9, 1.1, 3_300_000_000},
		{1, 1.5, 2},
		{7, 1.5, 11},
		{-1, 1.5, -1}, // -1 ns is (-1 s, 999999999 ns) in ros::Duration
		{-7, 1.5, -10},
		{-1e9, 1.1, -1_100_000_000},
		{999_999_999, 1.1, 1_099_999_999},
		{123_456_789_012, 1, 123_456_789_012},
	}
	for _, tt := range tests {
		a := &approx[int]{factor: tt.factor}
		if got := a.scaled(tt.d); got != tt.want {
			t.Errorf("scaled(%d) by %v = %d, want %d", tt.d, tt.factor, got, tt.want)
		}
	}
}
