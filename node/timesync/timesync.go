// Package timesync pairs messages from several topics by their header stamps, exactly as ROS 1's C++
// message_filters sync policies do (ros_comm 1.15, sync_policies/exact_time.h and approximate_time.h;
// http://wiki.ros.org/message_filters). It has no ROS dependency, so the live node and the offline bag
// evaluation run the same code and pair the same frames.
//
// # Exact
//
// The Exact policy waits for one message per topic with the very same stamp. Incomplete sets are kept by
// stamp; emitting a set discards every incomplete set with an older or equal stamp, and when more than
// QueueSize stamps are waiting the oldest incomplete set is discarded. A second message with the same stamp
// on the same topic replaces the first. As in C++, a stamp older than the last emitted set can still form a
// set if all its messages arrive afterwards.
//
// # Approximate
//
// The Approximate policy emits sets whose stamps lie close together, choosing among the waiting messages the
// set with the smallest spread (latest stamp minus earliest), with an optional penalty on how old a set is.
// Each message is used at most once. The algorithm is the one by Blaise Gassend in message_filters, retold here:
//
// Every topic has a queue of waiting messages and a list of messages passed over during the current search.
// When every queue holds a message, the queue heads form the first candidate set, and the topic with the latest
// head becomes the pivot: every set still worth considering holds the pivot's message or a later one, so it
// ends at or after the pivot time. The search then walks forward in time. It passes over the earliest head
// (moves it to its topic's list) and compares the new heads with the candidate: they replace it when their
// spread (latest stamp minus earliest) is smaller, where heads ending d later than the candidate must be
// smaller by more than d·AgePenalty. The candidate is emitted as soon as no later set can beat it: when the
// pivot's own message is the earliest head (every set holding it has been seen), or when even a set from the
// pivot time to the current end would lose. When a queue runs empty before that, the search asks whether a
// set still to come might beat the candidate, taking for each empty topic the earliest stamp it could still
// deliver: its last passed-over stamp plus its lower bound (LowerBounds), and no earlier than the pivot time.
// With those optimistic "virtual" heads it goes on; it emits if that proves the candidate optimal, and
// otherwise undoes the virtual steps and waits for more messages. Emitting puts every passed-over message back
// at the front of its queue and removes the set's messages, so a message passed over for one set may still
// join the next. A better candidate discards the messages passed over before it.
//
// Without a candidate, a set wider than MaxInterval drops its earliest message, and so does a set whose pivot
// topic just overflowed (a dropped message might have made a better set). A queue holding more than QueueSize
// messages (waiting plus passed over) cancels the search and drops its oldest message.
//
// Every decision here follows the C++ code, including its tie rules (the latest head is taken from the
// highest topic index, the earliest from the lowest) and its arithmetic: the age penalty is applied to a
// ros::Duration through a float64 number of seconds and rounded back to nanoseconds as rostime does. A test
// compiles a harness against Debian's libmessage-filters-dev and requires identical output on random streams.
// Where C++ built with assertions (no NDEBUG) aborts, in reset mode after an out-of-order message removed the
// pivot's own message, Sync goes on as release builds of the C++ code do.
//
// A Sync is not safe for concurrent use: one goroutine (the node's) owns it. It starts no goroutines.
package timesync

import (
	"fmt"
	"math"
	"time"
)

// MaxTopics is the most topics one Sync can pair, as in the C++ policies.
const MaxTopics = 9

// Policy says how a Sync matches stamps.
type Policy int

const (
	// Approximate pairs messages whose stamps are close (C++ sync_policies::ApproximateTime).
	Approximate Policy = iota
	// Exact pairs messages whose stamps are identical (C++ sync_policies::ExactTime).
	Exact
)

// String returns the policy's name as the C++ class calls it.
func (p Policy) String() string {
	switch p {
	case Approximate:
		return "ApproximateTime"
	case Exact:
		return "ExactTime"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

const (
	// DefaultQueueSize is the queue size a zero Conf.QueueSize means.
	DefaultQueueSize = 10
	// DefaultAgePenalty is the age penalty a zero Conf.AgePenalty means; it is the C++ default.
	DefaultAgePenalty = 0.1
	// NoAgePenalty is the Conf.AgePenalty that asks for no age penalty at all (C++ setAgePenalty(0)).
	NoAgePenalty = -1.0
)

// Conf configures a Sync. Its zero value is an Approximate sync of two topics with the C++ defaults.
type Conf struct {
	// (optional) Policy chooses exact or approximate matching.
	// It defaults to Approximate.
	Policy Policy

	// (optional) Topics is the number of input topics, 2 to MaxTopics; topic indices run from 0 to Topics-1.
	// It defaults to 2 (colour and depth).
	Topics int

	// (optional) QueueSize bounds what waits. Approximate: the messages held per topic, waiting or passed over
	// (C++ queue_size); the C++ code warns that 1 drops many messages and recommends at least 2. Exact: the
	// number of distinct stamps with an incomplete set. (C++ ExactTime takes 0 as unbounded; Sync has no
	// unbounded queue.)
	// It defaults to DefaultQueueSize (10).
	QueueSize int

	// (optional) AgePenalty (Approximate only) makes older sets lose against newer ones: a set ending d later
	// than another wins when its spread is smaller by more than d·AgePenalty. It must be >= 0; use
	// NoAgePenalty for 0.
	// It defaults to DefaultAgePenalty (0.1), the C++ default.
	AgePenalty float64

	// (optional) MaxInterval (Approximate only) is the widest spread a set may have. There is no way to ask
	// for 0; the Exact policy pairs identical stamps.
	// It defaults to unlimited (C++ ros::DURATION_MAX).
	MaxInterval time.Duration

	// (optional) LowerBounds (Approximate only), when not nil, holds one duration per topic: the least time
	// between two consecutive stamps on that topic (C++ setInterMessageLowerBound). A bound lets the policy
	// emit a set without waiting for the next message; a message closer than its bound only causes a warning
	// in C++ and nothing here (but see Clock).
	// It defaults to 0 for every topic.
	LowerBounds []time.Duration

	// (optional) Clock turns on the reset that C++ enables with setReset(true) under simulated time, for bags
	// played in a loop or restarted. Add calls it for the receipt time of the message it is given (in
	// nanoseconds: ros::Time::now() in the node, the record time in a bag). Exact: a receipt time earlier than
	// the previous one discards every waiting message. Approximate: a receipt time earlier than the previous
	// one on the same topic discards that topic's waiting messages and the search in progress; and a message
	// whose stamp is out of order, or closer to the previous one than its lower bound, discards the oldest
	// message in its topic's queue (not counting those passed over by the search in progress), even when
	// that message is part of the candidate set, which C++ then still emits. Leave Clock nil with wall-clock
	// time: C++ never resets then.
	// It defaults to nil (no reset).
	Clock func() int64
}

// SameBound is Conf.LowerBounds for n topics that share the bound b, as C++ setInterMessageLowerBound(b) sets
// it on every topic; nil (no bound) when b is 0 or less.
func SameBound(n int, b time.Duration) []time.Duration {
	if b <= 0 {
		return nil
	}
	bs := make([]time.Duration, n)
	for i := range bs {
		bs[i] = b
	}
	return bs
}

// Msg is one message as a Sync sees it.
type Msg[T any] struct {
	// Stamp is the header stamp in nanoseconds (sec·1e9 + nsec).
	Stamp int64
	// Value is what the caller passed to Add with that stamp.
	Value T
}

// Set is one matched set: Set[i] is the message of topic i.
type Set[T any] []Msg[T]

// TopicStats counts one topic's messages since New. Every message passed to Add is in exactly one place:
// Received = Stats.Sets + Overflow + TooFarApart + Superseded + Reset + Waiting.
type TopicStats struct {
	// Received counts the calls to Add for the topic.
	Received int64
	// Overflow counts messages dropped because a queue was full: the oldest message of a full queue
	// (Approximate: of the topic's own queue; Exact: of the oldest incomplete set), and, Approximate only, the
	// earliest head when the topic that would end its set had just lost messages that way.
	Overflow int64
	// TooFarApart counts messages dropped as the earliest of queue heads spanning more than MaxInterval.
	TooFarApart int64
	// Superseded counts messages dropped because something better came: Approximate, a message passed over
	// before a better set was found; Exact, a message of an incomplete set older than an emitted set, or one
	// replaced by a later message with the same stamp on the same topic.
	Superseded int64
	// Reset counts messages discarded by the Clock reset.
	Reset int64
	// Waiting is the number of the topic's messages held now; they may still be emitted.
	Waiting int
	// UnderBound (Approximate with LowerBounds; not part of the sum above) counts messages stamped later than
	// the topic's previous one by less than its lower bound. The bound is then wrong for the camera, and a
	// set may be emitted that a later message would have beaten; C++ only warns once in its log.
	UnderBound int64
}

// Stats is what a Sync has done since New, for /diagnostics.
type Stats struct {
	// Sets counts the emitted sets; each used one message of every topic.
	Sets int64
	// Topics holds one entry per topic.
	Topics []TopicStats
}

// reason is why a message left a Sync without being emitted.
type reason int

const (
	overflow reason = iota
	tooFarApart
	superseded
	reset
)

// ledger is what both policies report to: the sets emitted by the current Add and the counters.
type ledger[T any] struct {
	out    []Set[T]
	sets   int64
	topics []TopicStats
	// onDrop, when set (by tests), sees every dropped message.
	onDrop func(topic int, m Msg[T], why reason)
}

func (l *ledger[T]) emit(set Set[T]) {
	l.out = append(l.out, set)
	l.sets++
}

func (l *ledger[T]) drop(topic int, m Msg[T], why reason) {
	t := &l.topics[topic]
	switch why {
	case overflow:
		t.Overflow++
	case tooFarApart:
		t.TooFarApart++
	case superseded:
		t.Superseded++
	case reset:
		t.Reset++
	}
	if l.onDrop != nil {
		l.onDrop(topic, m, why)
	}
}

// Sync pairs messages of Conf.Topics topics. Create it with New.
type Sync[T any] struct {
	conf   Conf
	ledger ledger[T]
	approx *approx[T]
	exact  *exact[T]
}

// New returns a Sync for conf, or an error naming the first field that is out of range.
func New[T any](conf Conf) (*Sync[T], error) {
	switch conf.Policy {
	case Approximate, Exact:
	default:
		return nil, fmt.Errorf("timesync: 'Policy' is %d; it must be Approximate or Exact", int(conf.Policy))
	}
	if conf.Topics == 0 {
		conf.Topics = 2
	}
	if conf.Topics < 2 || conf.Topics > MaxTopics {
		return nil, fmt.Errorf("timesync: 'Topics' is %d; it must be between 2 and %d", conf.Topics, MaxTopics)
	}
	if conf.QueueSize == 0 {
		conf.QueueSize = DefaultQueueSize
	}
	if conf.QueueSize < 0 {
		return nil, fmt.Errorf("timesync: 'QueueSize' is %d; it must be positive", conf.QueueSize)
	}
	switch {
	case conf.AgePenalty == 0:
		conf.AgePenalty = DefaultAgePenalty
	case conf.AgePenalty == NoAgePenalty:
		conf.AgePenalty = 0
	case conf.AgePenalty < 0 || math.IsNaN(conf.AgePenalty) || math.IsInf(conf.AgePenalty, 0):
		return nil, fmt.Errorf("timesync: 'AgePenalty' is %g; it must be a finite number >= 0 (or NoAgePenalty)", conf.AgePenalty)
	}
	if conf.MaxInterval < 0 {
		return nil, fmt.Errorf("timesync: 'MaxInterval' is %v; it must not be negative", conf.MaxInterval)
	}
	if conf.LowerBounds != nil {
		if len(conf.LowerBounds) != conf.Topics {
			return nil, fmt.Errorf("timesync: 'LowerBounds' has %d entries; it must have one per topic (%d)", len(conf.LowerBounds), conf.Topics)
		}
		for i, b := range conf.LowerBounds {
			if b < 0 {
				return nil, fmt.Errorf("timesync: 'LowerBounds[%d]' is %v; it must not be negative", i, b)
			}
		}
		conf.LowerBounds = append([]time.Duration(nil), conf.LowerBounds...)
	}
	s := &Sync[T]{conf: conf}
	s.ledger.topics = make([]TopicStats, conf.Topics)
	if conf.Policy == Exact {
		s.exact = newExact(&s.ledger, conf)
	} else {
		s.approx = newApprox(&s.ledger, conf)
	}
	return s, nil
}

// Add gives s a message of topic (0 to Conf.Topics-1) with header stamp in nanoseconds, and returns the sets
// the policy emits because of it, oldest first: usually none or one, sometimes more, and an approximate set
// need not hold this message (it may only prove an older set optimal). The returned slice and sets belong to
// the caller. Add panics if topic is out of range, as an index would.
func (s *Sync[T]) Add(topic int, stamp int64, v T) []Set[T] {
	if topic < 0 || topic >= s.conf.Topics {
		panic(fmt.Sprintf("timesync: topic %d out of range [0, %d)", topic, s.conf.Topics))
	}
	var now int64
	if s.conf.Clock != nil {
		now = s.conf.Clock()
	}
	s.ledger.topics[topic].Received++
	m := Msg[T]{Stamp: stamp, Value: v}
	if s.exact != nil {
		s.exact.add(topic, m, now)
	} else {
		s.approx.add(topic, m, now)
	}
	out := s.ledger.out
	s.ledger.out = nil
	return out
}

// Stats returns the counters since New and what waits now.
func (s *Sync[T]) Stats() Stats {
	st := Stats{Sets: s.ledger.sets, Topics: append([]TopicStats(nil), s.ledger.topics...)}
	for i := range st.Topics {
		if s.exact != nil {
			st.Topics[i].Waiting = s.exact.waiting(i)
		} else {
			st.Topics[i].Waiting = s.approx.waiting(i)
		}
	}
	return st
}
