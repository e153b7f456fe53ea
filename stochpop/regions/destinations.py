"""Origin-destination shares from registered in- and out-moves per region (no matrix registered).

Greenland registers each region's internal in- and out-moves, not who moved from where to where. The
kernel's `Transfers` need destination shares: the matrix of moves M(from, to) is taken as the one
closest to uniform (zero diagonal: nobody moves within a region) whose row sums are the out-moves and
column sums the in-moves, found by iterative proportional fitting (IPF; the maximum-entropy matrix with
those margins). In-moves are first scaled to the out-moves' national total (moves to and from places
outside the regions make them differ slightly). Where no matrix has both margins (e.g. one region has all
in- and out-moves of a small cell) IPF stops after `iterations` with the rows right and the columns
approximate.
"""

import numpy as np


def destination_shares(out_moves: np.ndarray, in_moves: np.ndarray, iterations: int = 200) -> np.ndarray:
    """Out- and in-moves (..., R) -> destination shares (..., R_from, R_to): rows sum to 1 (uniform over
    the other regions where a region has no out-moves), zero diagonal."""
    regions = out_moves.shape[-1]
    off_diagonal = 1.0 - np.eye(regions)
    total_out = out_moves.sum(-1, keepdims=True)
    total_in = in_moves.sum(-1, keepdims=True)
    columns = np.where(total_in > 0, in_moves * total_out / np.where(total_in > 0, total_in, 1.0), 0.0)
    moves = np.broadcast_to(off_diagonal, (*out_moves.shape, regions)).copy()
    for _ in range(iterations):
        rows = moves.sum(-1)
        moves *= np.divide(out_moves, rows, out=np.zeros_like(rows), where=rows > 0)[..., :, None]
        cols = moves.sum(-2)
        moves *= np.divide(columns, cols, out=np.zeros_like(cols), where=cols > 0)[..., None, :]
    rows = moves.sum(-1, keepdims=True)
    uniform = off_diagonal / (regions - 1)
    return np.where(rows > 0, moves / np.where(rows > 0, rows, 1.0), uniform)
