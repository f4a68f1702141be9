"""`caffelog plot`: semilog curves, heatmaps and scalars of one or many runs."""
from __future__ import annotations

import click

from caffelog.cli.common import LOGS_ARG, NO_CACHE, UsageError, expand_logs, friendly_errors, load_each, warn


@click.command()
@LOGS_ARG
@click.option("--layer", "layers", multiple=True, metavar="NAME",
              help="Layer name or shell pattern ('conv*'); repeatable.")
@click.option("--quantity", type=click.Choice(["data", "diff"]), help="Only data or only diff values.")
@click.option("--phase", type=click.Choice(["train", "test"]), default="train", show_default=True)
@click.option("--direction", type=click.Choice(["forward", "backward", "update"]))
@click.option("--role", type=click.Choice(["top", "bottom", "param"]))
@click.option("--blob", help="Blob name, or param index as printed (0 = weights, 1 = bias).")
@click.option("--segment", type=int, help="Only this segment of a resumed log (default: all).")
@click.option("--heatmap", is_flag=True,
              help="Layers x iterations, log10 colour (with --quantity data|diff, --layer, --segment).")
@click.option("--scalars", is_flag=True, help="Loss, learning rate and test outputs over iterations.")
@click.option("--label", "labels", multiple=True, metavar="NAME",
              help="A run's name in legends and titles, one per LOG in order  [default: the shortest distinct "
                   "part of the paths]")
@click.option("--smooth", type=click.IntRange(min=1), metavar="N",
              help="Rolling-median window for the curves (1: raw values)  [default: 1/200 of a long series]")
@click.option("--x", "x", type=click.Choice(["iteration", "time"]), default="iteration", show_default=True,
              help="What the x axis counts: iterations, or wall-clock time from the log's timestamps.")
@click.option("-o", "--output", metavar="FILE", help="Output file; .png, .svg or .pdf  [default: named after the runs]")
@click.option("--show", is_flag=True, help="Open a window instead of writing a file (needs a display).")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@NO_CACHE
@friendly_errors
def plot(logs, layers, quantity, phase, direction, role, blob, segment, heatmap, scalars, labels, smooth,
         x, output, show, force, no_cache) -> None:
    """Semilog per-layer curves of LOGS (several logs share the axes; a directory: its logs).

    \b
      caffelog plot train.log --layer fc1            # every series of fc1
      caffelog plot train.log --quantity diff        # weight diffs of all layers
      caffelog plot train.log --heatmap              # layers x iterations
      caffelog plot train.log --scalars              # loss, lr, test outputs
      caffelog plot train.log --scalars --x time     # ... over wall-clock time
      caffelog plot run1.log run2.log --layer fc1 -o fc1.svg

    Zeros are drawn on the bottom edge and nan/inf on the top edge: nothing is hidden. A resumed
    log's segments are drawn apart, with the resume point marked. Options a picture cannot use
    are refused (exit 2), never ignored.
    """
    from caffelog.output import plot as plots
    ctx = click.get_current_context()
    given = {name for name in ("layers", "quantity", "phase", "direction", "role", "blob", "segment", "smooth", "x")
             if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT}
    problem = plots.conflict(given, heatmap, scalars)
    if problem is None and show and output:
        problem = "--show opens a window; -o writes a file: ask for one"
    if problem:
        raise UsageError(problem)
    from caffelog.output.export import check_figure_target, save_figure
    if output and not show:
        check_figure_target(output, force)  # before the parse, not after it
    series_of = list(layers) if layers and not scalars else None
    parsed, kept = load_each(expand_logs(logs).logs, list(labels), not no_cache, series_of)
    for one in parsed:
        warn(one)
    names = kept or plots.run_labels([one.source for one in parsed])
    if heatmap:
        fig = plots.plot_heatmap(parsed, quantity or "data", segment, list(layers) or None, names)
        what = f"heatmap-{quantity or 'data'}"
    elif scalars:
        fig, what = plots.plot_scalars(parsed, segment, names, smooth, x=x), "scalars"
    else:
        sel, what = plots.default_selection(list(layers), quantity, phase, direction, role, blob, segment)
        fig = plots.plot_series(parsed, sel, labels=names, smooth=smooth, x=x)
    if x == "time":
        what += "-by-time"
    if show:
        plots.show(fig)
        return
    target = output or plots.default_name(names, what)
    save_figure(fig, target, force=force)
    click.echo(target)
