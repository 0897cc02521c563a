"""Command line for the reference package.

    python -m solutions train xor
    python -m solutions train mnist --epochs 10 --hidden 256 128 --lr 0.05 \\
        --batch-size 128 --momentum 0.9 --seed 0 --save runs/mnist.npz --plot runs/mnist.png
    python -m solutions evaluate runs/mnist.npz
"""

import argparse
import sys

import numpy as np
from tqdm.auto import tqdm

from autograder.student.mnist import MNISTNotFound, load_mnist
from autograder.student.xor import xor_dataset

from .checkpoint import load_model, save_model
from .layers import ACTIVATION_LAYERS
from .losses import BinaryCrossEntropyWithLogits, SoftmaxCrossEntropy
from .model import MLP
from .optim import SGD, cosine_schedule
from .train import evaluate, train

# Defaults per task: XOR is full-batch on four points; MNIST as in the course.
DEFAULTS = {
    "xor": dict(
        epochs=300,
        hidden=[4],
        activation="tanh",
        lr=0.1,
        batch_size=4,
        momentum=0.9,
        lr_schedule="constant",
        log_every=50,
    ),
    "mnist": dict(
        epochs=10,
        hidden=[256, 128],
        activation="relu",
        lr=0.05,
        batch_size=128,
        momentum=0.9,
        lr_schedule="cosine",
        log_every=1,
    ),
}


def load_task(task, args):
    """(X_train, y_train, test or None, n_outputs, loss) for a task name."""
    if task == "xor":
        X, y = xor_dataset(dtype=np.float32)
        return X, y, None, 1, BinaryCrossEntropyWithLogits()
    data = load_mnist(args.data_dir, download=args.download, progress=not args.no_progress)
    return data.X_train, data.y_train, (data.X_test, data.y_test), 10, SoftmaxCrossEntropy()


def print_epoch(log_every, total):
    def report(epoch, history):
        if epoch % log_every and epoch != total:
            return
        line = (
            f"epoch {epoch:4d}  loss {history.loss[-1]:.4f}  train acc {history.accuracy[-1]:.2%}"
        )
        if history.test_accuracy:
            line += (
                f"  test loss {history.test_loss[-1]:.4f}  test acc {history.test_accuracy[-1]:.2%}"
            )
        tqdm.write(line + f"  {history.seconds[-1]:.2f} s")

    return report


def command_train(args):
    settings = {
        **DEFAULTS[args.task],
        **{k: v for k, v in vars(args).items() if k in DEFAULTS[args.task] and v is not None},
    }
    X, y, test, n_out, loss_fn = load_task(args.task, args)
    rng = np.random.default_rng(args.seed)
    model = MLP([X.shape[1], *settings["hidden"], n_out], settings["activation"], rng=rng)
    optimizer = SGD(
        model.parameters(),
        lr=settings["lr"],
        momentum=settings["momentum"],
        weight_decay=args.weight_decay,
    )
    print(
        f"{args.task}: {model}, {model.parameter_count():,} parameters; "
        f"lr {settings['lr']} ({settings['lr_schedule']}), momentum {settings['momentum']}, "
        f"batch {settings['batch_size']}, {settings['epochs']} epochs, seed {args.seed}"
    )
    history = train(
        model,
        loss_fn,
        optimizer,
        X,
        y,
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        rng=rng,
        test=test,
        lr_schedule=(
            cosine_schedule(settings["lr"], settings["epochs"])
            if settings["lr_schedule"] == "cosine"
            else None
        ),
        progress=not args.no_progress,
        on_epoch=print_epoch(settings["log_every"], settings["epochs"]),
    )
    if test is None:
        _, accuracy = evaluate(model, loss_fn, X, y)
        print(f"final training accuracy: {accuracy:.2%}")
    else:
        print(
            f"test accuracy: {history.test_accuracy[-1]:.2%} "
            f"({np.mean(history.seconds):.2f} s per epoch)"
        )
    if args.save:
        print(f"model saved to {save_model(model, args.save, history)}")
    if args.plot:
        # Imported only when a plot is asked for: matplotlib is slow to import.
        from autograder.student.plotting import plot_learning_curves

        plot_learning_curves(history, args.plot, title=f"{args.task}: {model.sizes}")
        print(f"learning curves saved to {args.plot}")
    return 0


def command_evaluate(args):
    model, _ = load_model(args.model)
    data = load_mnist(args.data_dir, download=args.download, progress=not args.no_progress)
    loss, accuracy = evaluate(model, SoftmaxCrossEntropy(), data.X_test, data.y_test)
    print(f"{model}: test loss {loss:.4f}, test accuracy {accuracy:.2%}")
    return 0


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m solutions", description="Train and evaluate the reference MLP."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--data-dir",
        help="folder with the four MNIST files (default: $MNIST_DIR, then the user cache)",
    )
    data.add_argument(
        "--download",
        action="store_true",
        help="download MNIST from the public mirrors if it is not found",
    )
    data.add_argument("--no-progress", action="store_true", help="hide the progress bars")

    trainer = commands.add_parser(
        "train",
        parents=[data],
        help="train an MLP on xor or mnist",
        description=f"Train an MLP; unset options take the task's defaults ({DEFAULTS})",
    )
    trainer.add_argument("task", choices=sorted(DEFAULTS))
    trainer.add_argument("--epochs", type=positive_int)
    trainer.add_argument("--hidden", type=positive_int, nargs="+", help="hidden layer widths")
    trainer.add_argument("--activation", choices=sorted(ACTIVATION_LAYERS))
    trainer.add_argument("--lr", type=positive_float, help="(initial) learning rate")
    trainer.add_argument(
        "--lr-schedule",
        choices=["constant", "cosine"],
        help="keep the learning rate, or lower it along a half cosine to 0",
    )
    trainer.add_argument("--batch-size", type=positive_int)
    trainer.add_argument("--momentum", type=float)
    trainer.add_argument("--weight-decay", type=float, default=0.0)
    trainer.add_argument("--seed", type=int, default=0)
    trainer.add_argument("--log-every", type=positive_int, help="print every N epochs")
    trainer.add_argument("--save", help="write the trained model to this .npz file")
    trainer.add_argument("--plot", help="write the learning curves to this .png file")
    trainer.set_defaults(run=command_train)

    evaluator = commands.add_parser(
        "evaluate", parents=[data], help="test accuracy of a saved MNIST model"
    )
    evaluator.add_argument("model", help="a .npz file written by `train --save`")
    evaluator.set_defaults(run=command_evaluate)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (MNISTNotFound, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
