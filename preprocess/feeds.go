package preprocess

import "fmt"

// Feed is which tensor of an Input a network's modality takes.
type Feed int

const (
	FeedRGB   Feed = iota // Input.RGB
	FeedDepth             // Input.Depth, encoded as the Spec says
)

// Feeds maps a network's modality names to the tensors s makes: "rgb" takes the colour tensor, "depth" the
// replicated depth and "hha" the HHA encoding, so s must encode depth that way, in 3 channels. Inference and
// training both feed networks through it. Each tensor feeds one modality at most.
func (s Spec) Feeds(modalities []string) ([]Feed, error) {
	feeds := make([]Feed, len(modalities))
	seen := map[Feed]bool{}
	for i, name := range modalities {
		switch name {
		case "rgb":
			feeds[i] = FeedRGB
		case "depth", "hha":
			want := Replicate
			if name == "hha" {
				want = HHA
			}
			if s.DepthEncoding != want {
				return nil, fmt.Errorf("modality %q cannot be fed: the preprocessing encodes depth as %s", name, s.DepthEncoding)
			}
			if s.DepthChannels != 3 {
				return nil, fmt.Errorf("modality %q cannot be fed: the network takes 3 channels, the preprocessing makes %d", name, s.DepthChannels)
			}
			feeds[i] = FeedDepth
		default:
			return nil, fmt.Errorf("modality %q cannot be fed: cen feeds rgb, depth (replicated metres) and hha", name)
		}
		if seen[feeds[i]] {
			return nil, fmt.Errorf("modalities %v feed the same input twice", modalities)
		}
		seen[feeds[i]] = true
	}
	return feeds, nil
}
