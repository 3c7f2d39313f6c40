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
	m.dec.eachConv(func(s int, c *conv) { count(c, sizes[3-s][0], sizes[3-s][1]) })
	return total
}

// eachConv calls f with every convolution of the decoder and its stage s, whose convolutions read the plane of
// the encoder's output l[3-s] (stage 0 is the coarsest; the classifier reads stage 3's plane).
func (d *decoder) eachConv(f func(s int, c *conv)) {
	for s := 0; s < 4; s++ {
		convs := []*conv{d.dimred[s], d.adaptJoint[s], d.joint[s]}
		for _, r := range []*rcu{d.adapt[s], d.mflow[s]} {
			if r != nil {
				convs = append(append(convs, r.a...), r.b...)
			}
		}
		if d.pool[s] != nil {
			convs = append(convs, d.pool[s].convs[:]...)
		}
		for _, c := range convs {
			if c != nil {
				f(s, c)
			}
		}
	}
	f(3, d.clf)
}
