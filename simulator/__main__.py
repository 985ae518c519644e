import typer

from simulator.cli import replay_command, simulate_app

app = typer.Typer(no_args_is_help=True)
app.add_typer(simulate_app, name="simulate")
app.command("replay")(replay_command)
app()
