import torch
import torch.nn.functional as F

from edgeseg.models.stgru import STGRU
from edgeseg.models.warp import flow_warp


def test_stgru_matches_its_equations():
    torch.manual_seed(0)
    L = 5
    cell = STGRU(num_classes=L)
    with torch.no_grad():  # move away from the initialisation so every term matters
        for p in cell.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x, h_prev = torch.randn(2, L, 10, 12), torch.randn(2, L, 10, 12)
    img, img_prev = torch.randn(2, 3, 10, 12), torch.randn(2, 3, 10, 12)
    flow = 2.0 * torch.randn(2, 2, 10, 12)

    def conv(t, c):
        return F.conv2d(t, c.weight, c.bias, padding=3)

    w = flow_warp(h_prev, flow)
    r = 1 - torch.tanh(torch.abs(conv(img - flow_warp(img_prev, flow), cell.conv_r)))
    assert r.shape[1] == 1  # one confidence channel
    ws = torch.softmax(w, 1) - 1.0 / L
    xs = torch.softmax(x, 1) - 1.0 / L
    h_tilde = conv(xs, cell.w_xh) + conv(r * ws, cell.w_hh)
    z = torch.sigmoid(conv(xs, cell.w_xz) + conv(r * ws, cell.w_hz))
    expected = cell.lam * (1 - z) * r * ws + z * h_tilde
    assert torch.allclose(cell(x, h_prev, img, img_prev, flow), expected, atol=1e-5)


def test_stgru_initialisation():
    cell = STGRU(num_classes=4)
    assert cell.lam.item() == 2.0
    centre = cell.w_xh.weight[:, :, 3, 3]
    assert torch.allclose(torch.diagonal(centre), torch.full((4,), 6.0), atol=0.01)
    assert cell.w_xh.kernel_size == (7, 7) and cell.conv_r.out_channels == 1
