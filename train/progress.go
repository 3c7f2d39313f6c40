package train

import (
	"fmt"
	"io"
	"math"
	"os"
	"time"
)

// progress is the training progress bar: one line, redrawn in place on a terminal and printed every 10 s
// otherwise, with the loss, images per second and the estimated time left.
type progress struct {
	w          io.Writer
	tty        bool
	total      int // steps in the whole schedule
	batch      int
	done, base int
	t0, last   time.Time
	loss       float64
}

func newProgress(w io.Writer, total, batch int) *progress {
	p := &progress{w: w, total: total, batch: batch}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) start(done int) { p.done, p.base, p.t0 = done, done, time.Now() }

func (p *progress) tick(loss float64, epoch, epochs int) {
	if p.w == nil {
		return
	}
	p.done++
	// An exponential average smooths the loss the bar shows.
	if p.done == p.base+1 {
		p.loss = loss
	} else {
		p.loss = 0.9*p.loss + 0.1*loss
	}
	now := time.Now()
	if !p.tty && now.Sub(p.last) < 10*time.Second && p.done < p.total {
		return
	}
	if p.tty && now.Sub(p.last) < 200*time.Millisecond && p.done < p.total {
		return
	}
	p.last = now
	el := now.Sub(p.t0).Seconds()
	rate := float64((p.done-p.base)*p.batch) / el
	eta := "?"
	if p.done > p.base {
		left := time.Duration(float64(p.total-p.done) * el / float64(p.done-p.base) * float64(time.Second))
		eta = left.Round(time.Second).String()
	}
	width := 24
	filled := width * p.done / max(p.total, 1)
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = '.'
		if i < filled {
			bar[i] = '#'
		}
	}
	line := fmt.Sprintf("epoch %d/%d [%s] step %d/%d loss %.4f %.2f img/s ETA %s", epoch, epochs, bar, p.done, p.total, p.loss, rate, eta)
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progress) finish() {
	if p.w != nil && p.tty {
		fmt.Fprintln(p.w)
	}
}

func pow(x, y float64) float64 {
	if x <= 0 {
		return 0
	}
	return math.Pow(x, y)
}
