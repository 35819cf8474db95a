"""`python -m bench.refserver MODULE:APP [--factory] --port N`: a reference app served by localviyo's own
HTTP server (localviyo.http), the server `localviyo serve` runs on, so that localviyo and the ceilings it
is measured against share their server software. `--uvicorn` serves it with uvicorn instead, as every
round before the ninth did (for measuring by hand what the server itself costs).
"""

from __future__ import annotations

import argparse

from localviyo.http.server import Server, load_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.refserver", description=__doc__)
    parser.add_argument("app", help="MODULE:ATTRIBUTE of an ASGI app (or, with --factory, of a function making one)")
    parser.add_argument("--factory", action="store_true")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--uvicorn", action="store_true", help="serve it with uvicorn (uvloop, httptools) instead")
    options = parser.parse_args(argv)
    app = load_app(options.app, factory=options.factory)
    if options.uvicorn:
        import uvicorn

        uvicorn.run(app, host=options.host, port=options.port, log_level="warning", access_log=False, lifespan="on")
        return
    Server(app, options.host, options.port).run()


if __name__ == "__main__":
    main()
