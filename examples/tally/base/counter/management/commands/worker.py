"""`python manage.py worker`: the Procfile `worker` process.

It takes one job at a time from the database. A database error (say, code
that does not match the schema) fails the job without crashing the loop: the
worker prints one `JOB FAILED` line, leaves the job queued and retries after a
pause, as a queue worker would. The line starts with that marker and carries
`at=<epoch seconds>` so a benchmark can count and place failures from the log.
"""
import os
import signal
import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection, transaction
from tally.version import VERSION

from counter.models import Job

IDLE_PAUSE = 0.1  # seconds between polls of an empty queue
FAILURE_PAUSE = 0.5  # seconds before retrying after a failed job


class Command(BaseCommand):
    help = "Process queued jobs until stopped (SIGTERM/SIGINT finish the current job)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--once",
            action="store_true",
            help="Drain the queue and exit; exit status 1 if any job failed.",
        )

    def handle(self, *args, once: bool = False, **options):
        self.stopping = False
        # Heroku stops dynos with SIGTERM; finishing the job in hand keeps a
        # scale-down from leaving a half-done transaction behind.
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.say(f"worker {VERSION} started pid={os.getpid()}")
        done = failed = 0
        while not self.stopping:
            job = None
            try:
                with transaction.atomic():  # BEGIN IMMEDIATE: one claimer at a time
                    job = Job.next_pending()
                    if job is not None:
                        job.complete()
            except DatabaseError as exc:
                failed += 1
                self.report_failure(job, exc)
                connection.close()  # start the retry on a fresh connection
                if once:
                    break
                time.sleep(FAILURE_PAUSE)
                continue
            if job is not None:
                done += 1
            elif once:
                break
            else:
                time.sleep(IDLE_PAUSE)
        self.say(f"worker {VERSION} stopping: {done} done, {failed} failed")
        if once and failed:
            raise SystemExit(1)

    def report_failure(self, job: Job | None, exc: Exception) -> None:
        """One line per failed attempt; job=? when it failed while claiming."""
        error = " ".join(str(exc).split())
        job_id = "?" if job is None else job.pk
        self.say(f'JOB FAILED at={time.time():.3f} job={job_id} error="{error}"')

    def stop(self, signum, frame) -> None:
        self.stopping = True

    def say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()  # dyno logs should see lines as they happen
