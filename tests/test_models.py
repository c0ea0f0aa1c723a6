"""Models: shapes, the paper's architecture and initialisation."""

import pytest
import torch

from ganlab.config import DiscriminatorConfig, GeneratorConfig
from ganlab.errors import ConfigError
from ganlab.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    Dropout,
    Maxout,
    MaxoutDiscriminator,
    MLPGenerator,
    build_discriminator,
    build_generator,
)
from ganlab.models.mlp import hashed_words, lowbias32


def test_maxout_takes_max_over_adjacent_pieces():
    layer = Maxout(3, units=2, pieces=3)
    x = torch.randn(5, 3)
    h = layer.linear(x)  # (5, 6): unit 0 = pieces 0..2, unit 1 = pieces 3..5
    expected = torch.stack([h[:, :3].max(1).values, h[:, 3:].max(1).values], dim=1)
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dropout_drops_at_its_rate_and_keeps_the_mean(dtype):
    # 8,000,000 entries: the kept fraction's standard error is sqrt(0.8 * 0.2 / 8e6) = 1.4e-4,
    # so 6e-4 is 4 of them. A bfloat16 u (8 bits) keeps 0.8007-0.8013 (measured, 4 seeds):
    # the mask is drawn in float32 whatever x's dtype.
    layer = Dropout(0.2)
    x = torch.ones(8_000_000, dtype=dtype)
    torch.manual_seed(0)
    y = layer(x)
    kept = (y != 0).double().mean().item()
    assert abs(kept - 0.8) < 6e-4, kept
    assert torch.all((y == 0) | (y == torch.tensor(1 / 0.8, dtype=dtype)))  # kept ones scaled
    torch.manual_seed(0)
    assert torch.equal(layer(x), y)  # torch's generator: a seed repeats the masks
    layer.eval()
    assert layer(x) is x


def _lowbias32_reference(x: int) -> int:
    """C. Wellons' lowbias32 in Python integers mod 2^32, as published."""
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    return x ^ (x >> 16)


def test_hashed_words_are_lowbias32_of_the_counters_twice():
    # the tensor hash must be the published one (its int64 twin multiplier included), or
    # masks would silently change with a rewrite of it
    key = torch.tensor([0xDEADBEEF, 0x12345678])
    words = hashed_words((3, 5), key)
    want = [
        _lowbias32_reference(_lowbias32_reference((i + 0xDEADBEEF) & 0xFFFFFFFF) ^ 0x12345678)
        for i in range(15)
    ]
    assert words.flatten().tolist() == want
    assert _lowbias32_reference(0) == 0 and lowbias32(torch.tensor([1])).item() != 1


def test_hashed_masks_are_independent_across_entries_and_calls():
    # 1,000,000 entries: a correlation's standard error is 1e-3, so 5e-3 is 5 of them; kept
    # rates of 0.5 +- 5 * 5e-4
    torch.manual_seed(0)
    layer = Dropout(0.5)
    x = torch.ones(1_000_000)
    a, b = (layer(x) != 0).double(), (layer(x) != 0).double()
    assert abs(a.mean().item() - 0.5) < 2.5e-3 and abs(b.mean().item() - 0.5) < 2.5e-3

    def corr(u, v):
        return torch.corrcoef(torch.stack([u, v]))[0, 1].abs().item()

    assert corr(a, b) < 5e-3  # two calls draw two keys: not the same mask
    assert corr(a[:-1], a[1:]) < 5e-3  # neighbouring entries
    assert corr(a[:-1000], a[1000:]) < 5e-3  # a row apart in a 1000-wide layer


def test_paper_mnist_mlps_have_the_paper_sizes():
    G = build_generator(GeneratorConfig(init_range=0.05), 100, (784,))
    D = build_discriminator(DiscriminatorConfig(init_range=0.005), (784,))
    linears = [m for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (100, 1200),
        (1200, 1200),
        (1200, 784),
    ]
    assert isinstance(G.net[-1], torch.nn.Sigmoid)
    maxouts = [m for m in D.modules() if isinstance(m, Maxout)]
    assert [(m.units, m.pieces) for m in maxouts] == [(240, 5), (240, 5)]
    dropouts = [m.p for m in D.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts == [0.2, 0.5, 0.5]  # input keep 0.8, hidden keep 0.5 (pylearn2 model)
    assert all(m.weight.abs().max() <= 0.05 for m in linears)
    assert all(m.linear.weight.abs().max() <= 0.005 for m in maxouts)
    x = G(torch.rand(7, 100))
    assert x.shape == (7, 784) and x.min() >= 0 and x.max() <= 1
    assert D(x).shape == (7,)


@pytest.mark.parametrize(
    "shape", [(1, 28, 28), (3, 32, 32), (1, 32, 32), (3, 64, 64), (1, 48, 48), (3, 16, 16)]
)
def test_dcgan_pair_shapes(shape):
    G = DCGANGenerator(16, shape, channels=8, output="tanh")
    D = DCGANDiscriminator(shape, channels=8)
    x = G(torch.randn(4, 16))
    assert x.shape == (4, *shape)
    assert x.abs().max() <= 1
    assert D(x).shape == (4,)


def test_dcgan_rejects_unsupported_image_size():
    # 30 = 15 * 2: no 4..7 start map reaches it by doubling; the error names the sizes near it
    with pytest.raises(ConfigError, match="resize to 28x28 or 32x32"):
        build_generator(GeneratorConfig(kind="dcgan"), 16, (1, 30, 30))
    with pytest.raises(ConfigError, match="square images"):
        build_discriminator(DiscriminatorConfig(kind="dcgan"), (2,))


def test_small_mlps_for_points():
    G = MLPGenerator(2, (2,), [16, 16], "leaky_relu", "linear", batchnorm=True)
    D = MaxoutDiscriminator((2,), [8], pieces=3, dropout=0.0, input_dropout=0.0)
    x = G(torch.randn(10, 2))
    assert x.shape == (10, 2)
    assert D(x).shape == (10,)
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in G.modules())


def test_packed_discriminator_scores_packs_of_consecutive_examples():
    from ganlab.models import PackedDiscriminator

    cfg = DiscriminatorConfig(kind="mlp", hidden=[8], pack=2, dropout=0, input_dropout=0)
    D = build_discriminator(cfg, (3,))
    assert isinstance(D, PackedDiscriminator)
    x = torch.randn(6, 3)
    logits = D(x)
    assert logits.shape == (3,)
    # Pack i is examples 2i and 2i+1 side by side, seen by the inner D as one 6-d input.
    torch.testing.assert_close(logits, D.inner(x.reshape(3, 6)))
    torch.testing.assert_close(logits[1], D.inner(torch.cat([x[2], x[3]])[None])[0])
    with pytest.raises(ValueError, match="multiple of 2"):
        D(torch.randn(5, 3))


def test_packed_dcgan_discriminator_stacks_channels():
    D = build_discriminator(DiscriminatorConfig(kind="dcgan", channels=4, pack=3), (1, 28, 28))
    assert D.inner.net[0].in_channels == 3 and D(torch.rand(6, 1, 28, 28)).shape == (2,)


def test_pack_must_divide_the_minibatch():
    from ganlab.config import load_config

    with pytest.raises(ConfigError, match="must divide the minibatch"):
        load_config("ring8", ["discriminator.pack=3"])  # m = 256
    assert load_config("ring8", ["discriminator.pack=4"]).discriminator.pack == 4


def test_a_packed_gan_trains_and_reports(tmp_path):
    import ganlab

    over = ["discriminator.pack=2", "steps=30", "log_every=10", "sample_every=30"]
    run = ganlab.train("ring8", tmp_path / "r", overrides=over)
    assert run.discriminator.pack == 2 and run.sample(4).shape == (4, 2)
    assert (tmp_path / "r" / "index.html").exists()


def test_standardized_pair_plays_the_standardized_game():
    """G_data = mu + sigma G and D_data(x) = D((x - mu) / sigma): D_data on data equals D on the
    standardised data, G_data's samples are mu + sigma times the inner G's, and a state dict
    round trip carries mu and sigma (a run loads without its data)."""
    from ganlab.models import data_moments

    x = torch.randn(500, 3, dtype=torch.float64).float() * torch.tensor([10.0, 0.1, 1.0]) + 5
    mu, sigma = data_moments(x)
    G = build_generator(GeneratorConfig(hidden=[8], output="linear"), 4, (3,), standardize=True)
    D = build_discriminator(DiscriminatorConfig(kind="mlp", hidden=[8]), (3,), standardize=True)
    D.eval()  # no dropout: the two calls must see the same net
    G.set_moments_(mu, sigma)
    D.set_moments_(mu, sigma)
    u = (x - mu) / sigma
    assert u.mean(0).abs().max() < 1e-4 and (u.std(0, correction=0) - 1).abs().max() < 1e-4
    torch.testing.assert_close(D(x), D.net(u))
    z = torch.randn(6, 4)
    torch.testing.assert_close(G(z), mu + sigma * G.net(z))
    G2 = build_generator(GeneratorConfig(hidden=[8], output="linear"), 4, (3,), standardize=True)
    G2.load_state_dict(G.state_dict())
    torch.testing.assert_close(G2(z), G(z))


def test_dcgan_refine_adds_stride_one_layers_and_keeps_the_default_layout():
    """generator.refine: 3x3 stride-1 layers on the smallest map; with 0 the state dict is the
    one checkpoints of earlier runs hold (same keys, same shapes)."""
    cfg = GeneratorConfig(kind="dcgan", channels=8, output="tanh")
    plain = build_generator(cfg, 16, (1, 28, 28))
    refined = build_generator(cfg.model_copy(update={"refine": 2}), 16, (1, 28, 28))
    assert refined(torch.randn(3, 16)).shape == (3, 1, 28, 28)
    convs = [m for m in refined.net if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 2 and all(c.stride == (1, 1) for c in convs)
    assert list(plain.state_dict()) == list(
        DCGANGenerator(16, (1, 28, 28), channels=8, output="tanh").state_dict()
    )


def test_dcgan_dense_layers_sit_between_z_and_the_map_and_between_the_map_and_the_logit():
    """generator.dense / discriminator.dense: InfoGAN's MNIST pair (a fully connected layer of
    the given width on each side); with 0 both keep the layout earlier checkpoints hold."""
    g_cfg = GeneratorConfig(kind="dcgan", channels=8, output="tanh", dense=32)
    d_cfg = DiscriminatorConfig(kind="dcgan", channels=8, dense=24)
    G = build_generator(g_cfg, 16, (1, 28, 28))
    D = build_discriminator(d_cfg, (1, 28, 28))
    assert G(torch.randn(3, 16)).shape == (3, 1, 28, 28)
    assert D(torch.randn(3, 1, 28, 28)).shape == (3,)
    g_linears = [m for m in G.project if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in g_linears] == [(16, 32), (32, 16 * 7 * 7)]
    d_linears = [m for m in D.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in d_linears] == [(16 * 7 * 7, 24), (24, 1)]
    plain_d = build_discriminator(d_cfg.model_copy(update={"dense": 0}), (1, 28, 28))
    assert list(plain_d.state_dict()) == list(DCGANDiscriminator((1, 28, 28), 8).state_dict())


def test_minibatch_std_gives_d_the_spread_of_its_group():
    """discriminator.minibatch_std (Karras et al. 2018): one extra map holding the mean std across
    each group; a collapsed batch (every example the same) gets 0 there, a varied one does not,
    so D's logits can tell them apart."""
    from ganlab.models.dcgan import MinibatchStd

    layer = MinibatchStd(group=4)
    x = torch.randn(8, 3, 5, 5)
    out = layer(x)
    assert out.shape == (8, 4, 5, 5)
    torch.testing.assert_close(out[:, :3], x)
    for i in range(8):  # example i is in group {i mod 2, i mod 2 + 2, ...}
        group = x[i % 2 :: 2]
        expected = (group.var(0, unbiased=False) + 1e-8).sqrt().mean()
        torch.testing.assert_close(out[i, 3], expected.expand(5, 5))
    same = x[:1].expand(8, 3, 5, 5)
    assert layer(same)[:, 3].abs().max() < 1e-3  # sqrt(1e-8) = 1e-4
    assert layer(x[:3]).shape == (3, 4, 5, 5)  # 4 does not divide 3: one group of 3
    cfg = DiscriminatorConfig(kind="dcgan", channels=8, dense=16, minibatch_std=4)
    D = build_discriminator(cfg, (1, 28, 28))
    assert D(torch.randn(6, 1, 28, 28)).shape == (6,)
    d_linears = [m for m in D.net if isinstance(m, torch.nn.Linear)]
    assert d_linears[0].in_features == (16 + 1) * 7 * 7
