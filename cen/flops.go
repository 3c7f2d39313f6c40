package cen

// ConvFLOPs counts the floating-point operations (2 per multiply-add) of every convolution in one forward pass
// of n images of h×w per modality; convolutions are more than 99 % of the network's arithmetic. A training step
// costs about three times as much (forward, gradient of the input, gradient of the weights).
func (m *Model) ConvFLOPs(n, h, w int) float64 {
	batch := float64(n * m.cfg.M())
	var total float64
	count := func(c *conv, h, w int) (int, int) {
		ho, wo := c.spec.OutSize(h, w)
		total += 2 * batch * float64(c.cout*c.w.Shape[1]*c.spec.KH*c.spec.KW*ho*wo)
		return ho, wo
	}
	h, w = count(m.conv1, h, w)
	h, w = (h+2-3)/2+1, (w+2-3)/2+1 // max-pool 3/2/1
	var sizes [4][2]int
	for s, blocks := range m.layers {
		for _, b := range blocks {
			bh, bw := h, w
			for _, c := range b.convs {
				bh, bw = count(c, bh, bw)
			}
			if b.down != nil {
				count(b.down, h, w)
			}
			h, w = bh, bw
		}
		sizes[s] = [2]int{h, w}
	}
	d := &m.dec
	rcu := func(r *rcu, h, w int) {
		for i := range r.a {
			count(r.a[i], h, w)
			count(r.b[i], h, w)
		}
	}
	for s := 0; s < 4; s++ {
		h, w := sizes[3-s][0], sizes[3-s][1]
		count(d.dimred[s], h, w)
		rcu(d.adapt[s], h, w)
		if s > 0 {
			count(d.adaptJoint[s], h, w)
		}
		for _, c := range d.pool[s].convs {
			count(c, h, w)
		}
		rcu(d.mflow[s], h, w)
		if s < 3 {
			count(d.joint[s], h, w)
		} else {
			count(d.clf, h, w)
		}
	}
	return total
}
