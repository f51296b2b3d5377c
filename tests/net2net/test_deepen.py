"""Net2DeeperNet on fixed architectures: conv/linear identity blocks, refusals, torchvision models."""

from __future__ import annotations

import pytest
import torch
import torchvision
from test_deepen_models import FunctionalReluCNN, cnn, mlp, randomize_, resnet, transformer
from torch import nn

from nas.net2net import DepthPoint, deepen, depth_points
from nas.net2net.depth.identity_blocks import BN_EPS, conv_identity
from nas.net2net.errors import NotDeepenableError
from nas.net2net.verify import max_abs_diff


def rel_error(parent: nn.Module, child: nn.Module, x: torch.Tensor, dtype=torch.float64) -> float:
    diff, scale = max_abs_diff(parent, child, x, dtype=dtype)
    return diff / scale


def names(points: list[DepthPoint]) -> list[str]:
    return [p.name for p in points]


@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_dirac_centre_tap_is_at_k_over_2(k: int, dims: int) -> None:
    conv, bn, act = conv_identity(4, dims, "ReLU", kernel_size=k)
    w = conv.weight.detach()
    centre = (slice(None), slice(None)) + (k // 2,) * dims
    assert torch.equal(w[centre], torch.eye(4))
    assert w.abs().sum() == 4  # nothing off-centre
    assert conv.padding == (k // 2,) * dims and conv.stride == (1,) * dims and conv.groups == 1
    x = torch.rand(2, 4, *([7] * dims))
    assert torch.equal(act(bn.eval()(conv(x))), x)  # identity BN without data is exact


def test_conv_point_inserts_conv_bn_relu_and_keeps_names() -> None:
    torch.manual_seed(0)
    m = randomize_(cnn(2, [4, 6], 3))
    x = torch.randn(3, 1, 8, 8)
    assert [(p.name, p.kind, p.width, p.spatial_dims) for p in depth_points(m, x)] == [
        ("2", "conv", 4, 2),
        ("5", "conv", 6, 2),
    ]
    before = {k: v.clone() for k, v in m.state_dict().items()}
    child = deepen(m, "2", example_input=x, kernel_size=5)
    assert type(child) is type(m)
    assert [type(c).__name__ for c in child[2]] == ["ReLU", "Conv2d", "BatchNorm2d", "ReLU"]
    assert child[2][1].kernel_size == (5, 5)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())  # parent untouched
    assert set(before) <= set(child.state_dict())  # old keys unchanged: wrapping, not shifting
    assert rel_error(m, child, x) <= 1e-10
    assert rel_error(m, child, x, dtype=None) <= 1e-5


def test_data_statistics_bn_is_exact_in_eval_and_close_in_train() -> None:
    torch.manual_seed(1)
    m = randomize_(cnn(1, [5, 5], 3))
    data = [torch.randn(16, 1, 12) for _ in range(3)]
    child = deepen(m, "2", example_input=data[0], data=data)
    bn = child[2][2]
    with torch.no_grad():
        h = torch.cat([m[:3].eval()(b) for b in data]).double()
    mean, var = h.mean((0, 2)), h.var((0, 2), unbiased=False)
    assert torch.allclose(bn.running_mean.double(), mean, atol=1e-6)
    assert torch.allclose(bn.running_var.double(), var, rtol=2e-3, atol=1e-5)
    assert torch.allclose(bn.weight.double() ** 2, bn.running_var.double() + BN_EPS)
    assert torch.equal(bn.bias, bn.running_mean)
    assert bn.eps == BN_EPS
    assert rel_error(m, child, data[0]) <= 1e-10
    # train mode: batch statistics ~ data statistics, so the new BN stays close to the identity
    h_all = torch.cat(data)
    with torch.no_grad():
        inner = child[2].train()
        got, want = inner(m[:2].eval()(h_all)), m[2](m[:2](h_all))
    assert (got - want).abs().max() <= 1e-2 * want.abs().max()


def test_linear_point_is_identity_matrix() -> None:
    torch.manual_seed(2)
    m = randomize_(mlp([7, 5]))
    x = torch.randn(4, 6)
    assert [(p.name, p.kind, p.width) for p in depth_points(m, x)] == [
        ("1", "linear", 7),
        ("3", "linear", 5),
    ]
    child = deepen(m, depth_points(m, x)[1], example_input=x)
    lin = child[3][1]
    assert torch.equal(lin.weight, torch.eye(5)) and torch.equal(lin.bias, torch.zeros(5))
    assert rel_error(m, child, x) <= 1e-10


def test_functional_relu_wraps_the_producer() -> None:
    torch.manual_seed(3)
    m = randomize_(FunctionalReluCNN(2, 4))
    x = torch.randn(2, 1, 6, 6)
    (p,) = depth_points(m, x)
    assert (p.name, p.kind, p.prepend_activation) == ("bn", "conv", True)
    child = deepen(m, p, example_input=x, data=[x])
    assert type(child) is FunctionalReluCNN
    assert rel_error(m, child, x) <= 1e-10


@pytest.mark.parametrize("act", [nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU])
def test_non_idempotent_activations_are_refused_with_the_module_name(act) -> None:
    m = cnn(1, [3, 3], 3, act=act)
    x = torch.randn(2, 1, 10)
    assert depth_points(m, x) == []
    for name in ("2", "1"):  # the activation itself, and the BN before it
        with pytest.raises(NotDeepenableError, match=rf"'{name}'.*{act.__name__}.*not idempotent"):
            deepen(m, name, example_input=x)
    lm = mlp([4], act=act)
    assert depth_points(lm, torch.randn(2, 6)) == []
    with pytest.raises(NotDeepenableError, match="'1'"):
        deepen(lm, "1", example_input=torch.randn(2, 6))


def test_unknown_and_unsuitable_names_are_explained() -> None:
    m = cnn(2, [3], 3)
    x = torch.randn(1, 1, 5, 5)
    with pytest.raises(NotDeepenableError, match=r"no module of that name.*depth points: 2"):
        deepen(m, "nope", example_input=x)
    with pytest.raises(NotDeepenableError, match=r"'0' \(Conv2d\)"):
        deepen(m, "0", example_input=x)


def test_shared_relu_module_is_not_a_conv_point() -> None:
    r = torchvision.models.resnet18(num_classes=4)
    x = torch.randn(1, 3, 32, 32)
    pts = depth_points(r, x)
    assert "layer1.0.relu" not in names(pts)
    with pytest.raises(NotDeepenableError, match="called 2 times"):
        deepen(r, "layer1.0.relu", example_input=x)


def test_torchvision_resnet18_residual_insertion_is_exact() -> None:
    torch.manual_seed(4)
    r = randomize_(torchvision.models.resnet18(num_classes=4)).eval()
    x = torch.randn(2, 3, 32, 32)
    pts = {p.name: p for p in depth_points(r, x)}
    assert pts["relu"].kind == "conv"
    assert {"layer1.0", "layer1.1", "layer4.0", "layer4.1"} <= set(pts)
    assert pts["layer2.0"].template == "layer2.1"  # the copy comes from a no-downsample block
    assert pts["layer3.1"].zeroed == ("bn2.weight", "bn2.bias")
    child = deepen(r, "layer2.0", example_input=x)
    assert len(child.layer2) == 3 and child.layer2[1].bn2.weight.abs().sum() == 0
    assert rel_error(r, child, x) <= 1e-10
    assert rel_error(r, child, x, dtype=None) <= 1e-5
    # train mode too: a zero gamma and beta output exactly zero whatever the batch statistics
    diff, scale = max_abs_diff(r, child, x, train=True)
    assert diff <= 1e-10 * scale


def test_resnet_stage_with_only_a_downsampling_block_gets_a_rebuilt_copy() -> None:
    torch.manual_seed(5)
    r = randomize_(torchvision.models.resnet50(num_classes=4))
    r.layer2, r.layer3, r.layer4 = r.layer2[:1], r.layer3[:1], nn.Sequential()
    r.fc = nn.Linear(1024, 4)
    x = torch.randn(1, 3, 32, 32)
    p = next(p for p in depth_points(r, x) if p.name == "layer3.0")
    assert (p.template, p.shortcut) == ("layer3.0", "downsample")
    child = deepen(r, p, example_input=x, seed=3)
    new = child.layer3[1]
    assert isinstance(new.downsample, nn.Identity) and new.conv1.in_channels == 1024
    assert new.conv2.stride == (1, 1)
    assert rel_error(r, child, x) <= 1e-10


def test_tiny_torchvision_vit_transformer_insertion_is_exact() -> None:
    torch.manual_seed(6)
    v = torchvision.models.VisionTransformer(
        image_size=16, patch_size=8, num_layers=2, num_heads=2, hidden_dim=8, mlp_dim=16,
        num_classes=3,
    )  # fmt: skip
    nn.init.normal_(v.heads.head.weight)  # torchvision zero-initializes the head
    x = torch.randn(2, 3, 16, 16)
    pts = depth_points(v, x)
    assert [(p.name, p.kind, p.width) for p in pts] == [
        ("encoder.layers.encoder_layer_0", "transformer", 8),
        ("encoder.layers.encoder_layer_1", "transformer", 8),
    ]
    assert set(pts[0].zeroed) == {
        "self_attention.out_proj.weight", "self_attention.out_proj.bias", "mlp.3.weight",
        "mlp.3.bias",
    }  # fmt: skip
    child = deepen(v, pts[0], example_input=x)
    assert list(child.encoder.layers._modules) == [
        "encoder_layer_0", "encoder_layer_0_d1", "encoder_layer_1",
    ]  # fmt: skip
    assert rel_error(v, child, x) <= 1e-10


def test_noise_is_seeded_small_and_breaks_exactness() -> None:
    torch.manual_seed(7)
    m = randomize_(resnet(1, [4, 8], 1))
    x = torch.randn(4, 1, 16)
    points = depth_points(m, x)
    assert points
    for p in points:
        a = deepen(m, p, example_input=x, noise=1e-3, seed=11)
        b = deepen(m, p, example_input=x, noise=1e-3, seed=11)
        c = deepen(m, p, example_input=x, noise=1e-3, seed=12)
        sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
        assert list(sa) == list(sb) == list(sc)
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
        assert any(not torch.equal(sa[k], sc[k]) for k in sa)
        err = rel_error(m, a, x)
        assert 0 < err < 0.05, p.name


def test_deepen_twice_and_replay_reproduces_structure() -> None:
    torch.manual_seed(8)
    m = randomize_(resnet(2, [4, 8], 1))
    x = torch.randn(2, 1, 8, 8)
    steps = ["1.0", "1.1", "1.1"]
    c1, c2 = m, m
    for s in steps:
        c1 = deepen(c1, s, example_input=x, seed=0)
        c2 = deepen(c2, s, example_input=x, seed=0)
    assert len(c1[1]) == len(m[1]) + 3
    sd1, sd2 = c1.state_dict(), c2.state_dict()
    assert list(sd1) == list(sd2) and all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    assert rel_error(m, c1, x) <= 1e-10
    p = depth_points(c1, x)[0]  # the stem ReLU, now wrapped once more on top
    c3 = deepen(deepen(c1, p, example_input=x), "0.2.0", example_input=x)
    assert rel_error(m, c3, x) <= 1e-10


def test_transformer_points_need_residual_insertion() -> None:
    torch.manual_seed(9)
    t = transformer(8, 2, 2, builtin_attention=False)
    x = torch.randn(2, 5, 5)
    pts = depth_points(t, x)
    assert [(p.name, p.kind) for p in pts] == [("1.0", "transformer"), ("1.1", "transformer")]
    with pytest.raises(NotDeepenableError, match="GELU"):
        deepen(t, "1.0.mlp.0", example_input=x)
    child = deepen(t, "1.1", example_input=x)
    assert rel_error(t, child, x) <= 1e-10
