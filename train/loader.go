// The loader: worker goroutines that read, augment and preprocess samples into training batches ahead of the
// training loop, with batch contents fixed by (seed, epoch, batch index) alone.

package train

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/cen-ros/cen/preprocess"
)

// Official loader parameters.
const (
	// OfficialBatch is the official batch size (shuffled, drop_last=True).
	OfficialBatch = 6
	// DefaultPrefetch is the number of batches a loader prepares ahead by default.
	DefaultPrefetch = 2
)

// LoaderConf configures a Loader. The official recipe is Batch 6 with Shuffle and DropLast.
type LoaderConf struct {
	// Dataset gives the samples.
	Dataset Dataset
	// Augment augments each sample (the official recipe by default).
	Augment Augment
	// Spec turns samples into network inputs. Its input size is used for Augment mode none; the official
	// mode feeds the crop at its own size.
	Spec preprocess.Spec
	// Modalities is the network's input order: "rgb", "depth" (replicated depth: Spec.DepthEncoding
	// Replicate) and "hha" (Spec.DepthEncoding HHA). Default: "rgb" and the depth modality of the spec.
	Modalities []string
	// Batch is the batch size (default OfficialBatch).
	Batch int
	// Shuffle visits the samples in an order drawn from (Seed, Epoch); otherwise in data set order.
	Shuffle bool
	// DropLast leaves out a last batch smaller than Batch.
	DropLast bool
	// Seed and Epoch select the order and the augmentation of every sample.
	Seed  uint64
	Epoch int
	// StartBatch is the first batch to deliver, to resume an epoch: the batches are those from StartBatch
	// on of the whole epoch.
	StartBatch int
	// Workers is the number of goroutines preparing samples (default runtime.GOMAXPROCS(0)). The batches do
	// not depend on it.
	Workers int
	// Prefetch is the most batches prepared or being prepared at once (default DefaultPrefetch), which
	// bounds the loader's memory; batches Next has returned belong to the caller.
	Prefetch int
	// View is the camera of every frame, for HHA, replacing the samples' own (Sample.View); the
	// augmentation moves it with each crop.
	View *preprocess.View
}

// Batch is a training batch.
type Batch struct {
	// Inputs holds one tensor per modality, in LoaderConf.Modalities order, float32 NCHW [N, 3, H, W].
	Inputs [][]float32
	// Labels holds N label maps of H×W, row-major; Ignore marks pixels the loss skips.
	Labels []uint16
	// N is the number of samples, H and W the input size.
	N, H, W int
	// Names names the samples (Sample.Name), in batch order.
	Names []string
	// Index is the batch's index in the epoch.
	Index int
	// Ignore is the data set's ignore label.
	Ignore uint16
}

// ErrLoaderClosed is returned by Next after Close.
var ErrLoaderClosed = errors.New("train: the loader is closed")

// Loader delivers the batches of one epoch in order. Next is for one goroutine; Close may be called from
// any.
type Loader struct {
	conf    LoaderConf
	spec    preprocess.Spec   // at the training input size
	feeds   []preprocess.Feed // per modality
	order   []int
	batches int
	h, w    int
	ignore  uint16

	queue  chan *pending
	sem    chan struct{}
	jobs   chan job
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	err    error // sticky: io.EOF, a sample's error or ErrLoaderClosed
}

// pending is a batch being filled.
type pending struct {
	batch *Batch
	left  atomic.Int32
	errs  []error // per slot
	done  chan struct{}
}

type job struct {
	p     *pending
	slot  int
	index int
}

// BatchesPerEpoch returns the number of batches of an epoch of n samples.
func BatchesPerEpoch(n, batch int, dropLast bool) int {
	if batch < 1 || n < 1 {
		return 0
	}
	if dropLast {
		return n / batch
	}
	return (n + batch - 1) / batch
}

// NewLoader checks conf and starts the workers on the epoch's first batch (StartBatch).
func NewLoader(conf LoaderConf) (*Loader, error) {
	if conf.Dataset == nil {
		return nil, fmt.Errorf("train: the loader has no data set")
	}
	aug, err := conf.Augment.withDefaults()
	if err != nil {
		return nil, err
	}
	conf.Augment = aug
	if err := conf.Spec.Validate(); err != nil {
		return nil, fmt.Errorf("train: loader: %w", err)
	}
	l := &Loader{conf: conf, spec: conf.Spec, ignore: conf.Dataset.Ignore()}
	if l.h, l.w, err = aug.InputSize(conf.Spec); err != nil {
		return nil, err
	}
	l.spec.Height, l.spec.Width = l.h, l.w
	if err := l.spec.Validate(); err != nil {
		return nil, fmt.Errorf("train: loader: %w", err)
	}
	if conf.Modalities == nil {
		conf.Modalities = []string{"rgb", "depth"}
		if conf.Spec.DepthEncoding == preprocess.HHA {
			conf.Modalities[1] = "hha"
		}
	}
	if l.feeds, err = feeds(conf.Modalities, conf.Spec); err != nil {
		return nil, err
	}
	conf.Modalities = append([]string(nil), conf.Modalities...)
	if conf.Batch == 0 {
		conf.Batch = OfficialBatch
	}
	if conf.Workers == 0 {
		conf.Workers = runtime.GOMAXPROCS(0)
	}
	if conf.Prefetch == 0 {
		conf.Prefetch = DefaultPrefetch
	}
	n := conf.Dataset.Len()
	l.batches = BatchesPerEpoch(n, conf.Batch, conf.DropLast)
	switch {
	case conf.Batch < 1:
		return nil, fmt.Errorf("train: batch size %d is not positive", conf.Batch)
	case conf.Workers < 1 || conf.Prefetch < 1:
		return nil, fmt.Errorf("train: %d workers and %d prefetched batches: want at least 1 of each", conf.Workers, conf.Prefetch)
	case conf.Epoch < 0:
		return nil, fmt.Errorf("train: epoch %d is negative", conf.Epoch)
	case conf.StartBatch < 0 || conf.StartBatch > l.batches:
		return nil, fmt.Errorf("train: start batch %d is outside the epoch's %d batches", conf.StartBatch, l.batches)
	}
	l.conf = conf
	l.order = epochOrder(n, conf.Shuffle, conf.Seed, conf.Epoch)
	l.queue = make(chan *pending, conf.Prefetch)
	l.sem = make(chan struct{}, conf.Prefetch)
	l.jobs = make(chan job)
	l.closed = make(chan struct{})
	l.wg.Add(1 + conf.Workers)
	go l.produce()
	for range conf.Workers {
		go l.work()
	}
	return l, nil
}

// feeds maps modality names to tensors, as inference does (preprocess.Spec.Feeds).
func feeds(mods []string, spec preprocess.Spec) ([]preprocess.Feed, error) {
	if len(mods) == 0 {
		return nil, fmt.Errorf("train: the loader needs at least one modality")
	}
	f, err := spec.Feeds(mods)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return f, nil
}

// epochOrder returns the order in which an epoch visits n samples: a Fisher–Yates shuffle drawn from
// (seed, epoch), or 0..n−1.
func epochOrder(n int, shuffle bool, seed uint64, epoch int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if shuffle {
		r := newRNG(domainShuffle, seed, uint64(epoch))
		for i := n - 1; i > 0; i-- {
			j := r.intn(i + 1)
			order[i], order[j] = order[j], order[i]
		}
	}
	return order
}

// Len returns the number of batches in the whole epoch (StartBatch included).
func (l *Loader) Len() int { return l.batches }

// produce hands out the samples of each batch, in order, at most Prefetch batches ahead of Next.
func (l *Loader) produce() {
	defer l.wg.Done()
	defer close(l.jobs)
	defer close(l.queue)
	B := l.conf.Batch
	plane := l.h * l.w
	for b := l.conf.StartBatch; b < l.batches; b++ {
		select {
		case l.sem <- struct{}{}:
		case <-l.closed:
			return
		}
		idx := l.order[b*B : min((b+1)*B, len(l.order))]
		n := len(idx)
		p := &pending{done: make(chan struct{}), errs: make([]error, n), batch: &Batch{
			Inputs: make([][]float32, len(l.feeds)), Labels: make([]uint16, n*plane),
			N: n, H: l.h, W: l.w, Names: make([]string, n), Index: b, Ignore: l.ignore}}
		for m := range p.batch.Inputs {
			p.batch.Inputs[m] = make([]float32, n*3*plane)
		}
		p.left.Store(int32(n))
		l.queue <- p // never blocks: sem holds at most Prefetch batches
		for slot, i := range idx {
			select {
			case l.jobs <- job{p: p, slot: slot, index: i}:
			case <-l.closed:
				return
			}
		}
	}
}

// work prepares samples until the jobs run out.
func (l *Loader) work() {
	defer l.wg.Done()
	var in preprocess.Input // scratch reused across samples
	for j := range l.jobs {
		select {
		case <-l.closed:
			continue
		default:
		}
		j.p.errs[j.slot] = l.fill(&in, j)
		if j.p.left.Add(-1) == 0 {
			close(j.p.done)
		}
	}
}

// fill reads, augments and preprocesses one sample into its slot of the batch.
func (l *Loader) fill(in *preprocess.Input, j job) error {
	s, err := l.conf.Dataset.Load(j.index)
	if err != nil {
		return err
	}
	if l.conf.View != nil {
		v := *l.conf.View
		s.View = &v
	}
	a, err := l.conf.Augment.Apply(s, l.ignore, l.conf.Seed, l.conf.Epoch, j.index)
	if err != nil {
		return err
	}
	if l.spec.DepthEncoding == preprocess.HHA && a.View == nil {
		return fmt.Errorf("train: sample %s: HHA needs the camera, and the data set has none (give DataConf.Camera or LoaderConf.View)", s.Name)
	}
	if err := l.spec.InputTo(in, a.RGB, a.Depth, a.View); err != nil {
		return fmt.Errorf("train: sample %s: %w", s.Name, err)
	}
	b := j.p.batch
	plane := l.h * l.w
	for m, f := range l.feeds {
		src := in.RGB
		if f == preprocess.FeedDepth {
			src = in.Depth
		}
		copy(b.Inputs[m][j.slot*3*plane:(j.slot+1)*3*plane], src)
	}
	if err := preprocess.LabelsToNet(in.Geometry, b.Labels[j.slot*plane:(j.slot+1)*plane], a.Labels, l.ignore); err != nil {
		return fmt.Errorf("train: sample %s: %w", s.Name, err)
	}
	b.Names[j.slot] = s.Name
	return nil
}

// Next returns the next batch of the epoch, io.EOF after the last, or the first error of a sample of the
// batch (which ends the epoch: later calls return it again).
func (l *Loader) Next() (*Batch, error) {
	if l.err != nil {
		return nil, l.err
	}
	// A select picks at random among ready cases: after Close a batch may still be queued, so closed is
	// checked first.
	select {
	case <-l.closed:
		l.err = ErrLoaderClosed
		return nil, l.err
	default:
	}
	var p *pending
	select {
	case q, ok := <-l.queue:
		if !ok {
			select {
			case <-l.closed:
				l.err = ErrLoaderClosed
			default:
				l.err = io.EOF
			}
			return nil, l.err
		}
		p = q
	case <-l.closed:
		l.err = ErrLoaderClosed
		return nil, l.err
	}
	select {
	case <-p.done:
	case <-l.closed:
		l.err = ErrLoaderClosed
		return nil, l.err
	}
	<-l.sem
	for _, err := range p.errs {
		if err != nil {
			l.err = err
			l.stop()
			return nil, err
		}
	}
	return p.batch, nil
}

func (l *Loader) stop() { l.once.Do(func() { close(l.closed) }) }

// Close stops the workers and waits for them to finish. It may be called more than once.
func (l *Loader) Close() error {
	l.stop()
	l.wg.Wait()
	return nil
}
