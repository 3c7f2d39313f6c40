package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cen-ros/cen/cen"
	"github.com/cen-ros/cen/cen/engine"
	"github.com/cen-ros/cen/preprocess"
)

// Conf configures a training run.
type Conf struct {
	// Out is the run folder: last.ckpt, best.ckpt, log.jsonl, plots and the ONNX export of the best model.
	Out string `json:"-"`
	// Resume continues the run in Out from its last.ckpt, with the configuration saved there (Steps aside).
	Resume bool `json:"-"`
	// Arch, Width and Modalities fix the network ("rgb", "depth", "hha"; one modality trains it alone).
	Arch       string   `json:"arch"`
	Width      float64  `json:"width"`
	Modalities []string `json:"modalities"`
	// Init is a cen checkpoint to start from (`cen import-torch` of the paper's released model, or of a
	// torchvision ImageNet ResNet for the encoder); "" starts from random weights. A classifier of another
	// class count is left at its initialisation, so a model trained on one data set fine-tunes on another.
	Init string `json:"init,omitempty"`
	// Data says where the frames come from.
	Data DataConf `json:"data"`
	// Spec is the preprocessing the model is evaluated and deployed with (its recipe): size, resize, depth
	// encoding. Training crops come from the augmentation at Recipe.Augment's size.
	Spec preprocess.Spec `json:"spec"`
	// Recipe is the training recipe.
	Recipe Recipe `json:"recipe"`
	// Seed makes the run reproducible: weights, data order, augmentation and dropout follow from it.
	Seed uint64 `json:"seed"`
	// Steps stops after this many optimiser steps in all (0: the whole schedule); the run can be resumed.
	Steps int `json:"-"`
	// SaveEvery writes last.ckpt every so many steps besides every epoch end (0: epoch ends only).
	SaveEvery int `json:"save_every,omitempty"`
	// ValFrames limits each validation to the first frames of the validation set (0: all of them).
	ValFrames int `json:"val_frames,omitempty"`
	// Threads is the engine's parallelism; Workers the data loader's goroutines.
	Threads int `json:"-"`
	Workers int `json:"-"`
	// Progress receives the progress bar (nil: none); Log one line per event worth knowing.
	Progress io.Writer    `json:"-"`
	Log      func(string) `json:"-"`
}

// state is what last.ckpt records besides the weights and the momentum, so that a run resumes exactly where
// it stopped.
type state struct {
	Epoch     int     `json:"epoch"` // the epoch in progress (0-based)
	Batch     int     `json:"batch"` // the next batch of that epoch
	Step      int     `json:"step"`  // optimiser steps done
	BestMIoU  float64 `json:"best_miou"`
	BestEpoch int     `json:"best_epoch"`
	Conf      Conf    `json:"conf"`
}

// Summary is what a finished (or stopped) run reports.
type Summary struct {
	Steps, Epochs      int
	BestMIoU           float64
	BestEpoch          int
	Last, Best, Export string
	Stopped            bool // stopped by Steps or a cancelled context before the schedule's end
}

// File names inside a run folder.
const (
	LastCheckpoint = "last.ckpt"
	BestCheckpoint = "best.ckpt"
	LogFile        = "log.jsonl"
	ExportFile     = "model.onnx"
)

// Run trains a network as conf says, writing the run folder as it goes.
func Run(ctx context.Context, conf Conf) (*Summary, error) {
	r := &run{log: conf.Log}
	if r.log == nil {
		r.log = func(string) {}
	}
	if err := r.setup(conf); err != nil {
		return nil, err
	}
	defer r.close()
	return r.train(ctx)
}

type run struct {
	conf       Conf
	st         state
	model      *cen.Model
	opt        *SGD
	trainSet   Dataset
	valSet     Dataset
	classes    preprocess.ClassSet
	log        func(string)
	jsonl      *os.File
	history    history
	bar        *progress
	batchesPer int
	// The step and time of the last step record in this epoch, for its images_per_s.
	rateStep int
	rateT    time.Time
}

func (r *run) setup(conf Conf) error {
	if conf.Out == "" {
		return errors.New("train: no run folder (--out)")
	}
	last := filepath.Join(conf.Out, LastCheckpoint)
	steps, threads, workers, progressW, resume := conf.Steps, conf.Threads, conf.Workers, conf.Progress, conf.Resume
	if resume {
		st, err := readState(last)
		if err != nil {
			return err
		}
		r.st = st
		conf = st.Conf
		conf.Out, conf.Resume, conf.Steps, conf.Threads, conf.Workers, conf.Progress, conf.Log = filepath.Dir(last), true, steps, threads, workers, progressW, r.log
	} else if _, err := os.Stat(last); err == nil {
		return fmt.Errorf("train: %s already holds a run (%s): continue it with --resume, or give another --out", conf.Out, LastCheckpoint)
	}
	if err := conf.Recipe.Validate(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if len(conf.Modalities) == 1 && (conf.Recipe.Lambda != 0 || conf.Recipe.Theta != 0) {
		// The unimodal rows of the paper's Table 1 are plain training: with no other modality there is
		// nothing to exchange with, and the sparsity penalty would only shrink the network.
		r.log("one modality: no channel exchange and no L1 penalty on γ (λ and θ set to 0)")
		conf.Recipe.Lambda, conf.Recipe.Theta = 0, 0
	}
	if err := os.MkdirAll(conf.Out, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	r.conf = conf
	if err := engine.Configure(engine.Options{Threads: threads}); err != nil {
		return err
	}
	var err error
	if r.trainSet, r.valSet, err = OpenDataset(conf.Data); err != nil {
		return err
	}
	if r.trainSet.Len() < conf.Recipe.Batch {
		return fmt.Errorf("train: %d training frames, fewer than one batch of %d", r.trainSet.Len(), conf.Recipe.Batch)
	}
	r.batchesPer = r.trainSet.Len() / conf.Recipe.Batch // drop_last, as the official loader
	r.classes = r.trainSet.Classes()
	if err := r.buildModel(resume, last); err != nil {
		return err
	}
	r.history.names = append(append([]string(nil), conf.Modalities...), "ensemble")
	if resume {
		// Steps logged after the checkpoint (a run killed mid-epoch) are done again: forget them.
		if err := r.history.load(filepath.Join(conf.Out, LogFile), r.st.Step); err != nil {
			return err
		}
		r.log(fmt.Sprintf("resuming %s at epoch %d, batch %d (step %d)", conf.Out, r.st.Epoch+1, r.st.Batch, r.st.Step))
	}
	if r.jsonl, err = os.OpenFile(filepath.Join(conf.Out, LogFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	r.bar = newProgress(progressW, conf.Recipe.Epochs()*r.batchesPer, conf.Recipe.Batch)
	return nil
}

func (r *run) close() {
	if r.jsonl != nil {
		r.jsonl.Close()
	}
}

// buildModel makes the network: from the last checkpoint when resuming, else fresh (or from Init).
func (r *run) buildModel(resume bool, last string) error {
	c, rc := r.conf, r.conf.Recipe
	cfg := cen.DefaultConfig(c.Arch)
	cfg.Modalities, cfg.Classes, cfg.Width = c.Modalities, len(r.classes.Names), c.Width
	cfg.Threshold, cfg.Lambda, cfg.Dropout, cfg.Penalty = rc.Theta, rc.Lambda, rc.Dropout, rc.Penalty
	m, err := cen.New(cfg, c.Seed)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	recipe := cen.Recipe{ClassNames: r.classes.Names, Palette: r.classes.Palette, Dataset: r.classes.Dataset, Preprocess: c.Spec.Metadata()}
	if err := m.SetRecipe(recipe); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	r.model = m
	r.opt = r.newSGD(r.st.Epoch, r.st.Batch)
	if resume {
		info, err := m.LoadWeights(last)
		if err != nil {
			return err
		}
		if err := r.opt.Restore(info.Extra); err != nil {
			return fmt.Errorf("train: %s: %w", last, err)
		}
		return nil
	}
	if c.Init != "" {
		skipped, err := m.LoadWeightsExcept(c.Init, "clf_conv.")
		if err != nil {
			return err
		}
		if skipped > 0 {
			r.log(fmt.Sprintf("%s: classifier of another class count left at its initialisation (%d tensors)", c.Init, skipped))
		}
		r.log(fmt.Sprintf("initialised from %s", c.Init))
	}
	return nil
}

func (r *run) newSGD(epoch, batch int) *SGD {
	enc, dec := r.conf.Recipe.rates(epoch, batch, r.batchesPer)
	return NewSGD(r.model, enc, dec, r.conf.Recipe.Momentum, r.conf.Recipe.WeightDecay)
}

// readState reads the training state of a run's last checkpoint.
func readState(path string) (state, error) {
	var st state
	info, err := cen.ReadCheckpointInfo(path)
	if err != nil {
		return st, fmt.Errorf("train: resuming: %w", err)
	}
	if len(info.State) == 0 {
		return st, fmt.Errorf("train: %s has no training state: it is not a run's checkpoint", path)
	}
	if err := json.Unmarshal(info.State, &st); err != nil {
		return st, fmt.Errorf("train: %s: bad training state: %v", path, err)
	}
	return st, nil
}

// FrameSize is the size of a data set's first training frame (height, width): the size a model trained on it
// is evaluated at by default.
func FrameSize(d DataConf) (int, int, error) {
	tr, _, err := OpenDataset(d)
	if err != nil {
		return 0, 0, err
	}
	if tr.Len() == 0 {
		return 0, 0, fmt.Errorf("train: the training list of %s is empty", d.Root)
	}
	s, err := tr.Load(0)
	if err != nil {
		return 0, 0, err
	}
	return s.RGB.Height, s.RGB.Width, nil
}

// seedOf derives a reproducible seed from the run's seed and a purpose.
func seedOf(seed uint64, parts ...any) uint64 {
	h := fnv.New64a()
	fmt.Fprint(h, seed)
	for _, p := range parts {
		fmt.Fprint(h, "/", p)
	}
	return h.Sum64()
}

func (r *run) train(ctx context.Context) (*Summary, error) {
	c, rc := r.conf, r.conf.Recipe
	sum := &Summary{Last: filepath.Join(c.Out, LastCheckpoint), Best: filepath.Join(c.Out, BestCheckpoint)}
	total := rc.Epochs()
	r.bar.start(r.st.Epoch*r.batchesPer + r.st.Batch)
	for r.st.Epoch < total {
		_, stage, start := rc.stageAt(r.st.Epoch)
		if r.st.Epoch == start && r.st.Batch == 0 && r.st.Step > 0 {
			// A new stage: the official code rebuilds its optimisers, so the momentum starts again.
			r.opt = r.newSGD(r.st.Epoch, 0)
			r.log(fmt.Sprintf("stage %d of %d: momentum reset", stage+1, len(rc.Stages)))
		}
		stopped, err := r.epoch(ctx)
		if err != nil {
			return nil, err
		}
		if stopped {
			sum.Stopped = true
			break
		}
		r.st.Epoch++
		r.st.Batch = 0
		epoch := r.st.Epoch // epochs done
		if epoch%rc.ValEvery == 0 || epoch == total {
			if err := r.validate(epoch); err != nil {
				return nil, err
			}
		}
		if err := r.save(sum.Last); err != nil {
			return nil, err
		}
	}
	r.bar.finish()
	sum.Steps, sum.Epochs, sum.BestMIoU, sum.BestEpoch = r.st.Step, r.st.Epoch, r.st.BestMIoU, r.st.BestEpoch
	if sum.Stopped {
		if err := r.save(sum.Last); err != nil {
			return nil, err
		}
		r.log(fmt.Sprintf("stopped at step %d (epoch %d, batch %d); continue with --resume %s", r.st.Step, r.st.Epoch+1, r.st.Batch, c.Out))
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
		return sum, nil
	}
	if err := r.finish(sum); err != nil {
		return nil, err
	}
	return sum, nil
}

// epoch runs the rest of the current epoch. It reports whether the run stopped before its end (Steps
// reached or ctx done).
func (r *run) epoch(ctx context.Context) (bool, error) {
	c, rc := r.conf, r.conf.Recipe
	ld, err := NewLoader(LoaderConf{Dataset: r.trainSet, Augment: rc.Augment, Spec: c.Spec, Modalities: c.Modalities,
		Batch: rc.Batch, Shuffle: true, DropLast: true, Seed: seedOf(c.Seed, "data"), Epoch: r.st.Epoch,
		StartBatch: r.st.Batch, Workers: c.Workers})
	if err != nil {
		return false, err
	}
	defer ld.Close()
	r.rateStep, r.rateT = r.st.Step, time.Now()
	for {
		if c.Steps > 0 && r.st.Step >= c.Steps || ctx.Err() != nil {
			return true, nil
		}
		b, err := ld.Next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		loss, err := r.step(b)
		if err != nil {
			return false, err
		}
		r.st.Batch++
		r.st.Step++
		r.bar.tick(loss.Total, r.st.Epoch+1, rc.Epochs())
		if r.st.Step%10 == 0 || r.st.Batch == r.batchesPer {
			// images_per_s covers loading, augmentation and the steps since the previous record of this epoch.
			now := time.Now()
			ips := float64((r.st.Step-r.rateStep)*rc.Batch) / now.Sub(r.rateT).Seconds()
			r.rateStep, r.rateT = r.st.Step, now
			r.write(map[string]any{"kind": "step", "step": r.st.Step, "epoch": r.st.Epoch + 1, "loss": loss.Total,
				"ce": loss.CE, "l1": loss.L1, "lr_encoder": r.opt.EncoderLR, "lr_decoder": r.opt.DecoderLR, "images_per_s": ips})
			r.history.addStep(r.st.Step, loss)
		}
		if c.SaveEvery > 0 && r.st.Step%c.SaveEvery == 0 {
			if err := r.save(filepath.Join(c.Out, LastCheckpoint)); err != nil {
				return false, err
			}
		}
	}
}

// step is one optimiser step on a batch.
func (r *run) step(b *Batch) (*cen.Loss, error) {
	rc := r.conf.Recipe
	r.opt.EncoderLR, r.opt.DecoderLR = rc.rates(r.st.Epoch, r.st.Batch, r.batchesPer)
	ts := make([]*engine.Tensor, len(b.Inputs))
	for i, x := range b.Inputs {
		ts[i] = engine.TensorFrom(b.N, 3, b.H, b.W, x)
	}
	r.model.ZeroGrad()
	loss, _, err := r.model.Backward(ts, b.Labels, b.H, b.W, cen.TrainOptions{BNTrain: rc.BNTrain,
		Seed: seedOf(r.conf.Seed, "dropout", r.st.Step), Ignore: r.trainSet.Ignore(), L1Once: rc.L1Once})
	if err != nil {
		return nil, fmt.Errorf("train: step %d (%s): %w", r.st.Step+1, strings.Join(b.Names, ", "), err)
	}
	if math.IsNaN(loss.Total) || math.IsInf(loss.Total, 0) {
		return nil, fmt.Errorf("train: step %d: the loss is %g (learning rate too high?); last.ckpt holds the last good epoch", r.st.Step+1, loss.Total)
	}
	r.opt.Step()
	return loss, nil
}

// save writes the weights, the momentum and the training state atomically.
func (r *run) save(path string) error {
	js, err := json.Marshal(r.st.with(r.conf))
	if err != nil {
		return err
	}
	return r.model.SaveCheckpoint(path, js, r.opt.State())
}

func (s state) with(c Conf) state {
	s.Conf = c
	return s
}

func (r *run) write(v map[string]any) {
	v["time"] = time.Now().UTC().Format(time.RFC3339Nano)
	b, err := json.Marshal(v)
	if err == nil {
		r.jsonl.Write(append(b, '\n'))
	}
}
