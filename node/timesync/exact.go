package timesync

import "slices"

// tuple is the incomplete set of one stamp in the Exact policy.
type tuple[T any] struct {
	stamp int64
	have  uint16 // bit i: topic i has a message
	msgs  []Msg[T]
}

// exact is the Exact policy: message_filters' ExactTime. C++ keeps a map from stamp to tuple; a slice sorted
// by stamp serves here, as stamps mostly arrive in order and at most QueueSize+1 are waiting.
type exact[T any] struct {
	l          *ledger[T]
	topics     int
	queueSize  int
	reset      bool
	full       uint16
	tuples     []*tuple[T] // ascending stamps
	spare      []*tuple[T]
	lastSignal int64 // stamp of the last emitted set
	lastNow    int64
}

func newExact[T any](l *ledger[T], conf Conf) *exact[T] {
	return &exact[T]{
		l:         l,
		topics:    conf.Topics,
		queueSize: conf.QueueSize,
		reset:     conf.Clock != nil,
		full:      1<<conf.Topics - 1,
	}
}

func (e *exact[T]) waiting(i int) int {
	n := 0
	for _, t := range e.tuples {
		n += int(t.have >> i & 1)
	}
	return n
}

func (e *exact[T]) add(i int, m Msg[T], now int64) {
	if e.reset {
		if now < e.lastNow {
			for len(e.tuples) > 0 {
				e.discard(0, reset)
			}
		}
		e.lastNow = now
	}
	k, found := slices.BinarySearchFunc(e.tuples, m.Stamp, func(t *tuple[T], s int64) int {
		switch {
		case t.stamp < s:
			return -1
		case t.stamp > s:
			return 1
		}
		return 0
	})
	if !found {
		e.tuples = slices.Insert(e.tuples, k, e.newTuple(m.Stamp))
	}
	t := e.tuples[k]
	if t.have&(1<<i) != 0 {
		e.l.drop(i, t.msgs[i], superseded)
	}
	t.msgs[i] = m
	t.have |= 1 << i
	if t.have == e.full {
		set := make(Set[T], e.topics)
		copy(set, t.msgs)
		e.l.emit(set)
		e.lastSignal = t.stamp
		e.remove(k)
		// Sets older than the one just emitted can no longer be emitted in order; C++ drops them.
		for len(e.tuples) > 0 && e.tuples[0].stamp <= e.lastSignal {
			e.discard(0, superseded)
		}
	}
	for len(e.tuples) > e.queueSize {
		e.discard(0, overflow)
	}
}

func (e *exact[T]) newTuple(stamp int64) *tuple[T] {
	var t *tuple[T]
	if n := len(e.spare); n > 0 {
		t, e.spare = e.spare[n-1], e.spare[:n-1]
	} else {
		t = &tuple[T]{msgs: make([]Msg[T], e.topics)}
	}
	t.stamp = stamp
	return t
}

// discard drops the messages of tuple k.
func (e *exact[T]) discard(k int, why reason) {
	t := e.tuples[k]
	for i := range t.msgs {
		if t.have&(1<<i) != 0 {
			e.l.drop(i, t.msgs[i], why)
		}
	}
	e.remove(k)
}

// remove takes tuple k out and keeps it for reuse.
func (e *exact[T]) remove(k int) {
	t := e.tuples[k]
	clear(t.msgs)
	t.have = 0
	e.tuples = slices.Delete(e.tuples, k, k+1)
	e.spare = append(e.spare, t)
}
