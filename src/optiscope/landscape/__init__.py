"""Loss landscapes of trained networks: directions, grid evaluation, the path on the plane.

After Li et al. (2018), "Visualizing the loss landscape of neural nets": filter-normalised
Gaussian directions (or PCA of the path, an interpolation, Hessian eigenvectors), the loss on
a grid around the trained weights (with the first-layer trick: three products with the data
serve the whole plane), and the recorded path projected onto it with the share it captures.
:func:`plot` does all of it in one call and draws the picture.
"""

from __future__ import annotations

from optiscope.landscape.connectivity import (
    BezierState,
    CurveProfile,
    barrier_height,
    bezier_point,
    evaluate_curve,
    line_point,
    recompute_batch_norm,
    train_bezier,
)
from optiscope.landscape.convexity import ConvexityMap, convexity_map
from optiscope.landscape.data_batches import iter_batches
from optiscope.landscape.directions import (
    DEFAULT_SEED,
    directions_from_vectors,
    interpolation_direction,
    normalize_direction,
    pca_directions,
    plane_through,
    random_directions,
)
from optiscope.landscape.directions_base import DegeneratePathError, Directions, LandscapeError
from optiscope.landscape.evaluate import ENGINES, evaluate, evaluate_points
from optiscope.landscape.grid import (
    DEFAULT_POINTS,
    DEFAULT_SPAN,
    INTERPOLATION_POINTS,
    INTERPOLATION_RANGE,
    LandscapeGrid,
    grid_axes,
)
from optiscope.landscape.joint_pca import joint_centre
from optiscope.landscape.joint_plane import JointPlane, joint_plane, model_at
from optiscope.landscape.picture import LandscapePicture, path_span, plane_directions, plot
from optiscope.landscape.projection import PathProjection, PlaneGradient, gradient_on_plane, project_path
from optiscope.landscape.reference import evaluate_points_loop

__all__ = [
    "DEFAULT_POINTS",
    "DEFAULT_SEED",
    "DEFAULT_SPAN",
    "ENGINES",
    "INTERPOLATION_POINTS",
    "INTERPOLATION_RANGE",
    "BezierState",
    "ConvexityMap",
    "CurveProfile",
    "DegeneratePathError",
    "Directions",
    "JointPlane",
    "LandscapeError",
    "LandscapeGrid",
    "LandscapePicture",
    "PathProjection",
    "PlaneGradient",
    "barrier_height",
    "bezier_point",
    "convexity_map",
    "directions_from_vectors",
    "evaluate",
    "evaluate_curve",
    "evaluate_points",
    "evaluate_points_loop",
    "gradient_on_plane",
    "grid_axes",
    "interpolation_direction",
    "iter_batches",
    "joint_centre",
    "joint_plane",
    "line_point",
    "model_at",
    "normalize_direction",
    "path_span",
    "pca_directions",
    "plane_directions",
    "plane_through",
    "plot",
    "project_path",
    "random_directions",
    "recompute_batch_norm",
    "train_bezier",
]
