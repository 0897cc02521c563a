"""Run one sanitized notebook, as nbgrader's autograde would, within limits.

This is the slow step of grading (the student's code runs here), so
`autograder.instructor.grade` calls it from a pool of worker processes. It
needs no gradebook: it reads a notebook from disk, executes it with nbgrader's
`Execute` preprocessor and writes it back.

On top of nbgrader's per-cell timeout it adds:

- a memory limit per notebook: the kernel starts with a cap on its address
  space, so an allocation loop ends in a `MemoryError` (or a dead kernel)
  instead of swapping the machine;
- a wall-clock limit per notebook: a loop that ignores the interrupt would
  otherwise cost the cell timeout again on every later cell;
- a dead kernel keeps what was earned: cells that ran before keep their
  outputs, and every cell that did not run gets an error output, so that
  nbgrader scores it 0 (a test cell without outputs would count as passed).
"""

import os
import resource
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from functools import partial
from queue import Empty

import nbformat
from jupyter_client import AsyncKernelManager
from jupyter_client.asynchronous import AsyncKernelClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer, default

from .limits import GradingLimits
from .sandbox import GiB


@dataclass
class Execution:
    """What happened when a notebook ran: `problem` is None when every cell ran."""

    problem: str | None = None


def _limit_address_space(limit_bytes):
    # Runs in the kernel's process between fork and exec.
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


class PromptKernelClient(AsyncKernelClient):
    """jupyter_client's kernel client, ready as soon as the kernel has answered kernel_info
    with its IOPub channel connected.

    jupyter_client's own wait_for_ready then reads IOPub until 0.2 s pass without a message:
    0.2 s of every notebook spent waiting, a sixth of an empty notebook's grading. nbclient
    keeps only the messages of the cell it runs (by their parent's id), so the status
    messages of kernel_info left in IOPub need no draining.
    """

    async def wait_for_ready(self, timeout=None):
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                pass
            else:
                if reply["msg_type"] == "kernel_info_reply":
                    try:  # the kernel's status for that request: IOPub is connected
                        await self.iopub_channel.get_msg(timeout=0.2)
                        return
                    except Empty:  # not yet subscribed (outputs could be lost): ask again
                        pass
            if not await self.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")


class PromptKernelManager(AsyncKernelManager):
    """jupyter_client's kernel manager, whose immediate shutdown waits for the killed kernel
    itself instead of polling for its end every 0.1 s (a 0.1 s wait per notebook: a kernel
    killed by SIGKILL is usually still there at the first poll), and whose clients are
    PromptKernelClients."""

    @default("client_factory")
    def _prompt_client(self):
        return PromptKernelClient

    async def shutdown_kernel(self, now=False, restart=False):
        process = getattr(self.provisioner, "process", None)  # the local provisioner's Popen
        if now and not restart and process is not None:
            await self.provisioner.kill()  # SIGKILL to the kernel's process group
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:  # unkillable for now: jupyter_client's wait
                pass
        await super().shutdown_kernel(now=now, restart=restart)


class LimitedExecute(Execute):
    """nbgrader's Execute with a memory cap on the kernel and a deadline for the whole notebook."""

    memory_limit = Integer(
        GradingLimits.memory,
        help="Address-space limit of the notebook's kernel in bytes (0: none).",
    ).tag(config=True)

    notebook_timeout = Integer(
        GradingLimits.notebook_timeout,
        help="Seconds the whole notebook may run before its kernel is killed (0: none).",
    ).tag(config=True)

    current_index = None  # the cell being executed, to know where a dead kernel stopped

    @default("shutdown_kernel")
    def _kill_when_done(self):
        # Every cell has run and its outputs are in: a graceful shutdown would only wait for
        # the kernel's own exit (about 0.1 s a notebook). A course's config may still ask for it.
        return "immediate"

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", PromptKernelManager)  # nbgrader's: the stock one
        super().__init__(**kwargs)

    async def async_start_new_kernel(self, **kwargs):
        if self.memory_limit:
            kwargs.setdefault("preexec_fn", partial(_limit_address_space, self.memory_limit))
        # The kernel's own log (e.g. its TCP warning) would repeat once per notebook on the
        # grader's terminal; what the student's code prints reaches the notebook regardless.
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        await super().async_start_new_kernel(**kwargs)

    # nbclient binds its sync wrapper to its own coroutine: rebind it to ours.
    start_new_kernel = run_sync(async_start_new_kernel)

    def preprocess_cell(self, cell, resources, index):
        self.current_index = index
        return super().preprocess_cell(cell, resources, index)

    def kill_kernel(self):
        """Kill the kernel's process group (the notebook ran past its deadline)."""
        self.deadline_passed = True
        provisioner = getattr(self.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None)
        if pid:
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def execute_notebook(path, config, limits=None):
    """Execute the notebook at `path` in place (its folder is the working directory).

    path: a sanitized notebook (nbgrader's autograded/<student>/<assignment>/<nb>.ipynb);
    config: the course's traitlets Config; limits: the GradingLimits, which take precedence
    over the config's Execute.timeout and LimitedExecute traits (None: the config's).
    Returns an Execution; cells that could not run carry an error output.
    """
    notebook = nbformat.read(str(path), as_version=4)
    given = {}
    if limits is not None:
        given = dict(
            timeout=limits.cell_timeout,
            memory_limit=limits.memory,
            notebook_timeout=limits.notebook_timeout or 0,
        )
    executor = LimitedExecute(config=config, **given)
    executor.deadline_passed = False
    resources = {"metadata": {"path": str(path.parent)}}
    timer = None
    if executor.notebook_timeout:
        timer = threading.Timer(executor.notebook_timeout, executor.kill_kernel)
        timer.daemon = True
        timer.start()
    problem = None
    previous = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # what nbgrader's autograde sets for the kernel
    try:
        executor.preprocess(notebook, resources)
    except DeadKernelError:
        if executor.deadline_passed:
            problem = f"the notebook ran longer than {executor.notebook_timeout} s and was stopped"
        else:
            limit = executor.memory_limit / GiB
            problem = (
                f"the kernel died (it may have run out of its {limit:g} GiB of memory, "
                "or called exit)"
            )
    except CellTimeoutError:  # the interrupt did not stop the cell (it ignores SIGINT)
        problem = (
            f"a cell ran past the {executor.timeout} s cell timeout and ignored the interrupt; "
            "its kernel was stopped"
        )
    except Exception as error:  # a kernel that never started, an unresponsive kernel, ...
        first_line = (str(error).strip().splitlines() or [""])[0]
        problem = f"the notebook could not be run: {type(error).__name__}: {first_line}"
    finally:
        if timer:
            timer.cancel()
        if previous is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = previous
    if problem:
        mark_not_run(notebook, executor.current_index or 0, problem)
    nbformat.write(notebook, str(path))
    return Execution(problem)


def mark_not_run(notebook, first, problem):
    """Give the code cell `first` and every later code cell an error output naming `problem`."""
    for index, cell in enumerate(notebook.cells[first:], start=first):
        if cell.cell_type != "code":
            continue
        where = "while this cell ran" if index == first else "before this cell could run"
        cell.outputs.append(
            NotebookNode(
                output_type="error",
                ename="NotRun",
                evalue=f"{problem} {where}",
                traceback=[f"NotRun: {problem} {where}; this cell earns no points."],
            )
        )
