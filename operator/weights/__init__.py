"""Routing weights: capacity estimation and the weight policy (pure: `capacity`, `controller`),
scraping and the loop seam (`loop`), and local mode (`local`). The operator's per-pool loops live
in `heteropool.handlers.weights`, the `heteropool weights` command in `heteropool.commands.weights`."""
