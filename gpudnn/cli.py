"""The ``gpudnn`` command: the course's experiments from the shell.

    gpudnn train                        the course model (784-512-10, Adam) on the embedded sample
    gpudnn compare optimizers           sgd, rmsprop, adam from the same seed: table + PNG
    gpudnn compare activations          sigmoid, tanh, relu, leaky_relu, elu: table + PNG
    gpudnn compare activations --depth 6    per-layer gradient norms of a deep stack
    gpudnn lr                           one optimizer at several learning rates: table + PNG

Exit status: 0 done; 2 bad arguments, unknown names, unusable device or data set (one line on
stderr); 130 stopped by Ctrl-C, after printing what finished.
"""

import argparse
import os
import sys

from . import activations, config, datasets, dtype_policies, experiments
from .dtype_policies import POLICIES
from .backend import parse_device
from .backend.device import current_backend
from .errors import GpudnnError, InvalidInputError

DEFAULT_CHOICES = {
    "optimizers": ["sgd", "rmsprop", "adam"],
    "activations": ["sigmoid", "tanh", "relu", "leaky_relu", "elu"],
}
# 3.0 overshoots with plain SGD on MNIST-like data; 0.001 crawls: both ends of the lesson.
DEFAULT_RATES = [3.0, 1.0, 0.1, 0.01, 0.001]
INTERRUPTED = 130
#: The folder plots go to when --out names no path (relative to where the command runs).
OUT_DIR = "out"


# ---------------------------------------------------------------- argument parsing
def _int_at_least(low, what):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"must be a {what} integer, not {text!r}")
        return value
    return parse


_positive_int = _int_at_least(1, "positive")
_seed = _int_at_least(0, "non-negative")


def _device(text):
    try:
        parse_device(text)
    except GpudnnError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _add_training_flags(parser, optimizer, activation, with_lr=True):
    parser.add_argument("--dataset", choices=datasets.NAMES, default="sample",
                        help="data set (default: sample, the 5,000 MNIST digits shipped inside)")
    parser.add_argument("--optimizer", default=optimizer,
                        help=f"sgd, rmsprop, adam, adamw or adagrad (default: {optimizer})")
    if with_lr:
        parser.add_argument("--lr", type=float, default=None,
                            help="learning rate (default: the optimizer's Keras default)")
    parser.add_argument("--activation", default=activation,
                        help=f"hidden-layer activation (default: {activation})")
    parser.add_argument("--epochs", type=_positive_int, default=5, help="default: 5")
    parser.add_argument("--batch-size", type=_positive_int, default=128, help="default: 128")
    parser.add_argument("--device", type=_device, default=None,
                        help="cpu, cuda, cuda:N or auto (default: $GPUDNN_DEVICE, else cpu)")
    parser.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    parser.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                        help="train on the first N training samples only (quick runs)")
    parser.add_argument("--dtype-policy", choices=sorted(POLICIES), default=None,
                        help="Keras's dtype policy of the layers, e.g. mixed_bfloat16 "
                             "(docs/mixed-precision.md; default: float32)")


def build_parser():
    parser = argparse.ArgumentParser(prog="gpudnn", description="Run the course's experiments.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train the course model and report test accuracy")
    _add_training_flags(train, "adam", "relu")
    train.add_argument("--depth", type=_positive_int, default=1,
                       help="hidden layers (default: 1, the course's 784-512-10)")
    train.add_argument("--width", type=_positive_int, default=None,
                       help="hidden units per layer (default: 512, or 128 when depth > 1)")
    train.add_argument("--save", metavar="PATH", help="save the trained weights (.npz)")
    train.set_defaults(handler=train_command)

    compare = commands.add_parser("compare", help="compare optimizers or activations")
    compare.add_argument("what", choices=sorted(DEFAULT_CHOICES))
    _add_training_flags(compare, "adam", "relu")
    compare.add_argument("--choices", nargs="+", metavar="NAME",
                         help="the names to compare (default: optimizers sgd rmsprop adam; "
                              "activations sigmoid tanh relu leaky_relu elu)")
    compare.add_argument("--depth", type=_positive_int, default=1,
                         help="hidden layers; above 1 also records per-layer gradient norms")
    compare.add_argument("--width", type=_positive_int, default=None,
                         help="hidden units per layer (default: 512, or 128 when depth > 1)")
    compare.add_argument("--every", type=_positive_int, default=1, metavar="N",
                         help="with --depth > 1: record gradient norms every N batches")
    compare.add_argument("--out", metavar="PATH",
                         help=f"PNG path (default: {OUT_DIR}/compare-WHAT.png)")
    compare.set_defaults(handler=compare_command)

    lr = commands.add_parser("lr", help="one network at several learning rates")
    _add_training_flags(lr, "sgd", "relu", with_lr=False)
    lr.add_argument("--rates", nargs="+", type=float, default=DEFAULT_RATES, metavar="LR",
                    help="learning rates (default: 3.0 1.0 0.1 0.01 0.001)")
    lr.add_argument("--out", metavar="PATH", default=None,
                    help=f"PNG path (default: {OUT_DIR}/learning-rates.png)")
    lr.set_defaults(handler=lr_command)
    _add_sweep_command(commands)
    return parser


def _add_sweep_command(commands):
    sweep = commands.add_parser(
        "sweep", help="a search over optimizers, learning rates and activations on Ray Tune")
    sweep.add_argument("--dataset", choices=datasets.NAMES, default="sample",
                       help="data set (default: sample)")
    sweep.add_argument("--optimizers", default="adam", metavar="A,B",
                       help="comma list (default: adam)")
    sweep.add_argument("--learning-rates", default=None, metavar="RATES",
                       help="LOW:HIGH:log:N (e.g. 1e-4:1e-1:log:8), LOW:HIGH:lin:N or a comma "
                            "list (default: each optimizer's Keras default)")
    sweep.add_argument("--activations", default="relu", metavar="A,B",
                       help="comma list (default: relu)")
    sweep.add_argument("--epochs", type=_positive_int, default=5, help="default: 5")
    sweep.add_argument("--seeds", type=_positive_int, default=1,
                       help="seeds 0..N-1 for every combination (default: 1)")
    sweep.add_argument("--batch-size", type=_positive_int, default=128, help="default: 128")
    sweep.add_argument("--depth", type=_positive_int, default=1, help="hidden layers (default: 1)")
    sweep.add_argument("--width", type=_positive_int, default=None,
                       help="hidden units per layer (default: 512, or 128 when depth > 1)")
    sweep.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                       help="train on the first N training samples only")
    sweep.add_argument("--samples", type=_positive_int, default=None, metavar="N",
                       help="with --search optuna: trials to draw; with the grid: repeats")
    sweep.add_argument("--search", choices=("grid", "optuna"), default="grid",
                       help="grid (default): every combination; optuna: Optuna's sampler")
    sweep.add_argument("--scheduler", choices=("fifo", "asha"), default="fifo",
                       help="asha stops poor trials early (Ray Tune's ASHA)")
    sweep.add_argument("--gpus-per-trial", type=float, default=0.0, metavar="F",
                       help="GPU share of a trial, e.g. 0.25 packs 4 trials on a GPU (default: 0)")
    sweep.add_argument("--cpus-per-trial", type=float, default=1.0, metavar="F",
                       help="CPUs Ray reserves per trial (default: 1)")
    sweep.add_argument("--address", default=None, metavar="auto|HOST:PORT",
                       help="a running Ray cluster (default: Ray embedded on this machine)")
    sweep.add_argument("--resume", metavar="DIR", default=None,
                       help="continue the sweep in DIR (its other flags come from DIR)")
    sweep.add_argument("--out", metavar="DIR", default=None,
                       help="the sweep's folder: results, PNGs, Ray's trial states")
    sweep.set_defaults(handler=sweep_command)


# ---------------------------------------------------------------- output
def default_output(name):
    """``out/NAME``: where a plot goes when ``--out`` names no path (a folder of its own, made
    when needed, so that a run in a checkout never writes into its root; git ignores it)."""
    os.makedirs(OUT_DIR, exist_ok=True)
    return os.path.join(OUT_DIR, name)


def _write_png(draw, results, path, title):
    """Draw the PNG, or print how to get pictures; returns an exit status (0 or 1)."""
    from .utils import plots

    try:
        draw(results, path, title)
    except plots.PlotsUnavailable:
        print(plots.INSTALL_LINE)
        return 0
    except OSError as exc:
        print(f"gpudnn: error: cannot write {path}: {exc}", file=sys.stderr)
        return 1
    print(f"Wrote {path}")
    return 0


def _stopped(message):
    print(f"Interrupted (Ctrl-C): {message}", flush=True)
    return INTERRUPTED


# ---------------------------------------------------------------- commands
def _check_names(optimizer_names, activation_names, lr, device):
    """Fail fast, before loading data, on unknown names, a bad learning rate or a missing GPU."""
    for name in optimizer_names:
        experiments.make_optimizer(name, lr)
    for name in activation_names:
        activations.get(name)
    return current_backend(device).name


def _optimizer_text(optimizer):
    inner = getattr(optimizer, "inner_optimizer", None)  # loss scaling (mixed_float16)
    text = f"{type(inner or optimizer).__name__}(learning_rate={optimizer.learning_rate:g})"
    return text + (" with loss scaling" if inner is not None else "")


def _architecture(depth, width, activation=None):
    """``784-512-10 (relu)``; without ``activation`` (it is what varies) no parenthesis."""
    width = experiments.hidden_width(depth, width)
    text = f"784-{'-'.join([str(width)] * depth)}-10"
    return f"{text} ({activation})" if activation else text


def train_command(args):
    device = _check_names([args.optimizer], [args.activation], args.lr, args.device)
    data = experiments.load_data(args.dataset, args.limit)
    model = experiments.course_model(activation=args.activation, depth=args.depth,
                                     width=args.width, optimizer=args.optimizer, lr=args.lr,
                                     device=device, seed=args.seed)
    print(f"Data: {data.describe()}; optimizer {_optimizer_text(model.optimizer)}; "
          f"device {device}")
    model.summary()
    result = experiments.run("train", model, data, args.epochs, args.batch_size, verbose=1)
    if result.interrupted:
        rows = [[str(i), f"{loss:.4f}", experiments.percent(acc), f"{secs:.2f}"]
                for i, (loss, acc, secs)
                in enumerate(zip(result.loss, result.accuracy, result.epoch_seconds), start=1)]
        print(experiments.format_table(["epoch", "loss", "accuracy %", "seconds"], rows))
        return _stopped(f"{result.epochs_done} of {result.epochs} epochs finished")
    print(f"Test accuracy: {experiments.percent(result.test_accuracy)}")
    print(f"Test loss: {result.test_loss:.4f}")
    print(f"Seconds per epoch: {result.seconds_per_epoch:.2f} ({result.device})")
    if args.save:
        model.save_weights(args.save)
        print(f"Saved weights to {args.save}")
    return 0


def _run_comparison(args, choices, build, header, column, out, title):
    """Run ``build(choice)`` for each choice, print the progress, the tables, write the PNG."""
    from .utils import plots

    data = experiments.load_data(args.dataset, args.limit)
    print(f"{header}; {data.describe()}, {args.epochs} epoch(s), batch {args.batch_size}, "
          f"seed {args.seed}", flush=True)
    record_every = args.every if getattr(args, "depth", 1) > 1 else None

    def announce(index, choice):
        print(f"\n[{index + 1}/{len(choices)}] {column} {choice}", flush=True)

    comparison = experiments.compare(choices, build, data, args.epochs, args.batch_size,
                                     args.seed, verbose=1, record_every=record_every,
                                     announce=announce)
    results = comparison.results
    print()
    if results:
        print(experiments.results_table(results, column))
    if record_every and results:
        print()
        print(experiments.grad_norm_table(results))
    if comparison.interrupted:
        done = sum(not r.interrupted for r in results)
        return _stopped(f"{done} of {len(choices)} runs finished")
    draw = plots.gradient_norms if record_every else plots.learning_curves
    return _write_png(draw, results, out, title + f" — {data.name}")


def compare_command(args):
    choices = args.choices or DEFAULT_CHOICES[args.what]
    if args.what == "optimizers":
        device = _check_names(choices, [args.activation], args.lr, args.device)
        fixed = "each optimizer at its Keras default learning rate"

        def build(choice):
            return experiments.course_model(args.activation, args.depth, args.width, choice,
                                            args.lr, device)
    else:
        device = _check_names([args.optimizer], choices, args.lr, args.device)
        fixed = f"optimizer {_optimizer_text(experiments.make_optimizer(args.optimizer, args.lr))}"

        def build(choice):
            return experiments.course_model(choice, args.depth, args.width, args.optimizer,
                                            args.lr, device)
    column = args.what[:-1]
    arch = _architecture(args.depth, args.width,
                         args.activation if args.what == "optimizers" else None)
    default_name = (f"gradient-norms-depth{args.depth}.png" if args.depth > 1
                    else f"compare-{args.what}.png")
    if args.what == "optimizers" and args.lr is not None:
        fixed = f"learning rate {args.lr:g} for each"
    header = f"compare {args.what} on {device}: {arch}, {fixed}"
    title = f"{args.what}: {arch}"
    return _run_comparison(args, choices, build, header, column, args.out or default_output(default_name), title)


def lr_command(args):
    device = _check_names([args.optimizer], [args.activation], None, args.device)
    for rate in args.rates:
        experiments.make_optimizer(args.optimizer, rate)
    labels = [f"lr={rate:g}" for rate in args.rates]
    rate_of = dict(zip(labels, args.rates))

    def build(label):
        return experiments.course_model(args.activation, 1, None, args.optimizer,
                                        rate_of[label], device)
    arch = _architecture(1, None, args.activation)
    header = f"learning rates on {device}: {arch}, optimizer {args.optimizer}"
    title = f"{args.optimizer} learning rates: {arch}"
    return _run_comparison(args, labels, build, header, "learning rate",
                           args.out or default_output("learning-rates.png"), title)


def sweep_command(args):
    """Check the flags (before Ray starts), run or resume the sweep, print and write results."""
    from .tune import results, space, sweep

    if args.resume is not None:
        if args.out is not None and os.path.abspath(args.out) != os.path.abspath(args.resume):
            raise InvalidInputError("give --resume DIR alone (the sweep's folder), not with "
                                    "another --out")
        out = args.resume
        spec = sweep.load_spec(out)
    else:
        if args.out is None:
            raise InvalidInputError("gpudnn sweep needs --out DIR (the sweep's folder)")
        out = args.out
        spec = space.SweepSpec(
            dataset=args.dataset, optimizers=space.names(args.optimizers, "optimizers"),
            learning_rates=None if args.learning_rates is None
            else space.learning_rates(args.learning_rates),
            activations=space.names(args.activations, "activations"), seeds=args.seeds,
            epochs=args.epochs, batch_size=args.batch_size, depth=args.depth, width=args.width,
            limit=args.limit, samples=args.samples, search=args.search, scheduler=args.scheduler,
            gpus_per_trial=args.gpus_per_trial, cpus_per_trial=args.cpus_per_trial)
    spec.check()
    print(f"Sweep: {spec.trials} trials of {_architecture(spec.depth, spec.width)} on "
          f"{spec.dataset}, {spec.epochs} epochs each; folder {out}", flush=True)
    grid = sweep.run_sweep(spec, out, address=args.address, resume=args.resume is not None,
                           progress=lambda line: print(line, flush=True))
    found = results.rows(grid, spec)
    print(results.table(found))
    best = next((r for r in found if r["status"] in ("done", "stopped early")), None)
    if best is not None:
        print(f"Best: {best['label']}, test accuracy {experiments.percent(best['test_accuracy'])} %. "
              f"Alone: {best['command']}")
    for path in results.write_files(found, spec, out):
        print(f"Wrote {path}")
    return 0 if best is not None else 1


def main(argv=None):
    """Entry point of the ``gpudnn`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    previous = dtype_policies.global_or_none()
    try:
        if getattr(args, "dtype_policy", None):  # the layers the command makes take it
            config.set_dtype_policy(args.dtype_policy)
        return args.handler(args)
    except GpudnnError as exc:
        print(f"gpudnn: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _stopped("nothing had finished")
    except BrokenPipeError:  # `gpudnn ... | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        config.set_dtype_policy(previous)
