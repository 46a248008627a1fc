"""One generator writes every lockstep kernel, from parts.

A kernel is stitched from five parts, each a contract that knows nothing of the loop:

- the **problem** (``sweep.problems``): D weights; per run its parameters; code that computes
  the loss ``v``, its gradient ``g_j`` and, for the dynamics, the Hessian's entries;
- the **optimizer** (``sweep.optim.optimizers``): hyperparameters, state slots per weight,
  counters per run, and an update from ``g`` to a direction ``d``;
- the **schedule** (``sweep.optim.schedules``): lr_k from lr and the step count;
- the **noise** (``sweep.optim.noise``): a perturbation of each gradient component, from a
  counter-based generator keyed by (seed, run, step, component);
- the **recorder** (this module): the outcome tests, the per-run dynamics (loss_max,
  n_increase, first_increase, sharpness_max, eos_step, oscillated) and, in the traced
  variant, one row per iterate.

The loop is this module's alone. Each thread takes blocks of ``lanes`` runs, one at a time,
from a counter that all threads of a call share, and keeps ``lanes`` runs in flight, each at
its own step k: a lane whose run stops is refilled at once with the thread's next run, so no
lane idles while a slow run finishes. The vector pass advances every lane ``substeps`` steps
with its state in registers (the steps are unrolled into straight-line code inside the lane
loop, which LLVM vectorizes); a lane in which a test fires is frozen where it stands, and a
scalar pass, rare, recomputes that step with the same functions (so the same bits) and
classifies it in the order of the teaching loop. Each run's arithmetic depends on that run
alone, so the results do not depend on the thread count, the chunking or the machine the
chunk runs on.

The generated text is the cache key (``sweep.kernels.cache``): the same parts give the same
module, and its compiled code is found again by every later process.
"""

from __future__ import annotations

import functools
import io
import keyword
import re
import tokenize
from dataclasses import dataclass, field

from sweep.optim.optimizers import Optimizer
from sweep.optim.schedules import Schedule
from sweep.outcomes import CONVERGED, CYCLING, DIVERGED, MAX_ITER, NAN, STALLED

#: Float outputs of a run, after its final weights (rows D.. of F): the final loss and
#: gradient (its value for one weight, its 2-norm for several), then the dynamics.
FLOAT_OUTPUTS = ("loss", "grad", "loss_max", "sharpness_max", "loss_tail")
#: The rows of F and I that only stochastic kernels write (``KernelSpec.stochastic``).
STOCHASTIC_OUTPUTS = ("loss_tail", "reached")
#: Integer outputs (rows of I, int32: every count and step is at most max_iter <= 2**31 - 1).
INT_OUTPUTS = ("n_iter", "outcome", "n_increase", "first_increase", "eos_step", "oscillated", "reached")
#: The outputs of stochastic runs only (noise or mini-batches): other kernels leave these
#: rows of F and I untouched, so their memory is never faulted in or written (an output row
#: costs its runs a stream of fresh memory; see ``sweep.run.executor.descend``).
_TAIL_OUTPUT = "F[D + 4, out_] = {tail} / (max_iter + 1.0 - tail_from) if kk >= max_iter and max_iter + 1.0 > tail_from else math.nan"
_REACHED_OUTPUT = "I[6, out_] = int({reach}) if {reach} < math.inf else -1"
#: Status of a frozen lane that turns out not to stop (|g| <= tol, but still moving).
CONTINUE = -1


@dataclass(frozen=True)
class LaneProblem:
    """A problem whose loss, gradient and Hessian are code of one run's weights: formulas in
    one or several weights, the built-in losses, a user's jitted functions.

    Attributes:
        weights: the weights' names, in kernel order (D = len(weights)).
        params: the parameters' names, in kernel order; each a per-run value.
        value: code of the loss, in ``w_0 .. w_{D-1}`` and ``p_0 ..``.
        grads: code of each gradient component.
        hessian: code of the Hessian's entries, row-major upper triangle (i <= j), or None
            when there is none (a user's jitted functions): the sharpness is then NaN.
        imports: extra module lines (imports of helper functions the code calls).
        user_functions: ``(name, object)`` pairs put into the module as globals (a user's
            jitted functions): such a kernel is compiled in memory, never cached.
        description: one line for the module's header.
        hessian_constant: the Hessian does not depend on the weights (a quadratic): the
            sharpness is then computed once per run, not at every step.
    """

    weights: tuple[str, ...]
    params: tuple[str, ...]
    value: str
    grads: tuple[str, ...]
    hessian: tuple[str, ...] | None
    imports: tuple[str, ...] = ()
    user_functions: tuple = field(default=(), compare=False)
    description: str = ""
    hessian_constant: bool = False

    @property
    def d(self) -> int:
        return len(self.weights)


@dataclass(frozen=True)
class BlockProblem:
    """A problem whose gradient is matrix-shaped over a block of runs: models on data. The
    block's weights are ``W[j, lane]``; the problem's code fills the block's losses
    ``V[lane]`` and gradients ``G[j, lane]`` for every lane at once (loops with the lane
    innermost, which LLVM vectorizes), so each step costs a few passes over the data.

    Attributes:
        d: number of weights (fixed at compile time).
        kind: ``"mse"`` or ``"logloss"`` (the scalar loss used for a run's last iterate).
        gradient_code: statements filling V and G from W (data: ``DX`` (n, d), ``DY`` (n,),
            ``DH`` (d, d), ``DB`` (d,), ``DC`` (scalars); scratch ``Z``, ``R`` (B,), ``SC``
            (n, B)).
        hvp_code: statements filling ``HX[j, lane]`` with the Hessian at the current weights
            times ``PX[j, lane]`` (after the gradient code ran), for the sharpness.
        hessian_constant: the Hessian does not depend on the weights (MSE): with gd and a
            constant schedule the sharpness is lr * DC[0], computed once per run.
        description: one line for the module's header.
    """

    d: int
    kind: str
    gradient_code: str
    hvp_code: str
    hessian_constant: bool = False
    description: str = ""
    weights: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    user_functions: tuple = field(default=(), compare=False)


@dataclass(frozen=True)
class KernelSpec:
    """Everything the generator needs: the parts, and the loop's shape.

    Attributes:
        problem: a LaneProblem.
        optimizer, schedule: the parts (see the module docstring).
        noisy: gradients carry noise (``sweep.optim.noise``): only divergence, NaN and max_iter
            stop a run, and the exact-gradient tests are compiled out.
        batched: a model's gradients are of mini-batches (``sweep.optim.batches``), with the
            same stops as under noise.
        dynamics: compute the sharpness (the other dynamics are cheap and always on).
        lanes: runs in flight per thread.
        substeps: steps per vector pass.
        masked_adds: the target has AVX-512's mask registers, where a count kept under a
            condition is one masked add (``sweep.kernels.target.has_avx512``); the results are
            the same bits either way.
    """

    problem: LaneProblem | BlockProblem | NetworkProblem
    optimizer: Optimizer
    schedule: Schedule
    noisy: bool = False
    dynamics: bool = True
    lanes: int = 128
    substeps: int = 2
    batched: bool = False
    masked_adds: bool = False

    @property
    def stochastic(self) -> bool:
        """Gradients are not exact (noise or mini-batches): no convergence test."""
        return self.noisy or self.batched

    @property
    def exact_tests(self) -> bool:
        """Whether the stall and cycle tests apply: only under a constant schedule and
        exact gradients is an update that repeats a state a fixed point or a cycle."""
        return self.schedule.constant and not self.stochastic

    def rows(self) -> list[str]:
        """The rows of the kernel's per-run input array X, in order."""
        if isinstance(self.problem, NetworkProblem):
            return ["lr:lr_in", "lr:lr_out", *(f"hyper:{h.name}" for h in self.optimizer.hyperparameters)]
        rows = ["lr", *(f"w0:{name}" for name in self.problem.weights)]
        rows += [f"hyper:{h.name}" for h in self.optimizer.hyperparameters]
        rows += [f"schedule:{p.name}" for p in self.schedule.params]
        # A noisy run's draws are keyed by its number in the whole grid, whichever piece,
        # chunk or worker runs it.
        rows += ["noise:grad_noise"] if self.noisy else []
        rows += ["batch:batch_size"] if self.batched else []
        rows += ["noise:run"] if self.stochastic else []
        rows += [f"param:{name}" for name in self.problem.params]
        return rows


def rename(code: str, names: dict[str, str]) -> str:
    """``code`` with every NAME token in ``names`` replaced (strings and attributes of other
    names untouched: ``math.sqrt`` stays, a variable ``m`` becomes ``m_0``)."""
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    out = []
    for i, token in enumerate(tokens):
        after_dot = i > 0 and tokens[i - 1].type == tokenize.OP and tokens[i - 1].string == "."
        if token.type == tokenize.NAME and token.string in names and not after_dot:
            out.append((token.type, names[token.string]))
        else:
            out.append((token.type, token.string))
    return tokenize.untokenize(out).strip()


def _names_in(code: str) -> set[str]:
    return {t.string for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type == tokenize.NAME and not keyword.iskeyword(t.string)}


_BUILTINS = {"math", "min", "max", "abs", "float", "int", "vcos", "vsin", "np"}


def _lines(text: str, indent: int) -> str:
    pad = " " * indent
    return "\n".join(pad + line if line.strip() else "" for line in text.strip("\n").splitlines())


class _Parts:
    """The names and code pieces of one spec, shared by the passes."""

    def __init__(self, spec: KernelSpec):
        self.spec = spec
        o, s, pr = spec.optimizer, spec.schedule, spec.problem
        self.D = pr.d
        self.slots = [name for name, _ in o.slots]
        self.counters = [name for name, _ in o.counters]
        self.hypers = [h.name for h in o.hyperparameters]
        self.sparams = [p.name for p in s.params]
        self.w = [f"w_{j}" for j in range(self.D)]
        self.g = [f"g_{j}" for j in range(self.D)]
        self.d = [f"d_{j}" for j in range(self.D)]
        self.wn = [f"wn_{j}" for j in range(self.D)]
        self.s = [f"{slot}_{j}" for slot in self.slots for j in range(self.D)]
        self.s_new = [f"{slot}_new_{j}" for slot in self.slots for j in range(self.D)]
        self.c = [f"k_{name}" for name in self.counters]
        self.c_new = [f"k_{name}_new" for name in self.counters]
        self.h = [f"h_{name}" for name in self.hypers]
        self.q = [f"q_{name}" for name in self.sparams]
        self.p = [f"p_{i}" for i in range(len(pr.params))]
        self.n_hess = 0 if pr.hessian is None else len(pr.hessian)
        self.hess = [f"hess_{i}" for i in range(self.n_hess)]
        self.pre = [f"pre_{j}" for j in range(self.D)] if o.preconditioner else []
        rows = spec.rows()
        self.row = {name: i for i, name in enumerate(rows)}
        self.n_rows = len(rows)

    # -- generated functions ------------------------------------------------------------------

    def evaluate(self, exact: bool) -> str:
        """``_evaluate`` (the vector pass: sin and cos on their fast range, NaN beyond, which
        stops the lane) or ``_evaluate_exact`` (the scalar pass: exact for every argument)."""
        pr = self.spec.problem
        outs = ["v", *self.g, *self.hess]
        body = [f"v = {pr.value}", *(f"g_{j} = {code}" for j, code in enumerate(pr.grads))]
        body += [f"hess_{i} = {code}" for i, code in enumerate(pr.hessian or ())]
        text = "\n".join(body)
        if not exact:
            text = rename(text, {"vsin": "vsin_fast", "vcos": "vcos_fast"}) if "vsin" in text or "vcos" in text else text
        args = ", ".join([*self.w, *self.p]) or "_"
        return (
            '@njit(cache=True, error_model="numpy")\n'
            f"def _evaluate{'_exact' if exact else ''}({args}):\n"
            f'    """The problem: loss, gradient and Hessian entries at one iterate ({pr.description})."""\n'
            + _lines(text, 4)
            + f"\n    return {', '.join(outs)},\n"
        )

    def gradient(self) -> str:
        """``_gradient(w_0, .., p_0, ..)``: the gradient alone, exact (for baselines and
        references that compare against the kernel bit for bit; compiled only when called)."""
        pr = self.spec.problem
        args = ", ".join([*self.w, *self.p]) or "_"
        body = "\n".join(f"g_{j} = {code}" for j, code in enumerate(pr.grads))
        return (
            '@njit(cache=True, error_model="numpy")\n'
            f"def _gradient({args}):\n"
            + _lines(body, 4)
            + f"\n    return {', '.join(self.g)},\n"
        )

    def learning_rate(self) -> str:
        return (
            '@njit(cache=True, error_model="numpy")\n'
            f"def _lr(lr, t, max_iter{''.join(', ' + q for q in self.q)}):\n"
            f'    """The schedule ({self.spec.schedule.name}): lr_k at step t."""\n'
            + _lines("\n".join(f"{name} = {q}" for name, q in zip(self.sparams, self.q)), 4)
            + ("\n" if self.q else "")
            + f"    return {self.spec.schedule.code}\n"
        )

    def update(self) -> str:
        o = self.spec.optimizer
        shared = {name: f"h_{name}" for name in self.hypers}
        shared.update({name: f"k_{name}" for name in self.counters})
        shared.update({f"{name}_new": f"k_{name}_new" for name in self.counters})
        body = [rename(o.count_code, shared)] if o.count_code.strip() else []
        for j in range(self.D):
            local = {name: f"{name}_{j}" for name in _names_in(o.update_code) if name not in shared and name not in _BUILTINS}
            local.update(shared)
            body.append(rename(o.update_code, local))
            if o.preconditioner:
                body.append(f"pre_{j} = " + rename(o.preconditioner, local))
        args = ", ".join([*self.g, *self.w, *self.s, *self.c, *self.h])
        outs = [*self.d, *self.s_new, *self.c_new, *self.pre]
        return (
            '@njit(cache=True, error_model="numpy")\n'
            f"def _update({args}):\n"
            f'    """The optimizer ({o.name}: {o.reference}): the direction of every weight and the new state; lr is not here."""\n'
            + _lines("\n".join(body), 4)
            + f"\n    return {', '.join(outs)},\n"
        )

    def effective(self, suffix: str = "") -> list[str]:
        """The state as the next step sees it: each slot's ``effective`` expression, then the
        counters; ``suffix`` "_new" gives the state after the update."""
        o = self.spec.optimizer
        out = []
        for slot, expression in zip(self.slots, o.effective):
            for j in range(self.D):
                names = {slot: f"{slot}{suffix}_{j}"} | {name: f"h_{name}" for name in self.hypers}
                out.append(rename(expression, names))
        out += [f"k_{name}{suffix}" for name in self.counters]
        return out

    def threshold(self) -> str:
        o = self.spec.optimizer
        args = ", ".join(self.h) or "_"
        return (
            '@njit(cache=True, error_model="numpy")\n'
            f"def _threshold({args}):\n"
            '    """The sharpness above which this optimizer is unstable on a quadratic."""\n'
            f"    return {rename(o.eos_threshold, {name: f'h_{name}' for name in self.hypers})}\n"
        )

    def sharpness(self) -> str:
        """lr_k times the top eigenvalue of the (preconditioned) Hessian: f'' for one weight,
        the closed form for two, a shifted power iteration (30 steps) beyond."""
        D = self.D
        args = ", ".join(["lr_k", *self.hess, *self.pre])
        head = '@njit(cache=True, error_model="numpy")\n' f"def _sharpness({args}):\n" '    """lr_k * lambda_max(P**-1 H) (Cohen et al. 2021, 2022)."""\n'
        if self.n_hess == 0 or not self.spec.dynamics:
            return head + "    return math.nan\n"

        def entry(i, j):
            i, j = min(i, j), max(i, j)
            index = i * D - i * (i - 1) // 2 + (j - i)
            h = f"hess_{index}"
            if self.pre:
                return f"({h} / math.sqrt(pre_{i} * pre_{j}))" if i != j else f"({h} / pre_{i})"
            return h

        if D == 1:
            return head + f"    return lr_k * {entry(0, 0)}\n"
        if D == 2:
            a, b, c = entry(0, 0), entry(0, 1), entry(1, 1)
            return head + f"    a = {a}\n    b = {b}\n    c = {c}\n    return lr_k * (0.5 * (a + c) + math.sqrt(0.25 * (a - c) * (a - c) + b * b))\n"
        lines = [f"m_{i}_{j} = {entry(i, j)}" for i in range(D) for j in range(D)]
        # Shift by a Gershgorin bound: H + sI is positive semi-definite, so power iteration
        # finds its largest eigenvalue, lambda_max + s (Golub and Van Loan, sec. 7.3).
        lines.append("shift = " + " + ".join(f"abs(m_{i}_{j})" for i in range(D) for j in range(D)))
        lines += [f"x_{i} = 1.0" for i in range(D)]
        lines.append("top = 0.0")
        lines.append("for _ in range(30):")
        lines += [f"    y_{i} = shift * x_{i} + " + " + ".join(f"m_{i}_{j} * x_{j}" for j in range(D)) for i in range(D)]
        lines.append("    top = math.sqrt(" + " + ".join(f"y_{i} * y_{i}" for i in range(D)) + ")")
        lines.append("    if not top > 0.0:")
        lines.append("        break")
        lines += [f"    x_{i} = y_{i} / top" for i in range(D)]
        lines.append("return lr_k * (top - shift)")
        return head + _lines("\n".join(lines), 4) + "\n"

    # -- pieces of the passes -----------------------------------------------------------------

    def step(self, indent: int, scalar: bool) -> str:
        """One step at the lane's current state: evaluate, perturb, schedule, update."""
        lines = [f"{', '.join(['v', *self.g, *self.hess])}, = _evaluate{'_exact' if scalar else ''}({', '.join([*self.w, *self.p]) or '0.0'})"]
        if self.spec.noisy:
            run_row = self.spec.rows().index("noise:run")
            lines += [f"g_{j} = g_{j} + sigma_ * _normal(seed, int(X[{run_row}, run_]), int(kk), {j})" for j in range(self.D)]
        lines.append(f"lr_k = _lr(lr_, kk, max_iter{''.join(', ' + q for q in self.q)})")
        outs = [*self.d, *self.s_new, *self.c_new, *self.pre]
        lines.append(f"{', '.join(outs)}, = _update({', '.join([*self.g, *self.w, *self.s, *self.c, *self.h])})")
        lines += [f"wn_{j} = w_{j} - lr_k * d_{j}" for j in range(self.D)]
        return _lines("\n".join(lines), indent)

    @functools.cached_property
    def tests(self) -> dict[str, str]:
        """The outcome tests as expressions of the step's values (built once: every substep's
        share of the tests and the scalar pass read them)."""
        D = self.D
        small = " & ".join(f"(abs(g_{j}) <= tol)" for j in range(D))
        resting = " & ".join(f"(abs(d_{j}) <= tol)" for j in range(D))
        nan_g = " | ".join(f"(g_{j} != g_{j})" for j in range(D))
        # "not (|wn| <= bound)" also holds for a NaN or infinite iterate, with or without fastmath.
        outside = " | ".join(f"(not (abs(wn_{j}) <= bound_))" for j in range(D))
        same = " & ".join(f"(wn_{j} == w_{j})" for j in range(D))
        repeat = " & ".join(f"(wn_{j} == sw_{j})" for j in range(D))
        now, new = self.effective(), self.effective("_new")
        same_state = " & ".join(f"({b} == {a})" for a, b in zip(now, new)) or "True"
        repeat_state = " & ".join(f"({b} == ss_{i})" for i, b in enumerate(new)) or "True"
        return {"small": small, "resting": resting, "nan_g": nan_g, "outside": outside, "same": f"({same}) & ({same_state})", "repeat": f"({repeat}) & ({repeat_state})"}

    def watch(self, s: int) -> list[str]:
        """Substep ``s``'s share of the vector pass's tests: cheap running summaries whose
        verdict ``watched()`` gives once at the end of the pass, and a superset of the stops
        that the scalar pass sorts out. The summaries start from substep 0's values (not from
        0.0 or inf, which would cost each pass an operation that LLVM may not fold away).

        - NaN loss: ``acc`` sums the losses (NaN stays NaN; an overflow to inf - inf only
          replays a pass that was about to diverge anyway). A running maximum cannot keep
          it: a loss can be NaN where its gradient is finite (log(w) at w < 0), and a later
          step of the same pass back where the loss is defined would replace the NaN. A NaN
          gradient makes the direction and so the iterate NaN, seen below, unless the
          optimizer's update hides it (``propagates_nan``: Lion's sign): then ``acc`` sums
          the gradient too.
        - |g| <= tol in every component: ``mn``, the least over the pass of the largest |g_j|.
        - |w| past the bound: ``mx``, the largest |wn_j| over the pass; a NaN iterate is
          lost to that maximum, but w - lr*d keeps it NaN to the pass's end, where the last
          substep's maximum keeps it.
        - a stall (the state repeats at once) persists, since the same state gives the same
          step: tested at the last substep only.
        - a cycle (the state returns to the one saved at a power-of-two step): every substep.

        A test that fires clears ``quiet``: a chain of "and"s, each of which AVX-512 runs as
        one comparison under a mask (an "or" of test results costs a mask operation more).
        """
        t = self.tests
        nan_g = "" if self.spec.optimizer.propagates_nan else "".join(f" + g_{j}" for j in range(self.D))
        lines = [f"acc = v{nan_g}" if s == 0 else f"acc = acc + v{nan_g}"]
        if not self.spec.noisy:
            largest = "abs(g_0)" if self.D == 1 else "max(" + ", ".join(f"abs(g_{j})" for j in range(self.D)) + ")"
            lines += [f"mn = {largest}"] if s == 0 else [f"gm = {largest}", "mn = gm if gm < mn else mn"]
        last = s == self.spec.substeps - 1
        for j in range(self.D):
            if s == 0 and j == 0:
                lines.append(f"mx = abs(wn_{j})")
            else:
                # At the last substep the maximum keeps a NaN |wn_j| (x86's max returns its
                # second operand then): the pass's last iterate needs no test of its own.
                lines += [f"aw = abs(wn_{j})", "mx = mx if mx > aw else aw" if last else "mx = aw if aw > mx else mx"]
        if self.spec.exact_tests:
            lines.append(f"quiet = quiet & (not ({t['repeat']}))")
            if last:
                lines.append(f"quiet = quiet & (not ({t['same']}))")
        return lines

    def watched(self) -> str:
        """The end of the pass: true while no summary of ``watch`` fired and no first (the
        first increase of the loss, of the sharpness past its threshold, of the loss within
        the target) happened in this pass; else the scalar pass finds the step."""
        parts = ["(acc == acc)", "(mx <= bound_)"]
        if not self.spec.noisy:
            parts.insert(1, "(mn > tol)")
        # The first increase: every pass that meets one is replayed, and the replay records its
        # step, so at a pass's start finc_ is inf exactly when ninc_ is 0: the first increase
        # is in this pass if ninc_ was 0 and is not now. ninc0 * 1e300 is 0 for a count of 0
        # and past any count (at most max_iter + 1) otherwise: one comparison.
        parts.append("(ninc_ <= ninc0 * 1e300)")
        if not self.sharpness_once:
            parts.append("(not ((eos_ == math.inf) & (smax_ > thr_)))")
        if self.spec.noisy:
            parts.append("(not ((reach_ == math.inf) & (vmin <= target)))")
        return " & ".join(parts)

    def classify(self) -> str:
        """The scalar pass's verdict, in the order the teaching loop checks (a NaN loss first)."""
        t = self.tests
        lines = ["if v != v:", f"    status = {NAN}"]
        if not self.spec.noisy:
            lines += [f"elif ({t['small']}) & ({t['resting']}):", f"    status = {CONVERGED}"]
        lines += [f"elif {t['nan_g']}:", f"    status = {NAN}", "elif kk == max_iter:", f"    status = {MAX_ITER}", f"elif {t['outside']}:", f"    status = {DIVERGED}"]
        if self.spec.exact_tests:
            lines += [f"elif {t['same']}:", f"    status = {STALLED}", f"elif {t['repeat']}:", f"    status = {CYCLING}"]
        lines += ["else:", f"    status = {CONTINUE}"]
        return "\n".join(lines)

    @property
    def sharpness_once(self) -> bool:
        """The sharpness is the same at every iterate (a constant Hessian, a constant learning
        rate, no preconditioner): computed once when the run is loaded."""
        return self.spec.problem.hessian_constant and self.spec.schedule.constant and not self.pre

    def dynamics(self, traced: bool = False, vector: bool = False) -> str:
        """Per visited iterate: loss_max, n_increase (v_{k+1} > v_k, starting v_{-1} = +inf),
        first_increase, the sharpness and eos_step, the oscillation test; under noise the
        loss tail and the first step within the target. (In the vector pass these run on
        speculative steps; a pass in which a test fired is discarded and replayed.) The
        vector pass (``vector``) keeps no first steps: a first happens once a run, so the
        pass only notes that one did (``watched``) and the scalar pass finds its step."""
        # The same count either way (ninc_ >= 0, so adding 0.0 changes nothing): with AVX-512
        # "ninc_ + 1.0 if inc else ninc_" is one masked add (gd's pass 2 to 3% faster on Intel
        # Rocket Lake); without it, LLVM made that select of two sums into code that ran the
        # whole gd pass a fifth slower on AMD Zen 3, and a sum of a select is the safe form.
        count = "ninc_ + 1.0 if inc else ninc_" if self.spec.masked_adds else "ninc_ + (1.0 if inc else 0.0)"
        lines = ["inc = v > vprev_", f"ninc_ = {count}"]
        # First steps are kept as minima (inf: none yet), one comparison each.
        lines += [] if vector else ["first = kk - 1.0 if inc else math.inf", "finc_ = first if first < finc_ else finc_"]
        # One max instruction ("a > b ? a : b" is the x86 maximum); a NaN loss is acc's to see.
        lines.append("lmax_ = v if v > lmax_ else lmax_")
        if not self.sharpness_once or traced:
            lines.append(f"sh = _sharpness({', '.join(['lr_k', *self.hess, *self.pre])})")
        if not self.sharpness_once:
            lines.append("smax_ = sh if sh > smax_ else smax_")
            lines += [] if vector else ["first = kk if sh > thr_ else math.inf", "eos_ = first if first < eos_ else eos_"]
        if self.spec.noisy:
            # A sum of a select, as above; tail_ starts at +0.0, so adding 0.0 changes no bit.
            lines.append("tail_ = tail_ + (v if kk >= tail_from else 0.0)")
            lines += ["vmin = v if v < vmin else vmin"] if vector else ["first = kk if v <= target else math.inf", "reach_ = first if first < reach_ else reach_"]
        for j in range(self.D):
            lines += [f"osc = g_{j} * gprev_{j}", "swing_ = osc if osc < swing_ else swing_", f"gprev_{j} = g_{j}"]
        lines.append("vprev_ = v")
        return "\n".join(lines)

    def lane_values(self) -> list[tuple[str, str]]:
        """(local, accessor) of every per-lane value. Floats are rows of one array L and
        integers rows of one array K, with constant row offsets: LLVM then sees that no two
        rows overlap and vectorizes the lane loop without a runtime check per row."""
        floats = ["lr_", "bound_", *self.w, *self.s, *self.c, *self.h, *self.q, *self.p]
        floats += [f"sw_{j}" for j in range(self.D)] + [f"ss_{i}" for i in range(len(self.effective()))]
        floats += [f"gprev_{j}" for j in range(self.D)] + ["vprev_", "lmax_", "smax_", "swing_", "thr_", "tail_"]
        floats += ["sigma_"] if self.spec.noisy else []
        # Counters are floats too (exact up to 2**53): a select between integers on a mask
        # from a float comparison costs AVX2 four extra instructions to convert the mask.
        floats += ["kk", "live_", "event_", "ninc_", "finc_", "eos_", "reach_"]
        ints = ["run_"]
        return [(name, f"L[{i}, lane]") for i, name in enumerate(floats)] + [(name, f"K[{i}, lane]") for i, name in enumerate(ints)]

    def access(self) -> dict[str, str]:
        return dict(self.lane_values())

    def sizes(self) -> tuple[int, int]:
        values = self.lane_values()
        return sum(1 for _, a in values if a.startswith("L")), sum(1 for _, a in values if a.startswith("K"))


_OUTCOME_NAMES = {NAN: "NAN", CONVERGED: "CONVERGED", MAX_ITER: "MAX_ITER", DIVERGED: "DIVERGED", STALLED: "STALLED", CYCLING: "CYCLING"}


def kernel_source(spec: KernelSpec) -> str:
    """The text of the kernel module for ``spec``: its parts' functions, then the workers
    ``_worker`` and ``_worker_traced``.

    Worker arguments: ``blocks``, a 1-D int64 array of one counter shared by the threads of
    one call (each worker takes the next block of B runs from it as its lanes free up, so no
    thread waits on another while runs are left); ``X`` (rows x n) float64 per-run inputs in
    the order of ``spec.rows()``; ``max_iter``, ``tol``, ``div_factor``, ``seed``, ``tail_from`` (first step
    of the loss tail), ``target``; outputs ``F`` (D + len(FLOAT_OUTPUTS), N) float64 and ``I``
    (len(INT_OUTPUTS), N) int32, N >= base + n, run r's end in column ``base`` + r (so that a
    piece of a larger sweep writes straight into the sweep's outputs). ``_worker_traced`` also fills ``T`` (n, max_iter + 2, fields)
    with one row per iterate and ``T_len`` (n,) with each run's row count. The workers hold no
    lock (nogil): several run at once, one per thread, and each run's result depends on that
    run alone.
    """
    if isinstance(spec.problem, BlockProblem):
        return _block_source(spec)
    if isinstance(spec.problem, NetworkProblem):
        return _network_source(spec)
    parts = _Parts(spec)
    header = _header(spec, parts)
    functions = [parts.evaluate(exact=False), parts.evaluate(exact=True), parts.gradient(), parts.learning_rate(), parts.update(), parts.threshold(), parts.sharpness()]
    if spec.noisy:
        from sweep.optim.noise import NORMAL_SOURCE

        functions.append(NORMAL_SOURCE)
    worker = _worker(spec, parts, traced=False) + _worker(spec, parts, traced=True)
    return header + "\n\n".join(functions) + "\n\n" + worker + _DRIVERS


def trace_fields(spec: KernelSpec) -> list[str]:
    """Columns of a traced run's rows: step, the weights, loss, grad (the value for one
    weight, the 2-norm for several), lr (lr_k), sharpness, then the optimizer's state."""
    parts = _Parts(spec)
    names = list(spec.problem.weights) if parts.D > 1 else ["w"]
    state = [f"{slot}" if parts.D == 1 else f"{slot}_{name}" for slot in parts.slots for name in spec.problem.weights]
    return ["step", *names, "loss", "grad", "lr", "sharpness", *state, *parts.counters]


def _header(spec: KernelSpec, parts: _Parts) -> str:
    pr = spec.problem
    lines = [
        f"# Generated by sweep; do not edit. Problem: {pr.description}; optimizer {spec.optimizer.name}; schedule {spec.schedule.name}{'; noisy gradients' if spec.noisy else ''}.",
        "import math",
        "",
        "import numpy as np",
        "from numba import njit, prange",
        "",
        "from sweep.kernels.bits import fetch_add, save_point",
        "from sweep.kernels.trig import vcos, vcos_fast, vsin, vsin_fast",
        *pr.imports,
        "",
        f"B = {spec.lanes}",
        f"D = {parts.D}",
        "DBL_MAX = 1.7976931348623157e308",
        *(f"{name} = {code}" for code, name in _OUTCOME_NAMES.items()),
        f"CONTINUE = {CONTINUE}",
        f"N_FLOAT = {parts.D + len(FLOAT_OUTPUTS)}",
        f"N_INT = {len(INT_OUTPUTS)}",
        f"N_TRACE = {len(trace_fields(spec))}",
        "",
        "",
    ]
    return "\n".join(lines)


def _load(spec: KernelSpec, parts: _Parts) -> str:
    """Code that puts run r into lane ``lane`` (scalar, at a refill)."""
    o = spec.optimizer
    a = parts.access()
    lines = [f"{a['run_']} = r", f"{a['kk']} = 0.0", f"{a['lr_']} = X[0, r]"]
    lines += [f"{a[f'w_{j}']} = X[{1 + j}, r]" for j in range(parts.D)]
    scale = ", ".join(f"abs(X[{1 + j}, r])" for j in range(parts.D))
    # Capped at the largest double, so that an infinite iterate is always past it.
    lines.append(f"{a['bound_']} = min(div_factor * max(1.0, {scale}), DBL_MAX)")
    for slot, initial in o.slots:
        lines += [f"{a[f'{slot}_{j}']} = {float(initial)!r}" for j in range(parts.D)]
    lines += [f"{a[f'k_{name}']} = {float(initial)!r}" for name, initial in o.counters]
    lines += [f"{a[f'h_{h}']} = X[{parts.row['hyper:' + h]}, r]" for h in parts.hypers]
    lines += [f"{a[f'q_{q}']} = X[{parts.row['schedule:' + q]}, r]" for q in parts.sparams]
    lines += [f"{a[f'p_{i}']} = X[{parts.row['param:' + name]}, r]" for i, name in enumerate(spec.problem.params)]
    if spec.noisy:
        lines.append(f"{a['sigma_']} = X[{parts.row['noise:grad_noise']}, r]")
    lines += [f"{a[f'gprev_{j}']} = 0.0" for j in range(parts.D)]
    lines += [f"{a['vprev_']} = math.inf", f"{a['lmax_']} = -math.inf", f"{a['smax_']} = -math.inf", f"{a['swing_']} = 0.0", f"{a['tail_']} = 0.0"]
    lines += [f"{a['ninc_']} = 0.0", f"{a['finc_']} = math.inf", f"{a['eos_']} = math.inf", f"{a['reach_']} = math.inf"]
    lines.append(f"{a['thr_']} = _threshold(" + (", ".join(a[f"h_{h}"] for h in parts.hypers) or "0.0") + ")")
    if parts.sharpness_once:
        hess = ", ".join(f"_h{i}" for i in range(parts.n_hess))
        args = ", ".join([*(a[f"w_{j}"] for j in range(parts.D)), *(a[f"p_{i}"] for i in range(len(spec.problem.params)))])
        lines.append(f"_v, {', '.join(f'_g{j}' for j in range(parts.D))}, {hess}, = _evaluate_exact({args})")
        lines.append(f"_sh = _sharpness({a['lr_']}, {hess})")
        lines.append(f"{a['smax_']} = _sh")
        lines.append(f"{a['eos_']} = 0.0 if _sh > {a['thr_']} else math.inf")
    lines += [f"{a['live_']} = 1.0", f"{a['event_']} = 0.0", "n_live += 1"]
    return "\n".join(lines)


def _trace_row(parts: _Parts, spec: KernelSpec, step: str, w: list[str], loss: str, grads: list[str], state: list[str], counters: list[str], lr_k: str, sharp: str) -> str:
    grad = grads[0] if parts.D == 1 else "math.sqrt(" + " + ".join(f"{g} * {g}" for g in grads) + ")"
    values = [step, *w, loss, grad, lr_k, sharp, *state, *counters]
    return "\n".join(f"T[run_, int({step}), {i}] = {value}" for i, value in enumerate(values))


def _worker(spec: KernelSpec, parts: _Parts, traced: bool) -> str:
    """The worker: a vector pass that advances every lane ``substeps`` steps speculatively,
    and a scalar pass that replays, exactly and step by step, the lanes in which a test fired.

    The vector pass has no masks: each lane runs its steps with its state in registers and
    only notes whether any test fired; it writes its state back only if none did. A lane
    with an event keeps its state from the start of the pass, and the scalar pass replays
    those steps with the same functions (so the same bits) and the exact sin and cos,
    classifying each in the teaching loop's order.
    """
    name = "_worker_traced" if traced else "_worker"
    values = parts.lane_values()
    n_float, n_int = parts.sizes()
    a = parts.access()
    fixed = ("run_", "lr_", "bound_", "thr_", "sigma_", "live_", "event_")
    state = [(local, access) for local, access in values if local not in fixed and not local.startswith(("h_", "q_", "p_"))]
    store_all = "\n".join(f"{access} = {local}" for local, access in state)
    save = ["save = save_point(kk)"]
    save += [f"sw_{j} = w_{j} if save else sw_{j}" for j in range(parts.D)]
    save += [f"ss_{i} = {e} if save else ss_{i}" for i, e in enumerate(parts.effective())]
    advance = [f"w_{j} = wn_{j}" for j in range(parts.D)]
    advance += [f"{x} = {y}" for x, y in zip(parts.s + parts.c, parts.s_new + parts.c_new)]
    advance.append("kk = kk + 1.0")
    row = _trace_row(parts, spec, "kk", parts.w, "v", parts.g, parts.s, parts.c, "lr_k", "sh") if traced else ""
    S = spec.substeps

    def substep(s: int) -> str:
        # Substep s of a pass runs step kk + s: a pass starts at a multiple of S (runs start
        # at 0 and every pass, vector or replayed, advances S steps or stops the run), so
        # where S is a power of two, only substep 0 can meet a saved step past the first pass.
        if S & (S - 1) == 0:
            save_now = "save_point(kk)" if s == 0 else ("first_pass" if s & (s - 1) == 0 else None)
        else:
            save_now = f"save_point(kk + {s}.0)"
        saving = [] if save_now is None else [f"save = {save_now}", *save[1:]]
        body = "\n".join(
            [
                *saving,
                parts.step(0, scalar=False),
                *parts.watch(s),
                parts.dynamics(traced, vector=True),
                ("if live & (kk <= max_iter + 1.0):\n" + _lines(row, 4)) if traced else "",
                *advance[:-1],
            ]
        )
        return re.sub(r"\bkk\b", "ks", body)

    # (kk + 0.0 is not kk where kk is -0.0, so LLVM keeps that addition: substep 0 reads kk.)
    steps = "\n".join(f"ks = {'kk' if s == 0 else f'kk + {s}.0'}\n{substep(s)}" for s in range(S))
    first_pass = "first_pass = kk == 0.0\n" if S & (S - 1) == 0 and S > 1 else ""
    summaries = "ninc0 = ninc_\n" + ("vmin = math.inf\n" if spec.noisy else "")
    # The pass's steps, unrolled here so that each substep's tests are only what it needs.
    pass_text = f"{first_pass}{summaries}{steps}\nev = not (quiet & {parts.watched()})\nkk = kk + {S}.0"
    # The vector pass loads only what its steps read and writes back only what they change.
    used = _names_in(pass_text)
    assigned = {line.split(" = ")[0].strip() for line in pass_text.splitlines() if " = " in line}
    vector_load = "\n".join(f"{local} = {access}" for local, access in values if local in used and local not in ("live_", "event_"))
    # The state the pass changes is kept at its start in C (plain stores) and written back to
    # L whatever the outcome: a lane with an event is replayed from C. (A store of "new if ok
    # else old" becomes a masked store, which AMD's cores run many times slower.)
    # C is rows n_float.. of L: one allocation, so that the rows of both stand in the same
    # place relative to each other in every thread (apart, their distance was the heap's to
    # choose, and gd's pass ran 4 to 8% slower in some threads than in others).
    kept = [(local, access) for local, access in state if local in assigned]

    def kept_at(access: str) -> str:
        row = int(access[len("L[") : access.index(",")])
        return f"L[{n_float + row}, lane]"

    checkpoint = "\n".join(f"{kept_at(access)} = {local}" for local, access in kept)
    vector_store = "\n".join(f"{access} = {local}" for local, access in kept)
    kept_rows = {access for _, access in kept}
    load_all = "\n".join(f"{local} = {kept_at(access) if access in kept_rows else access}" for local, access in values if local not in ("live_", "event_"))
    vector_body = "\n".join(
        [
            f"live = {a['live_']} == 1.0",
            vector_load,
            checkpoint,
            # A pass that reaches max_iter is replayed: the test runs once per pass, not per step.
            f"quiet = kk <= max_iter - {S}.0",
            pass_text,
            vector_store,
            f"{a['event_']} = 1.0 if live & ev else 0.0",
            "any_event = any_event | (live & ev)",
        ]
    )
    moved_trace = ""
    if traced:
        moved_lr = f"_lr(lr_, kk + 1.0, max_iter{''.join(', ' + q for q in parts.q)})"
        moved_trace = _trace_row(parts, spec, "kk + 1.0", parts.wn, "v2", [f"g2_{j}" for j in range(parts.D)], parts.s_new, parts.c_new, moved_lr, "math.nan") + "\nT_len[run_] = int(kk) + 2"
    final_grad = parts.g[0] if parts.D == 1 else "math.sqrt(" + " + ".join(f"{g} * {g}" for g in parts.g) + ")"
    final_grad2 = "g2_0" if parts.D == 1 else "math.sqrt(" + " + ".join(f"g2_{j} * g2_{j}" for j in range(parts.D)) + ")"
    hess2 = [f"_h2_{i}" for i in range(parts.n_hess)]
    finish = f"""
out_ = base + run_
if status == DIVERGED or status == CYCLING:
    # The run ends at the iterate the update reached: its loss is part of the run.
    {', '.join(['v2', *(f'g2_{j}' for j in range(parts.D)), *hess2])}, = _evaluate_exact({', '.join([*parts.wn, *parts.p]) or '0.0'})
    if v2 > vprev_:
        ninc_ += 1.0
        finc_ = min(finc_, kk)
    lmax_ = v2 if v2 > lmax_ else lmax_
{_lines(moved_trace, 4)}
{_lines(chr(10).join(f'F[{j}, out_] = wn_{j}' for j in range(parts.D)), 4)}
    F[D, out_] = v2
    F[D + 1, out_] = {final_grad2}
    I[0, out_] = int(kk) + 1
else:
{_lines(('T_len[run_] = int(kk) + 1' + chr(10)) if traced else '', 4)}
{_lines(chr(10).join(f'F[{j}, out_] = w_{j}' for j in range(parts.D)), 4)}
    F[D, out_] = v
    F[D + 1, out_] = {final_grad}
    I[0, out_] = int(kk)
F[D + 2, out_] = lmax_
F[D + 3, out_] = smax_ if smax_ > -math.inf else math.nan
{_lines(_TAIL_OUTPUT.format(tail='tail_') if spec.stochastic else '', 0)}
I[1, out_] = status
I[2, out_] = int(ninc_)
I[3, out_] = int(finc_) if finc_ < math.inf else -1
I[4, out_] = int(eos_) if eos_ < math.inf else -1
I[5, out_] = 1 if swing_ < 0.0 else 0
{_lines(_REACHED_OUTPUT.format(reach='reach_') if spec.stochastic else '', 0)}
{a['live_']} = 0.0
n_live -= 1
stopped = True
r = _next_run(blocks, cursor, n)
if r >= 0:
{_lines(_load(spec, parts), 4)}
"""
    replay = f"""
{a['event_']} = 0.0
{load_all}
stopped = False
for _ in range({spec.substeps}):
{_lines(chr(10).join(save), 4)}
{_lines(parts.step(0, scalar=True), 4)}
{_lines(parts.dynamics(traced), 4)}
{_lines(row, 4)}
{_lines(parts.classify(), 4)}
    if status == CONTINUE:
{_lines(chr(10).join(advance), 8)}
        continue
{_lines(finish, 4)}
    break
if not stopped:
{_lines(store_all, 4)}
"""
    trace_args = ", T, T_len" if traced else ""
    return (
        # nogil: the executor runs a worker on each of its Python threads at once, all taking
        # blocks from one counter (sweep.run.executor.run_workers).
        f'@njit(cache=True, nogil=True, error_model="numpy")\n'
        f"def {name}(blocks, X, max_iter_, tol, div_factor, seed, tail_from_, target, F, I, base{trace_args}):\n"
        '    """Run blocks of runs taken from the counter ``blocks`` to their stops, B lanes in\n'
        '    flight, each refilled as its run ends; run r\'s end goes to column base + r of F and I."""\n'
        "    n = X.shape[1]\n"
        f"    L = np.zeros(({2 * n_float}, B))\n"
        f"    K = np.zeros(({n_int}, B), np.int64)\n"
        "    cursor = np.zeros(2, np.int64)\n"
        "    max_iter = float(max_iter_)\n"
        "    tail_from = float(tail_from_)\n"
        "    n_live = 0\n"
        "    for lane in range(B):\n"
        "        r = _next_run(blocks, cursor, n)\n"
        "        if r < 0:\n"
        "            break\n"
        f"{_lines(_load(spec, parts), 8)}\n"
        "    while n_live > 0:\n"
        "        any_event = False\n"
        "        for lane in range(B):\n"
        f"{_lines(vector_body, 12)}\n"
        "        if not any_event:\n"
        "            continue\n"
        "        for lane in range(B):\n"
        f"            if {a['event_']} == 0.0:\n"
        "                continue\n"
        f"{_lines(replay, 12)}\n\n\n"
    )


#: The register form sums this many lanes, B / LANE_SPLIT apart, in one iteration: each
#: H[j, q], held in a register for row j, then serves four vectors of lanes, and four
#: independent chains of adds hide each add's latency. One lane per iteration waits on its
#: chain of d dependent adds and reloads H[j, q] for every vector (the MSE kernel ran 1.07x
#: to 1.12x faster on AMD Zen 3 with AVX2; on Zen 4 with AVX-512, 1 to 8 lanes ran alike:
#: benchmarks/README.md). The block kernel's B must be a multiple (sweep/problems/code.py
#: writes the form).
LANE_SPLIT = 4

#: The block kernel's per-lane test counts share two float accumulators, one count per
#: "digit" of this base: at most D weights fail a test, so for D < COUNT_BASE the digits
#: never carry, and three digits stay below 2**53, where every sum of whole floats is exact.
#: Two accumulators loaded and stored per weight instead of one per test: the MSE model without
#: dynamics ran 1.13x to 1.16x faster, with the same bits (benchmarks/README.md).
COUNT_BASE = 2**17


def _block_source(spec: KernelSpec) -> str:
    """The kernel module of a block problem (a model on data): one step at a time for a
    block of lanes, the gradient matrix-shaped over the block, the update and the tests
    vectorized over lanes with a loop over the weights, the verdict as value selects (no
    scalar pass: every value is already exact), and lanes refilled as their runs end."""
    pr, o = spec.problem, spec.optimizer
    if spec.lanes % LANE_SPLIT:
        # the register form of H W takes LANE_SPLIT lanes per iteration: others would be skipped
        raise ValueError(f"lanes={spec.lanes}: a block kernel takes a multiple of {LANE_SPLIT} lanes")
    D = pr.d
    if D >= COUNT_BASE:
        raise ValueError(f"d={D}: a block kernel counts failing weights in digits of {COUNT_BASE}, so takes fewer weights")
    hypers = [h.name for h in o.hyperparameters]
    counters = [name for name, _ in o.counters]
    slots = [name for name, _ in o.slots]
    sparams = [p.name for p in spec.schedule.params]
    rows = {name: i for i, name in enumerate(spec.rows())}
    # Per-lane floats: rows of L.
    floats = ["lr_", "bound_", "kk", "live_", "vprev_", "lmax_", "smax_", "swing_", "thr_", "tail_", "ninc_", "finc_", "eos_", "reach_", "lrk_", "sigma_", "bs_"]
    floats += [f"h_{h}" for h in hypers] + [f"q_{q}" for q in sparams] + [f"k_{c}" for c in counters] + [f"k_{c}_new" for c in counters] + [f"sk_{c}" for c in counters]
    at = {name: i for i, name in enumerate(floats)}

    def lane(name):
        return f"L[{at[name]}, lane]"

    shared = {h: f"h_{h}" for h in hypers} | {c: f"k_{c}" for c in counters} | {f"{c}_new": f"k_{c}_new" for c in counters}
    local = {name: name for name in _names_in(o.update_code) if name not in shared and name not in _BUILTINS}
    update = rename(o.update_code, local | shared)
    pre = rename(o.preconditioner, local | shared) if o.preconditioner else "1.0"
    eff = [rename(e, {s_: s_} | {h: f"h_{h}" for h in hypers}) for s_, e in zip(slots, o.effective)]
    eff_new = [rename(e, {s_: f"{s_}_new"} | {h: f"h_{h}" for h in hypers}) for s_, e in zip(slots, o.effective)]
    load_hyper = "\n".join(f"h_{h} = {lane('h_' + h)}" for h in hypers)
    load_counters = "\n".join(f"k_{c} = {lane('k_' + c)}\nk_{c}_new = {lane('k_' + c + '_new')}" for c in counters)
    load_slots = "\n".join(f"{s_} = S[{i}, j, lane]" for i, s_ in enumerate(slots))
    store_slots = "\n".join(f"SN[{i}, j, lane] = {s_}_new" for i, s_ in enumerate(slots))
    same_state = " & ".join(f"({b} == {a})" for a, b in zip(eff, eff_new)) or "True"
    repeat_state = " & ".join(f"({b} == SS[{i}, j, lane])" for i, b in enumerate(eff_new)) or "True"
    save_state = "\n".join(f"SS[{i}, j, lane] = {e} if save else SS[{i}, j, lane]" for i, e in enumerate(eff))
    counters_same = " & ".join(f"({lane('k_' + c + '_new')} == {lane('k_' + c)})" for c in counters) or "True"
    counters_repeat = " & ".join(f"({lane('k_' + c + '_new')} == {lane('sk_' + c)})" for c in counters) or "True"
    count_code = rename(o.count_code, shared) if o.count_code.strip() else ""
    once = pr.hessian_constant and spec.schedule.constant and not o.preconditioner
    sharp = ""
    if spec.dynamics and not once:
        # Warm-started power iteration, one Hessian-vector product a step: PX tracks the top
        # eigenvector of P**-1/2 H P**-1/2 as the weights move (Golub and Van Loan, sec. 7.3).
        sharp = f"""
for j in range(D):
    for lane in range(B):
        PX[j, lane] = PV[j, lane] / math.sqrt(PP[j, lane])
{pr.hvp_code}
for lane in range(B):
    NR[lane] = 0.0
    RQ[lane] = 0.0
for j in range(D):
    for lane in range(B):
        y = HX[j, lane] / math.sqrt(PP[j, lane])
        RQ[lane] += PV[j, lane] * y
        NR[lane] += y * y
        HX[j, lane] = y
for j in range(D):
    for lane in range(B):
        norm = math.sqrt(NR[lane])
        PV[j, lane] = HX[j, lane] / norm if norm > 0.0 else PV[j, lane]
for lane in range(B):
    sh = {lane('lrk_')} * RQ[lane]
    {lane('smax_')} = sh if sh > {lane('smax_')} else {lane('smax_')}
    first = {lane('kk')} if sh > {lane('thr_')} else math.inf
    {lane('eos_')} = first if first < {lane('eos_')} else {lane('eos_')}
"""
    noisy_grad = f"g = g + {lane('sigma_')} * _normal(seed, int(X[{rows['noise:run']}, K[0, lane]]), int({lane('kk')}), j)\n" if spec.noisy else ""
    tests_exact = spec.exact_tests
    # Only the dynamics and the noisy outcomes read the losses V (model_tracks_loss); without
    # them V stays 0 and its tests and records are left out.
    tracks_loss = spec.dynamics or spec.stochastic
    digit, digit2 = float(COUNT_BASE), float(COUNT_BASE) ** 2
    # FA: weights not converged + digit * weights past the bound + digit**2 * NaN gradients;
    # FB: weights that moved + digit * weights away from the saved state (Brent) + digit**2 *
    # gradients that changed sign (the oscillation, which names the regime: every kernel).
    fails = [f"(0.0 if abs(wn) <= {lane('bound_')} else {digit!r})", f"({digit2!r} if g != g else 0.0)"]
    if not spec.stochastic:
        fails.insert(0, "(0.0 if (abs(g) <= tol) & (abs(d) <= tol) else 1.0)")
    moves = [f"({digit2!r} if g * GP[j, lane] < 0.0 else 0.0)"]
    if tests_exact:
        moves[:0] = [f"(0.0 if (wn == w) & ({same_state}) else 1.0)", f"(0.0 if (wn == SW[j, lane]) & ({repeat_state}) else {digit!r})"]
    tests = [f"FA[lane] += {' + '.join(fails)}", f"FB[lane] += {' + '.join(moves)}", "GP[j, lane] = g"]
    loss_records = ""
    if tracks_loss:
        loss_records = f"""v = V[lane]
v = v if v == v else math.inf
inc = v > {lane('vprev_')}
{lane('ninc_')} += 1.0 if inc else 0.0
first = {lane('kk')} - 1.0 if inc else math.inf
{lane('finc_')} = first if first < {lane('finc_')} else {lane('finc_')}
{lane('lmax_')} = v if v > {lane('lmax_')} else {lane('lmax_')}
{lane('vprev_')} = v"""
    # the oscillation test needs only whether some g_k * g_(k-1) < 0: a count
    loss_records += f"\n{lane('swing_')} = {lane('swing_')} - fb_top"
    if spec.stochastic:
        loss_records += f"""
{lane('tail_')} += v if {lane('kk')} >= tail_from else 0.0
first = {lane('kk')} if v <= target else math.inf
{lane('reach_')} = first if first < {lane('reach_')} else {lane('reach_')}"""
    moved_loss = f"""if moved:
    # The run ends at the iterate the update reached: its loss is part of the run.
    v2 = model_loss({0 if pr.kind == "mse" else 1}, W[:, lane].copy(), DX, DY)
    if v2 > {lane('vprev_')}:
        {lane('ninc_')} += 1.0
        {lane('finc_')} = min({lane('finc_')}, kk)
    {lane('lmax_')} = v2 if v2 > {lane('lmax_')} else {lane('lmax_')}"""
    # The digits, exactly: x / digit is a power-of-two scaling, and its floor drops the
    # lowest digit, which is below COUNT_BASE.
    digits = "\n".join(
        [
            "fa = FA[lane]",
            f"fa_high = math.floor(fa * {1.0 / digit!r})",
            "fb = FB[lane]",
            f"fb_high = math.floor(fb * {1.0 / digit!r})",
            f"fb_top = math.floor(fb * {1.0 / digit2!r})",
        ]
    )
    # No NaN-loss test: a model's loss is finite or +inf at every finite w (its data are
    # finite), so a NaN in V is inf - inf inside the sum and is read as +inf (loss_records),
    # the same run with the loss tracked or not; a NaN gradient still ends the run as nan.
    verdict = [f"status = {CONTINUE}"]
    if not spec.stochastic:
        verdict.append(f"status = {CONVERGED} if (status == {CONTINUE}) & (fa == fa_high * {digit!r}) else status")
    verdict += [
        f"status = {NAN} if (status == {CONTINUE}) & (fa >= {digit2!r}) else status",
        f"status = {MAX_ITER} if (status == {CONTINUE}) & ({lane('kk')} == max_iter) else status",
        # no NaN gradient by now: the high digits are the weights past the bound
        f"status = {DIVERGED} if (status == {CONTINUE}) & (fa_high > 0.0) else status",
    ]
    if tests_exact:
        verdict += [
            f"status = {STALLED} if (status == {CONTINUE}) & (fb == fb_high * {digit!r}) & ({counters_same}) else status",
            f"status = {CYCLING} if (status == {CONTINUE}) & (fb_high == fb_top * {digit!r}) & ({counters_repeat}) else status",
        ]
    load_run = "\n".join(
        [
            "K[0, lane] = r",
            f"{lane('kk')} = 0.0",
            f"{lane('live_')} = 1.0",
            f"{lane('lr_')} = X[0, r]",
            f"{lane('bound_')} = min(div_factor * max(1.0, abs(X[1, r])), DBL_MAX)",
            *(f"{lane('h_' + h)} = X[{rows['hyper:' + h]}, r]" for h in hypers),
            *(f"{lane('q_' + q)} = X[{rows['schedule:' + q]}, r]" for q in sparams),
            *(f"{lane('k_' + c)} = {float(v)!r}" for c, v in o.counters),
            (f"{lane('sigma_')} = X[{rows['noise:grad_noise']}, r]" if spec.noisy else ""),
            (f"{lane('bs_')} = X[{rows['batch:batch_size']}, r]" if spec.batched else ""),
            f"{lane('vprev_')} = math.inf",
            f"{lane('lmax_')} = -math.inf",
            f"{lane('smax_')} = -math.inf",
            f"{lane('swing_')} = 0.0",
            f"{lane('tail_')} = 0.0",
            f"{lane('ninc_')} = 0.0",
            f"{lane('finc_')} = math.inf",
            f"{lane('eos_')} = math.inf",
            f"{lane('reach_')} = math.inf",
            f"{lane('thr_')} = _threshold(" + (", ".join(lane("h_" + h) for h in hypers) or "0.0") + ")",
            "for j in range(D):",
            "    W[j, lane] = X[1 + j, r]",
            "    GP[j, lane] = 0.0",
            "    PV[j, lane] = 1.0 / math.sqrt(D)",
            *(f"    S[{i}, j, lane] = {float(v)!r}" for i, (_, v) in enumerate(o.slots)),
            (f"{lane('smax_')} = {lane('lr_')} * DC[0]\n{lane('eos_')} = 0.0 if {lane('smax_')} > {lane('thr_')} else math.inf" if once and spec.dynamics else ""),
            "n_live += 1",
        ]
    )
    # Only the log loss and mini-batches pass over the samples a block at a time.
    sample_rows = "n_samples" if pr.kind == "logloss" or spec.batched else "1"
    scratch = f"SC = np.zeros(({sample_rows}, B))\nZB = np.zeros(({sample_rows}, B))"
    batches = ""
    if spec.batched:
        scratch += "\nMB = np.zeros((n_samples, B))\nRK = np.zeros((n_samples, B), np.int64)\nBT = np.zeros(B, np.int64)\nBS = np.ones(B, np.int64)\nBI = np.zeros(B)"
        # Each lane's batch at this step: a new epoch's order at its first step, then the
        # weights 1/|batch| on the batch's samples (sweep.optim.batches).
        batches = f"""
for lane in range(B):
    if {lane('live_')} == 0.0:
        BS[lane] = n_samples
        BT[lane] = -1
        continue
    size = int({lane('bs_')})
    per_epoch = (n_samples + size - 1) // size
    k = int({lane('kk')})
    t = k % per_epoch
    if t == 0:
        _epoch_ranks(seed, int(X[{rows['noise:run']}, K[0, lane]]), k // per_epoch, RK, lane)
    BS[lane] = size
    BT[lane] = t
    BI[lane] = 1.0 / min(size, n_samples - t * size)
for i in range(n_samples):
    for lane in range(B):
        MB[i, lane] = BI[lane] if RK[i, lane] // BS[lane] == BT[lane] else 0.0
"""
    lines = f'''@njit(cache=True, nogil=True, error_model="numpy")
def _worker(blocks, X, DX, DY, DH, DB, DC, max_iter_, tol, div_factor, seed, tail_from_, target, F, I, base):
    """Blocks of runs taken from the counter ``blocks``, B lanes in flight, each refilled as its
    run ends; run r's end goes to column base + r of F and I."""
    n = X.shape[1]
    n_samples = DX.shape[0]
    L = np.zeros(({len(floats)}, B))
    K = np.zeros((1, B), np.int64)
    W = np.zeros((D, B))
    WN = np.zeros((D, B))
    SW = np.zeros((D, B))
    G = np.zeros((D, B))
    GP = np.zeros((D, B))
    S = np.zeros(({max(len(slots), 1)}, D, B))
    SN = np.zeros(({max(len(slots), 1)}, D, B))
    SS = np.zeros(({max(len(slots), 1)}, D, B))
    PV = np.zeros((D, B))
    PX = np.zeros((D, B))
    # the preconditioner's diagonal (ones, and left so, for an optimizer without one)
    PP = np.ones((D, B))
    HX = np.zeros((D, B))
    V = np.zeros(B)
    Z = np.zeros(B)
    R = np.zeros(B)
    NR = np.zeros(B)
    RQ = np.zeros(B)
{_lines(scratch, 4)}
    # Each test counts the weights that fail it, in the digits of FA and FB (COUNT_BASE;
    # floats, added to whatever the outcome: a store of "x if c else the old value" becomes
    # a masked store, which AMD runs slowly).
    FA = np.zeros(B)
    FB = np.zeros(B)
    ST = np.zeros(B, np.int64)
    cursor = np.zeros(2, np.int64)
    max_iter = float(max_iter_)
    tail_from = float(tail_from_)
    n_live = 0
    for lane in range(B):
        r = _next_run(blocks, cursor, n)
        if r < 0:
            break
{_lines(load_run, 8)}
    while n_live > 0:
        # Brent: keep the state at k = 0, 1, 2, 4, 8, ... (a branch per lane: most steps
        # save nothing, and a pass over every weight of the block would cost a step's tenth)
        for lane in range(B):
            if not save_point({lane("kk")}):
                continue
            save = True
{_lines(chr(10).join(f"{lane('sk_' + c)} = {lane('k_' + c)}" for c in counters), 12)}
            for j in range(D):
                SW[j, lane] = W[j, lane]
{_lines(load_hyper, 16)}
{_lines(chr(10).join(f"{s_} = S[{i}, j, lane]" for i, s_ in enumerate(slots)), 16)}
{_lines(save_state, 16)}
{_lines(batches, 8)}
{_lines(pr.gradient_code, 8)}
        for lane in range(B):
{_lines(load_hyper, 12)}
{_lines(chr(10).join(f"k_{c} = {lane('k_' + c)}" for c in counters), 12)}
{_lines(count_code, 12)}
{_lines(chr(10).join(f"{lane('k_' + c + '_new')} = k_{c}_new" for c in counters), 12)}
            {lane('lrk_')} = _lr({lane('lr_')}, {lane('kk')}, max_iter{"".join(", " + lane("q_" + q) for q in sparams)})
            FA[lane] = 0.0
            FB[lane] = 0.0
        for j in range(D):
            for lane in range(B):
{_lines(load_hyper, 16)}
{_lines(load_counters, 16)}
                g = G[j, lane]
{_lines(noisy_grad, 16)}
                w = W[j, lane]
{_lines(load_slots, 16)}
{_lines(update, 16)}
{_lines(f"PP[j, lane] = {pre}" if o.preconditioner else "", 16)}
                wn = w - {lane('lrk_')} * d
                WN[j, lane] = wn
{_lines(store_slots, 16)}
                # one digit per test (COUNT_BASE); converged: every |g| and every |d| at most tol
{_lines(chr(10).join(tests), 16)}
{_lines(sharp, 8)}
        any_stop = False
        for lane in range(B):
{_lines(digits, 12)}
{_lines(loss_records, 12)}
{_lines(chr(10).join(verdict), 12)}
            status = status if {lane('live_')} == 1.0 else {CONTINUE}
            ST[lane] = status
            any_stop = any_stop | (status != {CONTINUE})
            go = status == {CONTINUE}
            {lane('kk')} += 1.0 if go else 0.0
{_lines(chr(10).join(f"{lane('k_' + c)} = {lane('k_' + c + '_new')} if go else {lane('k_' + c)}" for c in counters), 12)}
        # The new weights and slots become the current ones by swapping the buffers (no copy):
        # a stopped lane's last iterate is then in WN, the one its update reached in W.
        W, WN = WN, W
        S, SN = SN, S
        if not any_stop:
            continue
        for lane in range(B):
            status = ST[lane]
            if status == {CONTINUE}:
                continue
            run_ = K[0, lane]
            out_ = base + run_
            kk = {lane('kk')}
            moved = (status == {DIVERGED}) | (status == {CYCLING})
            for j in range(D):
                F[j, out_] = W[j, lane] if moved else WN[j, lane]
{_lines(moved_loss if tracks_loss else "", 12)}
            F[D, out_] = math.nan
            F[D + 1, out_] = math.nan
            F[D + 2, out_] = {lane('lmax_')}
            F[D + 3, out_] = {lane('smax_')} if {lane('smax_')} > -math.inf else math.nan
{_lines(_TAIL_OUTPUT.format(tail=lane('tail_')) if spec.stochastic else '', 12)}
            I[0, out_] = int(kk) + 1 if moved else int(kk)
            I[1, out_] = status
            I[2, out_] = int({lane('ninc_')})
            I[3, out_] = int({lane('finc_')}) if {lane('finc_')} < math.inf else -1
            I[4, out_] = int({lane('eos_')}) if {lane('eos_')} < math.inf else -1
            I[5, out_] = 1 if {lane('swing_')} < 0.0 else 0
{_lines(_REACHED_OUTPUT.format(reach=lane('reach_')) if spec.stochastic else '', 12)}
            {lane('live_')} = 0.0
            n_live -= 1
            r = _next_run(blocks, cursor, n)
            if r >= 0:
{_lines(load_run, 16)}


'''
    functions = [_Parts.learning_rate(_BlockNames(spec)), _Parts.threshold(_BlockNames(spec))]
    if spec.noisy:
        from sweep.optim.noise import NORMAL_SOURCE

        functions.append(NORMAL_SOURCE)
    if spec.batched:
        from sweep.optim.batches import BATCH_SOURCE

        functions.append(BATCH_SOURCE)
    header = "\n".join(
        [
            f"# Generated by sweep; do not edit. Problem: {pr.description}; optimizer {o.name}; schedule {spec.schedule.name}{'; noisy gradients' if spec.noisy else ''}{'; mini-batches' if spec.batched else ''}.",
            "import math",
            "",
            "import numpy as np",
            "from numba import njit",
            "",
            "from sweep.kernels.bits import fetch_add, save_point",
            "from sweep.kernels.blas import matmul, matmul_tn",
            "from sweep.kernels.expfun import vexp_unit, vlog1p_unit",
            "from sweep.kernels.models import model_loss",
            "from sweep.kernels.trig import vcos",
            "",
            f"B = {spec.lanes}",
            f"D = {D}",
            "DBL_MAX = 1.7976931348623157e308",
            "",
            "",
        ]
    )
    return header + "\n\n".join(functions) + "\n\n" + lines + _DRIVERS


class _BlockNames:
    """The names ``_Parts.learning_rate`` and ``_Parts.threshold`` read, for a block problem."""

    def __init__(self, spec: KernelSpec):
        self.spec = spec
        self.hypers = [h.name for h in spec.optimizer.hyperparameters]
        self.sparams = [p.name for p in spec.schedule.params]
        self.h = [f"h_{name}" for name in self.hypers]
        self.q = [f"q_{name}" for name in self.sparams]


@dataclass(frozen=True)
class NetworkProblem:
    """The two-layer network of the trainability experiment (``sweep.fractal``): its passes
    over the data points, unrolled for one width, on the flat lane state they define.

    Attributes:
        width: n; the network has n*n + n weights, trained with one learning rate per layer.
        source: the module text that defines the state layout (BLOCK, N, POINTS, the row
            offsets W1_AT .. ROWS) and the passes ``add_points`` and ``add_point``
            (``sweep.fractal.passes``).
        description: one line for the module's header.
    """

    width: int
    source: str
    description: str = ""
    user_functions: tuple = field(default=(), compare=False)

    @property
    def d(self) -> int:
        return self.width * self.width + self.width


def _network_source(spec: KernelSpec) -> str:
    """The kernel of the trainability network: full-batch descent with one learning rate per
    layer (``lr_in`` for W1, ``lr_out`` for W2) and the optimizer's update, the paper's
    convergence measure as the recorder, and lanes refilled as runs end.

    A run stops after ``steps`` steps, or as soon as its output weights are no longer finite:
    they never become finite again (x - anything is non-finite, and 0 * inf is NaN) and every
    later loss is non-finite, so the rest of its normalized losses are known (the cap) and a
    new run takes the lane. Per run only what the measure needs is kept (the notebook's
    ``convergence_measure``): with v_t the loss before step t, made ``clip`` where it is not
    finite, divided by v_0 and capped at ``clip``, converged = mean of the last ``window``
    v_t < 1, measure = -sum v_t if converged else sum 1/v_t.
    """
    o = spec.optimizer
    pr = spec.problem
    hypers = [h.name for h in o.hyperparameters]
    counters = [name for name, _ in o.counters]
    slots = [name for name, _ in o.slots]
    rows = {name: i for i, name in enumerate(spec.rows())}
    shared = {h: f"h_{h}" for h in hypers} | {c: f"k_{c}" for c in counters} | {f"{c}_new": f"k_{c}_new" for c in counters}
    local = {name: name for name in _names_in(o.update_code) if name not in shared and name not in _BUILTINS}
    update = rename(o.update_code, local | shared)
    count_code = rename(o.count_code, shared) if o.count_code.strip() else ""
    per_lane = ["lr_in", "lr_out", "t", "loss0", "total", "recip", "tail", "last", "live", *(f"h_{h}" for h in hypers), *(f"k_{c}" for c in counters), *(f"k_{c}_new" for c in counters)]
    at = {name: i for i, name in enumerate(per_lane)}

    def lane(name):
        return f"P[{at[name]}, lane]"

    load_run = "\n".join(
        [
            "R[lane] = r",
            f"{lane('lr_in')} = X[{rows['lr:lr_in']}, r]",
            f"{lane('lr_out')} = X[{rows['lr:lr_out']}, r]",
            *(f"{lane('h_' + h)} = X[{rows['hyper:' + h]}, r]" for h in hypers),
            *(f"{lane('k_' + c)} = {float(v)!r}" for c, v in o.counters),
            f"{lane('t')} = 0.0",
            f"{lane('loss0')} = 1.0",
            *(f"{lane(name)} = 0.0" for name in ("total", "recip", "tail", "last")),
            f"{lane('live')} = 1.0",
            "for i in range(N):",
            "    for j in range(N):",
            "        lanes[(W1_AT + i * N + j) * BLOCK + lane] = W1[i, j]",
            "    lanes[(W2_AT + i) * BLOCK + lane] = W2[i]",
            *(f"S[{q}, :, lane] = {float(v)!r}" for q, (_, v) in enumerate(o.slots)),
            "n_live += 1",
        ]
    )
    record = """
v = loss if math.isfinite(loss) else clip
v = v / {loss0}
v = clip if v > clip else v
{total} += v
{recip} += 1.0 / v
{tail} = {tail} + v if t_now >= first_tail else {tail}
{last} = v
"""
    names = {name: lane(name) for name in ("loss0", "total", "recip", "tail", "last")}
    body = f'''@njit(cache=True, nogil=True, error_model="numpy")
def _worker(blocks, X, DX, DY, W1, W2, steps_, clip, window_, F):
    """Train blocks of networks taken from the counter ``blocks``, BLOCK in flight; F gets
    each run's measure, class (1.0 converged) and last v_t."""
    n = X.shape[1]
    n_data = DY.size
    steps = float(steps_)
    first_tail = float(max(0, steps_ - window_))
    grad_scale = 2.0 / n_data
    whole = n_data - n_data % POINTS
    lanes = np.zeros(ROWS * BLOCK)
    P = np.zeros(({len(per_lane)}, BLOCK))
    R = np.zeros(BLOCK, np.int64)
    S = np.zeros(({max(len(slots), 1)}, N * N + N, BLOCK))
    cursor = np.zeros(2, np.int64)
    n_live = 0
    for lane in range(BLOCK):
        r = _next_run(blocks, cursor, n)
        if r < 0:
            break
{_lines(load_run, 8)}
    while n_live > 0:
        lanes[G1_AT * BLOCK : Z_AT * BLOCK] = 0.0  # gradients and loss
        for d in range(0, whole, POINTS):
            add_points(DX, DY, d, lanes)
        for d in range(whole, n_data):
            add_point(DX, DY, d, lanes)
        for lane in range(BLOCK):
            loss = lanes[LOSS_AT * BLOCK + lane] / n_data
            t_now = {lane('t')}
            {lane('loss0')} = loss if t_now == 0.0 else {lane('loss0')}
{_lines(record.format(**names), 12)}
{_lines(chr(10).join(f"k_{c} = {lane('k_' + c)}" for c in counters), 12)}
{_lines(chr(10).join(f"h_{h} = {lane('h_' + h)}" for h in hypers), 12)}
{_lines(count_code, 12)}
{_lines(chr(10).join(f"{lane('k_' + c + '_new')} = k_{c}_new" for c in counters), 12)}
        # The update; the 2/D of the mean squared error is applied here, once per weight.
        for row in range(N * N + N):
            first_layer = row < N * N
            for lane in range(BLOCK):
{_lines(chr(10).join(f"h_{h} = {lane('h_' + h)}" for h in hypers), 16)}
{_lines(chr(10).join(f"k_{c} = {lane('k_' + c)}" + chr(10) + f"k_{c}_new = {lane('k_' + c + '_new')}" for c in counters), 16)}
                g = grad_scale * lanes[(G1_AT + row) * BLOCK + lane]
                w = lanes[(W1_AT + row) * BLOCK + lane]
{_lines(chr(10).join(f"{s_} = S[{q}, row, lane]" for q, s_ in enumerate(slots)), 16)}
{_lines(update, 16)}
{_lines(chr(10).join(f"S[{q}, row, lane] = {s_}_new" for q, s_ in enumerate(slots)), 16)}
                lr = {lane('lr_in')} if first_layer else {lane('lr_out')}
                lanes[(W1_AT + row) * BLOCK + lane] = w - lr * d
        for lane in range(BLOCK):
{_lines(chr(10).join(f"{lane('k_' + c)} = {lane('k_' + c + '_new')}" for c in counters), 12)}
            {lane('t')} += 1.0
            dead = False
            for j in range(N):
                dead = dead | (not math.isfinite(lanes[(W2_AT + j) * BLOCK + lane]))
            if {lane('live')} == 0.0 or not (dead or {lane('t')} >= steps):
                continue
            # The steps a dead run skips: each has a non-finite loss, so the same v for all.
            loss = math.inf
            t_now = {lane('t')}
            while t_now < steps:
{_lines(record.format(**names), 16)}
                t_now += 1.0
            run_ = R[lane]
            ok = {lane('tail')} / (steps - first_tail) < 1.0
            F[0, run_] = -{lane('total')} if ok else {lane('recip')}
            F[1, run_] = 1.0 if ok else 0.0
            F[2, run_] = {lane('last')}
            {lane('live')} = 0.0
            n_live -= 1
            r = _next_run(blocks, cursor, n)
            if r >= 0:
{_lines(load_run, 16)}


'''
    header = f"# Generated by sweep; do not edit. Problem: {pr.description}; optimizer {o.name}.\nfrom sweep.kernels.bits import fetch_add\n"
    return header + pr.source + "\n\n" + body + _DRIVERS.replace("cursor[0] * B + cursor[1]", "cursor[0] * BLOCK + cursor[1]").replace("cursor[1] == B:", "cursor[1] == BLOCK:")


_DRIVERS = '''@njit(cache=True, error_model="numpy")
def _next_run(blocks, cursor, n):
    """The worker's next run, or -1 once none is left: cursor holds (block, offset in the
    block); at offset 0 the worker takes the next block from the shared counter."""
    if cursor[1] == 0:
        cursor[0] = fetch_add(blocks, 1)
    run = cursor[0] * B + cursor[1]
    if run >= n:
        # Done for good: block n's runs are all past n, and offset 1 takes no new block.
        cursor[0] = n
        cursor[1] = 1
        return -1
    cursor[1] += 1
    if cursor[1] == B:
        cursor[1] = 0
    return run
'''
