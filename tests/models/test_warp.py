import torch

from edgeseg.models.warp import flow_warp, resize_flow


def test_subpixel_translation_moves_content():
    # A smooth ramp: bilinear sampling of a linear function is exact.
    h, w = 12, 16
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    img = (3.0 * xs + 0.5 * ys)[None, None]
    flow = torch.zeros(1, 2, h, w)
    flow[:, 0] = 1.25  # sample 1.25 px to the right
    flow[:, 1] = -0.5  # and half a pixel up
    out = flow_warp(img, flow)
    expected = 3.0 * (xs + 1.25) + 0.5 * (ys - 0.5)
    interior = (slice(1, h - 1), slice(0, w - 2))
    assert torch.allclose(out[0, 0][interior], expected[interior], atol=1e-4)


def test_border_is_clamped():
    img = torch.arange(4, dtype=torch.float32).view(1, 1, 1, 4).expand(1, 1, 2, 4).contiguous()
    flow = torch.zeros(1, 2, 2, 4)
    flow[:, 0] = 100.0
    assert torch.all(flow_warp(img, flow) == 3.0)


def test_resize_flow_scales_values_with_grid():
    flow = torch.ones(1, 2, 8, 8)
    small = resize_flow(flow, (2, 4))
    assert torch.allclose(small[:, 0], torch.full((1, 2, 4), 0.5))
    assert torch.allclose(small[:, 1], torch.full((1, 2, 4), 0.25))
