package synth

import "math"

// vec is a point or direction in the room frame (x, y horizontal, z up,
// metres) or an RGB triple of linear values.
type vec struct{ x, y, z float64 }

func (a vec) add(b vec) vec       { return vec{a.x + b.x, a.y + b.y, a.z + b.z} }
func (a vec) sub(b vec) vec       { return vec{a.x - b.x, a.y - b.y, a.z - b.z} }
func (a vec) scale(s float64) vec { return vec{a.x * s, a.y * s, a.z * s} }
func (a vec) mul(b vec) vec       { return vec{a.x * b.x, a.y * b.y, a.z * b.z} }
func (a vec) dot(b vec) float64   { return a.x*b.x + a.y*b.y + a.z*b.z }
func (a vec) norm() float64       { return math.Sqrt(a.dot(a)) }
func (a vec) unit() vec           { return a.scale(1 / a.norm()) }
func (a vec) lerp(b vec, t float64) vec {
	return vec{a.x + (b.x-a.x)*t, a.y + (b.y-a.y)*t, a.z + (b.z-a.z)*t}
}
func (a vec) cross(b vec) vec {
	return vec{a.y*b.z - a.z*b.y, a.z*b.x - a.x*b.z, a.x*b.y - a.y*b.x}
}

// luminance is the Rec. 709 luminance of a linear RGB colour.
func luminance(c vec) float64 { return 0.2126*c.x + 0.7152*c.y + 0.0722*c.z }

// colour builds a linear RGB colour of luminance l from a hue in degrees and a
// saturation in [0, 1]. Drawing l and the hue separately lets two classes
// share a luminance distribution (and so the dark-surface depth dropout)
// while their hues differ.
func colour(l, hue, sat float64) vec {
	h := math.Mod(hue, 360)
	if h < 0 {
		h += 360
	}
	h /= 60
	x := 1 - math.Abs(math.Mod(h, 2)-1)
	var c vec
	switch {
	case h < 1:
		c = vec{1, x, 0}
	case h < 2:
		c = vec{x, 1, 0}
	case h < 3:
		c = vec{0, 1, x}
	case h < 4:
		c = vec{0, x, 1}
	case h < 5:
		c = vec{x, 0, 1}
	default:
		c = vec{1, 0, x}
	}
	c = vec{1, 1, 1}.lerp(c, sat)
	c = c.scale(l / luminance(c))
	return vec{math.Min(c.x, 1), math.Min(c.y, 1), math.Min(c.z, 1)}
}

func fract(v float64) float64 { return v - math.Floor(v) }
