package synth

import "math"

// pattern selects the procedural texture of a material.
type pattern uint8

const (
	patPlain   pattern = iota // c0 with low-frequency mottling
	patStripes                // wallpaper: c0 and c1 bands along s
	patWood                   // floor planks along s (t if flag), grain between c0 and c1
	patTiles                  // square tiles of c0, grout c1
	patCarpet                 // fibre noise on c0; stripes or a border in c1
	patArt                    // artwork: background c0, frame c1, coloured blocks
	patSlats                  // crate: horizontal slats of c0, gaps c1
	patCabinet                // wood or paint c0, door lines c1 and handles c2 on the front
	patDoor                   // wood or paint c0, inset panel lines c1, handle c2
	patWindow                 // frame c1, glass: sky from c2 (bottom) to c0 (top)
)

// Faces of a box, for textures that decorate one side.
const (
	faceFront uint8 = iota // the face away from the wall a box stands against (or a chosen one)
	faceSide
	faceTop
)

// texel is where a ray met a surface, in the surface's own coordinates.
type texel struct {
	s, t float64 // metric coordinates along the surface (t is height on vertical faces)
	a, b float64 // normalised position in the object's rectangle, 0..1 (b up on vertical faces)
	w, h float64 // the rectangle's size in metres
	face uint8
}

// block is a shape of an artwork, in normalised coordinates.
type block struct {
	a0, a1, b0, b1 float64
	disc           bool
	c              vec
}

// material is a procedural surface. ir is its reflectance at the depth
// sensor's infrared wavelength, which decides the dark-surface dropout; it
// is the luminance of the base colour, so the texture's dark lines and gaps
// do not make holes that would let depth see appearance.
type material struct {
	pattern    pattern
	c0, c1, c2 vec
	period     float64 // pattern period or feature size, metres
	amp        float64 // strength of the noise
	frame      float64 // border, frame or inset width, metres
	flag       bool    // wood (door, cabinet), planks along t (floor), mullion (window)
	alt        bool    // door handle on the right
	variant    uint8   // carpet: plain, stripes, border; door: panel rows; cabinet: drawer
	seed       uint64
	blocks     []block
	ir         float64
	specular   bool
}

func (m *material) finish(r *rng) *material {
	m.seed = r.next()
	m.ir = luminance(m.c0)
	return m
}

// Colour distributions per class. The ranges of luminance are chosen so that
// only cabinets and crates (which share one distribution) fall under the
// dark-surface dropout threshold.

func wallMaterial(r *rng) *material {
	c0 := colour(r.uniform(0.35, 0.75), r.uniform(0, 360), r.uniform(0, 0.18))
	m := &material{pattern: patPlain, c0: c0, period: r.uniform(0.6, 1.5), amp: r.uniform(0.03, 0.08)}
	if r.chance(0.25) {
		m.pattern = patStripes
		m.c1 = c0.scale(r.uniform(0.86, 0.95))
		m.period = r.uniform(0.08, 0.3)
	}
	return m.finish(r)
}

func floorMaterial(r *rng) *material {
	switch p := r.float(); {
	case p < 0.45:
		c0 := colour(r.uniform(0.1, 0.35), r.uniform(18, 40), r.uniform(0.4, 0.7))
		return (&material{pattern: patWood, c0: c0, c1: c0.scale(r.uniform(0.65, 0.85)),
			period: r.uniform(0.1, 0.2), flag: r.chance(0.5), amp: 1}).finish(r)
	case p < 0.8:
		l := r.uniform(0.25, 0.6)
		c0 := colour(l, r.uniform(0, 360), r.uniform(0, 0.2))
		return (&material{pattern: patTiles, c0: c0, c1: colour(l*r.uniform(0.5, 1.2), r.uniform(0, 360), r.uniform(0, 0.1)),
			period: r.uniform(0.3, 0.6), frame: r.uniform(0.004, 0.01), amp: 0.06}).finish(r)
	default:
		c0 := colour(r.uniform(0.15, 0.35), r.uniform(0, 360), r.uniform(0, 0.08))
		return (&material{pattern: patPlain, c0: c0, period: r.uniform(0.3, 1), amp: r.uniform(0.1, 0.2)}).finish(r)
	}
}

func ceilingMaterial(r *rng) *material {
	return (&material{pattern: patPlain, c0: colour(r.uniform(0.6, 0.85), r.uniform(0, 360), r.uniform(0, 0.06)),
		period: 1, amp: 0.03}).finish(r)
}

func metal(r *rng) vec { return colour(r.uniform(0.35, 0.6), r.uniform(30, 60), r.uniform(0, 0.15)) }

func doorMaterial(r *rng) *material {
	m := &material{pattern: patDoor, c2: metal(r), frame: 0.012, variant: uint8(r.between(1, 2)), flag: r.chance(0.6)}
	if m.flag { // wood
		m.c0 = colour(r.uniform(0.1, 0.3), r.uniform(15, 40), r.uniform(0.45, 0.75))
	} else {
		m.c0 = colour(r.uniform(0.12, 0.35), r.uniform(0, 360), r.uniform(0.3, 0.6))
	}
	m.c1 = m.c0.scale(0.55)
	m.alt = r.chance(0.5)
	return m.finish(r)
}

func windowMaterial(r *rng) *material {
	return (&material{pattern: patWindow,
		c0:    colour(r.uniform(0.5, 0.8), r.uniform(195, 220), r.uniform(0.25, 0.55)),
		c1:    colour(r.uniform(0.5, 0.8), r.uniform(0, 360), r.uniform(0, 0.1)),
		c2:    colour(r.uniform(0.6, 0.9), r.uniform(30, 60), r.uniform(0, 0.2)),
		frame: r.uniform(0.04, 0.08), flag: r.chance(0.6)}).finish(r)
}

// artMaterial is shared by posters and panels: one generator, so that their
// colours cannot tell them apart.
func artMaterial(r *rng) *material {
	m := &material{pattern: patArt,
		c0:    colour(r.uniform(0.15, 0.7), r.uniform(0, 360), r.uniform(0.4, 0.9)),
		c1:    colour(r.uniform(0.04, 0.25), r.uniform(0, 360), r.uniform(0, 0.5)),
		frame: r.uniform(0.015, 0.06), amp: 0.05}
	for n := r.between(2, 5); n > 0; n-- {
		ca, cb := r.uniform(0.1, 0.9), r.uniform(0.1, 0.9)
		ha, hb := r.uniform(0.08, 0.3), r.uniform(0.08, 0.3)
		m.blocks = append(m.blocks, block{a0: ca - ha, a1: ca + ha, b0: cb - hb, b1: cb + hb, disc: r.chance(0.3),
			c: colour(r.uniform(0.07, 0.8), r.uniform(0, 360), r.uniform(0.2, 1))})
	}
	return m.finish(r)
}

// carpetMaterial is shared by rugs and platforms.
func carpetMaterial(r *rng) *material {
	m := &material{pattern: patCarpet,
		c0:      colour(r.uniform(0.07, 0.4), r.uniform(0, 360), r.uniform(0.3, 0.8)),
		c1:      colour(r.uniform(0.07, 0.5), r.uniform(0, 360), r.uniform(0.2, 0.8)),
		amp:     r.uniform(0.08, 0.2),
		variant: uint8(r.between(0, 2)), // plain, stripes, border
		period:  r.uniform(0.1, 0.4), frame: r.uniform(0.05, 0.15)}
	return m.finish(r)
}

// boxLuminance is the one luminance distribution of cabinets and crates.
func boxLuminance(r *rng) float64 { return r.uniform(0.03, 0.55) }

func cabinetMaterial(r *rng) *material {
	l := boxLuminance(r)
	m := &material{pattern: patCabinet, c2: metal(r), frame: 0.008, flag: r.chance(0.55), variant: uint8(r.between(0, 1))}
	if m.flag { // wood
		m.c0 = colour(l, r.uniform(15, 40), r.uniform(0.35, 0.7))
	} else {
		m.c0 = colour(l, r.uniform(0, 360), r.uniform(0, 0.1))
	}
	m.c1 = m.c0.scale(0.45)
	return m.finish(r)
}

// crateHues avoids the wood hues (15–60°) of cabinets.
var crateHues = []float64{0, 120, 185, 220, 280, 330}

func crateMaterial(r *rng) *material {
	l := boxLuminance(r)
	c0 := colour(l, crateHues[r.between(0, len(crateHues)-1)]+r.uniform(-10, 10), r.uniform(0.65, 0.95))
	return (&material{pattern: patSlats, c0: c0, c1: c0.scale(0.35), period: r.uniform(0.08, 0.15),
		frame: r.uniform(0.15, 0.3)}).finish(r)
}

func vaseMaterial(r *rng) *material {
	return (&material{pattern: patPlain, c0: colour(r.uniform(0.1, 0.5), r.uniform(0, 360), r.uniform(0.5, 0.9)),
		period: 0.2, amp: 0.05, specular: true}).finish(r)
}

// albedo evaluates the material at a texel. glass reports window glass,
// which is lit from outside and gives the depth sensor no return.
func (m *material) albedo(tx *texel) (c vec, glass bool) {
	switch m.pattern {
	case patPlain:
		return m.c0.scale(1 + m.amp*(2*fbm(m.seed, tx.s/m.period, tx.t/m.period)-1)), false
	case patStripes:
		c = m.c0
		if fract(tx.s/m.period) < 0.5 {
			c = m.c1
		}
		return c.scale(1 + 0.04*(2*valueNoise(m.seed, tx.s, tx.t)-1)), false
	case patWood:
		s, t := tx.s, tx.t
		if m.flag {
			s, t = t, s
		}
		return m.wood(s, t, m.period), false
	case patTiles:
		if fract(tx.s/m.period)*m.period < m.frame || fract(tx.t/m.period)*m.period < m.frame {
			return m.c1, false
		}
		return m.c0.scale(1 + m.amp*(2*cell(m.seed, tx.s, tx.t, m.period)-1)), false
	case patCarpet:
		return m.carpet(tx), false
	case patArt:
		return m.art(tx), false
	case patSlats:
		return m.slats(tx), false
	case patCabinet:
		return m.cabinet(tx), false
	case patDoor:
		return m.door(tx), false
	case patWindow:
		return m.window(tx)
	}
	return m.c0, false
}

// wood is planks of width w along s with staggered ends and grain.
func (m *material) wood(s, t, w float64) vec {
	plank := math.Floor(t / w)
	off := unit(hash2(m.seed, int64(plank), 0)) * 1.5
	seg := math.Floor((s + off) / 1.2)
	tint := 0.85 + 0.3*unit(hash2(m.seed+7, int64(plank), int64(seg)))
	grain := 0.5 + 0.5*math.Sin(t*90+6*valueNoise(m.seed+3, s*1.5, t*8))
	c := m.c0.lerp(m.c1, grain*0.6).scale(tint)
	if fract(t/w) < 0.04 || fract((s+off)/1.2) < 0.004 {
		c = c.scale(0.6)
	}
	return c
}

// edge is the metric distance from the texel to its rectangle's border.
func (tx *texel) edge() float64 {
	return math.Min(math.Min(tx.a, 1-tx.a)*tx.w, math.Min(tx.b, 1-tx.b)*tx.h)
}

func (m *material) carpet(tx *texel) vec {
	fibre := 1 + m.amp*(2*cell(m.seed, tx.s, tx.t, 0.012)-1)
	c := m.c0
	switch m.variant {
	case 1: // stripes along s
		if fract(tx.s/m.period) < 0.5 {
			c = m.c1
		}
	case 2: // border
		if tx.edge() < m.frame {
			c = m.c1
		}
	}
	return c.scale(fibre)
}

func (m *material) art(tx *texel) vec {
	if tx.edge() < m.frame {
		return m.c1
	}
	c := m.c0
	for i := len(m.blocks) - 1; i >= 0; i-- {
		b := &m.blocks[i]
		if b.disc {
			da, db := (tx.a-(b.a0+b.a1)/2)/(b.a1-b.a0), (tx.b-(b.b0+b.b1)/2)/(b.a1-b.a0)*tx.h/tx.w
			if da*da+db*db < 0.25 {
				c = b.c
				break
			}
		} else if tx.a >= b.a0 && tx.a < b.a1 && tx.b >= b.b0 && tx.b < b.b1 {
			c = b.c
			break
		}
	}
	return c.scale(1 + m.amp*(2*valueNoise(m.seed, tx.s*8, tx.t*8)-1))
}

func (m *material) slats(tx *texel) vec {
	along := tx.t
	if tx.face == faceTop {
		along = tx.s
	}
	if fract(along/m.period) < m.frame {
		return m.c1
	}
	slat := math.Floor(along / m.period)
	c := m.c0.scale(0.92 + 0.16*unit(hash2(m.seed, int64(slat), 1)))
	if tx.face != faceTop && math.Min(tx.a, 1-tx.a)*tx.w < 0.035 {
		c = c.scale(0.8)
	}
	return c
}

func (m *material) cabinet(tx *texel) vec {
	var c vec
	if m.flag {
		c = m.wood(tx.t, tx.s, 0.6)
	} else {
		c = m.c0.scale(1 + 0.04*(2*valueNoise(m.seed, tx.s*3, tx.t*3)-1))
	}
	if tx.face != faceFront {
		return c
	}
	x, y := tx.a*tx.w, tx.b*tx.h
	if tx.edge() < 0.02+m.frame && tx.edge() > 0.02 {
		return m.c1
	}
	top := tx.h
	if m.variant == 1 && tx.h > 0.5 { // a drawer across the top
		top = tx.h - 0.2
		if math.Abs(y-top) < m.frame {
			return m.c1
		}
		if math.Abs(x-tx.w/2) < 0.06 && math.Abs(y-(top+0.1)) < 0.012 {
			return m.c2
		}
	}
	if y < top {
		if tx.w > 0.6 { // two doors
			d := math.Abs(x - tx.w/2)
			if d < m.frame/2 {
				return m.c1
			}
			if d > 0.03 && d < 0.045 && math.Abs(y-top*0.6) < 0.06 {
				return m.c2
			}
		} else if math.Abs(x-(tx.w-0.06)) < 0.008 && math.Abs(y-top*0.6) < 0.06 {
			return m.c2
		}
	}
	return c
}

func (m *material) door(tx *texel) vec {
	var c vec
	if m.flag {
		c = m.wood(tx.t, tx.s, 0.9)
	} else {
		c = m.c0.scale(1 + 0.03*(2*valueNoise(m.seed, tx.s*3, tx.t*3)-1))
	}
	x, y := tx.a*tx.w, tx.b*tx.h
	hx := 0.07
	if m.alt {
		hx = tx.w - 0.07
	}
	if dx, dy := x-hx, y-1.0; dx*dx+dy*dy < 0.03*0.03 {
		return m.c2
	}
	// Inset panels: one or two rows, 12 cm from the sides.
	rows := [][2]float64{{0.1, tx.h - 0.12}}
	if m.variant == 2 {
		rows = [][2]float64{{0.1, tx.h*0.45 - 0.05}, {tx.h*0.45 + 0.05, tx.h - 0.12}}
	}
	for _, rw := range rows {
		in := x > 0.12-m.frame && x < tx.w-0.12+m.frame && y > rw[0]-m.frame && y < rw[1]+m.frame
		inner := x > 0.12 && x < tx.w-0.12 && y > rw[0] && y < rw[1]
		if in && !inner {
			return m.c1
		}
	}
	return c
}

func (m *material) window(tx *texel) (vec, bool) {
	if tx.edge() < m.frame || m.flag && math.Abs(tx.a-0.5)*tx.w < m.frame*0.4 {
		return m.c1, false
	}
	sky := m.c2.lerp(m.c0, tx.b)
	return sky.scale(0.85 + 0.3*fbm(m.seed, tx.s*1.5, tx.t*3)), true
}
