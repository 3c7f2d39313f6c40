package timesync

import "math"

// queue is one topic's state in the Approximate policy. Its ring holds the passed-over list P followed by the
// waiting queue Q: passing a head over and putting P back in front of Q only move the boundary between them.
type queue[T any] struct {
	ring  []Msg[T] // length a power of two
	start int      // ring index of P's first message
	past  int      // |P|
	n     int      // |Q|

	lowerBound  int64
	lastReceipt int64
	lastStamp   int64 // the topic's previous stamp (stamped: there was one), for TopicStats.UnderBound
	stamped     bool
	// dropped is C++'s has_dropped_messages_: the topic overflowed, and it may not become the pivot until
	// another topic holds the latest head.
	dropped bool
	// orphan marks a topic whose candidate message was removed from the ring by the reset rule while the
	// candidate lived on (C++ keeps a copy in the candidate tuple and emits it).
	orphan bool
}

func (q *queue[T]) at(k int) *Msg[T] { return &q.ring[(q.start+k)&(len(q.ring)-1)] }

// head is Q's first message.
func (q *queue[T]) head() *Msg[T] { return q.at(q.past) }

func (q *queue[T]) pushBack(m Msg[T]) {
	if q.past+q.n == len(q.ring) {
		grown := make([]Msg[T], 2*len(q.ring))
		for k := 0; k < q.past+q.n; k++ {
			grown[k] = *q.at(k)
		}
		q.ring, q.start = grown, 0
	}
	*q.at(q.past + q.n) = m
	q.n++
}

// popFront removes the ring's first message (P's if P is not empty, else Q's head).
func (q *queue[T]) popFront() Msg[T] {
	p := q.at(0)
	m := *p
	*p = Msg[T]{} // let the value be collected
	q.start = (q.start + 1) & (len(q.ring) - 1)
	if q.past > 0 {
		q.past--
	} else {
		q.n--
	}
	return m
}

// removeHead removes Q's head, closing the gap by shifting P up one slot.
func (q *queue[T]) removeHead() Msg[T] {
	m := *q.head()
	for k := q.past; k > 0; k-- {
		*q.at(k) = *q.at(k - 1)
	}
	*q.at(0) = Msg[T]{}
	q.start = (q.start + 1) & (len(q.ring) - 1)
	q.n--
	return m
}

// approx is the Approximate policy: message_filters' ApproximateTime, state for state.
type approx[T any] struct {
	l         *ledger[T]
	q         []queue[T]
	nonEmpty  int // topics whose Q is not empty
	queueSize int
	factor    float64 // 1 + age penalty
	maxSpread int64
	reset     bool

	pivot                         int // -1: no candidate
	pivotTime, candStart, candEnd int64
	cand                          []Msg[T]
	moves                         [MaxTopics]int // virtual moves of the current virtual search
}

func newApprox[T any](l *ledger[T], conf Conf) *approx[T] {
	a := &approx[T]{
		l:         l,
		q:         make([]queue[T], conf.Topics),
		queueSize: conf.QueueSize,
		factor:    1 + conf.AgePenalty,
		maxSpread: math.MaxInt64,
		reset:     conf.Clock != nil,
		pivot:     -1,
		cand:      make([]Msg[T], conf.Topics),
	}
	if conf.MaxInterval > 0 {
		a.maxSpread = int64(conf.MaxInterval)
	}
	capacity := 1
	for capacity < conf.QueueSize+1 && capacity < 16 { // larger rings grow when needed
		capacity *= 2
	}
	for i := range a.q {
		a.q[i].ring = make([]Msg[T], capacity)
		if conf.LowerBounds != nil {
			a.q[i].lowerBound = int64(conf.LowerBounds[i])
		}
	}
	return a
}

func (a *approx[T]) waiting(i int) int {
	q := &a.q[i]
	w := q.past + q.n
	if q.orphan {
		w++
	}
	return w
}

// scaled is d·factor computed as ros::Duration::operator*(double) does: through seconds as a float64, rounded
// back with floor for the seconds and round-half-away for the nanoseconds. The explicit conversions keep the
// compiler from fusing a multiply and an add, which would round differently from the C++ code.
func (a *approx[T]) scaled(d int64) int64 {
	sec, nsec := d/1e9, d%1e9
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	x := float64(sec) + float64(1e-9*float64(nsec))
	x = float64(x * a.factor)
	whole := math.Floor(x)
	return int64(whole)*1e9 + int64(math.Round((x-whole)*1e9))
}

func (a *approx[T]) add(i int, m Msg[T], now int64) {
	q := &a.q[i]
	if q.lowerBound > 0 && q.stamped && m.Stamp > q.lastStamp && m.Stamp-q.lastStamp < q.lowerBound {
		a.l.topics[i].UnderBound++
	}
	q.lastStamp, q.stamped = m.Stamp, true
	if a.reset && now < q.lastReceipt {
		a.clearTopic(i)
	}
	q.lastReceipt = now
	q.pushBack(m)
	if q.n == 1 {
		a.nonEmpty++
		if a.nonEmpty == len(a.q) {
			a.process()
		}
	} else if a.reset && !a.boundKept(i) {
		a.dropHeadOnReset(i)
	}
	// Note that process may have left queue i with QueueSize+1 messages.
	if q.past+q.n > a.queueSize {
		a.recoverAll() // the search is cancelled
		a.l.drop(i, q.popFront(), overflow)
		q.dropped = true
		if a.pivot >= 0 {
			a.discardCandidate()
			a.process()
		}
	}
}

// boundKept reports whether Q's newest message is in order and no closer to the one before than the lower
// bound. C++ checks this on every message that did not find its queue empty; outside reset mode a failure
// only prints a warning once.
func (a *approx[T]) boundKept(i int) bool {
	q := &a.q[i]
	last, prev := q.at(q.past+q.n-1).Stamp, q.at(q.past+q.n-2).Stamp
	return last >= prev && last-prev >= q.lowerBound
}

// dropHeadOnReset removes Q's head after a failed bound check in reset mode.
func (a *approx[T]) dropHeadOnReset(i int) {
	q := &a.q[i]
	m := q.removeHead()
	if a.pivot >= 0 && q.past == 0 && !q.orphan {
		// This was the candidate's message; the candidate keeps it, as C++ keeps its copy.
		q.orphan = true
		return
	}
	a.l.drop(i, m, reset)
}

// clearTopic is the reset of topic i after its receipt time went backwards.
func (a *approx[T]) clearTopic(i int) {
	a.recoverAll()
	q := &a.q[i]
	if q.n > 0 {
		a.nonEmpty--
	}
	for q.n > 0 {
		a.l.drop(i, q.popFront(), reset)
	}
	a.discardCandidate()
}

// recoverAll puts every passed-over message back at the front of its queue.
func (a *approx[T]) recoverAll() {
	a.nonEmpty = 0
	for i := range a.q {
		q := &a.q[i]
		q.n += q.past
		q.past = 0
		if q.n > 0 {
			a.nonEmpty++
		}
	}
}

// discardCandidate forgets the candidate without emitting it.
func (a *approx[T]) discardCandidate() {
	for i := range a.q {
		if a.q[i].orphan {
			a.l.drop(i, a.cand[i], reset)
			a.q[i].orphan = false
		}
		a.cand[i] = Msg[T]{}
	}
	a.pivot = -1
}

// makeCandidate takes the heads as the candidate and forgets the messages passed over before them.
func (a *approx[T]) makeCandidate() {
	for i := range a.q {
		q := &a.q[i]
		if q.orphan {
			a.l.drop(i, a.cand[i], reset)
			q.orphan = false
		}
		for q.past > 0 {
			a.l.drop(i, q.popFront(), superseded)
		}
		a.cand[i] = *q.head()
	}
}

// moveToPast passes over Q's head.
func (a *approx[T]) moveToPast(i int) {
	q := &a.q[i]
	q.past++
	q.n--
	if q.n == 0 {
		a.nonEmpty--
	}
}

// deleteHead drops Q's head for good (no candidate exists, so P is empty).
func (a *approx[T]) deleteHead(i int, why reason) {
	q := &a.q[i]
	a.l.drop(i, q.removeHead(), why)
	if q.n == 0 {
		a.nonEmpty--
	}
}

// publish emits the candidate, puts the passed-over messages back and removes the candidate's messages.
func (a *approx[T]) publish() {
	set := make(Set[T], len(a.cand))
	copy(set, a.cand)
	a.l.emit(set)
	a.pivot = -1
	a.nonEmpty = 0
	for i := range a.q {
		q := &a.q[i]
		q.n += q.past
		q.past = 0
		m := q.popFront()
		if q.orphan {
			// The candidate's own message left earlier; this one was never part of it.
			a.l.drop(i, m, reset)
			q.orphan = false
		}
		a.cand[i] = Msg[T]{}
		if q.n > 0 {
			a.nonEmpty++
		}
	}
}

// bounds returns the topics and stamps of the latest and the earliest head: on equal stamps the latest is
// the highest topic, the earliest the lowest, as in C++.
func (a *approx[T]) bounds() (endI int, end int64, startI int, start int64) {
	end = a.q[0].head().Stamp
	start = end
	for i := 1; i < len(a.q); i++ {
		t := a.q[i].head().Stamp
		if t >= end {
			endI, end = i, t
		}
		if t < start {
			startI, start = i, t
		}
	}
	return endI, end, startI, start
}

// virtualBounds is bounds with the earliest stamp an empty queue could still deliver in place of its head.
func (a *approx[T]) virtualBounds() (end int64, startI int, start int64) {
	for i := range a.q {
		q := &a.q[i]
		var t int64
		if q.n > 0 {
			t = q.head().Stamp
		} else {
			// P is not empty: the topic has a message in the candidate.
			t = max(q.at(q.past-1).Stamp+q.lowerBound, a.pivotTime)
		}
		if i == 0 || t >= end {
			end = t
		}
		if i == 0 || t < start {
			startI, start = i, t
		}
	}
	return end, startI, start
}

func (a *approx[T]) process() {
	for a.nonEmpty == len(a.q) {
		endI, end, startI, start := a.bounds()
		for i := range a.q {
			if i != endI {
				// No message dropped from this topic could have made a better set than these heads.
				a.q[i].dropped = false
			}
		}
		if a.pivot < 0 {
			if end-start > a.maxSpread {
				a.deleteHead(startI, tooFarApart)
				continue
			}
			if a.q[endI].dropped {
				// The would-be pivot lost messages that might have paired better.
				a.deleteHead(startI, overflow)
				continue
			}
			a.makeCandidate()
			a.candStart, a.candEnd = start, end
			a.pivot, a.pivotTime = endI, end
			a.moveToPast(startI)
		} else {
			if a.scaled(end-a.candEnd) < start-a.candStart {
				a.makeCandidate()
				a.candStart, a.candEnd = start, end
			}
			a.moveToPast(startI)
		}
		switch {
		case startI == a.pivot:
			// Every set for this pivot has been tried.
			a.publish()
		case a.scaled(end-a.candEnd) >= a.pivotTime-a.candStart:
			// Any later set spans [pivot time, end] at least, which is already worse.
			a.publish()
		case a.nonEmpty < len(a.q):
			a.virtualSearch()
		}
	}
}

// virtualSearch tries to prove the candidate optimal from the lower bounds before waiting for messages.
func (a *approx[T]) virtualSearch() {
	a.moves = [MaxTopics]int{}
	for {
		end, startI, start := a.virtualBounds()
		if a.scaled(end-a.candEnd) >= a.pivotTime-a.candStart {
			a.publish() // this also undoes the virtual moves
			return
		}
		if a.scaled(end-a.candEnd) < start-a.candStart {
			// A set that could still arrive may beat the candidate: undo and wait.
			a.nonEmpty = 0
			for i := range a.q {
				q := &a.q[i]
				q.past -= a.moves[i]
				q.n += a.moves[i]
				if q.n > 0 {
					a.nonEmpty++
				}
			}
			return
		}
		// Here start < pivot time, so the start topic has a real head. It can be the pivot's topic in reset
		// mode, after an out-of-order message removed the pivot's own message: C++ built with ROS_ASSERT
		// (no NDEBUG) aborts there on "start_index != pivot_"; release builds go on as this does.
		a.moveToPast(startI)
		a.moves[startI]++
	}
}
