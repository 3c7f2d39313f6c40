"""Independent PyTorch reference of CEN (Channel-Exchanging Networks, NeurIPS 2020) for RGB-D segmentation.

Written from the notes in shared/reference/cen-reference.md (no code taken from yikaiw/CEN). It reproduces the
official quirks that matter for numerical parity:
  * every conv (encoder, decoder, classifier) is shared by the M modalities; only BN layers are private
    (bn_0..bn_{M-1}), plus the ensemble vector `alpha`;
  * exchange after bn2 of each Bottleneck (refinenet-*) or bn1 of each BasicBlock (lite-*), before the ReLU,
    in train and eval mode; channel c of modality m takes the mean of the other modalities' pre-exchange values
    iff |gamma_m[c]| < threshold (Eq. 6; for M=2 this is the official swap);
  * decoder with the RCU in-place ReLU quirk (residual = relu(input)), chained CRP, bilinear align_corners=True;
  * ensemble = sum_m softmax(alpha)_m * logits_m.detach();
  * loss = sum of the M+1 cross-entropies (logits upsampled bilinear align_corners=False to the label size,
    ignore 255) + (M+1) * lambda * L1 over disjoint per-modality slices of the exchanged BN weights.

State-dict keys of `CEN` are the official keys without the DataParallel prefix (they keep ModuleParallel's
`.module.`); `canonical()` strips `.module.`, `official_checkpoint()` adds the `module.` prefix.

Used by test/fixtures/gen_fixtures.py and scripts/torch_bench.py. Run with Debian's /usr/bin/python3.
"""
import math
import re
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

THRESHOLD = 2e-2
LAMBDA = 2e-4
IGNORE_INDEX = 255

ARCHS = {
    # name: (block kind, blocks per layer)
    'refinenet-r50': ('bottleneck', [3, 4, 6, 3]),
    'refinenet-r101': ('bottleneck', [3, 4, 23, 3]),
    'refinenet-r152': ('bottleneck', [3, 8, 36, 3]),
    'lite-r18': ('basic', [2, 2, 2, 2]),
    'lite-r34': ('basic', [3, 4, 6, 3]),
}


def ch(c, w):
    """Width-scaled channel count: max(1, floor(c*w + 0.5))."""
    return max(1, int(math.floor(c * w + 0.5)))


class ModuleParallel(nn.Module):
    """Applies one shared module to each modality's tensor (gives the official `.module.` key infix)."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, xs):
        return [self.module(x) for x in xs]


class BatchNorm2dParallel(nn.Module):
    """M private BatchNorm2d, named bn_0..bn_{M-1}; element m of the list goes through bn_m."""

    def __init__(self, num_features, num_parallel):
        super().__init__()
        self.num_parallel = num_parallel
        for i in range(num_parallel):
            setattr(self, 'bn_' + str(i), nn.BatchNorm2d(num_features))

    def bns(self):
        return [getattr(self, 'bn_' + str(i)) for i in range(self.num_parallel)]

    def forward(self, xs):
        return [bn(x) for bn, x in zip(self.bns(), xs)]


def exchange(xs, bnp, threshold):
    """Eq. 6: replace channel c of modality m by the mean of the other modalities iff |gamma_m[c]| < threshold.

    All replacement values are pre-exchange. The mask is hard (no gradient to gamma); gradients flow through the
    selected values. M=1: identity.
    """
    M = len(xs)
    if M <= 1:
        return xs
    out = []
    for m, bn in enumerate(bnp.bns()):
        others = [xs[k] for k in range(M) if k != m]
        acc = others[0]
        for o in others[1:]:
            acc = acc + o
        if M > 2:
            acc = acc / float(M - 1)
        keep = (bn.weight.detach().abs() >= threshold).view(1, -1, 1, 1)
        out.append(torch.where(keep, xs[m], acc))
    return out


def conv(cin, cout, k, stride=1, bias=False):
    return ModuleParallel(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=bias))


def relu_list(xs):
    return [F.relu(x) for x in xs]


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, M, stride=1, downsample=None, threshold=THRESHOLD):
        super().__init__()
        self.conv1 = conv(inplanes, planes, 1)
        self.bn1 = BatchNorm2dParallel(planes, M)
        self.conv2 = conv(planes, planes, 3, stride=stride)
        self.bn2 = BatchNorm2dParallel(planes, M)
        self.conv3 = conv(planes, planes * 4, 1)
        self.bn3 = BatchNorm2dParallel(planes * 4, M)
        self.downsample = downsample
        self.threshold = threshold

    def exchanged_bn(self):
        return self.bn2

    def forward(self, xs):
        res = xs
        out = relu_list(self.bn1(self.conv1(xs)))
        out = self.bn2(self.conv2(out))
        out = exchange(out, self.bn2, self.threshold)
        out = relu_list(out)
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            res = self.downsample(xs)
        return [F.relu(o + r) for o, r in zip(out, res)]


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, M, stride=1, downsample=None, threshold=THRESHOLD):
        super().__init__()
        self.conv1 = conv(inplanes, planes, 3, stride=stride)
        self.bn1 = BatchNorm2dParallel(planes, M)
        self.conv2 = conv(planes, planes, 3)
        self.bn2 = BatchNorm2dParallel(planes, M)
        self.downsample = downsample
        self.threshold = threshold

    def exchanged_bn(self):
        return self.bn1

    def forward(self, xs):
        res = xs
        out = self.bn1(self.conv1(xs))
        out = exchange(out, self.bn1, self.threshold)
        out = relu_list(out)
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            res = self.downsample(xs)
        return [F.relu(o + r) for o, r in zip(out, res)]


class RCUBlock(nn.Module):
    """n residual units; unit i: r = relu(x); x = r + conv_b(relu(conv_a(r))) (official in-place ReLU quirk)."""

    def __init__(self, C, n_units, k):
        super().__init__()
        self.n_units = n_units
        for i in range(1, n_units + 1):
            setattr(self, '%d_conv' % i, conv(C, C, k, bias=True))
            setattr(self, '%d_conv_relu_varout_dimred' % i, conv(C, C, k, bias=False))

    def forward(self, xs):
        for i in range(1, self.n_units + 1):
            r = relu_list(xs)
            y = getattr(self, '%d_conv' % i)(r)
            y = getattr(self, '%d_conv_relu_varout_dimred' % i)(relu_list(y))
            xs = [a + b for a, b in zip(y, r)]
        return xs


class CRPBlock(nn.Module):
    """4 chained stages top = conv_j(maxpool5/s1/p2(top)); out = x + sum_j top_j."""

    def __init__(self, C, k, n_stages=4):
        super().__init__()
        self.n_stages = n_stages
        for j in range(1, n_stages + 1):
            setattr(self, '%d_outvar_dimred' % j, conv(C, C, k, bias=False))

    def forward(self, xs):
        top = xs
        out = xs
        for j in range(1, self.n_stages + 1):
            top = [F.max_pool2d(t, 5, stride=1, padding=2) for t in top]
            top = getattr(self, '%d_outvar_dimred' % j)(top)
            out = [t + o for t, o in zip(top, out)]
        return out


def up_to(xs, ref):
    return [F.interpolate(x, size=r.shape[2:], mode='bilinear', align_corners=True) for x, r in zip(xs, ref)]


class CEN(nn.Module):
    """CEN segmenter on a list of M modality tensors [N,3,H,W]; returns [logits_0..logits_{M-1}, ens]."""

    def __init__(self, arch='refinenet-r101', num_classes=40, num_parallel=2, width=1.0,
                 threshold=THRESHOLD, dropout=0.5):
        super().__init__()
        kind, layers = ARCHS[arch]
        self.arch, self.M, self.K, self.width, self.threshold = arch, num_parallel, num_classes, width, threshold
        self.dropout_p = dropout
        M = num_parallel
        block = Bottleneck if kind == 'bottleneck' else BasicBlock
        c = lambda n: ch(n, width)
        # encoder
        self.inplanes = c(64)
        self.conv1 = ModuleParallel(nn.Conv2d(3, c(64), 7, stride=2, padding=3, bias=False))
        self.bn1 = BatchNorm2dParallel(c(64), M)
        self.layer1 = self._make_layer(block, c(64), layers[0], 1, M, threshold)
        self.layer2 = self._make_layer(block, c(128), layers[1], 2, M, threshold)
        self.layer3 = self._make_layer(block, c(256), layers[2], 2, M, threshold)
        self.layer4 = self._make_layer(block, c(512), layers[3], 2, M, threshold)
        e = block.expansion
        E4, E3, E2, E1 = e * c(512), e * c(256), e * c(128), e * c(64)
        if kind == 'bottleneck':
            k, D1, D = 3, c(512), c(256)
        else:
            k, D1, D = 1, c(256), c(128)
        self.k = k
        # decoder (registration order follows the official constructor)
        self.p_ims1d2_outl1_dimred = conv(E4, D1, k)
        self.adapt_stage1_b = nn.Sequential(RCUBlock(D1, 2, k))
        self.mflow_conv_g1_pool = nn.Sequential(CRPBlock(D1, k))
        self.mflow_conv_g1_b = nn.Sequential(RCUBlock(D1, 3, k))
        self.mflow_conv_g1_b3_joint_varout_dimred = conv(D1, D, k)
        for s, E in ((2, E3), (3, E2), (4, E1)):
            setattr(self, 'p_ims1d2_outl%d_dimred' % s, conv(E, D, k))
            setattr(self, 'adapt_stage%d_b' % s, nn.Sequential(RCUBlock(D, 2, k)))
            setattr(self, 'adapt_stage%d_b2_joint_varout_dimred' % s, conv(D, D, k))
            setattr(self, 'mflow_conv_g%d_pool' % s, nn.Sequential(CRPBlock(D, k)))
            setattr(self, 'mflow_conv_g%d_b' % s, nn.Sequential(RCUBlock(D, 3, k)))
            if s < 4:
                setattr(self, 'mflow_conv_g%d_b3_joint_varout_dimred' % s, conv(D, D, k))
        self.clf_conv = conv(D, num_classes, 3, bias=True)
        self.alpha = nn.Parameter(torch.ones(M, requires_grad=True))

    def _make_layer(self, block, planes, blocks, stride, M, threshold):
        downsample = None
        out = planes * block.expansion
        if block is Bottleneck or stride != 1 or self.inplanes != out:
            downsample = nn.Sequential(conv(self.inplanes, out, 1, stride=stride), BatchNorm2dParallel(out, M))
        layers = [block(self.inplanes, planes, M, stride, downsample, threshold)]
        self.inplanes = out
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, M, 1, None, threshold))
        return nn.Sequential(*layers)

    def exchanged_bns(self):
        """The BatchNorm2dParallel modules that carry the exchange (and the L1 penalty), in network order."""
        out = []
        for L in (self.layer1, self.layer2, self.layer3, self.layer4):
            for b in L:
                out.append(b.exchanged_bn())
        return out

    def _drop(self, xs):
        if self.dropout_p <= 0:
            return xs
        return [F.dropout(x, self.dropout_p, self.training) for x in xs]

    def forward(self, xs):
        x = relu_list(self.bn1(self.conv1(xs)))
        x = [F.max_pool2d(t, 3, stride=2, padding=1) for t in x]
        l1 = self.layer1(x)
        l2 = self.layer2(l1)
        l3 = self.layer3(l2)
        l4 = self.layer4(l3)
        l4 = self._drop(l4)
        l3 = self._drop(l3)

        x4 = self.p_ims1d2_outl1_dimred(l4)
        x4 = self.adapt_stage1_b(x4)
        x4 = relu_list(x4)
        x4 = self.mflow_conv_g1_pool(x4)
        x4 = self.mflow_conv_g1_b(x4)
        x4 = self.mflow_conv_g1_b3_joint_varout_dimred(x4)
        x4 = up_to(x4, l3)

        x3 = self.p_ims1d2_outl2_dimred(l3)
        x3 = self.adapt_stage2_b(x3)
        x3 = self.adapt_stage2_b2_joint_varout_dimred(x3)
        x3 = [F.relu(a + b) for a, b in zip(x3, x4)]
        x3 = self.mflow_conv_g2_pool(x3)
        x3 = self.mflow_conv_g2_b(x3)
        x3 = self.mflow_conv_g2_b3_joint_varout_dimred(x3)
        x3 = up_to(x3, l2)

        x2 = self.p_ims1d2_outl3_dimred(l2)
        x2 = self.adapt_stage3_b(x2)
        x2 = self.adapt_stage3_b2_joint_varout_dimred(x2)
        x2 = [F.relu(a + b) for a, b in zip(x2, x3)]
        x2 = self.mflow_conv_g3_pool(x2)
        x2 = self.mflow_conv_g3_b(x2)
        x2 = self.mflow_conv_g3_b3_joint_varout_dimred(x2)
        x2 = up_to(x2, l1)

        x1 = self.p_ims1d2_outl4_dimred(l1)
        x1 = self.adapt_stage4_b(x1)
        x1 = self.adapt_stage4_b2_joint_varout_dimred(x1)
        x1 = [F.relu(a + b) for a, b in zip(x1, x2)]
        x1 = self.mflow_conv_g4_pool(x1)
        x1 = self.mflow_conv_g4_b(x1)
        x1 = self._drop(x1)
        logits = self.clf_conv(x1)

        alpha_soft = F.softmax(self.alpha, dim=0)
        ens = 0
        for m in range(self.M):
            ens = ens + alpha_soft[m] * logits[m].detach()
        return logits + [ens]


def l1_penalty(model):
    """Sum over exchanged BNs and modalities m of sum |gamma_m[m*C//M:(m+1)*C//M]| (disjoint slices)."""
    M = model.M
    total = 0
    for bnp in model.exchanged_bns():
        for m, bn in enumerate(bnp.bns()):
            C = bn.weight.shape[0]
            total = total + bn.weight[m * C // M:(m + 1) * C // M].abs().sum()
    return total


def cen_loss(model, outputs, labels, lam=LAMBDA):
    """Official loss: sum of CE over the M+1 outputs + (M+1)*lam*L1. Returns (total, [ce...], l1)."""
    ces = []
    for o in outputs:
        up = F.interpolate(o, size=labels.shape[1:], mode='bilinear', align_corners=False)
        ces.append(F.cross_entropy(up, labels, ignore_index=IGNORE_INDEX))
    l1 = l1_penalty(model)
    total = 0
    for c in ces:
        total = total + c
    total = total + len(outputs) * lam * l1
    return total, ces, l1


def canonical(name):
    """Our state-dict key -> canonical name (every `.module.` removed; no leading `module.` here)."""
    name = name[len('module.'):] if name.startswith('module.') else name
    return name.replace('.module.', '.')


def official_checkpoint(model, epoch_start=0, best_val=0.0):
    """The dict the official code saves: {'segmenter': DataParallel-style state_dict, 'epoch_start', 'best_val'}."""
    sd = OrderedDict(('module.' + k, v.detach().clone()) for k, v in model.state_dict().items())
    return {'segmenter': sd, 'epoch_start': int(epoch_start), 'best_val': float(best_val)}


def count_params(model):
    return sum(p.numel() for p in model.parameters())


ENCODER_RE = re.compile(r'.*conv1.*|.*bn1.*|.*layer.*')


def param_groups(model):
    """Official split: encoder = names matching .*conv1.*|.*bn1.*|.*layer.* (stem + layer1-4), decoder = rest."""
    enc, dec = [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (enc if ENCODER_RE.match('module.' + n) else dec).append(p)
    return enc, dec


def init_random(model, gen, small_frac=0.25, small_lo=1e-3, small_hi=1.5e-2, conv_gain=None):
    """Deterministic random initialisation (see test/fixtures/README.md).

    convs: N(0, g*sqrt(2/fan_in)) with per-role gain g; conv biases N(0, 0.1); BN: weight U(0.5,1.5) with random
    sign, bias N(0,0.1), running_mean N(0,0.1), running_var U(0.5,2); then for every exchanged BN and modality,
    round(small_frac*C) (at least 1) random channels get |gamma| in U[small_lo, small_hi] with random sign.
    alpha ~ N(0, 0.5). Tensors are drawn in state_dict order from `gen`.
    """
    g = dict(stem=1.0, conv1=1.0, conv2=1.0, conv3=0.2, downsample=0.5, dec=0.5, clf=1.0)
    if conv_gain:
        g.update(conv_gain)

    def gain_for(name):
        if name.startswith('conv1.'):
            return g['stem']
        if name.startswith('layer'):
            if '.downsample.' in name:
                return g['downsample']
            for key in ('conv1', 'conv2', 'conv3'):
                if '.%s.' % key in name:
                    # the last conv of a BasicBlock is conv2: treat it like conv3 (residual branch end)
                    if key == 'conv2' and ARCHS[model.arch][0] == 'basic':
                        return g['conv3']
                    return g[key]
        if name.startswith('clf_conv.'):
            return g['clf']
        return g['dec']

    def randn(shape):
        return torch.randn(shape, generator=gen, dtype=torch.float32)

    def rand(shape):
        return torch.rand(shape, generator=gen, dtype=torch.float32)

    with torch.no_grad():
        for name, t in model.state_dict(keep_vars=True).items():
            leaf = name.rsplit('.', 1)[-1]
            if name == 'alpha':
                t.copy_(randn(t.shape) * 0.5)
            elif t.dim() == 4:
                fan_in = t.shape[1] * t.shape[2] * t.shape[3]
                t.copy_(randn(t.shape) * (gain_for(name) * math.sqrt(2.0 / fan_in)))
            elif '.bn_' in name:
                C = t.shape
                if leaf == 'weight':
                    sign = torch.where(rand(C) < 0.5, -1.0, 1.0)
                    t.copy_(sign * (0.5 + rand(C)))
                elif leaf == 'bias':
                    t.copy_(randn(C) * 0.1)
                elif leaf == 'running_mean':
                    t.copy_(randn(C) * 0.1)
                elif leaf == 'running_var':
                    t.copy_(0.5 + 1.5 * rand(C))
                elif leaf == 'num_batches_tracked':
                    t.zero_()
            elif leaf == 'bias':
                t.copy_(randn(t.shape) * 0.1)
            else:
                raise ValueError('unhandled tensor ' + name)
        for bnp in model.exchanged_bns():
            for bn in bnp.bns():
                C = bn.weight.shape[0]
                n = max(1, int(round(small_frac * C)))
                idx = torch.randperm(C, generator=gen)[:n]
                mag = small_lo + (small_hi - small_lo) * rand((n,))
                sign = torch.where(rand((n,)) < 0.5, -1.0, 1.0)
                bn.weight[idx] = sign * mag
    return model
