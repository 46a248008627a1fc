# ruff: noqa: F821 -- this text follows a generated header (sweep/network_source.py) that
# imports math, numpy, numba and defines BLOCK, N, POINTS, the row offsets and the passes.
# Full-batch gradient descent on many copies of a two-layer network at once.
#
# The network and its convergence rule are Sohl-Dickstein's ("The boundary of neural network
# trainability is fractal", 2024, arXiv:2402.06184, and the notebook in Sohl-Dickstein/fractal):
#
#     Z = X @ W1 / sqrt(n)            X: (D, n) inputs, W1: (n, n), no biases
#     H = act(Z)                      tanh(sqrt(2) Z), sqrt(2) relu(Z), or Z
#     out = H @ W2 / n                W2: (n,), one output (the mean-field scaling)
#     loss = mean((out - Y)**2)
#
# and every run starts from the same W1, W2 and steps ``W1 -= lr_in * dloss/dW1``,
# ``W2 -= lr_out * dloss/dW2`` with its own pair of learning rates. The gradients are written
# out by hand (backpropagation through the two layers):
#
#     e_d = (2 / D) (out_d - Y_d) / n
#     dloss/dW2_j = sum_d e_d H_dj
#     dloss/dW1_ij = sum_d X_di e_d W2_j act'(Z_dj) / sqrt(n)
#
# Runs advance in lockstep, BLOCK of them per thread, with the run index innermost: X and Y are
# the same for every run, so each multiply-add of the two layers is one vector instruction over
# BLOCK runs, and the whole state of a block (weights and gradients) stays in cache. Each
# run's arithmetic depends on that run alone, so results do not depend on the thread count.
#
# Per run the kernel keeps only what the convergence rule needs (the notebook's
# ``convergence_measure``), never the loss history: with v_t the loss before step t, made
# ``clip`` where it is not finite, divided by v_0 and capped at ``clip``,
#
#     converged  = mean of the last ``window`` v_t < 1
#     measure    = -sum_t v_t if converged else sum_t 1/v_t
#
# so a faster convergence is a more negative measure and a faster divergence a smaller one.

@njit(cache=True, error_model="numpy")
def _normalized(loss, loss0, clip):
    """The notebook's v_t: non-finite -> clip, then divided by v_0, then capped at clip."""
    v = loss if math.isfinite(loss) else clip
    v = v / loss0
    return clip if v > clip else v


@njit(cache=True, error_model="numpy")
def _record(lane, loss, loss0, clip, in_tail, total, recip, tail, last):
    """Add one step's v_t to the lane's sums: of v, of 1/v, of the last ``window`` v, and
    keep it as the last."""
    v = _normalized(loss, loss0, clip)
    total[lane] += v
    recip[lane] += 1.0 / v
    if in_tail:
        tail[lane] += v
    last[lane] = v


@njit(cache=True, error_model="numpy")
def _train_block(start, stop, lr_in, lr_out, X, Y, W1, W2, steps, clip, window, measure, converged, final):
    """Train runs start..stop-1 (at most BLOCK) for ``steps`` steps; fill their outputs."""
    m = stop - start
    n_data = Y.size
    lanes = np.empty(ROWS * BLOCK)
    a_in = np.empty(BLOCK)
    a_out = np.empty(BLOCK)
    total = np.zeros(BLOCK)
    recip = np.zeros(BLOCK)
    tail = np.zeros(BLOCK)
    last = np.zeros(BLOCK)
    loss0 = np.ones(BLOCK)
    dead = np.zeros(BLOCK, np.bool_)
    for lane in range(BLOCK):
        run = start + (lane if lane < m else 0)  # padding lanes copy a real run
        a_in[lane] = lr_in[run]
        a_out[lane] = lr_out[run]
    for i in range(N):
        for j in range(N):
            for lane in range(BLOCK):
                lanes[(W1_AT + i * N + j) * BLOCK + lane] = W1[i, j]
        for lane in range(BLOCK):
            lanes[(W2_AT + i) * BLOCK + lane] = W2[i]
    grad_scale = 2.0 / n_data
    first_tail = max(0, steps - window)
    whole = n_data - n_data % POINTS
    t = 0
    while t < steps:
        lanes[G1_AT * BLOCK : Z_AT * BLOCK] = 0.0  # gradients and loss
        for d in range(0, whole, POINTS):
            add_points(X, Y, d, lanes)
        for d in range(whole, n_data):
            add_point(X, Y, d, lanes)
        for lane in range(BLOCK):
            value = lanes[LOSS_AT * BLOCK + lane] / n_data
            if t == 0:
                loss0[lane] = value
            _record(lane, value, loss0[lane], clip, t >= first_tail, total, recip, tail, last)
        # Update; the 2/D of the mean squared error is applied here, once per weight.
        for row in range(N * N):
            for lane in range(BLOCK):
                lanes[(W1_AT + row) * BLOCK + lane] -= a_in[lane] * (grad_scale * lanes[(G1_AT + row) * BLOCK + lane])
        for j in range(N):
            for lane in range(BLOCK):
                lanes[(W2_AT + j) * BLOCK + lane] -= a_out[lane] * (grad_scale * lanes[(G2_AT + j) * BLOCK + lane])
        all_dead = True
        for lane in range(BLOCK):
            # A non-finite output weight never becomes finite again (x - anything is non-
            # finite, and 0 * inf is NaN), and it makes every later loss non-finite: such a
            # run's remaining v_t are all known, so a block of them stops computing.
            for j in range(N):
                if not math.isfinite(lanes[(W2_AT + j) * BLOCK + lane]):
                    dead[lane] = True
            all_dead = all_dead and (dead[lane] or lane >= m)
        t += 1
        if all_dead:
            break
    # The steps a dead block skipped: each has a non-finite loss, so the same v for all.
    for t_skip in range(t, steps):
        for lane in range(BLOCK):
            _record(lane, np.inf, loss0[lane], clip, t_skip >= first_tail, total, recip, tail, last)
    for lane in range(m):
        run = start + lane
        ok = tail[lane] / (steps - first_tail) < 1.0
        converged[run] = ok
        measure[run] = -total[lane] if ok else recip[lane]
        final[run] = last[lane]


@njit(cache=True, parallel=True, error_model="numpy")
def train(lr_in, lr_out, X, Y, W1, W2, steps, clip, window, n_workers, measure, converged, final):
    """Train one network per (lr_in[r], lr_out[r]) pair; fill measure, converged and final.

    Args:
        lr_in, lr_out: (R,) float64 learning rates of the input and output layer.
        X: (D, n) float64 inputs; Y: (D,) float64 targets.
        W1: (n, n) and W2: (n,) float64 initial weights, shared by every run.
        steps: number of gradient steps (>= 1).
        clip: cap of the normalized loss (1e6 in the paper); window: steps averaged at the
            end for the converged test (20 in the paper).
        n_workers: threads to deal blocks to.
        measure, converged, final: (R,) float64, bool and float64 outputs: the signed
            speed measure, the class, and the last normalized loss v_{steps-1}.
    """
    n_runs = lr_in.size
    n_blocks = (n_runs + BLOCK - 1) // BLOCK
    n_workers = max(1, min(n_workers, n_blocks))
    for worker in prange(n_workers):
        for block in range(worker, n_blocks, n_workers):
            start = block * BLOCK
            _train_block(start, min(n_runs, start + BLOCK), lr_in, lr_out, X, Y, W1, W2, steps, clip, window, measure, converged, final)
