"""The ``renderer`` command: a Click group whose commands load on demand (see commands/)."""

from __future__ import annotations

import difflib
import os
import sys

import click

from . import __version__
from .clikit import AppState, UserError, configure_logging, error_line
from .commands import TABLE, load_command
from .errors import RendererError
from .heap import keep_freed_memory
from .interrupts import EXIT_INTERRUPTED, first_ctrl_c_stops, say_interrupted
from .oserrors import describe


class RendererGroup(click.Group):
    """Loads each command when it is used, and turns user mistakes into one-line errors
    with their exit codes."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(TABLE)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return load_command(cmd_name)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in TABLE and not ctx.resilient_parsing:
            close = difflib.get_close_matches(name, TABLE, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table, so that ``--help`` imports no feature module."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        shorten = click.utils.make_default_short_help
        rows = [(name, shorten(TABLE[name][1], limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        with first_ctrl_c_stops():
            return self._invoke(ctx)

    def _invoke(self, ctx: click.Context):
        keep_freed_memory()  # a dream's steps reuse their memory instead of faulting it in
        try:
            return super().invoke(ctx)
        except RendererError as exc:
            state = ctx.find_object(AppState)
            if state and state.debug:
                raise
            raise UserError(str(exc), exc.exit_code) from None
        except BrokenPipeError:
            # `renderer classes | head`: the reader left; stop quietly, as Unix tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(141)
        except KeyboardInterrupt:
            say_interrupted()
            ctx.exit(EXIT_INTERRUPTED)
        except click.UsageError as exc:  # a mistake on the command line: one line too
            where = exc.ctx.command_path if exc.ctx is not None else "renderer"
            message = f"{exc.format_message()} (see '{where} --help')"
            raise UserError(message, exc.exit_code) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            state = ctx.find_object(AppState)
            if state and state.debug:
                raise
            friendly = describe(exc)  # a full disk, a read-only folder: a user's matter
            click.echo(f"error: {friendly}" if friendly else error_line(exc), err=True)
            ctx.exit(1)


@click.group(
    cls=RendererGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="renderer")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr; no progress bars.")
@click.option("-v", "--verbose", count=True, help="More detail on stderr (-vv for debug).")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@click.pass_context
def main(ctx: click.Context, quiet: bool, verbose: int, debug: bool) -> None:
    """dreamgallery: dream with ImageNet CNNs, explain what they see, publish a gallery.

    \b
    Example:
      renderer classify cat.jpg
      renderer dream photos/*.jpg --out renders/
    """
    state = AppState(quiet=quiet, verbose=verbose, debug=debug)
    ctx.obj = state
    configure_logging(state)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
