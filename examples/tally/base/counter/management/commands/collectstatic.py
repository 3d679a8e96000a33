"""`collectstatic`, with an optional pause that stands in for a big asset build.

A large app's asset pipeline (webpack, sass, ...) takes minutes; this app's
takes a blink. The benchmark sets `TALLY_ASSET_SECONDS` so the asset step
costs what it would there (scaled, see BENCHMARKS.md), wherever it runs:
locally in `herotasks assets.precompile`, or in the slug build on the app.
"""
import os
import time

from django.contrib.staticfiles.management.commands.collectstatic import (
    Command as CollectStatic,
)


class Command(CollectStatic):
    def handle(self, **options):
        seconds = float(os.environ.get("TALLY_ASSET_SECONDS") or 0)
        if seconds > 0:
            self.stdout.write(f"compiling assets ({seconds:g} s) ...")
            time.sleep(seconds)
        return super().handle(**options)
