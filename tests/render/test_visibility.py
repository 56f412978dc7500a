"""How far light from a camera reaches: up to an opaque wall, never behind it, through a fog."""

from __future__ import annotations

import torch

from panolift.render import reach_ends


class Wall(torch.nn.Module):
    """Density ``inside`` for x < wall (0 for empty space, small for a fog), huge for x in [wall, wall + 0.1],
    ``behind`` beyond it (floaters that no view can clear)."""

    def __init__(self, wall: float, inside: float = 0.0, behind: float = 50.0):
        super().__init__()
        self.wall, self.inside, self.behind = wall, inside, behind

    def density(self, points):
        x = points[:, 0]
        sigma = torch.full_like(x, self.inside)
        sigma = torch.where(x >= self.wall, torch.full_like(x, 1e4), sigma)
        return torch.where(x >= self.wall + 0.1, torch.full_like(x, self.behind), sigma)


def rays_towards_x(count: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    origins = torch.zeros(count, 3)
    origins[:, 0] = -0.8
    dirs = torch.rand(count, 3, generator=gen) - 0.5
    dirs[:, 0] = 1.0  # forwards, spread over the wall, leaving the box through x = 1 only
    return origins, dirs / dirs.norm(dim=-1, keepdim=True)


AABB = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])


def test_light_stops_at_an_opaque_wall_whatever_lies_behind_it():
    origins, dirs = rays_towards_x()
    ends = reach_ends(Wall(0.25), origins, dirs, AABB, num_samples=256)
    assert ends.shape == (400, 3)
    step = 2 * 3**0.5 / 256  # the longest ray's sample spacing
    assert float(ends[:, 0].min()) > 0.25 - 2 * step and float(ends[:, 0].max()) <= 0.25 + step
    empty = reach_ends(Wall(0.25, behind=0.0), origins, dirs, AABB, num_samples=256)
    torch.testing.assert_close(ends, empty)  # floaters behind the wall change nothing


def test_a_fog_lets_the_rays_through():
    origins, dirs = rays_towards_x()
    fog = reach_ends(Wall(2.0, inside=0.3), origins, dirs, AABB, num_samples=256)  # no wall in the box
    clear = reach_ends(Wall(0.25), origins, dirs, AABB, num_samples=256)
    assert float(fog[:, 0].min()) > 0.5 and bool((fog[:, 0] > clear[:, 0]).all())


def test_rays_that_miss_the_box_are_left_out():
    origins, dirs = rays_towards_x()
    origins = origins + torch.tensor([0.0, 5.0, 0.0])
    assert reach_ends(Wall(0.25), origins, -dirs, AABB).shape == (0, 3)
