package frames

import (
	"fmt"
	"strings"

	"github.com/bluenviron/goroslib/v2/pkg/msgs/tf2_msgs"

	"github.com/cen-ros/cen/calibration"
)

// staticTF is the tree of static transforms (/tf_static, tf2_msgs/TFMessage): for each child frame, its
// parent and the transform that maps points of the child frame into the parent frame. Camera drivers publish
// the chain depth optical frame → depth frame → camera link → colour frame → colour optical frame there.
// Callers hold Builder.mu.
type staticTF struct {
	edges map[string]tfEdge
}

type tfEdge struct {
	parent string
	t      calibration.Extrinsic // child → parent
}

// add records the transforms of one /tf_static message; a later transform of the same child replaces the
// earlier one, as tf2 does for static transforms.
func (s *staticTF) add(m *tf2_msgs.TFMessage) error {
	if s.edges == nil {
		s.edges = map[string]tfEdge{}
	}
	for _, t := range m.Transforms {
		child, parent := strings.TrimPrefix(t.ChildFrameId, "/"), strings.TrimPrefix(t.Header.FrameId, "/")
		if child == "" || parent == "" || child == parent {
			return fmt.Errorf("/tf_static transform %q → %q names no two frames", parent, child)
		}
		r, tr := t.Transform.Rotation, t.Transform.Translation
		e, err := calibration.FromQuaternion(r.X, r.Y, r.Z, r.W, [3]float64{tr.X, tr.Y, tr.Z})
		if err != nil {
			return fmt.Errorf("/tf_static transform %s → %s: %w", parent, child, err)
		}
		s.edges[child] = tfEdge{parent: parent, t: e}
	}
	return nil
}

// toRoot returns the frames from f up to its root and the transforms mapping f's points into each of them.
func (s *staticTF) toRoot(f string) ([]string, []calibration.Extrinsic) {
	frames := []string{f}
	acc := []calibration.Extrinsic{calibration.Identity()}
	for seen := map[string]bool{f: true}; ; {
		e, ok := s.edges[f]
		if !ok || seen[e.parent] {
			return frames, acc
		}
		seen[e.parent] = true
		f = e.parent
		frames = append(frames, f)
		acc = append(acc, acc[len(acc)-1].Then(e.t))
	}
}

// lookup returns the transform mapping points of frame from into frame to, through their nearest common
// ancestor.
func (s *staticTF) lookup(from, to string) (calibration.Extrinsic, error) {
	if from == to {
		return calibration.Identity(), nil
	}
	fa, ft := s.toRoot(from)
	ta, tt := s.toRoot(to)
	at := map[string]int{}
	for i, f := range ta {
		at[f] = i
	}
	for i, f := range fa {
		if j, ok := at[f]; ok {
			// from → ancestor, then ancestor → to.
			return ft[i].Then(tt[j].Inverse()), nil
		}
	}
	if len(s.edges) == 0 {
		return calibration.Extrinsic{}, fmt.Errorf("no transform received yet")
	}
	return calibration.Extrinsic{}, fmt.Errorf("frames %q and %q are not connected by the %d static transforms received", from, to, len(s.edges))
}
